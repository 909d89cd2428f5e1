#include "ref/dequantize.h"

#include <cstring>

#include "common/assert.h"
#include "common/half.h"
#include "common/quant-blocks.h"

namespace kvmix {
namespace {

// Checks the row contract and returns the number of blocks.
int64_t block_count(const void* src, const float* dst, int64_t n, int64_t block_elems) {
    KVMIX_ASSERT(n >= 0);
    KVMIX_ASSERT(n % block_elems == 0);
    KVMIX_ASSERT(n == 0 || (src != nullptr && dst != nullptr));
    return n / block_elems;
}

// Block i of a packed row, copied out so src needs no alignment.
template <class Block>
Block load_block(const void* src, int64_t i) {
    Block b;
    std::memcpy(&b, static_cast<const unsigned char*>(src) + i * static_cast<int64_t>(sizeof(Block)),
                sizeof(Block));
    return b;
}

uint32_t load_le32(const uint8_t* p) {
    return static_cast<uint32_t>(p[0]) | static_cast<uint32_t>(p[1]) << 8 |
           static_cast<uint32_t>(p[2]) << 16 | static_cast<uint32_t>(p[3]) << 24;
}

// Q4_K and Q5_K share everything but where bit 4 of q comes from.
template <class Block, bool kHasHighBit>
void dequantize_k_4_5(const void* src, float* dst, int64_t n) {
    const int64_t nb = block_count(src, dst, n, QK_K);
    for (int64_t i = 0; i < nb; ++i) {
        const Block b = load_block<Block>(src, i);
        const float d = fp16_to_fp32(b.d);
        const float dmin = fp16_to_fp32(b.dmin);
        float* y = dst + i * QK_K;
        for (int k = 0; k < 8; ++k) {
            const KScaleMin sm = unpack_k_scale_min(b.scales, k);
            const float scale = d * static_cast<float>(sm.scale);
            const float offset = dmin * static_cast<float>(sm.min);
            const uint8_t* qs = b.qs + 32 * (k / 2);
            const int shift = 4 * (k % 2);
            for (int l = 0; l < 32; ++l) {
                int q = (qs[l] >> shift) & 0x0F;
                if constexpr (kHasHighBit) q |= ((b.qh[l] >> k) & 1) << 4;
                const float scaled = scale * static_cast<float>(q);
                y[32 * k + l] = scaled - offset;
            }
        }
    }
}

}  // namespace

bool can_dequantize(TensorType type) {
    switch (type) {
        case TensorType::f32:
        case TensorType::f16:
        case TensorType::bf16:
        case TensorType::q4_0:
        case TensorType::q4_1:
        case TensorType::q5_0:
        case TensorType::q5_1:
        case TensorType::q8_0:
        case TensorType::q4_k:
        case TensorType::q5_k:
        case TensorType::q6_k:
            return true;
        default:
            return false;
    }
}

void dequantize_row_ref(TensorType type, const void* src, float* dst, int64_t n) {
    switch (type) {
        case TensorType::f32: return dequantize_row_f32_ref(src, dst, n);
        case TensorType::f16: return dequantize_row_f16_ref(src, dst, n);
        case TensorType::bf16: return dequantize_row_bf16_ref(src, dst, n);
        case TensorType::q4_0: return dequantize_row_q4_0_ref(src, dst, n);
        case TensorType::q4_1: return dequantize_row_q4_1_ref(src, dst, n);
        case TensorType::q5_0: return dequantize_row_q5_0_ref(src, dst, n);
        case TensorType::q5_1: return dequantize_row_q5_1_ref(src, dst, n);
        case TensorType::q8_0: return dequantize_row_q8_0_ref(src, dst, n);
        case TensorType::q4_k: return dequantize_row_q4_k_ref(src, dst, n);
        case TensorType::q5_k: return dequantize_row_q5_k_ref(src, dst, n);
        case TensorType::q6_k: return dequantize_row_q6_k_ref(src, dst, n);
        default: break;
    }
    KVMIX_ASSERT(can_dequantize(type));  // unreachable for supported types
}

void dequantize_row_f32_ref(const void* src, float* dst, int64_t n) {
    const int64_t count = block_count(src, dst, n, 1);
    if (count > 0) std::memcpy(dst, src, static_cast<size_t>(count) * sizeof(float));
}

void dequantize_row_f16_ref(const void* src, float* dst, int64_t n) {
    const int64_t count = block_count(src, dst, n, 1);
    for (int64_t i = 0; i < count; ++i) dst[i] = fp16_to_fp32(load_block<uint16_t>(src, i));
}

void dequantize_row_bf16_ref(const void* src, float* dst, int64_t n) {
    const int64_t count = block_count(src, dst, n, 1);
    for (int64_t i = 0; i < count; ++i) dst[i] = bf16_to_fp32(load_block<uint16_t>(src, i));
}

void dequantize_row_q4_0_ref(const void* src, float* dst, int64_t n) {
    const int64_t nb = block_count(src, dst, n, QK4_0);
    for (int64_t i = 0; i < nb; ++i) {
        const BlockQ4_0 b = load_block<BlockQ4_0>(src, i);
        const float d = fp16_to_fp32(b.d);
        float* y = dst + i * QK4_0;
        for (int l = 0; l < QK4_0 / 2; ++l) {
            y[l] = d * static_cast<float>((b.qs[l] & 0x0F) - 8);
            y[l + QK4_0 / 2] = d * static_cast<float>((b.qs[l] >> 4) - 8);
        }
    }
}

void dequantize_row_q4_1_ref(const void* src, float* dst, int64_t n) {
    const int64_t nb = block_count(src, dst, n, QK4_1);
    for (int64_t i = 0; i < nb; ++i) {
        const BlockQ4_1 b = load_block<BlockQ4_1>(src, i);
        const float d = fp16_to_fp32(b.d);
        const float m = fp16_to_fp32(b.m);
        float* y = dst + i * QK4_1;
        for (int l = 0; l < QK4_1 / 2; ++l) {
            const float lo = d * static_cast<float>(b.qs[l] & 0x0F);
            const float hi = d * static_cast<float>(b.qs[l] >> 4);
            y[l] = lo + m;
            y[l + QK4_1 / 2] = hi + m;
        }
    }
}

void dequantize_row_q5_0_ref(const void* src, float* dst, int64_t n) {
    const int64_t nb = block_count(src, dst, n, QK5_0);
    for (int64_t i = 0; i < nb; ++i) {
        const BlockQ5_0 b = load_block<BlockQ5_0>(src, i);
        const float d = fp16_to_fp32(b.d);
        const uint32_t qh = load_le32(b.qh);
        float* y = dst + i * QK5_0;
        for (int l = 0; l < QK5_0 / 2; ++l) {
            const int lo = (b.qs[l] & 0x0F) | static_cast<int>((qh >> l) & 1u) << 4;
            const int hi = (b.qs[l] >> 4) | static_cast<int>((qh >> (l + 16)) & 1u) << 4;
            y[l] = d * static_cast<float>(lo - 16);
            y[l + QK5_0 / 2] = d * static_cast<float>(hi - 16);
        }
    }
}

void dequantize_row_q5_1_ref(const void* src, float* dst, int64_t n) {
    const int64_t nb = block_count(src, dst, n, QK5_1);
    for (int64_t i = 0; i < nb; ++i) {
        const BlockQ5_1 b = load_block<BlockQ5_1>(src, i);
        const float d = fp16_to_fp32(b.d);
        const float m = fp16_to_fp32(b.m);
        const uint32_t qh = load_le32(b.qh);
        float* y = dst + i * QK5_1;
        for (int l = 0; l < QK5_1 / 2; ++l) {
            const int lo = (b.qs[l] & 0x0F) | static_cast<int>((qh >> l) & 1u) << 4;
            const int hi = (b.qs[l] >> 4) | static_cast<int>((qh >> (l + 16)) & 1u) << 4;
            const float lo_scaled = d * static_cast<float>(lo);
            const float hi_scaled = d * static_cast<float>(hi);
            y[l] = lo_scaled + m;
            y[l + QK5_1 / 2] = hi_scaled + m;
        }
    }
}

void dequantize_row_q8_0_ref(const void* src, float* dst, int64_t n) {
    const int64_t nb = block_count(src, dst, n, QK8_0);
    for (int64_t i = 0; i < nb; ++i) {
        const BlockQ8_0 b = load_block<BlockQ8_0>(src, i);
        const float d = fp16_to_fp32(b.d);
        float* y = dst + i * QK8_0;
        for (int l = 0; l < QK8_0; ++l) y[l] = d * static_cast<float>(b.qs[l]);
    }
}

void dequantize_row_q4_k_ref(const void* src, float* dst, int64_t n) {
    dequantize_k_4_5<BlockQ4_K, false>(src, dst, n);
}

void dequantize_row_q5_k_ref(const void* src, float* dst, int64_t n) {
    dequantize_k_4_5<BlockQ5_K, true>(src, dst, n);
}

void dequantize_row_q6_k_ref(const void* src, float* dst, int64_t n) {
    const int64_t nb = block_count(src, dst, n, QK_K);
    for (int64_t i = 0; i < nb; ++i) {
        const BlockQ6_K b = load_block<BlockQ6_K>(src, i);
        const float d = fp16_to_fp32(b.d);
        float* y = dst + i * QK_K;
        for (int half = 0; half < 2; ++half) {
            const uint8_t* ql = b.ql + 64 * half;
            const uint8_t* qh = b.qh + 32 * half;
            const int8_t* sc = b.scales + 8 * half;
            float* yh = y + 128 * half;
            for (int l = 0; l < 32; ++l) {
                // Four outputs per lane, 32 apart; see the layout note in quant-blocks.h.
                const int q[4] = {
                    (ql[l] & 0x0F) | ((qh[l] >> 0) & 3) << 4,
                    (ql[l + 32] & 0x0F) | ((qh[l] >> 2) & 3) << 4,
                    (ql[l] >> 4) | ((qh[l] >> 4) & 3) << 4,
                    (ql[l + 32] >> 4) | ((qh[l] >> 6) & 3) << 4,
                };
                for (int r = 0; r < 4; ++r) {
                    const int idx = l + 32 * r;  // index within the half
                    const float scale = d * static_cast<float>(sc[idx / 16]);
                    yh[idx] = scale * static_cast<float>(q[r] - 32);
                }
            }
        }
    }
}

}  // namespace kvmix
