// SIMD attention over an fp16 or fp32 KV cache; same contract as attention_ref (ref/attention.h,
// AttentionParams in common/op-params.h): query heads [head_begin, head_end) for all queries.
//
// AVX2 + FMA + F16C when the CPU has them (runtime dispatch), else attention_ref.
// One pass over the visible slots with an online (flash-style) softmax in fp32, in blocks
// of 32 slots aligned to multiples of 32. Query tiling: up to 8 query ROWS that share a KV
// head — its query heads (GQA native) times as many query tokens as fill 8 rows (8 tokens
// for MHA, 2 for a group of 4) — score a block together while its K rows are hot (each
// fp16 K row converted to fp32 once with F16C, fp32 rows loaded as they are: one template
// per element type), then each row rescales its running sum once per block and
// accumulates the block's V rows, which stay in L1 across the rows. A prefill chunk so
// reads the cache once per tile instead of once per query token. Each row only uses the
// slots it sees, so its result does not depend on the rows it shares a tile with.
// Split-K: kv_begin/kv_end restrict the slots, part_m/part_l make it write the unnormalized
// partial (m, l, acc) that attention_merge_cpu combines in part order (fp32, deterministic).
// No state; uses stack scratch (heap only when head_dim_v > 512); thread-safe.
#pragma once

#include "common/op-params.h"

namespace kvmix {

void attention_cpu(const AttentionParams& p);
void attention_merge_cpu(const AttentionMergeParams& p);

}  // namespace kvmix
