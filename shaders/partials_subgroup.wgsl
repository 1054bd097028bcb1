// The workgroup sum of the structured kernels (shaders/structured.wgsl)
// with subgroup operations, where the adapter has them
// (`Features::SUBGROUP`): each subgroup adds its invocations'
// values with subgroupAdd, its first invocation stores the sum, and one
// invocation adds the num_subgroups sums (8 on a GPU with 32-wide
// subgroups). 2 barriers instead of the tree's 10.

// What the entry points know of their invocation.
struct Lanes {
    @builtin(local_invocation_index) lid: u32,
    @builtin(subgroup_invocation_id) lane: u32,
    @builtin(subgroup_id) subgroup: u32,
    @builtin(num_subgroups) subgroups: u32,
}

// Adds the threads' sums s of 4 projections (r0 .. r0 + 3) over the
// workgroup and stores them as workgroup g's partial sums of trial b.
// Every thread calls it.
fn store_partials4(lanes: Lanes, g: u32, b: u32, r0: u32, s: vec4<f32>) {
    let t = subgroupAdd(s);
    if (lanes.lane == 0u) {
        partial4[lanes.subgroup] = t;
    }
    workgroupBarrier();
    if (lanes.lid == 0u && g < P.n_groups) {
        var total = vec4<f32>(0.0);
        for (var k = 0u; k < lanes.subgroups; k++) {
            total += partial4[k];
        }
        for (var kk = 0u; kk < 4u && r0 + kk < P.rank; kk++) {
            st_partial((b * P.rank + r0 + kk) * P.n_groups + g, dot(total, unit4(kk)));
        }
    }
    // partial4 is written again by the next 4 projections.
    workgroupBarrier();
}
