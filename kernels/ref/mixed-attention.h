// Scalar reference of the attention over a mixed fp16 / quantized KV cache
// (MixedAttentionParams in common/mixed-attention-params.h). Dequantize-then-attend: every
// visible key and value is dequantized with the format's own dequantizer (fp32 x̂ = q·s + min,
// ref/kv-quantize.h), scores in double, a two-pass softmax (max, then exp/sum) and the weighted
// sum of V in double; each output rounded once. A query that sees no key yields zeros.
// Split-K partials (part_m/part_l) hold the double results rounded to float.
// Allocates scratch per call; no state, thread-safe.
#pragma once

#include <cstdint>
#include <vector>

#include "common/mixed-attention-params.h"

namespace kvmix {

void mixed_attention_ref(const MixedAttentionParams& p);

// Split-K over a segment list. mixed_attention_legal_cut: the largest position <= x at which
// the key range may be cut without splitting a quantized group (x itself outside quantized
// segments). mixed_attention_clip_segments: the segments restricted to positions
// [begin, end) (both legal cuts) into `out` — views into the same storage, pointers advanced.
int64_t mixed_attention_legal_cut(const KvSegment* segments, int32_t n_segments, int64_t x);
void mixed_attention_clip_segments(const KvSegment* segments, int32_t n_segments, int64_t begin, int64_t end,
                                   int64_t head_dim, int64_t head_dim_v, std::vector<KvSegment>& out);

// Checks the invariants every mixed-attention kernel asserts (shapes, head slice, segment
// formats, whole key groups, position order). Aborts with file:line on a violation.
void mixed_attention_check_params(const MixedAttentionParams& p);

}  // namespace kvmix
