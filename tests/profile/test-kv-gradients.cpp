// Whole-model ‖∂L/∂W_k(i)‖_F and ‖∂L/∂W_v(i)‖_F on the tiny fixtures against PyTorch float64
// autograd goldens (tests/tools/gen-grad-goldens.py): relative error <= 1e-3 per layer,
// and the loss within 1e-4 relative. The fixtures cover GQA, llama3 RoPE scaling, the
// sliding window (sequence 40 > window 16), QK-norm, sandwich norms, GeGLU and (a Gemma 3
// copy with a modified config.json) the final logit soft-cap.
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>
#include <unistd.h>

#include <nlohmann/json.hpp>

#include "check.h"
#include "model/model.h"
#include "profile/kv-gradients.h"
#include "runtime/session.h"

using namespace kvmix;

namespace {

nlohmann::json goldens() {
    std::ifstream in(kvmix_test::data_dir() + "/grad-goldens.json");
    return nlohmann::json::parse(in);
}

void check_fixture(const std::string& name, int n_threads, const std::string& dir = {}) {
    const auto g = goldens()["fixtures"][name];
    auto model = Model::load(dir.empty() ? kvmix_test::data_dir() + "/models/" + name : dir);
    REQUIRE_OK(model);
    CpuBackend be(n_threads);
    const std::vector<int32_t> tokens = g["tokens"].get<std::vector<int32_t>>();
    auto r = kv_gradient_norms(**model, be, tokens);
    REQUIRE_OK(r);
    CHECK_EQ(r->n_predicted, static_cast<int64_t>(tokens.size()) - 1);
    const double want_loss = g["loss"].get<double>();
    CHECK(std::fabs(r->loss - want_loss) <= 1e-4 * want_loss);
    const auto k = g["k_norm"].get<std::vector<double>>(), v = g["v_norm"].get<std::vector<double>>();
    REQUIRE(r->k.size() == k.size() && r->v.size() == v.size());
    double worst = 0;
    for (size_t i = 0; i < k.size(); ++i) {
        const double ek = std::fabs(r->k[i] - k[i]) / k[i], ev = std::fabs(r->v[i] - v[i]) / v[i];
        if (ek > 1e-3 || ev > 1e-3)
            std::fprintf(stderr, "%s layer %zu: k %.8g vs %.8g (rel %.2e), v %.8g vs %.8g (rel %.2e)\n", name.c_str(), i,
                         r->k[i], k[i], ek, r->v[i], v[i], ev);
        worst = std::max({worst, ek, ev});
        CHECK(ek <= 1e-3);
        CHECK(ev <= 1e-3);
    }
    std::printf("%s: loss %.6f (golden %.6f), worst relative error of a gradient norm %.2e\n", name.c_str(), r->loss,
                want_loss, worst);
}

}  // namespace

TEST_CASE("llama GQA gradient norms match PyTorch") { check_fixture("tiny-llama-bf16-sharded", 2); }
TEST_CASE("llama3 RoPE scaling gradient norms match PyTorch") { check_fixture("tiny-llama3-f32", 1); }
TEST_CASE("mistral sliding window gradient norms match PyTorch") { check_fixture("tiny-mistral-f16", 2); }
TEST_CASE("gemma3 gradient norms match PyTorch") { check_fixture("tiny-gemma3-bf16", 3); }

TEST_CASE("gemma3 with a final logit soft-cap matches PyTorch") {
    // The same copy of the fixture the golden script makes: config.json with the soft-cap.
    namespace fs = std::filesystem;
    const fs::path dir = fs::temp_directory_path() / ("kvmix-test-softcap-" + std::to_string(::getpid()));
    fs::remove_all(dir);
    fs::copy(kvmix_test::data_dir() + "/models/tiny-gemma3-bf16", dir, fs::copy_options::recursive);
    nlohmann::json cfg;
    {
        std::ifstream in(dir / "config.json");
        cfg = nlohmann::json::parse(in);
    }
    const nlohmann::json g = goldens();
    for (const auto& [k, v] : g["fixtures"]["tiny-gemma3-bf16+softcap"]["config_overrides"].items()) cfg[k] = v;
    {
        std::ofstream out(dir / "config.json", std::ios::trunc);
        out << cfg.dump();
    }
    check_fixture("tiny-gemma3-bf16+softcap", 2, dir.string());
    fs::remove_all(dir);
}

// Qwen2's Q/K/V biases and Qwen3's QK-norm in the gradient pass's forward: its loss must equal
// the cross-entropy of the inference forward's logits (which match transformers on these
// fixtures, tests/model/test-forward-goldens.cpp). The weight gradients follow from those
// activations; biases have no gradient term of their own in ∂L/∂W.
TEST_CASE("qwen2 biases and qwen3 QK-norm: the gradient pass sees the forward pass's values") {
    for (const char* name : {"tiny-qwen2-bf16", "tiny-qwen3-bf16", "tiny-qwen2-q8_0.gguf"}) {
        auto model = Model::load(kvmix_test::data_dir() + "/models/" + name);
        REQUIRE_OK(model);
        std::vector<int32_t> tokens;
        for (int32_t i = 0; i < 40; ++i) tokens.push_back(3 + (i * 37) % 500);
        CpuBackend be(2);
        auto r = kv_gradient_norms(**model, be, tokens);
        REQUIRE_OK(r);
        SessionConfig cfg;
        cfg.n_ctx = 64;
        cfg.n_threads = 2;
        cfg.kv_cache = KvCacheType::f32;
        auto session = Session::create(*model, cfg);
        REQUIRE_OK(session);
        std::vector<float> all;
        REQUIRE_OK((*session)->eval(tokens, nullptr, &all));
        const int64_t V = (*model)->hparams().n_vocab;
        double loss = 0;
        for (size_t t = 0; t + 1 < tokens.size(); ++t) {
            const float* row = all.data() + static_cast<int64_t>(t) * V;
            const double m = *std::max_element(row, row + V);
            double sum = 0;
            for (int64_t i = 0; i < V; ++i) sum += std::exp(row[i] - m);
            loss += m + std::log(sum) - row[tokens[t + 1]];
        }
        loss /= static_cast<double>(tokens.size() - 1);
        std::printf("%s: gradient-pass loss %.6f, forward loss %.6f\n", name, r->loss, loss);
        CHECK(std::fabs(r->loss - loss) <= 1e-4 * loss);
        for (size_t i = 0; i < r->k.size(); ++i) CHECK(r->k[i] > 0 && r->v[i] > 0 && std::isfinite(r->k[i]) && std::isfinite(r->v[i]));
    }
}

// Activations kept from the forward or recomputed per layer (any budget, including a budget
// that keeps only the last layers) must give bit-identical results: same kernels, same order.
TEST_CASE("kept and recomputed layer activations give identical gradient norms") {
    for (const char* name : {"tiny-llama-bf16-sharded", "tiny-gemma3-bf16", "tiny-qwen3-bf16"}) {
        auto model = Model::load(kvmix_test::data_dir() + "/models/" + name);
        REQUIRE_OK(model);
        std::vector<int32_t> tokens;
        for (int32_t i = 0; i < 40; ++i) tokens.push_back(3 + (i * 37) % 500);
        CpuBackend be(2);
        auto all = kv_gradient_norms(**model, be, tokens);
        REQUIRE_OK(all);
        for (size_t budget : {size_t{0}, size_t{40} << 10, size_t{160} << 10}) {
            auto r = kv_gradient_norms(**model, be, tokens, nullptr, budget);
            REQUIRE_OK(r);
            CHECK(r->loss == all->loss);
            CHECK(r->k == all->k);
            CHECK(r->v == all->v);
        }
    }
}

TEST_CASE("the gradient pass rejects short sequences and bad ids") {
    auto model = Model::load(kvmix_test::data_dir() + "/models/tiny-llama-bf16-sharded");
    REQUIRE_OK(model);
    CpuBackend be(1);
    const std::vector<int32_t> one{5};
    CHECK(!kv_gradient_norms(**model, be, one).ok());
    const std::vector<int32_t> bad{5, 100000};
    CHECK(!kv_gradient_norms(**model, be, bad).ok());
    std::atomic<bool> cancel{true};
    const std::vector<int32_t> ok{5, 6, 7};
    auto r = kv_gradient_norms(**model, be, ok, &cancel);
    REQUIRE(!r.ok());
    CHECK(r.status().code() == ErrorCode::cancelled);
}

KVMIX_TEST_MAIN()
