// Parameters of the fused attention over a MIXED KV cache (fp16 sinks, quantized groups,
// fp16 recent window), shared by mixed_attention_ref (kernels/ref), mixed_attention_cpu
// (kernels/cpu) and later CUDA. Every pointer is borrowed; the kernels keep no state and
// compute only query heads [head_begin, head_end) (the backend splits heads, or kv heads x
// key chunks — split-K with part_m/part_l — over threads).
#pragma once

#include <cstddef>
#include <cstdint>

#include "common/kv-quant-format.h"

namespace kvmix {

// A run of cache tokens at absolute positions [pos0, pos0 + n_tokens) of all kv heads.
// The key side and the value side have their own format, so a layer with different K/V bit
// widths or K/V windows is a list of segments split at the union of their boundaries.
//   k_bits == 16 (kvq::kNotQuantized): fp16 keys, element (kv head h, token i, d) at
//       k16[h * k16_head_stride + i * head_dim + d]                      (elements)
//   k_bits ∈ {2,3,4,8}: key groups (kv-quant-format.h); group n (tokens nG .. nG+G-1) of kv
//       head h at kq + h * kq_head_stride + n * kq_group_stride           (bytes);
//       n_tokens must be a multiple of group_size (only whole groups are quantized).
//   v_bits == 16: fp16 values at v16[h * v16_head_stride + i * head_dim_v + d]  (elements)
//   v_bits ∈ {2,3,4,8}: value row of token i of kv head h at
//       vq + h * vq_head_stride + i * vq_token_stride                     (bytes);
//       head_dim_v must be a multiple of group_size.
// Token i of the segment is absolute position pos0 + i. Pages of one layer are simply
// several quantized segments.
struct KvSegment {
    int64_t pos0 = 0;
    int64_t n_tokens = 0;
    int32_t k_bits = kvq::kNotQuantized;
    int32_t v_bits = kvq::kNotQuantized;
    int32_t group_size = 32;  // G of the quantized side(s)
    const uint16_t* k16 = nullptr;
    size_t k16_head_stride = 0;
    const uint16_t* v16 = nullptr;
    size_t v16_head_stride = 0;
    const uint8_t* kq = nullptr;
    size_t kq_head_stride = 0;
    size_t kq_group_stride = 0;  // usually kvq::key_group_bytes(k_bits, G, head_dim)
    const uint8_t* vq = nullptr;
    size_t vq_head_stride = 0;
    size_t vq_token_stride = 0;  // usually kvq::value_row_bytes(v_bits, G, head_dim_v)
};

// Causal multi-query attention over the segments, grouped-query native.
//   q   [n_q, n_head, head_dim] fp32 (query token stride q_stride, head stride head_dim)
//   out [n_q, n_head, head_dim_v] fp32 (token stride out_stride)
// Segments are in position order and do not overlap (gaps are allowed: positions not in any
// segment are simply absent). Query t at position q_pos[t] sees key position j iff
// j <= q_pos[t] and (window == 0 or q_pos[t] - j < window) — the same mask as
// AttentionParams. Query head h reads kv head h / (n_head / n_head_kv). Scores are
// scale * q·k, optionally soft-capped: softcap * tanh(s / softcap). A query that sees no
// key yields zeros.
struct MixedAttentionParams {
    const float* q = nullptr;
    size_t q_stride = 0;
    float* out = nullptr;
    size_t out_stride = 0;
    int64_t n_q = 0, n_head = 0, n_head_kv = 0, head_dim = 0, head_dim_v = 0;
    const int32_t* q_pos = nullptr;  // [n_q]
    int32_t window = 0;
    float scale = 1.0f;
    float softcap = 0.0f;
    const KvSegment* segments = nullptr;  // [n_segments]
    int32_t n_segments = 0;
    int64_t head_begin = 0, head_end = 0;
    // Integer kernels (mixed_attention_int8q_ref's contract) with 2-4-bit keys: also take the
    // int8 query's rounding residual as a second int8 row, which makes their scores exact to
    // about 1/32000 of a channel block's largest |q·s| per code step instead of 1/254, at
    // about 15% more attention time. 8-bit keys always take it (their own rounding is finer
    // than a single int8 query's). For comparisons against an exact reference.
    bool query_residual = false;
    // Split-K partial (same contract as AttentionParams::part_m): when set, out gets the
    // unnormalized accumulator and part_m/part_l[t * n_head + h] the row's max score and
    // exp-sum; attention_merge_* combines the parts. Split the key range by passing each
    // part the segments clipped to its chunk (mixed_attention_clip_segments).
    float* part_m = nullptr;
    float* part_l = nullptr;
};

}  // namespace kvmix
