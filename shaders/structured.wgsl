// Structured M = diag(d) + sum_r coef_r U_r V_r^T (ring: R = 3, Hebbian: P,
// low rank: R), O(N R) per step; packed Hebbian patterns are read from
// their bits (packed.wgsl). Each stage is two dispatches:
//
//   structured_step (groups, overflow, B): each thread takes
//     NEURONS_PER_THREAD neurons i of trial b (a workgroup PROJECT_CHUNK),
//     forms (M operand)_i = sum_r proj[b R + r] U_r[i] + d_i operand_i from
//     the finished projections, applies the update (`finish`), and the
//     workgroup sums V_r[i] o_i of the new operand o into one partial sum
//     per projection: a tree reduction of 4 projections at a time,
//     log2(STRUCTURED_WORKGROUP) + 2 barriers each;
//   project_finish (R, B): proj[b R + r] = coef[r] * the sum of the partials.
//
// so the update of step t and the projections step t + 1 needs are one
// pass over the state (the ring's 3, low rank up to 4). With R > 4
// (Hebbian, larger low rank) project_rest sums the projections 4 and up
// between the two, 4 per workgroup in parallel over the rows, reading the
// state the update wrote once more (3 dispatches). The prologue
// (project_partial, project_finish) computes the initial projections once
// per run. With R = 0 (a diagonal) a stage is structured_step alone. When U = V the first 4 rows read for
// the product are kept in registers for the projection; a table whose row
// 0 is all ones (the ring's uniform mode, unit_row0) never reads it.
// Partial sums of (b, r) at (b R + r) n_groups + g. The workgroup sum of 4
// projections (`store_partials4`, with the `Lanes` the entry points take)
// is a tree in workgroup memory (partials_tree.wgsl: log2(256) + 2 = 10
// barriers) or, where the adapter has subgroup operations, subgroupAdd
// then one add per subgroup (partials_subgroup.wgsl: 2 barriers); the
// reductions of the finish are in reduce.wgsl.

// V (R×N, row r contiguous).
@group(0) @binding(7) var<storage, read> table: array<f32>;
// U (R×N); V itself when U = V.
@group(0) @binding(15) var<storage, read> table_u: array<f32>;
// coef[r] * (V_r . operand of trial b) at b R + r.
@group(0) @binding(8) var<storage, read_write> proj: array<f32>;
@group(0) @binding(9) var<storage, read> diag: array<f32>;
@group(0) @binding(11) var<storage, read> coef: array<f32>;

fn ld_table(k: u32) -> f32 {
    count(7u, false, 4u);
    return table[k];
}

fn ld_table_u(k: u32) -> f32 {
    count(15u, false, 4u);
    return table_u[k];
}

fn ld_proj(k: u32) -> f32 {
    count(8u, false, 4u);
    return proj[k];
}

fn st_proj(k: u32, v: f32) {
    count(8u, true, 4u);
    proj[k] = v;
}

fn ld_diag(k: u32) -> f32 {
    count(9u, false, 4u);
    return diag[k];
}

fn ld_coef(k: u32) -> f32 {
    count(11u, false, 4u);
    return coef[k];
}

var<workgroup> partial4: array<vec4<f32>, STRUCTURED_WORKGROUP>;

// The unit vector e_k of 4 components (k < 4), or 0: places a value in a
// vec4 without indexing it by a runtime value (which can spill a vector
// from registers).
fn unit4(k: u32) -> vec4<f32> {
    return select(vec4<f32>(0.0), vec4<f32>(1.0), vec4<u32>(k) == vec4<u32>(0u, 1u, 2u, 3u));
}

// Component k (< 4) of v, without indexing v by a runtime value.
fn pick4(v: vec4<f32>, k: u32) -> f32 {
    return select(select(v.x, v.y, k == 1u), select(v.z, v.w, k == 3u), k >= 2u);
}

// v with component k (< 4) set to a (an infinite a stays infinite, as it
// would not through unit4(k) * a).
fn place4(v: vec4<f32>, k: u32, a: f32) -> vec4<f32> {
    return select(v, vec4<f32>(a), vec4<u32>(k) == vec4<u32>(0u, 1u, 2u, 3u));
}

fn v_at(r: u32, i: u32) -> f32 {
    if (r == 0u && P.unit_row0 == 1u) {
        return 1.0;
    }
    if (PACKED) {
        return packed_at(r, i);
    }
    return ld_table(r * P.n + i);
}

fn u_at(r: u32, i: u32) -> f32 {
    if (r == 0u && P.unit_row0 == 1u) {
        return 1.0;
    }
    if (PACKED) {
        return packed_at(r, i);
    }
    return ld_table_u(r * P.n + i);
}

// The projection r of trial b (pb = b R) that the expansion multiplies:
// a turned pair's (cos, sin) rows become (c - kappa s, s + kappa c), the
// velocity's sine kernel added (the twin of `Rotation::apply`).
fn proj_turned(pb: u32, r: u32) -> f32 {
    let p = ld_proj(pb + r);
    if (r < P.rot_first || r >= P.rot_first + 2u * P.rot_pairs) {
        return p;
    }
    let k = r - P.rot_first;
    let kappa = P.kappa[k / 2u];
    if ((k & 1u) == 0u) {
        return p - kappa * ld_proj(pb + r + 1u);
    }
    return p + kappa * ld_proj(pb + r - 1u);
}

// The point the previous dispatch (the update of stage P.stage) wrote, of
// state index s: x after a step's last stage, y after the others.
fn new_point(s: u32) -> f32 {
    if (P.stage == STAGE_RK4_1 || P.stage == STAGE_RK4_2 || P.stage == STAGE_RK4_3) {
        return ld_y(s);
    }
    return ld_x(s);
}

// Partial sums of the projections r0 .. r0 + 3 of the operand o = F(point)
// of trial b over workgroup g's neurons (the k-th of a thread at
// g PROJECT_CHUNK + k STRUCTURED_WORKGROUP + lid). `initial`: the point is
// x (the prologue), else the one the last update wrote.
fn project_block(lanes: Lanes, g: u32, b: u32, r0: u32, initial: bool) {
    let lid = lanes.lid;
    var s = vec4<f32>(0.0);
    for (var k = 0u; k < NEURONS_PER_THREAD; k++) {
        let i = g * PROJECT_CHUNK + k * STRUCTURED_WORKGROUP + lid;
        if (i < P.n) {
            var point: f32;
            if (initial) {
                point = ld_x(b * P.n + i);
            } else {
                point = new_point(b * P.n + i);
            }
            let o = operand(point);
            if (PACKED) {
                s += packed4_at(r0, i) * o;
            } else {
                for (var kk = 0u; kk < 4u && r0 + kk < P.rank; kk++) {
                    s += unit4(kk) * (v_at(r0 + kk, i) * o);
                }
            }
        }
    }
    store_partials4(lanes, g, b, r0, s);
}

// The patterns r0 .. r0 + 3 of neuron i (0 past R), packed: the neuron's
// place found once for the four, each word read once.
fn packed4_at(r0: u32, i: u32) -> vec4<f32> {
    let m = P.rank - r0;
    let place = packed_place(i);
    let k = place.y + r0;
    var v = vec4<f32>(packed_sign(packed_word(place.x, k), i), 0.0, 0.0, 0.0);
    if (m > 1u) {
        v.y = packed_sign(packed_word(place.x, k + 1u), i);
    }
    if (m > 2u) {
        v.z = packed_sign(packed_word(place.x, k + 2u), i);
    }
    if (m > 3u) {
        v.w = packed_sign(packed_word(place.x, k + 3u), i);
    }
    return v;
}

// V_0..3[i] o, the first block's terms of neuron i.
fn first_terms(i: u32, o: f32) -> vec4<f32> {
    if (PACKED) {
        return packed4_at(0u, i) * o;
    }
    var s = vec4<f32>(0.0);
    for (var kk = 0u; kk < 4u && kk < P.rank; kk++) {
        s += unit4(kk) * (v_at(kk, i) * o);
    }
    return s;
}

// The product of packed patterns with the projections, for the neurons
// set0 .. set0 + STRUCTURED_WORKGROUP - 1 of trial b (pb = b R): thread lid
// returns sum over r of proj[pb + r] (turned) xi_i^r of neuron i = set0 +
// lid, and its patterns 0 .. 3 in `first` (0 past R). Every thread calls it
// (barriers). PACKED_CHUNK patterns at a time, the workgroup stages the
// words of its 8 blocks of 32 neurons (each word read once, a vec4 of 4
// patterns per thread) and the 16 signed sums of each 4 turned projections
// (projection_sums[16 q + m] = sum over t < 4 of +-p_{4 q + t}, + where
// bit t of m is set; 0 past R); a neuron then adds one sum per 4 patterns,
// indexed by its 4 bits.
var<workgroup> staged_words: array<vec4<u32>, STRUCTURED_WORKGROUP / 32u * PACKED_CHUNK / 4u>;
var<workgroup> projection_sums: array<f32, 4u * PACKED_CHUNK>;

fn packed_product(pb: u32, set0: u32, lid: u32, first: ptr<function, vec4<f32>>) -> f32 {
    let quads = PACKED_CHUNK / 4u;
    let bit = lid % 32u;
    let mine = (lid / 32u) * quads;
    var product = 0.0;
    for (var c0 = 0u; c0 < P.rank; c0 += PACKED_CHUNK) {
        workgroupBarrier();
        // Thread lid stages the words of patterns c0 + 4 (lid % quads) ..
        // + 3 of block lid / quads: consecutive threads, consecutive words.
        {
            let unit0 = set0 + 32u * (lid / quads);
            let r = c0 + 4u * (lid % quads);
            var w = vec4<u32>(0u);
            if (unit0 < P.n && r < P.rank) {
                let place = packed_place(unit0);
                let k = place.y + r;
                w.x = packed_word(place.x, k);
                if (r + 1u < P.rank) {
                    w.y = packed_word(place.x, k + 1u);
                }
                if (r + 2u < P.rank) {
                    w.z = packed_word(place.x, k + 2u);
                }
                if (r + 3u < P.rank) {
                    w.w = packed_word(place.x, k + 3u);
                }
            }
            staged_words[lid] = w;
        }
        if (lid < quads) {
            let r = c0 + 4u * lid;
            var p = vec4<f32>(0.0);
            for (var t = 0u; t < 4u && r + t < P.rank; t++) {
                p = place4(p, t, proj_turned(pb, r + t));
            }
            let lo = vec4<f32>(-p.x - p.y, p.x - p.y, -p.x + p.y, p.x + p.y);
            let hi = vec4<f32>(-p.z - p.w, p.z - p.w, -p.z + p.w, p.z + p.w);
            for (var m = 0u; m < 16u; m++) {
                projection_sums[16u * lid + m] = pick4(lo, m & 3u) + pick4(hi, m >> 2u);
            }
        }
        workgroupBarrier();
        let used = (min(PACKED_CHUNK, P.rank - c0) + 3u) / 4u;
        for (var q = 0u; q < used; q++) {
            let w = staged_words[mine + q];
            let m = ((w.x >> bit) & 1u) | (((w.y >> bit) & 1u) << 1u)
                | (((w.z >> bit) & 1u) << 2u) | (((w.w >> bit) & 1u) << 3u);
            product += projection_sums[16u * q + m];
            if (c0 == 0u && q == 0u) {
                let signs = select(vec4<f32>(-1.0), vec4<f32>(1.0),
                    (vec4<u32>(m) & vec4<u32>(1u, 2u, 4u, 8u)) != vec4<u32>(0u));
                *first = select(vec4<f32>(0.0), signs, vec4<u32>(0u, 1u, 2u, 3u) < vec4<u32>(P.rank));
            }
        }
    }
    return product;
}

// The same without staging (FLAG_PACKED_STAGED unset, beside project_rest:
// the earlier kernels, which `bench --tune` times): neuron i reads its word
// of every pattern, and the projection of each.
fn packed_product_by_neuron(pb: u32, i: u32, first: ptr<function, vec4<f32>>) -> f32 {
    let place = packed_place(i);
    let head = min(P.rank, 4u);
    var product = 0.0;
    for (var r = 0u; r < head; r++) {
        let u = packed_sign(packed_word(place.x, place.y + r), i);
        *first += unit4(r) * u;
        product += proj_turned(pb, r) * u;
    }
    for (var r = head; r < P.rank; r++) {
        product += proj_turned(pb, r) * packed_sign(packed_word(place.x, place.y + r), i);
    }
    return product;
}

// Dispatch (the n_groups × blocks workgroups folded over x and y within
// the grid limit, B), blocks = ceil(R / 4) (the prologue: every projection
// of the initial operand) or ceil((R - 4) / 4) (project_rest: the
// projections 4 and up of the operand the update wrote): workgroup `at` is
// the neuron group at % n_groups of the row block at / n_groups (one past
// the last block returns at once).
fn block_and_group(wid: vec3<u32>, groups: vec3<u32>, first_row: u32) -> vec2<u32> {
    let at = wid.x + wid.y * groups.x;
    return vec2<u32>(first_row + 4u * (at / P.n_groups), at % P.n_groups);
}

// The prologue: partial sums of every projection of each trial's initial operand.
@compute @workgroup_size(STRUCTURED_WORKGROUP)
fn project_partial(
    @builtin(workgroup_id) wid: vec3<u32>,
    @builtin(num_workgroups) groups: vec3<u32>,
    lanes: Lanes,
) {
    let rg = block_and_group(wid, groups, 0u);
    if (rg.x >= P.rank) {
        return;
    }
    project_block(lanes, rg.y, wid.z, rg.x, true);
}

// After the update: partial sums of the projections 4 and up (Hebbian and
// low rank with R > 4), 4 per workgroup, in parallel over the rows.
@compute @workgroup_size(STRUCTURED_WORKGROUP)
fn project_rest(
    @builtin(workgroup_id) wid: vec3<u32>,
    @builtin(num_workgroups) groups: vec3<u32>,
    lanes: Lanes,
) {
    let rg = block_and_group(wid, groups, 4u);
    if (rg.x >= P.rank) {
        return;
    }
    project_block(lanes, rg.y, wid.z, rg.x, false);
}

// Dispatch (the R projections folded over x and y within the grid limit,
// B): proj[b R + r] = coef[r] * the sum of the partials of (b, r).
@compute @workgroup_size(STRUCTURED_WORKGROUP)
fn project_finish(
    @builtin(workgroup_id) wid: vec3<u32>,
    @builtin(num_workgroups) groups: vec3<u32>,
    @builtin(local_invocation_index) lid: u32,
) {
    let r = wid.x + wid.y * groups.x;
    let b = wid.z;
    if (r >= P.rank) {
        return;
    }
    let total = total_of_partials(lid, (b * P.rank + r) * P.n_groups);
    if (lid == 0u) {
        st_proj(b * P.rank + r, ld_coef(r) * total);
    }
}

// NEURONS_PER_THREAD neurons per thread of trial b (dispatch (groups,
// overflow, B)): the product from the projections, the update, and the
// partial sums of the next operand's projections 0 .. 3.
@compute @workgroup_size(STRUCTURED_WORKGROUP)
fn structured_step(
    @builtin(workgroup_id) wid: vec3<u32>,
    @builtin(num_workgroups) groups: vec3<u32>,
    lanes: Lanes,
) {
    let lid = lanes.lid;
    let g = wid.x + wid.y * groups.x;
    let b = wid.z;
    let pb = b * P.rank;
    var s = vec4<f32>(0.0);
    for (var k = 0u; k < NEURONS_PER_THREAD; k++) {
        let set0 = g * PROJECT_CHUNK + k * STRUCTURED_WORKGROUP;
        // The same for the whole workgroup (the packed product's barriers).
        if (set0 >= P.n) {
            break;
        }
        let i = set0 + lid;
        var product = 0.0;
        var first = vec4<f32>(0.0);
        let staged = PACKED && (P.flags & FLAG_PACKED_STAGED) != 0u;
        if (staged) {
            product = packed_product(pb, set0, lid, &first);
        }
        if (i < P.n) {
            if (PACKED && !staged) {
                product = packed_product_by_neuron(pb, i, &first);
            } else if (!PACKED) {
                for (var r = 0u; r < P.rank; r++) {
                    let u = u_at(r, i);
                    first += unit4(r) * u;
                    product += proj_turned(pb, r) * u;
                }
            }
            if ((P.flags & FLAG_DIAG) != 0u) {
                product += ld_diag(i) * operand(stage_point(b * P.n + i));
            }
            let o = finish(i, b, product);
            if ((P.flags & FLAG_U_IS_V) != 0u) {
                s += first * o;
            } else {
                s += first_terms(i, o);
            }
        }
    }
    if (P.rank > 0u) {
        store_partials4(lanes, g, b, 0u, s);
    }
}

// The packed patterns' projections 4 and up by pattern: thread lid of
// pattern group pg takes pattern 4 + pg STRUCTURED_WORKGROUP + lid over
// neuron group g (PROJECT_CHUNK neurons). PACKED_STAGE neurons at a time,
// thread t < PACKED_STAGE / 4 stages the 16 signed sums of the operands of
// neurons 4 t .. 4 t + 3 (from the point the update wrote; operand_sums[16
// t + m] = sum over u < 4 of +-o_{4 t + u}, + where bit u of m is set; 0
// past N). A pattern's words, consecutive patterns at consecutive
// addresses, are read coalesced, each once; each adds one sum per 4
// neurons, indexed by their 4 bits, and the total goes to partials[(b R +
// r) n_groups + g] without a workgroup reduction. Dispatch (n_groups ×
// pattern groups folded over x and y, B); excess workgroups return at once.
var<workgroup> operand_sums: array<f32, 4u * PACKED_STAGE>;

@compute @workgroup_size(STRUCTURED_WORKGROUP)
fn packed_project(
    @builtin(workgroup_id) wid: vec3<u32>,
    @builtin(num_workgroups) groups: vec3<u32>,
    @builtin(local_invocation_index) lid: u32,
) {
    let at = wid.x + wid.y * groups.x;
    let first = 4u + (at / P.n_groups) * STRUCTURED_WORKGROUP;
    let g = at % P.n_groups;
    let b = wid.z;
    if (first >= P.rank) {
        return;
    }
    let r = first + lid;
    let mine = r < P.rank;
    var s = 0.0;
    for (var sub = 0u; sub < PROJECT_CHUNK; sub += PACKED_STAGE) {
        let i0 = g * PROJECT_CHUNK + sub;
        if (i0 >= P.n) {
            break;
        }
        workgroupBarrier();
        if (lid < PACKED_STAGE / 4u) {
            var o = vec4<f32>(0.0);
            for (var u = 0u; u < 4u; u++) {
                let i = i0 + 4u * lid + u;
                if (i < P.n) {
                    o = place4(o, u, operand(new_point(b * P.n + i)));
                }
            }
            let lo = vec4<f32>(-o.x - o.y, o.x - o.y, -o.x + o.y, o.x + o.y);
            let hi = vec4<f32>(-o.z - o.w, o.z - o.w, -o.z + o.w, o.z + o.w);
            for (var m = 0u; m < 16u; m++) {
                operand_sums[16u * lid + m] = pick4(lo, m & 3u) + pick4(hi, m >> 2u);
            }
        }
        workgroupBarrier();
        if (mine) {
            // Whole words of this stage (the operands past N are 0).
            let words = (min(PACKED_STAGE, P.n - i0) + 31u) / 32u;
            for (var w = 0u; w < words; w++) {
                let place = packed_place(i0 + 32u * w);
                let word = packed_word(place.x, place.y + r);
                for (var c = 0u; c < 8u; c++) {
                    s += operand_sums[16u * (8u * w + c) + ((word >> (4u * c)) & 15u)];
                }
            }
        }
    }
    if (mine) {
        st_partial((b * P.rank + r) * P.n_groups + g, s);
    }
}
