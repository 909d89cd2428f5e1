// AVX2 version of softmax_ref (ref/softmax.h); same contract, params and slice semantics.
// Dispatches at run time on CPU features; portable fallback on CPUs without AVX2/FMA/F16C.
// No state, thread-safe.
#pragma once

#include "common/op-params.h"

namespace kvmix {

void softmax_cpu(const SoftmaxParams& p);

}  // namespace kvmix
