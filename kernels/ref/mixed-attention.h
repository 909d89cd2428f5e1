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

// Channels that share one int8 query scale in the int8-query attention.
inline constexpr int kMixedQueryBlock = 32;
// Largest |weight| of the int16-quantized softmax weights on the p·v side.
inline constexpr int kMixedValueQMax = 32767;

// Twin of the int8 CPU kernels (mixed_attention_cpu's int8 paths): identical to
// mixed_attention_ref except for the q·k of QUANTIZED keys and the p·v of QUANTIZED values.
// Keys: per query row, key group and block of kMixedQueryBlock channels [c0, c1), with fp32
// arithmetic exactly as written, Q(x) for a block x:
//   a = max |x|,  qi = round-half-even(x · (127 / a)) ∈ [-127, 127],  d = a / 127,
//   res = fma(-d, qi, x)                 (a == 0: d = 0, qi = 0, res = 0)
// applied to qs_c = q_c·s_c (giving qi, d, res) and, with p.query_residual or 8-bit keys,
// again to res (giving qi2, d2): the int8 query and the int8 query of its rounding residual
// (otherwise qi2 = 0, d2 = 0). Some qs_c not finite: d = NaN, d2 = 0, qi = qi2 = 0. The dot
// of token t is
//   Σ_blocks (d·Σ_c qi_c·code_ct + d2·Σ_c qi2_c·code_ct)  (exact integers) + Σ_c q_c·m_c.
// Here the sums and the rest are in double; the SIMD kernels use fp32 (FMA over blocks in
// order), so they agree to fp32 rounding. Against mixed_attention_ref each score moves by at
// most scale · Σ_blocks (e/2)·Σ_c code_ct, plus fp32 rounding, where e is the last int8 step
// taken: d2 <= d/254 with the residual, d without.
// Values: per query row, 32-token block of a segment (segment tokens 32k .. 32k+31, only the
// row's visible ones) and value channel group, the softmax weights with the token scales
// folded in, ws_t = fp32(e_t)·s_t, are quantized the same way but to int16 (a = max |ws|,
// qi_t = round-half-even(ws_t · (kMixedValueQMax / a)), d = a / kMixedValueQMax) and the
// group's output gets d·Σ_t qi_t·code_td + Σ_t e_t·m_t. The SIMD kernels quantize their
// online-softmax weights (the same up to one common factor per block), so a weight on a
// rounding tie may land on the other side: they agree to within one int16 step of a weight.
void mixed_attention_int8q_ref(const MixedAttentionParams& p);

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
