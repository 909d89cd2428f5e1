// Backward of the rotary embedding (RopeParams, common/op-params.h): the rotation is
// orthogonal, so the input gradient is the output gradient rotated by −theta. In place on
// the gradient p.x for tokens [token_begin, token_end); same theta formula as rope_ref,
// computed in double. No state, thread-safe.
#pragma once

#include "common/op-params.h"

namespace kvmix {

void rope_grad_ref(const RopeParams& p);

}  // namespace kvmix
