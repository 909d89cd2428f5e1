#include "cpu/softmax.h"

#include <cmath>
#include <cstddef>
#include <cstdint>

#include "common/assert.h"
#include "cpu/cpu-features.h"
#include "cpu/simd-avx2.h"
#include "ref/softmax.h"

namespace kvmix {

#if KVMIX_CPU_X86
KVMIX_AVX2_BEGIN
namespace {

void softmax_avx2(const SoftmaxParams& p) {
    const int64_t n = p.n;
    for (int64_t r = p.row_begin; r < p.row_end; ++r) {
        float* x = p.x + static_cast<size_t>(r) * p.stride;
        // Max; a NaN is noticed separately (max_ps may drop it) and poisons the row as in the ref.
        __m256 mv = _mm256_set1_ps(-INFINITY);
        __m256 nanv = _mm256_setzero_ps();
        int64_t i = 0;
        for (; i + 8 <= n; i += 8) {
            const __m256 v = _mm256_loadu_ps(x + i);
            mv = _mm256_max_ps(mv, v);
            nanv = _mm256_or_ps(nanv, _mm256_cmp_ps(v, v, _CMP_UNORD_Q));
        }
        float mx = avx2::hmax(mv);
        bool nan = _mm256_movemask_ps(nanv) != 0;
        for (; i < n; ++i) {
            nan |= std::isnan(x[i]);
            if (x[i] > mx) mx = x[i];
        }
        if (nan) {
            for (i = 0; i < n; ++i) x[i] = NAN;
            continue;
        }
        const __m256 m = _mm256_set1_ps(mx);
        __m256 sv = _mm256_setzero_ps();
        for (i = 0; i + 8 <= n; i += 8) {
            const __m256 e = avx2::exp(_mm256_sub_ps(_mm256_loadu_ps(x + i), m));
            _mm256_storeu_ps(x + i, e);
            sv = _mm256_add_ps(sv, e);
        }
        float sum = avx2::hsum(sv);
        if (i < n) {
            alignas(32) float b[8];
            for (int l = 0; l < 8; ++l) b[l] = i + l < n ? x[i + l] : -INFINITY;
            _mm256_store_ps(b, avx2::exp(_mm256_sub_ps(_mm256_load_ps(b), m)));
            for (int64_t l = i; l < n; ++l) {
                x[l] = b[l - i];
                sum += b[l - i];
            }
        }
        const __m256 inv = _mm256_set1_ps(1.0f / sum);
        for (i = 0; i + 8 <= n; i += 8) _mm256_storeu_ps(x + i, _mm256_mul_ps(_mm256_loadu_ps(x + i), inv));
        for (; i < n; ++i) x[i] *= 1.0f / sum;
    }
}

}  // namespace
KVMIX_AVX2_END
#endif

void softmax_cpu(const SoftmaxParams& p) {
    KVMIX_ASSERT(p.n > 0 && 0 <= p.row_begin && p.row_begin <= p.row_end);
#if KVMIX_CPU_X86
    if (cpu_has_avx2_fma_f16c()) return softmax_avx2(p);
#endif
    softmax_ref(p);
}

}  // namespace kvmix
