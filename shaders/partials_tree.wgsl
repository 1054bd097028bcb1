// The portable workgroup sum of the structured kernels (shaders/structured.wgsl):
// a tree in workgroup memory.

// What the entry points know of their invocation.
struct Lanes {
    @builtin(local_invocation_index) lid: u32,
}

// Adds the threads' sums s of 4 projections (r0 .. r0 + 3) over the
// workgroup and stores them as workgroup g's partial sums of trial b.
// Every thread calls it (log2(STRUCTURED_WORKGROUP) + 2 barriers).
fn store_partials4(lanes: Lanes, g: u32, b: u32, r0: u32, s: vec4<f32>) {
    let lid = lanes.lid;
    partial4[lid] = s;
    workgroupBarrier();
    for (var half = STRUCTURED_WORKGROUP / 2u; half > 0u; half = half / 2u) {
        if (lid < half) {
            partial4[lid] += partial4[lid + half];
        }
        workgroupBarrier();
    }
    if (lid < 4u && r0 + lid < P.rank && g < P.n_groups) {
        st_partial((b * P.rank + r0 + lid) * P.n_groups + g, partial4[0][lid]);
    }
    // partial4 is written again by the next 4 projections.
    workgroupBarrier();
}
