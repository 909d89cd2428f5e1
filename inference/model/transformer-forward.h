// The forward pass shared by every supported architecture: a decoder-only transformer
// whose variations (Gemma 3's embedding scale, sandwich norms, GeGLU, local and global
// layers; Qwen2's Q/K/V biases; Qwen3's and Gemma 3's QK-norm; Llama's SwiGLU, RoPE pairing
// and scaling) are all read from ModelHParams and the Model's per-layer settings, so each
// architecture file only describes itself.
#pragma once

#include <cstdint>
#include <functional>
#include <span>
#include <string_view>
#include <vector>

#include "backend/cpu-backend.h"
#include "kvmix/status.h"
#include "model/model.h"
#include "runtime/kv-cache.h"

namespace kvmix {

// Called with every named intermediate tensor when set ("attn_norm-3", "q-3", "k_cache-3",
// "attn_out-3", "ffn_out-3", "l_out-3", "result_norm", "result_output"): rows are tokens.
// Used by the profiler and by debugging dumps; costs nothing when empty.
using TensorObserver = std::function<void(std::string_view name, const float* data, int64_t rows, int64_t cols)>;

// One sequence's part of a forward pass: its tokens go at positions [cache->size(), + n);
// with `logits` the logits of its last n_logits tokens are written there, [n_logits, n_vocab].
struct BatchSequence {
    KvCache* cache = nullptr;
    std::span<const int32_t> tokens;
    int64_t n_logits = 0;
    float* logits = nullptr;
};

// Activation buffers for passes of up to `max_tokens` tokens in total. Owned by a Session
// (or by whoever drives a batch); one pass at a time.
class ForwardScratch {
public:
    ForwardScratch(const ModelHParams& hp, int64_t max_tokens);
    int64_t max_tokens() const { return max_tokens_; }

private:
    friend Status batch_forward(const Model&, CpuBackend&, std::span<const BatchSequence>, ForwardScratch&,
                                const TensorObserver*);
    int64_t max_tokens_;
    std::vector<float> x, cur, q, k, v, attn, gate, up, out;
    std::vector<int32_t> pos;
};

// Multi-sequence batching: several sequences, each with its own KvCache, share one pass —
// every matmul runs over all their tokens at once (the weights are read once per pass, not
// once per sequence) and attention runs per sequence over its own cache. A sequence's
// logits equal a separate run up to the matmul kernel's row-count-dependent rounding
// (kernels/cpu quantizes activations for single-row products). Validates every token id,
// capacity and n_logits first, so on an error no cache changes; a cache may appear once.
// The observer sees every named tensor over all the batch's rows.
Status batch_forward(const Model& model, CpuBackend& backend, std::span<const BatchSequence> seqs, ForwardScratch& scratch,
                     const TensorObserver* observer = nullptr);

// The single-sequence pass: runs tokens (at most scratch.max_tokens()) at positions
// [cache.size(), cache.size() + n), stores their keys/values and commits them to the cache.
// When `logits` is non-null it receives the output logits of the last `n_logits` tokens,
// [n_logits, n_vocab]. Token ids are validated; an invalid id is an error and leaves the
// cache unchanged.
Status transformer_forward(const Model& model, CpuBackend& backend, KvCache& cache, ForwardScratch& scratch,
                           std::span<const int32_t> tokens, int64_t n_logits, float* logits,
                           const TensorObserver* observer = nullptr);

}  // namespace kvmix
