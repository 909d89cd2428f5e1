// The forward pass against Hugging Face transformers (float32, eager attention) on every
// tiny fixture: last-position logits and 64 greedy tokens, once with the fp32 KV cache
// (exact comparison) and once with the default fp16 cache. Goldens come from
// tests/tools/gen-tiny-models.py; GGUF entries used that file's own dequantized weights.
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <fstream>
#include <nlohmann/json.hpp>

#include "check.h"
#include "model/model.h"
#include "runtime/session.h"

using namespace kvmix;

namespace {

// Tolerances (max |logit diff| at the last prompt position).
//
// fp32 KV cache: nothing is rounded on purpose; what is left is fp32 summation order (SIMD
// matmul/attention vs torch) and the weights' own dequantization, which the goldens share
// (GGUF fixtures were run in transformers on our dequantized weights). The bound is per
// weight type, the loosest type among the model's tensors. Measured (AVX2, 2 threads):
//   F32 / F16 / BF16   1e-3  (the contract of this mode; measured ≤ 5.6e-5)
//   Q8_0               1e-3  (measured ≤ 5.3e-5: x stays fp32 in matmul, as the goldens)
//   K-quants           1e-3  (Q4_K fixture with Q6_K tensors; measured ≤ 6.3e-5)
// A matmul that quantized activations (q8 dot products) would break the quantized bounds
// first, by design: it is a deliberate difference from the reference to be stated here.
// fp16 KV cache: keys/values rounded to 11 significant bits. That rounding alone moves the
// reference logits by up to 2e-3 (measured by rounding k_proj/v_proj outputs to fp16 in
// transformers), and measures up to 7.6e-3 here (Gemma 3 BF16; 2.6e-3 to 5.5e-3 elsewhere).
constexpr double kLogitTolFp16Cache = 1e-2;
// Greedy steps are compared where the reference's top-2 margin exceeds this (twice the
// logit bound: below it the reference itself is a near tie). Every step then feeds the
// reference's token, so one near tie does not end the comparison of the 64 steps.
constexpr double kMarginForGreedyF32 = 2e-3;
constexpr double kMarginForGreedyF16 = 2e-2;

double f32_cache_tolerance(TensorType t) {
    switch (t) {
        case TensorType::f32:
        case TensorType::f16:
        case TensorType::bf16: return 1e-3;
        case TensorType::q8_0: return 1e-3;
        default: return 1e-3;  // K-quants (Q4_K models carry Q6_K tensors too)
    }
}

// The loosest fp32-cache bound over the model's weight tensors.
double f32_cache_tolerance(const Model& m) {
    double tol = 0;
    for (const TensorView& t : m.file().tensors()) tol = std::max(tol, f32_cache_tolerance(t.type));
    return tol;
}

int argmax(const std::vector<float>& v) {
    int best = 0;
    for (size_t i = 1; i < v.size(); ++i)
        if (v[i] > v[best]) best = static_cast<int>(i);
    return best;
}

}  // namespace

TEST_CASE("forward: logits and greedy tokens match transformers on every fixture (fp32 and fp16 KV cache)") {
    const std::string dir = kvmix_test::data_dir() + "/models";
    std::ifstream in(dir + "/logit-goldens.json");
    REQUIRE(in.good());
    const auto goldens = nlohmann::json::parse(in);
    int fixtures = 0;
    for (const auto& [name, fx] : goldens["fixtures"].items()) {
        auto model = Model::load(dir + "/" + name);
        CHECK_OK(model);
        if (!model) continue;
        const double tol_f32 = f32_cache_tolerance(**model);
        for (const KvCacheType cache : {KvCacheType::f32, KvCacheType::f16}) {
            const bool f32 = cache == KvCacheType::f32;
            const double tol = f32 ? tol_f32 : kLogitTolFp16Cache;
            double worst = 0;
            int prompt_index = 0;
            for (const auto& pr : fx["prompts"]) {
                const auto ids = pr["prompt_ids"].get<std::vector<int32_t>>();
                const auto want = pr["logits"].get<std::vector<double>>();
                // Odd chunk sizes exercise chunked prefill attending to earlier chunks via the cache.
                SessionConfig cfg;
                cfg.n_ctx = 256;
                cfg.n_batch = prompt_index == 0 ? 7 : 64;
                cfg.n_threads = 2;
                cfg.kv_cache = cache;
                auto session = Session::create(*model, cfg);
                REQUIRE_OK(session);
                std::vector<float> logits;
                REQUIRE_OK((*session)->eval(ids, &logits));
                REQUIRE(logits.size() == want.size());
                double max_diff = 0;
                for (size_t i = 0; i < want.size(); ++i) max_diff = std::max(max_diff, std::fabs(logits[i] - want[i]));
                worst = std::max(worst, max_diff);
                if (!(max_diff <= tol))
                    std::printf("  %s %s cache prompt %d: max |logit diff| %.3g > %.3g\n", name.c_str(), f32 ? "f32" : "f16",
                                prompt_index, max_diff, tol);
                CHECK(max_diff <= tol);

                const auto greedy = pr["greedy"].get<std::vector<int32_t>>();
                const auto margins = pr["margins"].get<std::vector<double>>();
                const double min_margin = f32 ? kMarginForGreedyF32 : kMarginForGreedyF16;
                int compared = 0;
                for (size_t step = 0; step < greedy.size(); ++step) {
                    if (margins[step] >= min_margin) {
                        CHECK_EQ(argmax(logits), greedy[step]);
                        ++compared;
                    }
                    const int32_t tok[1] = {greedy[step]};
                    REQUIRE_OK((*session)->eval(tok, &logits));
                }
                if (f32) CHECK(compared >= static_cast<int>(greedy.size()) - 4);  // near ties are rare
                ++prompt_index;
            }
            std::printf("  %-26s %s cache: max |logit diff| %.3g (bound %.0e)\n", name.c_str(), f32 ? "f32" : "f16", worst, tol);
        }
        ++fixtures;
    }
    CHECK(fixtures >= 8);
}

KVMIX_TEST_MAIN()
