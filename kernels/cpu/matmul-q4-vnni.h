// Decode (m == 1) matrix-vector product for Q4_0 / Q4_1 weights with AVX-512 VNNI: the
// path matmul_cpu takes for those types where cpu_has_avx512_vnni() (cpu/matmul.h).
//
// x is quantized once per call, per block b of 32, to two int8 parts:
//   dx_b = amax_b / 127, h = round_even(x / dx_b) in [-127, 127],
//   l = round_even((x - dx_b·h) · 256 / dx_b) in [-128, 127] (a residual of +128 moves one
//   step into h), so x ≈ dx_b·(h + l/256) with |error| <= dx_b/512 = amax_b/65024 — the
//   precision of the int16 path (amax/65534).
// The unsigned nibbles meet h and l in VPDPBUSD (64 weights per instruction, two blocks per
// zmm), 256·Σnh + Σnl is exact in int32, and one fp32 FMA per lane applies d_w·dx_b. The
// additive term is m_w·Σx_b (Q4_1) or -8·d_w·Σx_b (Q4_0) with the exact fp32 block sum.
// A block of x holding a NaN makes dx_b NaN, so the outputs it touches are NaN.
//
// vbmi: gather each step's nibbles and scales with single-source byte permutes of 64-byte
// windows (cpu_has_avx512_vbmi()) instead of 128-bit inserts and scalar loads: the same
// integers and fp32 operations, so the same result, with fewer instructions on port 5.
// p: as matmul_cpu with p.m == 1, p.w_type q4_0 or q4_1, p.k % 32 == 0, p.k <= kMaxK.
// Call only when cpu_has_avx512_vnni(). Stack scratch only; thread-safe.
#pragma once

#include "common/op-params.h"

namespace kvmix {

inline constexpr int64_t kQ4VnniMaxK = 8192;

void matmul_q4_vnni_decode(const MatmulParams& p, bool vbmi);

}  // namespace kvmix
