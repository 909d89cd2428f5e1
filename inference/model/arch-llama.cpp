// Llama family: Llama 2, Llama 3 (incl. llama3 RoPE scaling), TinyLlama, Mistral (sliding window).
#include <nlohmann/json.hpp>

#include "model/architectures.h"
#include "model/metadata-reader.h"

namespace kvmix {

namespace {

Status read_rope_scaling_gguf(const GgufMetaReader& meta, ModelHParams& hp) {
    std::string type;
    KVMIX_ASSIGN(type, meta.str_or("rope.scaling.type", "none"));
    if (type == "none" || type.empty()) return {};
    if (type == "linear") hp.rope_scaling.type = RopeScalingType::linear;
    else if (type == "yarn") hp.rope_scaling.type = RopeScalingType::yarn;
    else if (type == "llama3") hp.rope_scaling.type = RopeScalingType::llama3;
    else return error(ErrorCode::unsupported, "rope scaling type '" + type + "' is not supported (supported: none, linear, yarn, llama3)");
    KVMIX_ASSIGN(hp.rope_scaling.factor, meta.f32_or("rope.scaling.factor", 1.0f));
    KVMIX_ASSIGN(hp.rope_scaling.original_context, meta.u32_or("rope.scaling.original_context_length", 0));
    if (hp.rope_scaling.factor <= 0) return format_error("rope scaling factor must be positive");
    return {};
}

}  // namespace

Expected<ModelHParams> llama_hparams_from_gguf(const GgufFile& file, const std::string& arch) {
    GgufMetaReader meta(file, arch);
    ModelHParams hp;
    hp.architecture = arch;
    hp.family = ArchFamily::llama;
    hp.source = WeightSource::gguf;
    if (auto name = file.get_string("general.name")) hp.name = *name;
    KVMIX_ASSIGN(hp.n_layer, meta.u32("block_count", 1, 1024));
    KVMIX_ASSIGN(hp.n_embd, meta.u32("embedding_length"));
    KVMIX_ASSIGN(hp.n_ff, meta.u32("feed_forward_length"));
    KVMIX_ASSIGN(hp.n_head, meta.u32("attention.head_count", 1, 4096));
    KVMIX_ASSIGN(hp.n_head_kv, meta.u32_or("attention.head_count_kv", hp.n_head, 1, 4096));
    KVMIX_ASSIGN(hp.context_length, meta.u32("context_length"));
    if (hp.n_embd % hp.n_head != 0)
        return format_error("embedding_length " + std::to_string(hp.n_embd) + " is not a multiple of head_count " + std::to_string(hp.n_head));
    KVMIX_ASSIGN(hp.head_dim, meta.u32_or("attention.key_length", hp.n_embd / hp.n_head, 1, 4096));
    KVMIX_ASSIGN(hp.head_dim_v, meta.u32_or("attention.value_length", hp.head_dim, 1, 4096));
    KVMIX_ASSIGN(hp.n_rot, meta.u32_or("rope.dimension_count", hp.head_dim, 2, 4096));
    KVMIX_ASSIGN(hp.rms_eps, meta.f32_or("attention.layer_norm_rms_epsilon", 1e-5f));
    KVMIX_ASSIGN(hp.rope_theta, meta.f32_or("rope.freq_base", 10000.0f));
    hp.rope_theta_local = hp.rope_theta;
    KVMIX_TRY(read_rope_scaling_gguf(meta, hp));
    KVMIX_ASSIGN(hp.sliding_window, meta.u32_or("attention.sliding_window", 0));
    hp.layer_sliding.assign(hp.n_layer, hp.sliding_window > 0);
    // llama.cpp's converter permutes Q/K rows so that RoPE rotates adjacent pairs.
    hp.rope_interleaved = true;
    hp.has_rope_freqs = file.find_tensor("rope_freqs.weight") != nullptr;
    hp.tied_embeddings = file.find_tensor("output.weight") == nullptr;
    hp.activation = Activation::silu;
    if (auto tokens = file.find("tokenizer.ggml.tokens"); tokens && tokens->type == GgufValueType::array)
        hp.n_vocab = static_cast<uint32_t>(tokens->items.size());
    if (const TensorView* embd = file.find_tensor("token_embd.weight"); embd && embd->n_dims == 2) {
        if (hp.n_vocab == 0) hp.n_vocab = static_cast<uint32_t>(embd->ne[1]);
    }
    if (hp.n_vocab == 0) return format_error("cannot determine the vocabulary size: no tokenizer.ggml.tokens and no token_embd.weight");
    KVMIX_TRY(validate_hparams(hp));
    return hp;
}

Expected<ModelHParams> llama_hparams_from_hf(const nlohmann::json& config, const std::string& model_type) {
    JsonConfigReader cfg(config);
    ModelHParams hp;
    hp.architecture = model_type;
    hp.family = ArchFamily::llama;
    hp.source = WeightSource::safetensors;
    KVMIX_ASSIGN(hp.n_layer, cfg.u32("num_hidden_layers", 1, 1024));
    KVMIX_ASSIGN(hp.n_embd, cfg.u32("hidden_size"));
    KVMIX_ASSIGN(hp.n_ff, cfg.u32("intermediate_size"));
    KVMIX_ASSIGN(hp.n_head, cfg.u32("num_attention_heads", 1, 4096));
    KVMIX_ASSIGN(hp.n_head_kv, cfg.u32_or("num_key_value_heads", hp.n_head, 1, 4096));
    KVMIX_ASSIGN(hp.n_vocab, cfg.u32("vocab_size"));
    KVMIX_ASSIGN(hp.context_length, cfg.u32_or("max_position_embeddings", 2048));
    if (hp.n_embd % hp.n_head != 0)
        return format_error("config.json: hidden_size " + std::to_string(hp.n_embd) + " is not a multiple of num_attention_heads " +
                            std::to_string(hp.n_head));
    KVMIX_ASSIGN(hp.head_dim, cfg.u32_or("head_dim", hp.n_embd / hp.n_head, 1, 4096));
    hp.head_dim_v = hp.head_dim;
    hp.n_rot = hp.head_dim;
    KVMIX_ASSIGN(hp.rms_eps, cfg.f32_or("rms_norm_eps", 1e-6f));
    KVMIX_ASSIGN(hp.rope_theta, cfg.f32_or("rope_theta", 10000.0f));
    hp.rope_theta_local = hp.rope_theta;
    KVMIX_ASSIGN(hp.tied_embeddings, cfg.bool_or("tie_word_embeddings", false));
    KVMIX_ASSIGN(hp.sliding_window, cfg.u32_or("sliding_window", 0));
    hp.layer_sliding.assign(hp.n_layer, hp.sliding_window > 0);
    std::string act;
    KVMIX_ASSIGN(act, cfg.str_or("hidden_act", "silu"));
    if (act != "silu") return error(ErrorCode::unsupported, "config.json: hidden_act '" + act + "' is not supported for " + model_type + " (supported: silu)");
    if (const nlohmann::json* rs = cfg.get("rope_scaling")) {
        if (!rs->is_object()) return format_error("config.json: 'rope_scaling' must be an object");
        JsonConfigReader r(*rs);
        std::string type;
        KVMIX_ASSIGN(type, r.str_or("rope_type", ""));
        if (type.empty()) {
            KVMIX_ASSIGN(type, r.str_or("type", "default"));
        }
        if (type == "linear") hp.rope_scaling.type = RopeScalingType::linear;
        else if (type == "llama3") hp.rope_scaling.type = RopeScalingType::llama3;
        else if (type == "yarn") hp.rope_scaling.type = RopeScalingType::yarn;
        else if (type != "default") return error(ErrorCode::unsupported, "config.json: rope_scaling type '" + type + "' is not supported (supported: linear, llama3, yarn)");
        KVMIX_ASSIGN(hp.rope_scaling.factor, r.f32_or("factor", 1.0f));
        KVMIX_ASSIGN(hp.rope_scaling.low_freq_factor, r.f32_or("low_freq_factor", 1.0f));
        KVMIX_ASSIGN(hp.rope_scaling.high_freq_factor, r.f32_or("high_freq_factor", 4.0f));
        KVMIX_ASSIGN(hp.rope_scaling.original_context, r.u32_or("original_max_position_embeddings", 0));
        if (hp.rope_scaling.factor <= 0) return format_error("config.json: rope_scaling factor must be positive");
    }
    hp.rope_interleaved = false;  // HF keeps the half-split (NeoX) layout
    hp.activation = Activation::silu;
    KVMIX_TRY(validate_hparams(hp));
    return hp;
}

std::vector<TensorSpec> llama_tensor_specs(const ModelHParams& hp) {
    std::vector<TensorSpec> specs;
    specs.push_back({"token_embd.weight", {hp.n_embd, hp.n_vocab}, true});
    specs.push_back({"output_norm.weight", {hp.n_embd}, true});
    specs.push_back({"output.weight", {hp.n_embd, hp.n_vocab}, !hp.tied_embeddings});
    if (hp.has_rope_freqs) specs.push_back({"rope_freqs.weight", {hp.n_rot / 2}, true});
    const uint64_t q = uint64_t(hp.head_dim) * hp.n_head, k = hp.n_embd_k_gqa(), v = hp.n_embd_v_gqa();
    for (uint32_t i = 0; i < hp.n_layer; ++i) {
        const std::string b = "blk." + std::to_string(i) + ".";
        specs.push_back({b + "attn_norm.weight", {hp.n_embd}, true});
        specs.push_back({b + "attn_q.weight", {hp.n_embd, q}, true});
        specs.push_back({b + "attn_k.weight", {hp.n_embd, k}, true});
        specs.push_back({b + "attn_v.weight", {hp.n_embd, v}, true});
        specs.push_back({b + "attn_output.weight", {uint64_t(hp.head_dim_v) * hp.n_head, hp.n_embd}, true});
        specs.push_back({b + "ffn_norm.weight", {hp.n_embd}, true});
        specs.push_back({b + "ffn_gate.weight", {hp.n_embd, hp.n_ff}, true});
        specs.push_back({b + "ffn_up.weight", {hp.n_embd, hp.n_ff}, true});
        specs.push_back({b + "ffn_down.weight", {hp.n_ff, hp.n_embd}, true});
    }
    return specs;
}

}  // namespace kvmix
