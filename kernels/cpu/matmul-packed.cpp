#include "cpu/matmul-packed.h"

#include <cstddef>
#include <cstdint>

#include "common/assert.h"
#include "cpu/cpu-features.h"
#include "cpu/gemm-avx2.h"
#include "cpu/matmul.h"
#include "ref/dequantize.h"
#include "ref/matmul.h"

namespace kvmix {

#if KVMIX_CPU_X86
KVMIX_AVX2_BEGIN
namespace {

constexpr int64_t kPanelRows = 24;   // weight rows = output columns of one panel (3 vectors)
constexpr int64_t kPanelDepth = 256;  // a multiple of every block size

// dst[c, r] = src[r, c] for an 8 × 8 block (rows ss / ds floats apart).
void transpose8(const float* src, size_t ss, float* dst, size_t ds) {
    __m256 r[8], t[8], u[8];
    for (int i = 0; i < 8; ++i) r[i] = _mm256_loadu_ps(src + static_cast<size_t>(i) * ss);
    for (int i = 0; i < 8; i += 2) {
        t[i] = _mm256_unpacklo_ps(r[i], r[i + 1]);
        t[i + 1] = _mm256_unpackhi_ps(r[i], r[i + 1]);
    }
    for (int i = 0; i < 8; i += 4) {
        u[i] = _mm256_shuffle_ps(t[i], t[i + 2], 0x44);
        u[i + 1] = _mm256_shuffle_ps(t[i], t[i + 2], 0xEE);
        u[i + 2] = _mm256_shuffle_ps(t[i + 1], t[i + 3], 0x44);
        u[i + 3] = _mm256_shuffle_ps(t[i + 1], t[i + 3], 0xEE);
    }
    for (int i = 0; i < 4; ++i) {
        _mm256_storeu_ps(dst + static_cast<size_t>(i) * ds, _mm256_permute2f128_ps(u[i], u[i + 4], 0x20));
        _mm256_storeu_ps(dst + static_cast<size_t>(i + 4) * ds, _mm256_permute2f128_ps(u[i], u[i + 4], 0x31));
    }
}

void matmul_packed_avx2(const MatmulParams& p) {
    alignas(32) float rows[kPanelRows * kPanelDepth];
    alignas(32) float panel[kPanelDepth * kPanelRows];
    const TensorTypeTraits& traits = tensor_type_traits(p.w_type);
    const auto* w = static_cast<const uint8_t*>(p.w);
    for (int64_t j0 = p.n_begin; j0 < p.n_end; j0 += kPanelRows) {
        const int64_t nr = avx2::min_i64(kPanelRows, p.n_end - j0);
        for (int64_t k0 = 0; k0 < p.k; k0 += kPanelDepth) {
            const int64_t kw = avx2::min_i64(kPanelDepth, p.k - k0);
            const size_t col_bytes = static_cast<size_t>(k0 / traits.block_elems) * traits.block_bytes;
            for (int64_t r = 0; r < nr; ++r)
                dequantize_row_cpu(p.w_type, w + static_cast<size_t>(j0 + r) * p.w_row_bytes + col_bytes, rows + r * kPanelDepth, kw);
            // Rows past nr of the last 8-row block are transposed too, but their lanes are
            // masked off by the core: zeros keep them defined.
            const int64_t nr8 = (nr + 7) / 8 * 8, kw8 = kw / 8 * 8;
            for (int64_t r = nr; r < nr8; ++r)
                for (int64_t l = 0; l < kw; ++l) rows[r * kPanelDepth + l] = 0.0f;
            // panel[l, r] = W[j0 + r, k0 + l].
            for (int64_t r0 = 0; r0 < nr8; r0 += 8)
                for (int64_t l0 = 0; l0 < kw8; l0 += 8) transpose8(rows + r0 * kPanelDepth + l0, kPanelDepth, panel + l0 * kPanelRows + r0, kPanelRows);
            for (int64_t l = kw8; l < kw; ++l)
                for (int64_t r = 0; r < nr; ++r) panel[l * kPanelRows + r] = rows[r * kPanelDepth + l];
            avx2::GemmBlock b{};
            b.a = p.x + static_cast<size_t>(k0);
            b.ars = p.x_stride;
            b.als = 1;
            b.b = panel;
            b.bs = kPanelRows;
            b.c = p.y + static_cast<size_t>(j0);
            b.cs = p.y_stride;
            b.depth = kw;
            b.accumulate = k0 > 0;
            avx2::gemm(b, p.m, nr);
        }
    }
}

}  // namespace
KVMIX_AVX2_END
#endif  // KVMIX_CPU_X86

void matmul_packed_cpu(const MatmulParams& p) {
    KVMIX_ASSERT(can_dequantize(p.w_type));
    KVMIX_ASSERT(p.m >= 0 && p.k >= 0 && 0 <= p.n_begin && p.n_begin <= p.n_end && p.n_end <= p.n);
    KVMIX_ASSERT(p.k % tensor_type_traits(p.w_type).block_elems == 0);
    if (p.m == 0 || p.n_begin == p.n_end) return;
#if KVMIX_CPU_X86
    if (cpu_has_avx2_fma_f16c() && p.k > 0) {  // k == 0 writes zeros: the ref's case
        matmul_packed_avx2(p);
        return;
    }
#endif
    matmul_ref(p);
}

}  // namespace kvmix
