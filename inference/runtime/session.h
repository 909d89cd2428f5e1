// Session: one conversation's state on a shared Model — the token history, the KV cache,
// the activation scratch and the thread pool. One per chat; not thread-safe (drive it from
// one thread, e.g. the app's inference worker). The Model must outlive no one: the session
// holds a shared_ptr to it.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "backend/cpu-backend.h"
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
};

class Session {
public:
    static Expected<std::unique_ptr<Session>> create(std::shared_ptr<const Model> model, const SessionConfig& config);

    const Model& model() const { return *model_; }
    const SessionConfig& config() const { return config_; }
    int64_t n_ctx() const { return cache_->capacity(); }
    int64_t n_past() const { return static_cast<int64_t>(tokens_.size()); }
    const std::vector<int32_t>& tokens() const { return tokens_; }
    CpuBackend& backend() { return backend_; }
    KvCache& cache() { return *cache_; }
    KvMemoryReport kv_memory() const { return gpu_seq_ ? gpu_seq_->memory() : cache_->memory(); }
    bool on_gpu() const { return gpu_seq_ != nullptr; }

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
    // the rolling-window context policy (a KVmix cache re-quantizes the moved tokens).
    Status erase(int64_t begin, int64_t end);

    // Saves the token history and the KV cache; load() restores them into a session of the
    // same model (checked) and a context at least as large. On error the session is empty.
    Status save(const std::string& path) const;
    Status load(const std::string& path);

    void set_observer(TensorObserver observer) { observer_ = std::move(observer); }

private:
    Session(std::shared_ptr<const Model> model, const SessionConfig& config, std::unique_ptr<KvCache> cache);

    std::shared_ptr<const Model> model_;
    SessionConfig config_;
    CpuBackend backend_;
    std::unique_ptr<KvCache> cache_;
    ForwardScratch scratch_;
    std::vector<int32_t> tokens_;
    TensorObserver observer_;
    // GPU sessions: the uploaded weights and this session's device cache (the CPU cache
    // above stays empty).
    std::shared_ptr<GpuModel> gpu_model_;
    std::unique_ptr<GpuSequence> gpu_seq_;
};

}  // namespace kvmix
