// Dense M for batches of up to DENSE_TILE trials (one trial tile, so each
// M element is read once per step; larger batches use dense_batch.wgsl):
// each workgroup computes DENSE_ROWS rows of M operand for a tile of up to
// DENSE_TILE trials, then applies the update for those neurons (fused: no
// separate pass over the vector). Its threads are DENSE_ROWS / DENSE_STACK
// row slots of `lanes` = DENSE_WORKGROUP / slots threads; each thread
// takes DENSE_STACK consecutive rows and the columns lane, lane + lanes,
// ...: it loads the tile's operand vec4s of a column once for all its rows
// (so the operand is read N / DENSE_STACK times a step, not N), and the
// DENSE_STACK independent vec4 loads of M per column are in flight
// together. Each row's lanes then sum in a tree in workgroup memory (one
// tree per stacked row). M arrives in row blocks, each within the
// adapter's storage binding limit. Dispatch (ceil(rows / DENSE_ROWS),
// ceil(B / DENSE_TILE), 1), overflowing into z. The host sets
// DENSE_WORKGROUP, DENSE_ROWS and DENSE_STACK (powers of two, DENSE_STACK
// at most DENSE_MAX_STACK) from the adapter and N (src/sim/gpu/kernels.rs,
// `dense_shape`, which records the timings behind the choice); `attractor
// bench --tune` times every shape on the adapter at hand, DENSE_STACK = 1
// (a row per thread, the operand read per row) among them.
//
// vec4 loads against scalar ones (this kernel with array<f32> bindings),
// the fastest shape of each under `--tune` on llvmpipe (software, 2-core
// AMD EPYC VM), s/step: N = 1024 vec4 3.89e-3, scalar 6.02e-3; N = 2048
// vec4 9.61e-3, scalar 1.96e-2.
//
// Bounds: r < P.rows and j < nv keep every read of m inside the row block
// (r * nv + j < rows * nv), and t0 + k < B every read of operand_in; the
// runtime's bounds checks stay on all the same.

override DENSE_WORKGROUP: u32 = 256u;
override DENSE_ROWS: u32 = 1u;
override DENSE_STACK: u32 = 1u;

// Generated weights (`random` with materialise = false; the host sets
// RANDOM and the rest): M_ij = RANDOM_SCALE J_ij where connection (i, j)
// exists, each row's entries computed from the Philox blocks of its
// columns instead of read, so M takes no memory. The twin of
// `random_row` in src/model/weights.rs (f64 there, f32 here).
override RANDOM: bool = false;
override RANDOM_SEED_LO: u32 = 0u;
override RANDOM_SEED_HI: u32 = 0u;
// g / sqrt(p N).
override RANDOM_SCALE: f32 = 0.0;
// The connection probability p; 1 keeps every connection.
override RANDOM_SPARSITY: f32 = 1.0;

// Entries 4 col4 .. 4 col4 + 3 of row i of generated weights: J from
// Box-Muller on words (x, y) and (z, w) of the block [col4, i, 0, weights]
// (cosine and sine of each pair), kept where the uniform of the block
// [col4, i, 0, connections] is below p; zero past column N.
fn generated4(i: u32, col4: u32) -> vec4<f32> {
    let key = vec2<u32>(RANDOM_SEED_LO, RANDOM_SEED_HI);
    let b = philox4x32_10(vec4<u32>(col4, i, 0u, STREAM_WEIGHTS), key);
    let r0 = sqrt(-2.0 * log(uniform01(b.x)));
    let r1 = sqrt(-2.0 * log(uniform01(b.z)));
    let u1 = uniform01(b.y);
    let u3 = uniform01(b.w);
    var z = vec4<f32>(r0 * cos_2pi(u1), r0 * sin_2pi(u1), r1 * cos_2pi(u3), r1 * sin_2pi(u3));
    if (RANDOM_SPARSITY < 1.0) {
        let c = philox4x32_10(vec4<u32>(col4, i, 0u, STREAM_CONNECTIONS), key);
        let u = vec4<f32>(uniform01(c.x), uniform01(c.y), uniform01(c.z), uniform01(c.w));
        z = select(vec4<f32>(0.0), z, u < vec4<f32>(RANDOM_SPARSITY));
    }
    let j = vec4<u32>(4u * col4) + vec4<u32>(0u, 1u, 2u, 3u);
    return select(vec4<f32>(0.0), RANDOM_SCALE * z, j < vec4<u32>(P.n));
}

// Entries 4 j .. 4 j + 3 of row r of the block: read, or generated.
fn row4(r: u32, base: u32, j: u32) -> vec4<f32> {
    if (RANDOM) {
        return generated4(P.row0 + r, j);
    }
    return ld_m(base + j);
}

var<workgroup> partial: array<f32, DENSE_WORKGROUP * DENSE_TILE>;

// One row per thread (DENSE_STACK = 1): the row slot's lanes read the
// operand for their row alone.
@compute @workgroup_size(DENSE_WORKGROUP)
fn dense_step(
    @builtin(workgroup_id) wid: vec3<u32>,
    @builtin(num_workgroups) groups: vec3<u32>,
    @builtin(local_invocation_index) lid: u32,
) {
    let lanes = DENSE_WORKGROUP / DENSE_ROWS;
    let row_in_group = lid / lanes;
    let lane = lid % lanes;
    let r = (wid.x + wid.z * groups.x) * DENSE_ROWS + row_in_group;
    let live = r < P.rows;
    let t0 = wid.y * DENSE_TILE;
    let nt = min(DENSE_TILE, P.batch - t0);
    let nv = P.n_pad / 4u;
    var s = array<f32, DENSE_TILE>();
    if (live) {
        let base = r * nv;
        for (var j = lane; j < nv; j += lanes) {
            let row = row4(r, base, j);
            for (var k = 0u; k < nt; k++) {
                s[k] += dot(row, ld_operand((t0 + k) * nv + j));
            }
        }
    }
    for (var k = 0u; k < DENSE_TILE; k++) {
        partial[k * DENSE_WORKGROUP + lid] = s[k];
    }
    workgroupBarrier();
    // Reduce within each row's lanes (row_in_group * lanes .. + lanes).
    for (var half = lanes / 2u; half > 0u; half = half / 2u) {
        if (lane < half) {
            for (var k = 0u; k < DENSE_TILE; k++) {
                partial[k * DENSE_WORKGROUP + lid] += partial[k * DENSE_WORKGROUP + lid + half];
            }
        }
        workgroupBarrier();
    }
    if (live && lane < nt) {
        let i = P.row0 + r;
        let t = t0 + lane;
        st_operand(t * P.n_pad + i, finish(i, t, partial[lane * DENSE_WORKGROUP + row_in_group * lanes]));
    }
}

// DENSE_STACK rows per thread, one trial per workgroup (dispatch
// (ceil(rows / DENSE_ROWS), B, overflow)): the thread's partial sums of
// its rows are two vec4s (rows 0..3 and 4..7 of its stack), summed over
// the slot's lanes (`slot_sums`: a tree in workgroup memory,
// dense_sums_tree.wgsl, or subgroup sums, dense_sums_subgroup.wgsl), and its first
// DENSE_STACK lanes apply the update of one row each. Rows past
// DENSE_STACK are cut by the override (a constant once the pipeline is
// built).

var<workgroup> stacked: array<vec4<f32>, 2u * DENSE_WORKGROUP>;

// Row r's entries of column vec4 j times the operand x; 0 past the block's rows.
fn row_dot(r: u32, j: u32, nv: u32, x: vec4<f32>) -> f32 {
    if (r >= P.rows) {
        return 0.0;
    }
    return dot(row4(r, r * nv, j), x);
}

@compute @workgroup_size(DENSE_WORKGROUP)
fn dense_stacked(
    @builtin(workgroup_id) wid: vec3<u32>,
    @builtin(num_workgroups) groups: vec3<u32>,
    l: DenseLanes,
) {
    let lid = l.lid;
    let lanes = DENSE_WORKGROUP * DENSE_STACK / DENSE_ROWS;
    let slot = lid / lanes;
    let lane = lid % lanes;
    // This thread's first row in the block; its rows are first .. first + DENSE_STACK - 1.
    let first = (wid.x + wid.z * groups.x) * DENSE_ROWS + slot * DENSE_STACK;
    let t = wid.y;
    let nv = P.n_pad / 4u;
    var lo = vec4<f32>(0.0);
    var hi = vec4<f32>(0.0);
    if (first < P.rows) {
        for (var j = lane; j < nv; j += lanes) {
            // The operand's column vec4 j, loaded once for all the rows.
            let x = ld_operand(t * nv + j);
            lo.x += row_dot(first, j, nv, x);
            if (DENSE_STACK > 1u) {
                lo.y += row_dot(first + 1u, j, nv, x);
            }
            if (DENSE_STACK > 2u) {
                lo.z += row_dot(first + 2u, j, nv, x);
                lo.w += row_dot(first + 3u, j, nv, x);
            }
            if (DENSE_STACK > 4u) {
                hi.x += row_dot(first + 4u, j, nv, x);
                hi.y += row_dot(first + 5u, j, nv, x);
                hi.z += row_dot(first + 6u, j, nv, x);
                hi.w += row_dot(first + 7u, j, nv, x);
            }
        }
    }
    slot_sums(l, lanes, lo, hi);
    let r = first + lane;
    if (lane < DENSE_STACK && r < P.rows) {
        let total = slot_total(l, slot, lanes, lane / 4u);
        let i = P.row0 + r;
        st_operand(t * P.n_pad + i, finish(i, t, total[lane % 4u]));
    }
}
