// Scalar reference rotary embedding (see RopeParams in common/op-params.h), in place on
// tokens [token_begin, token_end). theta, cos/sin and the rotation are computed in double,
// each output rounded once to fp32. Dims >= n_rot of each head are left untouched.
// No state, thread-safe.
#pragma once

#include "common/op-params.h"

namespace kvmix {

void rope_ref(const RopeParams& p);

}  // namespace kvmix
