// SIMD attention over an fp16 or fp32 KV cache; same contract as attention_ref (ref/attention.h,
// AttentionParams in common/op-params.h): query heads [head_begin, head_end) for all queries.
//
// AVX2 + FMA + F16C when the CPU has them (runtime dispatch), else attention_ref.
// One pass over the visible slots with an online (flash-style) softmax in fp32, in blocks
// of 32 slots: the query heads that share a KV head (up to 8 at once, GQA native) score a
// block together while its K rows are hot (each fp16 K row converted to fp32 once with
// F16C, fp32 rows loaded as they are: one template per element type), then each head
// rescales its running sum once per block and accumulates the block's V rows, which stay
// in L1 across the heads of the group.
// No state; uses stack scratch (heap only when head_dim_v > 512); thread-safe.
#pragma once

#include "common/op-params.h"

namespace kvmix {

void attention_cpu(const AttentionParams& p);

}  // namespace kvmix
