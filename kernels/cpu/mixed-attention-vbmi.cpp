#include "cpu/mixed-attention-vbmi.h"

#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstring>

#include "common/kv-quant-format.h"
#include "cpu/cpu-features.h"
#include "cpu/simd-avx2.h"
#include "ref/mixed-attention.h"

namespace kvmix {
namespace {

// 2-bit, G = 32: a record is [fp16 s][fp16 min][8 code bytes]; code byte k holds codes
// k, k + 8, k + 16, k + 24 at shifts 0, 2, 4, 6.
constexpr int kRec = static_cast<int>(kvq::record_bytes(2, 32));
constexpr int kValueRow = 4 * kRec;  // head_dim_v 128: four channel groups per token
static_assert(kRec == 12 && kvq::chunk_bytes(2) == 8 && kMixedQueryBlock == 32);

struct Index64 {
    uint8_t b[64];
};

// 32 fp16 scale/min words from a 192-byte span, gathered by three single-source VPERMB of
// the windows at 0, 60 and 120 (a byte from the first window that holds it), merged by mask:
// cheaper on port 5 than two two-source VPERMT2B and a blend.
constexpr int kMetaWindow[3] = {0, 60, 120};
constexpr int kMetaSpan = 192;
struct MetaGather {
    Index64 index[3];
    uint64_t mask[3];  // bytes taken from window k (mask[0]: the rest, unused)
};
// src(i): the span offset of output byte i.
template <class Src>
constexpr MetaGather meta_gather(Src src) {
    MetaGather g{};
    for (int i = 0; i < 64; ++i) {
        const int o = src(i), k = o < kMetaWindow[1] + 64 ? (o < 64 ? 0 : 1) : 2;
        g.index[k].b[i] = static_cast<uint8_t>(o - kMetaWindow[k]);
        g.mask[k] |= 1ull << i;
    }
    return g;
}
// Key: 16 channels (records at 12c): word c = s_c, word 16 + c = min_c.
constexpr int key_meta_src(int i) { return kRec * ((i / 2) % 16) + (i / 2 >= 16 ? 2 : 0) + i % 2; }
static_assert(kRec * 15 + 3 < kMetaSpan && kMetaWindow[2] + 64 <= kMetaSpan);

// The code bytes of four key channels (chunks at 12j from the first): dword lane L, byte j =
// code byte L % 8 of channel j, so lanes 0-7 and 8-15 hold the same bytes.
constexpr Index64 key_quad_index() {
    Index64 x{};
    for (int i = 0; i < 64; ++i) x.b[i] = static_cast<uint8_t>(kRec * (i % 4) + (i / 4) % 8);
    return x;
}
constexpr int kKeyQuadSpan = kRec * 3 + 8;  // bytes a quad's window needs

// Value: four rows (48 bytes each): word 4cg + j = s of token j, channel group cg; word
// 16 + 4cg + j = its min.
constexpr int value_meta_src(int i) {
    const int w = (i / 2) % 16;
    return kValueRow * (w % 4) + kRec * (w / 4) + (i / 2 >= 16 ? 2 : 0) + i % 2;
}
static_assert(kValueRow * 4 == kMetaSpan);

// Codes of a token pair for one channel group, from a 64-byte window that starts at the first
// token's code bytes: dword lane L = [code byte L % 8 of the first token, 0, the same byte of
// the second (48 bytes on), 0] (bytes 1 and 3 zeroed by the permute's mask), so each 16-bit
// half holds one token's byte. One single-source VPERMB per pair and group: a two-source
// VPERMT2B costs this CPU family twice the port time.
constexpr Index64 value_pair_index() {
    Index64 x{};
    for (int i = 0; i < 64; ++i) x.b[i] = static_cast<uint8_t>((i % 4 < 2 ? 0 : kValueRow) + (i / 4) % 8);
    return x;
}
// Bytes a pair's window may read: the block's last pair, last group ends the block there.
constexpr int kValuePairSpan = kValueRow + 8;
constexpr uint64_t kEvenBytes = 0x5555555555555555ull;

struct Tables {
    MetaGather key_meta, value_meta;
    Index64 key_quad, value_pair;
};
constexpr Tables make_tables() {
    Tables t{};
    t.key_meta = meta_gather(key_meta_src);
    t.key_quad = key_quad_index();
    t.value_meta = meta_gather(value_meta_src);
    t.value_pair = value_pair_index();
    return t;
}
alignas(64) constexpr Tables kTables = make_tables();

}  // namespace
}  // namespace kvmix

#if KVMIX_CPU_X86
KVMIX_AVX512_HEADER_WARNINGS_OFF
KVMIX_AVX512VBMI_BEGIN
namespace kvmix {
namespace {

inline __m512i load_index(const Index64& x) { return _mm512_load_si512(x.b); }

// The 32 words of g from the span at p (kMetaSpan bytes readable).
inline __m512i gather_meta(const MetaGather& g, const uint8_t* p) {
    __m512i x = _mm512_permutexvar_epi8(load_index(g.index[0]), _mm512_loadu_si512(p + kMetaWindow[0]));
    x = _mm512_mask_permutexvar_epi8(x, g.mask[1], load_index(g.index[1]), _mm512_loadu_si512(p + kMetaWindow[1]));
    return _mm512_mask_permutexvar_epi8(x, g.mask[2], load_index(g.index[2]), _mm512_loadu_si512(p + kMetaWindow[2]));
}

// Lanes 0-7 keep the bit pair of shift 2·s0, lanes 8-15 that of 2·(s0 + 1); the int32 sums
// of their products are then 4^s times the codes' sums, undone by shift_positions.
inline __m512i position_mask(int s0) {
    const __m256i lo = _mm256_set1_epi32(static_cast<int>(0x03030303u << (2 * s0)));
    const __m256i hi = _mm256_set1_epi32(static_cast<int>(0x03030303u << (2 * s0 + 2)));
    return _mm512_inserti64x4(_mm512_castsi256_si512(lo), hi, 1);
}
inline __m512i position_shift(int s0) {
    return _mm512_inserti64x4(_mm512_castsi256_si512(_mm256_set1_epi32(2 * s0)), _mm256_set1_epi32(2 * s0 + 2), 1);
}


// ---- keys: one query row, G = 32, 2-bit ------------------------------------------------

// 16 channels' (s, min) from their records at p (192 bytes): s and min as fp32.
inline void key_meta16(const uint8_t* p, __m512& s, __m512& m) {
    const __m512i sm = gather_meta(kTables.key_meta, p);
    s = _mm512_cvtph_ps(_mm512_castsi512_si256(sm));
    m = _mm512_cvtph_ps(_mm512_extracti64x4_epi64(sm, 1));
}

// The largest element of each of a, b, c, d (any order of comparisons gives the same max),
// as the four lanes of an xmm: two 128-bit shuffles per pair, then within the lanes.
inline __m128 max4(__m512 a, __m512 b, __m512 c, __m512 d) {
    const __m512 ab = _mm512_max_ps(_mm512_shuffle_f32x4(a, b, 0x44), _mm512_shuffle_f32x4(a, b, 0xEE));
    const __m512 cd = _mm512_max_ps(_mm512_shuffle_f32x4(c, d, 0x44), _mm512_shuffle_f32x4(c, d, 0xEE));
    __m512 m = _mm512_max_ps(_mm512_shuffle_f32x4(ab, cd, 0x88), _mm512_shuffle_f32x4(ab, cd, 0xDD));
    m = _mm512_max_ps(m, _mm512_permute_ps(m, 0x4E));
    m = _mm512_max_ps(m, _mm512_permute_ps(m, 0xB1));
    return _mm512_castps512_ps128(_mm512_permutexvar_ps(_mm512_setr_epi32(0, 4, 8, 12, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0), m));
}

void key_group_k2g32(const float* q, const uint8_t* grp, int64_t D, int8_t* qi, float* qd, float* s) {
    // Per 32-channel block, as prepare_key_group_int8: qs = q·s, the NaN/inf check, the int8
    // query with d = max|qs| / 127; qm = Σ q·min in 8-lane chains over the channels in order.
    // Up to four blocks at a time share one max reduction and one division for d and 1/d.
    __m256 qmv = _mm256_setzero_ps();
    const __m512 sign = _mm512_set1_ps(-0.0f);
    for (int64_t c0 = 0; c0 < D; c0 += 4 * kMixedQueryBlock) {
        const int nb = static_cast<int>(avx2::min_i64(4, (D - c0) / kMixedQueryBlock));
        __m512 x[8], ax[4];
        __mmask16 bad_block = 0;  // bit b: block b has a NaN or ±inf q·s
        for (int b = 0; b < 4; ++b) {
            if (b >= nb) {
                ax[b] = _mm512_setzero_ps();
                continue;
            }
            __m512 bad = _mm512_setzero_ps();
            for (int h = 0; h < 2; ++h) {
                const int64_t c = c0 + b * kMixedQueryBlock + 16 * h;
                __m512 sv, mv;
                key_meta16(grp + static_cast<size_t>(c) * kRec, sv, mv);
                const __m512 qv = _mm512_loadu_ps(q + c);
                x[2 * b + h] = _mm512_mul_ps(qv, sv);
                qmv = _mm256_fmadd_ps(_mm512_castps512_ps256(qv), _mm512_castps512_ps256(mv), qmv);
                qmv = _mm256_fmadd_ps(_mm512_extractf32x8_ps(qv, 1), _mm512_extractf32x8_ps(mv, 1), qmv);
                bad = _mm512_or_ps(bad, _mm512_sub_ps(x[2 * b + h], x[2 * b + h]));  // NaN bits iff NaN or ±inf
            }
            ax[b] = _mm512_max_ps(_mm512_andnot_ps(sign, x[2 * b]), _mm512_andnot_ps(sign, x[2 * b + 1]));
            if (_mm512_cmp_ps_mask(bad, bad, _CMP_UNORD_Q) != 0) bad_block = static_cast<__mmask16>(bad_block | (1u << b));
        }
        const __m128 am = max4(ax[0], ax[1], ax[2], ax[3]);
        // d = 0 for an all-zero block, NaN for a non-finite one; its int8 query is 0.
        const __m128 d = _mm_mask_mov_ps(_mm_div_ps(am, _mm_set1_ps(127.0f)), bad_block, _mm_set1_ps(NAN));
        alignas(16) float inv[4];
        _mm_store_ps(inv, _mm_div_ps(_mm_set1_ps(127.0f), am));
        const __mmask16 zero_block = _mm_cmp_ps_mask(am, _mm_setzero_ps(), _CMP_EQ_OQ);
        alignas(16) float dd[4];
        _mm_store_ps(dd, d);
        for (int b = 0; b < nb; ++b) {
            const int64_t c = c0 + b * kMixedQueryBlock;
            qd[c / kMixedQueryBlock] = dd[b];
            const __mmask16 keep = ((bad_block | zero_block) >> b) & 1 ? 0 : 0xFFFF;
            const __m512 iv = _mm512_set1_ps(inv[b]);
            for (int h = 0; h < 2; ++h)
                _mm_storeu_si128(reinterpret_cast<__m128i*>(qi + c + 16 * h),
                                 _mm512_cvtsepi32_epi8(_mm512_maskz_cvtps_epi32(keep, _mm512_mul_ps(x[2 * b + h], iv))));
        }
    }
    // Dots, as score_int8: per block the exact Σ qi·code for tokens 0-15 (a01) and 16-31 (a23),
    // then score = qm + Σ_b d_b·int_b by FMA in block order.
    const float qm = avx2::hsum(qmv);
    __m512 a01 = _mm512_set1_ps(qm), a23 = a01;
    const __m512i quad = load_index(kTables.key_quad);
    const __m512i mask01 = position_mask(0), mask23 = position_mask(2);
    const __m512i sh01 = position_shift(0), sh23 = position_shift(2);
    const uint8_t* end = grp + static_cast<size_t>(D) * kRec;
    for (int64_t b0 = 0; b0 < D; b0 += kMixedQueryBlock) {
        __m512i i01 = _mm512_setzero_si512(), i23 = _mm512_setzero_si512();
        for (int j = 0; j < kMixedQueryBlock / 4; ++j) {
            const uint8_t* p = grp + static_cast<size_t>(b0 + 4 * j) * kRec + kvq::kMetaBytes;
            // The group's last quad: a full 64-byte load would read past the group.
            const __m512i win = end - p >= 64 ? _mm512_loadu_si512(p) : _mm512_maskz_loadu_epi8((1ull << kKeyQuadSpan) - 1, p);
            const __m512i codes = _mm512_permutexvar_epi8(quad, win);
            int32_t wq;
            std::memcpy(&wq, qi + b0 + 4 * j, sizeof wq);
            const __m512i wv = _mm512_set1_epi32(wq);
            i01 = _mm512_dpbusd_epi32(i01, _mm512_and_si512(codes, mask01), wv);
            i23 = _mm512_dpbusd_epi32(i23, _mm512_and_si512(codes, mask23), wv);
        }
        const __m512 dv = _mm512_set1_ps(qd[b0 / kMixedQueryBlock]);
        a01 = _mm512_fmadd_ps(dv, _mm512_cvtepi32_ps(_mm512_srav_epi32(i01, sh01)), a01);
        a23 = _mm512_fmadd_ps(dv, _mm512_cvtepi32_ps(_mm512_srav_epi32(i23, sh23)), a23);
    }
    _mm512_storeu_ps(s, a01);
    _mm512_storeu_ps(s + 16, a23);
}

// ---- values: one row, whole block, G = 32, 2-bit, head_dim_v 128 ---------------------------

void value_block_v2g32(const float* w, const uint8_t* rows, float* acc, float* macc) {
    constexpr int kGroups = 4;
    // Scale/min per channel group in token order: s01[v] lanes 0-7 = group 0, tokens 8v..8v+7,
    // lanes 8-15 = group 1; s23[v] groups 2 and 3 (likewise m).
    const __m512i lo8 = _mm512_setr_epi32(0, 1, 2, 3, 16, 17, 18, 19, 4, 5, 6, 7, 20, 21, 22, 23);
    const __m512i hi8 = _mm512_setr_epi32(8, 9, 10, 11, 24, 25, 26, 27, 12, 13, 14, 15, 28, 29, 30, 31);
    const __m512 sign = _mm512_set1_ps(-0.0f);
    __m512 ws[2][4];  // [group pair][v]
    __m512 msum[2] = {_mm512_setzero_ps(), _mm512_setzero_ps()};
    __m512 amax[2] = {_mm512_setzero_ps(), _mm512_setzero_ps()};
    __m512 bad[2] = {_mm512_setzero_ps(), _mm512_setzero_ps()};
    for (int v = 0; v < 4; ++v) {
        __m512 s4[2], m4[2];
        for (int h = 0; h < 2; ++h) {
            const uint8_t* p = rows + static_cast<size_t>(8 * v + 4 * h) * kValueRow;
            const __m512i sm = gather_meta(kTables.value_meta, p);
            s4[h] = _mm512_cvtph_ps(_mm512_castsi512_si256(sm));
            m4[h] = _mm512_cvtph_ps(_mm512_extracti64x4_epi64(sm, 1));
        }
        const __m512 wv = _mm512_broadcast_f32x8(_mm256_loadu_ps(w + 8 * v));
        const __m512 s_pair[2] = {_mm512_permutex2var_ps(s4[0], lo8, s4[1]), _mm512_permutex2var_ps(s4[0], hi8, s4[1])};
        const __m512 m_pair[2] = {_mm512_permutex2var_ps(m4[0], lo8, m4[1]), _mm512_permutex2var_ps(m4[0], hi8, m4[1])};
        for (int gp = 0; gp < 2; ++gp) {
            ws[gp][v] = _mm512_mul_ps(wv, s_pair[gp]);
            msum[gp] = _mm512_fmadd_ps(wv, m_pair[gp], msum[gp]);
            amax[gp] = _mm512_max_ps(amax[gp], _mm512_andnot_ps(sign, ws[gp][v]));
            bad[gp] = _mm512_or_ps(bad[gp], _mm512_sub_ps(ws[gp][v], ws[gp][v]));  // NaN bits iff NaN or ±inf
        }
    }
    // Per group, as accum_int8: Σ w·min to macc, int16 weights with d = max|w·s| / 32767
    // (0 and NaN as there), stored per group in token order. The four groups' sums, maxima
    // and divisions run side by side; each sum adds its lanes in avx2::hsum's order.
    const __m512 x = _mm512_add_ps(_mm512_shuffle_f32x4(msum[0], msum[1], 0x88), _mm512_shuffle_f32x4(msum[0], msum[1], 0xDD));
    const __m512 y = _mm512_add_ps(x, _mm512_permute_ps(x, 0xEE));
    const __m512 z = _mm512_add_ps(y, _mm512_permute_ps(y, 0xF5));
    const __m512i lane0 = _mm512_setr_epi32(0, 4, 8, 12, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0);
    _mm_storeu_ps(macc, _mm_add_ps(_mm_loadu_ps(macc), _mm512_castps512_ps128(_mm512_permutexvar_ps(lane0, z))));
    __m512 mx = _mm512_max_ps(_mm512_shuffle_f32x4(amax[0], amax[1], 0x88), _mm512_shuffle_f32x4(amax[0], amax[1], 0xDD));
    mx = _mm512_max_ps(mx, _mm512_permute_ps(mx, 0x4E));
    mx = _mm512_max_ps(mx, _mm512_permute_ps(mx, 0xB1));
    const __m128 am = _mm512_castps512_ps128(_mm512_permutexvar_ps(lane0, mx));
    __mmask8 nonfinite = 0;  // bit cg
    for (int gp = 0; gp < 2; ++gp) {
        const __mmask16 nan_lanes = _mm512_cmp_ps_mask(bad[gp], bad[gp], _CMP_UNORD_Q);
        nonfinite = static_cast<__mmask8>(nonfinite | ((nan_lanes & 0x00FF) != 0 ? 1 << (2 * gp) : 0) | ((nan_lanes & 0xFF00) != 0 ? 2 << (2 * gp) : 0));
    }
    const __mmask8 skip = static_cast<__mmask8>(nonfinite | _mm_cmp_ps_mask(am, _mm_setzero_ps(), _CMP_EQ_OQ));
    alignas(16) float dq[kGroups];
    _mm_store_ps(dq, _mm_mask_mov_ps(_mm_div_ps(am, _mm_set1_ps(static_cast<float>(kMixedValueQMax))), nonfinite, _mm_set1_ps(NAN)));
    const __m512 inv4 = _mm512_castps128_ps512(_mm_div_ps(_mm_set1_ps(static_cast<float>(kMixedValueQMax)), am));
    alignas(64) int16_t wq[kGroups][32];
    for (int gp = 0; gp < 2; ++gp) {
        const __m512 iv = _mm512_permutexvar_ps(_mm512_inserti64x4(_mm512_set1_epi32(2 * gp), _mm256_set1_epi32(2 * gp + 1), 1), inv4);
        // A skipped group (all-zero or non-finite w·s) gets weights 0, as on the generic path.
        const __mmask16 keep = static_cast<__mmask16>(((skip >> (2 * gp)) & 1 ? 0 : 0x00FF) | ((skip >> (2 * gp + 1)) & 1 ? 0 : 0xFF00));
        for (int v = 0; v < 4; ++v) {
            const __m256i q16 = _mm512_cvtsepi32_epi16(_mm512_cvtps_epi32(_mm512_maskz_mul_ps(keep, ws[gp][v], iv)));
            _mm_store_si128(reinterpret_cast<__m128i*>(wq[2 * gp] + 8 * v), _mm256_castsi256_si128(q16));
            _mm_store_si128(reinterpret_cast<__m128i*>(wq[2 * gp + 1] + 8 * v), _mm256_extracti128_si256(q16, 1));
        }
    }
    // Dots: per token pair and group, 16-bit lanes [first token's code byte, second's] against
    // the pair's two int16 weights; lanes 0-15 of acc[cg][0] are channels 32cg .. +15 and of
    // acc[cg][1] channels 32cg + 16 .. +31.
    const __m512i mask01 = position_mask(0), mask23 = position_mask(2);
    const __m512i word01 = _mm512_and_si512(mask01, _mm512_set1_epi32(0x00FF00FF));
    const __m512i word23 = _mm512_and_si512(mask23, _mm512_set1_epi32(0x00FF00FF));
    __m512i iacc[kGroups][2];
    for (int cg = 0; cg < kGroups; ++cg) iacc[cg][0] = iacc[cg][1] = _mm512_setzero_si512();
    const __m512i pair_index = load_index(kTables.value_pair);
    for (int t = 0; t < kMixedQueryBlock; t += 2) {
        for (int cg = 0; cg < kGroups; ++cg) {
            const uint8_t* p = rows + static_cast<size_t>(t) * kValueRow + kRec * cg + kvq::kMetaBytes;
            // The block's last window would read 8 bytes past its rows.
            const __m512i win = t == kMixedQueryBlock - 2 && cg == kGroups - 1 ? _mm512_maskz_loadu_epi8((1ull << kValuePairSpan) - 1, p)
                                                                                 : _mm512_loadu_si512(p);
            const __m512i codes = _mm512_maskz_permutexvar_epi8(kEvenBytes, pair_index, win);
            int32_t wp;
            std::memcpy(&wp, &wq[cg][t], sizeof wp);
            const __m512i wv = _mm512_set1_epi32(wp);
            iacc[cg][0] = _mm512_dpwssd_epi32(iacc[cg][0], _mm512_and_si512(codes, word01), wv);
            iacc[cg][1] = _mm512_dpwssd_epi32(iacc[cg][1], _mm512_and_si512(codes, word23), wv);
        }
    }
    const __m512i sh01 = position_shift(0), sh23 = position_shift(2);
    for (int cg = 0; cg < kGroups; ++cg) {
        const __m512 dv = _mm512_set1_ps(dq[cg]);
        float* a = acc + 32 * cg;
        _mm512_storeu_ps(a, _mm512_fmadd_ps(dv, _mm512_cvtepi32_ps(_mm512_srav_epi32(iacc[cg][0], sh01)), _mm512_loadu_ps(a)));
        _mm512_storeu_ps(a + 16, _mm512_fmadd_ps(dv, _mm512_cvtepi32_ps(_mm512_srav_epi32(iacc[cg][1], sh23)), _mm512_loadu_ps(a + 16)));
    }
}

// ---- values: a tile of NH rows, whole block, G = 64, 2-bit, head_dim_v 64 or 128 -------------

// One record per token and channel group of 64: [fp16 s][fp16 min][16 code bytes]; a token's
// records are adjacent, tokens ts bytes apart (ts <= kTileStrideMax, so two tokens' codes
// of a group share a 64-byte window).
constexpr int kTileRec = static_cast<int>(kvq::value_record_bytes(2, 64));
constexpr int kTileCodes = 2 * static_cast<int>(kvq::chunk_bytes(2));  // code bytes per record
constexpr int kTileGroup = 64;
constexpr size_t kTileStrideMax = 64 - kTileCodes;
static_assert(kTileRec == 20 && kTileCodes == 16);

// One channel group: rec0 = its record of the block's first token; acc [NH] rows dv apart
// (this group's 64 channels), macc [NH] rows n_macc apart (this group's two 32-channel slots).
template <int NH>
void value_tile_group(const float* w, const uint8_t* rec0, size_t ts, float* acc, int64_t dv, float* macc, int64_t n_macc) {
    // Scale and min of the 32 tokens: dword t of the gathers = [s_t | min_t].
    const __m512i lane = _mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15);
    const __m512i off = _mm512_mullo_epi32(lane, _mm512_set1_epi32(static_cast<int>(ts)));
    __m512 sf[2], mf[2];
    for (int h = 0; h < 2; ++h) {
        const __m512i sm = _mm512_i32gather_epi32(off, rec0 + static_cast<size_t>(16 * h) * ts, 1);
        sf[h] = _mm512_cvtph_ps(_mm512_cvtepi32_epi16(sm));
        mf[h] = _mm512_cvtph_ps(_mm512_cvtepi32_epi16(_mm512_srli_epi32(sm, 16)));
    }
    const __m256 m8[4] = {_mm512_castps512_ps256(mf[0]), _mm512_extractf32x8_ps(mf[0], 1), _mm512_castps512_ps256(mf[1]),
                          _mm512_extractf32x8_ps(mf[1], 1)};
    // Per row, as accum_int8: Σ w·min in its 8-lane chain and avx2::hsum's order (to both
    // 32-channel slots of the group), the weights w·s to int16 with d = max|w·s| / 32767 (0 and
    // NaN as there).
    alignas(64) int16_t wq[NH][kMixedQueryBlock];
    float dq[NH];
    const __m512 sign = _mm512_set1_ps(-0.0f);
    for (int g = 0; g < NH; ++g) {
        const float* wg = w + g * kMixedQueryBlock;
        __m256 msum = _mm256_setzero_ps();
        for (int v = 0; v < 4; ++v) msum = _mm256_fmadd_ps(_mm256_loadu_ps(wg + 8 * v), m8[v], msum);
        const float ms = avx2::hsum(msum);
        macc[g * n_macc] += ms;
        macc[g * n_macc + 1] += ms;
        const __m512 ws0 = _mm512_mul_ps(_mm512_loadu_ps(wg), sf[0]), ws1 = _mm512_mul_ps(_mm512_loadu_ps(wg + 16), sf[1]);
        const __m512 bad = _mm512_or_ps(_mm512_sub_ps(ws0, ws0), _mm512_sub_ps(ws1, ws1));  // NaN bits iff NaN or ±inf
        const bool nonfinite = _mm512_cmp_ps_mask(bad, bad, _CMP_UNORD_Q) != 0;
        const float am = _mm512_reduce_max_ps(_mm512_max_ps(_mm512_andnot_ps(sign, ws0), _mm512_andnot_ps(sign, ws1)));
        if (nonfinite || am == 0.0f) {
            dq[g] = am == 0.0f && !nonfinite ? 0.0f : NAN;
            _mm512_store_si512(wq[g], _mm512_setzero_si512());
            continue;
        }
        dq[g] = am / static_cast<float>(kMixedValueQMax);
        const __m512 inv = _mm512_set1_ps(static_cast<float>(kMixedValueQMax) / am);
        _mm256_store_si256(reinterpret_cast<__m256i*>(wq[g]), _mm512_cvtsepi32_epi16(_mm512_cvtps_epi32(_mm512_mul_ps(ws0, inv))));
        _mm256_store_si256(reinterpret_cast<__m256i*>(wq[g] + 16), _mm512_cvtsepi32_epi16(_mm512_cvtps_epi32(_mm512_mul_ps(ws1, inv))));
    }
    // Dots: per token pair one VPERMB of a window at the first token's codes: dword lane L =
    // [code byte L of the first token, 0, the same of the second (ts bytes on), 0] (lanes 0-7:
    // chunk 0, 8-15: chunk 1); the bit pair at shift 2f of each word, against the pair's two
    // int16 weights, sums 4^f times the codes of channel 32·(L / 8) + 8f + L % 8.
    const __m512i pidx = _mm512_or_si512(lane, _mm512_slli_epi32(_mm512_add_epi32(lane, _mm512_set1_epi32(static_cast<int>(ts))), 16));
    __m512i iacc[NH][4];
    for (int g = 0; g < NH; ++g)
        for (int f = 0; f < 4; ++f) iacc[g][f] = _mm512_setzero_si512();
    const __m512i field[4] = {_mm512_set1_epi16(0x03), _mm512_set1_epi16(0x0C), _mm512_set1_epi16(0x30), _mm512_set1_epi16(0xC0)};
    const auto dots = [&](int t, __m512i win) {
        const __m512i codes = _mm512_maskz_permutexvar_epi8(kEvenBytes, pidx, win);
        __m512i x[4];
        for (int f = 0; f < 4; ++f) x[f] = _mm512_and_si512(codes, field[f]);
        for (int g = 0; g < NH; ++g) {
            int32_t wp;
            std::memcpy(&wp, &wq[g][t], sizeof wp);
            const __m512i wv = _mm512_set1_epi32(wp);
            for (int f = 0; f < 4; ++f) iacc[g][f] = _mm512_dpwssd_epi32(iacc[g][f], x[f], wv);
        }
    };
    const uint8_t* codes0 = rec0 + kvq::kMetaBytes;
#pragma GCC unroll 16
    for (int t = 0; t < kMixedQueryBlock - 2; t += 2) dots(t, _mm512_loadu_si512(codes0 + static_cast<size_t>(t) * ts));
    // The last pair's window could read past the block: only its two tokens' bytes are loaded.
    const uint64_t last = ts + kTileCodes >= 64 ? ~0ull : (1ull << (ts + kTileCodes)) - 1;
    dots(kMixedQueryBlock - 2, _mm512_maskz_loadu_epi8(last, codes0 + static_cast<size_t>(kMixedQueryBlock - 2) * ts));
    for (int g = 0; g < NH; ++g) {
        const __m256 d = _mm256_set1_ps(dq[g]);
        float* a = acc + g * dv;
        // Exact: every product of field f carries the factor 4^f.
        const __m512 xs[4] = {_mm512_cvtepi32_ps(iacc[g][0]), _mm512_cvtepi32_ps(_mm512_srai_epi32(iacc[g][1], 2)),
                              _mm512_cvtepi32_ps(_mm512_srai_epi32(iacc[g][2], 4)), _mm512_cvtepi32_ps(_mm512_srai_epi32(iacc[g][3], 6))};
        for (int f = 0; f < 4; ++f) {
            float* lo = a + 8 * f;
            float* hi = a + kMixedQueryBlock + 8 * f;
            _mm256_storeu_ps(lo, _mm256_fmadd_ps(d, _mm512_castps512_ps256(xs[f]), _mm256_loadu_ps(lo)));
            _mm256_storeu_ps(hi, _mm256_fmadd_ps(d, _mm512_extractf32x8_ps(xs[f], 1), _mm256_loadu_ps(hi)));
        }
    }
}

// The groups one after another, as accum_int8 takes them (NG = head_dim_v / 64).
template <int NH, int NG>
void value_tile_v2g64(const float* w, const uint8_t* rows, size_t ts, float* acc, float* macc) {
    constexpr int64_t DV = NG * kTileGroup, NC = DV / kMixedQueryBlock;
    for (int cg = 0; cg < NG; ++cg)
        value_tile_group<NH>(w, rows + cg * kTileRec, ts, acc + cg * kTileGroup, DV, macc + cg * (kTileGroup / kMixedQueryBlock), NC + 1);
}

// ---- the online-softmax step of one row over a whole block ---------------------------------

// avx2::exp on 16 lanes: the same operations, so the same bits per lane.
inline __m512 exp16(__m512 x) {
    const __m512 lo = _mm512_set1_ps(-86.6f);
    const __m512 xc = _mm512_min_ps(_mm512_set1_ps(88.8f), _mm512_max_ps(lo, x));
    const __m512 n = _mm512_roundscale_ps(_mm512_mul_ps(xc, _mm512_set1_ps(1.44269504088896341f)), _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
    __m512 r = _mm512_fnmadd_ps(n, _mm512_set1_ps(0.693359375f), xc);
    r = _mm512_fnmadd_ps(n, _mm512_set1_ps(-2.12194440e-4f), r);
    __m512 y = _mm512_set1_ps(1.0f / 5040.0f);
    y = _mm512_fmadd_ps(y, r, _mm512_set1_ps(1.0f / 720.0f));
    y = _mm512_fmadd_ps(y, r, _mm512_set1_ps(1.0f / 120.0f));
    y = _mm512_fmadd_ps(y, r, _mm512_set1_ps(1.0f / 24.0f));
    y = _mm512_fmadd_ps(y, r, _mm512_set1_ps(1.0f / 6.0f));
    y = _mm512_fmadd_ps(y, r, _mm512_set1_ps(0.5f));
    y = _mm512_fmadd_ps(y, r, _mm512_set1_ps(1.0f));
    y = _mm512_fmadd_ps(y, r, _mm512_set1_ps(1.0f));
    const __m512i e = _mm512_slli_epi32(_mm512_add_epi32(_mm512_cvtps_epi32(n), _mm512_set1_epi32(126)), 23);
    y = _mm512_mul_ps(_mm512_mul_ps(y, _mm512_castsi512_ps(e)), _mm512_set1_ps(2.0f));
    return _mm512_maskz_mov_ps(_mm512_cmp_ps_mask(x, lo, _CMP_NLT_UQ), y);
}

void softmax_row(float* s, float scale, float& m, float& l, float* acc, int64_t dv, float* macc, int64_t n_macc) {
    const __m512 sc = _mm512_set1_ps(scale);
    const __m512 z0 = _mm512_mul_ps(_mm512_loadu_ps(s), sc), z1 = _mm512_mul_ps(_mm512_loadu_ps(s + 16), sc);
    // The max in softmax_step's operand order (a NaN score decides which lanes carry it).
    __m256 mv = _mm256_max_ps(_mm512_castps512_ps256(z0), _mm512_extractf32x8_ps(z0, 1));
    mv = _mm256_max_ps(mv, _mm512_castps512_ps256(z1));
    mv = _mm256_max_ps(mv, _mm512_extractf32x8_ps(z1, 1));
    const float bm = avx2::hmax(mv);
    const float m_new = bm > m ? bm : m;
    const float corr = m == -INFINITY ? 0.0f : (m_new == m && m != INFINITY ? 1.0f : std::exp(m - m_new));
    const __m512 mn = _mm512_set1_ps(m_new);
    const __m512 e0 = exp16(_mm512_sub_ps(z0, mn)), e1 = exp16(_mm512_sub_ps(z1, mn));
    _mm512_storeu_ps(s, e0);
    _mm512_storeu_ps(s + 16, e1);
    __m256 sum = _mm256_add_ps(_mm256_setzero_ps(), _mm512_castps512_ps256(e0));
    sum = _mm256_add_ps(sum, _mm512_extractf32x8_ps(e0, 1));
    sum = _mm256_add_ps(sum, _mm512_castps512_ps256(e1));
    sum = _mm256_add_ps(sum, _mm512_extractf32x8_ps(e1, 1));
    l = l * corr + avx2::hsum(sum);
    m = m_new;
    if (corr != 1.0f) {
        const __m512 cv = _mm512_set1_ps(corr);
        int64_t d = 0;
        for (; d + 16 <= dv; d += 16) _mm512_storeu_ps(acc + d, _mm512_mul_ps(_mm512_loadu_ps(acc + d), cv));
        for (; d < dv; ++d) acc[d] *= corr;
        for (int64_t i = 0; i < n_macc; ++i) macc[i] *= corr;
    }
}

}  // namespace
}  // namespace kvmix
KVMIX_AVX512VBMI_END
KVMIX_AVX512_HEADER_WARNINGS_ON
#endif

namespace kvmix {

VbmiKeyGroupFn vbmi_key_group_fn(int bits, int group, int64_t head_dim) {
#if KVMIX_CPU_X86
    if (bits == 2 && group == 32 && head_dim > 0 && head_dim % kMixedQueryBlock == 0 && cpu_has_avx512_vbmi()) return &key_group_k2g32;
#else
    (void)bits;
    (void)group;
    (void)head_dim;
#endif
    return nullptr;
}

VbmiSoftmaxFn vbmi_softmax_fn() {
#if KVMIX_CPU_X86
    if (cpu_has_avx512_vbmi()) return &softmax_row;
#endif
    return nullptr;
}

VbmiValueTileFn vbmi_value_tile_fn(int bits, int group, int64_t head_dim_v, size_t token_stride, int n_rows) {
#if KVMIX_CPU_X86
    const int64_t ng = head_dim_v / kTileGroup;
    if (bits == 2 && group == kTileGroup && (head_dim_v == 64 || head_dim_v == 128) && token_stride >= static_cast<size_t>(ng * kTileRec) &&
        token_stride <= kTileStrideMax && cpu_has_avx512_vbmi()) {
        constexpr VbmiValueTileFn kFns[2][4] = {{&value_tile_v2g64<1, 1>, &value_tile_v2g64<2, 1>, &value_tile_v2g64<3, 1>, &value_tile_v2g64<4, 1>},
                                                {&value_tile_v2g64<1, 2>, &value_tile_v2g64<2, 2>, &value_tile_v2g64<3, 2>, &value_tile_v2g64<4, 2>}};
        if (n_rows >= 1 && n_rows <= 4) return kFns[ng - 1][n_rows - 1];
    }
#else
    (void)bits;
    (void)group;
    (void)head_dim_v;
    (void)token_stride;
    (void)n_rows;
#endif
    return nullptr;
}

VbmiValueBlockFn vbmi_value_block_fn(int bits, int group, int64_t head_dim_v, size_t token_stride) {
#if KVMIX_CPU_X86
    if (bits == 2 && group == 32 && head_dim_v == 128 && token_stride == static_cast<size_t>(kValueRow) && cpu_has_avx512_vbmi())
        return &value_block_v2g32;
#else
    (void)bits;
    (void)group;
    (void)head_dim_v;
    (void)token_stride;
#endif
    return nullptr;
}

}  // namespace kvmix
