#include "profile/importance.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <limits>
#include <span>

#include "cpu/attention.h"
#include "cpu/kv-quantize.h"
#include "profile/kv-gradients.h"
#include "runtime/sampler.h"

namespace kvmix {

namespace {

using Clock = std::chrono::steady_clock;

double since(Clock::time_point t0) { return std::chrono::duration<double>(Clock::now() - t0).count(); }

// Decodes all self-generated sequences in lock-step, one token of every sequence per
// forward, so each weight is read once per step for the whole batch (decode of one sequence
// is memory-bound). Keys/values of every sequence are kept in fp16, [seq][kv head][slot][d].
class BatchGenerator {
public:
    BatchGenerator(const Model& m, CpuBackend& be, int64_t n_seq, int64_t len)
        : m_(m), hp_(m.hparams()), be_(be), N_(n_seq), T_(len) {
        const auto L = hp_.n_layer;
        kc_.resize(L);
        vc_.resize(L);
        for (uint32_t l = 0; l < L; ++l) {
            kc_[l].resize(sz(N_ * hp_.n_head_kv * T_ * hp_.head_dim));
            vc_[l].resize(sz(N_ * hp_.n_head_kv * T_ * hp_.head_dim_v));
        }
    }

    // Logits [N, n_vocab] after feeding tokens[n] at position pos to every sequence n.
    void step(const std::vector<int32_t>& tokens, int64_t pos, std::vector<float>& logits);

private:
    static size_t sz(int64_t n) { return static_cast<size_t>(n); }
    const Model& m_;
    const ModelHParams& hp_;
    CpuBackend& be_;
    int64_t N_, T_;
    std::vector<std::vector<uint16_t>> kc_, vc_;
    std::vector<float> x_, cur_, q_, k_, v_, o_, g_, u_;
};

void BatchGenerator::step(const std::vector<int32_t>& tokens, int64_t pos, std::vector<float>& logits) {
    const int64_t E = hp_.n_embd, H = hp_.n_head, HKV = hp_.n_head_kv, D = hp_.head_dim, DV = hp_.head_dim_v, F = hp_.n_ff;
    const int64_t N = N_;
    x_.resize(sz(N * E)), cur_.resize(sz(N * E)), q_.resize(sz(N * H * D)), k_.resize(sz(N * HKV * D));
    v_.resize(sz(N * HKV * DV)), o_.resize(sz(N * H * DV)), g_.resize(sz(N * F)), u_.resize(sz(N * F));
    const std::vector<int32_t> positions(sz(N), static_cast<int32_t>(pos));
    for (int64_t n = 0; n < N; ++n) m_.embed(tokens[sz(n)], x_.data() + n * E);
    const float off = hp_.norm_weight_offset, eps = hp_.rms_eps;
    const float scale = hp_.attention_scale > 0 ? hp_.attention_scale : 1.0f / std::sqrt(static_cast<float>(D));
    for (uint32_t il = 0; il < hp_.n_layer; ++il) {
        const LayerWeights& L = m_.layer(il);
        be_.rms_norm(x_.data(), cur_.data(), N, E, L.attn_norm.data(), off, eps);
        be_.matmul(*L.wq, cur_.data(), N, q_.data());
        be_.matmul(*L.wk, cur_.data(), N, k_.data());
        be_.matmul(*L.wv, cur_.data(), N, v_.data());
        add_bias(q_.data(), N, L.bq);
        add_bias(k_.data(), N, L.bk);
        add_bias(v_.data(), N, L.bv);
        if (!L.q_norm.empty()) {
            be_.rms_norm(q_.data(), q_.data(), N * H, D, L.q_norm.data(), off, eps);
            be_.rms_norm(k_.data(), k_.data(), N * HKV, D, L.k_norm.data(), off, eps);
        }
        be_.rope(q_.data(), N, H, D, positions.data(), L.rope);
        be_.rope(k_.data(), N, HKV, D, positions.data(), L.rope);
        for (int64_t n = 0; n < N; ++n)
            for (int64_t h = 0; h < HKV; ++h) {
                uint16_t* kd = kc_[il].data() + ((n * HKV + h) * T_ + pos) * D;
                uint16_t* vd = vc_[il].data() + ((n * HKV + h) * T_ + pos) * DV;
                fp32_to_fp16_row_cpu(k_.data() + (n * HKV + h) * D, kd, D);
                fp32_to_fp16_row_cpu(v_.data() + (n * HKV + h) * DV, vd, DV);
            }
        be_.pool().parallel_for(N, 1, [&](int64_t b, int64_t e) {
            for (int64_t n = b; n < e; ++n) {
                AttentionParams p;
                p.q = q_.data() + n * H * D;
                p.q_stride = sz(H * D);
                p.k = kc_[il].data() + n * HKV * T_ * D;
                p.k_head_stride = sz(T_ * D);
                p.v = vc_[il].data() + n * HKV * T_ * DV;
                p.v_head_stride = sz(T_ * DV);
                p.out = o_.data() + n * H * DV;
                p.out_stride = sz(H * DV);
                p.n_q = 1;
                p.n_head = H;
                p.n_head_kv = HKV;
                p.head_dim = D;
                p.head_dim_v = DV;
                p.n_kv = pos + 1;
                p.q_pos = positions.data();
                p.window = L.window;
                p.scale = scale;
                p.softcap = hp_.attn_logit_softcap;
                p.head_begin = 0;
                p.head_end = H;
                attention_cpu(p);
            }
        });
        be_.matmul(*L.wo, o_.data(), N, cur_.data());
        if (!L.post_attn_norm.empty()) be_.rms_norm(cur_.data(), cur_.data(), N, E, L.post_attn_norm.data(), off, eps);
        for (size_t i = 0; i < sz(N * E); ++i) x_[i] += cur_[i];
        be_.rms_norm(x_.data(), cur_.data(), N, E, L.ffn_norm.data(), off, eps);
        be_.matmul(*L.gate, cur_.data(), N, g_.data());
        be_.matmul(*L.up, cur_.data(), N, u_.data());
        be_.glu(g_.data(), u_.data(), N, F, hp_.activation == Activation::silu ? GluActivation::silu : GluActivation::gelu_tanh);
        be_.matmul(*L.down, g_.data(), N, cur_.data());
        if (!L.post_ffw_norm.empty()) be_.rms_norm(cur_.data(), cur_.data(), N, E, L.post_ffw_norm.data(), off, eps);
        for (size_t i = 0; i < sz(N * E); ++i) x_[i] += cur_[i];
    }
    be_.rms_norm(x_.data(), cur_.data(), N, E, m_.output_norm().data(), off, eps);
    logits.resize(sz(N) * hp_.n_vocab);
    be_.matmul(m_.output(), cur_.data(), N, logits.data());
    if (hp_.final_logit_softcap > 0) {
        const float c = hp_.final_logit_softcap;
        for (float& z : logits) z = c * std::tanh(z / c);
    }
}

}  // namespace

Expected<std::vector<std::vector<int32_t>>> self_generate(std::shared_ptr<const Model> model, const CalibrationConfig& config,
                                                         const ProgressCallback& progress, const std::atomic<bool>* cancel) {
    const ModelHParams& hp = model->hparams();
    if (config.n_generate <= 0) return std::vector<std::vector<int32_t>>{};
    if (config.start_prompts.empty()) return error(ErrorCode::invalid_argument, "self-generation needs a start prompt (BOS)");
    const int64_t T = config.generate_len;
    if (T < 2 || T > static_cast<int64_t>(hp.context_length))
        return error(ErrorCode::invalid_argument, "self-generated length must be in [2, " + std::to_string(hp.context_length) + "], got " +
                                                      std::to_string(T));
    for (const auto& p : config.start_prompts) {
        if (p.empty() || static_cast<int64_t>(p.size()) >= T)
            return error(ErrorCode::invalid_argument, "a self-generation start prompt must hold 1 to generate_len - 1 tokens");
        for (int32_t t : p)
            if (t < 0 || t >= static_cast<int32_t>(hp.n_vocab))
                return error(ErrorCode::invalid_argument, "start prompt token " + std::to_string(t) + " is outside the vocabulary");
    }
    // Temperature 1 over the full distribution: no top-k / top-p / min-p truncation.
    SamplerParams sp;
    sp.temperature = 1.0f;
    sp.top_k = 0;
    sp.top_p = 1.0f;
    sp.min_p = 0.0f;
    sp.repeat_penalty = 1.0f;
    sp.seed = config.seed;
    Sampler sampler(sp, static_cast<int32_t>(hp.n_vocab));
    const auto t0 = Clock::now();
    CpuBackend be(config.n_threads);
    std::vector<std::vector<int32_t>> out;
    std::vector<float> logits;
    const auto V = static_cast<size_t>(hp.n_vocab);
    // Batches bound the fp16 K/V memory: kBatch × T tokens of every layer.
    constexpr int64_t kBatch = 16;
    for (int64_t b0 = 0; b0 < config.n_generate; b0 += kBatch) {
        const int64_t nb = std::min(kBatch, config.n_generate - b0);
        BatchGenerator gen(*model, be, nb, T);
        std::vector<std::vector<int32_t>> seqs(static_cast<size_t>(nb));
        for (int64_t n = 0; n < nb; ++n) seqs[static_cast<size_t>(n)] = config.start_prompts[static_cast<size_t>(b0 + n) % config.start_prompts.size()];
        std::vector<int32_t> cur(static_cast<size_t>(nb));
        for (int64_t pos = 0; pos + 1 < T; ++pos) {
            if (cancel && cancel->load(std::memory_order_relaxed)) return error(ErrorCode::cancelled, "self-generation cancelled");
            if (progress && pos % 32 == 0)
                progress({"generate", b0 * T + nb * pos, config.n_generate * T, since(t0)});
            for (int64_t n = 0; n < nb; ++n) cur[static_cast<size_t>(n)] = seqs[static_cast<size_t>(n)][static_cast<size_t>(pos)];
            gen.step(cur, pos, logits);
            // Sequences still inside their prompt take the prompt's next token.
            for (int64_t n = 0; n < nb; ++n) {
                auto& s = seqs[static_cast<size_t>(n)];
                if (static_cast<int64_t>(s.size()) > pos + 1) continue;
                std::span<float> row(logits.data() + static_cast<size_t>(n) * V, V);
                for (int32_t bt : config.banned_tokens)
                    if (bt >= 0 && static_cast<size_t>(bt) < V) row[static_cast<size_t>(bt)] = -std::numeric_limits<float>::infinity();
                int32_t tok = 0;
                KVMIX_ASSIGN(tok, sampler.sample(row, {}));
                s.push_back(tok);
            }
        }
        for (auto& s : seqs) out.push_back(std::move(s));
    }
    if (progress) progress({"generate", config.n_generate * T, config.n_generate * T, since(t0)});
    return out;
}

Expected<ImportanceProfile> analyze_importance(std::shared_ptr<const Model> model, const CalibrationConfig& config,
                                               const ProgressCallback& progress, const std::atomic<bool>* cancel) {
    const auto t0 = Clock::now();
    const ModelHParams& hp = model->hparams();
    if (config.max_len < 2) return error(ErrorCode::invalid_argument, "calibration max_len must be >= 2");
    std::vector<std::vector<int32_t>> seqs;
    for (const auto& s : config.sequences)
        for (size_t b = 0; b < s.size(); b += static_cast<size_t>(config.max_len)) {
            const size_t e = std::min(s.size(), b + static_cast<size_t>(config.max_len));
            if (static_cast<int64_t>(e - b) >= std::max<int64_t>(config.min_len, 2)) seqs.emplace_back(s.begin() + static_cast<long>(b), s.begin() + static_cast<long>(e));
        }
    std::vector<std::string> sources = config.sources;
    if (config.n_generate > 0) {
        auto gen = self_generate(model, config, progress, cancel);
        if (!gen) return gen.status();
        for (auto& s : *gen) seqs.push_back(std::move(s));
        sources.push_back("self-generated");
    }
    if (seqs.empty()) return error(ErrorCode::invalid_argument, "no calibration data: give text, conversations or self-generated sequences");

    ImportanceProfile p;
    p.model = model_identity(model->file());
    p.k_scores.assign(hp.n_layer, 0.0);
    p.v_scores.assign(hp.n_layer, 0.0);
    CpuBackend be(config.n_threads);
    double loss = 0;
    int64_t n_tokens = 0, longest = 0;
    for (size_t i = 0; i < seqs.size(); ++i) {
        if (progress) progress({"analyze", static_cast<int64_t>(i), static_cast<int64_t>(seqs.size()), since(t0)});
        KvGradientNorms g;
        KVMIX_ASSIGN(g, kv_gradient_norms(*model, be, seqs[i], cancel));
        for (uint32_t l = 0; l < hp.n_layer; ++l) {
            p.k_scores[l] += g.k[l];
            p.v_scores[l] += g.v[l];
        }
        loss += g.loss;
        n_tokens += static_cast<int64_t>(seqs[i].size());
        longest = std::max<int64_t>(longest, static_cast<int64_t>(seqs[i].size()));
    }
    const auto n = static_cast<double>(seqs.size());
    for (uint32_t l = 0; l < hp.n_layer; ++l) {
        p.k_scores[l] /= n;
        p.v_scores[l] /= n;
    }
    CalibrationInfo& c = p.calibration;
    c.sources = sources;
    c.files = config.files;
    c.n_sequences = static_cast<int64_t>(seqs.size());
    c.n_tokens = n_tokens;
    c.seq_len = longest;
    c.seed = config.seed;
    c.mean_loss = loss / n;
    c.seconds = since(t0);
    if (progress) progress({"analyze", static_cast<int64_t>(seqs.size()), static_cast<int64_t>(seqs.size()), c.seconds});
    return p;
}

}  // namespace kvmix
