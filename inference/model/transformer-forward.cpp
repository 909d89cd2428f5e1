#include "model/transformer-forward.h"

#include <algorithm>
#include <cmath>
#include <set>
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

Status batch_forward(const Model& model, CpuBackend& be, std::span<const BatchSequence> seqs, ForwardScratch& s,
                     const TensorObserver* obs) {
    const ModelHParams& hp = model.hparams();
    int64_t n = 0, n_logit_rows = 0;
    std::set<const KvCache*> seen;
    for (const BatchSequence& sq : seqs) {
        if (!sq.cache) return error(ErrorCode::invalid_argument, "a batch sequence has no cache");
        if (!seen.insert(sq.cache).second) return error(ErrorCode::invalid_argument, "a cache appears twice in one batch");
        const auto len = static_cast<int64_t>(sq.tokens.size());
        if (sq.cache->size() + len > sq.cache->capacity())
            return error(ErrorCode::out_of_memory, "the context is full (" + std::to_string(sq.cache->capacity()) + " tokens)");
        if (sq.n_logits < 0 || sq.n_logits > len) return error(ErrorCode::invalid_argument, "n_logits out of range");
        for (int32_t t : sq.tokens)
            if (t < 0 || t >= static_cast<int32_t>(hp.n_vocab))
                return error(ErrorCode::invalid_argument, "token id " + std::to_string(t) + " is outside the vocabulary (" +
                                                              std::to_string(hp.n_vocab) + ")");
        n += len;
        if (sq.logits) n_logit_rows += sq.n_logits;
    }
    if (n == 0) return {};
    if (n > s.max_tokens()) return error(ErrorCode::internal, "forward pass larger than its scratch (" + std::to_string(s.max_tokens()) + " tokens)");

    const int64_t E = hp.n_embd, H = hp.n_head, HKV = hp.n_head_kv, D = hp.head_dim, DV = hp.head_dim_v;
    std::vector<int64_t> row0(seqs.size());
    int64_t r = 0;
    for (size_t i = 0; i < seqs.size(); ++i) {
        row0[i] = r;
        for (size_t t = 0; t < seqs[i].tokens.size(); ++t, ++r) {
            s.pos[static_cast<size_t>(r)] = static_cast<int32_t>(seqs[i].cache->size() + static_cast<int64_t>(t));
            model.embed(seqs[i].tokens[t], s.x.data() + r * E);
        }
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
        be.matmuls(s.cur.data(), n, {{L.wq, s.q.data()}, {L.wk, s.k.data()}, {L.wv, s.v.data()}});
        add_bias(s.q.data(), n, L.bq);
        add_bias(s.k.data(), n, L.bk);
        add_bias(s.v.data(), n, L.bv);
        if (!L.q_norm.empty()) {
            be.rms_norm(s.q.data(), s.q.data(), n * H, D, L.q_norm.data(), off, hp.rms_eps);
            be.rms_norm(s.k.data(), s.k.data(), n * HKV, D, L.k_norm.data(), off, hp.rms_eps);
        }
        be.rope(s.q.data(), n, H, D, s.pos.data(), L.rope);
        be.rope(s.k.data(), n, HKV, D, s.pos.data(), L.rope);
        observe(obs, "q", layer, s.q.data(), n, H * D);
        observe(obs, "k_cache", layer, s.k.data(), n, HKV * D);
        observe(obs, "v_cache", layer, s.v.data(), n, HKV * DV);
        // Attention per sequence, each over its own cache.
        for (size_t i = 0; i < seqs.size(); ++i) {
            const auto len = static_cast<int64_t>(seqs[i].tokens.size());
            if (len == 0) continue;
            KvCache& cache = *seqs[i].cache;
            cache.write(il, 0, len, s.k.data() + row0[i] * HKV * D, s.v.data() + row0[i] * HKV * DV);
            AttentionQuery aq;
            aq.q = s.q.data() + row0[i] * H * D;
            aq.out = s.attn.data() + row0[i] * H * DV;
            aq.n_q = len;
            aq.n_head = H;
            aq.q_pos = s.pos.data() + row0[i];
            aq.n_kv = cache.size() + len;
            aq.window = L.window;
            aq.scale = attn_scale;
            aq.softcap = hp.attn_logit_softcap;
            cache.attend(il, aq, be);
        }
        observe(obs, "kqv_out", layer, s.attn.data(), n, H * DV);
        be.matmul(*L.wo, s.attn.data(), n, s.cur.data());
        if (!L.post_attn_norm.empty()) be.rms_norm(s.cur.data(), s.cur.data(), n, E, L.post_attn_norm.data(), off, hp.rms_eps);
        observe(obs, "attn_out", layer, s.cur.data(), n, E);
        for (int64_t i = 0; i < n * E; ++i) s.x[static_cast<size_t>(i)] += s.cur[static_cast<size_t>(i)];

        // Feed-forward block.
        be.rms_norm(s.x.data(), s.cur.data(), n, E, L.ffn_norm.data(), off, hp.rms_eps);
        observe(obs, "ffn_norm", layer, s.cur.data(), n, E);
        be.matmul_glu(*L.gate, *L.up, s.cur.data(), n, s.gate.data(), s.up.data(), act);
        be.matmul(*L.down, s.gate.data(), n, s.cur.data());
        if (!L.post_ffw_norm.empty()) be.rms_norm(s.cur.data(), s.cur.data(), n, E, L.post_ffw_norm.data(), off, hp.rms_eps);
        observe(obs, "ffn_out", layer, s.cur.data(), n, E);
        for (int64_t i = 0; i < n * E; ++i) s.x[static_cast<size_t>(i)] += s.cur[static_cast<size_t>(i)];
        observe(obs, "l_out", layer, s.x.data(), n, E);
    }
    for (const BatchSequence& sq : seqs) sq.cache->commit(static_cast<int64_t>(sq.tokens.size()));

    if (n_logit_rows == 0) return {};
    // Final norm of each sequence's last n_logits rows, compacted; one output matmul.
    int64_t lr = 0;
    for (size_t i = 0; i < seqs.size(); ++i) {
        const BatchSequence& sq = seqs[i];
        if (!sq.logits || sq.n_logits == 0) continue;
        const int64_t first = row0[i] + static_cast<int64_t>(sq.tokens.size()) - sq.n_logits;
        be.rms_norm(s.x.data() + first * E, s.cur.data() + lr * E, sq.n_logits, E, model.output_norm().data(), off, hp.rms_eps);
        lr += sq.n_logits;
    }
    const int64_t V = hp.n_vocab;
    // A single sequence with logits (the usual case) gets them written in place; several
    // go through the scratch and are scattered afterwards.
    const BatchSequence* single = nullptr;
    int n_with_logits = 0;
    for (const BatchSequence& sq : seqs)
        if (sq.logits && sq.n_logits > 0) {
            single = &sq;
            ++n_with_logits;
        }
    float* out = single->logits;
    if (n_with_logits > 1) {
        s.out.resize(static_cast<size_t>(n_logit_rows * V));
        out = s.out.data();
    }
    observe(obs, "result_norm", -1, s.cur.data(), n_logit_rows, E);
    be.matmul(model.output(), s.cur.data(), n_logit_rows, out);
    if (hp.final_logit_softcap > 0) {
        const float c = hp.final_logit_softcap;
        const int64_t total = n_logit_rows * V;
        for (int64_t i = 0; i < total; ++i) out[i] = c * std::tanh(out[i] / c);
    }
    observe(obs, "result_output", -1, out, n_logit_rows, V);
    if (n_with_logits > 1) {
        lr = 0;
        for (const BatchSequence& sq : seqs) {
            if (!sq.logits || sq.n_logits == 0) continue;
            std::copy(s.out.begin() + lr * V, s.out.begin() + (lr + sq.n_logits) * V, sq.logits);
            lr += sq.n_logits;
        }
    }
    return {};
}

Status transformer_forward(const Model& model, CpuBackend& be, KvCache& cache, ForwardScratch& s,
                           std::span<const int32_t> tokens, int64_t n_logits, float* logits, const TensorObserver* obs) {
    const BatchSequence seq{&cache, tokens, n_logits, logits};
    return batch_forward(model, be, std::span<const BatchSequence>(&seq, 1), s, obs);
}

}  // namespace kvmix
