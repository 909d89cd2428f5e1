// Backward of y[m, n] = x[m, k] · Wᵀ for a weight W [n, k]:
//   matmul_grad_x_ref: dx[m, k] (+)= dy[m, n] · W, rows [row_begin, row_end) of dx.
//   matmul_grad_w_ref: dW[n, k] (+)= dyᵀ · x, rows [row_begin, row_end) of dW.
// W is contiguous rows of any type can_dequantize() accepts (fp32 by default), dequantized
// with dequantize_row_ref. Each output is accumulated in double in ascending order and
// rounded once; with `accumulate` it is added to the value already in `out` (one more fp32
// rounding), else written. dy, x and out are contiguous fp32 rows. Allocates per call; no
// state, thread-safe.
#pragma once

#include <cstdint>

#include "common/tensor-types.h"

namespace kvmix {

struct MatmulGradParams {
    const float* dy = nullptr;  // [m, n]
    const float* x = nullptr;   // [m, k] (grad_w)
    const void* w = nullptr;    // [n, k] of w_type (grad_x)
    float* out = nullptr;       // dx [m, k] or dW [n, k]
    int64_t m = 0, k = 0, n = 0;
    int64_t row_begin = 0, row_end = 0;
    TensorType w_type = TensorType::f32;
    bool accumulate = false;
};

void matmul_grad_x_ref(const MatmulGradParams& p);
void matmul_grad_w_ref(const MatmulGradParams& p);

}  // namespace kvmix
