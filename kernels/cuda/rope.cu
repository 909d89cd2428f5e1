// Rotary embedding in place, one thread per (token, head, pair); theta, cos/sin and the
// rotation in double like the twin rope_ref (both pairings, linear scaling, freq factors).
#include "cuda/cuda-kernels.h"
#include "cuda/device-common.cuh"

namespace kvmix::cuda {

namespace {

__global__ void rope_kernel(RopeParams p, int64_t n_pairs_total) {
    const int64_t idx = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
    if (idx >= n_pairs_total) return;
    const int64_t half = p.n_rot / 2;
    const int64_t i = idx % half;
    const int64_t h = (idx / half) % p.n_head;
    const int64_t t = p.token_begin + idx / (half * p.n_head);
    float* x = p.x + static_cast<size_t>(t) * p.token_stride + static_cast<size_t>(h) * p.head_stride;
    double theta = static_cast<double>(p.positions[t]) * static_cast<double>(p.freq_scale) *
                   pow(static_cast<double>(p.base), -2.0 * static_cast<double>(i) / static_cast<double>(p.n_rot));
    if (p.freq_factors) theta /= static_cast<double>(p.freq_factors[i]);
    double s, c;
    sincos(theta, &s, &c);
    const int64_t i0 = p.interleaved ? 2 * i : i;
    const int64_t i1 = p.interleaved ? 2 * i + 1 : i + half;
    const double a = x[i0], b = x[i1];
    x[i0] = static_cast<float>(a * c - b * s);
    x[i1] = static_cast<float>(a * s + b * c);
}

}  // namespace

const char* rope(const RopeParams& p, cudaStream_t stream) {
    if (p.n_rot < 0 || p.n_rot % 2 != 0 || p.n_rot > p.head_dim) return "rope: n_rot must be even and <= head_dim";
    const int64_t total = (p.token_end - p.token_begin) * p.n_head * (p.n_rot / 2);
    if (total <= 0) return nullptr;
    constexpr int kBlock = 256;
    rope_kernel<<<grid_1d(total, kBlock), kBlock, 0, stream>>>(p, total);
    return nullptr;
}

}  // namespace kvmix::cuda
