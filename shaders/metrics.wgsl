// The metrics of a record, reduced on the GPU: for each trial b, the K sums
// over neurons of SumLayout (src/analysis/metrics.rs), as partial sums per
// workgroup of METRIC_CHUNK neurons, then totals. Only these K numbers per
// trial come back. Keep in sync with `Metrics::from_sums`.

// METRIC_WORKGROUP and METRIC_CHUNK come from the generated header; the
// reductions are in reduce.wgsl.

// Ring: the V table (rows 1 and 2 are cos and sin); Hebbian: the patterns
// (packed ones from their bits, packed.wgsl).
@group(0) @binding(7) var<storage, read> table: array<f32>;
@group(0) @binding(9) var<storage, read> diag: array<f32>;
@group(0) @binding(14) var<storage, read_write> sums: array<f32>;

fn ld_table(k: u32) -> f32 {
    count(7u, false, 4u);
    return table[k];
}

fn ld_diag(k: u32) -> f32 {
    count(9u, false, 4u);
    return diag[k];
}


// Sum k of trial b, the term of neuron i. The positions SUM_* and ENERGY_*
// come from `SumLayout` (the generated header).
fn term(k: u32, b: u32, i: u32) -> f32 {
    let xi = ld_x(b * P.n + i);
    let v = operand_at(i, xi); // the rate: x, or F(x) for current dynamics
    if (k == SUM_RATES) {
        return v;
    }
    // After the table rows: the energy block (ENERGY_SUMS sums), then sum
    // v^2 when SumLayout has it, which the count of sums past the table
    // tells (1: squares only; ENERGY_SUMS + 1: both).
    let extra = P.metric_sums - SUM_TABLE - P.metric_rows;
    if (k == P.metric_sums - 1u && (extra == 1u || extra == ENERGY_SUMS + 1u)) {
        return v * v;
    }
    if (k < SUM_TABLE + P.metric_rows) {
        if (PACKED) {
            return packed_at(P.metric_row0 + k - SUM_TABLE, i) * v;
        }
        return ld_table((P.metric_row0 + k - SUM_TABLE) * P.n + i) * v;
    }
    let e = k - SUM_TABLE - P.metric_rows;
    if (e == ENERGY_SELF) {
        return ld_diag(i) * v * v;
    }
    if (e == ENERGY_INPUT) {
        return ld_trial(b).h_scale * input_at(i) * v;
    }
    if (e == ENERGY_INTEGRAL) {
        // v I - ln cosh(beta I) / beta, with ln cosh(z) = |z| + ln(1 + e^{-2|z|}) - ln 2.
        let beta = P.act_p0;
        let z = abs(beta * xi);
        return v * xi - (z + log(1.0 + exp(-2.0 * z)) - 0.6931471805599453) / beta;
    }
    // A sum SumLayout does not define.
    return bitcast<f32>(0x7fc00000u | (bitcast<u32>(v) & 0u));
}

// Dispatch (the groups × K workgroups folded over x and y within the grid
// limit, B): workgroup g of sum k.
@compute @workgroup_size(METRIC_WORKGROUP)
fn metric_partial(
    @builtin(workgroup_id) wid: vec3<u32>,
    @builtin(num_workgroups) groups: vec3<u32>,
    @builtin(local_invocation_index) lid: u32,
) {
    let at = wid.x + wid.y * groups.x;
    if (at >= P.n_groups * P.metric_sums) {
        return;
    }
    let g = at % P.n_groups;
    let k = at / P.n_groups;
    let b = wid.z;
    let start = g * METRIC_CHUNK;
    let end = min(start + METRIC_CHUNK, P.n);
    var s = 0.0;
    for (var i = start + lid; i < end; i += METRIC_WORKGROUP) {
        s += term(k, b, i);
    }
    store_partial(lid, s, (b * P.metric_sums + k) * P.n_groups + g);
}

// Dispatch (the K sums folded over x and y within the grid limit, B).
@compute @workgroup_size(METRIC_WORKGROUP)
fn metric_finish(
    @builtin(workgroup_id) wid: vec3<u32>,
    @builtin(num_workgroups) groups: vec3<u32>,
    @builtin(local_invocation_index) lid: u32,
) {
    let k = wid.x + wid.y * groups.x;
    let b = wid.z;
    if (k >= P.metric_sums) {
        return;
    }
    let total = total_of_partials(lid, (b * P.metric_sums + k) * P.n_groups);
    if (lid == 0u) {
        count(14u, true, 4u);
        sums[b * P.metric_sums + k] = total;
    }
}
