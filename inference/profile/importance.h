// Importance analysis over calibration data (../shared/KVMIX.md §1, decisions 1-2): runs
// the gradient pass (kv-gradients.h) on every calibration sequence and averages the
// per-layer scores. Nothing is downloaded: the sequences are the caller's (tokenized text
// files, past conversations) and/or sampled from the model itself at temperature 1,
// starting from BOS or BOS + a short neutral prompt, N sequences × T tokens, seeded.
// Runs on the caller's thread; progress and cancellation for a GUI progress bar.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "kvmix/status.h"
#include "model/model.h"
#include "profile/importance-profile.h"

namespace kvmix {

struct CalibrationConfig {
    // Caller-supplied token sequences; each is cut into windows of at most max_len tokens
    // (windows shorter than min_len are dropped). `sources`/`files` describe them.
    std::vector<std::vector<int32_t>> sequences;
    std::vector<std::string> sources;  // e.g. {"text"} or {"conversations"}
    std::vector<std::string> files;
    int64_t max_len = 512;
    int64_t min_len = 16;

    // Self-generated sequences: n_generate × generate_len tokens, each starting with
    // `start_prompts[i % size]` (token ids; must begin with BOS if the model wants it).
    int64_t n_generate = 0;
    int64_t generate_len = 512;
    std::vector<std::vector<int32_t>> start_prompts;
    std::vector<int32_t> banned_tokens;  // never sampled (EOS / end-of-turn)
    uint64_t seed = 0;

    int n_threads = 0;  // 0: all hardware threads
};

struct CalibrationProgress {
    const char* stage = "";  // "generate" (counts tokens) or "analyze" (counts sequences)
    int64_t done = 0, total = 0;
    double seconds = 0;           // since the start
};
using ProgressCallback = std::function<void(const CalibrationProgress&)>;

// Self-generated calibration sequences (exposed for tests): deterministic for a seed. Up to
// 16 sequences are decoded in lock-step (one batched forward per position, fp16 K/V).
Expected<std::vector<std::vector<int32_t>>> self_generate(std::shared_ptr<const Model> model, const CalibrationConfig& config,
                                                         const ProgressCallback& progress = {},
                                                         const std::atomic<bool>* cancel = nullptr);

// The profile: identity, calibration description, averaged scores. Errors when there is no
// calibration data, on invalid tokens, or ErrorCode::cancelled when `cancel` is set.
Expected<ImportanceProfile> analyze_importance(std::shared_ptr<const Model> model, const CalibrationConfig& config,
                                               const ProgressCallback& progress = {}, const std::atomic<bool>* cancel = nullptr);

}  // namespace kvmix
