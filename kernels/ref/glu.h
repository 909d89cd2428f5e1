// Scalar reference gated linear unit (see GluParams in common/op-params.h):
//   silu(x)      = x / (1 + e^-x)
//   gelu_tanh(x) = 0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x³)))
// evaluated in double, each output rounded once to fp32. out may alias gate or up.
// No state, thread-safe.
#pragma once

#include "common/op-params.h"

namespace kvmix {

void glu_ref(const GluParams& p);

}  // namespace kvmix
