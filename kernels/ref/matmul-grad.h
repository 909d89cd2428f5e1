// Backward of y[m, n] = x[m, k] · Wᵀ with fp32 W [n, k] (a dequantized weight):
//   matmul_grad_x_ref: dx[m, k] = dy[m, n] · W, rows [row_begin, row_end) of dx (written).
//   matmul_grad_w_ref: dW[n, k] = dyᵀ · x, rows [row_begin, row_end) of dW (written).
// Accumulated in double in ascending order, each output rounded once. All matrices are
// contiguous rows. No state, thread-safe.
#pragma once

#include <cstdint>

namespace kvmix {

struct MatmulGradParams {
    const float* dy = nullptr;  // [m, n]
    const float* x = nullptr;   // [m, k] (matmul_grad_w_ref)
    const float* w = nullptr;   // [n, k] (matmul_grad_x_ref)
    float* out = nullptr;       // dx [m, k] or dW [n, k]
    int64_t m = 0, k = 0, n = 0;
    int64_t row_begin = 0, row_end = 0;
};

void matmul_grad_x_ref(const MatmulGradParams& p);
void matmul_grad_w_ref(const MatmulGradParams& p);

}  // namespace kvmix
