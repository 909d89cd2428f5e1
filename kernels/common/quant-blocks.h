// Byte layouts of the GGUF block-quantized weight types we compute with, one plain struct
// per block. Shared by host code and CUDA kernels: POD only, no padding, sizes
// static_asserted against the geometry table in tensor-types.h.
//
// fp16 fields are raw uint16_t bit patterns (see half.h). Every struct has alignment <= 2,
// so blocks packed back to back in a tensor stay addressable; multi-byte fields are
// little-endian on disk, so only the uint16_t fields depend on host byte order (the
// targets are little-endian) and 32-bit masks are spelled out as bytes.
//
// Element order inside a block (y = dequantized output, l = lane):
//   Q4_0/Q4_1: y[l] from the low nibble of qs[l], y[l+16] from its high nibble (l < 16).
//   Q5_0/Q5_1: as Q4, plus bit i of the little-endian 32-bit qh is bit 4 of y[i].
//   Q8_0:      y[l] = d * qs[l].
//   Q4_K/Q5_K: 8 sub-blocks of 32; sub-block k has a 6-bit scale and min (see
//              unpack_k_scale_min). Bytes qs[32j..32j+31] hold sub-block 2j in the low
//              nibbles and 2j+1 in the high nibbles; in Q5_K bit k of qh[l] is bit 4 of
//              element l of sub-block k. y = d*sc*q - dmin*m.
//   Q6_K:      two halves of 128; half h uses ql[64h..], qh[32h..], scales[8h..]. For
//              l < 32: y[l] = low nibble of ql[l], y[l+32] = low nibble of ql[l+32],
//              y[l+64] = high nibble of ql[l], y[l+96] = high nibble of ql[l+32], with
//              bits 4-5 from qh[l] bit pairs 0-1, 2-3, 4-5, 6-7 respectively; q is
//              offset by -32 and element i of the block uses scales[i / 16].
#pragma once

#include <cstdint>

#include "common/half.h"
#include "common/tensor-types.h"

namespace kvmix {

inline constexpr int QK4_0 = 32;
inline constexpr int QK4_1 = 32;
inline constexpr int QK5_0 = 32;
inline constexpr int QK5_1 = 32;
inline constexpr int QK8_0 = 32;
inline constexpr int QK_K = 256;         // super-block size of the K-quants
inline constexpr int K_SCALE_SIZE = 12;  // packed 6-bit scales + mins of Q4_K / Q5_K

// y = d * (q - 8), q in [0, 15]
struct BlockQ4_0 {
    uint16_t d;
    uint8_t qs[QK4_0 / 2];
};

// y = d * q + m, q in [0, 15]
struct BlockQ4_1 {
    uint16_t d;
    uint16_t m;
    uint8_t qs[QK4_1 / 2];
};

// y = d * (q - 16), q in [0, 31]
struct BlockQ5_0 {
    uint16_t d;
    uint8_t qh[4];  // little-endian 32-bit mask of the fifth bits
    uint8_t qs[QK5_0 / 2];
};

// y = d * q + m, q in [0, 31]
struct BlockQ5_1 {
    uint16_t d;
    uint16_t m;
    uint8_t qh[4];
    uint8_t qs[QK5_1 / 2];
};

// y = d * q, q in [-128, 127]
struct BlockQ8_0 {
    uint16_t d;
    int8_t qs[QK8_0];
};

struct BlockQ4_K {
    uint16_t d;     // scale of the sub-block scales
    uint16_t dmin;  // scale of the sub-block mins
    uint8_t scales[K_SCALE_SIZE];
    uint8_t qs[QK_K / 2];
};

struct BlockQ5_K {
    uint16_t d;
    uint16_t dmin;
    uint8_t scales[K_SCALE_SIZE];
    uint8_t qh[QK_K / 8];
    uint8_t qs[QK_K / 2];
};

struct BlockQ6_K {
    uint8_t ql[QK_K / 2];    // low 4 bits
    uint8_t qh[QK_K / 4];    // high 2 bits
    int8_t scales[QK_K / 16];
    uint16_t d;              // last: the block is 210 bytes with no padding
};

static_assert(sizeof(BlockQ4_0) == tensor_type_traits(TensorType::q4_0).block_bytes);
static_assert(sizeof(BlockQ4_1) == tensor_type_traits(TensorType::q4_1).block_bytes);
static_assert(sizeof(BlockQ5_0) == tensor_type_traits(TensorType::q5_0).block_bytes);
static_assert(sizeof(BlockQ5_1) == tensor_type_traits(TensorType::q5_1).block_bytes);
static_assert(sizeof(BlockQ8_0) == tensor_type_traits(TensorType::q8_0).block_bytes);
static_assert(sizeof(BlockQ4_K) == tensor_type_traits(TensorType::q4_k).block_bytes);
static_assert(sizeof(BlockQ5_K) == tensor_type_traits(TensorType::q5_k).block_bytes);
static_assert(sizeof(BlockQ6_K) == tensor_type_traits(TensorType::q6_k).block_bytes);

static_assert(tensor_type_traits(TensorType::q4_0).block_elems == QK4_0);
static_assert(tensor_type_traits(TensorType::q4_1).block_elems == QK4_1);
static_assert(tensor_type_traits(TensorType::q5_0).block_elems == QK5_0);
static_assert(tensor_type_traits(TensorType::q5_1).block_elems == QK5_1);
static_assert(tensor_type_traits(TensorType::q8_0).block_elems == QK8_0);
static_assert(tensor_type_traits(TensorType::q4_k).block_elems == QK_K);
static_assert(tensor_type_traits(TensorType::q5_k).block_elems == QK_K);
static_assert(tensor_type_traits(TensorType::q6_k).block_elems == QK_K);

// 6-bit scale and min of sub-block j (0..7) of a Q4_K / Q5_K block. Bytes 0-3 hold the
// low 6 bits of the scales 0-3, bytes 4-7 the mins 0-3; for j >= 4 the low 4 bits come
// from a nibble of bytes 8-11 (scale low, min high) and the top 2 bits from the spare
// top bits of bytes j-4 (scale) and j (min).
struct KScaleMin {
    uint8_t scale;
    uint8_t min;
};

KVMIX_HOST_DEVICE constexpr KScaleMin unpack_k_scale_min(const uint8_t* q, int j) {
    if (j < 4) return {static_cast<uint8_t>(q[j] & 63), static_cast<uint8_t>(q[j + 4] & 63)};
    return {static_cast<uint8_t>((q[j + 4] & 0x0F) | ((q[j - 4] >> 6) << 4)),
            static_cast<uint8_t>((q[j + 4] >> 4) | ((q[j] >> 6) << 4))};
}

}  // namespace kvmix
