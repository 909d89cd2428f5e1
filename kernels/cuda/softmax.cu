// In-place row softmax, one block per row; max, exp and sum in double like the twin
// softmax_ref (-inf entries give 0; a NaN anywhere makes the row NaN).
#include "cuda/cuda-kernels.h"
#include "cuda/device-common.cuh"

namespace kvmix::cuda {

namespace {

constexpr int kBlock = 256;

__global__ void __launch_bounds__(kBlock) softmax_kernel(SoftmaxParams p) {
    float* x = p.x + static_cast<size_t>(p.row_begin + blockIdx.x) * p.stride;
    __shared__ double red[kBlock];
    double mx = -INFINITY;
    bool nan = false;
    for (int64_t i = threadIdx.x; i < p.n; i += kBlock) {
        nan |= x[i] != x[i];
        mx = fmax(mx, static_cast<double>(x[i]));
    }
    nan = __syncthreads_or(nan);
    red[threadIdx.x] = mx;
    __syncthreads();
    for (int s = kBlock / 2; s > 0; s /= 2) {
        if (static_cast<int>(threadIdx.x) < s) red[threadIdx.x] = fmax(red[threadIdx.x], red[threadIdx.x + s]);
        __syncthreads();
    }
    mx = red[0];
    __syncthreads();
    double sum = 0.0;
    for (int64_t i = threadIdx.x; i < p.n; i += kBlock) sum += exp(static_cast<double>(x[i]) - mx);
    red[threadIdx.x] = sum;
    __syncthreads();
    for (int s = kBlock / 2; s > 0; s /= 2) {
        if (static_cast<int>(threadIdx.x) < s) red[threadIdx.x] += red[threadIdx.x + s];
        __syncthreads();
    }
    sum = red[0];
    for (int64_t i = threadIdx.x; i < p.n; i += kBlock)
        x[i] = nan ? NAN : static_cast<float>(exp(static_cast<double>(x[i]) - mx) / sum);
}

}  // namespace

const char* softmax(const SoftmaxParams& p, cudaStream_t stream) {
    if (p.row_end <= p.row_begin || p.n <= 0) return nullptr;
    softmax_kernel<<<static_cast<unsigned>(p.row_end - p.row_begin), kBlock, 0, stream>>>(p);
    return nullptr;
}

}  // namespace kvmix::cuda
