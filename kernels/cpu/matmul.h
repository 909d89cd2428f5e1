// SIMD matrix multiply: y[m, n] = x[m, k] · Wᵀ, same contract as matmul_ref (ref/matmul.h,
// MatmulParams in common/op-params.h): columns [n_begin, n_end) for all m rows, nothing else
// written; every type can_dequantize() accepts.
//
// AVX2 + FMA + F16C when the CPU has them (runtime dispatch), else matmul_ref.
//  m == 1 (decode), Q4_0 / Q4_1 W, AVX-512 VNNI: x in two int8 parts per block of 32 and
//    VPDPBUSD on the nibbles (cpu/matmul-q4-vnni.h; the same precision as int16 x).
//  m == 1 (decode), block-quantized W except Q8_0: x is quantized once per call to int16
//    in blocks of 32 (scale amax/32767, plus exact fp32 block sums for the additive term of
//    Q4_1/Q5_1/Q4_K/Q5_K); weights are unpacked to signed bytes in registers and dotted
//    with vpmaddwd, one fp32 FMA per 32 weights applying both scales. Not bit-exact: the
//    rounding of x adds |Δy| <= Σ|w|·amax/65534 (NMSE ~5e-10 for Gaussian x).
//  m == 1, Q8_0 and F32/F16/BF16: fused dequantize-dot with fp32 x (exact path).
//  m > 1 (prefill): a tile of up to 18 weight rows × 256 columns is dequantized (bit-exact
//    with dequantize_row_ref) into a stack buffer, then a 4×3 register-blocked fp32
//    micro-kernel runs all m rows over it, so each weight byte is dequantized once per call.
// Exact-path accumulation is fp32 (NMSE vs the double reference ~1e-13 for random data).
// No state; allocates only a per-call buffer for quantized x when k > 8192; thread-safe.
#pragma once

#include "common/op-params.h"

namespace kvmix {

void matmul_cpu(const MatmulParams& p);

// Decode-path choice (tests, benchmarks): best = the fastest this CPU has; avx2 = never the
// AVX-512 VNNI Q4 path; avx512_vnni = that path where it applies (else as avx2), without its
// VBMI window permutes; avx512_vbmi = with them; scalar = matmul_ref. Aborts when
// !matmul_decode_path_available(path).
enum class MatmulDecodePath { best, scalar, avx2, avx512_vnni, avx512_vbmi };
void matmul_cpu_path(const MatmulParams& p, MatmulDecodePath path);
bool matmul_decode_path_available(MatmulDecodePath path);

// SIMD twin of dequantize_row_ref (same contract, bit-exact: the prefill tiles' decoders),
// for the kernels that dequantize weight tiles themselves (cpu/matmul-packed.h,
// cpu/matmul-grad.h). AVX2 + FMA + F16C when the CPU has them, else the ref.
void dequantize_row_cpu(TensorType type, const void* src, float* dst, int64_t n);

}  // namespace kvmix
