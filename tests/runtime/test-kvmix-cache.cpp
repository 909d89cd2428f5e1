// The KVmix cache inside a session: logits track the fp16 cache with an error that grows
// as bits shrink, the memory report matches the format's arithmetic, truncation respects
// group boundaries, and what the cache cannot do (erase, snapshots) is refused clearly.
#include <cmath>
#include <cstdio>

#include "check.h"
#include "model/model.h"
#include "runtime/kv-profile.h"
#include "runtime/session.h"

using namespace kvmix;

namespace {

std::shared_ptr<const Model> gemma() {
    auto m = Model::load(kvmix_test::data_dir() + "/models/tiny-gemma3-q8_0.gguf");
    return m ? *m : nullptr;
}

std::unique_ptr<Session> make(std::shared_ptr<const Model> m, const std::string& spec, int64_t chunk = 16) {
    SessionConfig cfg;
    cfg.n_ctx = 256;
    cfg.n_batch = chunk;
    cfg.n_threads = 2;
    auto p = parse_kv_spec(spec, m->hparams().n_layer);
    if (!p) return nullptr;
    p->window_min = 32;
    p->window_max = 64;
    cfg.kv_profile = *p;
    auto s = Session::create(std::move(m), cfg);
    return s ? std::move(s).value() : nullptr;
}

std::vector<int32_t> text(int n, int32_t vocab) {
    std::vector<int32_t> t(static_cast<size_t>(n));
    for (int i = 0; i < n; ++i) t[i] = static_cast<int32_t>((i * 131 + 7) % vocab);
    return t;
}

double rel_error(const std::vector<float>& a, const std::vector<float>& ref) {
    double num = 0, den = 0;
    for (size_t i = 0; i < a.size(); ++i) {
        num += (a[i] - ref[i]) * (a[i] - ref[i]);
        den += ref[i] * ref[i];
    }
    return std::sqrt(num / den);
}

}  // namespace

TEST_CASE("kvmix cache: logits approach fp16 as bits grow") {
    auto m = gemma();
    REQUIRE(m != nullptr);
    const auto toks = text(200, static_cast<int32_t>(m->hparams().n_vocab));
    std::vector<float> ref;
    auto base = make(m, "fp16");
    REQUIRE(base);
    REQUIRE_OK(base->eval(toks, &ref));
    double prev = 0;
    for (const char* spec : {"k8v8", "k4v4", "k3v3", "k2v2"}) {
        auto s = make(m, spec);
        REQUIRE(s);
        std::vector<float> got;
        REQUIRE_OK(s->eval(toks, &got));
        const double e = rel_error(got, ref);
        std::printf("  %s: relative logit error vs fp16 cache %.5f, kv bytes %llu vs fp16 %llu\n", spec, e,
                    static_cast<unsigned long long>(s->kv_memory().bytes), static_cast<unsigned long long>(s->kv_memory().fp16_bytes));
        CHECK(std::isfinite(e));
        CHECK(e > 0);          // something was really quantized
        CHECK(e >= prev * 0.5);  // fewer bits never help much (allowing noise between neighbours)
        prev = e;
        if (std::string(spec) == "k8v8") CHECK(e < 0.01);
        if (std::string(spec) == "k2v2") CHECK(e < 0.5);
    }
}

TEST_CASE("kvmix cache: memory report follows the format") {
    auto m = gemma();
    REQUIRE(m != nullptr);
    const ModelHParams& hp = m->hparams();
    auto s = make(m, "k2v2");
    REQUIRE(s);
    REQUIRE_OK(s->eval(text(200, static_cast<int32_t>(hp.n_vocab))));
    const KvMemoryReport r = s->kv_memory();
    CHECK_EQ(r.n_tokens, int64_t(200));
    CHECK_EQ(r.fp16_bytes, uint64_t(200) * hp.n_layer * hp.n_head_kv * (hp.head_dim + hp.head_dim_v) * 2);
    // Window = clamp(0.1 * 200, 32, 64) -> 32; groups are quantized while the tail after the
    // 4 sinks exceeds window + G = 64: 196 -> 164 -> 132 -> 100 -> 68 -> 36, so 5 groups of 32
    // per side, in 2 pages of 4 groups; 4 sinks + 36 tail tokens stay fp16.
    const int64_t G = 32, fp16_tokens = 4 + 36, pages = 2;
    const double page = 4.0 * G * hp.n_head_kv * (hp.head_dim * (2 + 32.0 / G)) / 8.0;  // 4 groups at 2 + 32/G bits
    const double per_layer = 2 * (fp16_tokens * hp.n_head_kv * hp.head_dim * 2.0 + pages * page);
    CHECK_EQ(r.layers.size(), size_t(hp.n_layer));
    CHECK_CLOSE(static_cast<double>(r.layers[0].bytes), per_layer, 0.5);
    CHECK_EQ(r.layers[0].k_bits, 2.0);
    CHECK(r.allocated_bytes >= r.bytes);
}

TEST_CASE("kvmix cache: truncation keeps whole groups; erase and snapshots are refused") {
    auto m = gemma();
    REQUIRE(m != nullptr);
    const auto toks = text(200, static_cast<int32_t>(m->hparams().n_vocab));
    auto s = make(m, "k4v4");
    REQUIRE(s);
    REQUIRE_OK(s->eval(toks));
    s->truncate(150);
    // k4v4 keeps a 20% window: clamp(40, 32, 64) rounded to 64, so groups are quantized while
    // the tail exceeds 96: 4 groups, positions [4, 132). 150 lies in the fp16 tail.
    CHECK_EQ(s->n_past(), int64_t(150));
    s->truncate(70);
    CHECK_EQ(s->n_past(), int64_t(68));   // back to 4 + 2 * 32
    CHECK(std::equal(s->tokens().begin(), s->tokens().end(), toks.begin()));
    // Re-evaluating continues correctly from there.
    std::vector<float> a;
    REQUIRE_OK(s->eval(std::span<const int32_t>(toks).subspan(68), &a));
    CHECK_EQ(s->n_past(), int64_t(200));
    Status st = s->erase(10, 20);
    CHECK(st.code() == ErrorCode::unsupported);
    st = s->save("/nonexistent-dir/x");
    CHECK(!st.ok());
}

KVMIX_TEST_MAIN()
