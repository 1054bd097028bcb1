// Workgroup tree reductions shared by the projection pass (structured.wgsl)
// and the metric pass (metrics.wgsl): each workgroup of STRUCTURED_WORKGROUP
// (= METRIC_WORKGROUP) threads sums its chunk into one partial sum, then one
// workgroup per total sums the n_groups partials.

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
        st_partial(at, scratch[0]);
    }
}

// The total of partials[base .. base + n_groups] (every thread gets it):
// each thread sums a strided share, four independent loads in flight at a
// time (a ring of 10^8 neurons has 24,415 partials a projection), then the
// workgroup's tree.
fn total_of_partials(lid: u32, base: u32) -> f32 {
    let w = STRUCTURED_WORKGROUP;
    var s4 = vec4<f32>(0.0);
    var g = lid;
    while (g + 3u * w < P.n_groups) {
        let k = base + g;
        s4 += vec4<f32>(ld_partial(k), ld_partial(k + w), ld_partial(k + 2u * w), ld_partial(k + 3u * w));
        g += 4u * w;
    }
    while (g < P.n_groups) {
        s4.x += ld_partial(base + g);
        g += w;
    }
    scratch[lid] = (s4.x + s4.y) + (s4.z + s4.w);
    reduce_scratch(lid);
    return scratch[0];
}
