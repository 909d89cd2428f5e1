// Model: an opened model ready to run — the validated ModelFile plus per-layer weight
// handles, fp32 copies of the small norm vectors, and the RoPE tables. Matrices are never
// copied: they stay views into the file's memory map.
// Immutable after load(); shared by every Session of the model (thread-safe to share).
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "backend/cpu-backend.h"
#include "kvmix/status.h"
#include "model/model-file.h"
#include "runtime/kv-cache.h"

namespace kvmix {

struct LayerWeights {
    const TensorView* wq = nullptr;  // [n_embd] -> [n_head * head_dim]
    const TensorView* wk = nullptr;  // [n_embd] -> [n_head_kv * head_dim]
    const TensorView* wv = nullptr;  // [n_embd] -> [n_head_kv * head_dim_v]
    const TensorView* wo = nullptr;  // [n_head * head_dim_v] -> [n_embd]
    const TensorView* gate = nullptr;
    const TensorView* up = nullptr;
    const TensorView* down = nullptr;
    // Q/K/V projection biases (Qwen2), empty otherwise: [n_head * head_dim],
    // [n_head_kv * head_dim], [n_head_kv * head_dim_v].
    std::vector<float> bq, bk, bv;
    std::vector<float> attn_norm;       // [n_embd]
    std::vector<float> ffn_norm;        // [n_embd]
    std::vector<float> q_norm, k_norm;  // [head_dim] (Qwen3, Gemma 3), empty otherwise
    std::vector<float> post_attn_norm;  // [n_embd] (Gemma 3), empty otherwise
    std::vector<float> post_ffw_norm;   // [n_embd] (Gemma 3), empty otherwise
    RopeConfig rope;                    // theta, scaling and pairing of this layer
    int32_t window = 0;                 // sliding window (0: full attention)
};

// y[r, :] += b for every row r < rows of y [rows, b.size()]; nothing when b is empty.
// Every forward (CPU, batch, profiler) adds the projection biases with this.
void add_bias(float* y, int64_t rows, const std::vector<float>& b);

class Model {
public:
    static Expected<std::shared_ptr<const Model>> load(const std::string& path);
    static Expected<std::shared_ptr<const Model>> from_file(std::shared_ptr<const ModelFile> file);

    const ModelFile& file() const { return *file_; }
    const ModelHParams& hparams() const { return file_->hparams(); }
    const LayerWeights& layer(uint32_t i) const { return layers_[i]; }
    const TensorView& token_embd() const { return *token_embd_; }
    const TensorView& output() const { return *output_; }  // token_embd when tied
    const std::vector<float>& output_norm() const { return output_norm_; }
    std::vector<KvLayerShape> kv_shapes() const;

    // Embedding row of `token` (dequantized, scaled by the architecture's embedding scale).
    void embed(int32_t token, float* out) const;

private:
    Model() = default;

    std::shared_ptr<const ModelFile> file_;
    std::vector<LayerWeights> layers_;
    const TensorView* token_embd_ = nullptr;
    const TensorView* output_ = nullptr;
    std::vector<float> output_norm_;
    std::vector<float> rope_freq_factors_;  // [n_rot / 2] for llama3 scaling, else empty
};

}  // namespace kvmix
