// SIMD matrix multiply: y[m, n] = x[m, k] · Wᵀ, same contract as matmul_ref (ref/matmul.h,
// MatmulParams in common/op-params.h): columns [n_begin, n_end) for all m rows, nothing else
// written; every type can_dequantize() accepts.
//
// AVX2 + FMA + F16C when the CPU has them (runtime dispatch), else matmul_ref.
//  m == 1 (decode): fused dequantize-dot per weight row. Quant blocks are unpacked to
//    int32 lanes in registers, converted to fp32 and FMA'd with fp32 x (x is never
//    quantized); the block/sub-block scale multiplies the partial sum once, and the
//    additive min/offset term of Q4_1/Q5_1/Q4_K/Q5_K uses per-32 sums of x computed once.
//  m > 1 (prefill): a tile of up to 16 weight rows × 512 columns is dequantized (bit-exact
//    with dequantize_row_ref) into a stack buffer, then a 4×3 register-blocked fp32
//    micro-kernel runs all m rows over it, so each weight byte is dequantized once per call.
// Accumulation is fp32 (NMSE vs the double reference ~1e-13 for random data).
// No state; allocates only a small per-call buffer for x sums when k > 32768; thread-safe.
#pragma once

#include "common/op-params.h"

namespace kvmix {

void matmul_cpu(const MatmulParams& p);

}  // namespace kvmix
