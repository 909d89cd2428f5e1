// AVX2 version of rms_norm_ref (ref/rms-norm.h); same contract, params and slice semantics.
// Dispatches at run time on CPU features; portable fallback on CPUs without AVX2/FMA/F16C.
// No state, thread-safe.
#pragma once

#include "common/op-params.h"

namespace kvmix {

void rms_norm_cpu(const RmsNormParams& p);

}  // namespace kvmix
