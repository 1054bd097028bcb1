// Shared by every step kernel: the per-dispatch parameters, the Philox4x32-10
// generator, the input epochs and the integration update. Each module starts
// with a header generated from Rust (src/sim/gpu/kernels.rs, `header`): the
// stage codes STAGE_*, the activation codes ACT_* with `activation(v)` itself,
// the metric-sum positions, the dynamics, moving-input and noise-stream codes,
// flags, array sizes and workgroup sizes. Keep in sync with `StepParams` in
// src/sim/gpu/kernels.rs (tests/shaders.rs compares their layouts) and with
// the CPU twins in src/model/method.rs (`Stage::update`, the twin of `finish`)
// and src/rng.rs (Philox).

struct StepParams {
    n: u32,          // neurons N
    n_pad: u32,      // N rounded up to a multiple of 4 (dense rows, vec4 loads)
    row0: u32,       // first row of this dense row block
    rows: u32,       // rows in this block
    stage: u32,      // STAGE_EULER, STAGE_EXPONENTIAL, STAGE_RK4_1 .. STAGE_RK4_4
    dynamics: u32,   // DYNAMICS_RATE or DYNAMICS_CURRENT
    act_kind: u32,   // ACT_LINEAR, ACT_RELU, ... (the generated header)
    act_p0: f32,     // tanh/sigmoid beta, clip min, step threshold
    act_p1: f32,     // sigmoid threshold, clip max
    a: f32,          // dt / tau
    decay: f32,      // exp(-dt / tau)
    sqrt_a: f32,     // sqrt(dt / tau), the noise's scale per unit sigma
    step: u32,       // step index (noise counter)
    batch: u32,      // B, trials stepped together
    epochs_on: u32,  // bit e set: input epoch e is on during this step
    n_epochs: u32,
    rank: u32,       // R, the number of projections of a structured operator
    flags: u32,      // FLAG_DIAG, FLAG_U_IS_V, FLAG_H_UNIFORM
    n_groups: u32,   // workgroups of the projection and metric passes
    metric_rows: u32, // table rows whose products with v are metric sums
    metric_row0: u32, // the first of them in the table
    metric_sums: u32, // K, the metric sums per trial (SumLayout)
    h_uniform: f32,  // h at every neuron this step, under FLAG_H_UNIFORM
    unit_row0: u32,  // 1: row 0 of the table is all ones (the ring's), never read
    rot_first: u32,  // first row of the pairs (cos, sin) a velocity turns
    rot_pairs: u32,  // turned pairs: rows rot_first + 2m, rot_first + 2m + 1
    n_moving: u32,   // moving ring profiles on at this step
    side: u32,       // neurons per side of a torus (x from the column, y from the row); 0: a ring
    kappa: vec4<f32>, // tau k v of turned pair m (MAX_TURNED = 4 pairs)
    // Moving input m < MAX_MOVING: moving[2m] = (mode, a, b, 0): h = a + b g
    // (MOVING_BUMP) or a exp(b (g - 1)) (MOVING_VON_MISES), g = cos(theta_i -
    // theta0(t)), with moving[2m + 1] = (cos theta0(t), sin theta0(t), 0, 0);
    // or (MOVING_FRAME, row, 0, 0): the row of a played file in h_epochs.
    moving: array<vec4<f32>, MOVING_VEC4S>,
}

// One trial of a batch. Keep in sync with `TrialParams` in kernels.rs.
struct TrialParams {
    seed_lo: u32,
    seed_hi: u32,
    trial: u32,      // trial word of the noise counter
    m_scale: f32,    // M is multiplied by this
    h_scale: f32,    // the input is multiplied by this
    noise: f32,      // sigma of this trial; 0 for none
    _pad1: u32,
    _pad2: u32,
}

// One population of a network of several (FLAG_SEGMENTS): neurons from the
// previous segment's end to `end`, stepped with these constants in place of
// StepParams's. Keep in sync with `Segment` in src/sim/gpu/layout.rs.
struct Segment {
    end: u32,
    dynamics: u32,   // DYNAMICS_RATE or DYNAMICS_CURRENT
    act_kind: u32,
    act_p0: f32,
    act_p1: f32,
    a: f32,          // dt / tau of its neurons
    decay: f32,      // exp(-dt / tau)
    sqrt_a: f32,     // sqrt(dt / tau)
    noise: f32,      // its own sigma, or negative: the trial's
}

@group(0) @binding(0) var<uniform> P: StepParams;
// State of trial b, neuron i at b * N + i (x; the rk4 stage point y and
// accumulator acc, one unused float for one-stage methods). The operand,
// what M multiplies this stage, is the stage point (rate) or F of it
// (current): `finish` returns the next one, and each family keeps it (the
// dense family in its operand buffers, the structured family as the
// partial sums of its projections).
@group(0) @binding(3) var<storage, read_write> x: array<f32>;
@group(0) @binding(4) var<storage, read_write> y: array<f32>;
@group(0) @binding(5) var<storage, read_write> acc: array<f32>;
@group(0) @binding(6) var<storage, read> h_epochs: array<f32>;
// Per trial: 1 + the first step whose result is not finite (0xffffffff while
// all are); 0 if a dispatch carried a stage code this module does not know.
@group(0) @binding(12) var<storage, read_write> first_bad: array<atomic<u32>>;
@group(0) @binding(13) var<storage, read> trials: array<TrialParams>;
// The populations, in the order of their neurons (read under FLAG_SEGMENTS).
@group(0) @binding(31) var<storage, read> segments: array<Segment>;

// The counting build: every load and store of a storage binding below goes
// through a helper (ld_*, st_*) which, with the override COUNTING set,
// adds the bytes it moves to its binding's counter: counter 2 b the bytes
// read from binding b, counter 2 b + 1 those written, each a 64-bit count
// in two words (low, high: a carry when the low word wraps). Unset, the
// helpers are plain loads and stores (the branch is a constant false).
// The counters are COUNTED_SLOTS per kernel, from KERNEL × COUNTED_SLOTS:
// KERNEL is the code of the pipeline's entry point, set with COUNTING.
override COUNTING: bool = false;
override KERNEL: u32 = 0u;
@group(0) @binding(26) var<storage, read_write> counted: array<atomic<u32>>;

fn count(binding: u32, write: bool, bytes: u32) {
    if (COUNTING) {
        let slot = KERNEL * COUNTED_SLOTS + 2u * binding + select(0u, 1u, write);
        let old = atomicAdd(&counted[2u * slot], bytes);
        if (old + bytes < old) {
            atomicAdd(&counted[2u * slot + 1u], 1u);
        }
    }
}

fn ld_x(s: u32) -> f32 {
    count(3u, false, 4u);
    return x[s];
}

fn st_x(s: u32, v: f32) {
    count(3u, true, 4u);
    x[s] = v;
}

fn ld_y(s: u32) -> f32 {
    count(4u, false, 4u);
    return y[s];
}

fn st_y(s: u32, v: f32) {
    count(4u, true, 4u);
    y[s] = v;
}

fn ld_acc(s: u32) -> f32 {
    count(5u, false, 4u);
    return acc[s];
}

fn st_acc(s: u32, v: f32) {
    count(5u, true, 4u);
    acc[s] = v;
}

fn ld_h(s: u32) -> f32 {
    count(6u, false, 4u);
    return h_epochs[s];
}

fn mark_bad(b: u32, step: u32) {
    count(12u, true, 4u);
    atomicMin(&first_bad[b], step);
}

fn ld_trial(b: u32) -> TrialParams {
    count(13u, false, TRIAL_PARAMS_BYTES);
    return trials[b];
}

// What the operator multiplies, from a state value.
fn operand(v: f32) -> f32 {
    if (P.dynamics == DYNAMICS_CURRENT) {
        return activation(v);
    }
    return v;
}

fn ld_segment(k: u32) -> Segment {
    count(31u, false, SEGMENT_BYTES);
    return segments[k];
}

// The segment of neuron i: the first whose end is past i, by a search of
// ceil(log2 S) steps whatever i is (src/sim/gpu/launch.rs,
// `segment_reads`, counts its reads): the answer lies in base .. base +
// len - 1, and each step keeps the half that holds it.
fn segment_of(i: u32) -> Segment {
    var base = 0u;
    var len = arrayLength(&segments);
    while (len > 1u) {
        let half = len / 2u;
        if (ld_segment(base + half - 1u).end <= i) {
            base += half;
        }
        len -= half;
    }
    return ld_segment(base);
}

// `operand` at neuron i: with its population's dynamics and activation
// under FLAG_SEGMENTS.
fn operand_at(i: u32, v: f32) -> f32 {
    if ((P.flags & FLAG_SEGMENTS) != 0u) {
        let g = segment_of(i);
        if (g.dynamics == DYNAMICS_CURRENT) {
            return activation_with(g.act_kind, g.act_p0, g.act_p1, v);
        }
        return v;
    }
    return operand(v);
}

fn input_at(i: u32) -> f32 {
    // The same h at every neuron: one number, no vector read.
    if ((P.flags & FLAG_H_UNIFORM) != 0u) {
        return P.h_uniform;
    }
    var s = 0.0;
    for (var e = 0u; e < P.n_epochs; e++) {
        if (((P.epochs_on >> e) & 1u) == 1u) {
            s += ld_h(e * P.n + i);
        }
    }
    if (P.n_moving > 0u) {
        // The place's angles: theta_i on a ring, (x, y) of the column and
        // row on a torus, each -pi + 2 pi k / K = 2 pi ((2 k + K) mod 2K) / 2K.
        var k = i;
        var count = P.n;
        if (P.side > 0u) {
            k = i % P.side;
            count = P.side;
        }
        let u = f32((2u * k + count) % (2u * count)) / f32(2u * count);
        let ci = cos_2pi(u);
        let si = sin_2pi(u);
        var cy = 0.0;
        var sy = 0.0;
        if (P.side > 0u) {
            let r = i / P.side;
            let w = f32((2u * r + count) % (2u * count)) / f32(2u * count);
            cy = cos_2pi(w);
            sy = sin_2pi(w);
        }
        for (var m = 0u; m < P.n_moving; m++) {
            let p = P.moving[2u * m];
            let c = P.moving[2u * m + 1u];
            var g = ci * c.x + si * c.y;
            if (P.side > 0u) {
                g = 0.5 * (g + cy * c.z + sy * c.w);
            }
            if (p.x == MOVING_BUMP) {
                s += p.y + p.z * g;
            } else if (p.x == MOVING_VON_MISES) {
                s += p.y * exp(p.z * (g - 1.0));
            } else {
                // A played file's row p.y of the h buffer.
                s += ld_h(u32(p.y) * P.n + i);
            }
        }
    }
    return s;
}

// (hi, lo) of the 64-bit product a * b, from 16-bit halves.
fn mulhilo(a: u32, b: u32) -> vec2<u32> {
    let a_lo = a & 0xffffu;
    let a_hi = a >> 16u;
    let b_lo = b & 0xffffu;
    let b_hi = b >> 16u;
    let lo_lo = a_lo * b_lo;
    let hi_lo = a_hi * b_lo;
    let lo_hi = a_lo * b_hi;
    let cross = (lo_lo >> 16u) + (hi_lo & 0xffffu) + lo_hi;
    let hi = a_hi * b_hi + (hi_lo >> 16u) + (cross >> 16u);
    return vec2<u32>(hi, a * b);
}

fn philox4x32_10(counter: vec4<u32>, key: vec2<u32>) -> vec4<u32> {
    var c = counter;
    var k = key;
    for (var round = 0u; round < 10u; round++) {
        if (round > 0u) {
            k = k + vec2<u32>(0x9E3779B9u, 0xBB67AE85u);
        }
        let p0 = mulhilo(0xD2511F53u, c.x);
        let p1 = mulhilo(0xCD9E8D57u, c.z);
        c = vec4<u32>(p1.x ^ c.y ^ k.x, p1.y, p0.x ^ c.w ^ k.y, p0.y);
    }
    return c;
}

fn uniform01(bits: u32) -> f32 {
    return (f32(bits >> 8u) + 0.5) * (1.0 / 16777216.0);
}

// cos(2 pi u) for u in (0, 1), to ~1e-7 on every adapter: WGSL only
// promises 2^-11 for the built-in cos. Reduced to [0, pi/2], where the
// Taylor series to x^12 is exact to 7e-9.
fn cos_2pi(u: f32) -> f32 {
    let t = abs(u - 0.5);                 // cos(2 pi u) = -cos(2 pi t), t in [0, 1/2]
    let flip = t > 0.25;                  // cos(2 pi t) = -cos(2 pi (1/2 - t))
    let a = 6.283185307179586 * select(t, 0.5 - t, flip);
    let z = a * a;
    let c = 1.0 + z * (-0.5 + z * (1.0 / 24.0 + z * (-1.0 / 720.0 + z * (1.0 / 40320.0
        + z * (-1.0 / 3628800.0 + z * (1.0 / 479001600.0))))));
    return select(-c, c, flip);
}

// sin(2 pi u) for u in (0, 1), to ~1e-7 on every adapter, as cos_2pi:
// sin(2 pi u) = -sin(2 pi t) with t = u - 1/2 (exact in f32), reduced to
// [0, 1/4] by sin(2 pi a) = sin(2 pi (1/2 - a)), then the Taylor series to
// x^13 (exact to 7e-10 on [0, pi/2]).
fn sin_2pi(u: f32) -> f32 {
    let t = u - 0.5;
    let a0 = abs(t);
    let a = 6.283185307179586 * select(a0, 0.5 - a0, a0 > 0.25);
    let z = a * a;
    let s = a * (1.0 + z * (-1.0 / 6.0 + z * (1.0 / 120.0 + z * (-1.0 / 5040.0
        + z * (1.0 / 362880.0 + z * (-1.0 / 39916800.0 + z * (1.0 / 6227020800.0)))))));
    return select(s, -s, t > 0.0);
}

// Standard normal for neuron i of trial t at this step (Box-Muller; the noise stream).
fn normal_at(i: u32, t: TrialParams) -> f32 {
    let bits = philox4x32_10(vec4<u32>(i, P.step, t.trial, STREAM_NOISE), vec2<u32>(t.seed_lo, t.seed_hi));
    let u1 = uniform01(bits.x);
    let u2 = uniform01(bits.y);
    return sqrt(-2.0 * log(u1)) * cos_2pi(u2);
}

// The new state of a step: x only (the first rk4 stage starts from x).
fn keep_state(b: u32, i: u32, v: f32) {
    // Exponent bits all set: infinite or NaN.
    if ((bitcast<u32>(v) & 0x7f800000u) == 0x7f800000u) {
        mark_bad(b, P.step + 1u);
    }
    st_x(b * P.n + i, v);
}


// The stage point of state index s at this stage: x at the first (or only)
// stage of a step, y at the later rk4 stages.
fn stage_point(s: u32) -> f32 {
    if (P.stage == STAGE_RK4_2 || P.stage == STAGE_RK4_3 || P.stage == STAGE_RK4_4) {
        return ld_y(s);
    }
    return ld_x(s);
}

// The update of neuron i of trial b once the product (M operand)_i is
// known: the drive, then the stage (the twin of `Stage::update` in
// src/model/method.rs). Returns the operand of the next stage.
fn finish(i: u32, b: u32, product_unscaled: f32) -> f32 {
    let t = ld_trial(b);
    let product = t.m_scale * product_unscaled;
    let h = t.h_scale * input_at(i);
    // The network's constants, or those of neuron i's population.
    var dynamics = P.dynamics;
    var a = P.a;
    var decay = P.decay;
    var sigma = t.noise;
    var sqrt_a = P.sqrt_a;
    var act_kind = P.act_kind;
    var act_p0 = P.act_p0;
    var act_p1 = P.act_p1;
    if ((P.flags & FLAG_SEGMENTS) != 0u) {
        let g = segment_of(i);
        dynamics = g.dynamics;
        a = g.a;
        decay = g.decay;
        sqrt_a = g.sqrt_a;
        act_kind = g.act_kind;
        act_p0 = g.act_p0;
        act_p1 = g.act_p1;
        if (g.noise >= 0.0) {
            sigma = g.noise;
        }
    }
    var d: f32;
    if (dynamics == DYNAMICS_CURRENT) {
        d = h + product;
    } else {
        d = activation_with(act_kind, act_p0, act_p1, h + product);
    }
    let s = b * P.n + i;
    let xi = ld_x(s);
    var noise = 0.0;
    if (sigma > 0.0) {
        noise = sigma * sqrt_a * normal_at(i, t);
    }
    // The new state (or rk4 stage point) and the operand it gives.
    var next: f32;
    switch P.stage {
        case STAGE_EULER: {
            next = xi + a * (d - xi) + noise;
            keep_state(b, i, next);
        }
        case STAGE_EXPONENTIAL: {
            next = xi * decay + (1.0 - decay) * d + noise;
            keep_state(b, i, next);
        }
        // rk4: k_s = D(y_s) - y_s (y_1 = x); acc = k1 + 2 k2 + 2 k3;
        // x + a / 6 (acc + k4).
        case STAGE_RK4_1: {
            let k = d - xi;
            st_acc(s, k);
            next = xi + 0.5 * a * k;
            st_y(s, next);
        }
        case STAGE_RK4_2: {
            let k = d - ld_y(s);
            st_acc(s, ld_acc(s) + 2.0 * k);
            next = xi + 0.5 * a * k;
            st_y(s, next);
        }
        case STAGE_RK4_3: {
            let k = d - ld_y(s);
            st_acc(s, ld_acc(s) + 2.0 * k);
            next = xi + 1.0 * a * k;
            st_y(s, next);
        }
        case STAGE_RK4_4: {
            let k = d - ld_y(s);
            next = xi + a / 6.0 * (ld_acc(s) + k) + noise;
            keep_state(b, i, next);
        }
        default: {
            // A stage this module does not know: the host reports it.
            mark_bad(b, 0u);
            return 0.0;
        }
    }
    return operand_with(dynamics, act_kind, act_p0, act_p1, next);
}

// The operand of state value v for neurons of these dynamics and activation.
fn operand_with(dynamics: u32, act_kind: u32, act_p0: f32, act_p1: f32, v: f32) -> f32 {
    if (dynamics == DYNAMICS_CURRENT) {
        return activation_with(act_kind, act_p0, act_p1, v);
    }
    return v;
}

// e^y and tanh(x) as the CPU's f32 activations compute them (the twins of
// `exp_f32` and `tanh_f32` in src/real.rs): Vulkan bounds the built-ins'
// errors loosely (tanh's is inherited from an expression of exp's, an
// absolute rather than a relative error near 0), so the GPU evaluates the
// same formulas, measured within 2 ulp on the CPU.
fn exp_f32(y_in: f32) -> f32 {
    let y = clamp(y_in, -87.0, 88.0);
    let n = round(y * 1.442695);
    let r = (y - n * 0.6933594) - n * -2.1219444e-4;
    var p = 1.0 / 5040.0;
    p = p * r + 1.0 / 720.0;
    p = p * r + 1.0 / 120.0;
    p = p * r + 1.0 / 24.0;
    p = p * r + 1.0 / 6.0;
    p = p * r + 0.5;
    p = p * r + 1.0;
    p = p * r + 1.0;
    return p * bitcast<f32>(u32(i32(n) + 127) << 23u);
}

fn tanh_f32(x: f32) -> f32 {
    let a = min(abs(x), 9.1);
    let s = a * a;
    var p = -929569.0 / 638512875.0;
    p = p * s + 21844.0 / 6081075.0;
    p = p * s - 1382.0 / 155925.0;
    p = p * s + 62.0 / 2835.0;
    p = p * s - 17.0 / 315.0;
    p = p * s + 2.0 / 15.0;
    p = p * s - 1.0 / 3.0;
    let small = a + (a * s) * p;
    let large = 1.0 - 2.0 / (exp_f32(2.0 * a) + 1.0);
    let t = select(large, small, a < 0.55);
    return select(t, -t, x < 0.0);
}
