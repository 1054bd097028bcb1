// The sums of dense_stacked's slots (shaders/dense.wgsl) and of
// sparse_step's lanes (shaders/sparse.wgsl) with subgroup operations, where the adapter has them (`Features::SUBGROUP`) and every
// subgroup has the same size, dividing a slot's lanes (the host checks, see
// `kernels::dense_subgroups`): each subgroup adds its invocations' row sums
// with subgroupAdd (invocations lid / size of subgroup k = lid / size), its
// first stores them, and each row's update adds its slot's lanes / size
// subgroup sums (1 on a GPU with 32-wide subgroups). 1 barrier instead of
// the tree's log2(lanes) + 1.

// What dense_stacked knows of its invocation.
struct DenseLanes {
    @builtin(local_invocation_index) lid: u32,
    @builtin(subgroup_invocation_id) lane: u32,
    @builtin(subgroup_size) size: u32,
}

// Adds the threads' row sums lo (rows 0 .. 3 of the stack) and hi (4 .. 7)
// over each subgroup. Every thread calls it.
fn slot_sums(l: DenseLanes, lanes: u32, lo: vec4<f32>, hi: vec4<f32>) {
    let tlo = subgroupAdd(lo);
    var thi = vec4<f32>(0.0);
    if (DENSE_STACK > 4u) {
        thi = subgroupAdd(hi);
    }
    if (l.lane == 0u) {
        let k = l.lid / l.size;
        stacked[2u * k] = tlo;
        stacked[2u * k + 1u] = thi;
    }
    workgroupBarrier();
}

// Slot `slot`'s sums of rows 4 q .. 4 q + 3 of its stack (after
// `slot_sums`): its subgroups' sums.
fn slot_total(l: DenseLanes, slot: u32, lanes: u32, q: u32) -> vec4<f32> {
    let per = lanes / l.size;
    var t = vec4<f32>(0.0);
    for (var k = 0u; k < per; k++) {
        t += stacked[2u * (slot * per + k) + q];
    }
    return t;
}

// The totals over each group of `lanes` contiguous threads (lid / lanes,
// lanes a power of two) of their sums `s`, one per trial of the tile,
// returned to every thread of the group. Within a subgroup of
// SPARSE_SUBGROUP invocations the group's threads exchange their sums by
// shuffles (log2 of the lanes within it, no barrier); a group wider than a
// subgroup (a heavy row's workgroup) then adds its subgroups' totals
// through workgroup memory (one barrier). Every thread calls it.
fn sparse_sums(lid: u32, lane: u32, lanes: u32, s_in: array<f32, DENSE_TILE>) -> array<f32, DENSE_TILE> {
    var s = s_in;
    for (var half = min(lanes, SPARSE_SUBGROUP) / 2u; half > 0u; half = half / 2u) {
        for (var tt = 0u; tt < DENSE_TILE; tt++) {
            s[tt] += subgroupShuffleXor(s[tt], half);
        }
    }
    if (lanes <= SPARSE_SUBGROUP) {
        return s;
    }
    if (lid % SPARSE_SUBGROUP == 0u) {
        for (var tt = 0u; tt < DENSE_TILE; tt++) {
            sparse_partial[tt * SPARSE_THREADS + lid] = s[tt];
        }
    }
    workgroupBarrier();
    var total = array<f32, DENSE_TILE>();
    for (var k = lid - lane; k < lid - lane + lanes; k += SPARSE_SUBGROUP) {
        for (var tt = 0u; tt < DENSE_TILE; tt++) {
            total[tt] += sparse_partial[tt * SPARSE_THREADS + k];
        }
    }
    // Read before a next call writes the slots again.
    workgroupBarrier();
    return total;
}
