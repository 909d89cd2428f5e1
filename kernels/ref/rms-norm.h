// Scalar reference RMS norm (see RmsNormParams in common/op-params.h): rows
// [row_begin, row_end) of x[rows, n] -> y, y may alias x. Sum of squares, the scale and
// every product are computed in double, each output rounded once to fp32.
// No state, thread-safe.
#pragma once

#include "common/op-params.h"

namespace kvmix {

void rms_norm_ref(const RmsNormParams& p);

}  // namespace kvmix
