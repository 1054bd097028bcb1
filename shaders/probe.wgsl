// The bandwidth probe of `attractor bench` (src/bench.rs, `gpu_bandwidth`):
// every thread sums PROBE_VEC4S vec4s of `src`, strided by the grid so that
// each workgroup's loads are contiguous, and writes its sum (one vec4 per
// thread, so that the loads cannot be dropped). The host counts the bytes
// read and written. Dispatch (groups, 1, 1) with groups * 256 *
// PROBE_VEC4S = the vec4s of `src`.

// PROBE_VEC4S comes from the generated header; the module's only bindings
// are these two (the common ones are not used by this entry point).

@group(0) @binding(20) var<storage, read> src: array<vec4<f32>>;
@group(0) @binding(21) var<storage, read_write> dst: array<vec4<f32>>;

@compute @workgroup_size(256)
fn read_probe(
    @builtin(global_invocation_id) gid: vec3<u32>,
    @builtin(num_workgroups) groups: vec3<u32>,
) {
    let threads = groups.x * 256u;
    var s = vec4<f32>(0.0);
    for (var k = 0u; k < PROBE_VEC4S; k++) {
        s += src[k * threads + gid.x];
    }
    dst[gid.x] = s;
}
