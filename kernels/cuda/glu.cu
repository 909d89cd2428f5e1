// Gated linear unit out = act(gate) * up, elementwise in double like the twin glu_ref.
#include "cuda/cuda-kernels.h"
#include "cuda/device-common.cuh"

namespace kvmix::cuda {

namespace {

__global__ void glu_kernel(GluParams p, int64_t total) {
    const int64_t idx = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
    if (idx >= total) return;
    const int64_t r = p.row_begin + idx / p.n, i = idx % p.n;
    const size_t at = static_cast<size_t>(r) * p.stride + static_cast<size_t>(i);
    const double g = p.gate[at], u = p.up[at];
    double a;
    if (p.act == GluActivation::silu) {
        a = g / (1.0 + exp(-g));
    } else {
        constexpr double kSqrt2OverPi = 0.7978845608028654;
        a = 0.5 * g * (1.0 + tanh(kSqrt2OverPi * (g + 0.044715 * g * g * g)));
    }
    p.out[at] = static_cast<float>(a * u);
}

}  // namespace

const char* glu(const GluParams& p, cudaStream_t stream) {
    const int64_t total = (p.row_end - p.row_begin) * p.n;
    if (total <= 0) return nullptr;
    constexpr int kBlock = 256;
    glu_kernel<<<grid_1d(total, kBlock), kBlock, 0, stream>>>(p, total);
    return nullptr;
}

}  // namespace kvmix::cuda
