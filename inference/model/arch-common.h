// The loading core every architecture shares. All supported models are the same decoder
// (RMSNorm, RoPE attention with GQA, gated MLP) and spell its sizes the same way in GGUF
// metadata ("<arch>.block_count") and in config.json ("num_hidden_layers"); they differ in
// defaults for absent keys, in a few switches of ModelHParams and in a few keys of their
// own. The core reads the common part under an ArchDefaults; an arch-<name>.cpp states its
// defaults, sets its switches, reads its own keys and ends with finish_hparams().
// Internal to inference/model. Stateless; thread-safe.
#pragma once

#include <cstdint>
#include <initializer_list>
#include <string>

#include "io/gguf-file.h"
#include "kvmix/status.h"
#include "model/hparams.h"
#include "model/metadata-reader.h"

namespace kvmix {

// A set of RopeScalingType values, one bit per enumerator.
using RopeScalingSet = uint32_t;
constexpr RopeScalingSet rope_scaling_set(std::initializer_list<RopeScalingType> types) {
    RopeScalingSet s = 0;
    for (RopeScalingType t : types) s |= 1u << static_cast<unsigned>(t);
    return s;
}

// What an architecture assumes where its files leave a common key out.
struct ArchDefaults {
    ArchFamily family = ArchFamily::llama;
    float gguf_rms_eps = 1e-5f;   // <arch>.attention.layer_norm_rms_epsilon
    float hf_rms_eps = 1e-6f;     // rms_norm_eps
    float rope_theta = 10000.0f;  // <arch>.rope.freq_base / rope_theta
    // GGUF: attention.key_length may be absent (then n_embd / n_head, which must divide).
    bool gguf_head_dim_optional = true;
    // GGUF: n_rot from rope.dimension_count (default head_dim); otherwise always head_dim.
    bool gguf_rope_dimension_count = true;
    uint32_t hf_head_dim = 0;                // head_dim when absent; 0: hidden_size / num_attention_heads
    uint32_t hf_context_length = 2048;       // max_position_embeddings when absent
    bool hf_tied_embeddings = false;         // tie_word_embeddings when absent
    RopeScalingSet rope_scalings = 0;        // supported besides none
};

// GGUF: identity (architecture, name), sizes, head sizes, RoPE base / dimensions / scaling,
// rms epsilon, tied output (no output.weight) and the vocabulary size (tokenizer.ggml.tokens,
// else token_embd rows). No sliding window; RoPE on half-split pairs.
Status read_gguf_core(const GgufFile& file, const GgufMetaReader& meta, const std::string& arch, const ArchDefaults& d,
                      ModelHParams& hp);
// config.json (`cfg` is the text model's object): the same, with hp.architecture = `arch`.
// RoPE from rope_theta / rope_scaling, or from transformers 5's rope_parameters (flat, or
// per layer type with the full_attention entry for the global layers).
Status read_hf_core(const JsonConfigReader& cfg, const std::string& arch, const ArchDefaults& d, ModelHParams& hp);

// GGUF <arch>.attention.sliding_window, applied to every layer (Mistral).
Status read_gguf_uniform_sliding(const GgufMetaReader& meta, ModelHParams& hp);
// config.json sliding_window, applied to every layer (Mistral).
Status read_hf_uniform_sliding(const JsonConfigReader& cfg, ModelHParams& hp);
// config.json layer_types ("sliding_attention" / "full_attention", one per layer) into
// hp.layer_sliding, with hp.sliding_window already set; `found` says whether the key exists.
Status read_hf_layer_types(const JsonConfigReader& cfg, ModelHParams& hp, bool& found);
// The Qwen convention: a window only with use_sliding_window, on the layers layer_types
// names, else on layers from max_window_layers on.
Status read_hf_qwen_sliding(const JsonConfigReader& cfg, ModelHParams& hp);

// config.json `key` (default `fallback`) must name one of `accepted`.
Status require_hf_activation(const JsonConfigReader& cfg, const std::string& key, const std::string& fallback,
                             std::initializer_list<const char*> accepted, const std::string& arch);
// config.json `key` must not be true: a feature of the format we do not compute (e.g.
// attention_bias, which also puts a bias on the output projection).
Status reject_hf_flag(const JsonConfigReader& cfg, const std::string& key, const std::string& arch);

// validate_hparams() and hand the result back.
Expected<ModelHParams> finish_hparams(ModelHParams hp);

}  // namespace kvmix
