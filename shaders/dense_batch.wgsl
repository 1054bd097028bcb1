// Dense M for a batch of more than DENSE_TILE trials: the product of a row
// block of M with the batch's operands as a tiled matrix product, fused
// with the update. A workgroup of DB_THREADS threads computes DB_ROWS rows
// for DB_TRIALS trials (every trial of a batch of up to 256, so each
// element of M is read from memory once per step): it walks the columns
// DB_K at a time, staging that slice of M (DB_ROWS x DB_K) and of the
// operands (DB_TRIALS x DB_K) in workgroup memory as vec4s, and each thread
// accumulates a DB_RM x DB_RB register block (rows tr + DB_TR a, trials
// tt + DB_TT c). Two barriers per slice; each thread's share of the next
// slice is loaded into registers while the current slice's products run.
// Dispatch (row tiles, trial tiles × spans, overflow of the row tiles).
// The DB_* constants are written per batch shape by src/sim/gpu/batch.rs
// (`BatchShape`).
//
// Split over the columns (DB_SPLIT > 1, an override constant set per
// batch shape where the tiles alone leave a large GPU's multiprocessors
// idle): workgroup y is trial tile * DB_SPLIT + span, each workgroup walks
// one span of the columns (a whole number of slices) and stores its
// block's sums at partials[(span * P.batch + trial) * P.rows + row of the
// block]; dense_batch_finish then adds each (row, trial)'s DB_SPLIT sums
// in span order and applies the update.
//
// Bounds: rows past P.rows, columns past n_pad (or the span) and trials
// past P.batch are staged as zeros and never stored.

override DB_SPLIT: u32 = 1u;

const DB_KV: u32 = DB_K / 4u;
// Elements of a slice of M (DB_ROWS x DB_KV vec4s) and of the operands
// (DB_TRIALS x DB_KV) per thread.
const DB_MR: u32 = (DB_ROWS * DB_KV + DB_THREADS - 1u) / DB_THREADS;
const DB_XR: u32 = (DB_TRIALS * DB_KV + DB_THREADS - 1u) / DB_THREADS;

// Element e of the slice of M from column j0 (vec4s) of the row tile from
// r0: 0 past the rows, the span's end or the slice.
fn m_element(r0: u32, j0: u32, e: u32, j_end: u32) -> vec4<f32> {
    let r = r0 + e / DB_KV;
    let j = j0 + e % DB_KV;
    if (e < DB_ROWS * DB_KV && r < P.rows && j < j_end) {
        return ld_m(r * (P.n_pad / 4u) + j);
    }
    return vec4<f32>(0.0);
}

// Element e of the slice of the operands from column j0 of the trial tile
// from t0: 0 past the batch, the span's end or the slice.
fn x_element(t0: u32, j0: u32, e: u32, j_end: u32) -> vec4<f32> {
    let t = t0 + e / DB_KV;
    let j = j0 + e % DB_KV;
    if (e < DB_TRIALS * DB_KV && t < P.batch && j < j_end) {
        return ld_operand(t * (P.n_pad / 4u) + j);
    }
    return vec4<f32>(0.0);
}
var<workgroup> m_tile: array<vec4<f32>, DB_ROWS * DB_KV>;
var<workgroup> x_tile: array<vec4<f32>, DB_TRIALS * DB_KV>;

@compute @workgroup_size(DB_THREADS)
fn dense_batch(
    @builtin(workgroup_id) wid: vec3<u32>,
    @builtin(num_workgroups) groups: vec3<u32>,
    @builtin(local_invocation_index) lid: u32,
) {
    let tt = lid % DB_TT;
    let tr = lid / DB_TT;
    let r0 = (wid.x + wid.z * groups.x) * DB_ROWS;
    let span = wid.y % DB_SPLIT;
    let t0 = (wid.y / DB_SPLIT) * DB_TRIALS;
    let nv = P.n_pad / 4u;
    // The span's vec4 columns: a whole number of slices each.
    let width = ((nv + DB_SPLIT - 1u) / DB_SPLIT + DB_KV - 1u) / DB_KV * DB_KV;
    let j_first = span * width;
    let j_end = min(nv, j_first + width);
    var sums: array<f32, DB_RM * DB_RB>;
    // The thread's share of a slice, held in registers: the first slice
    // loaded here, each next one while the current one's products run.
    var m_next: array<vec4<f32>, DB_MR>;
    var x_next: array<vec4<f32>, DB_XR>;
    for (var q = 0u; q < DB_MR; q++) {
        m_next[q] = m_element(r0, j_first, lid + q * DB_THREADS, j_end);
    }
    for (var q = 0u; q < DB_XR; q++) {
        x_next[q] = x_element(t0, j_first, lid + q * DB_THREADS, j_end);
    }
    for (var j0 = j_first; j0 < j_end; j0 += DB_KV) {
        // The previous slice's products are done: stage this one.
        workgroupBarrier();
        for (var q = 0u; q < DB_MR; q++) {
            let e = lid + q * DB_THREADS;
            if (e < DB_ROWS * DB_KV) {
                m_tile[e] = m_next[q];
            }
        }
        for (var q = 0u; q < DB_XR; q++) {
            let e = lid + q * DB_THREADS;
            if (e < DB_TRIALS * DB_KV) {
                x_tile[e] = x_next[q];
            }
        }
        workgroupBarrier();
        let j1 = j0 + DB_KV;
        if (j1 < j_end) {
            for (var q = 0u; q < DB_MR; q++) {
                m_next[q] = m_element(r0, j1, lid + q * DB_THREADS, j_end);
            }
            for (var q = 0u; q < DB_XR; q++) {
                x_next[q] = x_element(t0, j1, lid + q * DB_THREADS, j_end);
            }
        }
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
    }
    for (var a = 0u; a < DB_RM; a++) {
        let r = r0 + tr + DB_TR * a;
        for (var c = 0u; c < DB_RB; c++) {
            let t = t0 + tt + DB_TT * c;
            if (r < P.rows && t < P.batch) {
                if (DB_SPLIT == 1u) {
                    let i = P.row0 + r;
                    st_operand(t * P.n_pad + i, finish(i, t, sums[a * DB_RB + c]));
                } else {
                    st_partial((span * P.batch + t) * P.rows + r, sums[a * DB_RB + c]);
                }
            }
        }
    }
}

// The spans' sums of a split dense_batch added, in span order, and the
// update applied: one (row of the block, trial) per thread, trial-major.
// Dispatch: the P.rows × P.batch threads' workgroups folded over x and y.
@compute @workgroup_size(DB_THREADS)
fn dense_batch_finish(
    @builtin(workgroup_id) wid: vec3<u32>,
    @builtin(num_workgroups) groups: vec3<u32>,
    @builtin(local_invocation_index) lid: u32,
) {
    let e = (wid.x + wid.y * groups.x) * DB_THREADS + lid;
    if (e >= P.rows * P.batch) {
        return;
    }
    let t = e / P.rows;
    let r = e % P.rows;
    var total = 0.0;
    for (var span = 0u; span < DB_SPLIT; span++) {
        total += ld_partial((span * P.batch + t) * P.rows + r);
    }
    let i = P.row0 + r;
    st_operand(t * P.n_pad + i, finish(i, t, total));
}
