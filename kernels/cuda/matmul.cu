// y[m, n] = x[m, k] · Wᵀ with W in a GGUF type, dequantized in registers (weights stay in
// their file format on the device: decode is bound by the bytes of W read per token).
// One warp per output column; the warp's lanes take consecutive 8-element chunks of the
// weight row (coalesced), and each pass over W serves up to kRows rows of x, so a batch of
// sequences reads W once per 8 rows. fp32 accumulation, warp-shuffle reduction.
// Twin: matmul_ref (kernels/ref/matmul.cpp).
#include "cuda/cuda-kernels.h"
#include "cuda/weight-blocks.cuh"

namespace kvmix::cuda {

namespace {

constexpr int kRows = 8;
constexpr int kWarpsPerBlock = 4;

template <TensorType T>
__global__ void __launch_bounds__(kWarpsPerBlock * kWarp) matmul_kernel(MatmulParams p) {
    const int lane = static_cast<int>(threadIdx.x % kWarp);
    const int64_t col = p.n_begin + static_cast<int64_t>(blockIdx.x) * kWarpsPerBlock + threadIdx.x / kWarp;
    if (col >= p.n_end) return;
    const uint8_t* wrow = static_cast<const uint8_t*>(p.w) + static_cast<size_t>(col) * p.w_row_bytes;
    const int64_t n_chunks = p.k / 8;
    for (int64_t m0 = 0; m0 < p.m; m0 += kRows) {
        const int rows = static_cast<int>(p.m - m0 < kRows ? p.m - m0 : kRows);
        float acc[kRows] = {};
        for (int64_t c = lane; c < n_chunks; c += kWarp) {
            float w[8];
            dequant_chunk<T>(wrow, c, w);
#pragma unroll
            for (int r = 0; r < kRows; ++r) {
                if (r >= rows) break;
                const float* x = p.x + static_cast<size_t>(m0 + r) * p.x_stride + 8 * c;
                const float4 a = *reinterpret_cast<const float4*>(x), b = *reinterpret_cast<const float4*>(x + 4);
                acc[r] += w[0] * a.x + w[1] * a.y + w[2] * a.z + w[3] * a.w + w[4] * b.x + w[5] * b.y + w[6] * b.z +
                          w[7] * b.w;
            }
        }
#pragma unroll
        for (int r = 0; r < kRows; ++r) {
            if (r >= rows) break;
            const float s = warp_sum(acc[r]);
            if (lane == 0) p.y[static_cast<size_t>(m0 + r) * p.y_stride + col] = s;
        }
    }
}

}  // namespace

const char* matmul(const MatmulParams& p, cudaStream_t stream) {
    if (p.k % 8 != 0) return "matmul: k must be a multiple of 8";
    if (p.x_stride % 4 != 0) return "matmul: x rows must be 16-byte aligned";
    if (p.n_begin < 0 || p.n_end > p.n || p.n_begin > p.n_end) return "matmul: bad column range";
    if (p.m <= 0 || p.n_end == p.n_begin) return nullptr;
    const unsigned blocks = grid_1d(p.n_end - p.n_begin, kWarpsPerBlock);
    const bool ok = dispatch_weight_type(p.w_type, [&]<TensorType T>() {
        matmul_kernel<T><<<blocks, kWarpsPerBlock * kWarp, 0, stream>>>(p);
    });
    return ok ? nullptr : "matmul: weight type not supported by the CUDA kernels";
}

}  // namespace kvmix::cuda
