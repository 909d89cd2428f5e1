#include "cpu/glu.h"

#include <cmath>
#include <cstddef>
#include <cstdint>

#include "common/assert.h"
#include "cpu/cpu-features.h"
#include "cpu/simd-avx2.h"
#include "ref/glu.h"

namespace kvmix {

#if KVMIX_CPU_X86
KVMIX_AVX2_BEGIN
namespace {

// Both activations are g * sigmoid(z): silu z = g; gelu_tanh uses
// 0.5 (1 + tanh(u)) = 1 / (1 + e^(-2u)), so z = 2u = 2 sqrt(2/pi) (g + 0.044715 g³).
template <GluActivation kAct>
__m256 act(__m256 g) {
    __m256 z = g;
    if constexpr (kAct == GluActivation::gelu_tanh) {
        const __m256 g3 = _mm256_mul_ps(_mm256_mul_ps(g, g), g);
        z = _mm256_mul_ps(_mm256_set1_ps(1.5957691216057308f), _mm256_fmadd_ps(_mm256_set1_ps(0.044715f), g3, g));
    }
    const __m256 e = avx2::exp(_mm256_sub_ps(_mm256_setzero_ps(), z));
    return _mm256_div_ps(g, _mm256_add_ps(_mm256_set1_ps(1.0f), e));
}

template <GluActivation kAct>
void glu_rows(const GluParams& p) {
    for (int64_t r = p.row_begin; r < p.row_end; ++r) {
        const size_t off = static_cast<size_t>(r) * p.stride;
        const float* g = p.gate + off;
        const float* u = p.up + off;
        float* o = p.out + off;
        int64_t i = 0;
        for (; i + 8 <= p.n; i += 8)
            _mm256_storeu_ps(o + i, _mm256_mul_ps(act<kAct>(_mm256_loadu_ps(g + i)), _mm256_loadu_ps(u + i)));
        if (i < p.n) {  // tail through a padded buffer so every element takes the same path
            alignas(32) float gb[8] = {}, ub[8] = {}, ob[8];
            for (int64_t l = i; l < p.n; ++l) {
                gb[l - i] = g[l];
                ub[l - i] = u[l];
            }
            _mm256_store_ps(ob, _mm256_mul_ps(act<kAct>(_mm256_load_ps(gb)), _mm256_load_ps(ub)));
            for (int64_t l = i; l < p.n; ++l) o[l] = ob[l - i];
        }
    }
}

}  // namespace
KVMIX_AVX2_END
#endif

void glu_cpu(const GluParams& p) {
    KVMIX_ASSERT(p.n >= 0 && 0 <= p.row_begin && p.row_begin <= p.row_end);
#if KVMIX_CPU_X86
    if (cpu_has_avx2_fma_f16c()) {
        if (p.act == GluActivation::silu) return glu_rows<GluActivation::silu>(p);
        return glu_rows<GluActivation::gelu_tanh>(p);
    }
#endif
    glu_ref(p);
}

}  // namespace kvmix
