// Parameter structs of the compute kernels, shared by the scalar references (kernels/ref),
// the SIMD versions (kernels/cpu) and later CUDA (kernels/cuda). One struct per op; every
// pointer is borrowed; strides are in elements. A kernel call computes only its slice
// (`*_begin`/`*_end`), so the backend parallelizes by splitting the range across threads —
// kernels themselves never spawn threads and keep no state (thread-safe, re-entrant).
#pragma once

#include <cstddef>
#include <cstdint>

#include "common/tensor-types.h"

namespace kvmix {

// y[m, n] = x[m, k] · Wᵀ, where W is [n rows, k] in `w_type` (a GGUF block format, rows
// back to back, `w_row_bytes` apart). Computes output columns [n_begin, n_end) for all m
// rows. x, y fp32. k is a multiple of the type's block size.
struct MatmulParams {
    TensorType w_type = TensorType::f32;
    const void* w = nullptr;
    size_t w_row_bytes = 0;
    const float* x = nullptr;
    size_t x_stride = 0;  // elements between rows of x
    float* y = nullptr;
    size_t y_stride = 0;  // elements between rows of y
    int64_t m = 0, k = 0, n = 0;
    int64_t n_begin = 0, n_end = 0;
};

// y[r, :] = x[r, :] / sqrt(mean(x[r, :]²) + eps) * (w + w_offset) for rows [row_begin, row_end).
// w may be null (no scale). y may alias x.
struct RmsNormParams {
    const float* x = nullptr;
    size_t x_stride = 0;
    float* y = nullptr;
    size_t y_stride = 0;
    const float* w = nullptr;  // [n]
    float w_offset = 0.0f;     // Gemma (HF weights) multiplies by 1 + w
    float eps = 1e-6f;
    int64_t n = 0;
    int64_t row_begin = 0, row_end = 0;
};

// Rotary embedding in place on x[t, h, :] for tokens [token_begin, token_end), all heads.
// Rotates the first n_rot dims of each head; frequency i (0 <= i < n_rot/2) is
//   theta_i = position * freq_scale * base^(-2i/n_rot) / (freq_factors ? freq_factors[i] : 1).
// Pairs: interleaved (2i, 2i+1) — GGUF llama layout — or half split (i, i + n_rot/2) — NeoX/HF.
struct RopeParams {
    float* x = nullptr;
    size_t token_stride = 0;  // elements between tokens
    size_t head_stride = 0;   // elements between heads
    int64_t n_head = 0, head_dim = 0, n_rot = 0;
    const int32_t* positions = nullptr;  // [n_tokens]
    float base = 10000.0f;
    float freq_scale = 1.0f;             // linear scaling: 1/factor
    const float* freq_factors = nullptr; // [n_rot/2] llama3 / rope_freqs, or null
    bool interleaved = false;
    int64_t token_begin = 0, token_end = 0;
};

enum class GluActivation { silu, gelu_tanh };

// out[r, i] = act(gate[r, i]) * up[r, i] for rows [row_begin, row_end). out may alias gate or up.
struct GluParams {
    const float* gate = nullptr;
    const float* up = nullptr;
    float* out = nullptr;
    size_t stride = 0;  // elements between rows (same for all three)
    int64_t n = 0;
    GluActivation act = GluActivation::silu;
    int64_t row_begin = 0, row_end = 0;
};

// In-place softmax over rows [row_begin, row_end) of x[rows, n] (max-subtracted, fp32).
struct SoftmaxParams {
    float* x = nullptr;
    size_t stride = 0;
    int64_t n = 0;
    int64_t row_begin = 0, row_end = 0;
};

// Element type of the K/V rows an attention call reads.
enum class KvElementType { f16, f32 };

// Causal multi-query attention over a dense fp16 or fp32 KV cache, grouped-query native.
//   q   [n_q, n_head, head_dim] fp32 (query token stride q_stride, head stride head_dim)
//   k   element (kv_head h, slot j, d) at k[h * k_head_stride + j * head_dim + d]
//   v   element (kv_head h, slot j, d) at v[h * v_head_stride + j * head_dim_v + d]
//       K/V are fp16 in `k`/`v` when kv_type is f16 (the default), fp32 in `k_f32`/`v_f32`
//       when it is f32; the strides count elements of that type either way, and the pointers
//       of the other type are ignored. (Typed pointers rather than one void*: the fp16
//       fields predate the choice, and a mismatched type stays a compile error.)
//   out [n_q, n_head, head_dim_v] fp32 (token stride out_stride)
// Slot j holds the key of absolute position j (slots [0, n_kv) are valid). Query t at
// position q_pos[t] sees slot j iff j <= q_pos[t] and (window == 0 or q_pos[t] - j < window).
// Query head h reads KV head h / (n_head / n_head_kv). Scores are scale * q·k, optionally
// soft-capped: softcap * tanh(s / softcap). Online (flash-style) softmax in fp32; a query
// that sees no slot yields zeros. Computes query heads [head_begin, head_end) for all queries.
struct AttentionParams {
    const float* q = nullptr;
    size_t q_stride = 0;
    const uint16_t* k = nullptr;
    size_t k_head_stride = 0;
    const uint16_t* v = nullptr;
    size_t v_head_stride = 0;
    float* out = nullptr;
    size_t out_stride = 0;
    int64_t n_q = 0, n_head = 0, n_head_kv = 0, head_dim = 0, head_dim_v = 0, n_kv = 0;
    const int32_t* q_pos = nullptr;
    int32_t window = 0;
    float scale = 1.0f;
    float softcap = 0.0f;
    int64_t head_begin = 0, head_end = 0;
    KvElementType kv_type = KvElementType::f16;
    const float* k_f32 = nullptr;  // [n_head_kv] x k_head_stride, used when kv_type is f32
    const float* v_f32 = nullptr;  // [n_head_kv] x v_head_stride, used when kv_type is f32
    // Split-K: only slots in [kv_begin, kv_end) are read (kv_end < 0 means n_kv), on top of
    // the causal/window mask. With part_m and part_l set the call writes a partial result:
    // out gets the unnormalized accumulator Σ exp(s_j − m)·v_j, part_m[t * n_head + h] the
    // row's max score m and part_l the sum Σ exp(s_j − m); a row that sees no slot of the
    // range gets m = -inf, l = 0 and a zero accumulator. attention_merge_* combines parts.
    int64_t kv_begin = 0, kv_end = -1;
    float* part_m = nullptr;
    float* part_l = nullptr;
};

// Merges n_parts split-K partials (AttentionParams::part_m) into normalized outputs, in part
// order so the result does not depend on which thread computed which part:
//   out = Σ_i exp(m_i − M)·acc_i / Σ_i exp(m_i − M)·l_i,  M = max_i m_i
// Part i's accumulator of (query t, head h) is acc[i * acc_part_stride + t * acc_stride +
// h * head_dim_v]; its m and l are at [i * ml_part_stride + t * n_head + h]. Rows whose
// parts all have m = -inf (no visible slot) yield zeros; a NaN in any part yields NaN.
// Computes query heads [head_begin, head_end) for all n_q queries.
struct AttentionMergeParams {
    const float* acc = nullptr;
    size_t acc_part_stride = 0, acc_stride = 0;
    const float* m = nullptr;
    const float* l = nullptr;
    size_t ml_part_stride = 0;
    int64_t n_parts = 0;
    float* out = nullptr;
    size_t out_stride = 0;
    int64_t n_q = 0, n_head = 0, head_dim_v = 0;
    int64_t head_begin = 0, head_end = 0;
};

}  // namespace kvmix
