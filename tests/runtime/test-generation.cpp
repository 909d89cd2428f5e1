// The generation loop on a tiny fixture with its SentencePiece tokenizer: greedy tokens
// against transformers, the stop flag's latency, max tokens, stop strings, the context
// policies (error, truncate-middle, rolling window), cache reuse and seeded sampling.
#include <atomic>
#include <cstring>
#include <fstream>
#include <nlohmann/json.hpp>

#include "check.h"
#include "model/model.h"
#include "runtime/generation.h"
#include "runtime/kv-profile.h"
#include "tokenizer/tokenizer-loader.h"

using namespace kvmix;

namespace {

const char* kFixture = "tiny-llama-q8_0.gguf";

struct Fixture {
    std::shared_ptr<const Model> model;
    std::unique_ptr<Tokenizer> tok;
    nlohmann::json goldens;
};

Fixture load() {
    Fixture f;
    auto m = Model::load(kvmix_test::data_dir() + "/models/" + kFixture);
    if (!m) return f;
    f.model = *m;
    auto t = load_tokenizer(f.model->file());
    if (t) f.tok = std::move(t).value();
    std::ifstream in(kvmix_test::data_dir() + "/models/logit-goldens.json");
    f.goldens = nlohmann::json::parse(in)["fixtures"][kFixture];
    return f;
}

std::unique_ptr<Session> new_session(const Fixture& f, int64_t n_ctx, KvCacheType cache = KvCacheType::f16,
                                     int64_t n_batch = 32) {
    SessionConfig cfg;
    cfg.n_ctx = n_ctx;
    cfg.n_batch = n_batch;
    cfg.kv_cache = cache;
    cfg.n_threads = 2;
    auto s = Session::create(f.model, cfg);
    return s ? std::move(s).value() : nullptr;
}

GenerationParams greedy(int32_t n) {
    GenerationParams p;
    p.sampling.temperature = 0;
    p.max_tokens = n;
    p.stop_at_eog = false;
    return p;
}

}  // namespace

TEST_CASE("generation: greedy tokens match transformers") {
    Fixture f = load();
    REQUIRE(f.model && f.tok);
    const auto& pr = f.goldens["prompts"][1];
    const auto ids = pr["prompt_ids"].get<std::vector<int32_t>>();
    const auto want = pr["greedy"].get<std::vector<int32_t>>();
    const auto margins = pr["margins"].get<std::vector<double>>();
    size_t reliable = 0;
    while (reliable < want.size() && margins[reliable] > 0.05) ++reliable;
    auto s = new_session(f, 256);
    std::string streamed;
    auto r = generate(*s, *f.tok, ids, greedy(static_cast<int32_t>(reliable)), [&](std::string_view t) {
        streamed += t;
        return true;
    });
    REQUIRE_OK(r);
    CHECK(std::vector<int32_t>(want.begin(), want.begin() + reliable) == r->tokens);
    CHECK(r->reason == StopReason::max_tokens);
    CHECK_EQ(streamed, r->text);
    CHECK_EQ(r->text, f.tok->decode(r->tokens));
    CHECK_EQ(r->stats.prompt_tokens, static_cast<int64_t>(ids.size()));
    CHECK(reliable >= 4);
}

TEST_CASE("generation: the stop flag stops within one token") {
    Fixture f = load();
    REQUIRE(f.model && f.tok);
    const auto ids = f.goldens["prompts"][0]["prompt_ids"].get<std::vector<int32_t>>();
    std::atomic<bool> stop{true};
    auto s = new_session(f, 256);
    auto r = generate(*s, *f.tok, ids, greedy(20), {}, &stop);
    REQUIRE_OK(r);
    CHECK(r->reason == StopReason::cancelled);
    CHECK(r->tokens.empty());

    // Set from the text callback after the third token: exactly three tokens come out.
    stop = false;
    int calls = 0;
    auto s2 = new_session(f, 256);
    auto r2 = generate(*s2, *f.tok, ids, greedy(20), [&](std::string_view) {
        if (++calls == 3) stop = true;
        return true;
    }, &stop);
    REQUIRE_OK(r2);
    CHECK(r2->reason == StopReason::cancelled);
    CHECK(r2->tokens.size() >= 3 && r2->tokens.size() <= 4);  // text may lag a token behind (UTF-8, stop strings)
}

TEST_CASE("generation: stop strings end the answer before the match") {
    Fixture f = load();
    REQUIRE(f.model && f.tok);
    const auto ids = f.goldens["prompts"][1]["prompt_ids"].get<std::vector<int32_t>>();
    auto s = new_session(f, 256);
    auto full = generate(*s, *f.tok, ids, greedy(16));
    REQUIRE_OK(full);
    REQUIRE(full->text.size() > 6);
    const std::string stop = full->text.substr(full->text.size() / 2, 3);
    const size_t at = full->text.find(stop);
    GenerationParams p = greedy(16);
    p.stop_strings = {stop};
    auto s2 = new_session(f, 256);
    auto r = generate(*s2, *f.tok, ids, p);
    REQUIRE_OK(r);
    CHECK(r->reason == StopReason::stop_string);
    CHECK_EQ(r->text, full->text.substr(0, at));
}

TEST_CASE("generation: context policies are explicit") {
    Fixture f = load();
    REQUIRE(f.model && f.tok);
    std::vector<int32_t> prompt(60);
    for (size_t i = 0; i < prompt.size(); ++i) prompt[i] = static_cast<int32_t>(3 + (i * 37) % 500);
    // error: 60 + 16 > 64
    auto s = new_session(f, 64);
    auto r = generate(*s, *f.tok, prompt, greedy(16));
    REQUIRE(!r.ok());
    CHECK(r.status().code() == ErrorCode::out_of_memory);
    CHECK(r.status().message().find("exceed the context of 64 tokens") != std::string::npos);

    // truncate-middle keeps the first 5 tokens and the latest ones, and says so.
    GenerationParams p = greedy(16);
    p.context_policy = ContextPolicy::truncate_middle;
    p.keep_prefix = 5;
    auto s2 = new_session(f, 64);
    auto r2 = generate(*s2, *f.tok, prompt, p);
    REQUIRE_OK(r2);
    CHECK(r2->context.truncated);
    CHECK_EQ(r2->context.tokens_dropped, int64_t(60 + 16 - 64));
    CHECK(std::equal(prompt.begin(), prompt.begin() + 5, s2->tokens().begin()));
    CHECK(std::equal(prompt.end() - (60 - 5 - 12), prompt.end(), s2->tokens().begin() + 5));
    CHECK_EQ(r2->tokens.size(), size_t(16));

    // rolling window: generation continues past the context, dropping old tokens.
    GenerationParams q = greedy(100);
    q.context_policy = ContextPolicy::rolling_window;
    q.keep_prefix = 1;
    auto s3 = new_session(f, 64);
    auto r3 = generate(*s3, *f.tok, std::span<const int32_t>(prompt).first(40), q);
    REQUIRE_OK(r3);
    CHECK_EQ(r3->tokens.size(), size_t(100));
    CHECK(r3->context.truncated);
    CHECK(s3->n_past() <= 64);
    CHECK_EQ(s3->tokens()[0], prompt[0]);

    // The rolling window also works over a KVmix cache: its erase re-quantizes moved keys
    // (this fixture's 16-wide values stay fp16, its keys are 2-bit past the window).
    SessionConfig kc;
    kc.n_ctx = 128;
    kc.n_batch = 32;
    kc.n_threads = 2;
    kc.kv_profile = uniform_kv_profile(f.model->hparams().n_layer, 2, 2);
    kc.kv_profile.window_min = kc.kv_profile.window_max = 32;
    auto s4 = Session::create(f.model, kc);
    REQUIRE_OK(s4);
    GenerationParams q4 = greedy(200);
    q4.context_policy = ContextPolicy::rolling_window;
    q4.keep_prefix = 1;
    auto r4 = generate(**s4, *f.tok, std::span<const int32_t>(prompt).first(40), q4);
    REQUIRE_OK(r4);
    CHECK_EQ(r4->tokens.size(), size_t(200));
    CHECK(r4->context.truncated);
    CHECK(r4->context.tokens_dropped >= 40 + 200 - 128);
    CHECK((*s4)->n_past() <= 128);
    CHECK_EQ((*s4)->tokens()[0], prompt[0]);
    CHECK((*s4)->kv_memory().bytes < (*s4)->kv_memory().fp16_bytes);
}

TEST_CASE("generation: a follow-up prompt reuses the cached prefix") {
    Fixture f = load();
    REQUIRE(f.model && f.tok);
    const auto ids = f.goldens["prompts"][0]["prompt_ids"].get<std::vector<int32_t>>();
    auto s = new_session(f, 256);
    auto r = generate(*s, *f.tok, ids, greedy(8));
    REQUIRE_OK(r);
    std::vector<int32_t> next = ids;
    next.insert(next.end(), r->tokens.begin(), r->tokens.end());
    next.insert(next.end(), {10, 11, 12});
    auto r2 = generate(*s, *f.tok, next, greedy(4));
    REQUIRE_OK(r2);
    // The last generated token was sampled but never evaluated; it runs with the 3 new ones.
    CHECK_EQ(r2->stats.prompt_evaluated, int64_t(4));
}

// Reuse against the truth of a fresh prefill: a session that evaluated P and then gets
// P + X (only X is evaluated) must hold exactly the cache a new session builds from P + X
// in one pass. Every pass here has several rows (chunks of up to 128), and a row of the
// multi-row path does not depend on how many rows share the pass, so the logits after
// two more tokens are bit-identical. (A one-row pass takes the GEMV path, which quantizes
// activations: a chunking that left one row alone would differ by design.)
TEST_CASE("generation: prefix reuse gives the logits of a fresh prefill, bit for bit") {
    Fixture f = load();
    REQUIRE(f.model && f.tok);
    const auto p = f.goldens["prompts"][1]["prompt_ids"].get<std::vector<int32_t>>();
    const std::vector<int32_t> head(p.begin(), p.begin() + 40);
    for (const KvCacheType cache : {KvCacheType::f32, KvCacheType::f16}) {
        auto reused = new_session(f, 256, cache, 128);
        auto fresh = new_session(f, 256, cache, 128);
        REQUIRE(reused && fresh);
        auto r1 = generate(*reused, *f.tok, head, greedy(1));
        REQUIRE_OK(r1);
        auto r2 = generate(*reused, *f.tok, p, greedy(1));
        REQUIRE_OK(r2);
        CHECK_EQ(r2->stats.prompt_evaluated, static_cast<int64_t>(p.size() - head.size()));
        auto r3 = generate(*fresh, *f.tok, p, greedy(1));
        REQUIRE_OK(r3);
        CHECK_EQ(r3->stats.prompt_evaluated, static_cast<int64_t>(p.size()));
        CHECK(r2->tokens == r3->tokens);
        REQUIRE(reused->tokens() == fresh->tokens());
        std::vector<float> a, b;
        const int32_t next[2] = {r2->tokens.back(), 7};
        REQUIRE_OK(reused->eval(next, &a));
        REQUIRE_OK(fresh->eval(next, &b));
        REQUIRE(a.size() == b.size());
        CHECK(std::memcmp(a.data(), b.data(), a.size() * sizeof(float)) == 0);
    }
}

TEST_CASE("generation: seeded sampling is reproducible") {
    Fixture f = load();
    REQUIRE(f.model && f.tok);
    const auto ids = f.goldens["prompts"][0]["prompt_ids"].get<std::vector<int32_t>>();
    GenerationParams p;
    p.max_tokens = 24;
    p.stop_at_eog = false;
    p.sampling.temperature = 1.0f;
    p.sampling.seed = 42;
    auto a = generate(*new_session(f, 256), *f.tok, ids, p);
    auto b = generate(*new_session(f, 256), *f.tok, ids, p);
    p.sampling.seed = 43;
    auto c = generate(*new_session(f, 256), *f.tok, ids, p);
    REQUIRE_OK(a);
    REQUIRE_OK(b);
    REQUIRE_OK(c);
    CHECK(a->tokens == b->tokens);
    CHECK(a->tokens != c->tokens);
}

KVMIX_TEST_MAIN()
