// Dense M for a batch of more than DENSE_TILE trials: the product of a row
// block of M with the batch's operands as a tiled matrix product, fused
// with the update. A workgroup of DB_THREADS threads computes DB_ROWS rows
// for DB_TRIALS trials (every trial of a batch of up to 256, so each
// element of M is read from memory once per step): it walks the columns
// DB_K at a time, staging that slice of M (DB_ROWS x DB_K) and of the
// operands (DB_TRIALS x DB_K) in workgroup memory as vec4s, and each thread
// accumulates a DB_RM x DB_RB register block (rows tr + DB_TR a, trials
// tt + DB_TT c). Two barriers per slice. Dispatch (row tiles, trial tiles,
// overflow of the row tiles). The DB_* constants are written per batch
// shape by src/sim/gpu/kernels.rs (`BatchShape`).
//
// Bounds: rows past P.rows, columns past n_pad and trials past P.batch are
// staged as zeros and never stored.

@group(0) @binding(1) var<storage, read> operand_in: array<vec4<f32>>;
@group(0) @binding(2) var<storage, read_write> operand_out: array<f32>;
@group(0) @binding(7) var<storage, read> m: array<vec4<f32>>;

fn ld_operand(k: u32) -> vec4<f32> {
    count(1u, false, 16u);
    return operand_in[k];
}

fn st_operand(k: u32, v: f32) {
    count(2u, true, 4u);
    operand_out[k] = v;
}

fn ld_m(k: u32) -> vec4<f32> {
    count(7u, false, 16u);
    return m[k];
}

const DB_KV: u32 = DB_K / 4u;
var<workgroup> m_tile: array<vec4<f32>, DB_ROWS * DB_KV>;
var<workgroup> x_tile: array<vec4<f32>, DB_TRIALS * DB_KV>;

@compute @workgroup_size(DB_THREADS)
fn dense_batch(
    @builtin(workgroup_id) wid: vec3<u32>,
    @builtin(num_workgroups) groups: vec3<u32>,
    @builtin(local_invocation_index) lid: u32,
) {
    counting_kernel = KERNEL_DENSE_BATCH;
    let tt = lid % DB_TT;
    let tr = lid / DB_TT;
    let r0 = (wid.x + wid.z * groups.x) * DB_ROWS;
    let t0 = wid.y * DB_TRIALS;
    let nv = P.n_pad / 4u;
    var sums: array<f32, DB_RM * DB_RB>;
    for (var j0 = 0u; j0 < nv; j0 += DB_KV) {
        for (var e = lid; e < DB_ROWS * DB_KV; e += DB_THREADS) {
            let r = r0 + e / DB_KV;
            let j = j0 + e % DB_KV;
            var v = vec4<f32>(0.0);
            if (r < P.rows && j < nv) {
                v = ld_m(r * nv + j);
            }
            m_tile[e] = v;
        }
        for (var e = lid; e < DB_TRIALS * DB_KV; e += DB_THREADS) {
            let t = t0 + e / DB_KV;
            let j = j0 + e % DB_KV;
            var v = vec4<f32>(0.0);
            if (t < P.batch && j < nv) {
                v = ld_operand(t * nv + j);
            }
            x_tile[e] = v;
        }
        workgroupBarrier();
        for (var k = 0u; k < DB_KV; k++) {
            var xs: array<vec4<f32>, DB_RB>;
            for (var c = 0u; c < DB_RB; c++) {
                xs[c] = x_tile[(tt + DB_TT * c) * DB_KV + k];
            }
            for (var a = 0u; a < DB_RM; a++) {
                let mv = m_tile[(tr + DB_TR * a) * DB_KV + k];
                for (var c = 0u; c < DB_RB; c++) {
                    sums[a * DB_RB + c] += dot(mv, xs[c]);
                }
            }
        }
        workgroupBarrier();
    }
    for (var a = 0u; a < DB_RM; a++) {
        let r = r0 + tr + DB_TR * a;
        for (var c = 0u; c < DB_RB; c++) {
            let t = t0 + tt + DB_TT * c;
            if (r < P.rows && t < P.batch) {
                let i = P.row0 + r;
                st_operand(t * P.n_pad + i, finish(i, t, sums[a * DB_RB + c]));
            }
        }
    }
}
