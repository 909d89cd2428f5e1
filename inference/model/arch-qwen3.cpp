// Qwen3 (dense): the Llama block with a per-head RMSNorm on Q and K before RoPE (a plain
// weight multiplier, unlike Gemma's 1 + w) and no biases; head_dim is its own key and may
// differ from n_embd / n_head. NeoX-style RoPE, so GGUF keeps Q/K rows unpermuted. The
// sliding window follows the Qwen convention of config.json; llama.cpp never applies it.
#include <nlohmann/json.hpp>

#include "model/arch-common.h"
#include "model/architectures.h"

namespace kvmix {

namespace {

constexpr ArchDefaults kQwen3{
    .family = ArchFamily::qwen3,
    .gguf_rms_eps = 1e-6f,
    .hf_rms_eps = 1e-6f,
    .rope_theta = 10000.0f,
    .hf_context_length = 32768,
    .hf_tied_embeddings = false,
    .rope_scalings = rope_scaling_set({RopeScalingType::linear, RopeScalingType::yarn}),
};

}  // namespace

Expected<ModelHParams> qwen3_hparams_from_gguf(const GgufFile& file, const std::string& arch) {
    GgufMetaReader meta(file, arch);
    ModelHParams hp;
    KVMIX_TRY(read_gguf_core(file, meta, arch, kQwen3, hp));
    hp.qk_norm = true;
    return finish_hparams(std::move(hp));
}

Expected<ModelHParams> qwen3_hparams_from_hf(const nlohmann::json& config, const std::string& model_type) {
    JsonConfigReader cfg(config);
    ModelHParams hp;
    KVMIX_TRY(read_hf_core(cfg, model_type, kQwen3, hp));
    KVMIX_TRY(read_hf_qwen_sliding(cfg, hp));
    KVMIX_TRY(require_hf_activation(cfg, "hidden_act", "silu", {"silu"}, model_type));
    KVMIX_TRY(reject_hf_flag(cfg, "attention_bias", model_type));
    hp.qk_norm = true;
    return finish_hparams(std::move(hp));
}

}  // namespace kvmix
