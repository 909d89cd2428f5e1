// The calibration loop: caller sequences cut into windows and averaged, seeded
// self-generation (deterministic, banned tokens never sampled), progress and cancellation.
#include <atomic>
#include <cmath>
#include <vector>

#include "check.h"
#include "model/model.h"
#include "profile/importance.h"
#include "profile/kv-gradients.h"

using namespace kvmix;

namespace {

std::shared_ptr<const Model> tiny() { return Model::load(kvmix_test::data_dir() + "/models/tiny-gemma3-q8_0.gguf").value(); }

std::vector<int32_t> seq(int n, int32_t first) {
    std::vector<int32_t> s;
    for (int i = 0; i < n; ++i) s.push_back(static_cast<int32_t>((first + 37 * i) % 500 + 3));
    return s;
}

}  // namespace

TEST_CASE("scores are the mean over windows of the caller's sequences") {
    auto model = tiny();
    CalibrationConfig cc;
    cc.sequences = {seq(50, 1), seq(30, 2)};  // windows of 20: 20, 20, (10 dropped), 20, (10 dropped)
    cc.sources = {"conversations"};
    cc.max_len = 20;
    cc.min_len = 16;
    cc.n_threads = 2;
    int calls = 0;
    int64_t last_done = -1;
    auto p = analyze_importance(model, cc, [&](const CalibrationProgress& pr) {
        ++calls;
        CHECK(pr.done >= last_done || pr.done == 0);
        last_done = pr.done;
    });
    REQUIRE_OK(p);
    CHECK_EQ(p->calibration.n_sequences, int64_t{3});
    CHECK_EQ(p->calibration.n_tokens, int64_t{60});
    CHECK_EQ(p->calibration.seq_len, int64_t{20});
    CHECK(p->calibration.sources == std::vector<std::string>{"conversations"});
    CHECK_EQ(last_done, int64_t{3});
    CHECK(calls >= 4);
    CpuBackend be(1);
    const std::vector<std::vector<int32_t>> windows = {std::vector<int32_t>(cc.sequences[0].begin(), cc.sequences[0].begin() + 20),
                                                       std::vector<int32_t>(cc.sequences[0].begin() + 20, cc.sequences[0].begin() + 40),
                                                       std::vector<int32_t>(cc.sequences[1].begin(), cc.sequences[1].begin() + 20)};
    std::vector<double> k(6, 0.0), v(6, 0.0);
    for (const auto& w : windows) {
        auto g = kv_gradient_norms(*model, be, w);
        REQUIRE_OK(g);
        for (size_t i = 0; i < 6; ++i) {
            k[i] += g->k[i] / 3;
            v[i] += g->v[i] / 3;
        }
    }
    for (size_t i = 0; i < 6; ++i) {
        CHECK(std::fabs(p->k_scores[i] - k[i]) <= 1e-6 * k[i]);
        CHECK(std::fabs(p->v_scores[i] - v[i]) <= 1e-6 * v[i]);
    }
}

TEST_CASE("self-generation is seeded, starts with the prompt and never samples banned tokens") {
    auto model = tiny();
    CalibrationConfig cc;
    cc.n_generate = 3;
    cc.generate_len = 24;
    cc.start_prompts = {{2}, {2, 40, 41}};
    cc.banned_tokens = {1};
    cc.seed = 11;
    cc.n_threads = 1;
    auto a = self_generate(model, cc);
    auto b = self_generate(model, cc);
    REQUIRE_OK(a);
    REQUIRE_OK(b);
    CHECK(*a == *b);
    REQUIRE(a->size() == 3);
    CHECK((*a)[0][0] == 2 && (*a)[1][1] == 40 && (*a)[1][2] == 41 && (*a)[2].size() == 24);
    for (const auto& s : *a) {
        CHECK_EQ(s.size(), size_t{24});
        for (int32_t t : s) CHECK(t != 1);
    }
    cc.seed = 12;
    auto c = self_generate(model, cc);
    REQUIRE_OK(c);
    CHECK(*c != *a);
}

TEST_CASE("cancellation and empty calibration are errors") {
    auto model = tiny();
    CalibrationConfig cc;
    CHECK(!analyze_importance(model, cc).ok());
    cc.sequences = {seq(40, 3)};
    std::atomic<bool> stop{true};
    auto r = analyze_importance(model, cc, {}, &stop);
    REQUIRE(!r.ok());
    CHECK(r.status().code() == ErrorCode::cancelled);
    cc.n_generate = 1;
    cc.generate_len = 24;
    cc.start_prompts = {{2}};
    auto g = self_generate(model, cc, {}, &stop);
    REQUIRE(!g.ok());
    CHECK(g.status().code() == ErrorCode::cancelled);
}

KVMIX_TEST_MAIN()
