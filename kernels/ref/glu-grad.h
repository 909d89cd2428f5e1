// Backward of the gated linear unit out = act(gate) · up (GluParams, common/op-params.h):
//   dup = dout · act(gate),   dgate = dout · up · act'(gate)
//   silu'(x)      = σ(x) (1 + x (1 − σ(x)))
//   gelu_tanh'(x) = 0.5 (1 + tanh a) + 0.5 x (1 − tanh² a) · sqrt(2/π) (1 + 3 · 0.044715 x²),
//                   a = sqrt(2/π) (x + 0.044715 x³)
// Rows [row_begin, row_end); evaluated in double, outputs fp32. dgate may alias gate and
// dup may alias up (each element is read before it is written). No state, thread-safe.
#pragma once

#include <cstddef>
#include <cstdint>

#include "common/op-params.h"

namespace kvmix {

struct GluGradParams {
    const float* gate = nullptr;  // forward inputs [rows, n]
    const float* up = nullptr;
    const float* dout = nullptr;  // gradient of the output [rows, n]
    float* dgate = nullptr;       // gradients of the inputs [rows, n]
    float* dup = nullptr;
    size_t stride = 0;            // elements between rows (same for all five)
    int64_t n = 0;
    GluActivation act = GluActivation::silu;
    int64_t row_begin = 0, row_end = 0;
};

void glu_grad_ref(const GluGradParams& p);

}  // namespace kvmix
