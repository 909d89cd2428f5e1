// SIMD backward of y = x · Wᵀ, same contract as the scalar twins in ref/matmul-grad.h
// (MatmulGradParams): matmul_grad_x_cpu writes rows [row_begin, row_end) of dx (+)= dy · W,
// matmul_grad_w_cpu rows [row_begin, row_end) of dW (+)= dyᵀ · x, and nothing else.
//
// AVX2 + FMA when the CPU has them (runtime dispatch), else the refs. Both are
// register-blocked fp32 GEMMs: 4 output rows × 24 columns in 12 accumulators, the left
// operand broadcast per row and depth step, so no horizontal sums and no transposes.
// grad_x dequantizes W (bit-exact with dequantize_row_ref) in tiles of 256 rows × 192
// columns (256 for K-quants) into a per-call buffer: each weight once per call, an fp32 W
// is read in place. The depth is summed in fp32, in chunks of 256 added to the output, so
// results differ from the refs' double sums by rounding only.
// Allocates the tile buffer per call; no state, thread-safe.
#pragma once

#include "ref/matmul-grad.h"

namespace kvmix {

void matmul_grad_x_cpu(const MatmulGradParams& p);
void matmul_grad_w_cpu(const MatmulGradParams& p);

}  // namespace kvmix
