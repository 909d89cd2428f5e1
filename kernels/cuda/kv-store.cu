// Appends new tokens' keys or values to a device cache side as fp16 (sinks or the recent
// window ring), in place. Twin: fp32_to_fp16 per element (common/half.h), which is what the
// CPU caches store.
#include "cuda/cuda-kernels.h"
#include "cuda/device-common.cuh"

namespace kvmix::cuda {

namespace {

__global__ void kv_store_kernel(KvStoreParams p, int64_t total) {
    const int64_t idx = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
    if (idx >= total) return;
    const int64_t d = idx % p.dim;
    const int64_t h = (idx / p.dim) % p.n_head_kv;
    const int64_t t = idx / (p.dim * p.n_head_kv);
    const int64_t pos = p.first_pos + t;
    const uint16_t v = fp32_to_fp16(p.src[static_cast<size_t>(t) * p.src_stride + static_cast<size_t>(h * p.dim + d)]);
    if (pos < p.n_sinks) {
        p.sinks[static_cast<size_t>(h) * p.sinks_head_stride + static_cast<size_t>(pos * p.dim + d)] = v;
    } else {
        const int64_t slot = (pos - p.n_sinks) % p.ring_cap;
        p.ring[static_cast<size_t>(h) * p.ring_head_stride + static_cast<size_t>(slot * p.dim + d)] = v;
    }
}

}  // namespace

const char* kv_store(const KvStoreParams& p, cudaStream_t stream) {
    if (p.ring_cap <= 0) return "kv_store: the ring needs a capacity";
    const int64_t total = p.n * p.n_head_kv * p.dim;
    if (total <= 0) return nullptr;
    kv_store_kernel<<<grid_1d(total, 256), 256, 0, stream>>>(p, total);
    return nullptr;
}

}  // namespace kvmix::cuda
