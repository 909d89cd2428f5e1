// Small device helpers shared by the .cu files of kernels/cuda (device code only).
#pragma once

#include <cuda_runtime.h>

#include <cstdint>

#include "common/half.h"

namespace kvmix::cuda {

inline constexpr int kWarp = 32;

// Little-endian loads from byte addresses with no alignment requirement (GGUF blocks and
// KV records are only 1- or 2-byte aligned).
__device__ __forceinline__ uint16_t load_u16(const uint8_t* p) {
    return static_cast<uint16_t>(p[0] | (static_cast<uint32_t>(p[1]) << 8));
}
__device__ __forceinline__ uint32_t load_u32(const uint8_t* p) {
    return static_cast<uint32_t>(p[0]) | static_cast<uint32_t>(p[1]) << 8 | static_cast<uint32_t>(p[2]) << 16 |
           static_cast<uint32_t>(p[3]) << 24;
}
__device__ __forceinline__ float load_f16(const uint8_t* p) { return fp16_to_fp32(load_u16(p)); }

__device__ __forceinline__ float warp_sum(float v) {
    for (int o = kWarp / 2; o > 0; o /= 2) v += __shfl_xor_sync(0xFFFFFFFFu, v, o);
    return v;
}
__device__ __forceinline__ double warp_sum(double v) {
    for (int o = kWarp / 2; o > 0; o /= 2) v += __shfl_xor_sync(0xFFFFFFFFu, v, o);
    return v;
}
// max that propagates NaN (the kernels' NaN parity with the references).
__device__ __forceinline__ float nan_max(float a, float b) { return (a != a || b != b) ? NAN : fmaxf(a, b); }

// x̂ = code * s + min rounded exactly like kv_dequant_value (no FMA contraction).
__device__ __forceinline__ float kv_dequant(uint32_t code, float s, float mn) {
    return __fadd_rn(__fmul_rn(static_cast<float>(code), s), mn);
}

inline unsigned grid_1d(int64_t n, int block) { return static_cast<unsigned>((n + block - 1) / block); }

}  // namespace kvmix::cuda
