#include "io/tensor-name-map.h"

#include <charconv>

namespace kvmix {

namespace {

bool consume(std::string_view& s, std::string_view prefix) {
    if (s.substr(0, prefix.size()) != prefix) return false;
    s.remove_prefix(prefix.size());
    return true;
}

struct Suffix {
    std::string_view hf;
    std::string_view internal;
};

constexpr Suffix kLayerCommon[] = {
    {"input_layernorm.weight", "attn_norm.weight"},
    {"self_attn.q_proj.weight", "attn_q.weight"},
    {"self_attn.k_proj.weight", "attn_k.weight"},
    {"self_attn.v_proj.weight", "attn_v.weight"},
    {"self_attn.o_proj.weight", "attn_output.weight"},
    {"mlp.gate_proj.weight", "ffn_gate.weight"},
    {"mlp.up_proj.weight", "ffn_up.weight"},
    {"mlp.down_proj.weight", "ffn_down.weight"},
};

// Llama-style blocks (Llama, Qwen2, Qwen3): the norm after attention is the FFN input norm.
constexpr Suffix kLayerLlama[] = {
    {"post_attention_layernorm.weight", "ffn_norm.weight"},
};

constexpr Suffix kQkvBias[] = {
    {"self_attn.q_proj.bias", "attn_q.bias"},
    {"self_attn.k_proj.bias", "attn_k.bias"},
    {"self_attn.v_proj.bias", "attn_v.bias"},
};

constexpr Suffix kQkNorm[] = {
    {"self_attn.q_norm.weight", "attn_q_norm.weight"},
    {"self_attn.k_norm.weight", "attn_k_norm.weight"},
};

constexpr Suffix kLayerGemma3[] = {
    {"post_attention_layernorm.weight", "post_attention_norm.weight"},
    {"pre_feedforward_layernorm.weight", "ffn_norm.weight"},
    {"post_feedforward_layernorm.weight", "post_ffw_norm.weight"},
};

template <size_t N>
std::optional<std::string_view> lookup(const Suffix (&table)[N], std::string_view s) {
    for (const auto& e : table)
        if (e.hf == s) return e.internal;
    return std::nullopt;
}

// The family's own extras first, then its block layout.
std::optional<std::string_view> lookup_family(ArchFamily family, std::string_view s) {
    switch (family) {
        case ArchFamily::llama: return lookup(kLayerLlama, s);
        case ArchFamily::qwen2:
            if (auto f = lookup(kQkvBias, s)) return f;
            return lookup(kLayerLlama, s);
        case ArchFamily::qwen3:
            if (auto f = lookup(kQkNorm, s)) return f;
            return lookup(kLayerLlama, s);
        case ArchFamily::gemma3:
            if (auto f = lookup(kQkNorm, s)) return f;
            return lookup(kLayerGemma3, s);
    }
    return std::nullopt;
}

}  // namespace

std::optional<std::string> hf_to_internal_name(std::string_view name, ArchFamily family) {
    // Multimodal Gemma 3 checkpoints nest the text model under "language_model.".
    consume(name, "language_model.");
    if (name == "lm_head.weight") return std::string("output.weight");
    if (!consume(name, "model.")) return std::nullopt;
    if (name == "embed_tokens.weight") return std::string("token_embd.weight");
    if (name == "norm.weight") return std::string("output_norm.weight");
    if (!consume(name, "layers.")) return std::nullopt;
    const size_t dot = name.find('.');
    if (dot == std::string_view::npos || dot == 0) return std::nullopt;
    unsigned layer = 0;
    const auto [end, ec] = std::from_chars(name.data(), name.data() + dot, layer);
    if (ec != std::errc() || end != name.data() + dot) return std::nullopt;
    name.remove_prefix(dot + 1);
    auto found = lookup(kLayerCommon, name);
    if (!found) found = lookup_family(family, name);
    if (!found) return std::nullopt;
    return "blk." + std::to_string(layer) + "." + std::string(*found);
}

}  // namespace kvmix
