// Maps Hugging Face tensor names to our internal (GGUF-style) names, once, at load.
// "model.layers.3.self_attn.q_proj.weight" -> "blk.3.attn_q.weight".
// Pure functions; thread-safe.
#pragma once

#include <optional>
#include <string>
#include <string_view>

#include "model/hparams.h"

namespace kvmix {

// The GGUF-style name, or nullopt for tensors we do not use (e.g. rotary inv_freq buffers).
// The family matters: Llama's (and Qwen's) post_attention_layernorm is the FFN input norm,
// Gemma 3's is the sandwich norm after attention; only Qwen2 maps projection biases and only
// Qwen3 and Gemma 3 map q_norm / k_norm.
std::optional<std::string> hf_to_internal_name(std::string_view hf_name, ArchFamily family);

}  // namespace kvmix
