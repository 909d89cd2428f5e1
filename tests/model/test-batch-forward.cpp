// Multi-sequence batching on the CPU (model/transformer-forward.h): every fixture's golden
// prompts in one batch match transformers' logits and greedy tokens (fp32 cache); three
// sequences of different lengths in one forward pass give the logits of three separate
// sessions, for prefill and the following batched decode steps, with the fp16 and the
// KVmix cache.
#include <algorithm>
#include <cmath>
#include <fstream>
#include <memory>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "check.h"
#include "model/model.h"
#include "model/transformer-forward.h"
#include "runtime/kv-profile.h"
#include "runtime/kvmix-kv-cache.h"
#include "runtime/session.h"

using namespace kvmix;

namespace {

std::shared_ptr<const Model> load(const std::string& name) {
    auto m = Model::load(kvmix_test::data_dir() + "/models/" + name);
    if (!m) return nullptr;
    return *m;
}

size_t argmax(const float* x, int64_t n) { return static_cast<size_t>(std::max_element(x, x + n) - x); }

double max_abs_diff(const float* a, const float* b, int64_t n) {
    double m = 0;
    for (int64_t i = 0; i < n; ++i) m = std::max(m, std::fabs(static_cast<double>(a[i]) - b[i]));
    return m;
}

double max_abs(const float* a, int64_t n) {
    double m = 0;
    for (int64_t i = 0; i < n; ++i) m = std::max(m, std::fabs(static_cast<double>(a[i])));
    return m;
}

// kv_bits 16: the fp16 cache; else a uniform KVmix profile with small windows, so decode
// quantizes groups within the test.
void check_batch_equals_separate(const std::string& fixture, int k_bits, int v_bits) {
    auto model = load(fixture);
    REQUIRE(model != nullptr);
    const ModelHParams& hp = model->hparams();
    KvProfile profile;
    if (k_bits != 16) {
        profile = uniform_kv_profile(hp.n_layer, k_bits, v_bits);
        profile.window_min = 8;
        profile.window_max = 16;
    }
    const int64_t V = hp.n_vocab;
    const std::vector<std::vector<int32_t>> prompts = {
        {1, 17, 42, 99, 5, 300, 7, 8, 250, 11, 64, 3}, {1, 400, 2, 33}, {1, 5, 6, 7, 8, 9, 10, 200, 201, 202, 203, 204, 205, 206, 207, 208, 209, 210, 211, 212, 100, 101, 102, 103, 104, 105, 106, 107, 108, 109, 110, 111, 112, 113, 114, 115, 116, 117, 118, 119, 120}};
    const int steps = 40;  // decode long enough for the KVmix cache to quantize groups
    const int64_t n_ctx = 128;

    // Separate sessions: prompt in one pass, then greedy tokens one at a time.
    std::vector<std::vector<std::vector<float>>> want(prompts.size());
    std::vector<std::vector<int32_t>> fed(prompts.size());
    for (size_t s = 0; s < prompts.size(); ++s) {
        SessionConfig cfg;
        cfg.n_ctx = n_ctx;
        cfg.n_batch = 64;
        cfg.n_threads = 2;
        cfg.kv_profile = profile;
        auto sess = Session::create(model, cfg);
        REQUIRE(sess.ok());
        std::vector<float> logits;
        REQUIRE_OK((*sess)->eval(prompts[s], &logits));
        want[s].push_back(logits);
        for (int i = 0; i < steps; ++i) {
            const auto next = static_cast<int32_t>(argmax(logits.data(), V));
            fed[s].push_back(next);
            REQUIRE_OK((*sess)->eval(std::vector<int32_t>{next}, &logits));
            want[s].push_back(logits);
        }
    }

    // One batch: all prompts in one pass, then every step all three sequences together,
    // fed the tokens the separate runs chose.
    std::vector<std::unique_ptr<KvCache>> caches;
    for (size_t s = 0; s < prompts.size(); ++s) {
        auto c = profile.layers.empty() ? make_kv_cache(KvCacheType::f16, model->kv_shapes(), n_ctx)
                                        : make_kvmix_kv_cache(model->kv_shapes(), profile, n_ctx, 64);
        REQUIRE(c.ok());
        caches.push_back(std::move(*c));
    }
    CpuBackend backend(2);
    ForwardScratch scratch(hp, 128);
    std::vector<std::vector<float>> got(prompts.size(), std::vector<float>(static_cast<size_t>(V)));
    std::vector<BatchSequence> batch(prompts.size());
    for (size_t s = 0; s < prompts.size(); ++s) batch[s] = {caches[s].get(), prompts[s], 1, got[s].data()};
    double worst = 0.0;
    int argmax_breaks = 0;
    for (int step = 0; step <= steps; ++step) {
        REQUIRE_OK(batch_forward(*model, backend, batch, scratch));
        for (size_t s = 0; s < prompts.size(); ++s) {
            const std::vector<float>& w = want[s][static_cast<size_t>(step)];
            worst = std::max(worst, max_abs_diff(got[s].data(), w.data(), V) / std::max(1e-6, max_abs(w.data(), V)));
            argmax_breaks += argmax(got[s].data(), V) != argmax(w.data(), V) ? 1 : 0;
        }
        if (step == steps) break;
        for (size_t s = 0; s < prompts.size(); ++s) batch[s].tokens = std::span<const int32_t>(&fed[s][static_cast<size_t>(step)], 1);
    }
    for (size_t s = 0; s < prompts.size(); ++s)
        CHECK_EQ(caches[s]->size(), static_cast<int64_t>(prompts[s].size()) + steps);
    std::printf("  %s (%s): worst relative logit difference %.3g, argmax differences %d\n", fixture.c_str(),
                profile.name.c_str(), worst, argmax_breaks);
    // Prefill rows are computed alike; single-token decode differs from 3-row decode only by
    // the CPU matmul's activation quantization for one row (kernels/cpu/matmul.cpp).
    CHECK(worst < 2e-2);
    CHECK_EQ(argmax_breaks, 0);
}

}  // namespace

TEST_CASE("batch forward: 3 sequences in one pass equal 3 separate sessions (fp16 cache)") {
    check_batch_equals_separate("tiny-llama-q8_0.gguf", 16, 16);
    check_batch_equals_separate("tiny-gemma3-q8_0.gguf", 16, 16);
    check_batch_equals_separate("tiny-qwen2-q8_0.gguf", 16, 16);  // Q/K/V biases over all rows
    check_batch_equals_separate("tiny-qwen3-q8_0.gguf", 16, 16);  // QK-norm, head_dim != n_embd / n_head
}

TEST_CASE("batch forward: 3 sequences in one pass equal 3 separate sessions (KVmix k2v4 cache)") {
    check_batch_equals_separate("tiny-llama256-q4_k.gguf", 2, 4);
    check_batch_equals_separate("tiny-gemma3-q8_0.gguf", 3, 8);
}

// Against the truth, not against ourselves: both golden prompts of every fixture in ONE
// batch with fp32 caches, then 64 batched decode steps fed transformers' greedy tokens.
// Bounds are test-forward-goldens.cpp's: 1e-3 on the prompt logits (fp32 summation order
// is all that differs), and the greedy token wherever transformers' top-2 margin is at
// least twice that.
TEST_CASE("batch forward: every fixture's prompts in one batch match transformers (fp32 cache)") {
    const std::string dir = kvmix_test::data_dir() + "/models";
    std::ifstream in(dir + "/logit-goldens.json");
    REQUIRE(in.good());
    const auto goldens = nlohmann::json::parse(in);
    int fixtures = 0;
    for (const auto& [name, fx] : goldens["fixtures"].items()) {
        auto model = load(name);
        REQUIRE(model != nullptr);
        const int64_t V = model->hparams().n_vocab;
        const size_t n = fx["prompts"].size();
        REQUIRE(n >= 2);
        std::vector<std::vector<int32_t>> prompts, greedy;
        std::vector<std::vector<double>> want, margins;
        int64_t total = 0;
        for (const auto& pr : fx["prompts"]) {
            prompts.push_back(pr["prompt_ids"].get<std::vector<int32_t>>());
            want.push_back(pr["logits"].get<std::vector<double>>());
            greedy.push_back(pr["greedy"].get<std::vector<int32_t>>());
            margins.push_back(pr["margins"].get<std::vector<double>>());
            total += static_cast<int64_t>(prompts.back().size());
        }
        std::vector<std::unique_ptr<KvCache>> caches;
        for (size_t s = 0; s < n; ++s) {
            auto c = make_kv_cache(KvCacheType::f32, model->kv_shapes(), 256);
            REQUIRE(c.ok());
            caches.push_back(std::move(*c));
        }
        CpuBackend backend(2);
        ForwardScratch scratch(model->hparams(), total);
        std::vector<std::vector<float>> got(n, std::vector<float>(static_cast<size_t>(V)));
        std::vector<BatchSequence> batch(n);
        for (size_t s = 0; s < n; ++s) batch[s] = {caches[s].get(), prompts[s], 1, got[s].data()};
        REQUIRE_OK(batch_forward(*model, backend, batch, scratch));
        double worst = 0;
        for (size_t s = 0; s < n; ++s) {
            REQUIRE(want[s].size() == static_cast<size_t>(V));
            for (int64_t i = 0; i < V; ++i) worst = std::max(worst, std::fabs(got[s][static_cast<size_t>(i)] - want[s][static_cast<size_t>(i)]));
        }
        int compared = 0, steps = 0;
        const size_t n_steps = greedy[0].size();
        for (size_t step = 0; step < n_steps; ++step) {
            for (size_t s = 0; s < n; ++s) {
                if (margins[s][step] >= 2e-3) {
                    CHECK_EQ(static_cast<int32_t>(argmax(got[s].data(), V)), greedy[s][step]);
                    ++compared;
                }
                ++steps;
                batch[s].tokens = std::span<const int32_t>(&greedy[s][step], 1);
            }
            REQUIRE_OK(batch_forward(*model, backend, batch, scratch));
        }
        std::printf("  %-26s batch of %zu: max |logit diff| %.3g vs transformers, greedy %d/%d compared\n", name.c_str(), n, worst,
                    compared, steps);
        CHECK(worst <= 1e-3);
        CHECK(compared >= steps - 8);  // near ties are rare
        ++fixtures;
    }
    CHECK(fixtures >= 8);
}

TEST_CASE("batch forward: invalid tokens, a repeated cache or overflow leave every cache unchanged") {
    auto model = load("tiny-llama-q8_0.gguf");
    REQUIRE(model != nullptr);
    auto c1 = make_kv_cache(KvCacheType::f16, model->kv_shapes(), 8);
    auto c2 = make_kv_cache(KvCacheType::f16, model->kv_shapes(), 8);
    REQUIRE(c1.ok() && c2.ok());
    CpuBackend backend(1);
    ForwardScratch scratch(model->hparams(), 16);
    const std::vector<int32_t> ok = {1, 2, 3}, bad = {1, 99999}, long_seq(9, 5);
    std::vector<BatchSequence> b = {{(*c1).get(), ok, 0, nullptr}, {(*c2).get(), bad, 0, nullptr}};
    CHECK(!batch_forward(*model, backend, b, scratch).ok());
    b[1] = {(*c1).get(), ok, 0, nullptr};
    CHECK(!batch_forward(*model, backend, b, scratch).ok());
    b[1] = {(*c2).get(), long_seq, 0, nullptr};
    CHECK(!batch_forward(*model, backend, b, scratch).ok());
    CHECK_EQ((*c1)->size(), 0);
    CHECK_EQ((*c2)->size(), 0);
}

KVMIX_TEST_MAIN()
