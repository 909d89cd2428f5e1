// Scalar references of the small elementwise ops the GPU forward runs as kernels
// (the CPU forward does them inline): the residual add and the logit soft-cap.
// No state, thread-safe.
#pragma once

#include <cstdint>

namespace kvmix {

// y[i] += x[i] for i < n.
void add_ref(float* y, const float* x, int64_t n);
// x[i] = c * tanh(x[i] / c) for i < n, evaluated in fp32 as the forward pass does (c > 0).
void softcap_ref(float* x, int64_t n, float c);

}  // namespace kvmix
