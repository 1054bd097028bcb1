// Bit-packed ±1 patterns (Hebbian weights with packed = true; the host
// sets PACKED): the words as src/model/patterns.rs stores them, word-major:
// the P words of units 32 j .. 32 j + 31 at j P + mu, unit 32 j + k at bit
// k, bit 1 for +1. Larger than one storage binding, the words are split
// by blocks of units over up to PACKED_BINDINGS bindings, PACKED_WORDS
// blocks of 32 units (each P words) in each but the last. Unset, the
// module reads the f32 tables and these bindings hold placeholders.
override PACKED: bool = false;
override PACKED_WORDS: u32 = 0xffffffffu;

@group(0) @binding(16) var<storage, read> table_bits: array<u32>;
@group(0) @binding(17) var<storage, read> table_bits1: array<u32>;
@group(0) @binding(18) var<storage, read> table_bits2: array<u32>;
@group(0) @binding(19) var<storage, read> table_bits3: array<u32>;
@group(0) @binding(22) var<storage, read> table_bits4: array<u32>;
@group(0) @binding(23) var<storage, read> table_bits5: array<u32>;
@group(0) @binding(24) var<storage, read> table_bits6: array<u32>;
@group(0) @binding(25) var<storage, read> table_bits7: array<u32>;

// Where neuron i's words are: the binding (x) and the offset (y) of its
// block's words, pattern r at y + r. Computed once per neuron, not per
// pattern.
fn packed_place(i: u32) -> vec2<u32> {
    let j = i / 32u;
    let c = j / PACKED_WORDS;
    return vec2<u32>(c, (j - c * PACKED_WORDS) * P.rank);
}

// Word k of binding c.
fn packed_word(c: u32, k: u32) -> u32 {
    var w: u32;
    // All the bit bindings count as binding 16.
    count(16u, false, 4u);
    switch c {
        case 0u: { w = table_bits[k]; }
        case 1u: { w = table_bits1[k]; }
        case 2u: { w = table_bits2[k]; }
        case 3u: { w = table_bits3[k]; }
        case 4u: { w = table_bits4[k]; }
        case 5u: { w = table_bits5[k]; }
        case 6u: { w = table_bits6[k]; }
        default: { w = table_bits7[k]; }
    }
    return w;
}

// Neuron i's ±1 in word w.
fn packed_sign(w: u32, i: u32) -> f32 {
    return select(-1.0, 1.0, ((w >> (i % 32u)) & 1u) == 1u);
}

// xi_i^r, ±1 (P.rank = P, the patterns).
fn packed_at(r: u32, i: u32) -> f32 {
    let place = packed_place(i);
    return packed_sign(packed_word(place.x, place.y + r), i);
}
