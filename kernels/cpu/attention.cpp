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

// A tile of R query rows (query token x query head) that share one KV head: each K/V slot
// block is read once for all R rows (flash-style query tiling: a prefill chunk of MHA
// queries shares every K row among 8 tokens, GQA heads among their group).
template <class T>
struct Rows {
    const float* q[kMaxGroup];  // [head_dim] per row
    float* out[kMaxGroup];      // [head_dim_v] per row
    int64_t lo[kMaxGroup];      // visible slots [lo, hi) per row
    int64_t hi[kMaxGroup];
    float* m_out[kMaxGroup];    // split-K partial: running max and sum per row (else null)
    float* l_out[kMaxGroup];
    const T* k;                 // KV head's slot 0
    const T* v;
};

// Blocks are aligned to absolute multiples of kBlock slots and a row only ever touches the
// slots it sees, so a row's result does not depend on which rows share its tile (a split
// head range equals one call bit for bit).
template <int R, class T>
void attend(const AttentionParams& p, const Rows<T>& rows, float* acc) {
    const int64_t D = p.head_dim, DV = p.head_dim_v;
    float m[R], l[R];
    bool seen[R];
    int64_t lo_all = INT64_MAX, hi_all = INT64_MIN;
    for (int g = 0; g < R; ++g) {
        m[g] = -INFINITY;
        l[g] = 0.0f;
        seen[g] = false;
        if (rows.lo[g] < rows.hi[g]) {
            lo_all = avx2::min_i64(lo_all, rows.lo[g]);
            hi_all = avx2::max_i64(hi_all, rows.hi[g]);
        }
    }
    for (int64_t i = 0; i < R * DV; ++i) acc[i] = 0.0f;
    alignas(32) float s[R][kBlock];
    const __m256 neg_inf = _mm256_set1_ps(-INFINITY);
    for (int64_t jb = lo_all < hi_all ? lo_all / kBlock * kBlock : 0; jb < hi_all; jb += kBlock) {
        const int64_t js = avx2::max_i64(lo_all - jb, 0), je = avx2::min_i64(kBlock, hi_all - jb);
        // Scores of the block's slots for all rows; each K row is converted once. Each slot
        // also prefetches the K and V rows of the slot a block ahead: a few lines per slot,
        // spread over the block, where the hardware prefetcher restarts at every 4 KiB page.
        for (int64_t jj = js; jj < je; ++jj) {
            const T* kr = rows.k + static_cast<size_t>((jb + jj) * D);
            if (jb + jj + kBlock < hi_all) {
                const char* kf = reinterpret_cast<const char*>(kr + kBlock * D);
                const char* vf = reinterpret_cast<const char*>(rows.v + static_cast<size_t>((jb + jj + kBlock) * DV));
                for (int64_t o = 0; o < D * static_cast<int64_t>(sizeof(T)); o += 64) _mm_prefetch(kf + o, _MM_HINT_T0);
                for (int64_t o = 0; o < DV * static_cast<int64_t>(sizeof(T)); o += 64) _mm_prefetch(vf + o, _MM_HINT_T0);
            }
            __m256 a[R];
            for (int g = 0; g < R; ++g) a[g] = _mm256_setzero_ps();
            int64_t d = 0;
            for (; d + 8 <= D; d += 8) {
                const __m256 kf = load8(kr + d);
                for (int g = 0; g < R; ++g) a[g] = _mm256_fmadd_ps(kf, _mm256_loadu_ps(rows.q[g] + d), a[g]);
            }
            for (int g = 0; g < R; ++g) {
                float dot = avx2::hsum(a[g]);
                for (int64_t dd = d; dd < D; ++dd) dot += rows.q[g][dd] * load1(kr[dd]);
                s[g][jj] = dot * p.scale;
            }
        }
        int64_t ja[R], jz[R];
        for (int g = 0; g < R; ++g) {
            ja[g] = avx2::max_i64(rows.lo[g] - jb, 0);
            jz[g] = avx2::min_i64(rows.hi[g] - jb, kBlock);
            if (ja[g] >= jz[g]) continue;  // the row sees nothing here
            seen[g] = true;
            __m256 sv[kBlock / 8];
            for (int c = 0; c < kBlock / 8; ++c) sv[c] = _mm256_load_ps(s[g] + 8 * c);
            if (p.softcap > 0.0f) {
                const __m256 cap = _mm256_set1_ps(p.softcap), inv = _mm256_set1_ps(1.0f / p.softcap);
                for (int c = 0; c < kBlock / 8; ++c) sv[c] = _mm256_mul_ps(cap, avx2::tanh(_mm256_mul_ps(sv[c], inv)));
            }
            // Slots the row does not see score -inf (weight exactly 0).
            const __m256 lo_v = _mm256_set1_ps(static_cast<float>(ja[g])), hi_v = _mm256_set1_ps(static_cast<float>(jz[g]));
            for (int c = 0; c < kBlock / 8; ++c) {
                const __m256 idx = _mm256_add_ps(_mm256_setr_ps(0, 1, 2, 3, 4, 5, 6, 7), _mm256_set1_ps(static_cast<float>(8 * c)));
                const __m256 out = _mm256_or_ps(_mm256_cmp_ps(idx, lo_v, _CMP_LT_OQ), _mm256_cmp_ps(idx, hi_v, _CMP_GE_OQ));
                sv[c] = _mm256_blendv_ps(sv[c], neg_inf, out);
            }
            __m256 mv = sv[0];
            for (int c = 1; c < kBlock / 8; ++c) mv = _mm256_max_ps(mv, sv[c]);
            const float bm = avx2::hmax(mv);
            const float m_new = bm > m[g] ? bm : m[g];
            // A NaN score makes the whole row NaN, as in the reference: it flows through
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
        // acc[g] += sum_j p[g][j] * v[j] over the row's own slots; 32 dims of one row live in
        // registers across the block, and the block's V rows stay in L1 across the rows.
        const T* vb = rows.v + static_cast<size_t>(jb * DV);
        for (int g = 0; g < R; ++g) {
            if (ja[g] >= jz[g]) continue;
            float* a = acc + g * DV;
            int64_t d = 0;
            for (; d + 32 <= DV; d += 32) {
                __m256 a0 = _mm256_loadu_ps(a + d), a1 = _mm256_loadu_ps(a + d + 8);
                __m256 a2 = _mm256_loadu_ps(a + d + 16), a3 = _mm256_loadu_ps(a + d + 24);
                for (int64_t jj = ja[g]; jj < jz[g]; ++jj) {
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
                for (int64_t jj = ja[g]; jj < jz[g]; ++jj)
                    a0 = _mm256_fmadd_ps(_mm256_broadcast_ss(&s[g][jj]), load8(vb + static_cast<size_t>(jj * DV + d)), a0);
                _mm256_storeu_ps(a + d, a0);
            }
            for (; d < DV; ++d)
                for (int64_t jj = ja[g]; jj < jz[g]; ++jj) a[d] += s[g][jj] * load1(vb[static_cast<size_t>(jj * DV + d)]);
        }
    }
    for (int g = 0; g < R; ++g) {
        if (rows.m_out[g] != nullptr) {
            // Partial: unnormalized; an unseen row keeps m = -inf, l = 0, acc = 0.
            *rows.m_out[g] = m[g];
            *rows.l_out[g] = l[g];
            for (int64_t d = 0; d < DV; ++d) rows.out[g][d] = seen[g] ? acc[g * DV + d] : 0.0f;
            continue;
        }
        if (!seen[g]) {
            for (int64_t d = 0; d < DV; ++d) rows.out[g][d] = 0.0f;
            continue;
        }
        const float inv = 1.0f / l[g];
        for (int64_t d = 0; d < DV; ++d) rows.out[g][d] = acc[g * DV + d] * inv;
    }
}

// Tiles: for each KV head, its query heads in this slice (up to 8) times as many query
// tokens as fill 8 rows (8 tokens for MHA, 2 for a group of 4, 1 for 8 heads).
template <class T>
void attention_avx2(const AttentionParams& p, const T* k, const T* v, float* acc) {
    const int64_t group = p.n_head / p.n_head_kv;
    const int64_t kv_end = p.kv_end < 0 ? p.n_kv : avx2::min_i64(p.kv_end, p.n_kv);
    for (int64_t h = p.head_begin; h < p.head_end;) {
        const int64_t hk = h / group;
        const int64_t g_count = avx2::min_i64(kMaxGroup, avx2::min_i64(p.head_end - h, (hk + 1) * group - h));
        const int64_t tile = kMaxGroup / g_count;
        Rows<T> rows{};
        rows.k = k + static_cast<size_t>(hk) * p.k_head_stride;
        rows.v = v + static_cast<size_t>(hk) * p.v_head_stride;
        for (int64_t t0 = 0; t0 < p.n_q; t0 += tile) {
            const int64_t nt = avx2::min_i64(tile, p.n_q - t0);
            int r = 0;
            for (int64_t t = t0; t < t0 + nt; ++t) {
                const int64_t pos = p.q_pos[t];
                for (int64_t g = 0; g < g_count; ++g, ++r) {
                    rows.q[r] = p.q + static_cast<size_t>(t) * p.q_stride + static_cast<size_t>((h + g) * p.head_dim);
                    rows.out[r] = p.out + static_cast<size_t>(t) * p.out_stride + static_cast<size_t>((h + g) * p.head_dim_v);
                    rows.hi[r] = avx2::min_i64(pos + 1, kv_end);
                    rows.lo[r] = avx2::max_i64(p.kv_begin, p.window > 0 ? avx2::max_i64(0, pos - p.window + 1) : 0);
                    const size_t ml = static_cast<size_t>(t * p.n_head + h + g);
                    rows.m_out[r] = p.part_m != nullptr ? p.part_m + ml : nullptr;
                    rows.l_out[r] = p.part_l != nullptr ? p.part_l + ml : nullptr;
                }
            }
            switch (r) {
                case 1: attend<1>(p, rows, acc); break;
                case 2: attend<2>(p, rows, acc); break;
                case 3: attend<3>(p, rows, acc); break;
                case 4: attend<4>(p, rows, acc); break;
                case 5: attend<5>(p, rows, acc); break;
                case 6: attend<6>(p, rows, acc); break;
                case 7: attend<7>(p, rows, acc); break;
                default: attend<8>(p, rows, acc); break;
            }
        }
        h += g_count;
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

void attention_merge_cpu(const AttentionMergeParams& p) {
    KVMIX_ASSERT(p.n_parts > 0 && 0 <= p.head_begin && p.head_begin <= p.head_end && p.head_end <= p.n_head);
    for (int64_t t = 0; t < p.n_q; ++t) {
        for (int64_t h = p.head_begin; h < p.head_end; ++h) {
            const size_t ml = static_cast<size_t>(t * p.n_head + h);
            const size_t row = static_cast<size_t>(t) * p.acc_stride + static_cast<size_t>(h * p.head_dim_v);
            float* out = p.out + static_cast<size_t>(t) * p.out_stride + static_cast<size_t>(h * p.head_dim_v);
            float mx = -INFINITY;
            bool nan = false;
            for (int64_t i = 0; i < p.n_parts; ++i) {
                const float m = p.m[static_cast<size_t>(i) * p.ml_part_stride + ml];
                nan |= std::isnan(m);
                mx = std::max(mx, m);
            }
            if (nan || mx == -INFINITY) {
                for (int64_t d = 0; d < p.head_dim_v; ++d) out[d] = nan ? NAN : 0.0f;
                continue;
            }
            // Parts in index order: the sum does not depend on thread timing.
            float den = 0.0f;
            for (int64_t d = 0; d < p.head_dim_v; ++d) out[d] = 0.0f;
            for (int64_t i = 0; i < p.n_parts; ++i) {
                const size_t ip = static_cast<size_t>(i);
                const float w = std::exp(p.m[ip * p.ml_part_stride + ml] - mx);
                if (w == 0.0f) continue;
                den += w * p.l[ip * p.ml_part_stride + ml];
                const float* acc = p.acc + ip * p.acc_part_stride + row;
                for (int64_t d = 0; d < p.head_dim_v; ++d) out[d] += w * acc[d];
            }
            const float inv = 1.0f / den;
            for (int64_t d = 0; d < p.head_dim_v; ++d) out[d] *= inv;
        }
    }
}

}  // namespace kvmix
