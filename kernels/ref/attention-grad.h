// Backward of causal grouped-query attention over fp32 K/V (the AttentionParams semantics of
// common/op-params.h: slot j holds position j, query t sees j <= q_pos[t] and, with a
// window, q_pos[t] − j < window; scores scale · q·k, optionally softcap · tanh(s / softcap);
// query head h reads kv head h / (n_head / n_head_kv)).
// For each query head in [head_begin, head_end) and every query, the probabilities are
// recomputed from q and k (nothing of the forward is stored), then
//   dv_j += p_j dO,  dz_j = p_j (dO·v_j − Σ_i p_i dO·v_i),  ds_j = dz_j · softcap'(s_j),
//   dq = scale Σ_j ds_j k_j (written),  dk_j += scale · ds_j q (accumulated).
// dk/dv are ACCUMULATED: with per_query_head_grads they are indexed by query head (so each
// head owns its rows and heads can run on different threads; the caller sums each group),
// otherwise by kv head (then only one call may touch a kv head at a time).
// Softmax sums in double, vector products in fp32. Allocates two [n_kv] buffers per call;
// no state, thread-safe.
#pragma once

#include <cstddef>
#include <cstdint>

namespace kvmix {

struct AttentionGradParams {
    const float* q = nullptr;   // [n_q, n_head, head_dim], token stride q_stride
    size_t q_stride = 0;
    const float* k = nullptr;   // (kv head h, slot j, d) at k[h * k_head_stride + j * head_dim + d]
    size_t k_head_stride = 0;
    const float* v = nullptr;   // (kv head h, slot j, d) at v[h * v_head_stride + j * head_dim_v + d]
    size_t v_head_stride = 0;
    const float* dout = nullptr;  // [n_q, n_head, head_dim_v], token stride dout_stride
    size_t dout_stride = 0;
    float* dq = nullptr;          // like q (token stride q_stride)
    float* dk = nullptr;          // like k (head index: see per_query_head_grads)
    float* dv = nullptr;          // like v
    bool per_query_head_grads = false;
    int64_t n_q = 0, n_head = 0, n_head_kv = 0, head_dim = 0, head_dim_v = 0, n_kv = 0;
    const int32_t* q_pos = nullptr;
    int32_t window = 0;
    float scale = 1.0f;
    float softcap = 0.0f;
    int64_t head_begin = 0, head_end = 0;
};

void attention_grad_ref(const AttentionGradParams& p);

}  // namespace kvmix
