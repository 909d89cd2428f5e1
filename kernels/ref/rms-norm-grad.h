// Backward of the RMS norm y = x · r · (w + w_offset), r = 1 / sqrt(mean(x²) + eps):
//   dx = r · (dy ∘ w') − x · r³ / n · Σ(dy ∘ w' ∘ x),   w' = w + w_offset (1 when w is null).
// Rows [row_begin, row_end) of x/dy -> dx; dx may alias dy. Sums in double, outputs fp32.
// No state, thread-safe.
#pragma once

#include <cstddef>
#include <cstdint>

namespace kvmix {

struct RmsNormGradParams {
    const float* x = nullptr;   // forward input [rows, n]
    const float* dy = nullptr;  // gradient of the output [rows, n]
    float* dx = nullptr;        // gradient of the input [rows, n]
    size_t stride = 0;          // elements between rows (same for x, dy, dx)
    const float* w = nullptr;   // [n] or null
    float w_offset = 0.0f;
    float eps = 1e-6f;
    int64_t n = 0;
    int64_t row_begin = 0, row_end = 0;
};

void rms_norm_grad_ref(const RmsNormGradParams& p);

}  // namespace kvmix
