// The gradient pass of the importance analysis (../shared/KVMIX.md §1, decision 1): one
// training-style forward and ONE backward pass over a token sequence give, for every layer
// i, ‖∂L/∂W_k(i)‖_F and ‖∂L/∂W_v(i)‖_F, where L is the mean next-token cross-entropy
// (token t predicts token t + 1; the last token predicts nothing).
//
// Every op of the supported architectures is differentiated (norms with weight offset,
// QK-norm, sandwich norms, RoPE in all its variants, GQA attention with sliding window and
// softcap, SwiGLU / GeGLU, final norm, soft-capped output head); Q/K/V biases enter the
// forward values and need no gradient of their own. Quantized weights count as
// their dequantized values. Only activation gradients and the two weight gradients per
// layer are formed; the embedding needs no gradient.
//
// Memory: activations in fp32. The residual stream entering each layer is kept
// ([n_layer, T, n_embd]); what each layer's backward reads is kept from the forward within
// a byte budget (the last layers first, as the backward needs them first) and the other
// layers are recomputed from their input, so memory is bounded for any T. The output head
// is streamed in vocabulary tiles (never [T, n_vocab] logits) in one pass with an online
// softmax. Weights are never copied: the kernels dequantize them tile by tile.
// Runs on the caller's thread with `backend`'s pool; thread-safe for distinct backends.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <span>
#include <vector>

#include "backend/cpu-backend.h"
#include "kvmix/status.h"
#include "model/model.h"

namespace kvmix {

struct KvGradientNorms {
    std::vector<double> k;    // [n_layer] ‖∂L/∂W_k(i)‖_F
    std::vector<double> v;    // [n_layer] ‖∂L/∂W_v(i)‖_F
    double loss = 0;          // mean next-token cross-entropy (nats)
    int64_t n_predicted = 0;  // tokens in the loss: tokens.size() − 1
};

// Default activation budget: at 512 tokens it keeps every layer of a 135M model (~10 MiB a
// layer), i.e. one forward fewer than recomputing.
inline constexpr size_t kKeptActivationBytes = size_t{320} << 20;

// tokens: at least 2, at positions 0.. (a sequence starting at the beginning, usually with
// BOS), each a valid id, at most the model's training context. `cancel` is checked between
// layers: a set flag returns ErrorCode::cancelled. kept_activation_bytes: the budget above;
// the results are bit-identical for any value (0 recomputes every layer).
Expected<KvGradientNorms> kv_gradient_norms(const Model& model, CpuBackend& backend, std::span<const int32_t> tokens,
                                            const std::atomic<bool>* cancel = nullptr,
                                            size_t kept_activation_bytes = kKeptActivationBytes);

}  // namespace kvmix
