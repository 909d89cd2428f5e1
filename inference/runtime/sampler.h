// Sampler: picks the next token from one row of logits.
//
// Order of operations (llama.cpp's common default chain, less the samplers we lack:
// penalties → top-k → top-p → min-p → temperature → draw):
//   1. NaN logits become -inf (masked); -inf tokens can never be picked. If any logit is
//      +inf, only the +inf tokens stay, all equally likely (the limit of softmax).
//   2. Repetition penalty over the last `repeat_window` ids of `recent_tokens`: each
//      distinct id once, a positive logit is divided by `repeat_penalty`, a negative one
//      multiplied by it.
//   3. Greedy (temperature <= 0): argmax, ties to the lowest id. Nothing below runs and
//      the RNG is not advanced.
//   4. top-k: keep the k largest logits (ties to the lowest id).
//   5. top-p: over softmax(logits) at temperature 1, keep the smallest prefix (largest
//      first) whose probability sums to >= top_p; at least one token.
//   6. min-p: keep tokens whose probability is >= min_p * the largest probability.
//   7. temperature: softmax(logit / temperature) over the survivors, renormalized.
//   8. draw one uniform double in [0, 1) from the session RNG and invert the CDF.
// As in llama.cpp, top-p and min-p see the untempered distribution; temperature only
// reshapes what they kept. Every non-greedy sample() draws exactly one number, so the RNG
// stream position depends only on how many tokens were sampled.
//
// "Off" values, as llama.cpp users expect: top_k <= 0, top_p >= 1, min_p <= 0,
// repeat_penalty == 1 or repeat_window == 0; temperature == 0 means greedy.
//
// Reproducibility: a built-in xoshiro256** generator seeded through splitmix64 and a
// total order on candidates (logit, then id), so one seed gives one token sequence on
// every platform and standard library. Seed 0 is an ordinary seed; callers that want
// variety pass a fresh seed (and may store it to replay a conversation).
//
// Ownership / thread-safety: one Sampler per session (it owns the RNG state and scratch
// buffers sized to the vocabulary). Not thread-safe; do not share between threads.
#pragma once

#include <cstdint>
#include <span>
#include <vector>

#include "kvmix/status.h"

namespace kvmix {

struct SamplerParams {
    float temperature = 0.8f;     // <= 0: greedy; must be finite and >= 0
    int32_t top_k = 40;           // <= 0: off
    float top_p = 0.95f;          // in [0, 1]; 1: off (0 keeps only the top token)
    float min_p = 0.05f;          // in [0, 1]; 0: off
    float repeat_penalty = 1.0f;  // > 0; 1: off
    int32_t repeat_window = 64;   // >= 0 tokens; 0: off
    uint64_t seed = 0;
};

// Rejects NaN, infinities and out-of-range values with a message naming the field,
// e.g. "sampler: top_p must be in [0, 1], got 1.5".
Status validate(const SamplerParams& params);

// xoshiro256** (Blackman & Vigna), seeded by splitmix64: small, fast, portable.
class SamplerRng {
public:
    explicit SamplerRng(uint64_t seed = 0) { reseed(seed); }
    void reseed(uint64_t seed);
    uint64_t next_u64();
    // Uniform in [0, 1) with 53 random bits.
    double next_double() { return static_cast<double>(next_u64() >> 11) * 0x1.0p-53; }

private:
    uint64_t s_[4] = {};
};

// Stage 2 on its own (the Sampler calls it; exposed for tests and custom chains): over the
// last `window` ids of `recent_tokens`, each distinct id once, a positive logit is divided
// by `penalty` and any other multiplied by it. Ids outside [0, logits.size()) are an error
// (and leave `logits` untouched).
Status apply_repeat_penalty(std::span<float> logits, std::span<const int32_t> recent_tokens, float penalty,
                            int32_t window);

class Sampler {
public:
    // Invalid params or n_vocab <= 0 are reported by every sample() call (a constructor
    // cannot return a Status); call validate() first to report them early.
    Sampler(SamplerParams params, int32_t n_vocab);

    // `logits`: [n_vocab] for the next position. `recent_tokens`: the context so far,
    // oldest first; only its last `repeat_window` ids are read. Errors: invalid params,
    // a logits size other than n_vocab, a recent id outside [0, n_vocab), and every
    // logit -inf or NaN ("all logits are -inf or NaN").
    Expected<int32_t> sample(std::span<const float> logits, std::span<const int32_t> recent_tokens);

    // Restarts the RNG stream as if constructed with `seed` (params().seed is updated).
    void reseed(uint64_t seed);
    const SamplerParams& params() const { return params_; }
    int32_t n_vocab() const { return n_vocab_; }

private:
    struct Candidate {
        float logit;
        int32_t id;
        double rel;  // exp(logit - max logit), filled when top-p or min-p needs it
    };

    int32_t sample_candidates();

    SamplerParams params_;
    int32_t n_vocab_;
    Status params_status_;
    SamplerRng rng_;
    // Per-call scratch, kept to avoid reallocating a vocabulary-sized buffer per token.
    std::vector<float> working_;  // [n_vocab] sanitized, penalized logits
    std::vector<Candidate> candidates_;
    std::vector<double> weights_;
};

}  // namespace kvmix
