// AVX2 version of glu_ref (ref/glu.h); same contract, params and slice semantics.
// Dispatches at run time on CPU features; portable fallback on CPUs without AVX2/FMA/F16C.
// No state, thread-safe.
#pragma once

#include "common/op-params.h"

namespace kvmix {

void glu_cpu(const GluParams& p);

}  // namespace kvmix
