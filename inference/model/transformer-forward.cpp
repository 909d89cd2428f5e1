#include "model/transformer-forward.h"

#include <cmath>
#include <string>

#include "common/assert.h"

namespace kvmix {

ForwardScratch::ForwardScratch(const ModelHParams& hp, int64_t max_tokens) : max_tokens_(max_tokens) {
    const auto B = static_cast<size_t>(max_tokens);
    x.resize(B * hp.n_embd);
    cur.resize(B * hp.n_embd);
    q.resize(B * hp.n_head * hp.head_dim);
    k.resize(B * hp.n_embd_k_gqa());
    v.resize(B * hp.n_embd_v_gqa());
    attn.resize(B * std::max<size_t>(size_t(hp.n_head) * hp.head_dim_v, hp.n_embd));
    gate.resize(B * hp.n_ff);
    up.resize(B * hp.n_ff);
    pos.resize(B);
}

namespace {

void observe(const TensorObserver* obs, const char* name, int layer, const float* data, int64_t rows, int64_t cols) {
    if (!obs || !*obs) return;
    const std::string full = layer < 0 ? std::string(name) : std::string(name) + "-" + std::to_string(layer);
    (*obs)(full, data, rows, cols);
}

}  // namespace

Status transformer_forward(const Model& model, CpuBackend& be, KvCache& cache, ForwardScratch& s,
                           std::span<const int32_t> tokens, int64_t n_logits, float* logits, const TensorObserver* obs) {
    const ModelHParams& hp = model.hparams();
    const auto n = static_cast<int64_t>(tokens.size());
    if (n == 0) return {};
    if (n > s.max_tokens()) return error(ErrorCode::internal, "forward chunk larger than the session's batch");
    if (cache.size() + n > cache.capacity())
        return error(ErrorCode::out_of_memory, "the context is full (" + std::to_string(cache.capacity()) + " tokens)");
    if (n_logits < 0 || n_logits > n) return error(ErrorCode::invalid_argument, "n_logits out of range");
    for (int32_t t : tokens)
        if (t < 0 || t >= static_cast<int32_t>(hp.n_vocab))
            return error(ErrorCode::invalid_argument, "token id " + std::to_string(t) + " is outside the vocabulary (" +
                                                          std::to_string(hp.n_vocab) + ")");

    const int64_t E = hp.n_embd, H = hp.n_head, HKV = hp.n_head_kv, D = hp.head_dim, DV = hp.head_dim_v, F = hp.n_ff;
    const int64_t n_past = cache.size();
    for (int64_t t = 0; t < n; ++t) {
        s.pos[t] = static_cast<int32_t>(n_past + t);
        model.embed(tokens[t], s.x.data() + t * E);
    }
    observe(obs, "inp_embd", -1, s.x.data(), n, E);
    const float attn_scale = hp.attention_scale > 0 ? hp.attention_scale : 1.0f / std::sqrt(static_cast<float>(D));
    const GluActivation act = hp.activation == Activation::silu ? GluActivation::silu : GluActivation::gelu_tanh;
    const float off = hp.norm_weight_offset;

    for (uint32_t il = 0; il < hp.n_layer; ++il) {
        const LayerWeights& L = model.layer(il);
        const int layer = static_cast<int>(il);
        // Attention block.
        be.rms_norm(s.x.data(), s.cur.data(), n, E, L.attn_norm.data(), off, hp.rms_eps);
        observe(obs, "attn_norm", layer, s.cur.data(), n, E);
        be.matmul(*L.wq, s.cur.data(), n, s.q.data());
        be.matmul(*L.wk, s.cur.data(), n, s.k.data());
        be.matmul(*L.wv, s.cur.data(), n, s.v.data());
        if (!L.q_norm.empty()) {
            be.rms_norm(s.q.data(), s.q.data(), n * H, D, L.q_norm.data(), off, hp.rms_eps);
            be.rms_norm(s.k.data(), s.k.data(), n * HKV, D, L.k_norm.data(), off, hp.rms_eps);
        }
        be.rope(s.q.data(), n, H, D, s.pos.data(), L.rope);
        be.rope(s.k.data(), n, HKV, D, s.pos.data(), L.rope);
        observe(obs, "q", layer, s.q.data(), n, H * D);
        observe(obs, "k_cache", layer, s.k.data(), n, HKV * D);
        observe(obs, "v_cache", layer, s.v.data(), n, HKV * DV);
        cache.write(il, 0, n, s.k.data(), s.v.data());
        AttentionQuery aq;
        aq.q = s.q.data();
        aq.out = s.attn.data();
        aq.n_q = n;
        aq.n_head = H;
        aq.q_pos = s.pos.data();
        aq.n_kv = n_past + n;
        aq.window = L.window;
        aq.scale = attn_scale;
        aq.softcap = hp.attn_logit_softcap;
        cache.attend(il, aq, be);
        observe(obs, "kqv_out", layer, s.attn.data(), n, H * DV);
        be.matmul(*L.wo, s.attn.data(), n, s.cur.data());
        if (!L.post_attn_norm.empty()) be.rms_norm(s.cur.data(), s.cur.data(), n, E, L.post_attn_norm.data(), off, hp.rms_eps);
        observe(obs, "attn_out", layer, s.cur.data(), n, E);
        for (int64_t i = 0; i < n * E; ++i) s.x[i] += s.cur[i];

        // Feed-forward block.
        be.rms_norm(s.x.data(), s.cur.data(), n, E, L.ffn_norm.data(), off, hp.rms_eps);
        observe(obs, "ffn_norm", layer, s.cur.data(), n, E);
        be.matmul(*L.gate, s.cur.data(), n, s.gate.data());
        be.matmul(*L.up, s.cur.data(), n, s.up.data());
        be.glu(s.gate.data(), s.up.data(), n, F, act);
        be.matmul(*L.down, s.gate.data(), n, s.cur.data());
        if (!L.post_ffw_norm.empty()) be.rms_norm(s.cur.data(), s.cur.data(), n, E, L.post_ffw_norm.data(), off, hp.rms_eps);
        observe(obs, "ffn_out", layer, s.cur.data(), n, E);
        for (int64_t i = 0; i < n * E; ++i) s.x[i] += s.cur[i];
        observe(obs, "l_out", layer, s.x.data(), n, E);
    }
    cache.commit(n);

    if (logits && n_logits > 0) {
        const float* last = s.x.data() + (n - n_logits) * E;
        be.rms_norm(last, s.cur.data(), n_logits, E, model.output_norm().data(), off, hp.rms_eps);
        observe(obs, "result_norm", -1, s.cur.data(), n_logits, E);
        be.matmul(model.output(), s.cur.data(), n_logits, logits);
        if (hp.final_logit_softcap > 0) {
            const float c = hp.final_logit_softcap;
            const int64_t total = n_logits * static_cast<int64_t>(hp.n_vocab);
            for (int64_t i = 0; i < total; ++i) logits[i] = c * std::tanh(logits[i] / c);
        }
        observe(obs, "result_output", -1, logits, n_logits, hp.n_vocab);
    }
    return {};
}

}  // namespace kvmix
