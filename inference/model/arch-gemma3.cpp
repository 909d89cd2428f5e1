// Gemma 3 (text): QK-norm, sandwich norms, GeGLU, sqrt(n_embd) embedding scale,
// interleaved sliding-window (local) and global layers with separate RoPE bases.
#include <cmath>

#include <nlohmann/json.hpp>

#include "model/arch-common.h"
#include "model/architectures.h"

namespace kvmix {

namespace {

constexpr uint32_t kDefaultSlidingPattern = 6;  // every 6th layer is global
constexpr float kDefaultLocalRopeBase = 10000.0f;

constexpr ArchDefaults kGemma3{
    .family = ArchFamily::gemma3,
    .gguf_rms_eps = 1e-6f,
    .hf_rms_eps = 1e-6f,
    .rope_theta = 1000000.0f,
    .gguf_head_dim_optional = false,
    .gguf_rope_dimension_count = false,
    .hf_head_dim = 256,
    .hf_context_length = 32768,
    .hf_tied_embeddings = true,
    .rope_scalings = rope_scaling_set({RopeScalingType::linear}),
};

void set_sliding_pattern(ModelHParams& hp, uint32_t pattern) {
    hp.layer_sliding.assign(hp.n_layer, false);
    for (uint32_t i = 0; i < hp.n_layer; ++i) hp.layer_sliding[i] = hp.sliding_window > 0 && (pattern == 0 || (i + 1) % pattern != 0);
}

void set_gemma_common(ModelHParams& hp) {
    hp.activation = Activation::gelu_tanh;
    hp.embedding_scale = std::sqrt(static_cast<float>(hp.n_embd));
    hp.qk_norm = true;
    hp.sandwich_norms = true;
}

}  // namespace

Expected<ModelHParams> gemma3_hparams_from_gguf(const GgufFile& file, const std::string& arch) {
    GgufMetaReader meta(file, arch);
    ModelHParams hp;
    KVMIX_TRY(read_gguf_core(file, meta, arch, kGemma3, hp));
    hp.rope_theta_local = kDefaultLocalRopeBase;
    KVMIX_ASSIGN(hp.sliding_window, meta.u32_or("attention.sliding_window", 0));
    uint32_t pattern = kDefaultSlidingPattern;
    KVMIX_ASSIGN(pattern, meta.u32_or("attention.sliding_window_pattern", kDefaultSlidingPattern, 0, 1024));
    KVMIX_ASSIGN(hp.final_logit_softcap, meta.f32_or("final_logit_softcapping", 0.0f));
    KVMIX_ASSIGN(hp.attn_logit_softcap, meta.f32_or("attn_logit_softcapping", 0.0f));
    set_gemma_common(hp);
    set_sliding_pattern(hp, pattern);
    // GGUF has no query_pre_attn_scalar: Gemma 3 27B scales by n_embd/n_head, every other size by head_dim.
    const bool is_27b = hp.n_layer == 62 && hp.n_embd == 5376;
    hp.attention_scale = 1.0f / std::sqrt(static_cast<float>(is_27b ? hp.n_embd / hp.n_head : hp.head_dim));
    hp.norm_weight_offset = 0.0f;  // llama.cpp's converter stores 1 + w
    return finish_hparams(std::move(hp));
}

Expected<ModelHParams> gemma3_hparams_from_hf(const nlohmann::json& root, const std::string& model_type) {
    // The multimodal "gemma3" config nests the language model under text_config.
    const nlohmann::json* text = &root;
    if (model_type == "gemma3") {
        auto it = root.find("text_config");
        if (it == root.end() || !it->is_object()) return format_error("config.json: model_type 'gemma3' without a 'text_config' object");
        text = &*it;
    }
    JsonConfigReader cfg(*text);
    ModelHParams hp;
    KVMIX_TRY(read_hf_core(cfg, "gemma3", kGemma3, hp));
    hp.rope_theta_local = kDefaultLocalRopeBase;
    if (cfg.has("rope_local_base_freq")) {
        KVMIX_ASSIGN(hp.rope_theta_local, cfg.f32_or("rope_local_base_freq", kDefaultLocalRopeBase));
    } else if (const nlohmann::json* params = cfg.get("rope_parameters"); params && params->contains("sliding_attention")) {
        // transformers 5: one RoPE entry per layer type.
        const nlohmann::json& local = (*params)["sliding_attention"];
        if (!local.is_object()) return format_error("config.json: 'rope_parameters.sliding_attention' must be an object");
        KVMIX_ASSIGN(hp.rope_theta_local, JsonConfigReader(local).f32_or("rope_theta", kDefaultLocalRopeBase));
    }
    KVMIX_ASSIGN(hp.sliding_window, cfg.u32_or("sliding_window", 0));
    KVMIX_ASSIGN(hp.final_logit_softcap, cfg.f32_or("final_logit_softcapping", 0.0f));
    KVMIX_ASSIGN(hp.attn_logit_softcap, cfg.f32_or("attn_logit_softcapping", 0.0f));
    KVMIX_TRY(require_hf_activation(cfg, "hidden_activation", "gelu_pytorch_tanh", {"gelu_pytorch_tanh", "gelu_tanh"}, "gemma3"));
    float query_scalar = 0;
    KVMIX_ASSIGN(query_scalar, cfg.f32_or("query_pre_attn_scalar", static_cast<float>(hp.head_dim)));
    if (query_scalar <= 0) return format_error("config.json: 'query_pre_attn_scalar' must be positive");
    set_gemma_common(hp);
    hp.attention_scale = 1.0f / std::sqrt(query_scalar);
    hp.norm_weight_offset = 1.0f;  // HF Gemma's RMSNorm multiplies by (1 + w)
    bool have_types = false;
    KVMIX_TRY(read_hf_layer_types(cfg, hp, have_types));
    if (!have_types) {
        uint32_t pattern = kDefaultSlidingPattern;
        KVMIX_ASSIGN(pattern, cfg.u32_or("sliding_window_pattern", kDefaultSlidingPattern, 0, 1024));
        set_sliding_pattern(hp, pattern);
    }
    return finish_hparams(std::move(hp));
}

}  // namespace kvmix
