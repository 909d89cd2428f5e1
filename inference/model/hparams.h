// ModelHParams: the hyper-parameters of a supported architecture, read from GGUF
// metadata or a Hugging Face config.json, plus the facts about how that source stores
// its weights (RoPE pairing, norm offset) that the forward pass must honour.
// Plain value type; thread-safe to share once built.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace kvmix {

enum class ArchFamily { llama, qwen2, qwen3, gemma3 };

enum class RopeScalingType { none, linear, llama3, yarn };

struct RopeScaling {
    RopeScalingType type = RopeScalingType::none;
    float factor = 1.0f;
    float low_freq_factor = 1.0f;    // llama3
    float high_freq_factor = 4.0f;   // llama3
    uint32_t original_context = 0;   // llama3 / yarn
};

enum class Activation { silu, gelu_tanh };

enum class WeightSource { gguf, safetensors };

struct ModelHParams {
    std::string architecture;  // as the file names it: "llama", "mistral", "qwen2", "qwen3", "gemma3"
    ArchFamily family = ArchFamily::llama;
    std::string name;          // human-readable model name, may be empty

    uint32_t n_layer = 0;
    uint32_t n_embd = 0;
    uint32_t n_head = 0;
    uint32_t n_head_kv = 0;
    uint32_t head_dim = 0;     // key/query head size
    uint32_t head_dim_v = 0;   // value head size
    uint32_t n_ff = 0;
    uint32_t n_vocab = 0;
    uint32_t context_length = 0;  // training context
    uint32_t n_rot = 0;           // rotary dimensions per head

    float rms_eps = 1e-5f;
    float rope_theta = 10000.0f;        // global (or only) layers
    float rope_theta_local = 10000.0f;  // sliding-window layers (Gemma 3)
    RopeScaling rope_scaling;           // applies to global layers
    bool rope_interleaved = false;      // adjacent-pair rotation (GGUF llama) vs half split (NeoX/HF)
    bool has_rope_freqs = false;        // per-dimension frequency factors tensor (GGUF llama3 scaling)

    uint32_t sliding_window = 0;        // 0: no sliding window anywhere
    std::vector<bool> layer_sliding;    // per layer: uses the sliding window

    Activation activation = Activation::silu;
    bool tied_embeddings = false;       // output head reuses token_embd
    float embedding_scale = 1.0f;       // Gemma multiplies embeddings by sqrt(n_embd)
    float attention_scale = 0.0f;       // softmax scale; 0 means 1/sqrt(head_dim)
    float attn_logit_softcap = 0.0f;    // 0: none
    float final_logit_softcap = 0.0f;   // 0: none
    bool attn_qkv_bias = false;         // biases added after the Q, K, V projections (Qwen2)
    bool qk_norm = false;               // RMSNorm on q and k heads, before RoPE (Qwen3, Gemma 3)
    bool sandwich_norms = false;        // extra post-attention / post-FFN norms (Gemma 3)
    float norm_weight_offset = 0.0f;    // added to norm weights at use (HF Gemma stores w, GGUF stores 1 + w)

    WeightSource source = WeightSource::gguf;

    uint32_t n_embd_k_gqa() const { return head_dim * n_head_kv; }
    uint32_t n_embd_v_gqa() const { return head_dim_v * n_head_kv; }
    uint32_t n_sliding_layers() const;
};

const char* arch_family_name(ArchFamily family);
const char* rope_scaling_name(RopeScalingType type);

}  // namespace kvmix
