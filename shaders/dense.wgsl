// Dense M: one workgroup per row computes (M u)_row with vec4 loads and a
// workgroup tree reduction, then applies the update for that neuron (fused:
// no separate pass over the vector). M arrives in row blocks, each within
// the adapter's storage binding limit. Keep DENSE_WORKGROUP in sync with
// src/sim/gpu/kernels.rs.

const DENSE_WORKGROUP: u32 = 256u;

@group(0) @binding(1) var<storage, read> u_in: array<vec4<f32>>;
@group(0) @binding(7) var<storage, read> m: array<vec4<f32>>;

var<workgroup> partial: array<f32, DENSE_WORKGROUP>;

@compute @workgroup_size(256)
fn dense_step(
    @builtin(workgroup_id) wid: vec3<u32>,
    @builtin(num_workgroups) groups: vec3<u32>,
    @builtin(local_invocation_index) lid: u32,
) {
    let r = wid.x + wid.y * groups.x;
    if (r >= P.rows) {
        return;
    }
    let nv = P.n_pad / 4u;
    let base = r * nv;
    var s = 0.0;
    for (var j = lid; j < nv; j += DENSE_WORKGROUP) {
        s += dot(m[base + j], u_in[j]);
    }
    partial[lid] = s;
    workgroupBarrier();
    for (var k = DENSE_WORKGROUP / 2u; k > 0u; k = k / 2u) {
        if (lid < k) {
            partial[lid] += partial[lid + k];
        }
        workgroupBarrier();
    }
    if (lid == 0u) {
        finish(P.row0 + r, partial[0]);
    }
}
