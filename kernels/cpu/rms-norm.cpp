#include "cpu/rms-norm.h"

#include <cmath>
#include <cstddef>
#include <cstdint>

#include "common/assert.h"
#include "cpu/cpu-features.h"
#include "cpu/simd-avx2.h"
#include "ref/rms-norm.h"

namespace kvmix {

#if KVMIX_CPU_X86
KVMIX_AVX2_BEGIN
namespace {

void rms_norm_avx2(const RmsNormParams& p) {
    const int64_t n = p.n;
    for (int64_t r = p.row_begin; r < p.row_end; ++r) {
        const float* x = p.x + static_cast<size_t>(r) * p.x_stride;
        float* y = p.y + static_cast<size_t>(r) * p.y_stride;
        // Sum of squares in double lanes: n can be large and the mean feeds every output.
        __m256d s0 = _mm256_setzero_pd(), s1 = s0;
        int64_t i = 0;
        for (; i + 8 <= n; i += 8) {
            const __m256 v = _mm256_loadu_ps(x + i);
            const __m256d lo = _mm256_cvtps_pd(_mm256_castps256_ps128(v));
            const __m256d hi = _mm256_cvtps_pd(_mm256_extractf128_ps(v, 1));
            s0 = _mm256_fmadd_pd(lo, lo, s0);
            s1 = _mm256_fmadd_pd(hi, hi, s1);
        }
        alignas(32) double part[4];
        _mm256_store_pd(part, _mm256_add_pd(s0, s1));
        double ss = (part[0] + part[1]) + (part[2] + part[3]);
        for (; i < n; ++i) ss += static_cast<double>(x[i]) * x[i];
        const float scale = static_cast<float>(1.0 / std::sqrt(ss / static_cast<double>(n) + static_cast<double>(p.eps)));
        const __m256 sv = _mm256_set1_ps(scale);
        const __m256 off = _mm256_set1_ps(p.w_offset);
        i = 0;
        if (p.w) {
            for (; i + 8 <= n; i += 8)
                _mm256_storeu_ps(y + i, _mm256_mul_ps(_mm256_mul_ps(_mm256_loadu_ps(x + i), sv),
                                                      _mm256_add_ps(_mm256_loadu_ps(p.w + i), off)));
            for (; i < n; ++i) y[i] = x[i] * scale * (p.w[i] + p.w_offset);
        } else {
            for (; i + 8 <= n; i += 8) _mm256_storeu_ps(y + i, _mm256_mul_ps(_mm256_loadu_ps(x + i), sv));
            for (; i < n; ++i) y[i] = x[i] * scale;
        }
    }
}

}  // namespace
KVMIX_AVX2_END
#endif

void rms_norm_cpu(const RmsNormParams& p) {
    KVMIX_ASSERT(p.n > 0 && 0 <= p.row_begin && p.row_begin <= p.row_end);
#if KVMIX_CPU_X86
    if (cpu_has_avx2_fma_f16c()) return rms_norm_avx2(p);
#endif
    rms_norm_ref(p);
}

}  // namespace kvmix
