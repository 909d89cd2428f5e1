// Residual add and logit soft-cap. Twins: add_ref, softcap_ref (kernels/ref/elementwise.cpp).
#include "cuda/cuda-kernels.h"
#include "cuda/device-common.cuh"

namespace kvmix::cuda {

namespace {

__global__ void add_kernel(float* y, const float* x, int64_t n) {
    const int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
    if (i < n) y[i] = __fadd_rn(y[i], x[i]);
}

__global__ void softcap_kernel(float* x, int64_t n, float c) {
    const int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
    if (i < n) x[i] = __fmul_rn(c, tanhf(__fdiv_rn(x[i], c)));
}

}  // namespace

const char* add(float* y, const float* x, int64_t n, cudaStream_t stream) {
    if (n <= 0) return nullptr;
    add_kernel<<<grid_1d(n, 256), 256, 0, stream>>>(y, x, n);
    return nullptr;
}

const char* softcap(float* x, int64_t n, float c, cudaStream_t stream) {
    if (!(c > 0.0f)) return "softcap: the cap must be positive";
    if (n <= 0) return nullptr;
    softcap_kernel<<<grid_1d(n, 256), 256, 0, stream>>>(x, n, c);
    return nullptr;
}

}  // namespace kvmix::cuda
