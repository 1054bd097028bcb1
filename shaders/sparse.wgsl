// Sparse M in compressed rows (`sparse` weights), fused with the update as
// dense_step is. A workgroup of 256 threads takes either one heavy row
// (the first SPARSE_HEAVY workgroups: rows far longer than the mean, all
// 256 / SPARSE_GROUPS lanes on it) or 256 / (SPARSE_LANES SPARSE_GROUPS)
// light rows of SPARSE_LANES lanes each (1: a thread per row for short
// rows, up to a subgroup's width for long ones), in the order of the row
// list (heavy rows first). Each of its SPARSE_GROUPS trial groups takes a
// tile of up to DENSE_TILE trials, so a row's entries are read once per
// workgroup for SPARSE_GROUPS DENSE_TILE trials (the other groups' reads
// of them hit the cache): lane k sums entries k, k + lanes, ... of the row
// times the operand it gathers, the lanes' sums are added (`sparse_sums`:
// a tree in workgroup memory, shaders/dense_sums_tree.wgsl, or subgroup
// shuffles, shaders/dense_sums_subgroup.wgsl), and its lanes apply the
// update to the tile's trials. Dispatch
// (SPARSE_HEAVY + light workgroups folded over x and z, ceil(B /
// (SPARSE_GROUPS DENSE_TILE)), overflow). The host sets SPARSE_LANES,
// SPARSE_GROUPS and SPARSE_HEAVY from the row lengths and the batch
// (src/sim/gpu/operator.rs, `OperatorShape::of`; src/sim/gpu/shape.rs,
// `sparse_lanes`, `sparse_groups` and `OperatorShape::pipeline`).
//
// A network's structured projections are kept as factored terms coef u
// v^T (u over the target population's rows, v over the source's
// columns): `factor_project` (dispatch (T, B)) first sums each term's v .
// operand of each trial, times coef, into factor_proj[b T + t]; then
// sparse_step adds u_i factor_proj[b T + t] of every term whose rows hold
// row i to the row's sum before the update. P.rank is T (0: no terms).

override SPARSE_LANES: u32 = 1u;
override SPARSE_GROUPS: u32 = 1u;
override SPARSE_HEAVY: u32 = 0u;
// The adapter's subgroup width where `sparse_sums` uses subgroup shuffles
// (every subgroup of one size); 0 with the tree.
override SPARSE_SUBGROUP: u32 = 0u;

// Row i's entries are row_places[i] .. row_places[i + 1] - 1.
@group(0) @binding(27) var<storage, read> row_places: array<u32>;
@group(0) @binding(28) var<storage, read> columns: array<u32>;
@group(0) @binding(29) var<storage, read> values: array<f32>;
// The rows in the order the workgroups take them: heavy first.
@group(0) @binding(30) var<storage, read> row_list: array<u32>;

// One factored term. Keep in sync with `FactorTerm` in src/sim/gpu/layout.rs.
struct FactorTerm {
    row0: u32,    // first row (the target population's first neuron)
    rows: u32,
    col0: u32,    // first column (the source population's first neuron)
    cols: u32,
    u_at: u32,    // u's first number in factor_numbers
    v_at: u32,    // v's first number in factor_numbers
    coef: f32,
    pad: u32,
}
@group(0) @binding(32) var<storage, read> factor_terms: array<FactorTerm>;
// Every term's u then v.
@group(0) @binding(33) var<storage, read> factor_numbers: array<f32>;
// coef (v . operand of trial b) of term t at b T + t.
@group(0) @binding(34) var<storage, read_write> factor_proj: array<f32>;

fn ld_factor_term(t: u32) -> FactorTerm {
    count(32u, false, FACTOR_TERM_BYTES);
    return factor_terms[t];
}

fn ld_factor_rows(t: u32) -> vec2<u32> {
    count(32u, false, 8u);
    return vec2<u32>(factor_terms[t].row0, factor_terms[t].rows);
}

fn ld_factor_u_at(t: u32) -> u32 {
    count(32u, false, 4u);
    return factor_terms[t].u_at;
}

fn ld_factor_number(k: u32) -> f32 {
    count(33u, false, 4u);
    return factor_numbers[k];
}

fn ld_factor_proj(k: u32) -> f32 {
    count(34u, false, 4u);
    return factor_proj[k];
}

fn st_factor_proj(k: u32, v: f32) {
    count(34u, true, 4u);
    factor_proj[k] = v;
}

fn ld_row_place(k: u32) -> u32 {
    count(27u, false, 4u);
    return row_places[k];
}

fn ld_column(k: u32) -> u32 {
    count(28u, false, 4u);
    return columns[k];
}

fn ld_value(k: u32) -> f32 {
    count(29u, false, 4u);
    return values[k];
}

fn ld_row(k: u32) -> u32 {
    count(30u, false, 4u);
    return row_list[k];
}

// Operand j of trial t (a vec4 load of its column block, one component).
fn gathered(t: u32, j: u32) -> f32 {
    let v = ld_operand(t * (P.n_pad / 4u) + j / 4u);
    let c = j % 4u;
    return select(select(v.x, v.y, c == 1u), select(v.z, v.w, c == 3u), c >= 2u);
}

var<workgroup> sparse_partial: array<f32, SPARSE_THREADS * DENSE_TILE>;

// coef (v . operand) of term t of trial b, workgroup w = b T + t (folded
// over x and z): each thread sums every SPARSE_THREADS-th column, then a
// tree in workgroup memory.
@compute @workgroup_size(SPARSE_THREADS)
fn factor_project(
    @builtin(workgroup_id) wid: vec3<u32>,
    @builtin(num_workgroups) groups: vec3<u32>,
    @builtin(local_invocation_index) lid: u32,
) {
    let w = wid.x + wid.z * groups.x;
    // The same for the whole workgroup: no barrier is skipped by part of it.
    if (w >= P.rank * P.batch) {
        return;
    }
    let t = w % P.rank;
    let b = w / P.rank;
    let term = ld_factor_term(t);
    var s = 0.0;
    for (var j = lid; j < term.cols; j += SPARSE_THREADS) {
        s += ld_factor_number(term.v_at + j) * gathered(b, term.col0 + j);
    }
    sparse_partial[lid] = s;
    workgroupBarrier();
    for (var half = SPARSE_THREADS / 2u; half > 0u; half >>= 1u) {
        if (lid < half) {
            sparse_partial[lid] += sparse_partial[lid + half];
        }
        workgroupBarrier();
    }
    if (lid == 0u) {
        st_factor_proj(b * P.rank + t, term.coef * sparse_partial[0]);
    }
}

// sum over the terms whose rows hold `row` of u_row factor_proj[b T + t].
fn factor_sum(row: u32, b: u32) -> f32 {
    var s = 0.0;
    for (var t = 0u; t < P.rank; t++) {
        let rows = ld_factor_rows(t);
        if (row >= rows.x && row - rows.x < rows.y) {
            s += ld_factor_number(ld_factor_u_at(t) + row - rows.x) * ld_factor_proj(b * P.rank + t);
        }
    }
    return s;
}

@compute @workgroup_size(SPARSE_THREADS)
fn sparse_step(
    @builtin(workgroup_id) wid: vec3<u32>,
    @builtin(num_workgroups) groups: vec3<u32>,
    @builtin(local_invocation_index) lid: u32,
) {
    let w = wid.x + wid.z * groups.x;
    let heavy = w < SPARSE_HEAVY;
    // The same for the whole workgroup.
    let lanes = select(SPARSE_LANES, SPARSE_THREADS / SPARSE_GROUPS, heavy);
    let per_row = lanes * SPARSE_GROUPS;
    let slot = lid / per_row;
    let group = (lid / lanes) % SPARSE_GROUPS;
    let lane = lid % lanes;
    let q = select(SPARSE_HEAVY + (w - SPARSE_HEAVY) * (SPARSE_THREADS / per_row) + slot, w, heavy);
    // The row, when it exists and the group has a tile of trials.
    let row_live = q < P.n && group * DENSE_TILE < P.batch;
    var row = 0u;
    var start = 0u;
    var end = 0u;
    if (row_live) {
        row = ld_row(q);
        start = ld_row_place(row);
        end = ld_row_place(row + 1u);
    }
    // The batch in chunks of SPARSE_GROUPS tiles: each chunk reads the row
    // again right away (from cache), so the matrix leaves memory once a step.
    for (var base = 0u; base < P.batch; base += SPARSE_GROUPS * DENSE_TILE) {
        let t0 = base + group * DENSE_TILE;
        let live = row_live && t0 < P.batch;
        var nt = 0u;
        if (live) {
            nt = min(DENSE_TILE, P.batch - t0);
        }
        var s = array<f32, DENSE_TILE>();
        if (live) {
            for (var k = start + lane; k < end; k += lanes) {
                let v = ld_value(k);
                let j = ld_column(k);
                for (var tt = 0u; tt < nt; tt++) {
                    s[tt] += v * gathered(t0 + tt, j);
                }
            }
        }
        // Each (row, trial group)'s lanes are contiguous threads; every
        // lane gets their totals.
        let total = sparse_sums(lid, lane, lanes, s);
        for (var tt = lane; live && tt < nt; tt += lanes) {
            let t = t0 + tt;
            st_operand(t * P.n_pad + row, finish(row, t, total[tt] + factor_sum(row, t)));
        }
    }
}
