// Scalar reference of the attention over a mixed fp16 / quantized KV cache
// (MixedAttentionParams in common/mixed-attention-params.h). Dequantize-then-attend: every
// visible key and value is dequantized with the format's own dequantizer (fp32 x̂ = q·s + min,
// ref/kv-quantize.h), scores in double, a two-pass softmax (max, then exp/sum) and the weighted
// sum of V in double; each output rounded once. A query that sees no key yields zeros.
// Allocates scratch per call; no state, thread-safe.
#pragma once

#include "common/mixed-attention-params.h"

namespace kvmix {

void mixed_attention_ref(const MixedAttentionParams& p);

// Checks the invariants every mixed-attention kernel asserts (shapes, head slice, segment
// formats, whole key groups, position order). Aborts with file:line on a violation.
void mixed_attention_check_params(const MixedAttentionParams& p);

}  // namespace kvmix
