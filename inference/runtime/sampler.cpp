#include "runtime/sampler.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <limits>
#include <string>

namespace kvmix {
namespace {

std::string format_float(float v) {
    char buf[32];
    std::snprintf(buf, sizeof buf, "%g", static_cast<double>(v));
    return buf;
}

Status invalid(const std::string& message) { return error(ErrorCode::invalid_argument, "sampler: " + message); }

// A value in [0, 1]; `off_hint` says which end disables the stage.
Status check_unit_interval(const char* name, float v, const char* off_hint) {
    if (std::isnan(v)) return invalid(std::string(name) + " is NaN");
    if (!(v >= 0.0f && v <= 1.0f))
        return invalid(std::string(name) + " must be in [0, 1] (" + off_hint + "), got " + format_float(v));
    return Status::success();
}

uint64_t splitmix64(uint64_t& state) {
    uint64_t z = (state += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

uint64_t rotl(uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }

}  // namespace

Status validate(const SamplerParams& p) {
    if (std::isnan(p.temperature)) return invalid("temperature is NaN");
    if (std::isinf(p.temperature)) return invalid("temperature must be finite, got " + format_float(p.temperature));
    if (p.temperature < 0.0f)
        return invalid("temperature must be >= 0 (0 = greedy), got " + format_float(p.temperature));
    KVMIX_TRY(check_unit_interval("top_p", p.top_p, "1 = off"));
    KVMIX_TRY(check_unit_interval("min_p", p.min_p, "0 = off"));
    if (std::isnan(p.repeat_penalty)) return invalid("repeat_penalty is NaN");
    if (!(p.repeat_penalty > 0.0f) || std::isinf(p.repeat_penalty))
        return invalid("repeat_penalty must be finite and > 0 (1 = off), got " + format_float(p.repeat_penalty));
    if (p.repeat_window < 0)
        return invalid("repeat_window must be >= 0 (0 = off), got " + std::to_string(p.repeat_window));
    return Status::success();
}

void SamplerRng::reseed(uint64_t seed) {
    // splitmix64 spreads any seed (0 included) over the state; it is never all zero.
    uint64_t sm = seed;
    for (auto& word : s_) word = splitmix64(sm);
}

uint64_t SamplerRng::next_u64() {
    const uint64_t result = rotl(s_[1] * 5, 7) * 9;
    const uint64_t t = s_[1] << 17;
    s_[2] ^= s_[0];
    s_[3] ^= s_[1];
    s_[1] ^= s_[2];
    s_[0] ^= s_[3];
    s_[2] ^= t;
    s_[3] = rotl(s_[3], 45);
    return result;
}

Sampler::Sampler(SamplerParams params, int32_t n_vocab)
    : params_(params), n_vocab_(n_vocab), params_status_(validate(params)), rng_(params.seed) {
    if (params_status_.ok() && n_vocab <= 0)
        params_status_ = invalid("vocabulary size must be > 0, got " + std::to_string(n_vocab));
    if (params_status_.ok()) {
        working_.reserve(static_cast<size_t>(n_vocab));
        candidates_.reserve(static_cast<size_t>(n_vocab));
    }
}

void Sampler::reseed(uint64_t seed) {
    params_.seed = seed;
    rng_.reseed(seed);
}

Status apply_repeat_penalty(std::span<float> logits, std::span<const int32_t> recent_tokens, float penalty,
                            int32_t window) {
    const size_t n = std::min(recent_tokens.size(), static_cast<size_t>(std::max(window, 0)));
    const auto recent = recent_tokens.last(n);
    for (const int32_t id : recent) {
        if (id < 0 || static_cast<size_t>(id) >= logits.size())
            return invalid("recent token id " + std::to_string(id) + " outside vocabulary of " +
                           std::to_string(logits.size()));
    }
    if (penalty == 1.0f || recent.empty()) return Status::success();
    // Each distinct id once, however often it repeats (llama.cpp's repeat_penalty).
    std::vector<int32_t> ids(recent.begin(), recent.end());
    std::sort(ids.begin(), ids.end());
    ids.erase(std::unique(ids.begin(), ids.end()), ids.end());
    for (const int32_t id : ids) {
        float& logit = logits[static_cast<size_t>(id)];
        logit = logit > 0.0f ? logit / penalty : logit * penalty;
    }
    return Status::success();
}

Expected<int32_t> Sampler::sample(std::span<const float> logits, std::span<const int32_t> recent_tokens) {
    if (!params_status_.ok()) return params_status_;
    if (logits.size() != static_cast<size_t>(n_vocab_))
        return invalid("logits have " + std::to_string(logits.size()) + " entries, vocabulary has " +
                       std::to_string(n_vocab_));

    constexpr float neg_inf = -std::numeric_limits<float>::infinity();
    constexpr float pos_inf = std::numeric_limits<float>::infinity();
    working_.resize(logits.size());
    bool any_pos_inf = false;
    for (size_t i = 0; i < logits.size(); ++i) {
        working_[i] = std::isnan(logits[i]) ? neg_inf : logits[i];
        any_pos_inf |= logits[i] == pos_inf;
    }
    KVMIX_TRY(apply_repeat_penalty(working_, recent_tokens, params_.repeat_penalty, params_.repeat_window));

    if (params_.temperature <= 0.0f) {
        // Strict '>' in ascending id order: ties go to the lowest id (+inf beats everything).
        size_t best = 0;
        for (size_t i = 1; i < working_.size(); ++i)
            if (working_[i] > working_[best]) best = i;
        if (working_[best] == neg_inf)
            return error(ErrorCode::invalid_argument, "sampler: all logits are -inf or NaN");
        return static_cast<int32_t>(best);
    }

    // Candidates in ascending id order, masked tokens dropped. With +inf logits present only
    // those remain, as equals: that is where softmax puts all the mass.
    candidates_.clear();
    for (size_t i = 0; i < working_.size(); ++i) {
        const float l = working_[i];
        if (any_pos_inf ? l == pos_inf : l != neg_inf)
            candidates_.push_back({any_pos_inf ? 0.0f : l, static_cast<int32_t>(i), 0.0});
    }
    if (candidates_.empty())
        return error(ErrorCode::invalid_argument, "sampler: all logits are -inf or NaN");
    return sample_candidates();
}

int32_t Sampler::sample_candidates() {
    // A total order (logit desc, then id asc) makes nth_element/sort results independent of
    // the standard library's algorithm, hence reproducible everywhere.
    const auto better = [](const Candidate& a, const Candidate& b) {
        return a.logit > b.logit || (a.logit == b.logit && a.id < b.id);
    };
    auto& cand = candidates_;
    const bool top_k_on = params_.top_k > 0 && static_cast<size_t>(params_.top_k) < cand.size();
    const bool top_p_on = params_.top_p < 1.0f;
    const bool min_p_on = params_.min_p > 0.0f;
    const double top_p = params_.top_p;
    const double min_p = params_.min_p;
    const auto at = [&](size_t i) { return cand.begin() + static_cast<std::ptrdiff_t>(i); };

    float max_logit = cand.front().logit;
    for (const Candidate& c : cand) max_logit = std::max(max_logit, c.logit);

    if (top_k_on) {
        const auto k = static_cast<size_t>(params_.top_k);
        std::nth_element(cand.begin(), at(k), cand.end(), better);
        cand.resize(k);
    }
    // rel = exp(logit - max): probability at temperature 1 up to the normalizer z, which
    // is taken over the set top-p measures against (everything after top-k).
    double z = 0.0;
    if (top_p_on || min_p_on) {
        for (Candidate& c : cand) {
            c.rel = std::exp(static_cast<double>(c.logit) - static_cast<double>(max_logit));
            z += c.rel;
        }
    }
    if (top_k_on) {
        std::sort(cand.begin(), cand.end(), better);
    } else if (top_p_on || min_p_on) {
        // min-p keeps a prefix of the sorted order, so filtering by it first is exact and
        // usually shrinks a 262k vocabulary to a handful before sorting.
        if (min_p_on) std::erase_if(cand, [&](const Candidate& c) { return !(c.rel >= min_p); });
        // top-p also keeps a prefix: grow a partially ordered head until it holds top_p of
        // the mass, and sort only that head.
        size_t m = cand.size();
        if (top_p_on) {
            m = std::min<size_t>(cand.size(), 256);
            size_t done = 0;
            double head = 0.0;
            for (;;) {
                if (m < cand.size()) std::nth_element(at(done), at(m), cand.end(), better);
                for (size_t i = done; i < m; ++i) head += cand[i].rel;
                if (m == cand.size() || head >= top_p * z) break;
                done = m;
                m = std::min(cand.size(), m * 2);  // the sorted head stays < 2x the kept set
            }
        }
        cand.resize(m);
        std::sort(cand.begin(), cand.end(), better);
    }

    if (top_p_on) {
        const double target = top_p * z;
        double cum = 0.0;
        for (size_t i = 0; i < cand.size(); ++i) {
            cum += cand[i].rel;
            if (cum >= target) {
                cand.resize(i + 1);
                break;
            }
        }
    }
    if (min_p_on) {
        // Sorted, and the first token has rel == 1 >= min_p, so at least one survives.
        size_t keep = 1;
        while (keep < cand.size() && cand[keep].rel >= min_p) ++keep;
        cand.resize(keep);
    }

    const double inv_t = 1.0 / static_cast<double>(params_.temperature);
    weights_.resize(cand.size());
    double total = 0.0;
    for (size_t i = 0; i < cand.size(); ++i) {
        weights_[i] = std::exp((static_cast<double>(cand[i].logit) - static_cast<double>(max_logit)) * inv_t);
        total += weights_[i];
    }
    const double u = rng_.next_double() * total;
    double acc = 0.0;
    for (size_t i = 0; i < cand.size(); ++i) {
        acc += weights_[i];
        if (u < acc) return cand[i].id;
    }
    // Rounding left u at or past the last boundary: the last token with weight wins.
    for (size_t i = cand.size(); i-- > 0;)
        if (weights_[i] > 0.0) return cand[i].id;
    return cand.front().id;
}

}  // namespace kvmix
