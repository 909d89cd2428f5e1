#include "model/arch-common.h"

#include <nlohmann/json.hpp>

#include "model/architectures.h"

namespace kvmix {

namespace {

constexpr RopeScalingType kScalingTypes[] = {RopeScalingType::linear, RopeScalingType::llama3, RopeScalingType::yarn};

bool has_scaling(RopeScalingSet set, RopeScalingType t) { return (set >> static_cast<unsigned>(t)) & 1u; }

// "linear, yarn" (the supported types besides none, in enum order).
std::string scaling_names(RopeScalingSet set) {
    std::string out;
    for (RopeScalingType t : kScalingTypes)
        if (has_scaling(set, t)) out += (out.empty() ? "" : ", ") + std::string(rope_scaling_name(t));
    return out;
}

bool parse_scaling(const std::string& name, RopeScalingType& t) {
    for (RopeScalingType c : kScalingTypes)
        if (name == rope_scaling_name(c)) {
            t = c;
            return true;
        }
    return false;
}

Status read_gguf_rope_scaling(const GgufMetaReader& meta, const std::string& arch, RopeScalingSet supported, ModelHParams& hp) {
    std::string type;
    KVMIX_ASSIGN(type, meta.str_or("rope.scaling.type", "none"));
    if (type == "none" || type.empty()) return {};
    RopeScalingType t{};
    if (!parse_scaling(type, t) || !has_scaling(supported, t)) {
        const std::string names = scaling_names(supported);
        return error(ErrorCode::unsupported, "rope scaling type '" + type + "' is not supported for " + arch + " (supported: none" +
                                                 (names.empty() ? "" : ", " + names) + ")");
    }
    hp.rope_scaling.type = t;
    KVMIX_ASSIGN(hp.rope_scaling.factor, meta.f32_or("rope.scaling.factor", 1.0f));
    KVMIX_ASSIGN(hp.rope_scaling.original_context, meta.u32_or("rope.scaling.original_context_length", 0));
    if (hp.rope_scaling.factor <= 0) return format_error("rope scaling factor must be positive");
    return {};
}

// A rope_scaling object, or transformers 5's rope_parameters entry (the same keys).
Status read_hf_rope_scaling(const nlohmann::json& rs, const std::string& arch, RopeScalingSet supported, ModelHParams& hp) {
    JsonConfigReader r(rs);
    std::string type;
    KVMIX_ASSIGN(type, r.str_or("rope_type", ""));
    if (type.empty()) {
        KVMIX_ASSIGN(type, r.str_or("type", "default"));
    }
    if (type == "default") return {};
    RopeScalingType t{};
    if (!parse_scaling(type, t) || !has_scaling(supported, t)) {
        const std::string names = scaling_names(supported);
        return error(ErrorCode::unsupported, "config.json: rope_scaling type '" + type + "' is not supported for " + arch +
                                                 " (supported: " + (names.empty() ? "none" : names) + ")");
    }
    hp.rope_scaling.type = t;
    KVMIX_ASSIGN(hp.rope_scaling.factor, r.f32_or("factor", 1.0f));
    KVMIX_ASSIGN(hp.rope_scaling.low_freq_factor, r.f32_or("low_freq_factor", 1.0f));
    KVMIX_ASSIGN(hp.rope_scaling.high_freq_factor, r.f32_or("high_freq_factor", 4.0f));
    KVMIX_ASSIGN(hp.rope_scaling.original_context, r.u32_or("original_max_position_embeddings", 0));
    if (hp.rope_scaling.factor <= 0) return format_error("config.json: rope_scaling factor must be positive");
    return {};
}

}  // namespace

Status read_gguf_core(const GgufFile& file, const GgufMetaReader& meta, const std::string& arch, const ArchDefaults& d,
                      ModelHParams& hp) {
    hp.architecture = arch;
    hp.family = d.family;
    hp.source = WeightSource::gguf;
    if (auto name = file.get_string("general.name")) hp.name = *name;
    KVMIX_ASSIGN(hp.n_layer, meta.u32("block_count", 1, 1024));
    KVMIX_ASSIGN(hp.n_embd, meta.u32("embedding_length"));
    KVMIX_ASSIGN(hp.n_ff, meta.u32("feed_forward_length"));
    KVMIX_ASSIGN(hp.n_head, meta.u32("attention.head_count", 1, 4096));
    KVMIX_ASSIGN(hp.n_head_kv, meta.u32_or("attention.head_count_kv", hp.n_head, 1, 4096));
    KVMIX_ASSIGN(hp.context_length, meta.u32("context_length"));
    if (d.gguf_head_dim_optional && !meta.has("attention.key_length")) {
        if (hp.n_embd % hp.n_head != 0)
            return format_error("embedding_length " + std::to_string(hp.n_embd) + " is not a multiple of head_count " + std::to_string(hp.n_head));
        hp.head_dim = hp.n_embd / hp.n_head;
    } else {
        KVMIX_ASSIGN(hp.head_dim, meta.u32("attention.key_length", 1, 4096));
    }
    KVMIX_ASSIGN(hp.head_dim_v, meta.u32_or("attention.value_length", hp.head_dim, 1, 4096));
    if (d.gguf_rope_dimension_count) {
        KVMIX_ASSIGN(hp.n_rot, meta.u32_or("rope.dimension_count", hp.head_dim, 2, 4096));
    } else {
        hp.n_rot = hp.head_dim;
    }
    KVMIX_ASSIGN(hp.rms_eps, meta.f32_or("attention.layer_norm_rms_epsilon", d.gguf_rms_eps));
    KVMIX_ASSIGN(hp.rope_theta, meta.f32_or("rope.freq_base", d.rope_theta));
    hp.rope_theta_local = hp.rope_theta;
    KVMIX_TRY(read_gguf_rope_scaling(meta, arch, d.rope_scalings, hp));
    hp.rope_interleaved = false;
    hp.layer_sliding.assign(hp.n_layer, false);
    hp.tied_embeddings = file.find_tensor("output.weight") == nullptr;
    // The tokenizer's list is the vocabulary; a file without one (tests, bare weights)
    // still has the embedding rows.
    if (auto tokens = file.find("tokenizer.ggml.tokens"); tokens && tokens->type == GgufValueType::array)
        hp.n_vocab = static_cast<uint32_t>(tokens->items.size());
    if (const TensorView* embd = file.find_tensor("token_embd.weight"); embd && embd->n_dims == 2 && hp.n_vocab == 0)
        hp.n_vocab = static_cast<uint32_t>(embd->ne[1]);
    if (hp.n_vocab == 0) return format_error("cannot determine the vocabulary size: no tokenizer.ggml.tokens and no token_embd.weight");
    return {};
}

Status read_hf_core(const JsonConfigReader& cfg, const std::string& arch, const ArchDefaults& d, ModelHParams& hp) {
    hp.architecture = arch;
    hp.family = d.family;
    hp.source = WeightSource::safetensors;
    KVMIX_ASSIGN(hp.n_layer, cfg.u32("num_hidden_layers", 1, 1024));
    KVMIX_ASSIGN(hp.n_embd, cfg.u32("hidden_size"));
    KVMIX_ASSIGN(hp.n_ff, cfg.u32("intermediate_size"));
    KVMIX_ASSIGN(hp.n_head, cfg.u32("num_attention_heads", 1, 4096));
    KVMIX_ASSIGN(hp.n_head_kv, cfg.u32_or("num_key_value_heads", hp.n_head, 1, 4096));
    KVMIX_ASSIGN(hp.n_vocab, cfg.u32("vocab_size"));
    KVMIX_ASSIGN(hp.context_length, cfg.u32_or("max_position_embeddings", d.hf_context_length));
    if (cfg.has("head_dim")) {
        KVMIX_ASSIGN(hp.head_dim, cfg.u32("head_dim", 1, 4096));
    } else if (d.hf_head_dim > 0) {
        hp.head_dim = d.hf_head_dim;
    } else {
        if (hp.n_embd % hp.n_head != 0)
            return format_error("config.json: hidden_size " + std::to_string(hp.n_embd) + " is not a multiple of num_attention_heads " +
                                std::to_string(hp.n_head));
        hp.head_dim = hp.n_embd / hp.n_head;
    }
    hp.head_dim_v = hp.head_dim;
    hp.n_rot = hp.head_dim;
    KVMIX_ASSIGN(hp.rms_eps, cfg.f32_or("rms_norm_eps", d.hf_rms_eps));

    const nlohmann::json* params = cfg.get("rope_parameters");
    if (params) {
        if (!params->is_object()) return format_error("config.json: 'rope_parameters' must be an object");
        if (auto it = params->find("full_attention"); it != params->end()) {
            if (!it->is_object()) return format_error("config.json: 'rope_parameters.full_attention' must be an object");
            params = &*it;
        }
    }
    if (cfg.has("rope_theta") || !params) {
        KVMIX_ASSIGN(hp.rope_theta, cfg.f32_or("rope_theta", d.rope_theta));
    } else {
        KVMIX_ASSIGN(hp.rope_theta, JsonConfigReader(*params).f32_or("rope_theta", d.rope_theta));
    }
    hp.rope_theta_local = hp.rope_theta;
    const nlohmann::json* scaling = cfg.get("rope_scaling");
    if (scaling && !scaling->is_object()) return format_error("config.json: 'rope_scaling' must be an object");
    if (!scaling) scaling = params;
    if (scaling) KVMIX_TRY(read_hf_rope_scaling(*scaling, arch, d.rope_scalings, hp));
    hp.rope_interleaved = false;  // HF keeps the half-split (NeoX) layout
    KVMIX_ASSIGN(hp.tied_embeddings, cfg.bool_or("tie_word_embeddings", d.hf_tied_embeddings));
    hp.layer_sliding.assign(hp.n_layer, false);
    return {};
}

Status read_gguf_uniform_sliding(const GgufMetaReader& meta, ModelHParams& hp) {
    KVMIX_ASSIGN(hp.sliding_window, meta.u32_or("attention.sliding_window", 0));
    hp.layer_sliding.assign(hp.n_layer, hp.sliding_window > 0);
    return {};
}

Status read_hf_uniform_sliding(const JsonConfigReader& cfg, ModelHParams& hp) {
    KVMIX_ASSIGN(hp.sliding_window, cfg.u32_or("sliding_window", 0));
    hp.layer_sliding.assign(hp.n_layer, hp.sliding_window > 0);
    return {};
}

Status read_hf_layer_types(const JsonConfigReader& cfg, ModelHParams& hp, bool& found) {
    const nlohmann::json* types = cfg.get("layer_types");
    found = types != nullptr;
    if (!types) return {};
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
    return {};
}

Status read_hf_qwen_sliding(const JsonConfigReader& cfg, ModelHParams& hp) {
    bool use = false;
    KVMIX_ASSIGN(use, cfg.bool_or("use_sliding_window", false));
    hp.sliding_window = 0;
    // transformers: an absent sliding_window means 4096, an explicit null means none.
    if (use && !cfg.contains("sliding_window")) {
        hp.sliding_window = 4096;
    } else if (use) {
        KVMIX_ASSIGN(hp.sliding_window, cfg.u32_or("sliding_window", 0));
    }
    bool found = false;
    KVMIX_TRY(read_hf_layer_types(cfg, hp, found));
    if (found) return {};
    uint32_t first = 0;
    KVMIX_ASSIGN(first, cfg.u32_or("max_window_layers", 28, 0, 1024));
    for (uint32_t i = 0; i < hp.n_layer; ++i) hp.layer_sliding[i] = hp.sliding_window > 0 && i >= first;
    return {};
}

Status require_hf_activation(const JsonConfigReader& cfg, const std::string& key, const std::string& fallback,
                             std::initializer_list<const char*> accepted, const std::string& arch) {
    std::string act;
    KVMIX_ASSIGN(act, cfg.str_or(key, fallback));
    std::string names;
    for (const char* a : accepted) {
        if (act == a) return {};
        names += (names.empty() ? "" : ", ") + std::string(a);
    }
    return error(ErrorCode::unsupported, "config.json: " + key + " '" + act + "' is not supported for " + arch + " (supported: " + names + ")");
}

Status reject_hf_flag(const JsonConfigReader& cfg, const std::string& key, const std::string& arch) {
    bool on = false;
    KVMIX_ASSIGN(on, cfg.bool_or(key, false));
    if (on) return error(ErrorCode::unsupported, "config.json: " + key + " = true is not supported for " + arch);
    return {};
}

Expected<ModelHParams> finish_hparams(ModelHParams hp) {
    KVMIX_TRY(validate_hparams(hp));
    return hp;
}

std::vector<TensorSpec> tensor_specs(const ModelHParams& hp) {
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
        if (hp.attn_qkv_bias) {
            specs.push_back({b + "attn_q.bias", {q}, true});
            specs.push_back({b + "attn_k.bias", {k}, true});
            specs.push_back({b + "attn_v.bias", {v}, true});
        }
        if (hp.qk_norm) {
            specs.push_back({b + "attn_q_norm.weight", {hp.head_dim}, true});
            specs.push_back({b + "attn_k_norm.weight", {hp.head_dim}, true});
        }
        specs.push_back({b + "attn_output.weight", {uint64_t(hp.head_dim_v) * hp.n_head, hp.n_embd}, true});
        if (hp.sandwich_norms) specs.push_back({b + "post_attention_norm.weight", {hp.n_embd}, true});
        specs.push_back({b + "ffn_norm.weight", {hp.n_embd}, true});
        specs.push_back({b + "ffn_gate.weight", {hp.n_embd, hp.n_ff}, true});
        specs.push_back({b + "ffn_up.weight", {hp.n_embd, hp.n_ff}, true});
        specs.push_back({b + "ffn_down.weight", {hp.n_ff, hp.n_embd}, true});
        if (hp.sandwich_norms) specs.push_back({b + "post_ffw_norm.weight", {hp.n_embd}, true});
    }
    return specs;
}

}  // namespace kvmix
