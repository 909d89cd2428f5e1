// Session: one conversation's state on a shared Model — the token history, the KV cache,
// the activation scratch and the thread pool. One per chat; not thread-safe (drive it from
// one thread, e.g. the app's inference worker). The Model must outlive no one: the session
// holds a shared_ptr to it. A GPU session holds the device cache, a device execution context
// and a reference to the model's shared device weights — no CPU cache, scratch or threads.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "backend/cpu-backend.h"
#include "backend/device-weights.h"
#include "backend/device.h"
#include "kvmix/status.h"
#include "model/model.h"
#include "model/transformer-forward.h"
#include "runtime/kv-cache.h"
#include "runtime/kv-profile.h"

namespace kvmix {

struct SessionConfig {
    int64_t n_ctx = 4096;     // context capacity in tokens (clamped to the model's training context)
    int64_t n_batch = 256;    // prefill chunk: tokens per forward pass
    int n_threads = 0;        // 0: all hardware threads
    KvCacheType kv_cache = KvCacheType::f16;  // f32: unrounded K/V (reference validation)
    // KVmix: per-layer quantized cache. Empty layers or an all-16-bit profile: the dense cache above.
    KvProfile kv_profile;
    // cuda: run on a GPU (backend/device.h). create() fails with the reason when the build
    // has no CUDA backend or no device is usable; the caller shows it and falls back to cpu.
    DeviceKind device = DeviceKind::cpu;
    int gpu_index = 0;
    // cuda: the model's device weights, shared by every session given the same object (one
    // upload per model and device). Must hold the session's model. The session keeps the
    // copy it uses, not this object (its config().gpu_weights is null). Null: the session
    // uploads a copy of its own (fine for a tool that runs one session).
    std::shared_ptr<DeviceWeights> gpu_weights;
};

class Session {
public:
    static Expected<std::unique_ptr<Session>> create(std::shared_ptr<const Model> model, const SessionConfig& config);

    const Model& model() const { return *model_; }
    const SessionConfig& config() const { return config_; }
    int64_t n_ctx() const { return gpu_seq_ ? gpu_seq_->capacity() : cpu_->cache->capacity(); }
    int64_t n_past() const { return static_cast<int64_t>(tokens_.size()); }
    const std::vector<int32_t>& tokens() const { return tokens_; }
    // CPU sessions only (a GPU session has no CPU backend or cache: calling these is a bug).
    CpuBackend& backend();
    KvCache& cache();
    KvMemoryReport kv_memory() const { return gpu_seq_ ? gpu_seq_->memory() : cpu_->cache->memory(); }
    bool on_gpu() const { return gpu_seq_ != nullptr; }
    // The device weights a GPU session reads (shared with the other sessions given the same
    // SessionConfig::gpu_weights); null for a CPU session.
    const GpuWeights* gpu_weights() const { return gpu_model_ ? &gpu_model_->weights() : nullptr; }

    // Appends `tokens` to the context in chunks of n_batch. With `last_logits` the logits of
    // the final token are returned ([n_vocab]); with `all_logits` those of every token
    // ([n, n_vocab]). `cancel` is checked between chunks: a cancelled call returns
    // ErrorCode::cancelled with the chunks already evaluated kept (tokens() says how far).
    // Errors if the tokens do not fit the remaining context.
    Status eval(std::span<const int32_t> tokens, std::vector<float>* last_logits = nullptr,
                std::vector<float>* all_logits = nullptr, const std::atomic<bool>* cancel = nullptr);

    // Forgets every token at position >= n (a quantized cache may keep fewer: n_past() says).
    void truncate(int64_t n);
    // Removes positions [begin, end) and moves later tokens back (re-rotating their keys):
    // the rolling-window context policy (a KVmix cache re-quantizes the moved tokens). A GPU
    // session recomputes the moved tokens instead (a prefill of n_past() - end tokens).
    Status erase(int64_t begin, int64_t end);

    // Saves the token history and the KV cache (or the tokens only); load() restores them
    // into a session of the same model (checked) and a context at least as large — from
    // tokens only, or into a GPU session, by evaluating the tokens again. GPU sessions save
    // tokens only. On error the session is empty.
    enum class SnapshotContent { tokens_and_cache, tokens_only };
    Status save(const std::string& path, SnapshotContent content = SnapshotContent::tokens_and_cache) const;
    Status load(const std::string& path);

    void set_observer(TensorObserver observer) { observer_ = std::move(observer); }

private:
    // What only a CPU session allocates.
    struct CpuState {
        CpuState(const ModelHParams& hp, const SessionConfig& config, std::unique_ptr<KvCache> kv)
            : backend(config.n_threads), cache(std::move(kv)), scratch(hp, config.n_batch) {}
        CpuBackend backend;
        std::unique_ptr<KvCache> cache;
        ForwardScratch scratch;
    };

    Session(std::shared_ptr<const Model> model, const SessionConfig& config) : model_(std::move(model)), config_(config) {}

    std::shared_ptr<const Model> model_;
    SessionConfig config_;
    std::vector<int32_t> tokens_;
    TensorObserver observer_;
    std::unique_ptr<CpuState> cpu_;  // CPU sessions
    // GPU sessions: an execution context over the shared weights, and this session's device
    // cache (declared after the context, so it is released first).
    std::unique_ptr<GpuModel> gpu_model_;
    std::unique_ptr<GpuSequence> gpu_seq_;
};

}  // namespace kvmix
