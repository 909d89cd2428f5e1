// SIMD attention over a mixed fp16 / quantized KV cache; same contract as mixed_attention_ref
// (ref/mixed-attention.h, MixedAttentionParams in common/mixed-attention-params.h): query
// heads [head_begin, head_end) for all queries.
//
// AVX2 + FMA + F16C when the CPU has them (runtime dispatch), else mixed_attention_ref.
// One pass over all segments with an online (flash-style) softmax in fp32, in blocks of 32
// tokens (a packed chunk). Packed codes are read directly and never expanded into a copy of
// the cache:
//   q·k over a key group folds the per-channel scales into the query once per group
//       (qs_c = q_c·s_c, qm = Σ_c q_c·m_c, score_t = Σ_c qs_c·code_ct + qm), and each
//       unpacked 8-token code vector feeds all query heads of the kv head (GQA native, up
//       to 8 heads share every unpack);
//   p·v accumulates (p_t·s_t)·code_td per head and keeps the Σ p_t·m_t terms in one scalar
//       per (head, 32 channels), added once at the end.
// Widths 2/4/8 unpack with one zero-extend, shift and mask; 3-bit adds one variable shift
// of the high-bit byte (all vectorized). Query tiling (flash-style prefill): up to 8 query
// ROWS (query token x query head on one kv head: 8 tokens for MHA, 2 tokens x 4 heads for
// a GQA group of 4) are processed together, so a prefill chunk unpacks each code block and
// reads each fp16 row once per tile instead of once per query token. Each row only uses
// the positions it sees, so its result does not depend on the tile it shares.
// With part_m/part_l it writes the split-K partial (m, l, unnormalized acc; see
// MixedAttentionParams) for attention_merge_cpu.
// No state; stack scratch (heap when head_dim or head_dim_v > 512); thread-safe.
#pragma once

#include "common/mixed-attention-params.h"

namespace kvmix {

void mixed_attention_cpu(const MixedAttentionParams& p);

}  // namespace kvmix
