// Gaussian and Mexican-hat kernels on a side × side torus (weights kind
// "gaussian"): M = sum_t coef[t] (G_t ⊗ G_t), each G_t the circulant of the
// 1D taps g_t (row 2t of `table`, P.side long, even: g_t[k] = g_t[side -
// k]), applied as two separable passes per stage, O(N side) each. A
// velocity (kx, ky) = P.kappa.xy = tau (v_x, v_y) adds coef[t] (kx H_t ⊗ G_t
// + ky G_t ⊗ H_t), H_t the circulant of the odd taps h_t (row 2t + 1: minus
// the derivative of g_t), the twin of `Convolution::apply_turned`.
//
//   conv_rows (groups, overflow, B): for neuron i = r side + c of trial b
//     and each Gaussian t < P.rank, the row passes of the stage's operand
//     o: A_t[i] = sum_j g_t[|c - j|] o(r side + j) at proj[(b 2R + 2t) N +
//     i], and with a velocity along x or y B_t[i] = sum_j h_t[(c - j) mod
//     side] o(r side + j) at proj[(b 2R + 2t + 1) N + i];
//   conv_step (groups, overflow, B): the column passes, (M o)_i = sum_t
//     coef[t] sum_j (g_t[|r - j|] (A_t + kx B_t)[j side + c] + ky h_t[(r -
//     j) mod side] A_t[j side + c]), then the update (`finish`).
//
// |c - j| indexes the even taps without a modulo: g_t[(c - j) mod side] =
// g_t[|c - j|]. The row pass reads the stage point of its row's neighbours
// and writes only `proj`; the step reads only `proj` and writes its own
// neuron's state, so neither races. One neuron per thread, P.rank ≤ 2.
// Exact separability: exp(-(dx² + dy²) / (2 sigma²)) = g(dx) g(dy) with
// each axis wrapped apart (and its derivative along x is g'(dx) g(dy)), so
// the passes are M itself, not an approximation; the CPU reference applies
// the same M by FFT.

fn conv_neuron(wid: vec3<u32>, groups: vec3<u32>, lid: u32) -> u32 {
    return (wid.x + wid.y * groups.x) * CONVOLUTION_WORKGROUP + lid;
}

// Whether this step's velocity turns the kernel (the odd row passes are needed).
fn conv_turned() -> bool {
    return P.kappa.x != 0.0 || P.kappa.y != 0.0;
}

@compute @workgroup_size(CONVOLUTION_WORKGROUP)
fn conv_rows(
    @builtin(workgroup_id) wid: vec3<u32>,
    @builtin(num_workgroups) groups: vec3<u32>,
    @builtin(local_invocation_index) lid: u32,
) {
    counting_kernel = KERNEL_CONV_ROWS;
    let i = conv_neuron(wid, groups, lid);
    if (i >= P.n) {
        return;
    }
    let b = wid.z;
    let side = P.side;
    let c = i % side;
    let row0 = b * P.n + i - c;
    let turned = conv_turned();
    // (even, odd) sums of each Gaussian; the operand computed once per column.
    var a = array<vec2<f32>, 2>(vec2<f32>(0.0), vec2<f32>(0.0));
    for (var j = 0u; j < side; j++) {
        let o = operand(stage_point(row0 + j));
        let even = select(j - c, c - j, c > j);
        let odd = side + (c + side - j) % side;
        for (var t = 0u; t < P.rank; t++) {
            a[t].x += ld_table(2u * t * side + even) * o;
            if (turned) {
                a[t].y += ld_table(2u * t * side + odd) * o;
            }
        }
    }
    for (var t = 0u; t < P.rank; t++) {
        let at = (b * 2u * P.rank + 2u * t) * P.n + i;
        st_proj(at, a[t].x);
        st_proj(at + P.n, a[t].y);
    }
}

@compute @workgroup_size(CONVOLUTION_WORKGROUP)
fn conv_step(
    @builtin(workgroup_id) wid: vec3<u32>,
    @builtin(num_workgroups) groups: vec3<u32>,
    @builtin(local_invocation_index) lid: u32,
) {
    counting_kernel = KERNEL_CONV_STEP;
    let i = conv_neuron(wid, groups, lid);
    if (i >= P.n) {
        return;
    }
    let b = wid.z;
    let side = P.side;
    let c = i % side;
    let r = i / side;
    let turned = conv_turned();
    let kx = P.kappa.x;
    let ky = P.kappa.y;
    var product = 0.0;
    for (var t = 0u; t < P.rank; t++) {
        let even = 2u * t * side;
        let odd = even + side;
        let base = (b * 2u * P.rank + 2u * t) * P.n + c;
        var s = 0.0;
        for (var j = 0u; j < side; j++) {
            let a = ld_proj(base + j * side);
            let g = ld_table(even + select(j - r, r - j, r > j));
            if (turned) {
                let h = ld_proj(base + P.n + j * side);
                s += g * (a + kx * h) + ky * ld_table(odd + (r + side - j) % side) * a;
            } else {
                s += g * a;
            }
        }
        product += ld_coef(t) * s;
    }
    _ = finish(i, b, product);
}
