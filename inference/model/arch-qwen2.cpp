// Qwen2 / Qwen2.5: the Llama block with biases on the Q, K and V projections (none on the
// output projection). llama.cpp rotates Qwen2 with NeoX-style RoPE, so its GGUF keeps the
// Hugging Face row order of Q and K (no permutation). A sliding window exists in
// config.json but applies only with use_sliding_window; llama.cpp never applies it.
#include <nlohmann/json.hpp>

#include "model/arch-common.h"
#include "model/architectures.h"

namespace kvmix {

namespace {

constexpr ArchDefaults kQwen2{
    .family = ArchFamily::qwen2,
    .gguf_rms_eps = 1e-6f,
    .hf_rms_eps = 1e-6f,
    .rope_theta = 10000.0f,
    .hf_context_length = 32768,
    .hf_tied_embeddings = false,
    .rope_scalings = rope_scaling_set({RopeScalingType::linear, RopeScalingType::yarn}),
};

}  // namespace

Expected<ModelHParams> qwen2_hparams_from_gguf(const GgufFile& file, const std::string& arch) {
    GgufMetaReader meta(file, arch);
    ModelHParams hp;
    KVMIX_TRY(read_gguf_core(file, meta, arch, kQwen2, hp));
    hp.attn_qkv_bias = true;
    return finish_hparams(std::move(hp));
}

Expected<ModelHParams> qwen2_hparams_from_hf(const nlohmann::json& config, const std::string& model_type) {
    JsonConfigReader cfg(config);
    ModelHParams hp;
    KVMIX_TRY(read_hf_core(cfg, model_type, kQwen2, hp));
    KVMIX_TRY(read_hf_qwen_sliding(cfg, hp));
    KVMIX_TRY(require_hf_activation(cfg, "hidden_act", "silu", {"silu"}, model_type));
    hp.attn_qkv_bias = true;
    return finish_hparams(std::move(hp));
}

}  // namespace kvmix
