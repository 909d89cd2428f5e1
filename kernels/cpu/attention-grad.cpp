#include "cpu/attention-grad.h"

#include <cmath>
#include <cstddef>
#include <cstdint>
#include <vector>

#include "common/assert.h"
#include "cpu/cpu-features.h"
#include "cpu/simd-avx2.h"

namespace kvmix {

#if KVMIX_CPU_X86
KVMIX_AVX2_BEGIN
namespace {

// a · b_r for the 8 rows b_r = b + r·stride (d a multiple of 8), as one vector.
inline __m256 dot8(const float* a, const float* b, size_t stride, int64_t d) {
    __m256 s0 = _mm256_setzero_ps(), s1 = s0, s2 = s0, s3 = s0, s4 = s0, s5 = s0, s6 = s0, s7 = s0;
    for (int64_t i = 0; i < d; i += 8) {
        const __m256 av = _mm256_loadu_ps(a + i);
        s0 = _mm256_fmadd_ps(av, _mm256_loadu_ps(b + i), s0);
        s1 = _mm256_fmadd_ps(av, _mm256_loadu_ps(b + stride + i), s1);
        s2 = _mm256_fmadd_ps(av, _mm256_loadu_ps(b + 2 * stride + i), s2);
        s3 = _mm256_fmadd_ps(av, _mm256_loadu_ps(b + 3 * stride + i), s3);
        s4 = _mm256_fmadd_ps(av, _mm256_loadu_ps(b + 4 * stride + i), s4);
        s5 = _mm256_fmadd_ps(av, _mm256_loadu_ps(b + 5 * stride + i), s5);
        s6 = _mm256_fmadd_ps(av, _mm256_loadu_ps(b + 6 * stride + i), s6);
        s7 = _mm256_fmadd_ps(av, _mm256_loadu_ps(b + 7 * stride + i), s7);
    }
    // Pairwise hadds leave lane r of each 128-bit half holding half of row r's sum.
    const __m256 h0 = _mm256_hadd_ps(_mm256_hadd_ps(s0, s1), _mm256_hadd_ps(s2, s3));
    const __m256 h1 = _mm256_hadd_ps(_mm256_hadd_ps(s4, s5), _mm256_hadd_ps(s6, s7));
    return _mm256_add_ps(_mm256_permute2f128_ps(h0, h1, 0x20), _mm256_permute2f128_ps(h0, h1, 0x31));
}

inline float dot1(const float* a, const float* b, int64_t d) {
    __m256 s = _mm256_setzero_ps();
    for (int64_t i = 0; i < d; i += 8) s = _mm256_fmadd_ps(_mm256_loadu_ps(a + i), _mm256_loadu_ps(b + i), s);
    return avx2::hsum(s);
}

// Scalar exp / tanh through the vector ones: no libm call (SSE code) with dirty upper halves.
inline float exp1(float x) { return _mm256_cvtss_f32(avx2::exp(_mm256_set1_ps(x))); }
inline float tanh1(float x) { return _mm256_cvtss_f32(avx2::tanh(_mm256_set1_ps(x))); }

inline void axpy(float a, const float* x, float* y, int64_t d) {
    const __m256 av = _mm256_set1_ps(a);
    for (int64_t i = 0; i < d; i += 8) _mm256_storeu_ps(y + i, _mm256_fmadd_ps(av, _mm256_loadu_ps(x + i), _mm256_loadu_ps(y + i)));
}

// Scratch: s (scores, then unnormalized probabilities), th (tanh of the soft-capped score),
// dp (dO · v, then the score gradients g), each [n_kv].
void attention_grad_avx2(const AttentionGradParams& p, float* s, float* th, float* dp) {
    const int64_t group = p.n_head / p.n_head_kv;
    const int64_t D = p.head_dim, DV = p.head_dim_v;
    const bool capped = p.softcap > 0;
    const __m256 scale = _mm256_set1_ps(p.scale), cap = _mm256_set1_ps(p.softcap), inv_cap = _mm256_set1_ps(capped ? 1.0f / p.softcap : 0.0f);
    for (int64_t h = p.head_begin; h < p.head_end; ++h) {
        const int64_t hk = h / group;
        const int64_t hg = p.per_query_head_grads ? h : hk;
        const float* K = p.k + static_cast<size_t>(hk) * p.k_head_stride;
        const float* V = p.v + static_cast<size_t>(hk) * p.v_head_stride;
        float* dK = p.dk + static_cast<size_t>(hg) * p.k_head_stride;
        float* dV = p.dv + static_cast<size_t>(hg) * p.v_head_stride;
        for (int64_t t = 0; t < p.n_q; ++t) {
            const float* q = p.q + static_cast<size_t>(t) * p.q_stride + static_cast<size_t>(h * D);
            const float* dO = p.dout + static_cast<size_t>(t) * p.dout_stride + static_cast<size_t>(h * DV);
            float* dq = p.dq + static_cast<size_t>(t) * p.q_stride + static_cast<size_t>(h * D);
            for (int64_t i = 0; i < D; i += 8) _mm256_storeu_ps(dq + i, _mm256_setzero_ps());
            const int64_t pos = p.q_pos[t];
            const int64_t j_end = avx2::min_i64(pos + 1, p.n_kv);
            const int64_t j_begin = p.window > 0 ? avx2::max_i64(0, pos - p.window + 1) : 0;
            if (j_begin >= j_end) continue;
            // Scores and their max.
            __m256 mxv = _mm256_set1_ps(-INFINITY);
            int64_t j = j_begin;
            for (; j + 8 <= j_end; j += 8) {
                __m256 v = _mm256_mul_ps(scale, dot8(q, K + j * D, static_cast<size_t>(D), D));
                if (capped) {
                    const __m256 tv = avx2::tanh(_mm256_mul_ps(v, inv_cap));
                    _mm256_storeu_ps(th + j, tv);
                    v = _mm256_mul_ps(cap, tv);
                }
                _mm256_storeu_ps(s + j, v);
                mxv = _mm256_max_ps(mxv, v);
            }
            float mx = avx2::hmax(mxv);
            for (; j < j_end; ++j) {
                float v = p.scale * dot1(q, K + j * D, D);
                if (capped) {
                    th[j] = tanh1(v / p.softcap);
                    v = p.softcap * th[j];
                }
                s[j] = v;
                mx = mx > v ? mx : v;
            }
            // Unnormalized probabilities, their sum, dO·v and Σ p·(dO·v).
            const __m256 mv = _mm256_set1_ps(mx);
            __m256 sumv = _mm256_setzero_ps(), pdv = _mm256_setzero_ps();
            for (j = j_begin; j + 8 <= j_end; j += 8) {
                const __m256 e = avx2::exp(_mm256_sub_ps(_mm256_loadu_ps(s + j), mv));
                const __m256 d = dot8(dO, V + j * DV, static_cast<size_t>(DV), DV);
                _mm256_storeu_ps(s + j, e);
                _mm256_storeu_ps(dp + j, d);
                sumv = _mm256_add_ps(sumv, e);
                pdv = _mm256_fmadd_ps(e, d, pdv);
            }
            float sum = avx2::hsum(sumv), pd = avx2::hsum(pdv);
            for (; j < j_end; ++j) {
                s[j] = exp1(s[j] - mx);
                dp[j] = dot1(dO, V + j * DV, DV);
                sum += s[j];
                pd += s[j] * dp[j];
            }
            const float inv = 1.0f / sum, delta = pd * inv;
            // g_j = scale · ds_j replaces dO·v_j in dp.
            for (j = j_begin; j < j_end; ++j) {
                const float pj = s[j] * inv;
                float ds = pj * (dp[j] - delta);
                if (capped) ds *= 1.0f - th[j] * th[j];
                dp[j] = ds * p.scale;
                axpy(dp[j], q, dK + j * D, D);
                axpy(pj, dO, dV + j * DV, DV);
            }
            // dq = Σ_j g_j k_j, 64 dims at a time in registers: accumulating in dq itself
            // would put a store-to-load forward on every key's critical path.
            for (int64_t d0 = 0; d0 < D; d0 += 64) {
                if (D - d0 < 64) {
                    for (j = j_begin; j < j_end; ++j) axpy(dp[j], K + j * D + d0, dq + d0, D - d0);
                    continue;
                }
                __m256 a0 = _mm256_setzero_ps(), a1 = a0, a2 = a0, a3 = a0, a4 = a0, a5 = a0, a6 = a0, a7 = a0;
                for (j = j_begin; j < j_end; ++j) {
                    const __m256 g = _mm256_set1_ps(dp[j]);
                    const float* kr = K + j * D + d0;
                    a0 = _mm256_fmadd_ps(g, _mm256_loadu_ps(kr), a0);
                    a1 = _mm256_fmadd_ps(g, _mm256_loadu_ps(kr + 8), a1);
                    a2 = _mm256_fmadd_ps(g, _mm256_loadu_ps(kr + 16), a2);
                    a3 = _mm256_fmadd_ps(g, _mm256_loadu_ps(kr + 24), a3);
                    a4 = _mm256_fmadd_ps(g, _mm256_loadu_ps(kr + 32), a4);
                    a5 = _mm256_fmadd_ps(g, _mm256_loadu_ps(kr + 40), a5);
                    a6 = _mm256_fmadd_ps(g, _mm256_loadu_ps(kr + 48), a6);
                    a7 = _mm256_fmadd_ps(g, _mm256_loadu_ps(kr + 56), a7);
                }
                float* o = dq + d0;
                _mm256_storeu_ps(o, a0), _mm256_storeu_ps(o + 8, a1), _mm256_storeu_ps(o + 16, a2), _mm256_storeu_ps(o + 24, a3);
                _mm256_storeu_ps(o + 32, a4), _mm256_storeu_ps(o + 40, a5), _mm256_storeu_ps(o + 48, a6), _mm256_storeu_ps(o + 56, a7);
            }
        }
    }
}

}  // namespace
KVMIX_AVX2_END
#endif  // KVMIX_CPU_X86

void attention_grad_cpu(const AttentionGradParams& p) {
    KVMIX_ASSERT(p.n_head_kv > 0 && p.n_head % p.n_head_kv == 0);
#if KVMIX_CPU_X86
    if (cpu_has_avx2_fma_f16c() && p.head_dim % 8 == 0 && p.head_dim_v % 8 == 0) {
        const auto n = static_cast<size_t>(p.n_kv > 0 ? p.n_kv : 1);
        std::vector<float> s(n), th(n), dp(n);
        attention_grad_avx2(p, s.data(), th.data(), dp.data());
        return;
    }
#endif
    attention_grad_ref(p);
}

}  // namespace kvmix
