#include "cpu/matmul.h"

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <vector>

#include "common/assert.h"
#include "common/half.h"
#include "common/quant-blocks.h"
#include "cpu/cpu-features.h"
#include "cpu/matmul-q4-vnni.h"
#include "cpu/simd-avx2.h"
#include "ref/dequantize.h"
#include "ref/matmul.h"

namespace kvmix {

namespace {

// Per-call buffers of the decode path: int16 x, per-32 scales and per-32 sums.
struct DecodeScratch {
    int16_t* q;
    float* d;
    float* s;
};

}  // namespace

#if KVMIX_CPU_X86
KVMIX_AVX2_BEGIN
namespace {

using avx2::half_to_float;
using avx2::hsum;
using avx2::load_u16;
using avx2::load_u32;
using avx2::prefetch_stream;

// --- Block decoders -----------------------------------------------------------------------
// Decoder::block(bytes, f) calls f(g, q, a_lo, a_hi, b) once per group g of 32 consecutive
// weights of the block, in order: weight 8v + l of the group is a * q[v][l] + b, with
// a = a_lo for v < 2 and a_hi for v >= 2 (only Q6_K has two scales per 32). q holds small
// integers in int32 lanes, so a*q is exact and fma(q, a, b) rounds like the reference.

inline __m128i load8(const uint8_t* p) { return _mm_loadl_epi64(reinterpret_cast<const __m128i*>(p)); }
inline __m256i zext8(const uint8_t* p) { return _mm256_cvtepu8_epi32(load8(p)); }

struct DecQ8_0 {
    static constexpr int kElems = 32, kBytes = 34;
    static constexpr bool kHasMin = false;
    template <class F>
    static void block(const uint8_t* b, F&& f) {
        const float d = half_to_float(load_u16(b));
        const __m256i q[4] = {_mm256_cvtepi8_epi32(load8(b + 2)), _mm256_cvtepi8_epi32(load8(b + 10)),
                              _mm256_cvtepi8_epi32(load8(b + 18)), _mm256_cvtepi8_epi32(load8(b + 26))};
        f(0, q, d, d, 0.0f);
    }
};

// Q4_0 / Q4_1: low nibbles of qs[0..15] are weights 0..15, high nibbles 16..31.
template <bool kMin>
struct DecQ4 {
    static constexpr int kElems = 32, kBytes = kMin ? 20 : 18;
    static constexpr bool kHasMin = kMin;
    template <class F>
    static void block(const uint8_t* b, F&& f) {
        const float d = half_to_float(load_u16(b));
        const float m = kMin ? half_to_float(load_u16(b + 2)) : 0.0f;
        const uint8_t* qs = b + (kMin ? 4 : 2);
        const __m256i w0 = zext8(qs), w1 = zext8(qs + 8);
        const __m256i m15 = _mm256_set1_epi32(15);
        const __m256i off = _mm256_set1_epi32(kMin ? 0 : 8);
        const __m256i q[4] = {_mm256_sub_epi32(_mm256_and_si256(w0, m15), off),
                              _mm256_sub_epi32(_mm256_and_si256(w1, m15), off),
                              _mm256_sub_epi32(_mm256_srli_epi32(w0, 4), off),
                              _mm256_sub_epi32(_mm256_srli_epi32(w1, 4), off)};
        f(0, q, d, d, m);
    }
};

// Q5_0 / Q5_1: as Q4, bit i of the 32-bit qh is bit 4 of weight i.
template <bool kMin>
struct DecQ5 {
    static constexpr int kElems = 32, kBytes = kMin ? 24 : 22;
    static constexpr bool kHasMin = kMin;
    template <class F>
    static void block(const uint8_t* b, F&& f) {
        const float d = half_to_float(load_u16(b));
        const float m = kMin ? half_to_float(load_u16(b + 2)) : 0.0f;
        const uint8_t* qhp = b + (kMin ? 4 : 2);
        const uint8_t* qs = qhp + 4;
        // Lane l of t holds qh >> l, so bit 8v of t is bit 8v + l of qh: weight 8v + l.
        const __m256i t = _mm256_srlv_epi32(_mm256_set1_epi32(static_cast<int>(load_u32(qhp))),
                                            _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
        const __m256i b4 = _mm256_set1_epi32(16);
        const __m256i h0 = _mm256_and_si256(_mm256_slli_epi32(t, 4), b4);
        const __m256i h1 = _mm256_and_si256(_mm256_srli_epi32(t, 4), b4);
        const __m256i h2 = _mm256_and_si256(_mm256_srli_epi32(t, 12), b4);
        const __m256i h3 = _mm256_and_si256(_mm256_srli_epi32(t, 20), b4);
        const __m256i w0 = zext8(qs), w1 = zext8(qs + 8);
        const __m256i m15 = _mm256_set1_epi32(15);
        const __m256i off = _mm256_set1_epi32(kMin ? 0 : 16);
        const __m256i q[4] = {_mm256_sub_epi32(_mm256_or_si256(_mm256_and_si256(w0, m15), h0), off),
                              _mm256_sub_epi32(_mm256_or_si256(_mm256_and_si256(w1, m15), h1), off),
                              _mm256_sub_epi32(_mm256_or_si256(_mm256_srli_epi32(w0, 4), h2), off),
                              _mm256_sub_epi32(_mm256_or_si256(_mm256_srli_epi32(w1, 4), h3), off)};
        f(0, q, d, d, m);
    }
};

// Q4_K / Q5_K: sub-blocks 2p and 2p+1 share qs[32p..32p+31] (low / high nibbles).
template <bool kHigh>
struct DecK45 {
    static constexpr int kElems = QK_K, kBytes = kHigh ? 176 : 144;
    static constexpr bool kHasMin = true;
    template <class F>
    static void block(const uint8_t* b, F&& f) {
        const float d = half_to_float(load_u16(b));
        const float dmin = half_to_float(load_u16(b + 2));
        const uint8_t* scales = b + 4;
        const uint8_t* qh = b + 16;
        const uint8_t* qs = b + (kHigh ? 48 : 16);
        __m256i h[4];
        if constexpr (kHigh)
            for (int c = 0; c < 4; ++c) h[c] = zext8(qh + 8 * c);
        const __m256i m15 = _mm256_set1_epi32(15);
        const __m256i b4 = _mm256_set1_epi32(16);
        for (int pair = 0; pair < 4; ++pair) {
            __m256i lo[4], hi[4];
            for (int c = 0; c < 4; ++c) {
                const __m256i w = zext8(qs + 32 * pair + 8 * c);
                lo[c] = _mm256_and_si256(w, m15);
                hi[c] = _mm256_srli_epi32(w, 4);
                if constexpr (kHigh) {
                    // bit j of qh[l] -> bit 4 of weight l of sub-block j (j = 2*pair, 2*pair+1)
                    const int j = 2 * pair;
                    const __m256i bl = j <= 4 ? _mm256_slli_epi32(h[c], 4 - j) : _mm256_srli_epi32(h[c], j - 4);
                    const __m256i bh = j + 1 <= 4 ? _mm256_slli_epi32(h[c], 3 - j) : _mm256_srli_epi32(h[c], j - 3);
                    lo[c] = _mm256_or_si256(lo[c], _mm256_and_si256(bl, b4));
                    hi[c] = _mm256_or_si256(hi[c], _mm256_and_si256(bh, b4));
                }
            }
            const KScaleMin s0 = unpack_k_scale_min(scales, 2 * pair);
            const KScaleMin s1 = unpack_k_scale_min(scales, 2 * pair + 1);
            const float a0 = d * static_cast<float>(s0.scale), a1 = d * static_cast<float>(s1.scale);
            f(2 * pair, lo, a0, a0, -(dmin * static_cast<float>(s0.min)));
            f(2 * pair + 1, hi, a1, a1, -(dmin * static_cast<float>(s1.min)));
        }
    }
};

// Q6_K: see quant-blocks.h. Group r of half h is weights 32r..32r+31 of that half; its
// chunk c (8 lanes, l = 8c + lane) comes from ql[l], ql[l+32], qh[l]; scale index 2r + c/2.
struct DecQ6K {
    static constexpr int kElems = QK_K, kBytes = 210;
    static constexpr bool kHasMin = false;
    template <class F>
    static void block(const uint8_t* b, F&& f) {
        const float d = half_to_float(load_u16(b + 208));
        const __m256i m15 = _mm256_set1_epi32(15);
        const __m256i m48 = _mm256_set1_epi32(0x30);
        const __m256i off = _mm256_set1_epi32(32);
        for (int half = 0; half < 2; ++half) {
            const uint8_t* ql = b + 64 * half;
            const uint8_t* qh = b + 128 + 32 * half;
            const auto* sc = reinterpret_cast<const int8_t*>(b + 192 + 8 * half);
            __m256i q[4][4];
            for (int c = 0; c < 4; ++c) {
                const __m256i la = zext8(ql + 8 * c), lb = zext8(ql + 32 + 8 * c), h = zext8(qh + 8 * c);
                q[0][c] = _mm256_or_si256(_mm256_and_si256(la, m15), _mm256_and_si256(_mm256_slli_epi32(h, 4), m48));
                q[1][c] = _mm256_or_si256(_mm256_and_si256(lb, m15), _mm256_and_si256(_mm256_slli_epi32(h, 2), m48));
                q[2][c] = _mm256_or_si256(_mm256_srli_epi32(la, 4), _mm256_and_si256(h, m48));
                q[3][c] = _mm256_or_si256(_mm256_srli_epi32(lb, 4), _mm256_and_si256(_mm256_srli_epi32(h, 2), m48));
                for (int r = 0; r < 4; ++r) q[r][c] = _mm256_sub_epi32(q[r][c], off);
            }
            for (int r = 0; r < 4; ++r)
                f(4 * half + r, q[r], d * static_cast<float>(sc[2 * r]), d * static_cast<float>(sc[2 * r + 1]), 0.0f);
        }
    }
};

// --- Decode: int16 activations × quantized weights --------------------------------------
// For m == 1 (all block types but Q8_0, see dot_row_q8_0_f32), x is quantized once per call into blocks of 32: q = round(x * 32767 / amax)
// with scale d = amax / 32767, plus the exact fp32 sum of the block (for the additive term
// of Q4_1/Q5_1/Q4_K/Q5_K). Weights are unpacked to signed bytes, sign-extended to int16 and
// dotted with vpmaddwd; one fp32 FMA per 32 weights applies weight scale × d. int8 x (with
// vpmaddubsw) is ~1.3x cheaper here but its ±amax/254 rounding moved the tiny-model logits
// by ~0.1; int16 rounding (±amax/65534) is ~250x smaller. Integer sums cannot overflow:
// |w| <= 128 (× sub-scale <= 4096 for Q6_K), |q| <= 32767, 32 terms per int32 lane group.

struct QuantX {
    const int16_t* q;  // [k], 32-byte aligned
    const float* d;    // [k / 32] scale; NaN when the block holds a NaN (so outputs stay NaN)
    const float* s;    // [k / 32] fp32 sum of the block
};

void quantize_x(const float* x, int64_t k, int16_t* q, float* d, float* s) {
    const __m256 sign = _mm256_set1_ps(-0.0f);
    for (int64_t b = 0; b < k / 32; ++b) {
        const float* xb = x + 32 * b;
        __m256 v[4];
        for (int i = 0; i < 4; ++i) v[i] = _mm256_loadu_ps(xb + 8 * i);
        const __m256 m = _mm256_max_ps(_mm256_max_ps(_mm256_andnot_ps(sign, v[0]), _mm256_andnot_ps(sign, v[1])),
                                       _mm256_max_ps(_mm256_andnot_ps(sign, v[2]), _mm256_andnot_ps(sign, v[3])));
        const float amax = avx2::hmax(m);
        const float sum = hsum(_mm256_add_ps(_mm256_add_ps(v[0], v[1]), _mm256_add_ps(v[2], v[3])));
        // maxps drops NaNs, the sum keeps them. Blocks with amax below ~1e-33 (32767 / amax
        // would overflow) are flushed to zero.
        const float id = amax > 1e-33f ? 32767.0f / amax : 0.0f;
        d[b] = sum != sum ? sum : amax / 32767.0f;
        s[b] = sum;
        const __m256 vid = _mm256_set1_ps(id);
        __m256i n[4];
        for (int i = 0; i < 4; ++i) n[i] = _mm256_cvtps_epi32(_mm256_mul_ps(v[i], vid));  // round to nearest even
        // packs works per 128-bit lane: [0-3 8-11 | 4-7 12-15] -> qword order 0 2 1 3.
        for (int h = 0; h < 2; ++h)
            _mm256_store_si256(reinterpret_cast<__m256i*>(q + 32 * b + 16 * h),
                               _mm256_permute4x64_epi64(_mm256_packs_epi32(n[2 * h], n[2 * h + 1]), 0xD8));
    }
}

inline __m256i load32(const void* p) { return _mm256_loadu_si256(static_cast<const __m256i*>(p)); }
inline __m256i load_xq(const int16_t* p) { return _mm256_load_si256(reinterpret_cast<const __m256i*>(p)); }

// Eight int32 partial sums of w·x over 32 weights (signed bytes) and 32 int16 x.
inline __m256i dot32(__m256i w, const int16_t* x) {
    const __m256i lo = _mm256_cvtepi8_epi16(_mm256_castsi256_si128(w));
    const __m256i hi = _mm256_cvtepi8_epi16(_mm256_extracti128_si256(w, 1));
    return _mm256_add_epi32(_mm256_madd_epi16(lo, load_xq(x)), _mm256_madd_epi16(hi, load_xq(x + 16)));
}

// 32 nibbles from 16 bytes: low nibbles are elements 0..15, high nibbles 16..31.
inline __m256i nibbles32(const uint8_t* p) {
    const __m128i v = _mm_loadu_si128(reinterpret_cast<const __m128i*>(p));
    return _mm256_and_si256(_mm256_set_m128i(_mm_srli_epi16(v, 4), v), _mm256_set1_epi8(0x0F));
}

// Byte i = 0xFF where bit i of the little-endian 32-bit mask at p is set.
inline __m256i bits32(const uint8_t* p) {
    const __m256i shuf = _mm256_setr_epi64x(0, 0x0101010101010101, 0x0202020202020202, 0x0303030303030303);
    const __m256i sel = _mm256_set1_epi64x(static_cast<int64_t>(0x8040201008040201ull));
    const __m256i b = _mm256_shuffle_epi8(_mm256_set1_epi32(static_cast<int>(load_u32(p))), shuf);
    return _mm256_cmpeq_epi8(_mm256_and_si256(b, sel), sel);
}

// acc += float(p) * s, p: eight int32 partial sums of one group.
inline void accumulate(__m256& acc, __m256i p, float s) { acc = _mm256_fmadd_ps(_mm256_cvtepi32_ps(p), _mm256_set1_ps(s), acc); }

// 32-element types: dot(b, x) gives the int32 partial sums of q_w · q_x; kMin types add
// m · (fp32 sum of x).
template <bool kHasMin>
struct IntQ4 {
    static constexpr int kBytes = kHasMin ? 20 : 18;
    static constexpr bool kMin = kHasMin;
    static __m256i dot(const uint8_t* b, const int16_t* x) {
        const __m256i w = nibbles32(b + (kHasMin ? 4 : 2));
        return dot32(kHasMin ? w : _mm256_sub_epi8(w, _mm256_set1_epi8(8)), x);
    }
};
template <bool kHasMin>
struct IntQ5 {
    static constexpr int kBytes = kHasMin ? 24 : 22;
    static constexpr bool kMin = kHasMin;
    static __m256i dot(const uint8_t* b, const int16_t* x) {
        const uint8_t* qh = b + (kHasMin ? 4 : 2);
        const __m256i w = nibbles32(qh + 4), h = bits32(qh);
        if constexpr (kHasMin) return dot32(_mm256_or_si256(w, _mm256_and_si256(h, _mm256_set1_epi8(0x10))), x);
        // q - 16 as a signed byte: the nibble itself with bit 4 set, else nibble | 0xF0.
        return dot32(_mm256_or_si256(w, _mm256_andnot_si256(h, _mm256_set1_epi8(static_cast<char>(0xF0)))), x);
    }
};

template <class B>
float dot_row_q32(const uint8_t* row, const QuantX& x, int64_t nb) {
    __m256 acc0 = _mm256_setzero_ps(), acc1 = acc0;
    float bacc = 0.0f;
    auto one = [&](int64_t i, __m256& acc) {
        const uint8_t* b = row + i * B::kBytes;
        prefetch_stream(b, B::kBytes);
        accumulate(acc, B::dot(b, x.q + 32 * i), half_to_float(load_u16(b)) * x.d[i]);
        if constexpr (B::kMin) bacc += half_to_float(load_u16(b + 2)) * x.s[i];
    };
    int64_t i = 0;
    for (; i + 2 <= nb; i += 2) {
        one(i, acc0);
        one(i + 1, acc1);
    }
    if (i < nb) one(i, acc0);
    return hsum(_mm256_add_ps(acc0, acc1)) + bacc;
}

// Q4_K / Q5_K: 6-bit scales and mins of the 8 sub-blocks, unpacked 4 at a time (see
// unpack_k_scale_min): sc[0..3] / mn[0..3] are the low 6 bits of bytes 0-3 / 4-7; for
// 4..7 the low nibble / high nibble of bytes 8-11 plus the top 2 bits of bytes 0-3 / 4-7.
inline void unpack_k_scales(const uint8_t* p, uint8_t* sc, uint8_t* mn) {
    const uint32_t a = load_u32(p), b = load_u32(p + 4), c = load_u32(p + 8);
    const uint32_t s[4] = {a & 0x3F3F3F3Fu, (c & 0x0F0F0F0Fu) | (((a >> 6) & 0x03030303u) << 4), b & 0x3F3F3F3Fu,
                           ((c >> 4) & 0x0F0F0F0Fu) | (((b >> 6) & 0x03030303u) << 4)};
    std::memcpy(sc, s, 8);
    std::memcpy(mn, s + 2, 8);
}

template <bool kHigh>
float dot_row_k45(const uint8_t* row, const QuantX& x, int64_t nb) {
    constexpr int kBytes = kHigh ? 176 : 144;
    const __m256i m15 = _mm256_set1_epi8(0x0F), b4 = _mm256_set1_epi8(0x10);
    __m256 acc0 = _mm256_setzero_ps(), acc1 = acc0, macc = acc0;
    for (int64_t i = 0; i < nb; ++i) {
        const uint8_t* b = row + i * kBytes;
        prefetch_stream(b, kBytes);
        const float d = half_to_float(load_u16(b)), dmin = half_to_float(load_u16(b + 2));
        alignas(8) uint8_t sc[8], mn[8];
        unpack_k_scales(b + 4, sc, mn);
        const uint8_t* qs = b + (kHigh ? 48 : 16);
        const int16_t* xq = x.q + 256 * i;
        // Per-group fp32 scales d · sc_g · d_x(g), built 8 at a time.
        alignas(32) float gs[8];
        const __m256 scf = _mm256_cvtepi32_ps(_mm256_cvtepu8_epi32(_mm_loadl_epi64(reinterpret_cast<const __m128i*>(sc))));
        _mm256_store_ps(gs, _mm256_mul_ps(_mm256_mul_ps(_mm256_set1_ps(d), scf), _mm256_loadu_ps(x.d + 8 * i)));
        __m256i hb = _mm256_setzero_si256();
        if constexpr (kHigh) hb = load32(b + 16);
        for (int pair = 0; pair < 4; ++pair) {
            const __m256i v = load32(qs + 32 * pair);
            __m256i lo = _mm256_and_si256(v, m15), hi = _mm256_and_si256(_mm256_srli_epi16(v, 4), m15);
            if constexpr (kHigh) {
                // bit j of qh[l] is bit 4 of element l of sub-block j (j = 2 pair, 2 pair + 1)
                const int j = 2 * pair;
                const __m256i bl = j <= 4 ? _mm256_slli_epi16(hb, 4 - j) : _mm256_srli_epi16(hb, j - 4);
                const __m256i bh = j + 1 <= 4 ? _mm256_slli_epi16(hb, 3 - j) : _mm256_srli_epi16(hb, j - 3);
                lo = _mm256_or_si256(lo, _mm256_and_si256(bl, b4));
                hi = _mm256_or_si256(hi, _mm256_and_si256(bh, b4));
            }
            const int g = 2 * pair;
            accumulate(acc0, dot32(lo, xq + 32 * g), gs[g]);
            accumulate(acc1, dot32(hi, xq + 32 * g + 32), gs[g + 1]);
        }
        const __m256 mins = _mm256_cvtepi32_ps(_mm256_cvtepu8_epi32(_mm_loadl_epi64(reinterpret_cast<const __m128i*>(mn))));
        macc = _mm256_fmadd_ps(_mm256_set1_ps(-dmin), _mm256_mul_ps(mins, _mm256_loadu_ps(x.s + 8 * i)), macc);
    }
    return hsum(_mm256_add_ps(_mm256_add_ps(acc0, acc1), macc));
}

// Q6_K: group r (32 weights) of half h takes bits from ql[64h + l] / ql[64h + 32 + l] (low
// or high nibble) and a bit pair of qh[32h + l]; its two halves of 16 use scales 2r, 2r + 1,
// multiplied into the int16 weights (|q - 32| · |scale| <= 4096).
float dot_row_q6k(const uint8_t* row, const QuantX& x, int64_t nb) {
    const __m256i m15 = _mm256_set1_epi8(0x0F), m48 = _mm256_set1_epi8(0x30), off = _mm256_set1_epi8(32);
    __m256 acc0 = _mm256_setzero_ps(), acc1 = acc0;
    for (int64_t i = 0; i < nb; ++i) {
        const uint8_t* b = row + i * 210;
        prefetch_stream(b, 210);
        const float d = half_to_float(load_u16(b + 208));
        const auto* scales = reinterpret_cast<const int8_t*>(b + 192);
        for (int half = 0; half < 2; ++half) {
            const uint8_t* ql = b + 64 * half;
            const __m256i la = load32(ql), lb = load32(ql + 32), h = load32(b + 128 + 32 * half);
            const __m256i q[4] = {
                _mm256_or_si256(_mm256_and_si256(la, m15), _mm256_and_si256(_mm256_slli_epi16(h, 4), m48)),
                _mm256_or_si256(_mm256_and_si256(lb, m15), _mm256_and_si256(_mm256_slli_epi16(h, 2), m48)),
                _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(la, 4), m15), _mm256_and_si256(h, m48)),
                _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(lb, 4), m15), _mm256_and_si256(_mm256_srli_epi16(h, 2), m48))};
            const int64_t g0 = 8 * i + 4 * half;
            for (int r = 0; r < 4; ++r) {
                const __m256i w = _mm256_sub_epi8(q[r], off);
                const int8_t* sc = scales + 8 * half + 2 * r;
                const __m256i lo = _mm256_mullo_epi16(_mm256_cvtepi8_epi16(_mm256_castsi256_si128(w)), _mm256_set1_epi16(sc[0]));
                const __m256i hi = _mm256_mullo_epi16(_mm256_cvtepi8_epi16(_mm256_extracti128_si256(w, 1)), _mm256_set1_epi16(sc[1]));
                const int16_t* xq = x.q + 32 * (g0 + r);
                const __m256i p = _mm256_add_epi32(_mm256_madd_epi16(lo, load_xq(xq)), _mm256_madd_epi16(hi, load_xq(xq + 16)));
                accumulate(r & 1 ? acc1 : acc0, p, d * x.d[g0 + r]);
            }
        }
    }
    return hsum(_mm256_add_ps(acc0, acc1));
}

// Q8_0 keeps x in fp32 (exact path): its decode traffic is the output head, which is
// DRAM-bound either way (measured 8-9 GB/s with fp32 or int16 x), and int16 x moved the
// tiny Q8_0 models' token-by-token logits past the chunked-prefill ones by 2.4e-3.
float dot_row_q8_0_f32(const uint8_t* row, const float* x, int64_t nb) {
    __m256 acc0 = _mm256_setzero_ps(), acc1 = acc0;
    for (int64_t i = 0; i < nb; ++i) {
        const float* xb = x + 32 * i;
        prefetch_stream(row + i * DecQ8_0::kBytes, DecQ8_0::kBytes);
        DecQ8_0::block(row + i * DecQ8_0::kBytes, [&](int, const __m256i(&q)[4], float a, float, float) {
            __m256 s0 = _mm256_mul_ps(_mm256_cvtepi32_ps(q[0]), _mm256_loadu_ps(xb));
            __m256 s1 = _mm256_mul_ps(_mm256_cvtepi32_ps(q[2]), _mm256_loadu_ps(xb + 16));
            s0 = _mm256_fmadd_ps(_mm256_cvtepi32_ps(q[1]), _mm256_loadu_ps(xb + 8), s0);
            s1 = _mm256_fmadd_ps(_mm256_cvtepi32_ps(q[3]), _mm256_loadu_ps(xb + 24), s1);
            acc0 = _mm256_fmadd_ps(_mm256_set1_ps(a), s0, acc0);
            acc1 = _mm256_fmadd_ps(_mm256_set1_ps(a), s1, acc1);
        });
    }
    return hsum(_mm256_add_ps(acc0, acc1));
}

template <class Dec>
void dequant_row(const uint8_t* row, float* out, int64_t n) {
    for (int64_t i = 0; i < n / Dec::kElems; ++i) {
        float* ob = out + i * Dec::kElems;
        Dec::block(row + i * Dec::kBytes, [&](int g, const __m256i(&q)[4], float a_lo, float a_hi, float b) {
            float* o = ob + 32 * g;
            const __m256 alo = _mm256_set1_ps(a_lo), ahi = _mm256_set1_ps(a_hi);
            for (int v = 0; v < 4; ++v) {
                const __m256 qf = _mm256_cvtepi32_ps(q[v]);
                const __m256 a = v < 2 ? alo : ahi;
                _mm256_storeu_ps(o + 8 * v, Dec::kHasMin ? _mm256_fmadd_ps(qf, a, _mm256_set1_ps(b)) : _mm256_mul_ps(qf, a));
            }
        });
    }
}

// Plain types: Load(p, i) gives 8 fp32 weights from element i; Scalar(p, i) one.
struct PlainF32 {
    static constexpr int kSize = 4;
    static __m256 load(const uint8_t* p, int64_t i) { return _mm256_loadu_ps(reinterpret_cast<const float*>(p) + i); }
    static float scalar(const uint8_t* p, int64_t i) {
        float v;
        std::memcpy(&v, p + 4 * i, sizeof v);
        return v;
    }
};
struct PlainF16 {
    static constexpr int kSize = 2;
    static __m256 load(const uint8_t* p, int64_t i) {
        return _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(p + 2 * i)));
    }
    static float scalar(const uint8_t* p, int64_t i) { return half_to_float(load_u16(p + 2 * i)); }
};
struct PlainBF16 {
    static constexpr int kSize = 2;
    static __m256 load(const uint8_t* p, int64_t i) {
        const __m256i w = _mm256_cvtepu16_epi32(_mm_loadu_si128(reinterpret_cast<const __m128i*>(p + 2 * i)));
        return _mm256_castsi256_ps(_mm256_slli_epi32(w, 16));
    }
    static float scalar(const uint8_t* p, int64_t i) { return bf16_to_fp32(load_u16(p + 2 * i)); }
};

template <class T>
float dot_plain(const uint8_t* row, const float* x, int64_t k) {
    __m256 a0 = _mm256_setzero_ps(), a1 = a0, a2 = a0, a3 = a0;
    int64_t i = 0;
    for (; i + 32 <= k; i += 32) {
        prefetch_stream(row + i * T::kSize, 32 * T::kSize);
        a0 = _mm256_fmadd_ps(T::load(row, i), _mm256_loadu_ps(x + i), a0);
        a1 = _mm256_fmadd_ps(T::load(row, i + 8), _mm256_loadu_ps(x + i + 8), a1);
        a2 = _mm256_fmadd_ps(T::load(row, i + 16), _mm256_loadu_ps(x + i + 16), a2);
        a3 = _mm256_fmadd_ps(T::load(row, i + 24), _mm256_loadu_ps(x + i + 24), a3);
    }
    for (; i + 8 <= k; i += 8) a0 = _mm256_fmadd_ps(T::load(row, i), _mm256_loadu_ps(x + i), a0);
    float s = hsum(_mm256_add_ps(_mm256_add_ps(a0, a1), _mm256_add_ps(a2, a3)));
    for (; i < k; ++i) s += T::scalar(row, i) * x[i];
    return s;
}

template <class T>
void dequant_plain(const uint8_t* row, float* out, int64_t n) {
    int64_t i = 0;
    for (; i + 8 <= n; i += 8) _mm256_storeu_ps(out + i, T::load(row, i));
    for (; i < n; ++i) out[i] = T::scalar(row, i);
}

// --- Prefill: dequantized tile × fp32 micro-kernel ----------------------------------------

constexpr int64_t kTileRows = 18;  // 6 groups of the 3-row micro-kernel, no 1-row remainder
constexpr int64_t kTileCols = 256;  // a multiple of every block size

// y[i, r] (+)= x[i, 0:kc] · t[r, 0:kc] for i < MR, r < NR.
template <int MR, int NR>
void micro(const float* x, size_t xs, const float* t, int64_t kc, float* y, size_t ys, bool accumulate) {
    __m256 acc[MR][NR];
    for (int i = 0; i < MR; ++i)
        for (int r = 0; r < NR; ++r) acc[i][r] = _mm256_setzero_ps();
    int64_t l = 0;
    for (; l + 8 <= kc; l += 8) {
        __m256 w[NR];
        for (int r = 0; r < NR; ++r) w[r] = _mm256_load_ps(t + r * kTileCols + l);
        for (int i = 0; i < MR; ++i) {
            const __m256 xv = _mm256_loadu_ps(x + static_cast<size_t>(i) * xs + static_cast<size_t>(l));
            for (int r = 0; r < NR; ++r) acc[i][r] = _mm256_fmadd_ps(xv, w[r], acc[i][r]);
        }
    }
    for (int i = 0; i < MR; ++i)
        for (int r = 0; r < NR; ++r) {
            float s = hsum(acc[i][r]);
            for (int64_t ll = l; ll < kc; ++ll) s += x[static_cast<size_t>(i) * xs + static_cast<size_t>(ll)] * t[r * kTileCols + ll];
            float& out = y[static_cast<size_t>(i) * ys + static_cast<size_t>(r)];
            out = accumulate ? out + s : s;
        }
}

template <int MR>
void micro_nr(int64_t nr, const float* x, size_t xs, const float* t, int64_t kc, float* y, size_t ys, bool acc) {
    switch (nr) {
        case 1: return micro<MR, 1>(x, xs, t, kc, y, ys, acc);
        case 2: return micro<MR, 2>(x, xs, t, kc, y, ys, acc);
        default: return micro<MR, 3>(x, xs, t, kc, y, ys, acc);
    }
}

using DequantFn = void (*)(const uint8_t*, float*, int64_t);

void matmul_tiled(const MatmulParams& p, DequantFn dequant, int64_t block_elems, int64_t block_bytes) {
    alignas(32) float tile[kTileRows * kTileCols];
    const auto* w = static_cast<const uint8_t*>(p.w);
    for (int64_t j0 = p.n_begin; j0 < p.n_end; j0 += kTileRows) {
        const int64_t nr = avx2::min_i64(kTileRows, p.n_end - j0);
        for (int64_t k0 = 0; k0 < p.k; k0 += kTileCols) {
            const int64_t kc = avx2::min_i64(kTileCols, p.k - k0);
            for (int64_t r = 0; r < nr; ++r)
                dequant(w + static_cast<size_t>(j0 + r) * p.w_row_bytes + static_cast<size_t>(k0 / block_elems * block_bytes),
                        tile + r * kTileCols, kc);
            for (int64_t i0 = 0; i0 < p.m; i0 += 4) {
                const int64_t mr = avx2::min_i64(4, p.m - i0);
                const float* x = p.x + static_cast<size_t>(i0) * p.x_stride + static_cast<size_t>(k0);
                for (int64_t r0 = 0; r0 < nr; r0 += 3) {
                    const int64_t nrr = avx2::min_i64(3, nr - r0);
                    float* y = p.y + static_cast<size_t>(i0) * p.y_stride + static_cast<size_t>(j0 + r0);
                    const float* t = tile + r0 * kTileCols;
                    switch (mr) {
                        case 1: micro_nr<1>(nrr, x, p.x_stride, t, kc, y, p.y_stride, k0 > 0); break;
                        case 2: micro_nr<2>(nrr, x, p.x_stride, t, kc, y, p.y_stride, k0 > 0); break;
                        case 3: micro_nr<3>(nrr, x, p.x_stride, t, kc, y, p.y_stride, k0 > 0); break;
                        default: micro_nr<4>(nrr, x, p.x_stride, t, kc, y, p.y_stride, k0 > 0); break;
                    }
                }
            }
        }
    }
}

using DotFn = float (*)(const uint8_t*, const QuantX&, int64_t);

template <class Dec>
void matmul_quant(const MatmulParams& p, const DecodeScratch& scratch, DotFn dot) {
    if (p.m > 1) return matmul_tiled(p, &dequant_row<Dec>, Dec::kElems, Dec::kBytes);
    const auto* w = static_cast<const uint8_t*>(p.w);
    const int64_t nb = p.k / Dec::kElems;
    if (dot == nullptr) {  // Q8_0: fp32 x
        for (int64_t j = p.n_begin; j < p.n_end; ++j) p.y[j] = dot_row_q8_0_f32(w + static_cast<size_t>(j) * p.w_row_bytes, p.x, nb);
        return;
    }
    quantize_x(p.x, p.k, scratch.q, scratch.d, scratch.s);
    const QuantX x{scratch.q, scratch.d, scratch.s};
    for (int64_t j = p.n_begin; j < p.n_end; ++j) p.y[j] = dot(w + static_cast<size_t>(j) * p.w_row_bytes, x, nb);
}

template <class T>
void matmul_plain(const MatmulParams& p) {
    if (p.m > 1) return matmul_tiled(p, &dequant_plain<T>, 1, T::kSize);
    const auto* w = static_cast<const uint8_t*>(p.w);
    for (int64_t j = p.n_begin; j < p.n_end; ++j)
        p.y[j] = dot_plain<T>(w + static_cast<size_t>(j) * p.w_row_bytes, p.x, p.k);
}

void matmul_avx2(const MatmulParams& p, const DecodeScratch& xs) {
    switch (p.w_type) {
        case TensorType::f32: return matmul_plain<PlainF32>(p);
        case TensorType::f16: return matmul_plain<PlainF16>(p);
        case TensorType::bf16: return matmul_plain<PlainBF16>(p);
        case TensorType::q4_0: return matmul_quant<DecQ4<false>>(p, xs, &dot_row_q32<IntQ4<false>>);
        case TensorType::q4_1: return matmul_quant<DecQ4<true>>(p, xs, &dot_row_q32<IntQ4<true>>);
        case TensorType::q5_0: return matmul_quant<DecQ5<false>>(p, xs, &dot_row_q32<IntQ5<false>>);
        case TensorType::q5_1: return matmul_quant<DecQ5<true>>(p, xs, &dot_row_q32<IntQ5<true>>);
        case TensorType::q8_0: return matmul_quant<DecQ8_0>(p, xs, nullptr);
        case TensorType::q4_k: return matmul_quant<DecK45<false>>(p, xs, &dot_row_k45<false>);
        case TensorType::q5_k: return matmul_quant<DecK45<true>>(p, xs, &dot_row_k45<true>);
        case TensorType::q6_k: return matmul_quant<DecQ6K>(p, xs, &dot_row_q6k);
        default: KVMIX_ASSERT(!"matmul_cpu: unsupported weight type");
    }
}

void dequantize_avx2(TensorType type, const uint8_t* src, float* dst, int64_t n) {
    switch (type) {
        case TensorType::f32: return dequant_plain<PlainF32>(src, dst, n);
        case TensorType::f16: return dequant_plain<PlainF16>(src, dst, n);
        case TensorType::bf16: return dequant_plain<PlainBF16>(src, dst, n);
        case TensorType::q4_0: return dequant_row<DecQ4<false>>(src, dst, n);
        case TensorType::q4_1: return dequant_row<DecQ4<true>>(src, dst, n);
        case TensorType::q5_0: return dequant_row<DecQ5<false>>(src, dst, n);
        case TensorType::q5_1: return dequant_row<DecQ5<true>>(src, dst, n);
        case TensorType::q8_0: return dequant_row<DecQ8_0>(src, dst, n);
        case TensorType::q4_k: return dequant_row<DecK45<false>>(src, dst, n);
        case TensorType::q5_k: return dequant_row<DecK45<true>>(src, dst, n);
        case TensorType::q6_k: return dequant_row<DecQ6K>(src, dst, n);
        default: KVMIX_ASSERT(!"dequantize_row_cpu: unsupported weight type");
    }
}

}  // namespace
KVMIX_AVX2_END
#endif  // KVMIX_CPU_X86

void dequantize_row_cpu(TensorType type, const void* src, float* dst, int64_t n) {
    KVMIX_ASSERT(can_dequantize(type) && n >= 0 && n % tensor_type_traits(type).block_elems == 0);
#if KVMIX_CPU_X86
    if (cpu_has_avx2_fma_f16c()) return dequantize_avx2(type, static_cast<const uint8_t*>(src), dst, n);
#endif
    dequantize_row_ref(type, src, dst, n);
}

bool matmul_decode_path_available(MatmulDecodePath path) {
    switch (path) {
        case MatmulDecodePath::best:
        case MatmulDecodePath::scalar: return true;
        case MatmulDecodePath::avx2: return cpu_has_avx2_fma_f16c();
        case MatmulDecodePath::avx512_vnni: return cpu_has_avx512_vnni();
        case MatmulDecodePath::avx512_vbmi: return cpu_has_avx512_vnni() && cpu_has_avx512_vbmi();
    }
    return false;
}

void matmul_cpu(const MatmulParams& p) { matmul_cpu_path(p, MatmulDecodePath::best); }

void matmul_cpu_path(const MatmulParams& p, MatmulDecodePath path) {
    KVMIX_ASSERT(matmul_decode_path_available(path));
    KVMIX_ASSERT(can_dequantize(p.w_type));
    KVMIX_ASSERT(p.m >= 0 && p.k >= 0 && 0 <= p.n_begin && p.n_begin <= p.n_end && p.n_end <= p.n);
    KVMIX_ASSERT(p.k % tensor_type_traits(p.w_type).block_elems == 0);
    if (p.m == 0 || p.n_begin == p.n_end) return;
    if (path == MatmulDecodePath::scalar) return matmul_ref(p);
    // Q4_0 / Q4_1 decode with AVX-512 VNNI (cpu/matmul-q4-vnni.h); every other call as avx2.
    if (path != MatmulDecodePath::avx2 && cpu_has_avx512_vnni() && p.m == 1 &&
        (p.w_type == TensorType::q4_0 || p.w_type == TensorType::q4_1) && p.k <= kQ4VnniMaxK)
        return matmul_q4_vnni_decode(p, path != MatmulDecodePath::avx512_vnni && cpu_has_avx512_vbmi());
#if KVMIX_CPU_X86
    if (cpu_has_avx2_fma_f16c()) {
        // Quantized x for the decode path: on the stack up to k = 8192, else on the heap.
        constexpr int64_t kLocal = 8192;
        alignas(32) int16_t local_q[kLocal];
        float local_f[2 * kLocal / 32];
        std::vector<int16_t> heap_q;
        std::vector<float> heap_f;
        DecodeScratch xs{local_q, local_f, local_f + kLocal / 32};
        const bool quant_decode = p.m == 1 && tensor_type_traits(p.w_type).block_elems > 1 && p.w_type != TensorType::q8_0;
        if (quant_decode && p.k > kLocal) {
            heap_q.resize(static_cast<size_t>(p.k) + 16);  // + 16: room to align to 32 bytes
            heap_f.resize(static_cast<size_t>(2 * (p.k / 32)));
            const auto misalign = reinterpret_cast<uintptr_t>(heap_q.data()) % 32;
            xs = {heap_q.data() + (32 - misalign) % 32 / 2, heap_f.data(), heap_f.data() + p.k / 32};
        }
        matmul_avx2(p, xs);
        return;
    }
#endif
    matmul_ref(p);
}

}  // namespace kvmix
