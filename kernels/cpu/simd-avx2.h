// AVX2/FMA/F16C helpers shared by the kernels in kernels/cpu: horizontal sums, fp16 loads,
// a row prefetch for decode products and vectorized exp / tanh. Only for use inside a KVMIX_AVX2_BEGIN/END region after
// cpu_has_avx2_fma_f16c() (see cpu-features.h); every function is static inline so each
// translation unit keeps its own AVX2 copy. Pure functions, thread-safe.
#pragma once

#include "cpu/cpu-features.h"

#if KVMIX_CPU_X86
#include <immintrin.h>

#include <cstddef>
#include <cstdint>
#include <cstring>

KVMIX_AVX2_BEGIN
namespace kvmix::avx2 {

// Plain helpers instead of std::min/max: no std template gets instantiated in a region.
static inline int64_t min_i64(int64_t a, int64_t b) { return a < b ? a : b; }
static inline int64_t max_i64(int64_t a, int64_t b) { return a > b ? a : b; }

static inline float hsum(__m256 v) {
    __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    s = _mm_add_ss(s, _mm_movehdup_ps(s));
    return _mm_cvtss_f32(s);
}

static inline float hmax(__m256 v) {
    __m128 s = _mm_max_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    s = _mm_max_ps(s, _mm_movehl_ps(s, s));
    s = _mm_max_ss(s, _mm_movehdup_ps(s));
    return _mm_cvtss_f32(s);
}

// Unaligned little-endian loads of block fields.
static inline uint16_t load_u16(const uint8_t* p) {
    uint16_t v;
    std::memcpy(&v, p, sizeof v);
    return v;
}
static inline uint32_t load_u32(const uint8_t* p) {
    uint32_t v;
    std::memcpy(&v, p, sizeof v);
    return v;
}

// fp16 bits -> fp32 with F16C (exact, same values as fp16_to_fp32).
static inline float half_to_float(uint16_t h) {
    return _mm_cvtss_f32(_mm_cvtph_ps(_mm_cvtsi32_si128(h)));
}
static inline __m256 load_half8(const uint16_t* p) {
    return _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(p)));
}

// A T0 prefetch of the line at p that the compiler keeps. GCC marks _mm_prefetch "const", so
// a helper whose only effect is prefetching (e.g. a loop over a range) is found pure and its
// calls deleted as dead code when it is not inlined first; the quantized K/V prefetch of the
// mixed attention silently vanished that way. A volatile asm is never removed. Never faults.
static inline void prefetch_line(const void* p) {
    asm volatile("prefetcht0 %0" : : "m"(*static_cast<const char*>(p)));
}

// Decode matrix-vector products stream each weight row once, and the hardware streamer
// restarts at every 4 KiB page, so their block loops prefetch ahead: a call per block of
// [p, p + n) prefetches the cache lines that start in [p + kStreamAhead, p + n +
// kStreamAhead), so a row read front to back prefetches each line once, spread over the loop.
// (A whole row's lines prefetched at its start stall the core on full fill buffers until
// they arrive; spreading them made decode 11-37% faster, tests/bench/RESULTS.md.) Rows are
// contiguous, so the lines ahead are the next rows'; a prefetch never faults, even past the
// end of the weights.
inline constexpr size_t kStreamAhead = 4096;
static inline void prefetch_stream(const void* p, size_t n) {
    const uintptr_t a = reinterpret_cast<uintptr_t>(p) + kStreamAhead;
    for (uintptr_t line = (a + 63) & ~uintptr_t{63}; line < a + n; line += 64) prefetch_line(reinterpret_cast<const void*>(line));
}

// e^x, relative error ~1e-7 over the fp32 range. NaN stays NaN, x > 88.8 gives +inf and
// x < -86.6 (including -inf) gives exactly 0 — so masked scores vanish as in the refs.
// exp16 in cpu/mixed-attention-vbmi.cpp repeats these operations on 16 lanes so the two
// softmax steps agree bit for bit (test-kv-quant): change both or neither.
static inline __m256 exp(__m256 x) {
    const __m256 lo = _mm256_set1_ps(-86.6f);
    // max/min return their second operand when one is NaN: keep x there so NaN survives.
    const __m256 xc = _mm256_min_ps(_mm256_set1_ps(88.8f), _mm256_max_ps(lo, x));
    const __m256 n = _mm256_round_ps(_mm256_mul_ps(xc, _mm256_set1_ps(1.44269504088896341f)),
                                     _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
    // Cody-Waite: ln2 split so n * ln2_hi is exact.
    __m256 r = _mm256_fnmadd_ps(n, _mm256_set1_ps(0.693359375f), xc);
    r = _mm256_fnmadd_ps(n, _mm256_set1_ps(-2.12194440e-4f), r);
    // Taylor to degree 7 on |r| <= 0.347: truncation error < 6e-9.
    __m256 y = _mm256_set1_ps(1.0f / 5040.0f);
    y = _mm256_fmadd_ps(y, r, _mm256_set1_ps(1.0f / 720.0f));
    y = _mm256_fmadd_ps(y, r, _mm256_set1_ps(1.0f / 120.0f));
    y = _mm256_fmadd_ps(y, r, _mm256_set1_ps(1.0f / 24.0f));
    y = _mm256_fmadd_ps(y, r, _mm256_set1_ps(1.0f / 6.0f));
    y = _mm256_fmadd_ps(y, r, _mm256_set1_ps(0.5f));
    y = _mm256_fmadd_ps(y, r, _mm256_set1_ps(1.0f));
    y = _mm256_fmadd_ps(y, r, _mm256_set1_ps(1.0f));
    // 2^n as 2^(n-1) * 2 so n = 128 (x near ln FLT_MAX) still builds a finite factor and
    // the final doubling overflows to inf exactly when the true value does.
    const __m256i e = _mm256_slli_epi32(_mm256_add_epi32(_mm256_cvtps_epi32(n), _mm256_set1_epi32(126)), 23);
    y = _mm256_mul_ps(_mm256_mul_ps(y, _mm256_castsi256_ps(e)), _mm256_set1_ps(2.0f));
    // x < lo (ordered) -> 0; NaN compares "not less" and is kept.
    return _mm256_and_ps(y, _mm256_cmp_ps(x, lo, _CMP_NLT_UQ));
}

// tanh(x) = sign(x) (1 - e) / (1 + e), e = e^(-2|x|): absolute error ~1e-7.
static inline __m256 tanh(__m256 x) {
    const __m256 sign = _mm256_set1_ps(-0.0f);
    const __m256 ax = _mm256_andnot_ps(sign, x);
    const __m256 e = exp(_mm256_mul_ps(ax, _mm256_set1_ps(-2.0f)));
    const __m256 one = _mm256_set1_ps(1.0f);
    const __m256 t = _mm256_div_ps(_mm256_sub_ps(one, e), _mm256_add_ps(one, e));
    return _mm256_or_ps(t, _mm256_and_ps(x, sign));
}

}  // namespace kvmix::avx2
KVMIX_AVX2_END

#endif  // KVMIX_CPU_X86
