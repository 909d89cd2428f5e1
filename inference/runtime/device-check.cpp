#include "runtime/device-check.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <limits>

namespace kvmix {

namespace {

struct RowTop {
    int64_t arg = 0;
    double margin = 0;  // top-1 minus top-2
};

RowTop top_of(const float* row, int64_t n) {
    int64_t arg = 0;
    double best = -std::numeric_limits<double>::infinity(), second = best;
    for (int64_t v = 0; v < n; ++v) {
        const double x = row[v];
        if (x > best) {
            second = best;
            best = x;
            arg = v;
        } else if (x > second) {
            second = x;
        }
    }
    return {arg, best - second};
}

std::string short_double(double v) {
    char buf[64];
    std::snprintf(buf, sizeof buf, "%.4g", v);
    return buf;
}

}  // namespace

const char* device_check_text() {
    return "The river ran past the old mill, where the miller's daughter counted sacks of flour and "
           "wrote the numbers in a small green book. In 1907 the mill burned down; the book survived, "
           "and today it tells us how much bread a village of three hundred people ate in a year.";
}

DeviceCheckReport compare_logits(std::span<const float> reference, std::span<const float> candidate, int64_t n_vocab,
                                 const DeviceCheckLimits& limits) {
    DeviceCheckReport r;
    if (n_vocab <= 0 || reference.size() != candidate.size() || reference.size() % static_cast<size_t>(n_vocab) != 0) {
        r.summary = "the candidate returned " + std::to_string(candidate.size()) + " logits where the reference has " +
                    std::to_string(reference.size());
        return r;
    }
    r.positions = static_cast<int64_t>(reference.size()) / n_vocab;
    int64_t first_disagreement = -1, non_finite_at = -1;
    for (int64_t p = 0; p < r.positions; ++p) {
        const float* ref = reference.data() + p * n_vocab;
        const float* cand = candidate.data() + p * n_vocab;
        for (int64_t v = 0; v < n_vocab; ++v) {
            if (!std::isfinite(cand[v])) {
                if (non_finite_at < 0) non_finite_at = p;
                r.max_abs_diff = std::numeric_limits<double>::infinity();
                r.worst_position = p;
                break;
            }
            const double d = std::fabs(static_cast<double>(ref[v]) - cand[v]);
            if (d > r.max_abs_diff) {
                r.max_abs_diff = d;
                r.worst_position = p;
            }
        }
        const RowTop rt = top_of(ref, n_vocab);
        if (rt.margin < limits.top1_margin) continue;
        ++r.decisive;
        if (top_of(cand, n_vocab).arg == rt.arg)
            ++r.top1_agree;
        else if (first_disagreement < 0)
            first_disagreement = p;
    }
    const std::string counts = std::to_string(r.positions) + " positions, top-1 agrees at " +
                               std::to_string(r.top1_agree) + "/" + std::to_string(r.decisive) +
                               " decisive ones, max |logit diff| ";
    if (non_finite_at >= 0) {
        r.summary = "non-finite logits at position " + std::to_string(non_finite_at) + " of " + std::to_string(r.positions);
        return r;
    }
    const std::string diff = short_double(r.max_abs_diff);
    if (first_disagreement >= 0) {
        r.summary = counts + diff + ": the top-1 token differs at position " + std::to_string(first_disagreement);
        return r;
    }
    if (r.max_abs_diff > limits.max_abs_diff) {
        r.summary = counts + diff + " (at position " + std::to_string(r.worst_position) + ") exceeds the bound " +
                    short_double(limits.max_abs_diff);
        return r;
    }
    r.passed = true;
    r.summary = counts + diff + " (bound " + short_double(limits.max_abs_diff) + ")";
    return r;
}

Expected<DeviceCheckReport> run_device_check(Session& reference, Session& candidate, std::span<const int32_t> prompt,
                                             int decode_steps, const DeviceCheckLimits& limits,
                                             const std::function<void(std::vector<float>&)>& tamper) {
    if (prompt.empty()) return error(ErrorCode::invalid_argument, "the device check needs a non-empty prompt");
    if (&reference.model() != &candidate.model())
        return error(ErrorCode::invalid_argument, "the device check compares two sessions of one model");
    if (reference.n_past() != 0 || candidate.n_past() != 0)
        return error(ErrorCode::invalid_argument, "the device check needs two empty sessions");
    const int64_t n_vocab = reference.model().hparams().n_vocab;
    std::vector<float> ref_all, cand_all, ref_step, cand_step;
    KVMIX_TRY(reference.eval(prompt, nullptr, &ref_all));
    KVMIX_TRY(candidate.eval(prompt, nullptr, &cand_all));
    if (tamper) tamper(cand_all);
    for (int s = 0; s < decode_steps; ++s) {
        const float* last = ref_all.data() + ref_all.size() - static_cast<size_t>(n_vocab);
        const int32_t next = static_cast<int32_t>(top_of(last, n_vocab).arg);
        KVMIX_TRY(reference.eval(std::span<const int32_t>(&next, 1), &ref_step));
        KVMIX_TRY(candidate.eval(std::span<const int32_t>(&next, 1), &cand_step));
        if (tamper) tamper(cand_step);
        ref_all.insert(ref_all.end(), ref_step.begin(), ref_step.end());
        cand_all.insert(cand_all.end(), cand_step.begin(), cand_step.end());
    }
    return compare_logits(ref_all, cand_all, n_vocab, limits);
}

Expected<DeviceCheckReport> check_gpu_against_cpu(const std::shared_ptr<const Model>& model, std::span<const int32_t> prompt,
                                                  SessionConfig config) {
    constexpr int decode_steps = 4;
    config.n_ctx = static_cast<int64_t>(prompt.size()) + decode_steps;
    config.device = DeviceKind::cpu;
    // The reference side at the CPU's exact query arithmetic: the GPU's kernels dequantize to
    // fp32, so the single int8 query's rounding would count against the GPU.
    config.kv_profile.query_residual = true;
    std::unique_ptr<Session> cpu, gpu;
    KVMIX_ASSIGN(cpu, Session::create(model, config));
    config.device = DeviceKind::cuda;
    KVMIX_ASSIGN(gpu, Session::create(model, config));
    return run_device_check(*cpu, *gpu, prompt, decode_steps);
}

}  // namespace kvmix
