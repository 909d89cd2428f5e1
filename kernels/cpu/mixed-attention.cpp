#include "cpu/mixed-attention.h"

#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <vector>

#include "common/assert.h"
#include "common/half.h"
#include "common/kv-quant-format.h"
#include "cpu/cpu-features.h"
#include "cpu/simd-avx2.h"
#include "ref/mixed-attention.h"

namespace kvmix {
namespace {
constexpr int kBlock = kvq::kChunkCodes;  // tokens per online-softmax step = one packed chunk
constexpr int kMaxHeads = 8;              // query rows (token x head) sharing one kv head, processed together
constexpr int64_t kLocalDim = 512;        // head_dim / head_dim_v served from stack scratch

// Scratch of one call: acc [kMaxHeads][head_dim_v], macc [kMaxHeads][head_dim_v / 32 + 1],
// qs [kMaxHeads][head_dim].
struct Scratch {
    float* acc;
    float* macc;
    float* qs;
};
}  // namespace

#if KVMIX_CPU_X86
KVMIX_AVX2_BEGIN
namespace {

inline __m256i load8_u8(const uint8_t* p) {
    uint64_t v;
    std::memcpy(&v, p, sizeof v);
    return _mm256_cvtepu8_epi32(_mm_cvtsi64_si128(static_cast<long long>(v)));
}

// Codes 8·sub .. 8·sub+7 of a packed chunk (kv-quant-format.h) as fp32 lanes.
template <int B>
inline __m256 unpack8(const uint8_t* chunk, int sub) {
    if constexpr (B == 3) {
        const __m256i lo = _mm256_and_si256(_mm256_srl_epi32(load8_u8(chunk), _mm_cvtsi32_si128(2 * sub)),
                                            _mm256_set1_epi32(3));
        const __m256i hb = _mm256_set1_epi32(chunk[8 + sub]);
        const __m256i hi = _mm256_and_si256(_mm256_srlv_epi32(hb, _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7)),
                                            _mm256_set1_epi32(1));
        return _mm256_cvtepi32_ps(_mm256_or_si256(lo, _mm256_slli_epi32(hi, 2)));
    } else {
        constexpr int nb = 4 * B;
        const int off = (8 * sub) % nb, sh = B * ((8 * sub) / nb);
        __m256i x = _mm256_srl_epi32(load8_u8(chunk + off), _mm_cvtsi32_si128(sh));
        x = _mm256_and_si256(x, _mm256_set1_epi32((1 << B) - 1));
        return _mm256_cvtepi32_ps(x);
    }
}

// Register blocking: token (or channel) vectors kept live per row, so NH·V <= 8 accumulators.
template <int NH>
constexpr int vecs_per_head() { return NH <= 2 ? 4 : (NH == 4 ? 2 : 1); }

// One run: NH query rows (query token x query head, all reading one kv head) — the heads
// of a GQA group and, in a prefill chunk, several tokens: each unpacked code vector and
// each fp16 K/V row serves every row of the tile.
struct Run {
    const MixedAttentionParams* p;
    const KvSegment* seg;
    const float* const* q;  // [NH] rows of head_dim
    int64_t hk;
    Scratch sc;
};

// ---- keys -------------------------------------------------------------------------------

// Per key group: qs[g][c] = q[g][c]·s_c and qm[g] = Σ_c q[g][c]·m_c.
template <int NH>
void prepare_key_group(const Run& r, const uint8_t* grp, float* qm) {
    const int64_t D = r.p->head_dim;
    const size_t rec = kvq::key_record_bytes(r.seg->k_bits, r.seg->group_size);
    for (int g = 0; g < NH; ++g) qm[g] = 0.0f;
    for (int64_t c = 0; c < D; ++c) {
        const uint8_t* rc = grp + static_cast<size_t>(c) * rec;
        const float s = avx2::half_to_float(avx2::load_u16(rc));
        const float m = avx2::half_to_float(avx2::load_u16(rc + 2));
        for (int g = 0; g < NH; ++g) {
            const float qv = r.q[g][c];
            r.sc.qs[g * D + c] = qv * s;
            qm[g] += qv * m;
        }
    }
}

// Raw dots (no scale) of the 32 tokens of the chunk at segment token c0 (whole chunk).
template <int B, int NH>
void score_quant(const Run& r, const uint8_t* grp, const float* qm, int64_t c0, float (*s)[kBlock]) {
    constexpr int TV = vecs_per_head<NH>();
    const int64_t D = r.p->head_dim;
    const int G = r.seg->group_size;
    const size_t rec = kvq::key_record_bytes(B, G);
    const uint8_t* codes0 = grp + kvq::kMetaBytes + static_cast<size_t>((c0 % G) / kBlock) * kvq::chunk_bytes(B);
    for (int v0 = 0; v0 < kBlock / 8; v0 += TV) {
        __m256 a[NH][TV];
        for (int g = 0; g < NH; ++g)
            for (int tv = 0; tv < TV; ++tv) a[g][tv] = _mm256_setzero_ps();
        int64_t c = 0;
        if constexpr (NH == 1) {
            // One row (MHA decode): 4 accumulators alone would leave the FMA latency chain
            // exposed, so odd channels get a second set (8 independent chains).
            __m256 b[TV];
            for (int tv = 0; tv < TV; ++tv) b[tv] = _mm256_setzero_ps();
            for (; c + 2 <= D; c += 2) {
                const uint8_t* chunk = codes0 + static_cast<size_t>(c) * rec;
                const __m256 w0 = _mm256_broadcast_ss(r.sc.qs + c), w1 = _mm256_broadcast_ss(r.sc.qs + c + 1);
                for (int tv = 0; tv < TV; ++tv) {
                    a[0][tv] = _mm256_fmadd_ps(w0, unpack8<B>(chunk, v0 + tv), a[0][tv]);
                    b[tv] = _mm256_fmadd_ps(w1, unpack8<B>(chunk + rec, v0 + tv), b[tv]);
                }
            }
            for (int tv = 0; tv < TV; ++tv) a[0][tv] = _mm256_add_ps(a[0][tv], b[tv]);
        }
        for (; c < D; ++c) {
            const uint8_t* chunk = codes0 + static_cast<size_t>(c) * rec;
            __m256 code[TV];
            for (int tv = 0; tv < TV; ++tv) code[tv] = unpack8<B>(chunk, v0 + tv);
            for (int g = 0; g < NH; ++g) {
                const __m256 w = _mm256_broadcast_ss(r.sc.qs + g * D + c);
                for (int tv = 0; tv < TV; ++tv) a[g][tv] = _mm256_fmadd_ps(w, code[tv], a[g][tv]);
            }
        }
        for (int g = 0; g < NH; ++g)
            for (int tv = 0; tv < TV; ++tv)
                _mm256_store_ps(s[g] + 8 * (v0 + tv), _mm256_add_ps(a[g][tv], _mm256_set1_ps(qm[g])));
    }
}

// Raw dots of tokens [c0 + ja, c0 + jb) of an fp16 key segment; other lanes 0.
template <int NH>
void score_f16(const Run& r, int64_t c0, int ja, int jb, float (*s)[kBlock]) {
    const int64_t D = r.p->head_dim;
    const uint16_t* kh = r.seg->k16 + static_cast<size_t>(r.hk) * r.seg->k16_head_stride;
    for (int g = 0; g < NH; ++g)
        for (int j = 0; j < kBlock; ++j) s[g][j] = 0.0f;
    for (int jj = ja; jj < jb; ++jj) {
        const uint16_t* kr = kh + static_cast<size_t>((c0 + jj) * D);
        __m256 a[NH];
        for (int g = 0; g < NH; ++g) a[g] = _mm256_setzero_ps();
        int64_t d = 0;
        for (; d + 8 <= D; d += 8) {
            const __m256 kf = avx2::load_half8(kr + d);
            for (int g = 0; g < NH; ++g) a[g] = _mm256_fmadd_ps(kf, _mm256_loadu_ps(r.q[g] + d), a[g]);
        }
        for (int g = 0; g < NH; ++g) {
            float dot = avx2::hsum(a[g]);
            for (int64_t dd = d; dd < D; ++dd) dot += r.q[g][dd] * avx2::half_to_float(kr[dd]);
            s[g][jj] = dot;
        }
    }
}

// ---- values -----------------------------------------------------------------------------

// acc[g] += Σ_j w[g][j] · v_j over tokens [c0 + ja, c0 + jb) of a quantized value segment;
// the min terms go to macc[g][d / 32]. Row g only takes tokens [ra[g], rb[g]) (the codes
// of the others are still unpacked once for the tile, with weight exactly 0).
template <int B, int NH>
void accum_quant(const Run& r, int64_t c0, int ja, int jb, const int* ra, const int* rb, const float (*w)[kBlock]) {
    constexpr int VT = vecs_per_head<NH>();
    const int64_t DV = r.p->head_dim_v, NC = DV / kBlock;
    const int G = r.seg->group_size;
    const size_t rec = kvq::value_record_bytes(B, G);
    const uint8_t* vh = r.seg->vq + static_cast<size_t>(r.hk) * r.seg->vq_head_stride;
    const size_t ts = r.seg->vq_token_stride;
    alignas(32) float ws[NH][kBlock];
    for (int64_t cg = 0; cg < DV / G; ++cg) {
        // Fold the token's scale into its weight; the min term is a per-(head, chunk) scalar.
        for (int g = 0; g < NH; ++g) {
            float msum = 0.0f;
            for (int jj = ja; jj < jb; ++jj) {
                if (jj < ra[g] || jj >= rb[g]) {
                    ws[g][jj] = 0.0f;
                    continue;
                }
                const uint8_t* rc = vh + static_cast<size_t>(c0 + jj) * ts + static_cast<size_t>(cg) * rec;
                ws[g][jj] = w[g][jj] * avx2::half_to_float(avx2::load_u16(rc));
                msum += w[g][jj] * avx2::half_to_float(avx2::load_u16(rc + 2));
            }
            for (int k = 0; k < G / kBlock; ++k) r.sc.macc[g * (NC + 1) + cg * (G / kBlock) + k] += msum;
        }
        for (int k = 0; k < G / kBlock; ++k) {
            const size_t code_off = static_cast<size_t>(cg) * rec + kvq::kMetaBytes + static_cast<size_t>(k) * kvq::chunk_bytes(B);
            const int64_t d0 = cg * G + k * kBlock;
            for (int v0 = 0; v0 < kBlock / 8; v0 += VT) {
                __m256 a[NH][VT];
                for (int g = 0; g < NH; ++g)
                    for (int vt = 0; vt < VT; ++vt) a[g][vt] = _mm256_loadu_ps(r.sc.acc + g * DV + d0 + 8 * (v0 + vt));
                int jj = ja;
                if constexpr (NH == 1) {
                    // One row: odd tokens accumulate into a second set (8 independent chains).
                    __m256 b[VT];
                    for (int vt = 0; vt < VT; ++vt) b[vt] = _mm256_setzero_ps();
                    for (; jj + 2 <= jb; jj += 2) {
                        const uint8_t* chunk = vh + static_cast<size_t>(c0 + jj) * ts + code_off;
                        const __m256 p0 = _mm256_broadcast_ss(&ws[0][jj]), p1 = _mm256_broadcast_ss(&ws[0][jj + 1]);
                        for (int vt = 0; vt < VT; ++vt) {
                            a[0][vt] = _mm256_fmadd_ps(p0, unpack8<B>(chunk, v0 + vt), a[0][vt]);
                            b[vt] = _mm256_fmadd_ps(p1, unpack8<B>(chunk + ts, v0 + vt), b[vt]);
                        }
                    }
                    for (int vt = 0; vt < VT; ++vt) a[0][vt] = _mm256_add_ps(a[0][vt], b[vt]);
                }
                for (; jj < jb; ++jj) {
                    const uint8_t* chunk = vh + static_cast<size_t>(c0 + jj) * ts + code_off;
                    __m256 code[VT];
                    for (int vt = 0; vt < VT; ++vt) code[vt] = unpack8<B>(chunk, v0 + vt);
                    for (int g = 0; g < NH; ++g) {
                        const __m256 pw = _mm256_broadcast_ss(&ws[g][jj]);
                        for (int vt = 0; vt < VT; ++vt) a[g][vt] = _mm256_fmadd_ps(pw, code[vt], a[g][vt]);
                    }
                }
                for (int g = 0; g < NH; ++g)
                    for (int vt = 0; vt < VT; ++vt) _mm256_storeu_ps(r.sc.acc + g * DV + d0 + 8 * (v0 + vt), a[g][vt]);
            }
        }
    }
}

template <int NH>
void accum_f16(const Run& r, int64_t c0, int, int, const int* ra, const int* rb, const float (*w)[kBlock]) {
    const int64_t DV = r.p->head_dim_v;
    const uint16_t* vb = r.seg->v16 + static_cast<size_t>(r.hk) * r.seg->v16_head_stride + static_cast<size_t>(c0 * DV);
    for (int g = 0; g < NH; ++g) {
        const int ja = ra[g], jb = rb[g];
        if (ja >= jb) continue;
        float* a = r.sc.acc + g * DV;
        int64_t d = 0;
        for (; d + 32 <= DV; d += 32) {
            __m256 a0 = _mm256_loadu_ps(a + d), a1 = _mm256_loadu_ps(a + d + 8);
            __m256 a2 = _mm256_loadu_ps(a + d + 16), a3 = _mm256_loadu_ps(a + d + 24);
            for (int jj = ja; jj < jb; ++jj) {
                const __m256 pw = _mm256_broadcast_ss(&w[g][jj]);
                const uint16_t* vr = vb + static_cast<size_t>(jj * DV + d);
                a0 = _mm256_fmadd_ps(pw, avx2::load_half8(vr), a0);
                a1 = _mm256_fmadd_ps(pw, avx2::load_half8(vr + 8), a1);
                a2 = _mm256_fmadd_ps(pw, avx2::load_half8(vr + 16), a2);
                a3 = _mm256_fmadd_ps(pw, avx2::load_half8(vr + 24), a3);
            }
            _mm256_storeu_ps(a + d, a0);
            _mm256_storeu_ps(a + d + 8, a1);
            _mm256_storeu_ps(a + d + 16, a2);
            _mm256_storeu_ps(a + d + 24, a3);
        }
        for (; d + 8 <= DV; d += 8) {
            __m256 a0 = _mm256_loadu_ps(a + d);
            for (int jj = ja; jj < jb; ++jj)
                a0 = _mm256_fmadd_ps(_mm256_broadcast_ss(&w[g][jj]), avx2::load_half8(vb + static_cast<size_t>(jj * DV + d)), a0);
            _mm256_storeu_ps(a + d, a0);
        }
        for (; d < DV; ++d)
            for (int jj = ja; jj < jb; ++jj) a[d] += w[g][jj] * avx2::half_to_float(vb[static_cast<size_t>(jj * DV + d)]);
    }
}

// ---- one run over all segments ----------------------------------------------------------

template <int NH>
using ScoreQuantFn = void (*)(const Run&, const uint8_t*, const float*, int64_t, float (*)[kBlock]);
template <int NH>
using AccumFn = void (*)(const Run&, int64_t, int, int, const int*, const int*, const float (*)[kBlock]);

template <int NH>
ScoreQuantFn<NH> pick_score(int bits) {
    switch (bits) {
        case 2: return &score_quant<2, NH>;
        case 3: return &score_quant<3, NH>;
        case 4: return &score_quant<4, NH>;
        case 8: return &score_quant<8, NH>;
        default: return nullptr;
    }
}
template <int NH>
AccumFn<NH> pick_accum(int bits) {
    switch (bits) {
        case 2: return &accum_quant<2, NH>;
        case 3: return &accum_quant<3, NH>;
        case 4: return &accum_quant<4, NH>;
        case 8: return &accum_quant<8, NH>;
        default: return &accum_f16<NH>;
    }
}

// Online-softmax step of one head over a block: s (raw dots) -> weights in place, running
// max m / sum l updated, acc and macc rescaled. Lanes outside [ja, jb) get weight 0.
inline void softmax_step(const MixedAttentionParams& p, float* s, int ja, int jb, float& m, float& l, float* acc,
                         float* macc, int64_t n_macc) {
    __m256 sv[kBlock / 8];
    const __m256 scale = _mm256_set1_ps(p.scale);
    for (int c = 0; c < kBlock / 8; ++c) sv[c] = _mm256_mul_ps(_mm256_load_ps(s + 8 * c), scale);
    if (p.softcap > 0.0f) {
        const __m256 cap = _mm256_set1_ps(p.softcap), inv = _mm256_set1_ps(1.0f / p.softcap);
        for (int c = 0; c < kBlock / 8; ++c) sv[c] = _mm256_mul_ps(cap, avx2::tanh(_mm256_mul_ps(sv[c], inv)));
    }
    const __m256 neg_inf = _mm256_set1_ps(-INFINITY);
    const __m256i lo = _mm256_set1_epi32(ja), hi = _mm256_set1_epi32(jb);
    for (int c = 0; c < kBlock / 8; ++c) {
        const __m256i idx = _mm256_add_epi32(_mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7), _mm256_set1_epi32(8 * c));
        const __m256i in = _mm256_andnot_si256(_mm256_cmpgt_epi32(lo, idx), _mm256_cmpgt_epi32(hi, idx));
        sv[c] = _mm256_blendv_ps(neg_inf, sv[c], _mm256_castsi256_ps(in));
    }
    __m256 mv = sv[0];
    for (int c = 1; c < kBlock / 8; ++c) mv = _mm256_max_ps(mv, sv[c]);
    const float bm = avx2::hmax(mv);
    const float m_new = bm > m ? bm : m;
    // A NaN score makes the head NaN, as in the reference: it flows through exp into l.
    const float corr = m == -INFINITY ? 0.0f : std::exp(m - m_new);
    const __m256 mn = _mm256_set1_ps(m_new);
    __m256 sum = _mm256_setzero_ps();
    for (int c = 0; c < kBlock / 8; ++c) {
        const __m256 e = avx2::exp(_mm256_sub_ps(sv[c], mn));
        _mm256_store_ps(s + 8 * c, e);
        sum = _mm256_add_ps(sum, e);
    }
    l = l * corr + avx2::hsum(sum);
    m = m_new;
    if (corr != 1.0f) {
        const __m256 cv = _mm256_set1_ps(corr);
        const int64_t DV = p.head_dim_v;
        int64_t d = 0;
        for (; d + 8 <= DV; d += 8) _mm256_storeu_ps(acc + d, _mm256_mul_ps(_mm256_loadu_ps(acc + d), cv));
        for (; d < DV; ++d) acc[d] *= corr;
        for (int64_t i = 0; i < n_macc; ++i) macc[i] *= corr;
    }
}

// A tile of query rows: row g is query token t(g) of query head h(g); all read kv head hk.
struct Rows {
    const float* q[kMaxHeads];
    float* out[kMaxHeads];
    float* m_out[kMaxHeads];  // split-K partial: running max and sum per row (else null)
    float* l_out[kMaxHeads];
    int64_t lo_pos[kMaxHeads], hi_pos[kMaxHeads];  // visible positions [lo, hi) per row
};

// Blocks are aligned to the segment's chunks and a row only takes the tokens it sees, so a
// row's result does not depend on which rows share its tile.
template <int NH>
void attend(const MixedAttentionParams& p, const Rows& rows, int64_t hk, const Scratch& sc) {
    const int64_t DV = p.head_dim_v, NC = DV / kBlock;
    float m[NH], l[NH], qm[NH];
    bool seen[NH];
    for (int g = 0; g < NH; ++g) {
        m[g] = -INFINITY;
        l[g] = 0.0f;
        qm[g] = 0.0f;
        seen[g] = false;
    }
    for (int64_t i = 0; i < NH * DV; ++i) sc.acc[i] = 0.0f;
    for (int64_t i = 0; i < NH * (NC + 1); ++i) sc.macc[i] = 0.0f;
    alignas(32) float s[NH][kBlock];
    for (int32_t si = 0; si < p.n_segments; ++si) {
        const KvSegment& seg = p.segments[si];
        // Visible segment tokens [ag, bg) per row and their union [a, b).
        int64_t ag[NH], bg[NH], a = INT64_MAX, b = INT64_MIN;
        for (int g = 0; g < NH; ++g) {
            ag[g] = avx2::max_i64(0, rows.lo_pos[g] - seg.pos0);
            bg[g] = avx2::min_i64(seg.n_tokens, rows.hi_pos[g] - seg.pos0);
            if (ag[g] >= bg[g]) continue;
            a = avx2::min_i64(a, ag[g]);
            b = avx2::max_i64(b, bg[g]);
        }
        if (a >= b) continue;
        const Run r{&p, &seg, rows.q, hk, sc};
        const bool kq = seg.k_bits != kvq::kNotQuantized;
        const ScoreQuantFn<NH> score = kq ? pick_score<NH>(seg.k_bits) : nullptr;
        const AccumFn<NH> accum = pick_accum<NH>(seg.v_bits);
        const uint8_t* kh = kq ? seg.kq + static_cast<size_t>(hk) * seg.kq_head_stride : nullptr;
        int64_t prepared = -1;
        for (int64_t c0 = (a / kBlock) * kBlock; c0 < b; c0 += kBlock) {
            const int ja = static_cast<int>(avx2::max_i64(a - c0, 0));
            const int jb = static_cast<int>(avx2::min_i64(b - c0, kBlock));
            int ra[NH], rb[NH];
            for (int g = 0; g < NH; ++g) {
                ra[g] = static_cast<int>(avx2::min_i64(avx2::max_i64(ag[g] - c0, 0), kBlock));
                rb[g] = static_cast<int>(avx2::max_i64(avx2::min_i64(bg[g] - c0, kBlock), 0));
                if (ag[g] >= bg[g]) ra[g] = rb[g] = 0;
            }
            if (kq) {
                const int64_t gi = c0 / seg.group_size;
                const uint8_t* grp = kh + static_cast<size_t>(gi) * seg.kq_group_stride;
                if (gi != prepared) {
                    prepare_key_group<NH>(r, grp, qm);
                    prepared = gi;
                }
                score(r, grp, qm, c0, s);
            } else {
                score_f16<NH>(r, c0, ja, jb, s);
            }
            for (int g = 0; g < NH; ++g) {
                if (ra[g] >= rb[g]) continue;  // the row sees nothing in this block
                seen[g] = true;
                softmax_step(p, s[g], ra[g], rb[g], m[g], l[g], sc.acc + g * DV, sc.macc + g * (NC + 1), NC + 1);
            }
            accum(r, c0, ja, jb, ra, rb, s);
        }
    }
    for (int g = 0; g < NH; ++g) {
        float* o = rows.out[g];
        if (rows.m_out[g] != nullptr) {
            // Partial: unnormalized; an unseen row keeps m = -inf, l = 0, acc = 0.
            *rows.m_out[g] = m[g];
            *rows.l_out[g] = l[g];
            const float* acc = sc.acc + g * DV;
            const float* macc = sc.macc + g * (NC + 1);
            for (int64_t d = 0; d < DV; ++d) o[d] = seen[g] ? acc[d] + macc[d / kBlock] : 0.0f;
            continue;
        }
        if (!seen[g]) {
            for (int64_t d = 0; d < DV; ++d) o[d] = 0.0f;
            continue;
        }
        const float inv = 1.0f / l[g];
        const float* acc = sc.acc + g * DV;
        const float* macc = sc.macc + g * (NC + 1);
        for (int64_t d = 0; d < DV; ++d) o[d] = (acc[d] + macc[d / kBlock]) * inv;
    }
}

// Largest power of two <= n, at most 8.
inline int pow2_floor8(int64_t n) { return n >= 8 ? 8 : n >= 4 ? 4 : n >= 2 ? 2 : 1; }

// Tiles: for each kv head, nh of its query heads (7 heads run as 4 + 2 + 1) times as many
// query tokens as fill 8 rows — a prefill chunk reads each K/V block once per tile, not
// once per query token.
void mixed_attention_avx2(const MixedAttentionParams& p, const Scratch& sc) {
    const int64_t group = p.n_head / p.n_head_kv;
    for (int64_t h = p.head_begin; h < p.head_end;) {
        const int64_t hk = h / group;
        const int nh = pow2_floor8(avx2::min_i64(p.head_end - h, (hk + 1) * group - h));
        for (int64_t t0 = 0; t0 < p.n_q;) {
            const int nt = pow2_floor8(avx2::min_i64(kMaxHeads / nh, p.n_q - t0));
            Rows rows{};
            int r = 0;
            for (int64_t t = t0; t < t0 + nt; ++t) {
                const int64_t pos = p.q_pos[t];
                for (int g = 0; g < nh; ++g, ++r) {
                    rows.q[r] = p.q + static_cast<size_t>(t) * p.q_stride + static_cast<size_t>((h + g) * p.head_dim);
                    rows.out[r] = p.out + static_cast<size_t>(t) * p.out_stride + static_cast<size_t>((h + g) * p.head_dim_v);
                    const size_t ml = static_cast<size_t>(t * p.n_head + h + g);
                    rows.m_out[r] = p.part_m != nullptr ? p.part_m + ml : nullptr;
                    rows.l_out[r] = p.part_l != nullptr ? p.part_l + ml : nullptr;
                    rows.hi_pos[r] = pos + 1;
                    rows.lo_pos[r] = p.window > 0 ? pos - p.window + 1 : INT64_MIN / 2;
                }
            }
            switch (r) {
                case 8: attend<8>(p, rows, hk, sc); break;
                case 4: attend<4>(p, rows, hk, sc); break;
                case 2: attend<2>(p, rows, hk, sc); break;
                default: attend<1>(p, rows, hk, sc); break;
            }
            t0 += nt;
        }
        h += nh;
    }
}

}  // namespace
KVMIX_AVX2_END
#endif

void mixed_attention_cpu(const MixedAttentionParams& p) {
    mixed_attention_check_params(p);
#if KVMIX_CPU_X86
    if (cpu_has_avx2_fma_f16c()) {
        // Stack scratch for the common head sizes; a heap buffer otherwise.
        constexpr int64_t kLocalFloats = kMaxHeads * (kLocalDim + kLocalDim / kBlock + 1 + kLocalDim);
        alignas(32) float local[kLocalFloats];
        std::vector<float> heap;
        const int64_t need = kMaxHeads * (p.head_dim_v + p.head_dim_v / kBlock + 1 + p.head_dim);
        float* buf = local;
        if (need > kLocalFloats) {
            heap.resize(static_cast<size_t>(need));
            buf = heap.data();
        }
        const Scratch sc{buf, buf + kMaxHeads * p.head_dim_v, buf + kMaxHeads * (p.head_dim_v + p.head_dim_v / kBlock + 1)};
        mixed_attention_avx2(p, sc);
        return;
    }
#endif
    mixed_attention_ref(p);
}

}  // namespace kvmix
