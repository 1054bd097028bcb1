// Partial sums (binding 10): the projection and metric passes' workgroup
// sums (reduce.wgsl, partials_tree.wgsl, partials_subgroup.wgsl,
// structured.wgsl) and a split dense batch's span sums (dense_batch.wgsl).

@group(0) @binding(10) var<storage, read_write> partials: array<f32>;

fn st_partial(k: u32, v: f32) {
    count(10u, true, 4u);
    partials[k] = v;
}

fn ld_partial(k: u32) -> f32 {
    count(10u, false, 4u);
    return partials[k];
}
