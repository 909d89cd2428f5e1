// KV rotation (common/kv-rotation.h) in place: one block per row, the row in shared memory,
// then log2(dim) butterfly stages of dim/2 pairs each. Twin: kv_rotate_rows_ref.
#include "common/kv-rotation.h"
#include "cuda/cuda-kernels.h"

namespace kvmix::cuda {

namespace {

__global__ void kv_rotate_kernel(float* x, int64_t dim, size_t stride, bool inverse, float norm) {
    extern __shared__ float row[];
    float* g = x + static_cast<size_t>(blockIdx.x) * stride;
    for (int64_t j = threadIdx.x; j < dim; j += blockDim.x) row[j] = inverse ? g[j] : kvrot::sign(j) * g[j];
    __syncthreads();
    for (int64_t len = 1; len < dim; len <<= 1) {
        for (int64_t t = threadIdx.x; t < dim / 2; t += blockDim.x) {
            const int64_t j = t / len * 2 * len + t % len;
            const float a = row[j], b = row[j + len];
            row[j] = a + b;
            row[j + len] = a - b;
        }
        __syncthreads();
    }
    for (int64_t j = threadIdx.x; j < dim; j += blockDim.x) g[j] = inverse ? row[j] * norm * kvrot::sign(j) : row[j] * norm;
}

}  // namespace

const char* kv_rotate(float* x, int64_t n_rows, int64_t dim, size_t stride, bool inverse, cudaStream_t stream) {
    if (!kvrot::supported_dim(dim)) return "kv_rotate: the head size must be a power of two up to 1024";
    if (stride < static_cast<size_t>(dim)) return "kv_rotate: row stride below the head size";
    if (n_rows <= 0) return nullptr;
    if (n_rows > INT32_MAX) return "kv_rotate: too many rows for one launch";
    const int threads = static_cast<int>(dim / 2 < 256 ? dim / 2 : 256);
    const float norm = static_cast<float>(1.0 / sqrt(static_cast<double>(dim)));
    kv_rotate_kernel<<<static_cast<unsigned>(n_rows), threads, static_cast<size_t>(dim) * sizeof(float), stream>>>(x, dim, stride, inverse, norm);
    return nullptr;
}

}  // namespace kvmix::cuda
