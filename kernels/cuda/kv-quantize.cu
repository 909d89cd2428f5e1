// Quantize-and-append: the oldest fp16 ring tokens become packed key groups (per channel over
// G tokens) or value rows (per token over G channels), written in place into the side's
// preallocated packed storage. One thread per record; a warp's threads take neighbouring
// channels (keys) or channel groups (values), so the fp16 reads are coalesced.
// Twins: quantize_key_group_ref / quantize_value_row_ref (bit-identical, kv-quant-device.cuh).
#include "cuda/cuda-kernels.h"
#include "cuda/kv-quant-device.cuh"

namespace kvmix::cuda {

namespace {

template <int B>
__global__ void kv_quantize_keys_kernel(KvQuantizeParams p, int64_t total) {
    const int64_t idx = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
    if (idx >= total) return;
    const int64_t c = idx % p.dim;
    const int64_t h = (idx / p.dim) % p.n_head_kv;
    const int64_t u = idx / (p.dim * p.n_head_kv);
    const int G = p.group_size;
    // The group's G slots may wrap around the ring: gather them (strided by dim) first.
    uint16_t x[128];
    const uint16_t* ring = p.ring + static_cast<size_t>(h) * p.ring_head_stride;
    for (int i = 0; i < G; ++i) {
        const int64_t slot = (p.first_slot + u * G + i) % p.ring_cap;
        x[i] = ring[static_cast<size_t>(slot * p.dim + c)];
    }
    uint8_t* rec = p.dst + static_cast<size_t>(h) * p.dst_head_stride + static_cast<size_t>(p.first_unit + u) * p.unit_bytes +
                   static_cast<size_t>(c) * kvq::key_record_bytes(B, G);
    quantize_record<B>(x, 1, G, rec);
}

template <int B>
__global__ void kv_quantize_values_kernel(KvQuantizeParams p, int64_t total) {
    const int64_t idx = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
    if (idx >= total) return;
    const int G = p.group_size;
    const int64_t n_groups = p.dim / G;
    const int64_t g = idx % n_groups;
    const int64_t h = (idx / n_groups) % p.n_head_kv;
    const int64_t u = idx / (n_groups * p.n_head_kv);
    const int64_t slot = (p.first_slot + u) % p.ring_cap;
    const uint16_t* x = p.ring + static_cast<size_t>(h) * p.ring_head_stride + static_cast<size_t>(slot * p.dim + g * G);
    uint8_t* rec = p.dst + static_cast<size_t>(h) * p.dst_head_stride + static_cast<size_t>(p.first_unit + u) * p.unit_bytes +
                   static_cast<size_t>(g) * kvq::value_record_bytes(B, G);
    quantize_record<B>(x, 1, G, rec);
}

template <int B>
void launch(const KvQuantizeParams& p, cudaStream_t stream) {
    constexpr int kBlock = 128;
    if (p.keys) {
        const int64_t total = p.n_units * p.n_head_kv * p.dim;
        kv_quantize_keys_kernel<B><<<grid_1d(total, kBlock), kBlock, 0, stream>>>(p, total);
    } else {
        const int64_t total = p.n_units * p.n_head_kv * (p.dim / p.group_size);
        kv_quantize_values_kernel<B><<<grid_1d(total, kBlock), kBlock, 0, stream>>>(p, total);
    }
}

}  // namespace

const char* kv_quantize(const KvQuantizeParams& p, cudaStream_t stream) {
    if (!kvq::valid_group(p.group_size)) return "kv_quantize: group size must be 32, 64 or 128";
    if (!p.keys && !kvq::value_row_supported(p.group_size, p.dim))
        return "kv_quantize: value head size must be a multiple of the group size";
    if (p.ring_cap <= 0) return "kv_quantize: the ring needs a capacity";
    if (p.n_units <= 0) return nullptr;
    switch (p.bits) {
        case 2: launch<2>(p, stream); return nullptr;
        case 3: launch<3>(p, stream); return nullptr;
        case 4: launch<4>(p, stream); return nullptr;
        case 8: launch<8>(p, stream); return nullptr;
        default: return "kv_quantize: bit width must be 2, 3, 4 or 8";
    }
}

}  // namespace kvmix::cuda
