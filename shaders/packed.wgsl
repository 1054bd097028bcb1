// Bit-packed ±1 patterns (Hebbian weights with packed = true; the host
// sets PACKED): the words as src/model/patterns.rs stores them, word-major:
// the P words of units 32 j .. 32 j + 31 at j P + mu, unit 32 j + k at bit
// k, bit 1 for +1. Unset, the module reads the f32 tables and this binding
// holds a placeholder.
override PACKED: bool = false;

@group(0) @binding(16) var<storage, read> table_bits: array<u32>;

// xi_i^r, ±1 (P.rank = P, the patterns).
fn packed_at(r: u32, i: u32) -> f32 {
    let w = table_bits[(i / 32u) * P.rank + r];
    return select(-1.0, 1.0, ((w >> (i % 32u)) & 1u) == 1u);
}
