#include "model/architectures.h"

#include <nlohmann/json.hpp>

namespace kvmix {

namespace {

constexpr ArchitectureInfo kLlama{ArchFamily::llama, &llama_hparams_from_gguf, &llama_hparams_from_hf};
constexpr ArchitectureInfo kQwen2{ArchFamily::qwen2, &qwen2_hparams_from_gguf, &qwen2_hparams_from_hf};
constexpr ArchitectureInfo kQwen3{ArchFamily::qwen3, &qwen3_hparams_from_gguf, &qwen3_hparams_from_hf};
constexpr ArchitectureInfo kGemma3{ArchFamily::gemma3, &gemma3_hparams_from_gguf, &gemma3_hparams_from_hf};

}  // namespace

const ArchitectureInfo* find_architecture_gguf(std::string_view arch) {
    if (arch == "llama" || arch == "mistral") return &kLlama;
    if (arch == "qwen2") return &kQwen2;
    if (arch == "qwen3") return &kQwen3;
    if (arch == "gemma3") return &kGemma3;
    return nullptr;
}

const ArchitectureInfo* find_architecture_hf(std::string_view model_type) {
    if (model_type == "llama" || model_type == "mistral") return &kLlama;
    if (model_type == "qwen2") return &kQwen2;
    if (model_type == "qwen3") return &kQwen3;
    if (model_type == "gemma3_text" || model_type == "gemma3") return &kGemma3;
    return nullptr;
}

std::string supported_architectures() { return "llama (Llama 2/3, TinyLlama, SmolLM2), mistral, qwen2 (Qwen2, Qwen2.5), qwen3, gemma3"; }

Status validate_hparams(const ModelHParams& hp) {
    auto fail = [](const std::string& m) { return format_error("invalid hyper-parameters: " + m); };
    if (hp.n_head_kv == 0 || hp.n_head % hp.n_head_kv != 0)
        return fail("head_count " + std::to_string(hp.n_head) + " is not a multiple of head_count_kv " + std::to_string(hp.n_head_kv));
    if (hp.head_dim % 2 != 0) return fail("head size " + std::to_string(hp.head_dim) + " is odd (RoPE needs pairs)");
    if (hp.n_rot == 0 || hp.n_rot > hp.head_dim || hp.n_rot % 2 != 0)
        return fail("rope dimension count " + std::to_string(hp.n_rot) + " must be even and at most the head size " + std::to_string(hp.head_dim));
    if (!(hp.rms_eps > 0.0f && hp.rms_eps < 1.0f)) return fail("rms epsilon must be in (0, 1)");
    if (!(hp.rope_theta > 0.0f) || !(hp.rope_theta_local > 0.0f)) return fail("rope base frequency must be positive");
    if (hp.n_vocab == 0 || hp.n_vocab > (1u << 24)) return fail("vocabulary size " + std::to_string(hp.n_vocab) + " is out of range");
    if (hp.layer_sliding.size() != hp.n_layer) return fail("per-layer sliding flags do not match the layer count");
    if (hp.final_logit_softcap < 0 || hp.attn_logit_softcap < 0) return fail("softcap values must not be negative");
    return {};
}

}  // namespace kvmix
