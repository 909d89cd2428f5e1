// Integer dot products of int8 weights with packed KV codes (common/kv-quant-format.h): the
// inner loop of the int8-query mixed attention (cpu/mixed-attention.cpp).
//
//   out[g·32 + i] = Σ_{r < n_rows} w[g·w_stride + r] · code_i(base + r·stride)
//       i ∈ [0, 32) (the codes of one packed 32-code chunk), g ∈ [0, n_w)
// Row r is the packed chunk at base + r·stride (bytes); codes are unsigned b-bit,
// b ∈ {2, 3, 4, 8}; weights are int8 in [-127, 127]; n_w ∈ {1, 2, 3, 4, 6, 8}; any n_rows >= 0.
// For keys a row is one channel of a key group (i = token), for values one token (i = channel).
// The result is exact int32 (|out| <= 127·255·n_rows, no saturation at any width), so every
// variant returns the same integers as the scalar loop over kvq::get_code:
//   avx2       VPMADDUBSW + VPMADDWD (8-bit codes: VPMADDWD on zero-extended 16-bit halves,
//              since u8·s8 pair sums can exceed int16)
//   avx_vnni   VPDPBUSD (VEX, 256-bit)
//   avx512     VPDPBUSD (EVEX, 512-bit: 16 codes per instruction)
// Four rows are byte-transposed so that one 32-bit lane holds four rows' codes of one i.
// The int16 form (code_dot16_fn) of the AVX-512 variant is 512-bit too: VPDPWSSD zmm.
// Call a variant only when its cpu_has_* (cpu-features.h) is true. Pure, thread-safe.
#pragma once

#include <cstddef>
#include <cstdint>

namespace kvmix {

enum class CodeDotIsa { avx2, avx_vnni, avx512 };

using CodeDotFn = void (*)(const uint8_t* base, size_t stride, int64_t n_rows, const int8_t* w, size_t w_stride,
                           int32_t* out);

// The variant for (isa, bits, n_w); nullptr when bits or n_w is not supported or the build
// is not x86.
CodeDotFn code_dot_fn(CodeDotIsa isa, int bits, int n_w);

// The same with int16 weights (any value), rows taken in pairs: 16-bit lanes holding two
// rows' zero-extended codes against two weights (avx2: VPMADDWD; avx_vnni / avx512: VPDPWSSD,
// 256-bit). Exact for n_rows <= 257 (|out| <= 32768·255·n_rows < 2^31); the p·v side of the
// mixed attention calls it with at most 32 rows (tokens).
using CodeDot16Fn = void (*)(const uint8_t* base, size_t stride, int64_t n_rows, const int16_t* w, size_t w_stride,
                             int32_t* out);
CodeDot16Fn code_dot16_fn(CodeDotIsa isa, int bits, int n_w);

}  // namespace kvmix
