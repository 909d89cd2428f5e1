// The device self-check (runtime/device-check.h): its comparison on hand-made logits, and
// the whole check on two CPU sessions of the tiny Llama standing in for CPU and GPU — an
// fp32 and an fp16 cache (honest numerical differences) must pass; a candidate whose
// logits were tampered with (a shifted row, a scaled row, one NaN) must fail, as a GPU
// returning them would, so the app falls back to the CPU.
#include <cmath>
#include <cstdio>
#include <limits>

#include "check.h"
#include "model/model.h"
#include "backend/device.h"
#include "runtime/device-check.h"
#include "runtime/session.h"

using namespace kvmix;

namespace {

std::shared_ptr<const Model> tiny() {
    auto m = Model::load(kvmix_test::data_dir() + "/models/tiny-llama-q8_0.gguf");
    if (!m) {
        std::fprintf(stderr, "%s\n", m.status().message().c_str());
        return nullptr;
    }
    return *m;
}

std::unique_ptr<Session> session(std::shared_ptr<const Model> m, KvCacheType kv) {
    SessionConfig cfg;
    cfg.n_ctx = 128;
    cfg.n_batch = 16;  // the 40-token prompt runs in three chunks
    cfg.n_threads = 2;
    cfg.kv_cache = kv;
    auto s = Session::create(std::move(m), cfg);
    return s ? std::move(s).value() : nullptr;
}

std::vector<int32_t> prompt(int32_t n_vocab) {
    std::vector<int32_t> t;
    for (int i = 0; i < 40; ++i) t.push_back(static_cast<int32_t>((i * 7919 + 13) % n_vocab));
    return t;
}

// Three rows of five logits with clear winners (margins 2, 1, 0.1).
std::vector<float> rows() { return {3, 1, 0, -1, 0.5f, 0, 2, 1, 0, 0, 0.1f, 0, -2, -1, 0}; }

}  // namespace

TEST_CASE("compare_logits: identical and slightly different logits pass") {
    const std::vector<float> ref = rows();
    DeviceCheckReport r = compare_logits(ref, ref, 5);
    CHECK(r.passed);
    CHECK(r.positions == 3);
    CHECK(r.decisive == 2);  // the third row's gap 0.1 is below the 0.5 margin
    CHECK(r.top1_agree == 2);
    CHECK(r.max_abs_diff == 0);
    std::vector<float> near = ref;
    near[1] += 0.2f;
    near[12] += 0.24f;
    r = compare_logits(ref, near, 5);
    CHECK(r.passed);
    CHECK_CLOSE(r.max_abs_diff, 0.24, 1e-6);
    CHECK(r.worst_position == 2);
}

TEST_CASE("compare_logits: a changed winner, a large difference, NaN and a size mismatch fail") {
    const std::vector<float> ref = rows();
    std::vector<float> flipped = ref;
    flipped[7] = 2.2f;  // row 1: token 2 now beats token 1 (moved by 1.2)
    DeviceCheckReport r = compare_logits(ref, flipped, 5, {.max_abs_diff = 10, .top1_margin = 0.5});
    CHECK(!r.passed);
    CHECK(r.top1_agree == 1);
    CHECK(r.summary.find("top-1 token differs at position 1") != std::string::npos);

    std::vector<float> far = ref;
    far[13] += 0.3f;  // no winner changes, but beyond the 0.25 bound
    r = compare_logits(ref, far, 5);
    CHECK(!r.passed);
    CHECK(r.worst_position == 2);
    CHECK(r.summary.find("exceeds the bound") != std::string::npos);

    std::vector<float> nan = ref;
    nan[9] = std::numeric_limits<float>::quiet_NaN();
    r = compare_logits(ref, nan, 5);
    CHECK(!r.passed);
    CHECK(r.summary.find("non-finite logits at position 1") != std::string::npos);

    r = compare_logits(ref, std::span<const float>(ref).first(10), 5);
    CHECK(!r.passed);
    CHECK(r.summary.find("returned 10 logits where the reference has 15") != std::string::npos);
}

TEST_CASE("device check: fp32 vs fp16 cache passes, and differs by more than nothing") {
    auto m = tiny();
    REQUIRE(m);
    auto ref = session(m, KvCacheType::f32);
    auto cand = session(m, KvCacheType::f16);
    REQUIRE(ref && cand);
    auto r = run_device_check(*ref, *cand, prompt(static_cast<int32_t>(m->hparams().n_vocab)), 4);
    REQUIRE(r.ok());
    std::printf("fp32 vs fp16 cache: %s\n", r->summary.c_str());
    CHECK(r->passed);
    CHECK(r->positions == 44);  // 40 prompt rows + 4 decode steps
    CHECK(r->max_abs_diff > 0);
    CHECK(ref->n_past() == 44 && cand->n_past() == 44);
}

TEST_CASE("device check: a tampered candidate fails (the app's fallback to the CPU)") {
    auto m = tiny();
    REQUIRE(m);
    const int64_t n_vocab = m->hparams().n_vocab;
    const auto ids = prompt(static_cast<int32_t>(n_vocab));
    struct Tamper {
        const char* what;
        std::function<void(std::vector<float>&)> edit;
    };
    const std::vector<Tamper> tampers = {
        // Stale memory: every prefill row holds the previous position's logits.
        {"rows shifted by one position",
         [n_vocab](std::vector<float>& l) {
             if (l.size() > static_cast<size_t>(n_vocab))
                 std::copy_backward(l.begin(), l.end() - n_vocab, l.end());
         }},
        // A wrong scale somewhere in the last layer: logits 10% too large.
        {"logits scaled by 1.1", [](std::vector<float>& l) { for (float& x : l) x *= 1.1f; }},
        {"one NaN", [](std::vector<float>& l) { l[l.size() / 2] = std::numeric_limits<float>::quiet_NaN(); }},
    };
    for (const Tamper& t : tampers) {
        auto ref = session(m, KvCacheType::f16);
        auto cand = session(m, KvCacheType::f16);
        REQUIRE(ref && cand);
        auto r = run_device_check(*ref, *cand, ids, 2, {}, t.edit);
        REQUIRE(r.ok());
        std::printf("%s: %s\n", t.what, r->summary.c_str());
        CHECK(!r->passed);
    }
    // The same sessions without tampering: identical computations, identical logits.
    auto ref = session(m, KvCacheType::f16);
    auto cand = session(m, KvCacheType::f16);
    auto r = run_device_check(*ref, *cand, ids, 2);
    REQUIRE(r.ok());
    CHECK(r->passed);
    CHECK(r->max_abs_diff == 0);
}

TEST_CASE("device check: refuses used sessions, an empty prompt and two models") {
    auto m = tiny();
    REQUIRE(m);
    auto a = session(m, KvCacheType::f16);
    auto b = session(m, KvCacheType::f16);
    REQUIRE(a && b);
    CHECK(!run_device_check(*a, *b, {}).ok());
    const std::vector<int32_t> one = {1};
    REQUIRE(a->eval(one).ok());
    auto r = run_device_check(*a, *b, one);
    CHECK(!r.ok());
    CHECK(r.status().message().find("two empty sessions") != std::string::npos);
    auto other = tiny();
    REQUIRE(other);
    auto c = session(other, KvCacheType::f16);
    REQUIRE(c);
    r = run_device_check(*b, *c, one);
    CHECK(!r.ok());
    CHECK(r.status().message().find("one model") != std::string::npos);
}

TEST_CASE("check_gpu_against_cpu: an error without a usable GPU, a pass with one") {
    auto m = tiny();
    REQUIRE(m);
    const auto ids = prompt(static_cast<int32_t>(m->hparams().n_vocab));
    auto r = check_gpu_against_cpu(m, ids, SessionConfig{});
    if (!cuda_availability().available) {
        CHECK(!r.ok());  // not a failed comparison: the GPU session cannot exist
        CHECK(!r.status().message().empty());
    } else {
        REQUIRE(r.ok());
        CHECK(r->passed);
        CHECK(r->positions == 44);
    }
}

KVMIX_TEST_MAIN()
