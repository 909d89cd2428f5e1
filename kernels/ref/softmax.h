// Scalar reference softmax (see SoftmaxParams in common/op-params.h), in place on rows
// [row_begin, row_end): max-subtracted, exp and sum in double, each output rounded once.
// -inf entries give 0 (masking); a NaN anywhere in a row makes the whole row NaN.
// No state, thread-safe.
#pragma once

#include "common/op-params.h"

namespace kvmix {

void softmax_ref(const SoftmaxParams& p);

}  // namespace kvmix
