#include "cpu/mixed-attention.h"

#include <bit>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <vector>

#include "common/assert.h"
#include "common/half.h"
#include "common/kv-quant-format.h"
#include "cpu/code-dot.h"
#include "cpu/cpu-features.h"
#include "cpu/mixed-attention-vbmi.h"
#include "cpu/simd-avx2.h"
#include "ref/mixed-attention.h"

namespace kvmix {
namespace {
constexpr int kBlock = kvq::kChunkCodes;  // tokens per online-softmax step = one packed chunk
constexpr int kMaxHeads = 8;              // query rows (token x head) sharing one kv head, processed together
constexpr int64_t kLocalDim = 512;        // head_dim / head_dim_v served from stack scratch
constexpr int64_t kPrefetchBlocks = 2;    // quantized K/V blocks fetched ahead of use
constexpr int kQueryBlock = kMixedQueryBlock;  // channels per int8 query scale
constexpr float kValueQMax = static_cast<float>(kMixedValueQMax);

// Token t's group and offset in it: G is 32, 64 or 128 (kvq::valid_group), and a 64-bit
// division per block showed in the decode profile.
inline int64_t group_of(int64_t t, int G) { return t >> std::countr_zero(static_cast<unsigned>(G)); }
inline int64_t in_group(int64_t t, int G) { return t & (G - 1); }

// Scratch of one call: acc [kMaxHeads][head_dim_v], macc [kMaxHeads][head_dim_v / 32 + 1],
// qs [kMaxHeads][head_dim]; int8 key mode also: qd [2][kMaxHeads][head_dim / 32 + 1] (query
// block scales, then residual scales), sf / mf [head_dim] (the key group's scales and mins
// as fp32, partial channel blocks only), qi [2 NH][head_dim] (the int8 query rows, then
// their residual rows; NH = the tile's row count).
struct Scratch {
    float* acc;
    float* macc;
    float* qs;
    float* qd;
    float* sf;
    float* mf;
    int8_t* qi;
};

// Floats of scratch for the given dims (the int8 part rounded up to whole floats).
constexpr int64_t scratch_floats(int64_t d, int64_t dv) {
    return kMaxHeads * (dv + dv / kBlock + 1 + d + 2 * (d / kQueryBlock + 1)) + 2 * d + (2 * kMaxHeads * d + 3) / 4;
}
Scratch carve_scratch(float* buf, int64_t d, int64_t dv) {
    Scratch sc{};
    sc.acc = buf;
    sc.macc = sc.acc + kMaxHeads * dv;
    sc.qs = sc.macc + kMaxHeads * (dv / kBlock + 1);
    sc.qd = sc.qs + kMaxHeads * d;
    sc.sf = sc.qd + 2 * kMaxHeads * (d / kQueryBlock + 1);
    sc.mf = sc.sf + d;
    sc.qi = reinterpret_cast<int8_t*>(sc.mf + d);
    return sc;
}
}  // namespace

#if KVMIX_CPU_X86
KVMIX_AVX2_BEGIN
namespace {

inline __m256i load8_u8(const uint8_t* p) {
    uint64_t v;
    std::memcpy(&v, p, sizeof v);
    return _mm256_cvtepu8_epi32(_mm_cvtsi64_si128(static_cast<long long>(v)));
}

// (fp16 scale, fp16 min) pairs as dwords (scale in the low half) -> fp32 scales and mins.
inline void split_scale_min8(__m256i x, __m256& s, __m256& m) {
    // Per 128-bit lane: the four scales' bytes, then the four mins'; then qwords to s0..7, m0..7.
    const __m256i split = _mm256_setr_epi8(0, 1, 4, 5, 8, 9, 12, 13, 2, 3, 6, 7, 10, 11, 14, 15,
                                           0, 1, 4, 5, 8, 9, 12, 13, 2, 3, 6, 7, 10, 11, 14, 15);
    const __m256i sm = _mm256_permute4x64_epi64(_mm256_shuffle_epi8(x, split), _MM_SHUFFLE(3, 1, 2, 0));
    s = _mm256_cvtph_ps(_mm256_castsi256_si128(sm));
    m = _mm256_cvtph_ps(_mm256_extracti128_si256(sm, 1));
}

// The scale/min pairs of eight records, the 4 bytes at p + i·stride (i < 8), as fp32 lanes.
// Vector loads instead of scalar 16-bit stores re-read as a vector (which stall on store
// forwarding and serialize the first touch of a group's cache lines).
inline void load_scale_min8(const uint8_t* p, size_t stride, __m256& s, __m256& m) {
    const __m256i x = _mm256_setr_epi32(static_cast<int>(avx2::load_u32(p)), static_cast<int>(avx2::load_u32(p + stride)),
                                        static_cast<int>(avx2::load_u32(p + 2 * stride)), static_cast<int>(avx2::load_u32(p + 3 * stride)),
                                        static_cast<int>(avx2::load_u32(p + 4 * stride)), static_cast<int>(avx2::load_u32(p + 5 * stride)),
                                        static_cast<int>(avx2::load_u32(p + 6 * stride)), static_cast<int>(avx2::load_u32(p + 7 * stride)));
    split_scale_min8(x, s, m);
}

// Starts the hardware prefetcher early on the 4 KiB pages that begin inside [p, p + n): the
// L2 streamer follows a head's codes within a page but stops at each page boundary, and one
// prefetch of the next page's first line, a few blocks ahead, restarts it in time. Prefetching
// every line instead holds the fill buffers that the demand loads and the streamer need
// (measured slower, tests/bench/RESULTS.md). avx2::prefetch_line: an _mm_prefetch here was
// compiled away.
inline void prefetch_range(const uint8_t* p, size_t n) {
    const uintptr_t a = reinterpret_cast<uintptr_t>(p);
    for (uintptr_t page = (a + 4095) & ~uintptr_t{4095}; page < a + n; page += 4096) avx2::prefetch_line(reinterpret_cast<const void*>(page));
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
    CodeDotFn dot;   // int8 mode, quantized keys: the code-dot variant (NH rows, 2·NH with residual); else null
    CodeDot16Fn vdot;  // int8 mode, quantized values: the int16-weight code-dot variant
    bool residual;     // int8 mode: the query's rounding residual is a second int8 row
};

// ---- keys -------------------------------------------------------------------------------

// Per key group: qs[g][c] = q[g][c]·s_c and qm[g] = Σ_c q[g][c]·m_c.
template <int NH>
void prepare_key_group(const Run& r, const uint8_t* grp, float* qm) {
    const int64_t D = r.p->head_dim;
    const size_t rec = kvq::key_record_bytes(r.seg->k_bits, r.seg->group_size);
    __m256 qmv[NH];
    for (int g = 0; g < NH; ++g) {
        qmv[g] = _mm256_setzero_ps();
        qm[g] = 0.0f;
    }
    int64_t c = 0;
    for (; c + 8 <= D; c += 8) {
        __m256 sv, mv;
        load_scale_min8(grp + static_cast<size_t>(c) * rec, rec, sv, mv);
        for (int g = 0; g < NH; ++g) {
            const __m256 qv = _mm256_loadu_ps(r.q[g] + c);
            _mm256_storeu_ps(r.sc.qs + g * D + c, _mm256_mul_ps(qv, sv));
            qmv[g] = _mm256_fmadd_ps(qv, mv, qmv[g]);
        }
    }
    for (; c < D; ++c) {
        const uint8_t* rc = grp + static_cast<size_t>(c) * rec;
        const float s = avx2::half_to_float(avx2::load_u16(rc));
        const float m = avx2::half_to_float(avx2::load_u16(rc + 2));
        for (int g = 0; g < NH; ++g) {
            const float qv = r.q[g][c];
            r.sc.qs[g * D + c] = qv * s;
            qm[g] += qv * m;
        }
    }
    for (int g = 0; g < NH; ++g) qm[g] += avx2::hsum(qmv[g]);
}

// Raw dots (no scale) of the 32 tokens of the chunk at segment token c0 (whole chunk).
template <int B, int NH>
void score_quant(const Run& r, const uint8_t* grp, const float* qm, int64_t c0, float (*s)[kBlock]) {
    constexpr int TV = vecs_per_head<NH>();
    const int64_t D = r.p->head_dim;
    const int G = r.seg->group_size;
    const size_t rec = kvq::key_record_bytes(B, G);
    const uint8_t* codes0 = grp + kvq::kMetaBytes + static_cast<size_t>(in_group(c0, G) / kBlock) * kvq::chunk_bytes(B);
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

// ---- keys, int8 query (the contract of mixed_attention_int8q_ref) --------------------------

// x[0, n) (finite) -> qi = round_even(x · (127 / max|x|)); returns d = max|x| / 127 (0 and
// qi = 0 when all zero). With res: res = x - d·qi (fused), the rounding residual (may alias x).
inline float quantize_i8(const float* x, int64_t n, int8_t* qi, float* res) {
    const __m256 sign = _mm256_set1_ps(-0.0f);
    __m256 amax = _mm256_setzero_ps();
    int64_t c = 0;
    for (; c + 8 <= n; c += 8) amax = _mm256_max_ps(amax, _mm256_andnot_ps(sign, _mm256_loadu_ps(x + c)));
    float am = avx2::hmax(amax);
    for (; c < n; ++c) am = std::fabs(x[c]) > am ? std::fabs(x[c]) : am;
    if (am == 0.0f) {
        for (c = 0; c < n; ++c) {
            qi[c] = 0;
            if (res != nullptr) res[c] = 0.0f;
        }
        return 0.0f;
    }
    const float d = am / 127.0f, inv = 127.0f / am;
    const __m256 dv = _mm256_set1_ps(d), iv = _mm256_set1_ps(inv);
    for (c = 0; c + 8 <= n; c += 8) {
        const __m256 xv = _mm256_loadu_ps(x + c);
        const __m256i v = _mm256_cvtps_epi32(_mm256_mul_ps(xv, iv));
        const __m128i w16 = _mm_packs_epi32(_mm256_castsi256_si128(v), _mm256_extracti128_si256(v, 1));
        _mm_storel_epi64(reinterpret_cast<__m128i*>(qi + c), _mm_packs_epi16(w16, w16));
        if (res != nullptr) _mm256_storeu_ps(res + c, _mm256_fnmadd_ps(dv, _mm256_cvtepi32_ps(v), xv));
    }
    for (; c < n; ++c) {
        const float xc = x[c];
        qi[c] = static_cast<int8_t>(std::nearbyint(xc * inv));
        if (res != nullptr) res[c] = std::fma(-d, static_cast<float>(qi[c]), xc);
    }
    return d;
}

// quantize_i8 of one whole block of kQueryBlock channels held in registers (the same
// operations, so the same qi and d); with residual, x becomes x - d·qi.
static_assert(kQueryBlock == 32, "a block is four ymm vectors");
inline float quantize_block_i8(__m256 (&x)[kQueryBlock / 8], int8_t* qi, bool residual) {
    const __m256 sign = _mm256_set1_ps(-0.0f);
    __m256 amax = _mm256_setzero_ps();
    for (int v = 0; v < kQueryBlock / 8; ++v) amax = _mm256_max_ps(amax, _mm256_andnot_ps(sign, x[v]));
    const float am = avx2::hmax(amax);
    if (am == 0.0f) {
        std::memset(qi, 0, kQueryBlock);
        if (residual)
            for (int v = 0; v < kQueryBlock / 8; ++v) x[v] = _mm256_setzero_ps();
        return 0.0f;
    }
    const float d = am / 127.0f, inv = 127.0f / am;
    const __m256 dv = _mm256_set1_ps(d), iv = _mm256_set1_ps(inv);
    __m256i n[kQueryBlock / 8];
    for (int v = 0; v < kQueryBlock / 8; ++v) {
        n[v] = _mm256_cvtps_epi32(_mm256_mul_ps(x[v], iv));
        if (residual) x[v] = _mm256_fnmadd_ps(dv, _mm256_cvtepi32_ps(n[v]), x[v]);
    }
    // |n| <= 127: the saturating packs are exact; they interleave 128-bit lanes, the permute undoes it.
    const __m256i b = _mm256_packs_epi16(_mm256_packs_epi32(n[0], n[1]), _mm256_packs_epi32(n[2], n[3]));
    _mm256_storeu_si256(reinterpret_cast<__m256i*>(qi), _mm256_permutevar8x32_epi32(b, _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7)));
    return d;
}

// Per key group: for each row g and channel block b (kQueryBlock channels), with
// qs_c = q_c·s_c: the int8 query qi (scale d) and, with r.residual, the int8 query of its
// rounding residual qs - d·qi (scale d2), so q·s ≈ d·qi + d2·qi2 with an error of <= d2/2 per
// channel (about 1/32000 of the block's largest |q·s|; d/2, 1/254, without). qd[g][b] = d (0
// for an all-zero block, NaN when some qs_c is not finite), qd[NH + g][b] = d2 (0 without
// the residual), qi rows g and NH + g; qm[g] = Σ_c q_c·m_c.
// A whole block stays in registers from the scale/min loads to the int8 rows (one pass per
// group; this setup costs as much as the group's dots); a partial block (head_dim % 32) goes
// through scratch.
template <int NH>
void prepare_key_group_int8(const Run& r, const uint8_t* grp, float* qm) {
    const int64_t D = r.p->head_dim, NB = D / kQueryBlock + 1;
    const size_t rec = kvq::key_record_bytes(r.seg->k_bits, r.seg->group_size);
    const __m256 sign = _mm256_set1_ps(-0.0f), inf = _mm256_set1_ps(INFINITY);
    __m256 qmv[NH];
    float qm_tail[NH];
    for (int g = 0; g < NH; ++g) {
        qmv[g] = _mm256_setzero_ps();
        qm_tail[g] = 0.0f;
    }
    for (int64_t b0 = 0; b0 < D; b0 += kQueryBlock) {
        const int64_t b1 = avx2::min_i64(D, b0 + kQueryBlock), bi = b0 / kQueryBlock;
        if (b1 - b0 == kQueryBlock) {
            __m256 sv[kQueryBlock / 8], mv[kQueryBlock / 8];
            for (int v = 0; v < kQueryBlock / 8; ++v) load_scale_min8(grp + static_cast<size_t>(b0 + 8 * v) * rec, rec, sv[v], mv[v]);
            for (int g = 0; g < NH; ++g) {
                const float* q = r.q[g] + b0;
                __m256 x[kQueryBlock / 8];
                __m256 bad = _mm256_setzero_ps();
                for (int v = 0; v < kQueryBlock / 8; ++v) {
                    const __m256 qv = _mm256_loadu_ps(q + 8 * v);
                    x[v] = _mm256_mul_ps(qv, sv[v]);
                    qmv[g] = _mm256_fmadd_ps(qv, mv[v], qmv[g]);
                    bad = _mm256_or_ps(bad, _mm256_sub_ps(x[v], x[v]));  // NaN bits iff NaN or ±inf
                }
                int8_t* qi = r.sc.qi + g * D + b0;
                int8_t* qi2 = r.sc.qi + (NH + g) * D + b0;
                if (_mm256_movemask_ps(_mm256_cmp_ps(bad, bad, _CMP_UNORD_Q)) != 0) {
                    r.sc.qd[g * NB + bi] = NAN;
                    r.sc.qd[(NH + g) * NB + bi] = 0.0f;
                    std::memset(qi, 0, kQueryBlock);
                    std::memset(qi2, 0, kQueryBlock);
                    continue;
                }
                r.sc.qd[g * NB + bi] = quantize_block_i8(x, qi, r.residual);
                r.sc.qd[(NH + g) * NB + bi] = r.residual ? quantize_block_i8(x, qi2, false) : 0.0f;
            }
            continue;
        }
        for (int64_t c = b0; c < b1; ++c) {
            const uint8_t* rc = grp + static_cast<size_t>(c) * rec;
            r.sc.sf[c] = avx2::half_to_float(avx2::load_u16(rc));
            r.sc.mf[c] = avx2::half_to_float(avx2::load_u16(rc + 2));
        }
        for (int g = 0; g < NH; ++g) {
            const float* q = r.q[g];
            float* qs = r.sc.qs + g * D;
            int8_t* qi = r.sc.qi + g * D;
            int8_t* qi2 = r.sc.qi + (NH + g) * D;
            __m256 bad = _mm256_setzero_ps();
            int64_t cc = b0;
            for (; cc + 8 <= b1; cc += 8) {
                const __m256 qv = _mm256_loadu_ps(q + cc);
                const __m256 x = _mm256_mul_ps(qv, _mm256_loadu_ps(r.sc.sf + cc));
                _mm256_storeu_ps(qs + cc, x);
                qmv[g] = _mm256_fmadd_ps(qv, _mm256_loadu_ps(r.sc.mf + cc), qmv[g]);
                bad = _mm256_or_ps(bad, _mm256_or_ps(_mm256_cmp_ps(x, x, _CMP_UNORD_Q), _mm256_cmp_ps(_mm256_andnot_ps(sign, x), inf, _CMP_EQ_OQ)));
            }
            bool nonfinite = _mm256_movemask_ps(bad) != 0;
            for (; cc < b1; ++cc) {
                const float x = q[cc] * r.sc.sf[cc];
                qs[cc] = x;
                qm_tail[g] += q[cc] * r.sc.mf[cc];
                nonfinite |= !(std::fabs(x) < INFINITY);
            }
            if (nonfinite) {
                r.sc.qd[g * NB + bi] = NAN;
                r.sc.qd[(NH + g) * NB + bi] = 0.0f;
                for (int64_t k = b0; k < b1; ++k) qi[k] = qi2[k] = 0;
                continue;
            }
            r.sc.qd[g * NB + bi] = quantize_i8(qs + b0, b1 - b0, qi + b0, r.residual ? qs + b0 : nullptr);
            r.sc.qd[(NH + g) * NB + bi] = r.residual ? quantize_i8(qs + b0, b1 - b0, qi2 + b0, nullptr) : 0.0f;
        }
    }
    for (int g = 0; g < NH; ++g) qm[g] = avx2::hsum(qmv[g]) + qm_tail[g];
}

// Raw dots of the 32 tokens of the chunk at segment token c0: per channel block the exact
// integers Σ qi·code and, with the residual, Σ qi2·code (one code unpack for both), then
// score = qm + Σ_b (d_b·int_b + d2_b·int2_b) (FMA, blocks in order, query before residual).
template <int NH>
void score_int8(const Run& r, const uint8_t* grp, const float* qm, int64_t c0, float (*s)[kBlock]) {
    const int64_t D = r.p->head_dim, NB = D / kQueryBlock + 1;
    const int G = r.seg->group_size;
    const size_t rec = kvq::key_record_bytes(r.seg->k_bits, G);
    const uint8_t* codes0 = grp + kvq::kMetaBytes + static_cast<size_t>(in_group(c0, G) / kBlock) * kvq::chunk_bytes(r.seg->k_bits);
    alignas(32) int32_t iv[2 * NH][kBlock];
    __m256 a[NH][kBlock / 8];
    for (int g = 0; g < NH; ++g)
        for (int v = 0; v < kBlock / 8; ++v) a[g][v] = _mm256_set1_ps(qm[g]);
    for (int64_t b0 = 0; b0 < D; b0 += kQueryBlock) {
        const int64_t n = avx2::min_i64(kQueryBlock, D - b0);
        const uint8_t* codes = codes0 + static_cast<size_t>(b0) * rec;
        const int64_t bi = b0 / kQueryBlock;
        if (!r.residual) {
            r.dot(codes, rec, n, r.sc.qi + b0, static_cast<size_t>(D), &iv[0][0]);
            for (int g = 0; g < NH; ++g) {
                const __m256 dv = _mm256_set1_ps(r.sc.qd[g * NB + bi]);
                for (int v = 0; v < kBlock / 8; ++v)
                    a[g][v] = _mm256_fmadd_ps(dv, _mm256_cvtepi32_ps(_mm256_load_si256(reinterpret_cast<const __m256i*>(iv[g] + 8 * v))), a[g][v]);
            }
            continue;
        }
        // Rows g and NH + g in one call (r.dot takes 2·NH weight rows), or two calls of NH.
        if constexpr (2 * NH <= 8) {
            r.dot(codes, rec, n, r.sc.qi + b0, static_cast<size_t>(D), &iv[0][0]);
        } else {
            r.dot(codes, rec, n, r.sc.qi + b0, static_cast<size_t>(D), &iv[0][0]);
            r.dot(codes, rec, n, r.sc.qi + NH * D + b0, static_cast<size_t>(D), &iv[NH][0]);
        }
        for (int g = 0; g < NH; ++g) {
            const __m256 dv = _mm256_set1_ps(r.sc.qd[g * NB + bi]), dv2 = _mm256_set1_ps(r.sc.qd[(NH + g) * NB + bi]);
            for (int v = 0; v < kBlock / 8; ++v) {
                a[g][v] = _mm256_fmadd_ps(dv, _mm256_cvtepi32_ps(_mm256_load_si256(reinterpret_cast<const __m256i*>(iv[g] + 8 * v))), a[g][v]);
                a[g][v] = _mm256_fmadd_ps(dv2, _mm256_cvtepi32_ps(_mm256_load_si256(reinterpret_cast<const __m256i*>(iv[NH + g] + 8 * v))), a[g][v]);
            }
        }
    }
    for (int g = 0; g < NH; ++g)
        for (int v = 0; v < kBlock / 8; ++v) _mm256_store_ps(s[g] + 8 * v, a[g][v]);
}

// Tokens jj .. jj+T-1 (rows kr, kr + D, ...): NH·T independent FMA chains, each token's
// dot computed exactly as alone. With T = 4 (4·D·2 bytes, one line per step of 8 channels)
// each step also prefetches one line at pk and one at pv (either may be null): the same
// tokens' keys and values a block ahead, spread over the loop (the window's rows are a
// stream the hardware prefetcher loses at every 4 KiB page).
template <int NH, int T>
inline void score_f16_tokens(const Run& r, const uint16_t* kr, int jj, float (*s)[kBlock], const char* pk = nullptr,
                             const char* pv = nullptr) {
    const int64_t D = r.p->head_dim;
    __m256 a[NH][T];
    for (int g = 0; g < NH; ++g)
        for (int t = 0; t < T; ++t) a[g][t] = _mm256_setzero_ps();
    int64_t d = 0;
    for (; d + 8 <= D; d += 8) {
        if constexpr (T == 4) {
            if (pk != nullptr) _mm_prefetch(pk + 8 * d, _MM_HINT_T0);
            if (pv != nullptr) _mm_prefetch(pv + 8 * d, _MM_HINT_T0);
        }
        for (int t = 0; t < T; ++t) {
            const __m256 kf = avx2::load_half8(kr + static_cast<size_t>(t * D + d));
            for (int g = 0; g < NH; ++g) a[g][t] = _mm256_fmadd_ps(kf, _mm256_loadu_ps(r.q[g] + d), a[g][t]);
        }
    }
    for (int t = 0; t < T; ++t)
        for (int g = 0; g < NH; ++g) {
            float dot = avx2::hsum(a[g][t]);
            for (int64_t dd = d; dd < D; ++dd) dot += r.q[g][dd] * avx2::half_to_float(kr[static_cast<size_t>(t * D + dd)]);
            s[g][jj + t] = dot;
        }
}

// Raw dots of tokens [c0 + ja, c0 + jb) of an fp16 key segment; other lanes 0. One or two
// rows (MHA decode) take four tokens at a time: a single token's chain of head_dim / 8
// dependent FMAs would leave the core waiting on FMA latency.
template <int NH>
void score_f16(const Run& r, int64_t c0, int ja, int jb, float (*s)[kBlock]) {
    constexpr int TT = NH <= 2 ? 4 : 1;
    const int64_t D = r.p->head_dim;
    const uint16_t* kh = r.seg->k16 + static_cast<size_t>(r.hk) * r.seg->k16_head_stride;
    for (int g = 0; g < NH; ++g)
        for (int j = 0; j < kBlock; ++j) s[g][j] = 0.0f;
    // Prefetch a block ahead where the rows are D·2 = DV·2 bytes (one line per step).
    const bool pf = TT == 4 && D == r.p->head_dim_v;
    const uint16_t* vh = r.seg->v_bits == kvq::kNotQuantized ? r.seg->v16 + static_cast<size_t>(r.hk) * r.seg->v16_head_stride : nullptr;
    int jj = ja;
    for (; jj + TT <= jb; jj += TT) {
        const size_t ahead = static_cast<size_t>((c0 + jj + kBlock) * D);
        score_f16_tokens<NH, TT>(r, kh + static_cast<size_t>((c0 + jj) * D), jj, s, pf ? reinterpret_cast<const char*>(kh + ahead) : nullptr,
                                 pf && vh != nullptr ? reinterpret_cast<const char*>(vh + ahead) : nullptr);
    }
    for (; jj < jb; ++jj) score_f16_tokens<NH, 1>(r, kh + static_cast<size_t>((c0 + jj) * D), jj, s);
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

// int8 mode (the contract of mixed_attention_int8q_ref): per channel group, the weights with
// the token scales folded in (ws_t = w_t·s_t, only the row's tokens [ra, rb), else 0) are
// quantized to int16 with one scale per (row, block, channel group) — d = max |ws| / 32767,
// qi = round_even(ws · (32767 / max |ws|)) — and acc_d += d · Σ_t qi_t·code_td (exact
// integers); Σ_t w_t·m_t goes to macc as on the fp32 path. (int16, not int8: softmax weights
// span orders of magnitude within a block, and int8 steps cost measurable perplexity.)
template <int NH>
void accum_int8(const Run& r, int64_t c0, int ja, int jb, const int* ra, const int* rb, const float (*w)[kBlock]) {
    const int64_t DV = r.p->head_dim_v, NC = DV / kBlock;
    const int G = r.seg->group_size, bits = r.seg->v_bits;
    const size_t rec = kvq::value_record_bytes(bits, G);
    const uint8_t* vh = r.seg->vq + static_cast<size_t>(r.hk) * r.seg->vq_head_stride;
    const size_t ts = r.seg->vq_token_stride;
    alignas(32) uint16_t s16[kBlock], m16[kBlock];
    alignas(32) int16_t qi[NH][kBlock];
    alignas(32) int32_t iv[NH][kBlock];
    float dq[NH];
    const __m256i lane = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
    const __m256 sign = _mm256_set1_ps(-0.0f);
    const bool whole = ja == 0 && jb == kBlock;  // else tokens past the segment must not be read
    if (!whole)
        for (int jj = 0; jj < kBlock; ++jj) s16[jj] = m16[jj] = 0;
    for (int64_t cg = 0; cg < DV / G; ++cg) {
        __m256 sf[kBlock / 8], mf[kBlock / 8];
        if (whole) {
            const uint8_t* rc = vh + static_cast<size_t>(c0) * ts + static_cast<size_t>(cg) * rec;
            for (int v = 0; v < kBlock / 8; ++v) load_scale_min8(rc + static_cast<size_t>(8 * v) * ts, ts, sf[v], mf[v]);
        } else {
            for (int jj = ja; jj < jb; ++jj) {
                const uint8_t* rc = vh + static_cast<size_t>(c0 + jj) * ts + static_cast<size_t>(cg) * rec;
                s16[jj] = avx2::load_u16(rc);
                m16[jj] = avx2::load_u16(rc + 2);
            }
            for (int v = 0; v < kBlock / 8; ++v) {
                sf[v] = avx2::load_half8(s16 + 8 * v);
                mf[v] = avx2::load_half8(m16 + 8 * v);
            }
        }
        for (int g = 0; g < NH; ++g) {
            const __m256i lo = _mm256_set1_epi32(ra[g]), hi = _mm256_set1_epi32(rb[g]);
            __m256 ws[kBlock / 8];
            __m256 amax = _mm256_setzero_ps(), bad = _mm256_setzero_ps(), msum = _mm256_setzero_ps();
            // A row that sees the whole block already has weight 0 nowhere it should not (its
            // softmax lanes outside [ra, rb) are exp(-inf)); others are masked here.
            const bool full = ra[g] == 0 && rb[g] == kBlock;
            for (int v = 0; v < kBlock / 8; ++v) {
                __m256 wv = _mm256_load_ps(w[g] + 8 * v);
                if (!full) {
                    const __m256i idx = _mm256_add_epi32(lane, _mm256_set1_epi32(8 * v));
                    wv = _mm256_and_ps(_mm256_castsi256_ps(_mm256_andnot_si256(_mm256_cmpgt_epi32(lo, idx), _mm256_cmpgt_epi32(hi, idx))), wv);
                }
                ws[v] = _mm256_mul_ps(wv, sf[v]);
                msum = _mm256_fmadd_ps(wv, mf[v], msum);
                amax = _mm256_max_ps(amax, _mm256_andnot_ps(sign, ws[v]));
                bad = _mm256_or_ps(bad, _mm256_sub_ps(ws[v], ws[v]));  // NaN bits iff NaN or ±inf
            }
            const float ms = avx2::hsum(msum);
            for (int k = 0; k < G / kBlock; ++k) r.sc.macc[g * (NC + 1) + cg * (G / kBlock) + k] += ms;
            const float am = avx2::hmax(amax);
            const bool nonfinite = _mm256_movemask_ps(_mm256_cmp_ps(bad, bad, _CMP_UNORD_Q)) != 0;
            if (nonfinite || am == 0.0f) {
                dq[g] = am == 0.0f && !nonfinite ? 0.0f : NAN;
                for (int jj = 0; jj < kBlock; ++jj) qi[g][jj] = 0;
                continue;
            }
            dq[g] = am / kValueQMax;
            const __m256 inv = _mm256_set1_ps(kValueQMax / am);
            for (int v = 0; v < kBlock / 8; ++v) {
                const __m256i x = _mm256_cvtps_epi32(_mm256_mul_ps(ws[v], inv));
                _mm_store_si128(reinterpret_cast<__m128i*>(&qi[g][8 * v]),
                                _mm_packs_epi32(_mm256_castsi256_si128(x), _mm256_extracti128_si256(x, 1)));
            }
        }
        for (int k = 0; k < G / kBlock; ++k) {
            const size_t code_off = static_cast<size_t>(cg) * rec + kvq::kMetaBytes + static_cast<size_t>(k) * kvq::chunk_bytes(bits);
            const int64_t d0 = cg * G + k * kBlock;
            r.vdot(vh + static_cast<size_t>(c0 + ja) * ts + code_off, ts, jb - ja, &qi[0][ja], kBlock, &iv[0][0]);
            for (int g = 0; g < NH; ++g) {
                const __m256 dv = _mm256_set1_ps(dq[g]);
                float* a = r.sc.acc + g * DV + d0;
                for (int v = 0; v < kBlock / 8; ++v)
                    _mm256_storeu_ps(a + 8 * v, _mm256_fmadd_ps(dv, _mm256_cvtepi32_ps(_mm256_load_si256(reinterpret_cast<const __m256i*>(iv[g] + 8 * v))),
                                                                _mm256_loadu_ps(a + 8 * v)));
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
    if (ja != 0 || jb != kBlock) {  // a partial block: lanes outside [ja, jb) -> -inf
        const __m256 neg_inf = _mm256_set1_ps(-INFINITY);
        const __m256i lo = _mm256_set1_epi32(ja), hi = _mm256_set1_epi32(jb);
        for (int c = 0; c < kBlock / 8; ++c) {
            const __m256i idx = _mm256_add_epi32(_mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7), _mm256_set1_epi32(8 * c));
            const __m256i in = _mm256_andnot_si256(_mm256_cmpgt_epi32(lo, idx), _mm256_cmpgt_epi32(hi, idx));
            sv[c] = _mm256_blendv_ps(neg_inf, sv[c], _mm256_castsi256_ps(in));
        }
    }
    __m256 mv = sv[0];
    for (int c = 1; c < kBlock / 8; ++c) mv = _mm256_max_ps(mv, sv[c]);
    const float bm = avx2::hmax(mv);
    const float m_new = bm > m ? bm : m;
    // A NaN score makes the head NaN, as in the reference: it flows through exp into l.
    // exp(0) = 1 without the call when the max holds (the common case deep in a context);
    // m = +inf keeps exp(inf - inf) = NaN, as in the reference.
    const float corr = m == -INFINITY ? 0.0f : (m_new == m && m != INFINITY ? 1.0f : std::exp(m - m_new));
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

// Prefetch for the block at segment token c0, kPrefetchBlocks ahead of its use: the pages
// that start in the quantized key group (when c0 starts one) and in the quantized value rows.
// (fp16 rows are prefetched a block ahead inside score_f16, one line per step: for their
// long runs that measured faster than page starts only.)
inline void prefetch_block(const MixedAttentionParams& p, const KvSegment& seg, int64_t hk, int64_t c0) {
    if (c0 >= seg.n_tokens) return;
    const int G = seg.group_size;
    if (seg.k_bits != kvq::kNotQuantized && in_group(c0, G) == 0)
        prefetch_range(seg.kq + static_cast<size_t>(hk) * seg.kq_head_stride + static_cast<size_t>(group_of(c0, G)) * seg.kq_group_stride,
                       kvq::key_group_bytes(seg.k_bits, G, p.head_dim));
    if (seg.v_bits != kvq::kNotQuantized) {
        const int64_t n = avx2::min_i64(kBlock, seg.n_tokens - c0);
        prefetch_range(seg.vq + static_cast<size_t>(hk) * seg.vq_head_stride + static_cast<size_t>(c0) * seg.vq_token_stride,
                       static_cast<size_t>(n - 1) * seg.vq_token_stride + kvq::value_row_bytes(seg.v_bits, G, p.head_dim_v));
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
// isa_int8: the code-dot variant of the int8 key mode, or null for the fp32 key path.
template <int NH>
void attend(const MixedAttentionParams& p, const Rows& rows, int64_t hk, const Scratch& sc, const CodeDotIsa* isa_int8) {
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
        const bool kq = seg.k_bits != kvq::kNotQuantized;
        const bool residual = p.query_residual || seg.k_bits == 8;
        const int n_w = residual && 2 * NH <= 8 ? 2 * NH : NH;
        const CodeDotFn dot = kq && isa_int8 != nullptr ? code_dot_fn(*isa_int8, seg.k_bits, n_w) : nullptr;
        const bool vq = seg.v_bits != kvq::kNotQuantized;
        const CodeDot16Fn vdot = vq && isa_int8 != nullptr ? code_dot16_fn(*isa_int8, seg.v_bits, NH) : nullptr;
        const Run r{&p, &seg, rows.q, hk, sc, dot, vdot, residual};
        const ScoreQuantFn<NH> score = kq ? (dot != nullptr ? &score_int8<NH> : pick_score<NH>(seg.k_bits)) : nullptr;
        const AccumFn<NH> accum = vdot != nullptr ? &accum_int8<NH> : pick_accum<NH>(seg.v_bits);
        // AVX-512: the VBMI blocks where the shape has them (bit-identical); the key and value
        // blocks take one row, the 16-lane softmax any row.
        const bool avx512 = isa_int8 != nullptr && *isa_int8 == CodeDotIsa::avx512;
        const bool one_row_512 = NH == 1 && avx512;
        const VbmiKeyGroupFn vbmi_key = one_row_512 && kq && !residual ? vbmi_key_group_fn(seg.k_bits, seg.group_size, p.head_dim) : nullptr;
        const VbmiValueBlockFn vbmi_value =
            one_row_512 && vq ? vbmi_value_block_fn(seg.v_bits, seg.group_size, DV, seg.vq_token_stride) : nullptr;
        const VbmiValueTileFn vbmi_tile =
            avx512 && vq && vbmi_value == nullptr ? vbmi_value_tile_fn(seg.v_bits, seg.group_size, DV, seg.vq_token_stride, NH) : nullptr;
        const uint8_t* vh = vq ? seg.vq + static_cast<size_t>(hk) * seg.vq_head_stride : nullptr;
        const VbmiSoftmaxFn vbmi_softmax = avx512 && p.softcap <= 0.0f ? vbmi_softmax_fn() : nullptr;
        const uint8_t* kh = kq ? seg.kq + static_cast<size_t>(hk) * seg.kq_head_stride : nullptr;
        int64_t prepared = -1;
        for (int64_t c0 = (a / kBlock) * kBlock; c0 < b; c0 += kBlock) {
            // kPrefetchBlocks ahead, continuing into the next segment (a page) near the end.
            const int64_t left = ((b - 1) / kBlock * kBlock - c0) / kBlock;  // blocks after this one
            if (left >= kPrefetchBlocks) {
                prefetch_block(p, seg, hk, c0 + kPrefetchBlocks * kBlock);
            } else if (si + 1 < p.n_segments) {
                prefetch_block(p, p.segments[si + 1], hk, (kPrefetchBlocks - 1 - left) * kBlock);
            }
            const int ja = static_cast<int>(avx2::max_i64(a - c0, 0));
            const int jb = static_cast<int>(avx2::min_i64(b - c0, kBlock));
            int ra[NH], rb[NH];
            for (int g = 0; g < NH; ++g) {
                ra[g] = static_cast<int>(avx2::min_i64(avx2::max_i64(ag[g] - c0, 0), kBlock));
                rb[g] = static_cast<int>(avx2::max_i64(avx2::min_i64(bg[g] - c0, kBlock), 0));
                if (ag[g] >= bg[g]) ra[g] = rb[g] = 0;
            }
            if (kq) {
                const int64_t gi = group_of(c0, seg.group_size);
                const uint8_t* grp = kh + static_cast<size_t>(gi) * seg.kq_group_stride;
                if (vbmi_key != nullptr) {
                    vbmi_key(rows.q[0], grp, p.head_dim, sc.qi, sc.qd, s[0]);  // G = 32: the group is this block
                } else if (gi != prepared) {
                    if (dot != nullptr) {
                        prepare_key_group_int8<NH>(r, grp, qm);
                    } else {
                        prepare_key_group<NH>(r, grp, qm);
                    }
                    prepared = gi;
                }
                if (vbmi_key == nullptr) score(r, grp, qm, c0, s);
            } else {
                score_f16<NH>(r, c0, ja, jb, s);
            }
            for (int g = 0; g < NH; ++g) {
                if (ra[g] >= rb[g]) continue;  // the row sees nothing in this block
                seen[g] = true;
                if (vbmi_softmax != nullptr && ra[g] == 0 && rb[g] == kBlock) {
                    vbmi_softmax(s[g], p.scale, m[g], l[g], sc.acc + g * DV, DV, sc.macc + g * (NC + 1), NC + 1);
                } else {
                    softmax_step(p, s[g], ra[g], rb[g], m[g], l[g], sc.acc + g * DV, sc.macc + g * (NC + 1), NC + 1);
                }
            }
            bool all_rows = ja == 0 && jb == kBlock;
            for (int g = 0; g < NH; ++g) all_rows = all_rows && ra[g] == 0 && rb[g] == kBlock;
            if (vbmi_value != nullptr && all_rows) {
                vbmi_value(s[0], vh + static_cast<size_t>(c0) * seg.vq_token_stride, sc.acc, sc.macc);
            } else if (vbmi_tile != nullptr && all_rows) {
                vbmi_tile(s[0], vh + static_cast<size_t>(c0) * seg.vq_token_stride, seg.vq_token_stride, sc.acc, sc.macc);
            } else {
                accum(r, c0, ja, jb, ra, rb, s);
            }
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
// once per query token. One query token (decode) with 3 heads left on the kv head (GQA 3)
// runs them as one tile of 3 rather than 2 + 1, which would read the kv head twice.
void mixed_attention_avx2(const MixedAttentionParams& p, const Scratch& sc, const CodeDotIsa* isa_int8) {
    const int64_t group = p.n_head / p.n_head_kv;
    for (int64_t h = p.head_begin; h < p.head_end;) {
        const int64_t hk = h / group;
        const int64_t left = avx2::min_i64(p.head_end - h, (hk + 1) * group - h);
        const int nh = p.n_q == 1 && left == 3 ? 3 : pow2_floor8(left);
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
                case 8: attend<8>(p, rows, hk, sc, isa_int8); break;
                case 4: attend<4>(p, rows, hk, sc, isa_int8); break;
                case 3: attend<3>(p, rows, hk, sc, isa_int8); break;
                case 2: attend<2>(p, rows, hk, sc, isa_int8); break;
                default: attend<1>(p, rows, hk, sc, isa_int8); break;
            }
            t0 += nt;
        }
        h += nh;
    }
}

}  // namespace
KVMIX_AVX2_END
#endif

bool mixed_attention_path_available(MixedAttentionPath path) {
    switch (path) {
        case MixedAttentionPath::best:
        case MixedAttentionPath::scalar: return true;
        case MixedAttentionPath::avx2_fp32:
        case MixedAttentionPath::avx2_int8: return cpu_has_avx2_fma_f16c();
        case MixedAttentionPath::avx_vnni_int8: return cpu_has_avx_vnni();
        case MixedAttentionPath::avx512_vnni_int8: return cpu_has_avx512_vnni();
    }
    return false;
}

MixedAttentionPath mixed_attention_best_path() {
    if (cpu_has_avx512_vnni()) return MixedAttentionPath::avx512_vnni_int8;
    if (cpu_has_avx_vnni()) return MixedAttentionPath::avx_vnni_int8;
    if (cpu_has_avx2_fma_f16c()) return MixedAttentionPath::avx2_int8;
    return MixedAttentionPath::scalar;
}

void mixed_attention_cpu_path(const MixedAttentionParams& p, MixedAttentionPath path) {
    mixed_attention_check_params(p);
    if (path == MixedAttentionPath::best) path = mixed_attention_best_path();
    KVMIX_ASSERT(mixed_attention_path_available(path));
#if KVMIX_CPU_X86
    if (path != MixedAttentionPath::scalar) {
        CodeDotIsa isa = CodeDotIsa::avx2;
        if (path == MixedAttentionPath::avx_vnni_int8) isa = CodeDotIsa::avx_vnni;
        if (path == MixedAttentionPath::avx512_vnni_int8) isa = CodeDotIsa::avx512;
        // Stack scratch for the common head sizes; a heap buffer otherwise.
        constexpr int64_t kLocalFloats = scratch_floats(kLocalDim, kLocalDim);
        alignas(32) float local[kLocalFloats];
        std::vector<float> heap;
        float* buf = local;
        if (p.head_dim > kLocalDim || p.head_dim_v > kLocalDim) {
            heap.resize(static_cast<size_t>(scratch_floats(p.head_dim, p.head_dim_v)));
            buf = heap.data();
        }
        mixed_attention_avx2(p, carve_scratch(buf, p.head_dim, p.head_dim_v), path == MixedAttentionPath::avx2_fp32 ? nullptr : &isa);
        return;
    }
#endif
    mixed_attention_ref(p);
}

void mixed_attention_cpu(const MixedAttentionParams& p) { mixed_attention_cpu_path(p, MixedAttentionPath::best); }

}  // namespace kvmix
