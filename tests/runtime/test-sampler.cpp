// Sampler: validation, greedy, reproducibility, and empirical distributions checked against
// probabilities computed here independently (plain full sort, double precision).
#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <limits>
#include <numeric>
#include <set>
#include <string>
#include <vector>

#include "check.h"
#include "runtime/sampler.h"

using kvmix::Sampler;
using kvmix::SamplerParams;

namespace {

constexpr float kNaN = std::numeric_limits<float>::quiet_NaN();
constexpr float kInf = std::numeric_limits<float>::infinity();

SamplerParams all_off(float temperature) {
    SamplerParams p;
    p.temperature = temperature;
    p.top_k = 0;
    p.top_p = 1.0f;
    p.min_p = 0.0f;
    p.repeat_penalty = 1.0f;
    return p;
}

std::string validate_message(const SamplerParams& p) { return kvmix::validate(p).message(); }

// Expected distribution after the documented chain, written without the sampler's code:
// penalty, top-k, top-p and min-p at temperature 1, then temperature.
std::vector<double> reference_probs(std::vector<float> logits, const SamplerParams& p,
                                    const std::vector<int32_t>& recent = {}) {
    const size_t n = logits.size();
    for (auto& l : logits)
        if (std::isnan(l)) l = -kInf;
    if (p.repeat_penalty != 1.0f) {
        const size_t w = std::min(recent.size(), static_cast<size_t>(p.repeat_window));
        std::set<int32_t> ids(recent.end() - static_cast<std::ptrdiff_t>(w), recent.end());
        for (int32_t id : ids) {
            float& l = logits[static_cast<size_t>(id)];
            l = l > 0 ? l / p.repeat_penalty : l * p.repeat_penalty;
        }
    }
    std::vector<size_t> order(n);
    std::iota(order.begin(), order.end(), size_t{0});
    std::stable_sort(order.begin(), order.end(), [&](size_t a, size_t b) { return logits[a] > logits[b]; });
    size_t keep = 0;
    while (keep < n && logits[order[keep]] != -kInf) ++keep;
    if (p.temperature <= 0.0f) keep = std::min<size_t>(keep, 1);  // greedy: the (first) argmax
    if (p.top_k > 0) keep = std::min(keep, static_cast<size_t>(p.top_k));
    const double mx = logits[order[0]];
    std::vector<double> prob(keep);
    double z = 0;
    for (size_t i = 0; i < keep; ++i) z += prob[i] = std::exp(logits[order[i]] - mx);
    for (auto& q : prob) q /= z;
    if (p.top_p < 1.0f) {
        double cum = 0;
        for (size_t i = 0; i < keep; ++i) {
            cum += prob[i];
            if (cum >= p.top_p) {
                keep = i + 1;
                break;
            }
        }
    }
    if (p.min_p > 0.0f) {
        size_t k = 0;
        while (k < keep && prob[k] >= p.min_p * prob[0]) ++k;
        keep = std::max<size_t>(k, 1);
    }
    std::vector<double> out(n, 0.0);
    double total = 0;
    for (size_t i = 0; i < keep; ++i)
        total += out[order[i]] = p.temperature > 0 ? std::exp((logits[order[i]] - mx) / p.temperature) : 1.0;
    for (auto& q : out) q /= total;
    return out;
}

std::vector<double> empirical(Sampler& s, const std::vector<float>& logits, const std::vector<int32_t>& recent,
                              int draws) {
    std::vector<double> freq(logits.size(), 0.0);
    for (int i = 0; i < draws; ++i) {
        auto t = s.sample(logits, recent);
        if (!t.ok()) {
            CHECK_OK(t);
            return freq;
        }
        freq[static_cast<size_t>(*t)] += 1.0;
    }
    for (auto& f : freq) f /= draws;
    return freq;
}

// Tokens with zero expected probability must never appear; the rest within `bound`
// (200k draws: one standard deviation is at most 0.0011, so 0.006 is > 5 sigma).
void check_distribution(const std::vector<float>& logits, const SamplerParams& p,
                        const std::vector<int32_t>& recent = {}) {
    constexpr int draws = 200000;
    constexpr double bound = 0.006;
    Sampler s(p, static_cast<int32_t>(logits.size()));
    const auto want = reference_probs(logits, p, recent);
    const auto got = empirical(s, logits, recent, draws);
    double max_diff = 0;
    int support = 0;
    for (size_t i = 0; i < logits.size(); ++i) {
        if (want[i] == 0.0) CHECK_EQ(got[i], 0.0);
        support += want[i] > 0;
        max_diff = std::max(max_diff, std::fabs(got[i] - want[i]));
    }
    std::printf("    T=%g k=%d p=%g min_p=%g pen=%g: %d tokens kept, max |freq - prob| = %.5f\n",
                static_cast<double>(p.temperature), p.top_k, static_cast<double>(p.top_p),
                static_cast<double>(p.min_p), static_cast<double>(p.repeat_penalty), support, max_diff);
    CHECK(max_diff < bound);
}

// 16 logits with no near-ties at any cut below, plus masked entries.
const std::vector<float> kLogits = {1.0f, 3.0f, -0.5f, 2.2f, kNaN, 0.3f, 2.7f, -2.0f,
                                    1.6f, -kInf, 0.9f, -1.2f, 2.45f, 0.05f, -0.8f, 1.3f};

}  // namespace

TEST_CASE("validate accepts defaults and off values") {
    CHECK_OK(kvmix::validate(SamplerParams{}));
    CHECK_OK(kvmix::validate(all_off(0.0f)));
    SamplerParams p;
    p.top_k = -1;
    p.top_p = 0.0f;
    p.min_p = 1.0f;
    p.repeat_window = 0;
    p.repeat_penalty = 0.5f;
    CHECK_OK(kvmix::validate(p));
}

TEST_CASE("validate rejects out-of-range values with precise messages") {
    SamplerParams p;
    p.temperature = -0.5f;
    CHECK_EQ(validate_message(p), std::string("sampler: temperature must be >= 0 (0 = greedy), got -0.5"));
    CHECK(kvmix::validate(p).code() == kvmix::ErrorCode::invalid_argument);
    p.temperature = kNaN;
    CHECK_EQ(validate_message(p), std::string("sampler: temperature is NaN"));
    p.temperature = kInf;
    CHECK_EQ(validate_message(p), std::string("sampler: temperature must be finite, got inf"));

    p = SamplerParams{};
    p.top_p = 1.5f;
    CHECK_EQ(validate_message(p), std::string("sampler: top_p must be in [0, 1] (1 = off), got 1.5"));
    p.top_p = -0.25f;
    CHECK_EQ(validate_message(p), std::string("sampler: top_p must be in [0, 1] (1 = off), got -0.25"));
    p.top_p = kNaN;
    CHECK_EQ(validate_message(p), std::string("sampler: top_p is NaN"));

    p = SamplerParams{};
    p.min_p = 2.0f;
    CHECK_EQ(validate_message(p), std::string("sampler: min_p must be in [0, 1] (0 = off), got 2"));
    p.min_p = kNaN;
    CHECK_EQ(validate_message(p), std::string("sampler: min_p is NaN"));

    p = SamplerParams{};
    p.repeat_penalty = 0.0f;
    CHECK_EQ(validate_message(p), std::string("sampler: repeat_penalty must be finite and > 0 (1 = off), got 0"));
    p.repeat_penalty = -1.1f;
    CHECK_EQ(validate_message(p), std::string("sampler: repeat_penalty must be finite and > 0 (1 = off), got -1.1"));
    p.repeat_penalty = kInf;
    CHECK_EQ(validate_message(p), std::string("sampler: repeat_penalty must be finite and > 0 (1 = off), got inf"));
    p.repeat_penalty = kNaN;
    CHECK_EQ(validate_message(p), std::string("sampler: repeat_penalty is NaN"));

    p = SamplerParams{};
    p.repeat_window = -1;
    CHECK_EQ(validate_message(p), std::string("sampler: repeat_window must be >= 0 (0 = off), got -1"));
}

TEST_CASE("invalid params and bad inputs surface from sample()") {
    SamplerParams p;
    p.top_p = 3.0f;
    Sampler bad(p, 4);
    const std::vector<float> logits = {0, 1, 2, 3};
    auto r = bad.sample(logits, {});
    REQUIRE(!r.ok());
    CHECK_EQ(r.status().message(), std::string("sampler: top_p must be in [0, 1] (1 = off), got 3"));

    Sampler no_vocab(SamplerParams{}, 0);
    CHECK_EQ(no_vocab.sample({}, {}).status().message(), std::string("sampler: vocabulary size must be > 0, got 0"));

    Sampler s(SamplerParams{}, 4);
    const std::vector<float> short_logits = {0, 1, 2};
    CHECK_EQ(s.sample(short_logits, {}).status().message(),
             std::string("sampler: logits have 3 entries, vocabulary has 4"));
    const std::vector<int32_t> recent = {1, 4};
    CHECK_EQ(s.sample(logits, recent).status().message(),
             std::string("sampler: recent token id 4 outside vocabulary of 4"));
    const std::vector<int32_t> negative = {-1, 2};
    CHECK_EQ(s.sample(logits, negative).status().message(),
             std::string("sampler: recent token id -1 outside vocabulary of 4"));
    // Ids before the window are not read.
    p = SamplerParams{};
    p.repeat_window = 1;
    Sampler windowed(p, 4);
    CHECK_OK(windowed.sample(logits, negative));
}

TEST_CASE("greedy is argmax with ties to the lowest id") {
    Sampler s(all_off(0.0f), 6);
    CHECK_EQ(*s.sample(std::vector<float>{1, 5, 3, 5, -2, 4.9f}, {}), 1);
    CHECK_EQ(*s.sample(std::vector<float>{7, 7, 7, 7, 7, 7}, {}), 0);
    CHECK_EQ(*s.sample(std::vector<float>{-kInf, kNaN, -3, -1, kNaN, -1}, {}), 3);
    CHECK_EQ(*s.sample(std::vector<float>{0, 1e30f, kInf, 2, kInf, 3}, {}), 2);
    // Greedy ignores top-k/top-p/min-p and never touches the RNG: same answer every time.
    SamplerParams p;
    p.temperature = 0.0f;
    Sampler g(p, 16);
    for (int i = 0; i < 100; ++i) CHECK_EQ(*g.sample(kLogits, {}), 1);
}

TEST_CASE("top-k 1 equals greedy at any temperature") {
    kvmix::SamplerRng gen(99);
    const int n = 64;
    for (float t : {0.05f, 0.7f, 1.0f, 5.0f, 100.0f}) {
        SamplerParams p = all_off(t);
        p.top_k = 1;
        p.seed = 1234;
        Sampler s(p, n);
        Sampler greedy(all_off(0.0f), n);
        for (int trial = 0; trial < 200; ++trial) {
            std::vector<float> logits(n);
            // Coarse values make ties common.
            for (auto& l : logits) l = static_cast<float>(gen.next_u64() % 7) - 3.0f;
            if (trial % 5 == 0) logits[gen.next_u64() % n] = kNaN;
            CHECK_EQ(*s.sample(logits, {}), *greedy.sample(logits, {}));
        }
    }
}

TEST_CASE("same seed gives the same sequence, another seed another") {
    SamplerParams p = all_off(1.0f);
    std::vector<float> logits(1000, 0.0f);  // uniform: a sequence is just RNG output
    const auto run = [&](uint64_t seed) {
        p.seed = seed;
        Sampler s(p, 1000);
        std::vector<int32_t> seq;
        for (int i = 0; i < 50; ++i) seq.push_back(*s.sample(logits, {}));
        return seq;
    };
    CHECK(run(42) == run(42));
    CHECK(run(0) == run(0));
    CHECK(run(42) != run(43));
    CHECK(run(0) != run(1));

    // reseed() restarts the stream exactly.
    p.seed = 42;
    Sampler s(p, 1000);
    std::vector<int32_t> first;
    for (int i = 0; i < 50; ++i) first.push_back(*s.sample(logits, {}));
    s.reseed(42);
    std::vector<int32_t> again;
    for (int i = 0; i < 50; ++i) again.push_back(*s.sample(logits, {}));
    CHECK(first == again);
    CHECK(first == run(42));
    s.reseed(7);
    CHECK_EQ(s.params().seed, uint64_t{7});
}

TEST_CASE("rng output is pinned (portable across platforms)") {
    // xoshiro256** seeded by splitmix64(0): values pinned so a change of generator is noticed.
    kvmix::SamplerRng a(0), b(0), c(1);
    const uint64_t first = a.next_u64();
    CHECK_EQ(first, b.next_u64());
    CHECK(first != c.next_u64());
    std::printf("    first u64 for seed 0: 0x%016llx\n", static_cast<unsigned long long>(first));
    CHECK_EQ(first, 0x99ec5f36cb75f2b4ull);
    double lo = 1, hi = 0;
    for (int i = 0; i < 100000; ++i) {
        const double u = a.next_double();
        lo = std::min(lo, u);
        hi = std::max(hi, u);
        REQUIRE(u >= 0.0 && u < 1.0);
    }
    CHECK(lo < 1e-3);
    CHECK(hi > 1 - 1e-3);
}

TEST_CASE("empirical distribution matches the reference (200k draws each)") {
    SamplerParams p = all_off(1.0f);
    check_distribution(kLogits, p);  // plain softmax
    p = all_off(0.7f);
    p.top_k = 5;
    check_distribution(kLogits, p);
    p = all_off(1.5f);
    p.top_p = 0.8f;
    check_distribution(kLogits, p);
    p = all_off(1.0f);
    p.min_p = 0.1f;
    check_distribution(kLogits, p);
    p = SamplerParams{};  // the defaults: T 0.8, k 40, p 0.95, min_p 0.05
    p.seed = 5;
    check_distribution(kLogits, p);
    p = all_off(1.2f);
    p.top_k = 10;
    p.top_p = 0.9f;
    p.min_p = 0.2f;
    check_distribution(kLogits, p);
    p = all_off(2.0f);
    p.top_p = 0.5f;
    check_distribution(kLogits, p);
    p = all_off(1.0f);
    p.repeat_penalty = 1.4f;
    p.repeat_window = 4;
    // In the window: 1, 3, 7, 13 (3 twice). Outside: 6, 12.
    check_distribution(kLogits, p, {6, 12, 1, 3, 7, 3, 13});
}

TEST_CASE("top-p over a wide flat tail keeps exactly the reference set") {
    // ~700 tokens pass top_p 0.5, so the sampler's partially sorted head has to grow past
    // its first 256 entries; ids are shuffled so the head is not simply the first ids.
    const int32_t n = 3000;
    std::vector<float> logits(n);
    kvmix::SamplerRng gen(11);
    std::vector<int32_t> rank(n);
    std::iota(rank.begin(), rank.end(), 0);
    for (int32_t i = n - 1; i > 0; --i) std::swap(rank[i], rank[static_cast<int32_t>(gen.next_u64() % (i + 1))]);
    for (int32_t i = 0; i < n; ++i) logits[i] = -0.001f * static_cast<float>(rank[i]);
    for (float min_p : {0.0f, 0.3f, 0.6f}) {
        SamplerParams p = all_off(0.9f);
        p.top_p = 0.5f;
        p.min_p = min_p;
        Sampler s(p, n);
        const auto want = reference_probs(logits, p);
        const auto got = empirical(s, logits, {}, 20000);
        int want_support = 0, got_support = 0, outside = 0;
        double max_diff = 0;
        for (int32_t i = 0; i < n; ++i) {
            want_support += want[i] > 0;
            got_support += got[i] > 0;
            outside += want[i] == 0 && got[i] > 0;
            max_diff = std::max(max_diff, std::fabs(got[i] - want[i]));
        }
        std::printf("    min_p=%g: reference keeps %d tokens, drawn %d distinct, max |freq - prob| = %.5f\n",
                    static_cast<double>(min_p), want_support, got_support, max_diff);
        CHECK(want_support > 256);
        CHECK_EQ(outside, 0);
        CHECK_EQ(got_support, want_support);  // >= ~20 draws expected per kept token: all show up
        CHECK(max_diff < 0.002);             // ~6 sigma for p ~ 0.002 over 20k draws
    }
}

TEST_CASE("temperature is applied after top-p and min-p (llama.cpp order)") {
    // At T=1 token 0 holds 64% of the mass, so top_p 0.6 keeps it alone; tempering first
    // (T=3) would spread the mass and keep two tokens.
    SamplerParams p = all_off(3.0f);
    p.top_p = 0.6f;
    Sampler s(p, 4);
    const std::vector<float> logits = {2, 1, 0, -1};
    for (int i = 0; i < 2000; ++i) CHECK_EQ(*s.sample(logits, {}), 0);
    // min-p likewise: rel. probabilities at T=1 are 1, 0.37, 0.14, 0.05; min_p 0.3 keeps
    // tokens 0 and 1 however high the temperature.
    p = all_off(50.0f);
    p.min_p = 0.3f;
    Sampler m(p, 4);
    const auto freq = empirical(m, logits, {}, 20000);
    CHECK(freq[0] > 0.45 && freq[1] > 0.45);
    CHECK_EQ(freq[2] + freq[3], 0.0);
}

TEST_CASE("repetition penalty changes exactly the right logits") {
    std::vector<float> logits = {2.0f, -1.5f, 0.0f, 4.0f, -3.0f, 1.0f, -kInf, 6.0f};
    const std::vector<float> before = logits;
    // Window 5 covers {3, 1, 6, 2, 3}; token 0 and 7 lie before it.
    const std::vector<int32_t> recent = {0, 7, 3, 1, 6, 2, 3};
    REQUIRE_OK(kvmix::apply_repeat_penalty(logits, recent, 2.0f, 5));
    const std::vector<float> want = {2.0f, -3.0f, 0.0f, 2.0f, -3.0f, 1.0f, -kInf, 6.0f};
    for (size_t i = 0; i < logits.size(); ++i) CHECK_EQ(logits[i], want[i]);  // 3 divided once, not twice

    logits = before;
    REQUIRE_OK(kvmix::apply_repeat_penalty(logits, recent, 0.5f, 100));  // < 1 rewards repeats
    const std::vector<float> want_half = {4.0f, -0.75f, 0.0f, 8.0f, -3.0f, 1.0f, -kInf, 12.0f};
    for (size_t i = 0; i < logits.size(); ++i) CHECK_EQ(logits[i], want_half[i]);

    logits = before;
    REQUIRE_OK(kvmix::apply_repeat_penalty(logits, recent, 2.0f, 0));
    REQUIRE_OK(kvmix::apply_repeat_penalty(logits, recent, 1.0f, 7));
    CHECK(logits == before);
    const std::vector<int32_t> bad = {8};
    CHECK_EQ(kvmix::apply_repeat_penalty(logits, bad, 2.0f, 4).message(),
             std::string("sampler: recent token id 8 outside vocabulary of 8"));

    // Through the sampler (greedy): penalizing the leader hands the win to the runner-up,
    // but only while it is inside the window.
    SamplerParams p = all_off(0.0f);
    p.repeat_penalty = 2.0f;
    p.repeat_window = 2;
    Sampler s(p, 4);
    const std::vector<float> pos = {3.0f, 2.0f, 0.5f, 1.0f};
    CHECK_EQ(*s.sample(pos, std::vector<int32_t>{2, 0}), 1);
    CHECK_EQ(*s.sample(pos, std::vector<int32_t>{0, 2, 3}), 0);
    const std::vector<float> neg = {-1.0f, -1.5f, -4.0f, -9.0f};
    CHECK_EQ(*s.sample(neg, std::vector<int32_t>{0}), 1);
    CHECK_EQ(*s.sample(neg, std::vector<int32_t>{0, 0, 0}), 1);  // -2 < -1.5 either way
    CHECK_EQ(*s.sample(neg, std::vector<int32_t>{0, 2, 3}), 0);
}

TEST_CASE("top-p boundaries") {
    const std::vector<float> four = {1, 1, 1, 1};  // exactly 0.25 each
    const auto support = [&](float top_p, float temperature) {
        SamplerParams p = all_off(temperature);
        p.top_p = top_p;
        Sampler s(p, 4);
        std::set<int32_t> seen;
        for (int i = 0; i < 4000; ++i) seen.insert(*s.sample(four, {}));
        return seen;
    };
    CHECK(support(0.0f, 1.0f) == (std::set<int32_t>{0}));  // keeps at least one, lowest id on ties
    CHECK(support(0.25f, 1.0f) == (std::set<int32_t>{0}));
    CHECK(support(0.5f, 1.0f) == (std::set<int32_t>{0, 1}));  // cumulative == p stops
    CHECK(support(0.5000001f, 1.0f) == (std::set<int32_t>{0, 1, 2}));
    CHECK(support(0.99f, 1.0f) == (std::set<int32_t>{0, 1, 2, 3}));
    CHECK(support(1.0f, 1.0f) == (std::set<int32_t>{0, 1, 2, 3}));
    CHECK(support(0.5f, 10.0f) == (std::set<int32_t>{0, 1}));

    // A dominant token alone passes p; top_p 0 is greedy-like even when sampling.
    SamplerParams p = all_off(1.0f);
    p.top_p = 0.0f;
    Sampler s(p, 16);
    for (int i = 0; i < 1000; ++i) CHECK_EQ(*s.sample(kLogits, {}), 1);
}

TEST_CASE("min-p keeps tokens at or above min_p times the top probability") {
    // Probabilities 0.5, 0.25, 0.125, 0.0625, ... (as logits ln p).
    std::vector<float> logits;
    for (int i = 0; i < 8; ++i) logits.push_back(static_cast<float>(-i * std::log(2.0)));
    const auto support = [&](float min_p) {
        SamplerParams p = all_off(1.0f);
        p.min_p = min_p;
        Sampler s(p, 8);
        std::set<int32_t> seen;
        for (int i = 0; i < 20000; ++i) seen.insert(*s.sample(logits, {}));
        return seen;
    };
    CHECK(support(0.24f) == (std::set<int32_t>{0, 1, 2}));
    CHECK(support(0.26f) == (std::set<int32_t>{0, 1}));
    CHECK(support(1.0f) == (std::set<int32_t>{0}));
    CHECK(support(0.0f).size() == 8);
    // Tied maxima all survive min_p = 1.
    SamplerParams p = all_off(1.0f);
    p.min_p = 1.0f;
    Sampler s(p, 4);
    std::set<int32_t> seen;
    for (int i = 0; i < 1000; ++i) seen.insert(*s.sample(std::vector<float>{0, 2, 2, 1}, {}));
    CHECK(seen == (std::set<int32_t>{1, 2}));
}

TEST_CASE("NaN and infinite logits") {
    SamplerParams p = all_off(1.0f);
    Sampler s(p, 5);
    // NaN and -inf are never drawn.
    std::set<int32_t> seen;
    for (int i = 0; i < 5000; ++i) seen.insert(*s.sample(std::vector<float>{kNaN, 0, -kInf, 0, kNaN}, {}));
    CHECK(seen == (std::set<int32_t>{1, 3}));
    // Everything masked is an error, in both modes.
    auto r = s.sample(std::vector<float>{kNaN, -kInf, kNaN, -kInf, -kInf}, {});
    REQUIRE(!r.ok());
    CHECK_EQ(r.status().message(), std::string("sampler: all logits are -inf or NaN"));
    CHECK(r.status().code() == kvmix::ErrorCode::invalid_argument);
    Sampler g(all_off(0.0f), 5);
    CHECK_EQ(g.sample(std::vector<float>(5, kNaN), {}).status().message(),
             std::string("sampler: all logits are -inf or NaN"));
    // +inf tokens take all the mass, shared equally.
    const auto freq = empirical(s, {1e30f, kInf, 5, kInf, kNaN}, {}, 20000);
    CHECK_EQ(freq[0] + freq[2] + freq[4], 0.0);
    CHECK_CLOSE(freq[1], 0.5, 0.02);
    // A NaN in the repeat window's token stays masked after the penalty.
    p.repeat_penalty = 2.0f;
    Sampler pen(p, 3);
    for (int i = 0; i < 200; ++i) CHECK_EQ(*pen.sample(std::vector<float>{kNaN, 1, -kInf}, std::vector<int32_t>{0, 2}), 1);
}

TEST_CASE("262144-entry vocabulary (performance sanity, no timing assertion)") {
    const int32_t n = 262144;
    kvmix::SamplerRng gen(2024);
    std::vector<float> logits(n);
    // Roughly normal logits (sum of uniforms), a few strong candidates on top.
    for (auto& l : logits) {
        double acc = 0;
        for (int j = 0; j < 4; ++j) acc += gen.next_double();
        l = static_cast<float>((acc - 2.0) * 3.0);
    }
    for (int j = 0; j < 20; ++j) logits[gen.next_u64() % n] = 9.0f + static_cast<float>(j) * 0.1f;
    std::vector<int32_t> recent;
    for (int j = 0; j < 64; ++j) recent.push_back(static_cast<int32_t>(gen.next_u64() % n));

    struct Config {
        const char* name;
        SamplerParams p;
    };
    std::vector<Config> configs;
    configs.push_back({"defaults (k40 p0.95 min_p0.05, penalty 1.1)", SamplerParams{}});
    configs.back().p.repeat_penalty = 1.1f;
    configs.push_back({"greedy", all_off(0.0f)});
    configs.push_back({"all off, T=1", all_off(1.0f)});
    configs.push_back({"top-p 0.95 only", all_off(1.0f)});
    configs.back().p.top_p = 0.95f;
    configs.push_back({"top-p 0.95 + min-p 0.05", all_off(1.0f)});
    configs.back().p.top_p = 0.95f;
    configs.back().p.min_p = 0.05f;
    configs.push_back({"top-p 0.999 (deep tail)", all_off(1.0f)});
    configs.back().p.top_p = 0.999f;
    for (const auto& c : configs) {
        Sampler s(c.p, n);
        const auto want = reference_probs(logits, c.p, recent);
        const int iters = 5;
        const auto t0 = std::chrono::steady_clock::now();
        for (int i = 0; i < iters; ++i) {
            auto t = s.sample(logits, recent);
            REQUIRE_OK(t);
            REQUIRE(*t >= 0 && *t < n);
            CHECK(want[static_cast<size_t>(*t)] > 0.0);  // only tokens the reference keeps
        }
        const double ms =
            std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count() / iters;
        std::printf("    %-44s %8.3f ms/token\n", c.name, ms);
    }
}

KVMIX_TEST_MAIN()
