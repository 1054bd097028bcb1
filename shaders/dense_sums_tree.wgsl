// The portable sums of dense_stacked's slots (shaders/dense.wgsl) and of
// sparse_step's lanes (shaders/sparse.wgsl): a tree in workgroup memory,
// log2(lanes) + 1 barriers.

// What dense_stacked knows of its invocation.
struct DenseLanes {
    @builtin(local_invocation_index) lid: u32,
}

// Adds the threads' row sums lo (rows 0 .. 3 of the stack) and hi (4 .. 7)
// over each slot of `lanes` threads (lid / lanes). Every thread calls it.
fn slot_sums(l: DenseLanes, lanes: u32, lo: vec4<f32>, hi: vec4<f32>) {
    let lid = l.lid;
    let lane = lid % lanes;
    stacked[2u * lid] = lo;
    stacked[2u * lid + 1u] = hi;
    workgroupBarrier();
    for (var half = lanes / 2u; half > 0u; half = half / 2u) {
        if (lane < half) {
            stacked[2u * lid] += stacked[2u * (lid + half)];
            if (DENSE_STACK > 4u) {
                stacked[2u * lid + 1u] += stacked[2u * (lid + half) + 1u];
            }
        }
        workgroupBarrier();
    }
}

// Slot `slot`'s sums of rows 4 q .. 4 q + 3 of its stack (after `slot_sums`).
fn slot_total(l: DenseLanes, slot: u32, lanes: u32, q: u32) -> vec4<f32> {
    return stacked[2u * slot * lanes + q];
}

// The totals over each group of `lanes` contiguous threads (lid / lanes)
// of their sums `s`, one per trial of the tile, returned to every thread
// of the group. Every thread calls it.
fn sparse_sums(lid: u32, lane: u32, lanes: u32, s: array<f32, DENSE_TILE>) -> array<f32, DENSE_TILE> {
    for (var tt = 0u; tt < DENSE_TILE; tt++) {
        sparse_partial[tt * SPARSE_THREADS + lid] = s[tt];
    }
    workgroupBarrier();
    for (var half = lanes / 2u; half > 0u; half = half / 2u) {
        if (lane < half) {
            for (var tt = 0u; tt < DENSE_TILE; tt++) {
                sparse_partial[tt * SPARSE_THREADS + lid] += sparse_partial[tt * SPARSE_THREADS + lid + half];
            }
        }
        workgroupBarrier();
    }
    var total = array<f32, DENSE_TILE>();
    for (var tt = 0u; tt < DENSE_TILE; tt++) {
        total[tt] = sparse_partial[tt * SPARSE_THREADS + lid - lane];
    }
    // Read before a next call writes the slots again.
    workgroupBarrier();
    return total;
}
