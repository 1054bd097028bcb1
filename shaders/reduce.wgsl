// Workgroup tree reductions shared by the projection pass (structured.wgsl)
// and the metric pass (metrics.wgsl): each workgroup of STRUCTURED_WORKGROUP
// (= METRIC_WORKGROUP) threads sums its chunk into one partial sum, then one
// workgroup per total sums the n_groups partials.

@group(0) @binding(10) var<storage, read_write> partials: array<f32>;

var<workgroup> scratch: array<f32, STRUCTURED_WORKGROUP>;

// Sums the workgroup's scratch into scratch[0].
fn reduce_scratch(lid: u32) {
    workgroupBarrier();
    for (var half = STRUCTURED_WORKGROUP / 2u; half > 0u; half = half / 2u) {
        if (lid < half) {
            scratch[lid] += scratch[lid + half];
        }
        workgroupBarrier();
    }
}

// Adds the threads' values `s` and stores the workgroup's sum at partials[at].
fn store_partial(lid: u32, s: f32, at: u32) {
    scratch[lid] = s;
    reduce_scratch(lid);
    if (lid == 0u) {
        count(10u, true, 4u);
        partials[at] = scratch[0];
    }
}

// The total of partials[base .. base + n_groups] (every thread gets it).
fn total_of_partials(lid: u32, base: u32) -> f32 {
    var s = 0.0;
    for (var g = lid; g < P.n_groups; g += STRUCTURED_WORKGROUP) {
        count(10u, false, 4u);
        s += partials[base + g];
    }
    scratch[lid] = s;
    reduce_scratch(lid);
    return scratch[0];
}
