// Scalar reference attention over an fp16 or fp32 KV cache (see AttentionParams in
// common/op-params.h for shapes, element types, masking, GQA and softcap). Per (query,
// head): scores of all visible slots in double (K/V widened exactly), then a two-pass softmax
// (max, then exp/sum) and the weighted sum of V in double; each output rounded once.
// A query that sees no slot yields zeros. Split-K partials (kv_begin/kv_end, part_m/part_l)
// hold the double results rounded to float. Allocates a score buffer per call; no state,
// thread-safe. attention_merge_ref combines partials in double (AttentionMergeParams).
#pragma once

#include "common/op-params.h"

namespace kvmix {

void attention_ref(const AttentionParams& p);
void attention_merge_ref(const AttentionMergeParams& p);

}  // namespace kvmix
