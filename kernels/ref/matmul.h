// Scalar reference matrix multiply: y[m, n] = x[m, k] · Wᵀ for every weight type
// can_dequantize() accepts (F32, F16, BF16, Q4_0, Q4_1, Q5_0, Q5_1, Q8_0, Q4_K, Q5_K, Q6_K).
// See MatmulParams (common/op-params.h) for shapes and strides; computes columns
// [n_begin, n_end) for all m rows and writes nothing else.
//
// Arithmetic (fixed, so SIMD/CUDA twins have a stable target): each weight row is
// dequantized with dequantize_row_ref into a per-call buffer, then every dot product is
// accumulated in double in ascending k order and rounded once to fp32.
// Allocates one row buffer per call; no state, thread-safe.
#pragma once

#include "common/op-params.h"

namespace kvmix {

void matmul_ref(const MatmulParams& p);

}  // namespace kvmix
