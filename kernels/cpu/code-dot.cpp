#include "cpu/code-dot.h"

#include <cstdint>
#include <cstring>

#include "common/kv-quant-format.h"
#include "cpu/cpu-features.h"

#if KVMIX_CPU_X86
#include <immintrin.h>

// The same 256-bit body twice (AVX2, AVX-VNNI), each in its own target region and namespace;
// the AVX-512 variants below are 512-bit.
KVMIX_AVX2_BEGIN
namespace kvmix::code_dot_avx2 {
namespace {
#define KVMIX_CODE_DOT_VNNI 0
#include "cpu/code-dot-ymm.inc"
#undef KVMIX_CODE_DOT_VNNI
}  // namespace
}  // namespace kvmix::code_dot_avx2
KVMIX_AVX2_END

KVMIX_AVXVNNI_BEGIN
namespace kvmix::code_dot_avx_vnni {
namespace {
#define KVMIX_CODE_DOT_VNNI 1
#include "cpu/code-dot-ymm.inc"
#undef KVMIX_CODE_DOT_VNNI
}  // namespace
}  // namespace kvmix::code_dot_avx_vnni
KVMIX_AVXVNNI_END

KVMIX_AVX512_HEADER_WARNINGS_OFF
KVMIX_AVX512VNNI_BEGIN
namespace kvmix::code_dot_avx512 {
namespace {

inline __m128i load64(const uint8_t* p) {
    uint64_t v;
    std::memcpy(&v, p, sizeof v);
    return _mm_cvtsi64_si128(static_cast<long long>(v));
}
inline __m128i load32(const uint8_t* p) {
    uint32_t v;
    std::memcpy(&v, p, sizeof v);
    return _mm_cvtsi32_si128(static_cast<int>(v));
}
inline __m128i load128(const uint8_t* p) { return _mm_loadu_si128(reinterpret_cast<const __m128i*>(p)); }

// Four 128-bit transposes (lane k = bytes k of the four rows) as one zmm: [lo8 | hi8] of
// bytes 0..15 of the rows, i.e. lanes 0..15 = byte index 0..15.
inline __m512i transpose16(__m128i a, __m128i b, __m128i c, __m128i d) {
    const __m128i ab0 = _mm_unpacklo_epi8(a, b), cd0 = _mm_unpacklo_epi8(c, d);
    const __m128i ab1 = _mm_unpackhi_epi8(a, b), cd1 = _mm_unpackhi_epi8(c, d);
    const __m256i lo = _mm256_inserti128_si256(_mm256_castsi128_si256(_mm_unpacklo_epi16(ab0, cd0)), _mm_unpackhi_epi16(ab0, cd0), 1);
    const __m256i hi = _mm256_inserti128_si256(_mm256_castsi128_si256(_mm_unpacklo_epi16(ab1, cd1)), _mm_unpackhi_epi16(ab1, cd1), 1);
    return _mm512_inserti64x4(_mm512_castsi256_si512(lo), hi, 1);
}

// z[h] lane k (k ∈ [0, 16)) = the four rows' codes of index 16h + k, one per byte.
template <int B>
inline void quad_codes(const uint8_t* p, size_t st, __m512i z[2]) {
    if constexpr (B == 2 || B == 3) {
        // Bytes 0..7 hold codes k, k + 8, k + 16, k + 24 at shifts 0, 2, 4, 6.
        const __m128i ab = _mm_unpacklo_epi8(load64(p), load64(p + st)), cd = _mm_unpacklo_epi8(load64(p + 2 * st), load64(p + 3 * st));
        const __m256i t = _mm256_inserti128_si256(_mm256_castsi128_si256(_mm_unpacklo_epi16(ab, cd)), _mm_unpackhi_epi16(ab, cd), 1);
        const __m512i tt = _mm512_broadcast_i64x4(t), m = _mm512_set1_epi8(3);
        const __m512i sh0 = _mm512_setr_epi32(0, 0, 0, 0, 0, 0, 0, 0, 2, 2, 2, 2, 2, 2, 2, 2);
        const __m512i sh1 = _mm512_setr_epi32(4, 4, 4, 4, 4, 4, 4, 4, 6, 6, 6, 6, 6, 6, 6, 6);
        z[0] = _mm512_and_si512(_mm512_srlv_epi32(tt, sh0), m);
        z[1] = _mm512_and_si512(_mm512_srlv_epi32(tt, sh1), m);
        if constexpr (B == 3) {
            // u dword j = byte 8 + j of the four rows; bit k of it is bit 2 of code 8j + k.
            const __m128i hab = _mm_unpacklo_epi8(load32(p + 8), load32(p + st + 8));
            const __m128i hcd = _mm_unpacklo_epi8(load32(p + 2 * st + 8), load32(p + 3 * st + 8));
            const __m512i u = _mm512_castsi128_si512(_mm_unpacklo_epi16(hab, hcd));
            const __m512i sel0 = _mm512_setr_epi32(0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 1, 1, 1);
            const __m512i sel1 = _mm512_setr_epi32(2, 2, 2, 2, 2, 2, 2, 2, 3, 3, 3, 3, 3, 3, 3, 3);
            const __m512i sh = _mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 0, 1, 2, 3, 4, 5, 6, 7), one = _mm512_set1_epi8(1);
            const __m512i h0 = _mm512_and_si512(_mm512_srlv_epi32(_mm512_permutexvar_epi32(sel0, u), sh), one);
            const __m512i h1 = _mm512_and_si512(_mm512_srlv_epi32(_mm512_permutexvar_epi32(sel1, u), sh), one);
            z[0] = _mm512_or_si512(z[0], _mm512_slli_epi32(h0, 2));
            z[1] = _mm512_or_si512(z[1], _mm512_slli_epi32(h1, 2));
        }
    } else if constexpr (B == 4) {
        // Byte k holds code k (low nibble) and k + 16 (high nibble).
        const __m512i t = transpose16(load128(p), load128(p + st), load128(p + 2 * st), load128(p + 3 * st));
        const __m512i m = _mm512_set1_epi8(15);
        z[0] = _mm512_and_si512(t, m);
        z[1] = _mm512_and_si512(_mm512_srli_epi32(t, 4), m);
    } else {
        for (int h = 0; h < 2; ++h) {
            const uint8_t* q = p + 16 * h;
            z[h] = transpose16(load128(q), load128(q + st), load128(q + 2 * st), load128(q + 3 * st));
        }
    }
}

// ---- int16 weights, rows in pairs (code_dot16_fn), 512-bit -------------------------------

// Two rows' chunks at p and p + st: z[h] dword lane k (k ∈ [0, 16)) = the pair's codes of
// index 16h + k as zero-extended 16-bit halves [row 0, row 1].
template <int B>
inline void pair_codes16(const uint8_t* p, size_t st, __m512i z[2]) {
    if constexpr (B == 2 || B == 3) {
        // Byte i of a row holds codes i, i + 8, i + 16, i + 24 at shifts 0, 2, 4, 6.
        const __m512i t = _mm512_broadcast_i64x4(_mm256_cvtepu8_epi16(_mm_unpacklo_epi8(load64(p), load64(p + st))));
        const __m512i sh0 = _mm512_set_epi64(0x0002000200020002, 0x0002000200020002, 0x0002000200020002, 0x0002000200020002, 0, 0, 0, 0);
        const __m512i sh1 = _mm512_set_epi64(0x0006000600060006, 0x0006000600060006, 0x0006000600060006, 0x0006000600060006,
                                             0x0004000400040004, 0x0004000400040004, 0x0004000400040004, 0x0004000400040004);
        const __m512i m = _mm512_set1_epi16(3);
        z[0] = _mm512_and_si512(_mm512_srlv_epi16(t, sh0), m);
        z[1] = _mm512_and_si512(_mm512_srlv_epi16(t, sh1), m);
        if constexpr (B == 3) {
            // Dword j of u = byte 8 + j of the two rows as 16-bit halves; bit k of it is bit 2
            // of code 8j + k: lane k of z[h] takes dword 2h + k / 8, shifted by k % 8.
            const __m512i u = _mm512_castsi256_si512(_mm256_cvtepu8_epi16(_mm_unpacklo_epi8(load32(p + 8), load32(p + st + 8))));
            const __m512i sel0 = _mm512_setr_epi32(0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 1, 1, 1);
            const __m512i sel1 = _mm512_setr_epi32(2, 2, 2, 2, 2, 2, 2, 2, 3, 3, 3, 3, 3, 3, 3, 3);
            const __m512i sh = _mm512_set_epi64(0x0007000700060006, 0x0005000500040004, 0x0003000300020002, 0x0001000100000000,
                                                0x0007000700060006, 0x0005000500040004, 0x0003000300020002, 0x0001000100000000);
            const __m512i one = _mm512_set1_epi16(1);
            const __m512i h0 = _mm512_and_si512(_mm512_srlv_epi16(_mm512_permutexvar_epi32(sel0, u), sh), one);
            const __m512i h1 = _mm512_and_si512(_mm512_srlv_epi16(_mm512_permutexvar_epi32(sel1, u), sh), one);
            z[0] = _mm512_or_si512(z[0], _mm512_slli_epi16(h0, 2));
            z[1] = _mm512_or_si512(z[1], _mm512_slli_epi16(h1, 2));
        }
    } else if constexpr (B == 4) {
        // Byte k holds code k (low nibble) and k + 16 (high nibble).
        const __m128i a = load128(p), b = load128(p + st);
        const __m512i t = _mm512_inserti64x4(_mm512_castsi256_si512(_mm256_cvtepu8_epi16(_mm_unpacklo_epi8(a, b))),
                                             _mm256_cvtepu8_epi16(_mm_unpackhi_epi8(a, b)), 1);
        const __m512i m = _mm512_set1_epi16(15);
        z[0] = _mm512_and_si512(t, m);
        z[1] = _mm512_and_si512(_mm512_srli_epi16(t, 4), m);
    } else {
        for (int h = 0; h < 2; ++h) {
            const __m128i a = load128(p + 16 * h), b = load128(p + st + 16 * h);
            z[h] = _mm512_inserti64x4(_mm512_castsi256_si512(_mm256_cvtepu8_epi16(_mm_unpacklo_epi8(a, b))),
                                      _mm256_cvtepu8_epi16(_mm_unpackhi_epi8(a, b)), 1);
        }
    }
}

// Both forms: int8 weights take rows in fours (quad_codes, VPDPBUSD), int16 weights in
// pairs (pair_codes16, VPDPWSSD); the rows left over go through the scalar loop.
template <int B, int NW, class W>
void dot_rows(const uint8_t* base, size_t stride, int64_t n_rows, const W* w, size_t w_stride, int32_t* out) {
    constexpr int kStep = sizeof(W) == 1 ? 4 : 2;
    __m512i acc[NW][2];
    for (int g = 0; g < NW; ++g) acc[g][0] = acc[g][1] = _mm512_setzero_si512();
    int64_t r = 0;
    for (; r + kStep <= n_rows; r += kStep) {
        __m512i z[2];
        if constexpr (kStep == 4) {
            quad_codes<B>(base + static_cast<size_t>(r) * stride, stride, z);
        } else {
            pair_codes16<B>(base + static_cast<size_t>(r) * stride, stride, z);
        }
        // Unrolled so the accumulators stay in registers: GCC 12 leaves a loop of 3 or 6 rows
        // rolled and keeps acc in memory, a store-to-load chain on every instruction.
#pragma GCC unroll 8
        for (int g = 0; g < NW; ++g) {
            uint32_t wb;  // kStep weights of row group g
            std::memcpy(&wb, w + static_cast<size_t>(g) * w_stride + r, sizeof wb);
            const __m512i wv = _mm512_set1_epi32(static_cast<int>(wb));
            for (int h = 0; h < 2; ++h) {
                if constexpr (kStep == 4) {
                    acc[g][h] = _mm512_dpbusd_epi32(acc[g][h], z[h], wv);
                } else {
                    acc[g][h] = _mm512_dpwssd_epi32(acc[g][h], z[h], wv);
                }
            }
        }
    }
    for (int g = 0; g < NW; ++g) {
        _mm512_storeu_si512(out + g * 32, acc[g][0]);
        _mm512_storeu_si512(out + g * 32 + 16, acc[g][1]);
    }
    for (; r < n_rows; ++r) {
        const uint8_t* chunk = base + static_cast<size_t>(r) * stride;
        for (int g = 0; g < NW; ++g) {
            const int32_t wr = w[static_cast<size_t>(g) * w_stride + static_cast<size_t>(r)];
            for (int i = 0; i < 32; ++i) out[g * 32 + i] += wr * static_cast<int32_t>(kvq::get_code(chunk, B, i));
        }
    }
}

template <class W>
using RowsFn = void (*)(const uint8_t*, size_t, int64_t, const W*, size_t, int32_t*);

template <int NW, class W>
RowsFn<W> pick_bits(int bits) {
    switch (bits) {
        case 2: return &dot_rows<2, NW, W>;
        case 3: return &dot_rows<3, NW, W>;
        case 4: return &dot_rows<4, NW, W>;
        case 8: return &dot_rows<8, NW, W>;
        default: return nullptr;
    }
}

template <class W>
RowsFn<W> pick_rows(int bits, int n_w) {
    switch (n_w) {
        case 1: return pick_bits<1, W>(bits);
        case 2: return pick_bits<2, W>(bits);
        case 3: return pick_bits<3, W>(bits);
        case 4: return pick_bits<4, W>(bits);
        case 6: return pick_bits<6, W>(bits);
        case 8: return pick_bits<8, W>(bits);
        default: return nullptr;
    }
}

CodeDot16Fn pick16_fn(int bits, int n_w) { return pick_rows<int16_t>(bits, n_w); }
CodeDotFn pick_fn(int bits, int n_w) { return pick_rows<int8_t>(bits, n_w); }

}  // namespace
}  // namespace kvmix::code_dot_avx512
KVMIX_AVX512VNNI_END
KVMIX_AVX512_HEADER_WARNINGS_ON
#endif

namespace kvmix {

CodeDot16Fn code_dot16_fn(CodeDotIsa isa, int bits, int n_w) {
#if KVMIX_CPU_X86
    switch (isa) {
        case CodeDotIsa::avx2: return code_dot_avx2::pick16_fn(bits, n_w);
        case CodeDotIsa::avx_vnni: return code_dot_avx_vnni::pick16_fn(bits, n_w);
        case CodeDotIsa::avx512: return code_dot_avx512::pick16_fn(bits, n_w);
    }
#else
    (void)isa;
    (void)bits;
    (void)n_w;
#endif
    return nullptr;
}

CodeDotFn code_dot_fn(CodeDotIsa isa, int bits, int n_w) {
#if KVMIX_CPU_X86
    switch (isa) {
        case CodeDotIsa::avx2: return code_dot_avx2::pick_fn(bits, n_w);
        case CodeDotIsa::avx_vnni: return code_dot_avx_vnni::pick_fn(bits, n_w);
        case CodeDotIsa::avx512: return code_dot_avx512::pick_fn(bits, n_w);
    }
#else
    (void)isa;
    (void)bits;
    (void)n_w;
#endif
    return nullptr;
}

}  // namespace kvmix
