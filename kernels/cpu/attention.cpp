#include "cpu/attention.h"

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <vector>

#include "common/assert.h"
#include "common/half.h"
#include "cpu/cpu-features.h"
#include "cpu/simd-avx2.h"
#include "ref/attention.h"

namespace kvmix {
namespace {
constexpr int kMaxGroup = 8;  // query heads processed together per KV head
constexpr int kBlock = 32;    // slots per online-softmax step
}  // namespace

#if KVMIX_CPU_X86
KVMIX_AVX2_BEGIN
namespace {

// K/V element access, overloaded on the cache's element type so one template serves both:
// fp16 rows widen with F16C, fp32 rows load directly (no conversion, no rounding).
inline __m256 load8(const uint16_t* p) { return avx2::load_half8(p); }
inline __m256 load8(const float* p) { return _mm256_loadu_ps(p); }
inline float load1(uint16_t h) { return fp16_to_fp32(h); }
inline float load1(float f) { return f; }

template <class T>
struct HeadRun {
    const float* q;    // [G, head_dim] (head stride head_dim)
    float* out;        // [G, head_dim_v]
    const T* k;        // KV head's slot 0
    const T* v;
    int64_t lo, hi;    // visible slots
};

template <int G, class T>
void attend(const AttentionParams& p, const HeadRun<T>& run, float* acc) {
    const int64_t D = p.head_dim, DV = p.head_dim_v;
    if (run.lo >= run.hi) {
        for (int64_t i = 0; i < G * DV; ++i) run.out[i] = 0.0f;
        return;
    }
    float m[G], l[G];
    for (int g = 0; g < G; ++g) {
        m[g] = -INFINITY;
        l[g] = 0.0f;
    }
    for (int64_t i = 0; i < G * DV; ++i) acc[i] = 0.0f;
    alignas(32) float s[G][kBlock];
    const __m256 neg_inf = _mm256_set1_ps(-INFINITY);
    for (int64_t jb = run.lo; jb < run.hi; jb += kBlock) {
        const int64_t nb = avx2::min_i64(kBlock, run.hi - jb);
        // Scores of the block for all G heads; each K row is converted once.
        for (int64_t jj = 0; jj < nb; ++jj) {
            const T* kr = run.k + static_cast<size_t>((jb + jj) * D);
            __m256 a[G];
            for (int g = 0; g < G; ++g) a[g] = _mm256_setzero_ps();
            int64_t d = 0;
            for (; d + 8 <= D; d += 8) {
                const __m256 kf = load8(kr + d);
                for (int g = 0; g < G; ++g) a[g] = _mm256_fmadd_ps(kf, _mm256_loadu_ps(run.q + g * D + d), a[g]);
            }
            for (int g = 0; g < G; ++g) {
                float dot = avx2::hsum(a[g]);
                for (int64_t dd = d; dd < D; ++dd) dot += run.q[g * D + dd] * load1(kr[dd]);
                s[g][jj] = dot * p.scale;
            }
        }
        for (int g = 0; g < G; ++g) {
            __m256 sv[kBlock / 8];
            for (int c = 0; c < kBlock / 8; ++c) sv[c] = _mm256_load_ps(s[g] + 8 * c);
            if (p.softcap > 0.0f) {
                const __m256 cap = _mm256_set1_ps(p.softcap), inv = _mm256_set1_ps(1.0f / p.softcap);
                for (int c = 0; c < kBlock / 8; ++c) sv[c] = _mm256_mul_ps(cap, avx2::tanh(_mm256_mul_ps(sv[c], inv)));
            }
            // Slots past the block end score -inf (weight exactly 0).
            for (int c = 0; c < kBlock / 8; ++c) {
                const __m256 idx = _mm256_add_ps(_mm256_setr_ps(0, 1, 2, 3, 4, 5, 6, 7), _mm256_set1_ps(static_cast<float>(8 * c)));
                sv[c] = _mm256_blendv_ps(sv[c], neg_inf, _mm256_cmp_ps(idx, _mm256_set1_ps(static_cast<float>(nb)), _CMP_GE_OQ));
            }
            __m256 mv = sv[0];
            for (int c = 1; c < kBlock / 8; ++c) mv = _mm256_max_ps(mv, sv[c]);
            const float bm = avx2::hmax(mv);
            const float m_new = bm > m[g] ? bm : m[g];
            // A NaN score makes the whole head NaN, as in the reference: it flows through
            // exp into l and every accumulator.
            const float corr = m[g] == -INFINITY ? 0.0f : std::exp(m[g] - m_new);
            const __m256 mn = _mm256_set1_ps(m_new);
            __m256 sum = _mm256_setzero_ps();
            for (int c = 0; c < kBlock / 8; ++c) {
                const __m256 e = avx2::exp(_mm256_sub_ps(sv[c], mn));
                _mm256_store_ps(s[g] + 8 * c, e);
                sum = _mm256_add_ps(sum, e);
            }
            l[g] = l[g] * corr + avx2::hsum(sum);
            m[g] = m_new;
            if (corr != 1.0f) {
                const __m256 cv = _mm256_set1_ps(corr);
                float* a = acc + g * DV;
                int64_t d = 0;
                for (; d + 8 <= DV; d += 8) _mm256_storeu_ps(a + d, _mm256_mul_ps(_mm256_loadu_ps(a + d), cv));
                for (; d < DV; ++d) a[d] *= corr;
            }
        }
        // acc[g] += sum_j p[g][j] * v[j]; 32 dims of one head live in registers across the block.
        const T* vb = run.v + static_cast<size_t>(jb * DV);
        for (int g = 0; g < G; ++g) {
            float* a = acc + g * DV;
            int64_t d = 0;
            for (; d + 32 <= DV; d += 32) {
                __m256 a0 = _mm256_loadu_ps(a + d), a1 = _mm256_loadu_ps(a + d + 8);
                __m256 a2 = _mm256_loadu_ps(a + d + 16), a3 = _mm256_loadu_ps(a + d + 24);
                for (int64_t jj = 0; jj < nb; ++jj) {
                    const __m256 pw = _mm256_broadcast_ss(&s[g][jj]);
                    const T* vr = vb + static_cast<size_t>(jj * DV + d);
                    a0 = _mm256_fmadd_ps(pw, load8(vr), a0);
                    a1 = _mm256_fmadd_ps(pw, load8(vr + 8), a1);
                    a2 = _mm256_fmadd_ps(pw, load8(vr + 16), a2);
                    a3 = _mm256_fmadd_ps(pw, load8(vr + 24), a3);
                }
                _mm256_storeu_ps(a + d, a0);
                _mm256_storeu_ps(a + d + 8, a1);
                _mm256_storeu_ps(a + d + 16, a2);
                _mm256_storeu_ps(a + d + 24, a3);
            }
            for (; d + 8 <= DV; d += 8) {
                __m256 a0 = _mm256_loadu_ps(a + d);
                for (int64_t jj = 0; jj < nb; ++jj)
                    a0 = _mm256_fmadd_ps(_mm256_broadcast_ss(&s[g][jj]), load8(vb + static_cast<size_t>(jj * DV + d)), a0);
                _mm256_storeu_ps(a + d, a0);
            }
            for (; d < DV; ++d)
                for (int64_t jj = 0; jj < nb; ++jj) a[d] += s[g][jj] * load1(vb[static_cast<size_t>(jj * DV + d)]);
        }
    }
    for (int g = 0; g < G; ++g) {
        const float inv = 1.0f / l[g];
        for (int64_t d = 0; d < DV; ++d) run.out[g * DV + d] = acc[g * DV + d] * inv;
    }
}

template <class T>
void attention_avx2(const AttentionParams& p, const T* k, const T* v, float* acc) {
    const int64_t group = p.n_head / p.n_head_kv;
    for (int64_t t = 0; t < p.n_q; ++t) {
        const int64_t pos = p.q_pos[t];
        HeadRun<T> run{};
        run.hi = avx2::min_i64(pos + 1, p.n_kv);
        run.lo = p.window > 0 ? avx2::max_i64(0, pos - p.window + 1) : 0;
        for (int64_t h = p.head_begin; h < p.head_end;) {
            const int64_t hk = h / group;
            const int64_t g_count = avx2::min_i64(kMaxGroup, avx2::min_i64(p.head_end - h, (hk + 1) * group - h));
            run.q = p.q + static_cast<size_t>(t) * p.q_stride + static_cast<size_t>(h * p.head_dim);
            run.out = p.out + static_cast<size_t>(t) * p.out_stride + static_cast<size_t>(h * p.head_dim_v);
            run.k = k + static_cast<size_t>(hk) * p.k_head_stride;
            run.v = v + static_cast<size_t>(hk) * p.v_head_stride;
            switch (g_count) {
                case 1: attend<1>(p, run, acc); break;
                case 2: attend<2>(p, run, acc); break;
                case 3: attend<3>(p, run, acc); break;
                case 4: attend<4>(p, run, acc); break;
                case 5: attend<5>(p, run, acc); break;
                case 6: attend<6>(p, run, acc); break;
                case 7: attend<7>(p, run, acc); break;
                default: attend<8>(p, run, acc); break;
            }
            h += g_count;
        }
    }
}

}  // namespace
KVMIX_AVX2_END
#endif

void attention_cpu(const AttentionParams& p) {
    KVMIX_ASSERT(p.n_head > 0 && p.n_head_kv > 0 && p.n_head % p.n_head_kv == 0);
    KVMIX_ASSERT(0 <= p.head_begin && p.head_begin <= p.head_end && p.head_end <= p.n_head);
    KVMIX_ASSERT(p.n_kv >= 0 && p.head_dim > 0 && p.head_dim_v > 0);
#if KVMIX_CPU_X86
    if (cpu_has_avx2_fma_f16c()) {
        constexpr int64_t kLocalDv = 512;
        alignas(32) float local[kMaxGroup * kLocalDv];
        std::vector<float> heap;
        float* acc = local;
        if (p.head_dim_v > kLocalDv) {
            heap.resize(static_cast<size_t>(kMaxGroup * p.head_dim_v));
            acc = heap.data();
        }
        switch (p.kv_type) {
            case KvElementType::f16: attention_avx2(p, p.k, p.v, acc); return;
            case KvElementType::f32: attention_avx2(p, p.k_f32, p.v_f32, acc); return;
        }
        KVMIX_ASSERT(false && "unknown KV element type");
    }
#endif
    attention_ref(p);
}

}  // namespace kvmix
