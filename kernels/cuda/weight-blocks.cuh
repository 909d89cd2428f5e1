// Device dequantization of GGUF weight rows in units of 8 consecutive elements ("chunks"),
// the granularity at which the matmul and dequantize kernels spread a row over a warp.
// Every element is rounded exactly like dequantize_row_ref (explicit _rn intrinsics, so
// nvcc's FMA contraction cannot change a result): the dequantize kernel is bit-exact.
// Layouts: common/quant-blocks.h.
#pragma once

#include "common/quant-blocks.h"
#include "cuda/device-common.cuh"

namespace kvmix::cuda {

// Elements 8c .. 8c+7 of a row starting at `row` (raw bytes) into y[8].
template <TensorType T>
__device__ __forceinline__ void dequant_chunk(const uint8_t* row, int64_t c, float* y) {
    const int64_t e0 = 8 * c;
    if constexpr (T == TensorType::f32) {
        const float* r = reinterpret_cast<const float*>(row) + e0;
        const float4 a = *reinterpret_cast<const float4*>(r), b = *reinterpret_cast<const float4*>(r + 4);
        y[0] = a.x, y[1] = a.y, y[2] = a.z, y[3] = a.w, y[4] = b.x, y[5] = b.y, y[6] = b.z, y[7] = b.w;
    } else if constexpr (T == TensorType::f16 || T == TensorType::bf16) {
        const uint4 raw = *reinterpret_cast<const uint4*>(row + 2 * e0);
        const uint32_t w[4] = {raw.x, raw.y, raw.z, raw.w};
        for (int j = 0; j < 4; ++j) {
            const auto lo = static_cast<uint16_t>(w[j] & 0xFFFFu), hi = static_cast<uint16_t>(w[j] >> 16);
            y[2 * j] = T == TensorType::f16 ? fp16_to_fp32(lo) : bf16_to_fp32(lo);
            y[2 * j + 1] = T == TensorType::f16 ? fp16_to_fp32(hi) : bf16_to_fp32(hi);
        }
    } else if constexpr (T == TensorType::q8_0) {
        const uint8_t* b = row + (e0 / QK8_0) * sizeof(BlockQ8_0);
        const int o = static_cast<int>(e0 % QK8_0);
        const float d = load_f16(b);
        for (int j = 0; j < 8; ++j) y[j] = __fmul_rn(d, static_cast<float>(static_cast<int8_t>(b[2 + o + j])));
    } else if constexpr (T == TensorType::q4_0 || T == TensorType::q4_1 || T == TensorType::q5_0 ||
                         T == TensorType::q5_1) {
        constexpr bool kMin = T == TensorType::q4_1 || T == TensorType::q5_1;
        constexpr bool kHigh = T == TensorType::q5_0 || T == TensorType::q5_1;
        constexpr int kBytes = T == TensorType::q4_0 ? 18 : T == TensorType::q4_1 ? 20 : T == TensorType::q5_0 ? 22 : 24;
        const uint8_t* b = row + (e0 / 32) * kBytes;
        const int o = static_cast<int>(e0 % 32);
        const float d = load_f16(b);
        const float m = kMin ? load_f16(b + 2) : 0.0f;
        const uint8_t* qs = b + (kMin ? 4 : 2) + (kHigh ? 4 : 0);
        const uint32_t qh = kHigh ? load_u32(b + (kMin ? 4 : 2)) : 0u;
        for (int j = 0; j < 8; ++j) {
            const int l = o + j;
            int q = l < 16 ? (qs[l] & 0x0F) : (qs[l - 16] >> 4);
            if constexpr (kHigh) q |= static_cast<int>((qh >> l) & 1u) << 4;
            if constexpr (kMin) {
                y[j] = __fadd_rn(__fmul_rn(d, static_cast<float>(q)), m);
            } else {
                y[j] = __fmul_rn(d, static_cast<float>(q - (kHigh ? 16 : 8)));
            }
        }
    } else if constexpr (T == TensorType::q4_k || T == TensorType::q5_k) {
        constexpr bool kHigh = T == TensorType::q5_k;
        constexpr int kBytes = kHigh ? 176 : 144;
        const uint8_t* b = row + (e0 / QK_K) * kBytes;
        const int o = static_cast<int>(e0 % QK_K);
        const int k = o / 32;
        const float d = load_f16(b), dmin = load_f16(b + 2);
        const KScaleMin sm = unpack_k_scale_min(b + 4, k);
        const float scale = __fmul_rn(d, static_cast<float>(sm.scale));
        const float offset = __fmul_rn(dmin, static_cast<float>(sm.min));
        const uint8_t* qh = b + 4 + K_SCALE_SIZE;
        const uint8_t* qs = qh + (kHigh ? QK_K / 8 : 0) + 32 * (k / 2);
        const int shift = 4 * (k % 2);
        for (int j = 0; j < 8; ++j) {
            const int l = o % 32 + j;
            int q = (qs[l] >> shift) & 0x0F;
            if constexpr (kHigh) q |= ((qh[l] >> k) & 1) << 4;
            y[j] = __fsub_rn(__fmul_rn(scale, static_cast<float>(q)), offset);
        }
    } else if constexpr (T == TensorType::q6_k) {
        const uint8_t* b = row + (e0 / QK_K) * sizeof(BlockQ6_K);
        const int o = static_cast<int>(e0 % QK_K);
        const int half = o / 128, idx0 = o % 128, r = idx0 / 32;
        const uint8_t* ql = b + 64 * half + (r & 1) * 32;
        const uint8_t* qh = b + QK_K / 2 + 32 * half;
        const auto* sc = reinterpret_cast<const int8_t*>(b + QK_K / 2 + QK_K / 4) + 8 * half;
        const float d = load_f16(b + QK_K / 2 + QK_K / 4 + QK_K / 16);
        const float scale = __fmul_rn(d, static_cast<float>(sc[idx0 / 16]));
        for (int j = 0; j < 8; ++j) {
            const int l = idx0 % 32 + j;
            const int q = ((r < 2 ? ql[l] & 0x0F : ql[l] >> 4)) | ((qh[l] >> (2 * r)) & 3) << 4;
            y[j] = __fmul_rn(scale, static_cast<float>(q - 32));
        }
    }
}

// Calls f.template operator()<T>() for a supported runtime type; returns false otherwise.
template <class F>
__host__ bool dispatch_weight_type(TensorType t, F&& f) {
    switch (t) {
        case TensorType::f32: f.template operator()<TensorType::f32>(); return true;
        case TensorType::f16: f.template operator()<TensorType::f16>(); return true;
        case TensorType::bf16: f.template operator()<TensorType::bf16>(); return true;
        case TensorType::q4_0: f.template operator()<TensorType::q4_0>(); return true;
        case TensorType::q4_1: f.template operator()<TensorType::q4_1>(); return true;
        case TensorType::q5_0: f.template operator()<TensorType::q5_0>(); return true;
        case TensorType::q5_1: f.template operator()<TensorType::q5_1>(); return true;
        case TensorType::q8_0: f.template operator()<TensorType::q8_0>(); return true;
        case TensorType::q4_k: f.template operator()<TensorType::q4_k>(); return true;
        case TensorType::q5_k: f.template operator()<TensorType::q5_k>(); return true;
        case TensorType::q6_k: f.template operator()<TensorType::q6_k>(); return true;
        default: return false;
    }
}

}  // namespace kvmix::cuda
