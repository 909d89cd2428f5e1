// Split-K attention: partials over key chunks (attention_ref / attention_cpu with
// kv_begin/kv_end and part_m/part_l) merged by attention_merge_ref / attention_merge_cpu
// equal the unsplit scalar reference (dense fp16 and fp32 caches, GQA, sliding window incl.
// chunks the window hides entirely, softcap, 1..5 chunks); CpuBackend::attention with split-K
// equals the reference and is bitwise deterministic; plan_attention_split bounds.
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include "backend/cpu-backend.h"
#include "check.h"
#include "common/half.h"
#include "common/op-params.h"
#include "cpu/attention.h"
#include "op-harness.h"
#include "ref/attention.h"
#include "runtime/kv-cache.h"
#include "runtime/kv-profile.h"
#include "runtime/kvmix-kv-cache.h"

using namespace kvmix;
using kvmix_test::Rng;

namespace {

struct Shape {
    int64_t n_q, n_head, n_head_kv, head_dim, head_dim_v, n_kv;
    int32_t window;
    float softcap;
};

struct Setup {
    Shape s;
    KvElementType type;
    std::vector<float> q, kf, vf;
    std::vector<uint16_t> kh, vh;
    std::vector<int32_t> pos;

    Setup(const Shape& shape, KvElementType kv, uint64_t seed) : s(shape), type(kv) {
        Rng rng(seed);
        q = rng.normals(static_cast<size_t>(s.n_q * s.n_head * s.head_dim));
        const auto nk = static_cast<size_t>(s.n_head_kv * s.n_kv * s.head_dim);
        const auto nv = static_cast<size_t>(s.n_head_kv * s.n_kv * s.head_dim_v);
        kf = rng.normals(nk, 2.0f);
        vf = rng.normals(nv);
        kh.resize(nk);
        vh.resize(nv);
        for (size_t i = 0; i < nk; ++i) kh[i] = fp32_to_fp16(kf[i]);
        for (size_t i = 0; i < nv; ++i) vh[i] = fp32_to_fp16(vf[i]);
        // The last query at the newest slot (decode), earlier ones spread over the cache.
        for (int64_t t = 0; t < s.n_q; ++t)
            pos.push_back(static_cast<int32_t>(t == s.n_q - 1 ? s.n_kv - 1 : rng.below(s.n_kv)));
    }
    size_t out_size() const { return static_cast<size_t>(s.n_q * s.n_head * s.head_dim_v); }
    AttentionParams params(float* out) const {
        AttentionParams p;
        p.q = q.data();
        p.q_stride = static_cast<size_t>(s.n_head * s.head_dim);
        p.kv_type = type;
        p.k = kh.data();
        p.v = vh.data();
        p.k_f32 = kf.data();
        p.v_f32 = vf.data();
        p.k_head_stride = static_cast<size_t>(s.n_kv * s.head_dim);
        p.v_head_stride = static_cast<size_t>(s.n_kv * s.head_dim_v);
        p.out = out;
        p.out_stride = static_cast<size_t>(s.n_head * s.head_dim_v);
        p.n_q = s.n_q;
        p.n_head = s.n_head;
        p.n_head_kv = s.n_head_kv;
        p.head_dim = s.head_dim;
        p.head_dim_v = s.head_dim_v;
        p.n_kv = s.n_kv;
        p.q_pos = pos.data();
        p.window = s.window;
        p.scale = 1.0f / std::sqrt(static_cast<float>(s.head_dim));
        p.softcap = s.softcap;
        p.head_begin = 0;
        p.head_end = s.n_head;
        return p;
    }
};

// Partials over the chunks [bounds[i], bounds[i+1]) with `attend`, merged with `merge`.
template <class Attend, class Merge>
std::vector<float> split_k(const Setup& a, const std::vector<int64_t>& bounds, Attend attend, Merge merge) {
    const auto n_parts = static_cast<int64_t>(bounds.size()) - 1;
    const size_t acc_part = a.out_size(), ml_part = static_cast<size_t>(a.s.n_q * a.s.n_head);
    std::vector<float> acc(static_cast<size_t>(n_parts) * acc_part), m(static_cast<size_t>(n_parts) * ml_part),
        l(m.size());
    for (int64_t c = 0; c < n_parts; ++c) {
        AttentionParams p = a.params(acc.data() + static_cast<size_t>(c) * acc_part);
        p.kv_begin = bounds[static_cast<size_t>(c)];
        p.kv_end = bounds[static_cast<size_t>(c) + 1];
        p.part_m = m.data() + static_cast<size_t>(c) * ml_part;
        p.part_l = l.data() + static_cast<size_t>(c) * ml_part;
        attend(p);
    }
    std::vector<float> out(a.out_size(), -1.0f);
    AttentionMergeParams mp;
    mp.acc = acc.data();
    mp.acc_part_stride = acc_part;
    mp.acc_stride = static_cast<size_t>(a.s.n_head * a.s.head_dim_v);
    mp.m = m.data();
    mp.l = l.data();
    mp.ml_part_stride = ml_part;
    mp.n_parts = n_parts;
    mp.out = out.data();
    mp.out_stride = mp.acc_stride;
    mp.n_q = a.s.n_q;
    mp.n_head = a.s.n_head;
    mp.head_dim_v = a.s.head_dim_v;
    mp.head_begin = 0;
    mp.head_end = a.s.n_head;
    merge(mp);
    return out;
}

// Largest |got - want| / (1 + |want|).
double max_rel(const std::vector<float>& got, const std::vector<float>& want) {
    double worst = 0.0;
    for (size_t i = 0; i < want.size(); ++i) {
        const double d =
            std::fabs(static_cast<double>(got[i]) - want[i]) / (1.0 + std::fabs(static_cast<double>(want[i])));
        worst = std::isnan(d) ? INFINITY : std::max(worst, d);
    }
    return worst;
}

// n_parts contiguous chunks of [0, n_kv), inner bounds multiples of 32 (random, distinct).
std::vector<int64_t> random_bounds(int64_t n_kv, int64_t n_parts, Rng& rng) {
    std::vector<int64_t> b{0, n_kv};
    const int64_t blocks = (n_kv - 1) / 32;
    while (static_cast<int64_t>(b.size()) < n_parts + 1 && static_cast<int64_t>(b.size()) - 1 < blocks + 1) {
        const int64_t x = (1 + rng.below(blocks)) * 32;
        if (std::find(b.begin(), b.end(), x) == b.end()) b.push_back(x);
    }
    std::sort(b.begin(), b.end());
    return b;
}

const Shape kShapes[] = {
    {1, 4, 1, 64, 64, 700, 0, 0.0f},     // decode, Gemma-like GQA 4:1
    {1, 4, 1, 64, 64, 700, 128, 0.0f},   // sliding window: early chunks fully hidden
    {3, 8, 2, 32, 48, 333, 100, 30.0f},  // several queries, softcap, head_dim != head_dim_v
    {5, 4, 4, 40, 40, 257, 0, 0.0f},     // MHA, odd head size, ragged end
};

}  // namespace

TEST_CASE("split-K partials merged equal unsplit attention_ref (ref and cpu; fp16/fp32; 1..5 chunks)") {
    Rng rng(41);
    for (const Shape& sh : kShapes) {
        for (KvElementType type : {KvElementType::f16, KvElementType::f32}) {
            const Setup a(sh, type, static_cast<uint64_t>(sh.n_kv * 7 + sh.window));
            std::vector<float> want(a.out_size());
            attention_ref(a.params(want.data()));
            for (int64_t n_parts = 1; n_parts <= 5; ++n_parts) {
                const std::vector<int64_t> bounds = random_bounds(sh.n_kv, n_parts, rng);
                const std::string what = "kv=" + std::to_string(sh.n_kv) + " win=" + std::to_string(sh.window) +
                                         (type == KvElementType::f32 ? " f32" : " f16") +
                                         " parts=" + std::to_string(n_parts);
                const auto ref = split_k(a, bounds, attention_ref, attention_merge_ref);
                const auto cpu = split_k(a, bounds, attention_cpu, attention_merge_cpu);
                CHECK(max_rel(ref, want) < 1e-6);
                CHECK(max_rel(cpu, want) < 1e-5);
                if (max_rel(cpu, want) >= 1e-5) std::printf("  %s: rel %g\n", what.c_str(), max_rel(cpu, want));
            }
        }
    }
}

TEST_CASE("split-K: a chunk the window hides gives m = -inf, l = 0, zero accumulator") {
    const Setup a({1, 4, 1, 64, 64, 700, 128, 0.0f}, KvElementType::f16, 5);
    std::vector<float> acc(a.out_size(), 7.0f), m(4, 7.0f), l(4, 7.0f);
    for (auto attend : {attention_ref, attention_cpu}) {
        AttentionParams p = a.params(acc.data());
        p.kv_begin = 0;
        p.kv_end = 512;  // the query at 699 sees only [572, 700)
        p.part_m = m.data();
        p.part_l = l.data();
        attend(p);
        for (size_t i = 0; i < 4; ++i) {
            CHECK(m[i] == -INFINITY);
            CHECK_EQ(l[i], 0.0f);
        }
        for (float x : acc) CHECK_EQ(x, 0.0f);
    }
}

TEST_CASE("plan_attention_split: splits only when heads leave threads idle or unevenly loaded; aligned chunks cover the visible keys") {
    const std::vector<int32_t> pos{4095};
    AttentionSplit s = plan_attention_split(1, 4, 1, 4096, pos.data(), 0, 64, 4);
    REQUIRE(s.n_parts == 4);
    CHECK_EQ(s.bounds[0], 0);
    CHECK_EQ(s.bounds[4], 4096);
    for (int64_t c = 1; c < 4; ++c) {
        CHECK_EQ(s.bounds[c] % 64, 0);
        CHECK(s.bounds[c] > s.bounds[c - 1]);
    }
    // Window 512: only [3584, 4096) is split.
    s = plan_attention_split(1, 4, 1, 4096, pos.data(), 512, 32, 2);
    REQUIRE(s.n_parts == 2);
    CHECK_EQ(s.bounds[0], 3584);
    CHECK_EQ(s.bounds[1], 3840);
    CHECK_EQ(s.bounds[2], 4096);
    CHECK_EQ(plan_attention_split(1, 16, 16, 4096, pos.data(), 0, 32, 8).n_parts, 1);  // enough heads
    CHECK_EQ(plan_attention_split(1, 9, 3, 4096, pos.data(), 0, 64, 2).n_parts, 2);    // 3 units on 2 threads: 6
    CHECK_EQ(plan_attention_split(1, 9, 3, 4096, pos.data(), 0, 64, 4).n_parts, 4);    // 12 units on 4 threads
    CHECK_EQ(plan_attention_split(1, 9, 9, 4096, pos.data(), 0, 64, 2).n_parts, 1);    // 9 on 2: 90% busy
    CHECK_EQ(plan_attention_split(1, 9, 3, 400, pos.data(), 0, 64, 2).n_parts, 1);     // too short to split
    CHECK_EQ(plan_attention_split(1, 4, 1, 300, pos.data(), 0, 32, 8).n_parts, 1);     // too short
    CHECK_EQ(plan_attention_split(1, 4, 1, 4096, pos.data(), 0, 32, 1).n_parts, 1);    // one thread
}

TEST_CASE("CpuBackend::attention with split-K equals attention_ref and is deterministic") {
    CpuBackend backend(4);
    for (const Shape& sh : {Shape{1, 4, 1, 64, 64, 2000, 0, 0.0f}, Shape{1, 4, 1, 64, 64, 2000, 700, 50.0f},
                            Shape{2, 8, 2, 32, 32, 1500, 0, 0.0f}}) {
        for (KvElementType type : {KvElementType::f16, KvElementType::f32}) {
            const Setup a(sh, type, 9);
            REQUIRE(
                plan_attention_split(sh.n_q, sh.n_head, sh.n_head_kv, sh.n_kv, a.pos.data(), sh.window, 32, 4).n_parts >
                1);
            std::vector<float> want(a.out_size()), got(a.out_size()), again(a.out_size());
            attention_ref(a.params(want.data()));
            backend.attention(a.params(got.data()));
            backend.attention(a.params(again.data()));
            CHECK(max_rel(got, want) < 1e-5);
            CHECK(std::equal(got.begin(), got.end(), again.begin(),
                             [](float x, float y) { return std::memcmp(&x, &y, sizeof x) == 0; }));
        }
    }
}

TEST_CASE("KvCache::attend (fp16 and KVmix caches): split-K over 4 threads equals one thread, deterministically") {
    const std::vector<KvLayerShape> shapes{{1, 64, 64}};
    const int64_t n_ctx = 1600, chunk = 256;
    Rng rng(77);
    const std::vector<float> k = rng.normals(static_cast<size_t>(n_ctx * 64), 2.0f),
                             v = rng.normals(static_cast<size_t>(n_ctx * 64));
    const std::vector<float> q = rng.normals(4 * 64);
    CpuBackend one(1), four(4);
    for (const char* spec : {"fp16", "k2v2", "k3v4", "k8v8"}) {
        for (int g : {32, 64}) {
            std::unique_ptr<KvCache> cache;
            if (std::string(spec) == "fp16") {
                if (g == 64) continue;
                auto c = make_fp16_kv_cache(shapes, n_ctx);
                REQUIRE_OK(c);
                cache = std::move(c).value();
            } else {
                auto parsed = parse_kv_spec(spec, 1);
                REQUIRE_OK(parsed);
                KvProfile prof = *parsed;
                prof.group_size = g;
                prof.window_min = 64;
                prof.window_max = 128;
                auto c = make_kvmix_kv_cache(shapes, prof, n_ctx, chunk);
                REQUIRE_OK(c);
                cache = std::move(c).value();
            }
            for (int64_t t = 0; t < n_ctx; t += chunk) {
                const int64_t n = std::min(chunk, n_ctx - t);
                cache->write(0, 0, n, k.data() + t * 64, v.data() + t * 64);
                cache->commit(n);
            }
            for (int32_t window : {0, 700}) {
                const int32_t pos = static_cast<int32_t>(n_ctx - 1);
                std::vector<float> want(4 * 64), got(want.size()), again(want.size());
                AttentionQuery aq;
                aq.q = q.data();
                aq.n_q = 1;
                aq.n_head = 4;
                aq.q_pos = &pos;
                aq.n_kv = n_ctx;
                aq.window = window;
                aq.scale = 0.125f;
                aq.out = want.data();
                cache->attend(0, aq, one);
                aq.out = got.data();
                cache->attend(0, aq, four);
                aq.out = again.data();
                cache->attend(0, aq, four);
                const double e = max_rel(got, want);
                if (e >= 1e-5) std::printf("  %s G=%d window=%d: rel %g\n", spec, g, window, e);
                CHECK(e < 1e-5);
                CHECK(std::memcmp(got.data(), again.data(), got.size() * sizeof(float)) == 0);
            }
        }
    }
}

KVMIX_TEST_MAIN()
