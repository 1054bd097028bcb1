// Structured M = diag(d) + sum_r coef_r W_r V_r^T (ring: R = 3, Hebbian: P,
// low rank: R), O(N R) per step in three passes: partial sums of the
// projections V_r . u per workgroup, their totals, then the per-neuron
// update. Keep STRUCTURED_WORKGROUP and PROJECT_CHUNK in sync with
// src/sim/gpu/kernels.rs.

const STRUCTURED_WORKGROUP: u32 = 256u;
const PROJECT_CHUNK: u32 = 4096u; // elements per workgroup of the projection pass

@group(0) @binding(1) var<storage, read> u_in: array<f32>;
// Update pass: W (R×N, row r contiguous). Projection pass: V (R×N).
@group(0) @binding(7) var<storage, read> table: array<f32>;
// coef[r] in the projection pass; the finished projections in the update pass.
@group(0) @binding(8) var<storage, read_write> proj: array<f32>;
@group(0) @binding(9) var<storage, read> diag: array<f32>;
@group(0) @binding(10) var<storage, read_write> partials: array<f32>;
@group(0) @binding(11) var<storage, read> coef: array<f32>;

var<workgroup> scratch: array<f32, STRUCTURED_WORKGROUP>;

fn reduce_scratch(lid: u32) {
    workgroupBarrier();
    for (var k = STRUCTURED_WORKGROUP / 2u; k > 0u; k = k / 2u) {
        if (lid < k) {
            scratch[lid] += scratch[lid + k];
        }
        workgroupBarrier();
    }
}

// Dispatch (groups, R): workgroup g sums V_r[j] u[j] over its chunk.
@compute @workgroup_size(256)
fn project_partial(
    @builtin(workgroup_id) wid: vec3<u32>,
    @builtin(local_invocation_index) lid: u32,
) {
    let g = wid.x;
    let r = wid.y;
    let start = g * PROJECT_CHUNK;
    let end = min(start + PROJECT_CHUNK, P.n);
    let row = r * P.n;
    var s = 0.0;
    for (var j = start + lid; j < end; j += STRUCTURED_WORKGROUP) {
        s += table[row + j] * u_in[j];
    }
    scratch[lid] = s;
    reduce_scratch(lid);
    if (lid == 0u) {
        partials[r * P.n_groups + g] = scratch[0];
    }
}

// Dispatch (R): proj[r] = coef[r] * sum of the partials of r.
@compute @workgroup_size(256)
fn project_finish(
    @builtin(workgroup_id) wid: vec3<u32>,
    @builtin(local_invocation_index) lid: u32,
) {
    let r = wid.x;
    var s = 0.0;
    for (var g = lid; g < P.n_groups; g += STRUCTURED_WORKGROUP) {
        s += partials[r * P.n_groups + g];
    }
    scratch[lid] = s;
    reduce_scratch(lid);
    if (lid == 0u) {
        proj[r] = coef[r] * scratch[0];
    }
}

// One invocation per neuron: (M u)_i = sum_r proj[r] W_r[i] + d_i u_i, then the update.
@compute @workgroup_size(256)
fn structured_step(
    @builtin(global_invocation_id) gid: vec3<u32>,
    @builtin(num_workgroups) groups: vec3<u32>,
) {
    let i = gid.x + gid.y * groups.x * STRUCTURED_WORKGROUP;
    if (i >= P.n) {
        return;
    }
    var mu = 0.0;
    for (var r = 0u; r < P.rank; r++) {
        mu += proj[r] * table[r * P.n + i];
    }
    if (P.has_diag == 1u) {
        mu += diag[i] * u_in[i];
    }
    finish(i, mu);
}
