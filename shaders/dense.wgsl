// Dense M: one workgroup per row and tile of up to DENSE_TILE trials
// computes (M u)_row with vec4 loads (each M element read once for the
// tile) and a workgroup tree reduction, then applies the update for that
// neuron (fused: no separate pass over the vector). M arrives in row
// blocks, each within the adapter's storage binding limit. Dispatch
// (rows, ceil(B / DENSE_TILE), 1), rows overflowing into z. Keep
// DENSE_WORKGROUP and DENSE_TILE in sync with src/sim/gpu/kernels.rs.

const DENSE_WORKGROUP: u32 = 256u;
const DENSE_TILE: u32 = 4u;

@group(0) @binding(1) var<storage, read> u_in: array<vec4<f32>>;
@group(0) @binding(7) var<storage, read> m: array<vec4<f32>>;

var<workgroup> partial: array<f32, 1024>; // DENSE_WORKGROUP * DENSE_TILE

@compute @workgroup_size(256)
fn dense_step(
    @builtin(workgroup_id) wid: vec3<u32>,
    @builtin(num_workgroups) groups: vec3<u32>,
    @builtin(local_invocation_index) lid: u32,
) {
    let r = wid.x + wid.z * groups.x;
    if (r >= P.rows) {
        return;
    }
    let t0 = wid.y * DENSE_TILE;
    let nt = min(DENSE_TILE, P.batch - t0);
    let nv = P.n_pad / 4u;
    let base = r * nv;
    var s = array<f32, 4>(0.0, 0.0, 0.0, 0.0);
    for (var j = lid; j < nv; j += DENSE_WORKGROUP) {
        let row = m[base + j];
        for (var k = 0u; k < nt; k++) {
            s[k] += dot(row, u_in[(t0 + k) * nv + j]);
        }
    }
    for (var k = 0u; k < DENSE_TILE; k++) {
        partial[k * DENSE_WORKGROUP + lid] = s[k];
    }
    workgroupBarrier();
    for (var half = DENSE_WORKGROUP / 2u; half > 0u; half = half / 2u) {
        if (lid < half) {
            for (var k = 0u; k < DENSE_TILE; k++) {
                partial[k * DENSE_WORKGROUP + lid] += partial[k * DENSE_WORKGROUP + lid + half];
            }
        }
        workgroupBarrier();
    }
    if (lid < nt) {
        finish(P.row0 + r, t0 + lid, partial[lid * DENSE_WORKGROUP]);
    }
}
