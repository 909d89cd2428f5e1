// Device twin of kv_quant_choose_meta / kv_quant_code (kernels/ref/kv-quantize.cpp): the
// same double arithmetic with explicit _rn intrinsics (no FMA contraction), so a record
// quantized on the device is byte-identical to the reference's.
#pragma once

#include "common/kv-quant-format.h"
#include "cuda/device-common.cuh"

namespace kvmix::cuda {

struct DevQuantMeta {
    uint16_t scale, min;
};

__device__ __forceinline__ uint16_t fp16_next_down(uint16_t h) {
    if ((h & 0x7C00u) == 0x7C00u) return h;
    if (h == 0x0000u) return 0x8001u;
    if (h & 0x8000u) return static_cast<uint16_t>(h + 1u);
    return static_cast<uint16_t>(h - 1u);
}
__device__ __forceinline__ uint16_t fp16_next_up(uint16_t h) {
    if ((h & 0x7C00u) == 0x7C00u) return h;
    if (h == 0x8000u) return 0x0001u;
    return static_cast<uint16_t>(h + 1u);
}

// x[i * stride], i < group, given as fp16 bits.
__device__ inline DevQuantMeta choose_meta(const uint16_t* x, size_t stride, int group, int bits) {
    float mn = fp16_to_fp32(x[0]), mx = mn;
    bool finite = true;
    for (int i = 0; i < group; ++i) {
        const float v = fp16_to_fp32(x[static_cast<size_t>(i) * stride]);
        finite &= isfinite(v);
        mn = v < mn ? v : mn;
        mx = v > mx ? v : mx;
    }
    if (!finite) return {0x7E00u, 0x7E00u};
    uint16_t min_h = fp32_to_fp16(mn);
    if (mx == mn) return {0, min_h};
    if (static_cast<double>(fp16_to_fp32(min_h)) > static_cast<double>(mn)) min_h = fp16_next_down(min_h);
    const double m = fp16_to_fp32(min_h);
    const double qmax = kvq::max_code(bits);
    uint16_t s_h = fp32_to_fp16(__double2float_rn(__ddiv_rn(__dsub_rn(static_cast<double>(mx), m), qmax)));
    if (__dadd_rn(m, __dmul_rn(qmax, static_cast<double>(fp16_to_fp32(s_h)))) < static_cast<double>(mx))
        s_h = fp16_next_up(s_h);
    return {s_h, min_h};
}

__device__ __forceinline__ uint32_t quant_code(float x, DevQuantMeta meta, int bits) {
    const float s = fp16_to_fp32(meta.scale), m = fp16_to_fp32(meta.min);
    if (!(s > 0.0f) || !isfinite(s)) return 0;
    const double qmax = kvq::max_code(bits);
    double v = rint(__ddiv_rn(__dsub_rn(static_cast<double>(x), static_cast<double>(m)), static_cast<double>(s)));
    if (!(v >= 0.0)) v = 0.0;
    if (v > qmax) v = qmax;
    return static_cast<uint32_t>(v);
}

// One record (meta + G codes) of x[i * stride] written to rec (byte-wise: records are only
// 2-byte aligned). B is the bit width.
template <int B>
__device__ inline void quantize_record(const uint16_t* x, size_t stride, int group, uint8_t* rec) {
    const DevQuantMeta meta = choose_meta(x, stride, group, B);
    rec[0] = static_cast<uint8_t>(meta.scale & 0xFFu);
    rec[1] = static_cast<uint8_t>(meta.scale >> 8);
    rec[2] = static_cast<uint8_t>(meta.min & 0xFFu);
    rec[3] = static_cast<uint8_t>(meta.min >> 8);
    uint8_t chunk[4 * B];
    for (int c = 0; c < group / kvq::kChunkCodes; ++c) {
        for (int j = 0; j < 4 * B; ++j) chunk[j] = 0;
        for (int i = 0; i < kvq::kChunkCodes; ++i) {
            const float v = fp16_to_fp32(x[static_cast<size_t>(c * kvq::kChunkCodes + i) * stride]);
            kvq::put_code(chunk, B, i, quant_code(v, meta, B));
        }
        uint8_t* dst = rec + kvq::kMetaBytes + static_cast<size_t>(c) * kvq::chunk_bytes(B);
        for (int j = 0; j < 4 * B; ++j) dst[j] = chunk[j];
    }
}

}  // namespace kvmix::cuda
