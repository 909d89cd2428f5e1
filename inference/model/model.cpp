#include "model/model.h"

#include <cmath>
#include <numbers>

#include "common/assert.h"
#include "ref/dequantize.h"

namespace kvmix {

namespace {

std::vector<float> to_f32(const TensorView* t) {
    if (!t) return {};
    std::vector<float> out(static_cast<size_t>(t->n_elements()));
    dequantize_row_ref(t->type, t->data, out.data(), static_cast<int64_t>(out.size()));
    return out;
}

// Llama 3 RoPE scaling as per-frequency divisors: long wavelengths are stretched by
// `factor`, short ones kept, the band between interpolated smoothly.
std::vector<float> llama3_freq_factors(const ModelHParams& hp) {
    const RopeScaling& rs = hp.rope_scaling;
    const double old_ctx = rs.original_context ? rs.original_context : 8192;
    const double low_wavelen = old_ctx / rs.low_freq_factor, high_wavelen = old_ctx / rs.high_freq_factor;
    std::vector<float> f(hp.n_rot / 2);
    for (uint32_t i = 0; i < hp.n_rot / 2; ++i) {
        const double freq = std::pow(static_cast<double>(hp.rope_theta), -2.0 * i / hp.n_rot);
        const double wavelen = 2 * std::numbers::pi / freq;
        double divisor = 1.0;
        if (wavelen > low_wavelen) {
            divisor = rs.factor;
        } else if (wavelen >= high_wavelen) {
            const double smooth = (old_ctx / wavelen - rs.low_freq_factor) / (rs.high_freq_factor - rs.low_freq_factor);
            divisor = 1.0 / ((1 - smooth) / rs.factor + smooth);
        }
        f[i] = static_cast<float>(divisor);
    }
    return f;
}

}  // namespace

void add_bias(float* y, int64_t rows, const std::vector<float>& b) {
    const auto n = static_cast<int64_t>(b.size());
    for (int64_t r = 0; r < rows; ++r)
        for (int64_t i = 0; i < n; ++i) y[r * n + i] += b[static_cast<size_t>(i)];
}

Expected<std::shared_ptr<const Model>> Model::load(const std::string& path) {
    auto file = ModelFile::open(path);
    if (!file) return file.status();
    return from_file(*file);
}

Expected<std::shared_ptr<const Model>> Model::from_file(std::shared_ptr<const ModelFile> file) {
    std::shared_ptr<Model> m(new Model());
    m->file_ = std::move(file);
    const ModelFile& f = *m->file_;
    const ModelHParams& hp = f.hparams();
    // ModelFile::open validated presence, shapes and types of every required tensor.
    m->token_embd_ = f.tensor("token_embd.weight");
    m->output_ = hp.tied_embeddings ? m->token_embd_ : f.tensor("output.weight");
    KVMIX_ASSERT(m->token_embd_ && m->output_);
    m->output_norm_ = to_f32(f.tensor("output_norm.weight"));

    if (hp.has_rope_freqs) {
        m->rope_freq_factors_ = to_f32(f.tensor("rope_freqs.weight"));
    } else if (hp.rope_scaling.type == RopeScalingType::llama3) {
        m->rope_freq_factors_ = llama3_freq_factors(hp);
    } else if (hp.rope_scaling.type == RopeScalingType::yarn) {
        return error(ErrorCode::unsupported, "'" + f.path() + "': YaRN RoPE scaling is not supported yet");
    }
    for (float x : m->rope_freq_factors_)
        if (!(x > 0.0f) || !std::isfinite(x)) return format_error("'" + f.path() + "': RoPE frequency factors must be positive and finite");

    m->layers_.resize(hp.n_layer);
    for (uint32_t i = 0; i < hp.n_layer; ++i) {
        const std::string b = "blk." + std::to_string(i) + ".";
        LayerWeights& L = m->layers_[i];
        L.wq = f.tensor(b + "attn_q.weight");
        L.wk = f.tensor(b + "attn_k.weight");
        L.wv = f.tensor(b + "attn_v.weight");
        L.wo = f.tensor(b + "attn_output.weight");
        L.gate = f.tensor(b + "ffn_gate.weight");
        L.up = f.tensor(b + "ffn_up.weight");
        L.down = f.tensor(b + "ffn_down.weight");
        if (hp.attn_qkv_bias) {
            L.bq = to_f32(f.tensor(b + "attn_q.bias"));
            L.bk = to_f32(f.tensor(b + "attn_k.bias"));
            L.bv = to_f32(f.tensor(b + "attn_v.bias"));
        }
        L.attn_norm = to_f32(f.tensor(b + "attn_norm.weight"));
        L.ffn_norm = to_f32(f.tensor(b + "ffn_norm.weight"));
        if (hp.qk_norm) {
            L.q_norm = to_f32(f.tensor(b + "attn_q_norm.weight"));
            L.k_norm = to_f32(f.tensor(b + "attn_k_norm.weight"));
        }
        if (hp.sandwich_norms) {
            L.post_attn_norm = to_f32(f.tensor(b + "post_attention_norm.weight"));
            L.post_ffw_norm = to_f32(f.tensor(b + "post_ffw_norm.weight"));
        }
        const bool sliding = hp.layer_sliding[i];
        L.window = sliding ? static_cast<int32_t>(hp.sliding_window) : 0;
        L.rope.n_rot = hp.n_rot;
        L.rope.interleaved = hp.rope_interleaved;
        // Gemma 3: local layers use their own base and no scaling; global layers get both.
        L.rope.base = sliding && hp.family == ArchFamily::gemma3 ? hp.rope_theta_local : hp.rope_theta;
        const bool scaled = !(sliding && hp.family == ArchFamily::gemma3);
        L.rope.freq_scale = scaled && hp.rope_scaling.type == RopeScalingType::linear ? 1.0f / hp.rope_scaling.factor : 1.0f;
        L.rope.freq_factors = scaled && !m->rope_freq_factors_.empty() ? m->rope_freq_factors_.data() : nullptr;
    }
    return std::shared_ptr<const Model>(std::move(m));
}

std::vector<KvLayerShape> Model::kv_shapes() const {
    const ModelHParams& hp = hparams();
    return std::vector<KvLayerShape>(hp.n_layer, KvLayerShape{hp.n_head_kv, hp.head_dim, hp.head_dim_v});
}

void Model::embed(int32_t token, float* out) const {
    const ModelHParams& hp = hparams();
    const TensorTypeTraits& traits = tensor_type_traits(token_embd_->type);
    const size_t row_bytes = hp.n_embd / traits.block_elems * traits.block_bytes;
    dequantize_row_ref(token_embd_->type, token_embd_->data + static_cast<size_t>(token) * row_bytes, out, hp.n_embd);
    if (hp.embedding_scale != 1.0f)
        for (uint32_t i = 0; i < hp.n_embd; ++i) out[i] *= hp.embedding_scale;
}

}  // namespace kvmix
