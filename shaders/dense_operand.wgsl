// The dense family's bindings, shared by the row kernels (dense.wgsl) and
// the batch kernel (dense_batch.wgsl): the operand of every trial (what M
// multiplies, rows padded to whole vec4s) read, the next one written, and
// M's rows (a row block) as vec4s.

@group(0) @binding(1) var<storage, read> operand_in: array<vec4<f32>>;
@group(0) @binding(2) var<storage, read_write> operand_out: array<f32>;
@group(0) @binding(7) var<storage, read> m: array<vec4<f32>>;

fn ld_operand(k: u32) -> vec4<f32> {
    count(1u, false, 16u);
    return operand_in[k];
}

fn st_operand(k: u32, v: f32) {
    count(2u, true, 4u);
    operand_out[k] = v;
}

fn ld_m(k: u32) -> vec4<f32> {
    count(7u, false, 16u);
    return m[k];
}
