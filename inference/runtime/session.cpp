#include "runtime/session.h"

#include "common/assert.h"
#include "runtime/kvmix-kv-cache.h"

#include <algorithm>
#include <cstring>
#include <fstream>

namespace kvmix {

namespace {

constexpr char kSessionMagic[8] = {'K', 'V', 'M', 'X', 'S', 'E', 'S', 1};
// Tokens only, no cache: loading recomputes the cache (a GPU session's snapshots, or a small one by choice).
constexpr char kTokensMagic[8] = {'K', 'V', 'M', 'X', 'S', 'E', 'S', 'T'};

// Identifies the model a snapshot belongs to (architecture and shapes).
std::string model_identity(const Model& m) {
    const ModelHParams& hp = m.hparams();
    return hp.architecture + ":" + std::to_string(hp.n_layer) + ":" + std::to_string(hp.n_embd) + ":" +
           std::to_string(hp.n_head_kv) + ":" + std::to_string(hp.head_dim) + ":" + std::to_string(hp.n_vocab) + ":" +
           std::to_string(m.file().weight_bytes());
}

}  // namespace

Expected<std::unique_ptr<Session>> Session::create(std::shared_ptr<const Model> model, const SessionConfig& config_in) {
    if (!model) return error(ErrorCode::invalid_argument, "no model");
    SessionConfig config = config_in;
    if (config.n_ctx <= 0) return error(ErrorCode::invalid_argument, "context length must be positive");
    if (config.n_batch <= 0) return error(ErrorCode::invalid_argument, "batch size must be positive");
    config.n_ctx = std::min<int64_t>(config.n_ctx, model->hparams().context_length);
    config.n_batch = std::min(config.n_batch, config.n_ctx);
    if (config.device == DeviceKind::cuda) {
        std::shared_ptr<DeviceWeights> shared = config.gpu_weights;
        if (shared && shared->model() != model)
            return error(ErrorCode::invalid_argument, "SessionConfig::gpu_weights holds the weights of another model");
        if (!shared) shared = std::make_shared<DeviceWeights>(model);
        auto weights = shared->get(config.gpu_index);
        if (!weights) return error(weights.status().code(), "cannot run on the CUDA device: " + weights.status().message());
        auto gm = (*weights)->new_model(config.n_batch);
        if (!gm) return error(gm.status().code(), "cannot run on the CUDA device: " + gm.status().message());
        auto seq = (*gm)->new_sequence(GpuSequenceConfig{config.n_ctx, config.kv_profile});
        if (!seq) return error(seq.status().code(), "cannot run on the CUDA device: " + seq.status().message());
        // The session keeps its copy through its context, not the holder: the holder's owner
        // decides how long the copies outlive the sessions.
        config.gpu_weights.reset();
        auto session = std::unique_ptr<Session>(new Session(std::move(model), config));
        session->gpu_model_ = std::move(*gm);
        session->gpu_seq_ = std::move(*seq);
        return session;
    }
    const bool kvmix = !config.kv_profile.layers.empty() && !config.kv_profile.is_fp16();
    auto cache = kvmix ? make_kvmix_kv_cache(model->kv_shapes(), config.kv_profile, config.n_ctx, config.n_batch)
                       : make_kv_cache(config.kv_cache, model->kv_shapes(), config.n_ctx);
    if (!cache) return cache.status();
    auto session = std::unique_ptr<Session>(new Session(model, config));
    session->cpu_ = std::make_unique<CpuState>(model->hparams(), config, std::move(*cache));
    return session;
}

CpuBackend& Session::backend() {
    KVMIX_ASSERT(cpu_ != nullptr);
    return cpu_->backend;
}

KvCache& Session::cache() {
    KVMIX_ASSERT(cpu_ != nullptr);
    return *cpu_->cache;
}

Status Session::eval(std::span<const int32_t> tokens, std::vector<float>* last_logits, std::vector<float>* all_logits,
                     const std::atomic<bool>* cancel) {
    const auto n = static_cast<int64_t>(tokens.size());
    if (n == 0) return {};
    if (n_past() + n > n_ctx())
        return error(ErrorCode::out_of_memory, std::to_string(n) + " tokens do not fit: " + std::to_string(n_past()) + " of " +
                                                   std::to_string(n_ctx()) + " context tokens are used");
    const int64_t n_vocab = model_->hparams().n_vocab;
    if (all_logits) all_logits->resize(static_cast<size_t>(n * n_vocab));
    if (last_logits) last_logits->resize(static_cast<size_t>(n_vocab));
    const TensorObserver* obs = observer_ ? &observer_ : nullptr;
    for (int64_t begin = 0; begin < n; begin += config_.n_batch) {
        if (cancel && cancel->load(std::memory_order_relaxed)) return error(ErrorCode::cancelled, "cancelled");
        const int64_t len = std::min(config_.n_batch, n - begin);
        const bool is_last = begin + len == n;
        float* out = nullptr;
        int64_t n_logits = 0;
        if (all_logits) {
            out = all_logits->data() + begin * n_vocab;
            n_logits = len;
        } else if (last_logits && is_last) {
            out = last_logits->data();
            n_logits = 1;
        }
        if (gpu_seq_) {
            const GpuBatchItem item{gpu_seq_.get(), tokens.subspan(begin, len), n_logits, out};
            KVMIX_TRY(gpu_model_->forward(std::span<const GpuBatchItem>(&item, 1)));
        } else {
            KVMIX_TRY(transformer_forward(*model_, cpu_->backend, *cpu_->cache, cpu_->scratch, tokens.subspan(begin, len), n_logits,
                                          out, obs));
        }
        tokens_.insert(tokens_.end(), tokens.begin() + begin, tokens.begin() + begin + len);
    }
    if (all_logits && last_logits)
        std::memcpy(last_logits->data(), all_logits->data() + (n - 1) * n_vocab, sizeof(float) * n_vocab);
    return {};
}

void Session::truncate(int64_t n) {
    n = std::clamp<int64_t>(n, 0, n_past());
    if (gpu_seq_) {
        gpu_seq_->truncate(n);
        tokens_.resize(static_cast<size_t>(gpu_seq_->size()));
        return;
    }
    cpu_->cache->truncate(n);
    tokens_.resize(static_cast<size_t>(cpu_->cache->size()));
}

Status Session::erase(int64_t begin, int64_t end) {
    begin = std::clamp<int64_t>(begin, 0, n_past());
    end = std::clamp<int64_t>(end, begin, n_past());
    if (begin == end) return {};
    if (gpu_seq_) {
        // The device cache has no in-place shift: cut back to `begin` and recompute the tokens
        // after `end` at their new positions (their K/V then never saw the erased tokens).
        std::vector<int32_t> kept(tokens_.begin(), tokens_.begin() + begin);
        kept.insert(kept.end(), tokens_.begin() + end, tokens_.end());
        truncate(begin);
        const Status st = eval(std::span<const int32_t>(kept).subspan(static_cast<size_t>(n_past())));
        if (!st.ok()) truncate(0);
        return st;
    }
    if (!cpu_->cache->supports_erase())
        return error(ErrorCode::unsupported, "this KV cache cannot drop tokens from the middle; truncate instead");
    const ModelHParams& hp = model_->hparams();
    std::vector<int32_t> pos;
    cpu_->cache->erase(begin, end, [&](uint32_t layer, float* k, int64_t n, int32_t delta) {
        pos.assign(static_cast<size_t>(n), delta);
        cpu_->backend.rope(k, n, 1, hp.head_dim, pos.data(), model_->layer(layer).rope);
    });
    tokens_.erase(tokens_.begin() + begin, tokens_.begin() + end);
    return {};
}

Status Session::save(const std::string& path, SnapshotContent content) const {
    // The device cache is not read back: a GPU snapshot holds the tokens, and load() recomputes.
    const bool with_cache = content == SnapshotContent::tokens_and_cache && !gpu_seq_;
    const std::string tmp = path + ".tmp";
    {
        std::ofstream out(tmp, std::ios::binary | std::ios::trunc);
        if (!out) return error(ErrorCode::io, "cannot write '" + tmp + "'");
        out.write(with_cache ? kSessionMagic : kTokensMagic, sizeof kSessionMagic);
        const std::string id = model_identity(*model_);
        const uint64_t id_len = id.size(), n_tokens = tokens_.size();
        out.write(reinterpret_cast<const char*>(&id_len), sizeof id_len);
        out.write(id.data(), static_cast<std::streamsize>(id.size()));
        out.write(reinterpret_cast<const char*>(&n_tokens), sizeof n_tokens);
        out.write(reinterpret_cast<const char*>(tokens_.data()), static_cast<std::streamsize>(n_tokens * sizeof(int32_t)));
        if (with_cache) KVMIX_TRY(cpu_->cache->save(out));
        out.flush();
        if (!out) return error(ErrorCode::io, "writing '" + tmp + "' failed (disk full?)");
    }
    // Replace atomically so a crash never leaves a half-written snapshot under `path`.
    if (std::rename(tmp.c_str(), path.c_str()) != 0) {
        std::remove(tmp.c_str());
        return error(ErrorCode::io, "cannot rename '" + tmp + "' to '" + path + "'");
    }
    return {};
}

Status Session::load(const std::string& path) {
    truncate(0);
    std::ifstream in(path, std::ios::binary);
    if (!in) return error(ErrorCode::io, "cannot open '" + path + "'");
    char magic[sizeof kSessionMagic];
    in.read(magic, sizeof magic);
    const bool tokens_only = in && std::memcmp(magic, kTokensMagic, sizeof magic) == 0;
    if (!in || (!tokens_only && std::memcmp(magic, kSessionMagic, sizeof magic) != 0))
        return format_error("'" + path + "' is not a session snapshot");
    uint64_t id_len = 0;
    in.read(reinterpret_cast<char*>(&id_len), sizeof id_len);
    if (!in || id_len > 4096) return format_error("'" + path + "': corrupt snapshot header");
    std::string id(id_len, '\0');
    in.read(id.data(), static_cast<std::streamsize>(id_len));
    if (!in || id != model_identity(*model_)) return format_error("'" + path + "' was saved with a different model");
    uint64_t n_tokens = 0;
    in.read(reinterpret_cast<char*>(&n_tokens), sizeof n_tokens);
    if (!in || n_tokens > static_cast<uint64_t>(n_ctx()))
        return format_error("'" + path + "': snapshot holds " + std::to_string(n_tokens) + " tokens, more than the context of " +
                            std::to_string(n_ctx()));
    std::vector<int32_t> tokens(n_tokens);
    in.read(reinterpret_cast<char*>(tokens.data()), static_cast<std::streamsize>(n_tokens * sizeof(int32_t)));
    if (!in) return format_error("'" + path + "': snapshot truncated");
    for (int32_t t : tokens)
        if (t < 0 || t >= static_cast<int32_t>(model_->hparams().n_vocab)) return format_error("'" + path + "': invalid token id in snapshot");
    if (tokens_only || gpu_seq_) {
        // Recompute the cache from the tokens (a GPU session never reads a CPU cache's bytes).
        Status st = eval(tokens);
        if (!st.ok()) {
            truncate(0);
            return st.with_context("'" + path + "'");
        }
        return {};
    }
    Status st = cpu_->cache->load(in);
    if (!st.ok()) return st.with_context("'" + path + "'");
    if (cpu_->cache->size() != static_cast<int64_t>(n_tokens)) {
        cpu_->cache->truncate(0);
        return format_error("'" + path + "': token count and cache size disagree");
    }
    tokens_ = std::move(tokens);
    return {};
}

}  // namespace kvmix
