// The forward pass against Hugging Face transformers (float32, eager attention) on every
// tiny fixture: last-position logits and 16 greedy tokens. Goldens come from
// tests/tools/gen-tiny-models.py; GGUF entries used that file's own dequantized weights.
#include <cmath>
#include <fstream>
#include <nlohmann/json.hpp>

#include "check.h"
#include "model/model.h"
#include "runtime/session.h"

using namespace kvmix;

namespace {

// Tolerances (max |logit diff| at the last prompt position). The only deliberate difference
// from the reference is the fp16 KV cache (keys/values rounded to 11 significant bits);
// everything else is fp32. That rounding alone moves the reference logits by up to 2e-3
// (measured by rounding k_proj/v_proj outputs to fp16 in transformers).
constexpr double kLogitTol = 1e-2;
// Greedy tokens are compared only while the reference's top-2 margin exceeds this.
constexpr double kMarginForGreedy = 0.05;

int argmax(const std::vector<float>& v) {
    int best = 0;
    for (size_t i = 1; i < v.size(); ++i)
        if (v[i] > v[best]) best = static_cast<int>(i);
    return best;
}

}  // namespace

TEST_CASE("forward: logits and greedy tokens match transformers on every fixture") {
    const std::string dir = kvmix_test::data_dir() + "/models";
    std::ifstream in(dir + "/logit-goldens.json");
    REQUIRE(in.good());
    const auto goldens = nlohmann::json::parse(in);
    int fixtures = 0;
    for (const auto& [name, fx] : goldens["fixtures"].items()) {
        auto model = Model::load(dir + "/" + name);
        CHECK_OK(model);
        if (!model) continue;
        int prompt_index = 0;
        for (const auto& pr : fx["prompts"]) {
            const auto ids = pr["prompt_ids"].get<std::vector<int32_t>>();
            const auto want = pr["logits"].get<std::vector<double>>();
            // Odd chunk sizes exercise chunked prefill attending to earlier chunks via the cache.
            SessionConfig cfg;
            cfg.n_ctx = 256;
            cfg.n_batch = prompt_index == 0 ? 7 : 64;
            cfg.n_threads = 2;
            auto session = Session::create(*model, cfg);
            REQUIRE_OK(session);
            std::vector<float> logits;
            REQUIRE_OK((*session)->eval(ids, &logits));
            REQUIRE(logits.size() == want.size());
            double max_diff = 0;
            for (size_t i = 0; i < want.size(); ++i) max_diff = std::max(max_diff, std::fabs(logits[i] - want[i]));
            if (max_diff > kLogitTol) std::printf("  %s prompt %d: max |logit diff| %.3g\n", name.c_str(), prompt_index, max_diff);
            CHECK(max_diff <= kLogitTol);

            const auto greedy = pr["greedy"].get<std::vector<int32_t>>();
            const auto margins = pr["margins"].get<std::vector<double>>();
            for (size_t step = 0; step < greedy.size(); ++step) {
                if (margins[step] < kMarginForGreedy) break;  // the reference itself is a near tie
                const int32_t next = argmax(logits);
                CHECK_EQ(next, greedy[step]);
                if (next != greedy[step]) break;
                const int32_t tok[1] = {next};
                REQUIRE_OK((*session)->eval(tok, &logits));
            }
            ++prompt_index;
        }
        ++fixtures;
    }
    CHECK(fixtures >= 8);
}

KVMIX_TEST_MAIN()
