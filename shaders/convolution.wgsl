// Gaussian and Mexican-hat kernels on a side × side torus (weights kind
// "gaussian"): M = sum_t coef[t] (G_t ⊗ G_t), each G_t the circulant of the
// 1D taps g_t (row t of `table`, P.side long, even: g_t[k] = g_t[side - k]),
// applied as two separable passes per stage, O(N side) each:
//
//   conv_rows (groups, overflow, B): for neuron i = r side + c of trial b
//     and each Gaussian t < P.rank, the row pass of the stage's operand o:
//     proj[(b R + t) N + i] = sum_j g_t[|c - j|] o(r side + j);
//   conv_step (groups, overflow, B): the column pass, (M o)_i = sum_t
//     coef[t] sum_j g_t[|r - j|] proj[(b R + t) N + j side + c], then the
//     update (`finish`).
//
// |c - j| indexes the even taps without a modulo: g_t[(c - j) mod side] =
// g_t[|c - j|]. The row pass reads the stage point of its row's neighbours
// and writes only `proj`; the step reads only `proj` and writes its own
// neuron's state, so neither races. One neuron per thread, P.rank ≤ 2.
// Exact separability: exp(-(dx² + dy²) / (2 sigma²)) = g(dx) g(dy) with
// each axis wrapped apart, so the two passes are M itself, not an
// approximation; the CPU reference applies the same M by FFT.

fn conv_neuron(wid: vec3<u32>, groups: vec3<u32>, lid: u32) -> u32 {
    return (wid.x + wid.y * groups.x) * 256u + lid;
}

@compute @workgroup_size(256)
fn conv_rows(
    @builtin(workgroup_id) wid: vec3<u32>,
    @builtin(num_workgroups) groups: vec3<u32>,
    @builtin(local_invocation_index) lid: u32,
) {
    let i = conv_neuron(wid, groups, lid);
    if (i >= P.n) {
        return;
    }
    let b = wid.z;
    let side = P.side;
    let c = i % side;
    let row0 = b * P.n + i - c;
    var s0 = 0.0;
    var s1 = 0.0;
    for (var j = 0u; j < side; j++) {
        let k = select(j - c, c - j, c > j);
        let o = operand(stage_point(row0 + j));
        s0 += table[k] * o;
        if (P.rank > 1u) {
            s1 += table[side + k] * o;
        }
    }
    proj[b * P.rank * P.n + i] = s0;
    if (P.rank > 1u) {
        proj[(b * P.rank + 1u) * P.n + i] = s1;
    }
}

@compute @workgroup_size(256)
fn conv_step(
    @builtin(workgroup_id) wid: vec3<u32>,
    @builtin(num_workgroups) groups: vec3<u32>,
    @builtin(local_invocation_index) lid: u32,
) {
    let i = conv_neuron(wid, groups, lid);
    if (i >= P.n) {
        return;
    }
    let b = wid.z;
    let side = P.side;
    let c = i % side;
    let r = i / side;
    var product = 0.0;
    for (var t = 0u; t < P.rank; t++) {
        let base = (b * P.rank + t) * P.n + c;
        var s = 0.0;
        for (var j = 0u; j < side; j++) {
            let k = select(j - r, r - j, r > j);
            s += table[t * side + k] * proj[base + j * side];
        }
        product += coef[t] * s;
    }
    _ = finish(i, b, product);
}
