// Device self-check: the same short prompt through a reference session (the CPU) and a
// candidate session (a GPU), every position's logits compared. The app runs a GPU only when
// the check passes at model load, and `kvmix doctor` runs it on demand: a GPU whose kernels,
// driver or toolchain produce wrong numbers must never answer a user.
// Thread-safety: the functions drive the given sessions; call them from one thread.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "kvmix/status.h"
#include "runtime/session.h"

namespace kvmix {

// Both sessions keep an fp16 cache, so what differs is the order of floating-point sums
// (and TF32/fp16 matmul inputs on a GPU): a few hundredths of a logit on real models. A
// wrong kernel (a dropped group, a swapped scale, stale memory) moves logits by whole units.
struct DeviceCheckLimits {
    double max_abs_diff = 0.25;  // largest |reference - candidate| over every logit
    double top1_margin = 0.5;    // positions whose reference top-2 gap is at least this must agree on top-1
};

struct DeviceCheckReport {
    bool passed = false;
    int64_t positions = 0;      // logit rows compared
    int64_t decisive = 0;       // rows whose reference top-2 gap >= top1_margin
    int64_t top1_agree = 0;     // decisive rows where the argmax matches
    double max_abs_diff = 0;    // over every logit (infinity when the candidate is not finite)
    int64_t worst_position = -1;
    std::string summary;        // one line: what was compared and, when it failed, why
};

// Compares [n_rows, n_vocab] logits row by row. Sizes must match (else a failed report).
DeviceCheckReport compare_logits(std::span<const float> reference, std::span<const float> candidate, int64_t n_vocab,
                                 const DeviceCheckLimits& limits = {});

// Feeds `prompt` to both (empty) sessions of one model as a prefill with every position's
// logits, then `decode_steps` single tokens (the reference's greedy choices), and compares
// all rows. Both sessions need room for prompt + decode_steps tokens. `tamper` (tests)
// edits the candidate's logits of each step before the comparison. Errors (not a failed
// report) when a session cannot evaluate.
Expected<DeviceCheckReport> run_device_check(Session& reference, Session& candidate, std::span<const int32_t> prompt,
                                             int decode_steps = 4, const DeviceCheckLimits& limits = {},
                                             const std::function<void(std::vector<float>&)>& tamper = {});

// The load-time check: `prompt` on a CPU session and a GPU session of `model`, both made
// from `config` (its cache choice, gpu_index and gpu_weights; n_ctx is set to fit the
// prompt and the decode steps, device to cpu and cuda). An error when the GPU cannot run it.
Expected<DeviceCheckReport> check_gpu_against_cpu(const std::shared_ptr<const Model>& model, std::span<const int32_t> prompt,
                                                  SessionConfig config);

// The English text whose tokens the app and `kvmix doctor` check with (about 60 tokens:
// more than 32, so a GPU's batched prefill path runs, not only its decode path).
const char* device_check_text();

}  // namespace kvmix
