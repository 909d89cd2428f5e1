// RMS norm, one block per row; the sum of squares and the scaling in double like the twin
// rms_norm_ref, so results agree to the last bit except for the summation order.
#include "cuda/cuda-kernels.h"
#include "cuda/device-common.cuh"

namespace kvmix::cuda {

namespace {

constexpr int kBlock = 256;

__global__ void __launch_bounds__(kBlock) rms_norm_kernel(RmsNormParams p) {
    const int64_t r = p.row_begin + blockIdx.x;
    const float* x = p.x + static_cast<size_t>(r) * p.x_stride;
    float* y = p.y + static_cast<size_t>(r) * p.y_stride;
    double ss = 0.0;
    for (int64_t i = threadIdx.x; i < p.n; i += kBlock) ss += static_cast<double>(x[i]) * x[i];
    __shared__ double partial[kBlock / kWarp];
    ss = warp_sum(ss);
    if (threadIdx.x % kWarp == 0) partial[threadIdx.x / kWarp] = ss;
    __syncthreads();
    double total = 0.0;
    for (int w = 0; w < kBlock / kWarp; ++w) total += partial[w];
    const double scale = 1.0 / sqrt(total / static_cast<double>(p.n) + static_cast<double>(p.eps));
    // Every thread has read its x before any y is written only within its own elements, and
    // y may alias x: each element is read and written by the same thread.
    for (int64_t i = threadIdx.x; i < p.n; i += kBlock) {
        double v = static_cast<double>(x[i]) * scale;
        if (p.w) v *= static_cast<double>(p.w[i]) + static_cast<double>(p.w_offset);
        y[i] = static_cast<float>(v);
    }
}

}  // namespace

const char* rms_norm(const RmsNormParams& p, cudaStream_t stream) {
    if (p.row_end <= p.row_begin || p.n <= 0) return nullptr;
    rms_norm_kernel<<<static_cast<unsigned>(p.row_end - p.row_begin), kBlock, 0, stream>>>(p);
    return nullptr;
}

}  // namespace kvmix::cuda
