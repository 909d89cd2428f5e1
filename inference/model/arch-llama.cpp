// Llama family: Llama 2, Llama 3 (incl. llama3 RoPE scaling; its BPE vocabulary is the
// tokenizer's business), TinyLlama, SmolLM2, Mistral (sliding window on every layer).
#include <nlohmann/json.hpp>

#include "model/arch-common.h"
#include "model/architectures.h"

namespace kvmix {

namespace {

constexpr ArchDefaults kLlama{
    .family = ArchFamily::llama,
    .gguf_rms_eps = 1e-5f,
    .hf_rms_eps = 1e-6f,
    .rope_theta = 10000.0f,
    .hf_context_length = 2048,
    .hf_tied_embeddings = false,
    .rope_scalings = rope_scaling_set({RopeScalingType::linear, RopeScalingType::llama3, RopeScalingType::yarn}),
};

}  // namespace

Expected<ModelHParams> llama_hparams_from_gguf(const GgufFile& file, const std::string& arch) {
    GgufMetaReader meta(file, arch);
    ModelHParams hp;
    KVMIX_TRY(read_gguf_core(file, meta, arch, kLlama, hp));
    KVMIX_TRY(read_gguf_uniform_sliding(meta, hp));
    // llama.cpp's converter permutes Q/K rows so that RoPE rotates adjacent pairs.
    hp.rope_interleaved = true;
    // Its converter writes llama3 scaling as per-frequency divisors, not metadata.
    hp.has_rope_freqs = file.find_tensor("rope_freqs.weight") != nullptr;
    return finish_hparams(std::move(hp));
}

Expected<ModelHParams> llama_hparams_from_hf(const nlohmann::json& config, const std::string& model_type) {
    JsonConfigReader cfg(config);
    ModelHParams hp;
    KVMIX_TRY(read_hf_core(cfg, model_type, kLlama, hp));
    KVMIX_TRY(read_hf_uniform_sliding(cfg, hp));
    KVMIX_TRY(require_hf_activation(cfg, "hidden_act", "silu", {"silu"}, model_type));
    KVMIX_TRY(reject_hf_flag(cfg, "attention_bias", model_type));
    KVMIX_TRY(reject_hf_flag(cfg, "mlp_bias", model_type));
    return finish_hparams(std::move(hp));
}

}  // namespace kvmix
