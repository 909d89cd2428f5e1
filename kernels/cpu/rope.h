// AVX2 version of rope_ref (ref/rope.h); same contract, params and slice semantics.
// Dispatches at run time on CPU features; portable fallback on CPUs without AVX2/FMA/F16C.
// No state, thread-safe.
#pragma once

#include "common/op-params.h"

namespace kvmix {

void rope_cpu(const RopeParams& p);

}  // namespace kvmix
