#include "cpu/matmul-q4-vnni.h"

#include <cstddef>
#include <cstdint>
#include <cstring>

#include "common/assert.h"
#include "common/tensor-types.h"
#include "cpu/cpu-features.h"
#include "cpu/simd-avx2.h"

#if KVMIX_CPU_X86
#include <immintrin.h>

KVMIX_AVX512_HEADER_WARNINGS_OFF
KVMIX_AVX512VNNI_BEGIN
namespace kvmix {
namespace {

constexpr int64_t kStep = 4;  // blocks per loop step: two zmm of two blocks each

using avx2::half_to_float;
using avx2::load_u16;
using avx2::load_u32;

// Byte offsets in the h / l arrays of elements 0-15 and 16-31 of block b. Blocks of a whole
// pair sit as the weights are loaded: the zmm of blocks 2i, 2i + 1 is
// [b0 0-15 | b1 0-15 | b0 16-31 | b1 16-31] (a step of 4 is two pairs); an odd last block is
// in element order.
inline void block_offsets(int64_t b, int64_t nb, int64_t& lo, int64_t& hi) {
    if (b < nb / 2 * 2) {
        const int64_t base = b / 2 * 64, slot = b % 2;
        lo = base + 16 * slot;
        hi = base + 32 + 16 * slot;
        return;
    }
    lo = 32 * b;
    hi = lo + 16;
}

// x -> h, l (see the header) and xs[2b] = dx_b / 256, xs[2b + 1] = the block's additive-term
// factor: Σx_b in fp32 (Q4_1: m_w·Σx), or -8·dx_b·(Σh + Σl/256), the sum of the quantized x
// (Q4_0: Σ(q - 8)·x̂ = Σq·x̂ - 8·Σx̂ keeps the int16 path's error, Σ|w|·|x - x̂|).
void quantize_x(const float* x, int64_t nb, bool has_min, int8_t* h, int8_t* l, float* xs) {
    const __m512i one = _mm512_set1_epi32(1), i127 = _mm512_set1_epi32(127), i256 = _mm512_set1_epi32(256);
    for (int64_t b = 0; b < nb; ++b) {
        const __m512 v[2] = {_mm512_loadu_ps(x + 32 * b), _mm512_loadu_ps(x + 32 * b + 16)};
        const float amax = _mm512_reduce_max_ps(_mm512_max_ps(_mm512_abs_ps(v[0]), _mm512_abs_ps(v[1])));
        const float sum = _mm512_reduce_add_ps(_mm512_add_ps(v[0], v[1]));
        // max drops NaNs, the sum keeps them. Blocks with amax below ~1e-33 are flushed to zero.
        const float id = amax > 1e-33f ? 127.0f / amax : 0.0f;
        const float dx = sum != sum ? sum : amax / 127.0f;
        const __m512 vid = _mm512_set1_ps(id), vid256 = _mm512_set1_ps(256.0f * id), vdx = _mm512_set1_ps(dx);
        int64_t off[2];
        block_offsets(b, nb, off[0], off[1]);
        __m512i hsum = _mm512_setzero_si512(), lsum = _mm512_setzero_si512();
        for (int half = 0; half < 2; ++half) {
            __m512i hi = _mm512_cvtps_epi32(_mm512_mul_ps(v[half], vid));  // round to nearest even
            const __m512 r = _mm512_fnmadd_ps(_mm512_cvtepi32_ps(hi), vdx, v[half]);
            __m512i lo = _mm512_cvtps_epi32(_mm512_mul_ps(r, vid256));
            // A residual that rounds to +128 (|r| at dx/2) becomes one more step of h.
            const __mmask16 carry = _mm512_cmpgt_epi32_mask(lo, i127);
            hi = _mm512_mask_add_epi32(hi, carry, hi, one);
            lo = _mm512_mask_sub_epi32(lo, carry, lo, i256);
            hsum = _mm512_add_epi32(hsum, hi);
            lsum = _mm512_add_epi32(lsum, lo);
            _mm_storeu_si128(reinterpret_cast<__m128i*>(h + off[half]), _mm512_cvtepi32_epi8(hi));
            _mm_storeu_si128(reinterpret_cast<__m128i*>(l + off[half]), _mm512_cvtepi32_epi8(lo));
        }
        xs[2 * b] = dx / 256.0f;  // the dots hold 256·h + l
        if (has_min) {
            xs[2 * b + 1] = sum;
        } else {
            const float q = static_cast<float>(_mm512_reduce_add_epi32(hsum)) + static_cast<float>(_mm512_reduce_add_epi32(lsum)) / 256.0f;
            xs[2 * b + 1] = -8.0f * dx * q;
        }
    }
}

// Blocks p and p + the block size (kMin: Q4_1, 20 bytes; else Q4_0, 18): their nibbles in
// one zmm in the h / l layout of a pair (block_offsets), dotted with h and l; dword lanes
// hold 256·Σ q·h + Σ q·l.
template <bool kMin>
inline __m512i pair_sums(const uint8_t* p, const int8_t* h, const int8_t* l) {
    constexpr int64_t kBytes = kMin ? 20 : 18, kQs = kMin ? 4 : 2;
    const __m256i nib = _mm256_set1_epi8(0x0F);
    const __m256i y = _mm256_inserti128_si256(_mm256_castsi128_si256(_mm_loadu_si128(reinterpret_cast<const __m128i*>(p + kQs))),
                                              _mm_loadu_si128(reinterpret_cast<const __m128i*>(p + kBytes + kQs)), 1);
    const __m512i w = _mm512_inserti64x4(_mm512_castsi256_si512(_mm256_and_si256(y, nib)), _mm256_and_si256(_mm256_srli_epi16(y, 4), nib), 1);
    const __m512i ph = _mm512_dpbusd_epi32(_mm512_setzero_si512(), w, _mm512_loadu_si512(h));
    const __m512i pl = _mm512_dpbusd_epi32(_mm512_setzero_si512(), w, _mm512_loadu_si512(l));
    return _mm512_add_epi32(_mm512_slli_epi32(ph, 8), pl);
}

// N (2 or 4) blocks' (scale, additive factor) as fp16 pairs: Q4_1 (d, m), Q4_0 (d, d); the
// lanes past N are zero.
template <bool kMin, int N>
inline __m128i block_scales(const uint8_t* p) {
    constexpr int64_t kBytes = kMin ? 20 : 18;
    const auto at = [&](int i) {
        return i >= N ? 0 : static_cast<int>(kMin ? load_u32(p + i * kBytes) : load_u16(p + i * kBytes) * 0x10001u);
    };
    return _mm_setr_epi32(at(0), at(1), at(2), at(3));
}

// Blocks b .. nb - 1 after the whole steps (fewer than kStep): a pair, then an odd block in
// element order (block_offsets).
template <bool kMin>
float rest_sum(const uint8_t* row, const int8_t* h, const int8_t* l, const float* xs, int64_t b, int64_t nb) {
    constexpr int64_t kBytes = kMin ? 20 : 18, kQs = kMin ? 4 : 2;
    float sum = 0.0f;
    if (b + 2 <= nb) {  // one pair left (k = 576: 4 steps and a pair); lanes 4-7 of f are zero
        const uint8_t* p = row + b * kBytes;
        const __m256 f = _mm256_mul_ps(_mm256_cvtph_ps(block_scales<kMin, 2>(p)), _mm256_maskz_loadu_ps(0x0F, xs + 2 * b));
        const __m512i idx0 = _mm512_setr_epi32(0, 0, 0, 0, 2, 2, 2, 2, 0, 0, 0, 0, 2, 2, 2, 2);
        const __m512 v = _mm512_mul_ps(_mm512_cvtepi32_ps(pair_sums<kMin>(p, h + 32 * b, l + 32 * b)), _mm512_permutexvar_ps(idx0, _mm512_castps256_ps512(f)));
        alignas(32) float t[8];
        _mm256_store_ps(t, f);
        sum = _mm512_reduce_add_ps(v) + (t[1] + t[3]);
        b += 2;
    }
    if (b < nb) {  // an odd last block, in element order
        const uint8_t* p = row + b * kBytes;
        const __m128i q = _mm_loadu_si128(reinterpret_cast<const __m128i*>(p + kQs));
        const __m256i w = _mm256_and_si256(_mm256_inserti128_si256(_mm256_castsi128_si256(q), _mm_srli_epi16(q, 4), 1), _mm256_set1_epi8(0x0F));
        const __m256i ph = _mm256_dpbusd_epi32(_mm256_setzero_si256(), w, _mm256_loadu_si256(reinterpret_cast<const __m256i*>(h + 32 * b)));
        const __m256i pl = _mm256_dpbusd_epi32(_mm256_setzero_si256(), w, _mm256_loadu_si256(reinterpret_cast<const __m256i*>(l + 32 * b)));
        const int32_t st = _mm512_reduce_add_epi32(_mm512_zextsi256_si512(_mm256_add_epi32(_mm256_slli_epi32(ph, 8), pl)));
        const float d = half_to_float(load_u16(p));
        const float a = kMin ? half_to_float(load_u16(p + 2)) : d;
        sum += static_cast<float>(st) * (d * xs[2 * b]) + a * xs[2 * b + 1];
    }
    return sum;
}

// The fp32 side of a row's steps, shared by dot_row and dot_row_vbmi. Per step, sc holds the
// four blocks' (scale, additive factor) fp16 pairs (block_scales); f = [d0·dx0, a0, d1·dx1,
// a1, ...] (a: additive term) is spread to the lanes of each pair's int32 sums.
// (An explicit constructor: an implicit one would not get this region's target.)
struct RowSums {
    __m512 acc0, acc1;
    __m256 add;  // odd lanes: the additive terms (even lanes unused)

    RowSums() : acc0(_mm512_setzero_ps()), acc1(_mm512_setzero_ps()), add(_mm256_setzero_ps()) {}

    void step(__m512i s0, __m512i s1, __m128i sc, const float* xs) {
        const __m512i idx0 = _mm512_setr_epi32(0, 0, 0, 0, 2, 2, 2, 2, 0, 0, 0, 0, 2, 2, 2, 2);
        const __m512i idx1 = _mm512_setr_epi32(4, 4, 4, 4, 6, 6, 6, 6, 4, 4, 4, 4, 6, 6, 6, 6);
        const __m256 f = _mm256_mul_ps(_mm256_cvtph_ps(sc), _mm256_loadu_ps(xs));
        add = _mm256_add_ps(add, f);
        const __m512 fz = _mm512_castps256_ps512(f);
        acc0 = _mm512_fmadd_ps(_mm512_cvtepi32_ps(s0), _mm512_permutexvar_ps(idx0, fz), acc0);
        acc1 = _mm512_fmadd_ps(_mm512_cvtepi32_ps(s1), _mm512_permutexvar_ps(idx1, fz), acc1);
    }
    float total() const {
        alignas(32) float t[8];
        _mm256_store_ps(t, add);
        return _mm512_reduce_add_ps(_mm512_add_ps(acc0, acc1)) + ((t[1] + t[3]) + (t[5] + t[7]));
    }
};

// Σ over the row's nb blocks; kMin: Q4_1 (d, m, 16 bytes of nibbles), else Q4_0 (d, nibbles).
template <bool kMin>
float dot_row(const uint8_t* row, const int8_t* h, const int8_t* l, const float* xs, int64_t nb) {
    constexpr int64_t kBytes = kMin ? 20 : 18;
    RowSums sums;
    int64_t b = 0;
    for (; b + kStep <= nb; b += kStep) {
        const uint8_t* p = row + b * kBytes;
        // One line per step (72 or 80 bytes), as far ahead as avx2::prefetch_stream but without
        // its loop, which this compute-bound loop would pay for; the lines it skips (one in 9
        // or 5) the hardware streamer brings.
        _mm_prefetch(reinterpret_cast<const char*>(p) + avx2::kStreamAhead, _MM_HINT_T0);
        sums.step(pair_sums<kMin>(p, h + 32 * b, l + 32 * b), pair_sums<kMin>(p + 2 * kBytes, h + 32 * b + 64, l + 32 * b + 64),
                  block_scales<kMin, 4>(p), xs + 2 * b);
    }
    return sums.total() + rest_sum<kMin>(row, h, l, xs, b, nb);
}
}  // namespace
}  // namespace kvmix
KVMIX_AVX512VNNI_END

KVMIX_AVX512VBMI_BEGIN
namespace kvmix {
namespace {

struct Index64 {
    uint8_t b[64];
};

// A pair's nibbles from the 64-byte window at its first block: [qs0 | qs1 | qs0 | qs1], so
// that one masked shift makes the upper half the high nibbles (the zmm layout of pair_sums).
template <bool kMin>
constexpr Index64 pair_nibble_index() {
    constexpr int kBytes = kMin ? 20 : 18, kQs = kMin ? 4 : 2;
    Index64 x{};
    for (int i = 0; i < 64; ++i) x.b[i] = static_cast<uint8_t>(kQs + (i / 16) % 2 * kBytes + i % 16);
    return x;
}
// A step's four (scale, additive factor) fp16 pairs from the window at its first block, as
// block_scales: Q4_1 (d, m), Q4_0 (d, d); bytes 16-63 unused.
template <bool kMin>
constexpr Index64 step_scale_index() {
    constexpr int kBytes = kMin ? 20 : 18;
    Index64 x{};
    for (int i = 0; i < 16; ++i) x.b[i] = static_cast<uint8_t>(kBytes * (i / 4) + (kMin ? i % 4 : i % 2));
    return x;
}
alignas(64) constexpr Index64 kNibbles[2] = {pair_nibble_index<false>(), pair_nibble_index<true>()};
alignas(64) constexpr Index64 kScales[2] = {step_scale_index<false>(), step_scale_index<true>()};

// pair_sums from a window: dword lanes hold 256·Σ q·h + Σ q·l.
inline __m512i window_pair_sums(__m512i win, __m512i nibble_index, const int8_t* h, const int8_t* l) {
    const __m512i x = _mm512_permutexvar_epi8(nibble_index, win);
    const __m512i q = _mm512_and_si512(_mm512_mask_srli_epi16(x, 0xFFFF0000u, x, 4), _mm512_set1_epi8(0x0F));
    const __m512i ph = _mm512_dpbusd_epi32(_mm512_setzero_si512(), q, _mm512_loadu_si512(h));
    return _mm512_dpbusd_epi32(_mm512_slli_epi32(ph, 8), q, _mm512_loadu_si512(l));
}

// dot_row with single-source byte permutes of 64-byte windows instead of 128-bit inserts and
// scalar scale loads: per step of four blocks two windows, three VPERMB. The same integers
// and the same fp32 operations in the same order as dot_row, so the same result.
template <bool kMin>
float dot_row_vbmi(const uint8_t* row, const int8_t* h, const int8_t* l, const float* xs, int64_t nb) {
    constexpr int64_t kBytes = kMin ? 20 : 18;
    const __m512i nibbles = _mm512_load_si512(kNibbles[kMin].b), scales = _mm512_load_si512(kScales[kMin].b);
    RowSums sums;
    int64_t b = 0;
    for (; b + kStep <= nb; b += kStep) {
        const uint8_t* p = row + b * kBytes;
        _mm_prefetch(reinterpret_cast<const char*>(p) + avx2::kStreamAhead, _MM_HINT_T0);
        const __m512i w0 = _mm512_loadu_si512(p);
        // The second pair's window reaches 64 - 2·kBytes bytes past the step: masked where
        // that is past the row.
        const __m512i w1 = (b + 2) * kBytes + 64 <= nb * kBytes ? _mm512_loadu_si512(p + 2 * kBytes)
                                                                : _mm512_maskz_loadu_epi8((1ull << (2 * kBytes)) - 1, p + 2 * kBytes);
        sums.step(window_pair_sums(w0, nibbles, h + 32 * b, l + 32 * b), window_pair_sums(w1, nibbles, h + 32 * b + 64, l + 32 * b + 64),
                  _mm512_castsi512_si128(_mm512_permutexvar_epi8(scales, w0)), xs + 2 * b);
    }
    return sums.total() + rest_sum<kMin>(row, h, l, xs, b, nb);
}

}  // namespace
}  // namespace kvmix
KVMIX_AVX512VBMI_END

KVMIX_AVX512VNNI_BEGIN
namespace kvmix {

void matmul_q4_vnni_decode(const MatmulParams& p, bool vbmi) {
    KVMIX_ASSERT(p.m == 1 && (p.w_type == TensorType::q4_0 || p.w_type == TensorType::q4_1));
    KVMIX_ASSERT(p.k % 32 == 0 && p.k <= kQ4VnniMaxK && cpu_has_avx512_vnni() && (!vbmi || cpu_has_avx512_vbmi()));
    const int64_t nb = p.k / 32;
    alignas(64) int8_t h[kQ4VnniMaxK], l[kQ4VnniMaxK];
    alignas(64) float xs[2 * kQ4VnniMaxK / 32];
    const bool has_min = p.w_type == TensorType::q4_1;
    quantize_x(p.x, nb, has_min, h, l, xs);
    const auto* w = static_cast<const uint8_t*>(p.w);
    using DotFn = float (*)(const uint8_t*, const int8_t*, const int8_t*, const float*, int64_t);
    const DotFn dot = vbmi ? (has_min ? &dot_row_vbmi<true> : &dot_row_vbmi<false>) : (has_min ? &dot_row<true> : &dot_row<false>);
    for (int64_t j = p.n_begin; j < p.n_end; ++j) p.y[j] = dot(w + static_cast<size_t>(j) * p.w_row_bytes, h, l, xs, nb);
}

}  // namespace kvmix
KVMIX_AVX512VNNI_END
KVMIX_AVX512_HEADER_WARNINGS_ON

#else  // !KVMIX_CPU_X86

namespace kvmix {
void matmul_q4_vnni_decode(const MatmulParams&, bool) { KVMIX_ASSERT(!"matmul_q4_vnni_decode: x86 only"); }
}  // namespace kvmix

#endif
