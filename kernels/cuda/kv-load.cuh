// Element loads from a device cache side (KvSideView, common/kv-device-params.h): the
// position -> storage mapping (fp16 sinks, packed codes, fp16 ring) and the in-register
// dequantization of packed codes, templated over the bit width B. Device code only.
#pragma once

#include "common/kv-device-params.h"
#include "cuda/device-common.cuh"

namespace kvmix::cuda {

// Code i (0 <= i < G) of a record: meta at rec[0..3], chunks after it.
template <int B>
__device__ __forceinline__ float record_value(const uint8_t* rec, int i) {
    const uint8_t* chunk = rec + kvq::kMetaBytes + static_cast<size_t>(i / kvq::kChunkCodes) * kvq::chunk_bytes(B);
    return kv_dequant(kvq::get_code(chunk, B, i % kvq::kChunkCodes), load_f16(rec), load_f16(rec + 2));
}

__device__ __forceinline__ bool in_packed(const KvSideView& s, int64_t pos) {
    return pos >= s.n_sinks && pos < s.n_sinks + s.n_quant;
}

__device__ __forceinline__ float load_fp16_elem(const KvSideView& s, int64_t hk, int64_t pos, int64_t d, int64_t dim) {
    if (pos < s.n_sinks) return fp16_to_fp32(s.sinks[static_cast<size_t>(hk) * s.sinks_head_stride + static_cast<size_t>(pos * dim + d)]);
    const int64_t slot = (pos - s.n_sinks) % s.ring_cap;
    return fp16_to_fp32(s.ring[static_cast<size_t>(hk) * s.ring_head_stride + static_cast<size_t>(slot * dim + d)]);
}

// Key channel d of the key at `pos` (kv head hk).
template <int B>
__device__ __forceinline__ float load_key(const KvSideView& s, int64_t hk, int64_t pos, int64_t d, int64_t dim) {
    if (!in_packed(s, pos)) return load_fp16_elem(s, hk, pos, d, dim);
    const int64_t i = pos - s.n_sinks;
    const uint8_t* grp = s.packed + static_cast<size_t>(hk) * s.packed_head_stride + static_cast<size_t>(i / s.group_size) * s.unit_bytes;
    return record_value<B>(grp + static_cast<size_t>(d) * kvq::key_record_bytes(B, s.group_size), static_cast<int>(i % s.group_size));
}

// Value channel d of the value at `pos` (kv head hk).
template <int B>
__device__ __forceinline__ float load_value(const KvSideView& s, int64_t hk, int64_t pos, int64_t d, int64_t dim) {
    if (!in_packed(s, pos)) return load_fp16_elem(s, hk, pos, d, dim);
    const int64_t i = pos - s.n_sinks;
    const uint8_t* row = s.packed + static_cast<size_t>(hk) * s.packed_head_stride + static_cast<size_t>(i) * s.unit_bytes;
    return record_value<B>(row + static_cast<size_t>(d / s.group_size) * kvq::value_record_bytes(B, s.group_size),
                           static_cast<int>(d % s.group_size));
}

}  // namespace kvmix::cuda

namespace kvmix::cuda {

// Code i (0 <= i < 32) of a chunk held as B little-endian 32-bit words (the layout of
// kv-quant-format.h: for B = 3 bytes 0-7 in words 0-1, the high-bit word is word 2).
template <int B>
__device__ __forceinline__ uint32_t chunk_code(const uint32_t* w, int i) {
    if constexpr (B == 3) {
        const uint32_t lo = (w[(i % 8) / 4] >> (8 * (i % 4) + 2 * (i / 8))) & 3u;
        return lo | (((w[2] >> i) & 1u) << 2);
    } else {
        const int byte = i % (4 * B);
        return (w[byte / 4] >> (8 * (byte % 4) + B * (i / (4 * B)))) & ((1u << B) - 1u);
    }
}

// Records, and therefore chunks, are 4-byte aligned inside 4-byte aligned storage
// (4 + G·B/8 bytes with G·B/8 a multiple of 4), so a chunk loads as B words.
template <int B>
__device__ __forceinline__ void load_chunk(const uint8_t* chunk, uint32_t* w) {
    const auto* p = reinterpret_cast<const uint32_t*>(chunk);
#pragma unroll
    for (int k = 0; k < B; ++k) w[k] = p[k];
}

// Start of the fp16 rows of positions [t0, t0 + nt) when they are contiguous in one place
// (all 16-bit, all sinks, or ring slots without wrap); nullptr otherwise.
__device__ __forceinline__ const uint16_t* fp16_rows(const KvSideView& s, int64_t hk, int64_t t0, int nt, int64_t dim) {
    const int64_t t1 = t0 + nt - 1;
    if (s.bits == kvq::kNotQuantized) return s.ring + static_cast<size_t>(hk) * s.ring_head_stride + static_cast<size_t>(t0 * dim);
    if (t1 < s.n_sinks) return s.sinks + static_cast<size_t>(hk) * s.sinks_head_stride + static_cast<size_t>(t0 * dim);
    if (t0 >= s.n_sinks + s.n_quant) {
        const int64_t slot = (t0 - s.n_sinks) % s.ring_cap;
        if (slot + nt <= s.ring_cap) return s.ring + static_cast<size_t>(hk) * s.ring_head_stride + static_cast<size_t>(slot * dim);
    }
    return nullptr;
}

}  // namespace kvmix::cuda
