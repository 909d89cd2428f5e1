#include "cpu/rope.h"

#include <cmath>
#include <cstddef>
#include <cstdint>

#include "common/assert.h"
#include "cpu/cpu-features.h"
#include "cpu/simd-avx2.h"
#include "ref/rope.h"

namespace kvmix {
namespace {

constexpr int64_t kMaxRot = 1024;  // larger n_rot falls back to the reference

// Per token: cos/sin of every frequency, computed once in double (theta can be ~1e5 rad at
// long positions, where an fp32 angle would be off by ~1e-2) and shared by all heads.
// Layout matches the pair layout: interleaved -> c[2i] = c[2i+1] = cos theta_i and
// s[2i] = -sin, s[2i+1] = +sin; half split -> c[i], s[i] for i < n_rot/2.
void token_angles(const RopeParams& p, const double* inv_freq, int64_t t, float* c, float* s) {
    const int64_t half = p.n_rot / 2;
    const double pos = static_cast<double>(p.positions[t]) * static_cast<double>(p.freq_scale);
    for (int64_t i = 0; i < half; ++i) {
        double theta = pos * inv_freq[i];
        if (p.freq_factors) theta /= static_cast<double>(p.freq_factors[i]);
        const float cf = static_cast<float>(std::cos(theta)), sf = static_cast<float>(std::sin(theta));
        if (p.interleaved) {
            c[2 * i] = c[2 * i + 1] = cf;
            s[2 * i] = -sf;
            s[2 * i + 1] = sf;
        } else {
            c[i] = cf;
            s[i] = sf;
        }
    }
}

}  // namespace

#if KVMIX_CPU_X86
KVMIX_AVX2_BEGIN
namespace {

void rotate_heads_avx2(const RopeParams& p, float* xt, const float* c, const float* s) {
    const int64_t n_rot = p.n_rot, half = n_rot / 2;
    for (int64_t h = 0; h < p.n_head; ++h) {
        float* x = xt + static_cast<size_t>(h) * p.head_stride;
        int64_t i = 0;
        if (p.interleaved) {
            // out[2i] = a c - b s, out[2i+1] = b c + a s: x*c + swap(x)*s with s signed per lane.
            for (; i + 8 <= n_rot; i += 8) {
                const __m256 v = _mm256_loadu_ps(x + i);
                const __m256 sw = _mm256_permute_ps(v, 0xB1);
                _mm256_storeu_ps(x + i, _mm256_fmadd_ps(sw, _mm256_loadu_ps(s + i), _mm256_mul_ps(v, _mm256_loadu_ps(c + i))));
            }
            for (; i < n_rot; i += 2) {
                const float a = x[i], b = x[i + 1];
                x[i] = a * c[i] + b * s[i];
                x[i + 1] = b * c[i + 1] + a * s[i + 1];
            }
        } else {
            float* xb = x + half;
            for (; i + 8 <= half; i += 8) {
                const __m256 a = _mm256_loadu_ps(x + i), b = _mm256_loadu_ps(xb + i);
                const __m256 cv = _mm256_loadu_ps(c + i), sv = _mm256_loadu_ps(s + i);
                _mm256_storeu_ps(x + i, _mm256_fnmadd_ps(b, sv, _mm256_mul_ps(a, cv)));
                _mm256_storeu_ps(xb + i, _mm256_fmadd_ps(a, sv, _mm256_mul_ps(b, cv)));
            }
            for (; i < half; ++i) {
                const float a = x[i], b = xb[i];
                x[i] = a * c[i] - b * s[i];
                xb[i] = a * s[i] + b * c[i];
            }
        }
    }
}

}  // namespace
KVMIX_AVX2_END
#endif

void rope_cpu(const RopeParams& p) {
    KVMIX_ASSERT(p.n_rot >= 0 && p.n_rot % 2 == 0 && p.n_rot <= p.head_dim);
    KVMIX_ASSERT(0 <= p.token_begin && p.token_begin <= p.token_end);
#if KVMIX_CPU_X86
    if (cpu_has_avx2_fma_f16c() && p.n_rot <= kMaxRot) {
        double inv_freq[kMaxRot / 2];
        for (int64_t i = 0; i < p.n_rot / 2; ++i)
            inv_freq[i] = std::pow(static_cast<double>(p.base), -2.0 * static_cast<double>(i) / static_cast<double>(p.n_rot));
        alignas(32) float c[kMaxRot], s[kMaxRot];
        for (int64_t t = p.token_begin; t < p.token_end; ++t) {
            token_angles(p, inv_freq, t, c, s);
            rotate_heads_avx2(p, p.x + static_cast<size_t>(t) * p.token_stride, c, s);
        }
        return;
    }
#endif
    rope_ref(p);
}

}  // namespace kvmix
