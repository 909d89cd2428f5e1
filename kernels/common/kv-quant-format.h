// The quantized KV-cache format of KVmix (see ../shared/KVMIX.md), shared by the scalar
// references, the CPU SIMD kernels and (later) CUDA. Host + device compatible: plain
// integers and constexpr helpers only, fp16 travels as uint16_t bits (common/half.h).
//
// Quantization (asymmetric min/max affine, b bits, qmax = 2^b - 1):
//   s = (max - min) / qmax, q = clamp(round((x - min) / s), 0, qmax), x̂ = q·s + min
// with s and min stored as fp16. The stored fp16 values are chosen FIRST and the codes are
// computed with them, so dequantization is exactly what the quantizer assumed: min is
// rounded to fp16 and stepped down one fp16 ulp when rounding went up, s is computed from
// that min and stepped up one ulp when min + qmax·s would fall short of max. The stored grid
// therefore always covers [min, max] and every element's error is <= s/2 (plus fp32
// rounding of x̂). A constant group (max == min) stores s = 0, codes 0, min = fp16(min).
// Non-finite inputs poison their group's metadata (NaN/inf), never the codes' range.
//
// Widths b ∈ {2, 3, 4, 8}; 16 means "not quantized" (fp16 rows, see MixedAttentionParams).
// Group size G ∈ {32, 64, 128}.
//
// Codes are packed in CHUNKS of 32 consecutive codes; a chunk takes exactly 4·b bytes and a
// run of G codes is G/32 chunks back to back (G·b/8 bytes, no padding). Inside a chunk,
// code i (0 <= i < 32) is at:
//   b = 2, 4, 8: byte (i mod 4b), bits [b·(i div 4b), +b)
//       (b = 8: byte i; b = 4: byte i%16, low nibble for i < 16, high for i >= 16;
//        b = 2: byte i%8, bit pair i/8). Eight consecutive codes 8k..8k+7 are then eight
//        consecutive bytes shifted by one common amount: one 8-byte load, a zero-extend to
//        32-bit lanes, one shift and one mask unpack them (AVX2: vpmovzxbd, vpsrld, vpand).
//   b = 3: bytes 0..7 hold the low two bits of all 32 codes in the b = 2 layout above, and
//        bytes 8..11 one little-endian 32-bit word whose bit i is bit 2 of code i. Every
//        element has its own real 3-bit code (no clipping; 96 bits per 32 codes). Unpack =
//        the 2-bit unpack plus one variable shift of a broadcast byte.
//
// Keys: quantized PER CHANNEL over G consecutive tokens (post-RoPE), one (s, min) per
// (kv head, channel, token group). A KEY GROUP of one kv head (G tokens, head_dim channels):
//   for c in [0, head_dim): [fp16 s_c][fp16 min_c][G codes of channel c, token order]
//   = head_dim records of key_record_bytes(b, G) = 4 + G·b/8 bytes each.
// Values: quantized PER TOKEN over G consecutive channels, one (s, min) per (kv head, token,
// channel group). A VALUE ROW of one token of one kv head (head_dim_v % G == 0):
//   for g in [0, head_dim_v / G): [fp16 s_g][fp16 min_g][codes of channels gG .. gG+G-1]
//   = head_dim_v / G records of value_record_bytes(b, G) = 4 + G·b/8 bytes each.
// The cache falls back to fp16 for a layer whose head_dim_v is not a multiple of G (e.g. a
// head_dim 16 fixture with G = 32). All fp16/uint32 fields are little-endian and only 2-byte
// (records) resp. 1-byte (codes) aligned in general: read them with memcpy, not casts.
// Both layouts cost b + 32/G bits per element including metadata.
#pragma once

#include <cstddef>
#include <cstdint>

#include "common/half.h"

namespace kvmix::kvq {

inline constexpr int kChunkCodes = 32;   // codes per packed chunk
inline constexpr size_t kMetaBytes = 4;  // fp16 scale + fp16 min per record
inline constexpr int kNotQuantized = 16; // "bits" of an fp16 side

KVMIX_HOST_DEVICE constexpr bool valid_bits(int b) { return b == 2 || b == 3 || b == 4 || b == 8; }
KVMIX_HOST_DEVICE constexpr bool valid_group(int g) { return g == 32 || g == 64 || g == 128; }
KVMIX_HOST_DEVICE constexpr uint32_t max_code(int b) { return (1u << b) - 1u; }

// Bytes of one packed chunk of 32 codes and of a run of G codes.
KVMIX_HOST_DEVICE constexpr size_t chunk_bytes(int b) { return static_cast<size_t>(4 * b); }
KVMIX_HOST_DEVICE constexpr size_t codes_bytes(int b, int group) {
    return static_cast<size_t>(group / kChunkCodes) * chunk_bytes(b);
}
// One (scale, min, G codes) record: a key channel over a token group, or a value channel group.
KVMIX_HOST_DEVICE constexpr size_t record_bytes(int b, int group) { return kMetaBytes + codes_bytes(b, group); }
KVMIX_HOST_DEVICE constexpr size_t key_record_bytes(int b, int group) { return record_bytes(b, group); }
KVMIX_HOST_DEVICE constexpr size_t value_record_bytes(int b, int group) { return record_bytes(b, group); }
// A key group: G tokens x head_dim channels of one kv head.
KVMIX_HOST_DEVICE constexpr size_t key_group_bytes(int b, int group, int64_t head_dim) {
    return static_cast<size_t>(head_dim) * key_record_bytes(b, group);
}
// A value row: one token x head_dim_v channels of one kv head (head_dim_v % G == 0).
KVMIX_HOST_DEVICE constexpr size_t value_row_bytes(int b, int group, int64_t head_dim_v) {
    return static_cast<size_t>(head_dim_v / group) * value_record_bytes(b, group);
}
KVMIX_HOST_DEVICE constexpr bool value_row_supported(int group, int64_t head_dim_v) {
    return head_dim_v > 0 && head_dim_v % group == 0;
}

// Position of code i (0 <= i < 32) inside its chunk: byte offset and bit shift of the low
// bits (b = 3: of the low two bits; bit 2 is bit i of the word at byte 8).
KVMIX_HOST_DEVICE constexpr int code_byte(int b, int i) { return b == 3 ? i % 8 : i % (4 * b); }
KVMIX_HOST_DEVICE constexpr int code_shift(int b, int i) { return b == 3 ? 2 * (i / 8) : b * (i / (4 * b)); }

// Scalar unpack of code i of a chunk (the reference for every SIMD unpack).
KVMIX_HOST_DEVICE constexpr uint32_t get_code(const uint8_t* chunk, int b, int i) {
    if (b == 3) {
        const uint32_t lo = (static_cast<uint32_t>(chunk[code_byte(3, i)]) >> code_shift(3, i)) & 3u;
        const uint32_t hi = (static_cast<uint32_t>(chunk[8 + i / 8]) >> (i % 8)) & 1u;
        return lo | (hi << 2);
    }
    return (static_cast<uint32_t>(chunk[code_byte(b, i)]) >> code_shift(b, i)) & max_code(b);
}
// Stores code i of a chunk (the chunk must start zeroed: bits are OR-ed in).
KVMIX_HOST_DEVICE constexpr void put_code(uint8_t* chunk, int b, int i, uint32_t code) {
    if (b == 3) {
        chunk[code_byte(3, i)] = static_cast<uint8_t>(chunk[code_byte(3, i)] | ((code & 3u) << code_shift(3, i)));
        chunk[8 + i / 8] = static_cast<uint8_t>(chunk[8 + i / 8] | (((code >> 2) & 1u) << (i % 8)));
        return;
    }
    chunk[code_byte(b, i)] = static_cast<uint8_t>(chunk[code_byte(b, i)] | ((code & max_code(b)) << code_shift(b, i)));
}

// Exact sizes: G·b/8 code bytes per record, and b + 32/G bits per element with metadata.
static_assert(codes_bytes(2, 32) == 8 && codes_bytes(3, 32) == 12 && codes_bytes(4, 32) == 16 && codes_bytes(8, 32) == 32);
static_assert(codes_bytes(3, 64) == 64 * 3 / 8 && codes_bytes(3, 128) == 128 * 3 / 8);
static_assert(codes_bytes(2, 128) == 32 && codes_bytes(4, 64) == 32 && codes_bytes(8, 128) == 128);
static_assert(record_bytes(2, 32) == 12 && record_bytes(3, 32) == 16 && record_bytes(4, 32) == 20);
// Key group (G tokens x D channels): D records; value row (1 token x D channels): D/G records.
// Per element, both are (codes + meta) bits / elements = b + 32/G.
static_assert(key_group_bytes(3, 32, 128) * 8 == 32 * 128 * (3 + 32 / 32));
static_assert(key_group_bytes(2, 64, 128) * 8 * 2 == 64 * 128 * (2 * 2 + 1));          // 2.5 bits
static_assert(value_row_bytes(4, 128, 256) * 8 * 4 == 256 * (4 * 4 + 1));              // 4.25 bits
static_assert(value_row_bytes(3, 32, 128) * 8 == 128 * (3 + 1));
static_assert(value_row_bytes(8, 64, 128) * 8 * 2 == 128 * (8 * 2 + 1));
static_assert(code_byte(4, 17) == 1 && code_shift(4, 17) == 4 && code_byte(2, 31) == 7 && code_shift(2, 31) == 6);

}  // namespace kvmix::kvq
