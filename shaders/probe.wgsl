// The bandwidth probe of `attractor bench` (src/bench.rs, `gpu_bandwidth`):
// every thread sums PROBE_VEC4S vec4s of `src`, strided by the grid so that
// each workgroup's loads are contiguous, and writes its sum (one vec4 per
// thread, so that the loads cannot be dropped). The host counts the bytes
// read and written. Dispatch (groups, 1, 1) with groups * PROBE_WORKGROUP *
// PROBE_VEC4S = the vec4s of `src`.

// PROBE_VEC4S comes from the generated header; the module's only bindings
// are these two (the common ones are not used by these entry points).

@group(0) @binding(20) var<storage, read> src: array<vec4<f32>>;
@group(0) @binding(21) var<storage, read_write> dst: array<vec4<f32>>;

// The arithmetic probe (`gpu_peak_flops`): PROBE_FLOP_ROUNDS rounds of 8
// independent vec4 fused multiply-adds per thread (64 flops a round), one
// vec4 written per thread so that none can be dropped. Dispatch (groups,
// 1, 1), dst at least groups * PROBE_WORKGROUP vec4s.
@compute @workgroup_size(PROBE_WORKGROUP)
fn flops_probe(@builtin(global_invocation_id) gid: vec3<u32>) {
    let m = vec4<f32>(0.999999);
    let c = vec4<f32>(1e-7);
    let s = f32(gid.x) * 1e-9;
    var a0 = vec4<f32>(s);
    var a1 = vec4<f32>(s + 0.001);
    var a2 = vec4<f32>(s + 0.002);
    var a3 = vec4<f32>(s + 0.003);
    var a4 = vec4<f32>(s + 0.004);
    var a5 = vec4<f32>(s + 0.005);
    var a6 = vec4<f32>(s + 0.006);
    var a7 = vec4<f32>(s + 0.007);
    for (var k = 0u; k < PROBE_FLOP_ROUNDS; k++) {
        a0 = fma(a0, m, c);
        a1 = fma(a1, m, c);
        a2 = fma(a2, m, c);
        a3 = fma(a3, m, c);
        a4 = fma(a4, m, c);
        a5 = fma(a5, m, c);
        a6 = fma(a6, m, c);
        a7 = fma(a7, m, c);
    }
    dst[gid.x] = ((a0 + a1) + (a2 + a3)) + ((a4 + a5) + (a6 + a7));
}

@compute @workgroup_size(PROBE_WORKGROUP)
fn read_probe(
    @builtin(global_invocation_id) gid: vec3<u32>,
    @builtin(num_workgroups) groups: vec3<u32>,
) {
    let threads = groups.x * PROBE_WORKGROUP;
    var s = vec4<f32>(0.0);
    for (var k = 0u; k < PROBE_VEC4S; k++) {
        s += src[k * threads + gid.x];
    }
    dst[gid.x] = s;
}
