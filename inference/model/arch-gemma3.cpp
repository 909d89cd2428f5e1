// Gemma 3 (text): QK-norm, sandwich norms, GeGLU, sqrt(n_embd) embedding scale,
// interleaved sliding-window (local) and global layers with separate RoPE bases.
#include <cmath>

#include <nlohmann/json.hpp>

#include "model/architectures.h"
#include "model/metadata-reader.h"

namespace kvmix {

namespace {

constexpr uint32_t kDefaultSlidingPattern = 6;  // every 6th layer is global
constexpr float kDefaultLocalRopeBase = 10000.0f;

void set_sliding_pattern(ModelHParams& hp, uint32_t pattern) {
    hp.layer_sliding.assign(hp.n_layer, false);
    for (uint32_t i = 0; i < hp.n_layer; ++i) hp.layer_sliding[i] = hp.sliding_window > 0 && (pattern == 0 || (i + 1) % pattern != 0);
}

void set_gemma_common(ModelHParams& hp) {
    hp.family = ArchFamily::gemma3;
    hp.activation = Activation::gelu_tanh;
    hp.embedding_scale = std::sqrt(static_cast<float>(hp.n_embd));
    hp.qk_norm = true;
    hp.sandwich_norms = true;
    hp.rope_interleaved = false;
}

}  // namespace

Expected<ModelHParams> gemma3_hparams_from_gguf(const GgufFile& file, const std::string& arch) {
    GgufMetaReader meta(file, arch);
    ModelHParams hp;
    hp.architecture = arch;
    hp.source = WeightSource::gguf;
    if (auto name = file.get_string("general.name")) hp.name = *name;
    KVMIX_ASSIGN(hp.n_layer, meta.u32("block_count", 1, 1024));
    KVMIX_ASSIGN(hp.n_embd, meta.u32("embedding_length"));
    KVMIX_ASSIGN(hp.n_ff, meta.u32("feed_forward_length"));
    KVMIX_ASSIGN(hp.n_head, meta.u32("attention.head_count", 1, 4096));
    KVMIX_ASSIGN(hp.n_head_kv, meta.u32_or("attention.head_count_kv", hp.n_head, 1, 4096));
    KVMIX_ASSIGN(hp.context_length, meta.u32("context_length"));
    KVMIX_ASSIGN(hp.head_dim, meta.u32("attention.key_length", 1, 4096));
    KVMIX_ASSIGN(hp.head_dim_v, meta.u32_or("attention.value_length", hp.head_dim, 1, 4096));
    hp.n_rot = hp.head_dim;
    KVMIX_ASSIGN(hp.rms_eps, meta.f32_or("attention.layer_norm_rms_epsilon", 1e-6f));
    KVMIX_ASSIGN(hp.rope_theta, meta.f32_or("rope.freq_base", 1000000.0f));
    hp.rope_theta_local = kDefaultLocalRopeBase;
    KVMIX_ASSIGN(hp.sliding_window, meta.u32_or("attention.sliding_window", 0));
    uint32_t pattern = kDefaultSlidingPattern;
    KVMIX_ASSIGN(pattern, meta.u32_or("attention.sliding_window_pattern", kDefaultSlidingPattern, 0, 1024));
    std::string scaling;
    KVMIX_ASSIGN(scaling, meta.str_or("rope.scaling.type", "none"));
    if (scaling == "linear") {
        hp.rope_scaling.type = RopeScalingType::linear;
        KVMIX_ASSIGN(hp.rope_scaling.factor, meta.f32_or("rope.scaling.factor", 1.0f));
        if (hp.rope_scaling.factor <= 0) return format_error("rope scaling factor must be positive");
    } else if (scaling != "none" && !scaling.empty()) {
        return error(ErrorCode::unsupported, "gemma3: rope scaling type '" + scaling + "' is not supported (supported: none, linear)");
    }
    KVMIX_ASSIGN(hp.final_logit_softcap, meta.f32_or("final_logit_softcapping", 0.0f));
    KVMIX_ASSIGN(hp.attn_logit_softcap, meta.f32_or("attn_logit_softcapping", 0.0f));
    set_gemma_common(hp);
    set_sliding_pattern(hp, pattern);
    // GGUF has no query_pre_attn_scalar: Gemma 3 27B scales by n_embd/n_head, every other size by head_dim.
    const bool is_27b = hp.n_layer == 62 && hp.n_embd == 5376;
    hp.attention_scale = 1.0f / std::sqrt(static_cast<float>(is_27b ? hp.n_embd / hp.n_head : hp.head_dim));
    hp.norm_weight_offset = 0.0f;  // llama.cpp's converter stores 1 + w
    hp.tied_embeddings = file.find_tensor("output.weight") == nullptr;
    if (auto tokens = file.find("tokenizer.ggml.tokens"); tokens && tokens->type == GgufValueType::array)
        hp.n_vocab = static_cast<uint32_t>(tokens->items.size());
    if (const TensorView* embd = file.find_tensor("token_embd.weight"); embd && embd->n_dims == 2 && hp.n_vocab == 0)
        hp.n_vocab = static_cast<uint32_t>(embd->ne[1]);
    if (hp.n_vocab == 0) return format_error("cannot determine the vocabulary size: no tokenizer.ggml.tokens and no token_embd.weight");
    KVMIX_TRY(validate_hparams(hp));
    return hp;
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
    hp.architecture = "gemma3";
    hp.source = WeightSource::safetensors;
    KVMIX_ASSIGN(hp.n_layer, cfg.u32("num_hidden_layers", 1, 1024));
    KVMIX_ASSIGN(hp.n_embd, cfg.u32("hidden_size"));
    KVMIX_ASSIGN(hp.n_ff, cfg.u32("intermediate_size"));
    KVMIX_ASSIGN(hp.n_head, cfg.u32("num_attention_heads", 1, 4096));
    KVMIX_ASSIGN(hp.n_head_kv, cfg.u32_or("num_key_value_heads", hp.n_head, 1, 4096));
    KVMIX_ASSIGN(hp.head_dim, cfg.u32_or("head_dim", 256, 1, 4096));
    hp.head_dim_v = hp.head_dim;
    hp.n_rot = hp.head_dim;
    KVMIX_ASSIGN(hp.n_vocab, cfg.u32("vocab_size"));
    KVMIX_ASSIGN(hp.context_length, cfg.u32_or("max_position_embeddings", 32768));
    KVMIX_ASSIGN(hp.rms_eps, cfg.f32_or("rms_norm_eps", 1e-6f));
    KVMIX_ASSIGN(hp.rope_theta, cfg.f32_or("rope_theta", 1000000.0f));
    KVMIX_ASSIGN(hp.rope_theta_local, cfg.f32_or("rope_local_base_freq", kDefaultLocalRopeBase));
    KVMIX_ASSIGN(hp.sliding_window, cfg.u32_or("sliding_window", 0));
    KVMIX_ASSIGN(hp.tied_embeddings, cfg.bool_or("tie_word_embeddings", true));
    KVMIX_ASSIGN(hp.final_logit_softcap, cfg.f32_or("final_logit_softcapping", 0.0f));
    KVMIX_ASSIGN(hp.attn_logit_softcap, cfg.f32_or("attn_logit_softcapping", 0.0f));
    std::string act;
    KVMIX_ASSIGN(act, cfg.str_or("hidden_activation", "gelu_pytorch_tanh"));
    if (act != "gelu_pytorch_tanh" && act != "gelu_tanh")
        return error(ErrorCode::unsupported, "config.json: hidden_activation '" + act + "' is not supported for gemma3 (supported: gelu_pytorch_tanh)");
    float query_scalar = 0;
    KVMIX_ASSIGN(query_scalar, cfg.f32_or("query_pre_attn_scalar", static_cast<float>(hp.head_dim)));
    if (query_scalar <= 0) return format_error("config.json: 'query_pre_attn_scalar' must be positive");
    set_gemma_common(hp);
    hp.attention_scale = 1.0f / std::sqrt(query_scalar);
    hp.norm_weight_offset = 1.0f;  // HF Gemma's RMSNorm multiplies by (1 + w)
    if (const nlohmann::json* types = cfg.get("layer_types")) {
        if (!types->is_array() || types->size() != hp.n_layer)
            return format_error("config.json: 'layer_types' must list one entry per layer (" + std::to_string(hp.n_layer) + ")");
        hp.layer_sliding.assign(hp.n_layer, false);
        for (uint32_t i = 0; i < hp.n_layer; ++i) {
            const auto& t = (*types)[i];
            if (!t.is_string()) return format_error("config.json: 'layer_types' entries must be strings");
            const std::string s = t.get<std::string>();
            if (s == "sliding_attention") hp.layer_sliding[i] = hp.sliding_window > 0;
            else if (s != "full_attention") return format_error("config.json: unknown layer type '" + s + "' for layer " + std::to_string(i));
        }
    } else {
        uint32_t pattern = kDefaultSlidingPattern;
        KVMIX_ASSIGN(pattern, cfg.u32_or("sliding_window_pattern", kDefaultSlidingPattern, 0, 1024));
        set_sliding_pattern(hp, pattern);
    }
    if (const nlohmann::json* rs = cfg.get("rope_scaling")) {
        if (!rs->is_object()) return format_error("config.json: 'rope_scaling' must be an object");
        JsonConfigReader r(*rs);
        std::string type;
        KVMIX_ASSIGN(type, r.str_or("rope_type", ""));
        if (type.empty()) {
            KVMIX_ASSIGN(type, r.str_or("type", "default"));
        }
        if (type == "linear") {
            hp.rope_scaling.type = RopeScalingType::linear;
            KVMIX_ASSIGN(hp.rope_scaling.factor, r.f32_or("factor", 1.0f));
            if (hp.rope_scaling.factor <= 0) return format_error("config.json: rope_scaling factor must be positive");
        } else if (type != "default") {
            return error(ErrorCode::unsupported, "config.json: rope_scaling type '" + type + "' is not supported for gemma3 (supported: linear)");
        }
    }
    KVMIX_TRY(validate_hparams(hp));
    return hp;
}

std::vector<TensorSpec> gemma3_tensor_specs(const ModelHParams& hp) {
    std::vector<TensorSpec> specs;
    specs.push_back({"token_embd.weight", {hp.n_embd, hp.n_vocab}, true});
    specs.push_back({"output_norm.weight", {hp.n_embd}, true});
    specs.push_back({"output.weight", {hp.n_embd, hp.n_vocab}, !hp.tied_embeddings});
    const uint64_t q = uint64_t(hp.head_dim) * hp.n_head, k = hp.n_embd_k_gqa(), v = hp.n_embd_v_gqa();
    for (uint32_t i = 0; i < hp.n_layer; ++i) {
        const std::string b = "blk." + std::to_string(i) + ".";
        specs.push_back({b + "attn_norm.weight", {hp.n_embd}, true});
        specs.push_back({b + "attn_q.weight", {hp.n_embd, q}, true});
        specs.push_back({b + "attn_k.weight", {hp.n_embd, k}, true});
        specs.push_back({b + "attn_v.weight", {hp.n_embd, v}, true});
        specs.push_back({b + "attn_q_norm.weight", {hp.head_dim}, true});
        specs.push_back({b + "attn_k_norm.weight", {hp.head_dim}, true});
        specs.push_back({b + "attn_output.weight", {uint64_t(hp.head_dim_v) * hp.n_head, hp.n_embd}, true});
        specs.push_back({b + "post_attention_norm.weight", {hp.n_embd}, true});
        specs.push_back({b + "ffn_norm.weight", {hp.n_embd}, true});
        specs.push_back({b + "ffn_gate.weight", {hp.n_embd, hp.n_ff}, true});
        specs.push_back({b + "ffn_up.weight", {hp.n_embd, hp.n_ff}, true});
        specs.push_back({b + "ffn_down.weight", {hp.n_ff, hp.n_embd}, true});
        specs.push_back({b + "post_ffw_norm.weight", {hp.n_embd}, true});
    }
    return specs;
}

}  // namespace kvmix
