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
//     j) mod side] A_t[j side + c]), then the update (`finish`); in blocks
//     of CONVOLUTION_BLOCK² neurons where the side is a multiple of it.
//
// The row pass stages the operand of its row in workgroup memory, a tile
// of CONVOLUTION_WORKGROUP columns at a time, each element loaded and put
// through the activation once per workgroup rather than by every neuron of
// the row: where the side is a multiple of the workgroup (a workgroup
// within one row) the tiles walk the row; where it divides the workgroup
// (whole rows in a workgroup) each thread stages its own neuron's operand
// and reads its row's. Other sides read the operand from memory.
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

// Set by the host on hardware GPUs (see the staging above).
override CONVOLUTION_STAGED: bool = false;
var<workgroup> row_operand: array<f32, CONVOLUTION_WORKGROUP>;

// Adds the terms of column j (operand o) of the row passes of neuron
// column c to a.
fn conv_rows_terms(a: ptr<function, array<vec2<f32>, 2>>, c: u32, j: u32, o: f32, turned: bool) {
    let side = P.side;
    let even = select(j - c, c - j, c > j);
    let odd = side + (c + side - j) % side;
    for (var t = 0u; t < P.rank; t++) {
        (*a)[t].x += ld_table(2u * t * side + even) * o;
        if (turned) {
            (*a)[t].y += ld_table(2u * t * side + odd) * o;
        }
    }
}

@compute @workgroup_size(CONVOLUTION_WORKGROUP)
fn conv_rows(
    @builtin(workgroup_id) wid: vec3<u32>,
    @builtin(num_workgroups) groups: vec3<u32>,
    @builtin(local_invocation_index) lid: u32,
) {
    let i = conv_neuron(wid, groups, lid);
    let b = wid.z;
    let side = P.side;
    let c = i % side;
    let turned = conv_turned();
    // (even, odd) sums of each Gaussian.
    var a = array<vec2<f32>, 2>(vec2<f32>(0.0), vec2<f32>(0.0));
    if (CONVOLUTION_STAGED && side % CONVOLUTION_WORKGROUP == 0u) {
        // One row: its tiles in turn (P.n is a multiple of the workgroup,
        // so every thread of a workgroup that starts within it has a neuron).
        if (conv_neuron(wid, groups, 0u) >= P.n) {
            return;
        }
        let row0 = b * P.n + i - c;
        for (var j0 = 0u; j0 < side; j0 += CONVOLUTION_WORKGROUP) {
            workgroupBarrier();
            row_operand[lid] = operand(stage_point(row0 + j0 + lid));
            workgroupBarrier();
            for (var l = 0u; l < CONVOLUTION_WORKGROUP; l++) {
                conv_rows_terms(&a, c, j0 + l, row_operand[l], turned);
            }
        }
    } else if (CONVOLUTION_STAGED && CONVOLUTION_WORKGROUP % side == 0u) {
        // Whole rows: each thread stages its own neuron's operand (N is
        // a whole number of rows: a neuron's row is all there).
        if (conv_neuron(wid, groups, 0u) >= P.n) {
            return;
        }
        if (i < P.n) {
            row_operand[lid] = operand(stage_point(b * P.n + i));
        }
        workgroupBarrier();
        if (i >= P.n) {
            return;
        }
        let first = lid - c;
        for (var j = 0u; j < side; j++) {
            conv_rows_terms(&a, c, j, row_operand[first + j], turned);
        }
    } else {
        if (i >= P.n) {
            return;
        }
        let row0 = b * P.n + i - c;
        for (var j = 0u; j < side; j++) {
            conv_rows_terms(&a, c, j, operand(stage_point(row0 + j)), turned);
        }
    }
    for (var t = 0u; t < P.rank; t++) {
        let at = (b * 2u * P.rank + 2u * t) * P.n + i;
        st_proj(at, a[t].x);
        st_proj(at + P.n, a[t].y);
    }
}

// conv_step's blocks: CONVOLUTION_BLOCK² = CONVOLUTION_WORKGROUP neurons a
// workgroup where the side is a multiple of CONVOLUTION_BLOCK, so that
// each element of the row passes it reads is loaded once per block (into
// `pass_tile`, CONVOLUTION_BLOCK rows j at a time) and read by the block's
// rows, not loaded by each neuron of its column.
var<workgroup> pass_tile: array<vec2<f32>, CONVOLUTION_WORKGROUP>;

// The column pass of neuron (r, c) for the terms j of one step of the
// loop: g_t and, turned, h_t at r - j.
fn conv_column_term(t: u32, r: u32, j: u32, a: f32, h: f32, turned: bool) -> f32 {
    let side = P.side;
    let g = ld_table(2u * t * side + select(j - r, r - j, r > j));
    if (turned) {
        let odd = ld_table((2u * t + 1u) * side + (r + side - j) % side);
        return g * (a + P.kappa.x * h) + P.kappa.y * odd * a;
    }
    return g * a;
}

@compute @workgroup_size(CONVOLUTION_WORKGROUP)
fn conv_step(
    @builtin(workgroup_id) wid: vec3<u32>,
    @builtin(num_workgroups) groups: vec3<u32>,
    @builtin(local_invocation_index) lid: u32,
) {
    let b = wid.z;
    let side = P.side;
    let turned = conv_turned();
    var product = 0.0;
    if (CONVOLUTION_STAGED && side % CONVOLUTION_BLOCK == 0u) {
        let w = wid.x + wid.y * groups.x;
        if (w * CONVOLUTION_WORKGROUP >= P.n) {
            return;
        }
        let blocks = side / CONVOLUTION_BLOCK;
        let c0 = (w % blocks) * CONVOLUTION_BLOCK;
        let r = (w / blocks) * CONVOLUTION_BLOCK + lid / CONVOLUTION_BLOCK;
        let c = c0 + lid % CONVOLUTION_BLOCK;
        for (var t = 0u; t < P.rank; t++) {
            let base = (b * 2u * P.rank + 2u * t) * P.n;
            var s = 0.0;
            for (var j0 = 0u; j0 < side; j0 += CONVOLUTION_BLOCK) {
                // Row j0 + lid / 16 of the block's 16 columns.
                workgroupBarrier();
                let at = base + (j0 + lid / CONVOLUTION_BLOCK) * side + c0 + lid % CONVOLUTION_BLOCK;
                var v = vec2<f32>(ld_proj(at), 0.0);
                if (turned) {
                    v.y = ld_proj(at + P.n);
                }
                pass_tile[lid] = v;
                workgroupBarrier();
                for (var l = 0u; l < CONVOLUTION_BLOCK; l++) {
                    let p = pass_tile[l * CONVOLUTION_BLOCK + lid % CONVOLUTION_BLOCK];
                    s += conv_column_term(t, r, j0 + l, p.x, p.y, turned);
                }
            }
            product += ld_coef(t) * s;
        }
        _ = finish(r * side + c, b, product);
        return;
    }
    let i = conv_neuron(wid, groups, lid);
    if (i >= P.n) {
        return;
    }
    let c = i % side;
    let r = i / side;
    for (var t = 0u; t < P.rank; t++) {
        let base = (b * 2u * P.rank + 2u * t) * P.n + c;
        var s = 0.0;
        for (var j = 0u; j < side; j++) {
            let a = ld_proj(base + j * side);
            var h = 0.0;
            if (turned) {
                h = ld_proj(base + P.n + j * side);
            }
            s += conv_column_term(t, r, j, a, h, turned);
        }
        product += ld_coef(t) * s;
    }
    _ = finish(i, b, product);
}
