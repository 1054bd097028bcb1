// Structured M = diag(d) + sum_r coef_r U_r V_r^T (ring: R = 3, Hebbian: P,
// low rank: R), O(N R) per step in three passes: partial sums of the
// projections V_r . operand per workgroup, their totals, then the per-neuron
// update, for each trial b of the batch (its projections at b * R + r,
// its partial sums at (b * R + r) * n_groups + g). STRUCTURED_WORKGROUP and
// PROJECT_CHUNK (elements per workgroup of the projection pass) come from
// src/sim/gpu/kernels.rs through the generated header; the reductions are
// in reduce.wgsl.

@group(0) @binding(1) var<storage, read> operand_in: array<f32>;
// Update pass: U (R×N, row r contiguous; V itself when U = V). Projection pass: V (R×N).
@group(0) @binding(7) var<storage, read> table: array<f32>;
// coef[r] in the projection pass; the finished projections in the update pass.
@group(0) @binding(8) var<storage, read_write> proj: array<f32>;
@group(0) @binding(9) var<storage, read> diag: array<f32>;
@group(0) @binding(11) var<storage, read> coef: array<f32>;

// Dispatch (groups, R, B): workgroup g sums V_r[j] operand_b[j] over its chunk.
@compute @workgroup_size(256)
fn project_partial(
    @builtin(workgroup_id) wid: vec3<u32>,
    @builtin(local_invocation_index) lid: u32,
) {
    let g = wid.x;
    let r = wid.y;
    let b = wid.z;
    let start = g * PROJECT_CHUNK;
    let end = min(start + PROJECT_CHUNK, P.n);
    let row = r * P.n;
    let ub = b * P.n_pad;
    var s = 0.0;
    for (var j = start + lid; j < end; j += STRUCTURED_WORKGROUP) {
        s += table[row + j] * operand_in[ub + j];
    }
    store_partial(lid, s, (b * P.rank + r) * P.n_groups + g);
}

// Dispatch (R, B): proj[b R + r] = coef[r] * the sum of the partials of (b, r).
@compute @workgroup_size(256)
fn project_finish(
    @builtin(workgroup_id) wid: vec3<u32>,
    @builtin(local_invocation_index) lid: u32,
) {
    let r = wid.x;
    let b = wid.y;
    let total = total_of_partials(lid, (b * P.rank + r) * P.n_groups);
    if (lid == 0u) {
        proj[b * P.rank + r] = coef[r] * total;
    }
}

// One invocation per neuron and trial (dispatch (groups, overflow, B)):
// (M operand)_i = sum_r proj[r] U_r[i] + d_i operand_i, then the update.
@compute @workgroup_size(256)
fn structured_step(
    @builtin(global_invocation_id) gid: vec3<u32>,
    @builtin(workgroup_id) wid: vec3<u32>,
    @builtin(num_workgroups) groups: vec3<u32>,
) {
    let i = gid.x + wid.y * groups.x * STRUCTURED_WORKGROUP;
    let b = wid.z;
    if (i >= P.n) {
        return;
    }
    var product = 0.0;
    let pb = b * P.rank;
    for (var r = 0u; r < P.rank; r++) {
        product += proj[pb + r] * table[r * P.n + i];
    }
    if (P.has_diag == 1u) {
        product += diag[i] * operand_in[b * P.n_pad + i];
    }
    finish(i, b, product);
}
