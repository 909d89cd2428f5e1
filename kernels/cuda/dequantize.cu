// Row dequantization of GGUF weights (embedding lookup, dequantize-then-GEMM prefill).
// Twin: dequantize_row_ref (kernels/ref/dequantize.cpp); bit-exact (weight-blocks.cuh).
#include "cuda/cuda-kernels.h"
#include "cuda/weight-blocks.cuh"

namespace kvmix::cuda {

namespace {

// One thread per 8-element chunk; blockIdx.y = output row.
template <TensorType T>
__global__ void dequantize_rows_kernel(const uint8_t* w, size_t w_row_bytes, const int32_t* rows, int64_t k, float* dst,
                                       size_t dst_stride, float scale) {
    const int64_t c = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
    if (c >= k / 8) return;
    const int64_t r = blockIdx.y;
    const int64_t src_row = rows ? rows[r] : r;
    float y[8];
    dequant_chunk<T>(w + static_cast<size_t>(src_row) * w_row_bytes, c, y);
    float* out = dst + static_cast<size_t>(r) * dst_stride + 8 * c;
    // scale == 1 stores the dequantized bits untouched (a multiply would canonicalize NaNs).
    for (int j = 0; j < 8; ++j) out[j] = scale == 1.0f ? y[j] : __fmul_rn(y[j], scale);
}

}  // namespace

bool weight_type_supported(TensorType type) {
    switch (type) {
        case TensorType::f32: case TensorType::f16: case TensorType::bf16: case TensorType::q4_0:
        case TensorType::q4_1: case TensorType::q5_0: case TensorType::q5_1: case TensorType::q8_0:
        case TensorType::q4_k: case TensorType::q5_k: case TensorType::q6_k:
            return true;
        default:
            return false;
    }
}

const char* dequantize_rows(const DequantizeRowsParams& p, cudaStream_t stream) {
    if (p.k % 8 != 0) return "dequantize: row length must be a multiple of 8";
    if (p.n_rows <= 0 || p.k == 0) return nullptr;
    if (p.n_rows > 65535) return "dequantize: at most 65535 rows per call";
    constexpr int kBlock = 128;
    const dim3 grid(grid_1d(p.k / 8, kBlock), static_cast<unsigned>(p.n_rows));
    const bool ok = dispatch_weight_type(p.type, [&]<TensorType T>() {
        dequantize_rows_kernel<T><<<grid, kBlock, 0, stream>>>(static_cast<const uint8_t*>(p.w), p.w_row_bytes, p.rows, p.k,
                                                               p.dst, p.dst_stride, p.scale);
    });
    return ok ? nullptr : "dequantize: weight type not supported by the CUDA kernels";
}

}  // namespace kvmix::cuda
