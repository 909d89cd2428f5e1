// Many-row matrix multiply y[m, n] = x[m, k] · Wᵀ, same contract as matmul_ref
// (ref/matmul.h, MatmulParams in common/op-params.h): columns [n_begin, n_end) for all m
// rows, nothing else written; every type can_dequantize() accepts.
//
// For many rows (the gradient pass's whole sequences), where matmul_cpu's dot-product tiles
// spend their time in horizontal sums: 24 weight rows × 256 columns are dequantized
// (bit-exact with dequantize_row_ref), packed transposed, and the shared broadcast GEMM
// core (cpu/gemm-avx2.h) runs all m rows over the panel. Sums are fp32 in ascending k
// within each 256-column panel, panels added in order (the refs sum in double). Slower
// than matmul_cpu below ~32 rows (a panel is reused by few rows). AVX2 + FMA when the CPU
// has them (runtime dispatch), else matmul_ref. No state, no allocation (panels live on
// the stack); thread-safe.
#pragma once

#include "common/op-params.h"

namespace kvmix {

void matmul_packed_cpu(const MatmulParams& p);

}  // namespace kvmix
