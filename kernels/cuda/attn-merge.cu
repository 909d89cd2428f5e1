// Merge of the split-K attention partials (attn-flash.cu): for every (query row, head),
//   M = max_s m_s,  out = Σ_s acc_s e^(m_s - M) / Σ_s l_s e^(m_s - M)
// with NaN parity (any NaN split makes the output NaN) and zeros for a row that saw no key.
// Twin: the final normalization of mixed_attention_ref.
#include "cuda/attn-flash.cuh"
#include "cuda/device-common.cuh"

namespace kvmix::cuda {

namespace {

template <int D>
__global__ void __launch_bounds__(D) merge_kernel(FlashAttentionParams p) {
    const size_t row = blockIdx.x, h = blockIdx.y;
    const int d = static_cast<int>(threadIdx.x);
    const size_t base = (row * static_cast<size_t>(p.n_head) + h) * p.n_splits;
    float M = -INFINITY;
    for (int s = 0; s < p.n_splits; ++s) M = nan_max(M, p.partial_ml[2 * (base + s)]);
    float* out = p.out + row * p.out_stride + h * D;
    if (M != M) {
        out[d] = NAN;
        return;
    }
    if (M == -INFINITY) {
        out[d] = 0.0f;
        return;
    }
    float num = 0.0f, den = 0.0f;
    for (int s = 0; s < p.n_splits; ++s) {
        const float m = p.partial_ml[2 * (base + s)];
        if (m == -INFINITY) continue;
        const float w = __expf(m - M);
        num = fmaf(p.partial_acc[(base + s) * D + d], w, num);
        den = fmaf(p.partial_ml[2 * (base + s) + 1], w, den);
    }
    out[d] = num / den;
}

}  // namespace

template <int D>
const char* flash_merge(const FlashAttentionParams& p, cudaStream_t stream) {
    if (p.n_rows_total <= 0) return nullptr;
    const dim3 grid(static_cast<unsigned>(p.n_rows_total), static_cast<unsigned>(p.n_head));
    merge_kernel<D><<<grid, D, 0, stream>>>(p);
    return nullptr;
}

template const char* flash_merge<16>(const FlashAttentionParams&, cudaStream_t);
template const char* flash_merge<32>(const FlashAttentionParams&, cudaStream_t);
template const char* flash_merge<64>(const FlashAttentionParams&, cudaStream_t);
template const char* flash_merge<128>(const FlashAttentionParams&, cudaStream_t);
template const char* flash_merge<256>(const FlashAttentionParams&, cudaStream_t);

}  // namespace kvmix::cuda
