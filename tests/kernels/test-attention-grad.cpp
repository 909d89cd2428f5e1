// attention_grad_cpu against its scalar twin attention_grad_ref over GQA groupings, head
// sizes (multiples of 8 take the SIMD path, others the ref), sliding windows, soft-capping,
// per-query-head and per-kv-head gradients and head slices. dq is written, dk / dv are
// accumulated onto random values. Tolerance: NMSE 1e-9 (fp32 softmax vs the ref's double,
// as for the attention forward in test-ops).
#include <algorithm>
#include <cmath>
#include <string>
#include <utility>
#include <vector>

#include "check.h"
#include "cpu/attention-grad.h"
#include "op-harness.h"

using namespace kvmix;
using kvmix_test::Accum;
using kvmix_test::Rng;

namespace {

struct Shape {
    int64_t n_head, n_head_kv, d, dv, n;
    int32_t window;
    float softcap;
    bool per_query_head;
};

double nmse(const std::vector<float>& got, const std::vector<float>& want) {
    Accum acc;
    for (size_t i = 0; i < got.size(); ++i) acc.add(got[i], want[i], i);
    const auto c = acc.result();
    return c.parity_breaks ? INFINITY : c.nmse;
}

void check(const Shape& s, Rng& rng) {
    const int64_t T = s.n, H = s.n_head, HKV = s.n_head_kv;
    const int64_t grads_heads = s.per_query_head ? H : HKV;
    std::vector<float> q = rng.normals(static_cast<size_t>(T * H * s.d)), k = rng.normals(static_cast<size_t>(HKV * T * s.d));
    std::vector<float> v = rng.normals(static_cast<size_t>(HKV * T * s.dv)), dout = rng.normals(static_cast<size_t>(T * H * s.dv));
    std::vector<float> dk0 = rng.normals(static_cast<size_t>(grads_heads * T * s.d)), dv0 = rng.normals(static_cast<size_t>(grads_heads * T * s.dv));
    std::vector<int32_t> pos(static_cast<size_t>(T));
    for (int64_t t = 0; t < T; ++t) pos[static_cast<size_t>(t)] = static_cast<int32_t>(t);
    std::vector<float> dq_ref(q.size(), 7.0f), dq_cpu(q.size(), 7.0f), dk_ref = dk0, dk_cpu = dk0, dv_ref = dv0, dv_cpu = dv0;
    AttentionGradParams p;
    p.q = q.data();
    p.q_stride = static_cast<size_t>(H * s.d);
    p.k = k.data();
    p.k_head_stride = static_cast<size_t>(T * s.d);
    p.v = v.data();
    p.v_head_stride = static_cast<size_t>(T * s.dv);
    p.dout = dout.data();
    p.dout_stride = static_cast<size_t>(H * s.dv);
    p.per_query_head_grads = s.per_query_head;
    p.n_q = T;
    p.n_head = H;
    p.n_head_kv = HKV;
    p.head_dim = s.d;
    p.head_dim_v = s.dv;
    p.n_kv = T;
    p.q_pos = pos.data();
    p.window = s.window;
    p.scale = 0.3f;
    p.softcap = s.softcap;
    // Without per-query-head grads a kv head's rows are shared: one call over all heads.
    p.head_begin = s.per_query_head ? rng.below(H) : 0;
    p.head_end = s.per_query_head ? p.head_begin + 1 + rng.below(H - p.head_begin) : H;
    AttentionGradParams r = p;
    r.dq = dq_ref.data(), r.dk = dk_ref.data(), r.dv = dv_ref.data();
    attention_grad_ref(r);
    p.dq = dq_cpu.data(), p.dk = dk_cpu.data(), p.dv = dv_cpu.data();
    attention_grad_cpu(p);
    const std::string what = "H=" + std::to_string(H) + "/" + std::to_string(HKV) + " d=" + std::to_string(s.d) + "/" + std::to_string(s.dv) +
                             " n=" + std::to_string(T) + " window=" + std::to_string(s.window) + " softcap=" + std::to_string(s.softcap) +
                             (s.per_query_head ? " per-q-head" : " per-kv-head");
    const double e = std::max({nmse(dq_cpu, dq_ref), nmse(dk_cpu, dk_ref), nmse(dv_cpu, dv_ref)});
    if (!(e <= 1e-9)) ::kvmix_test::report_failure(__FILE__, __LINE__, what + ": nmse " + std::to_string(e));
}

}  // namespace

TEST_CASE("attention_grad_cpu vs ref: GQA, head sizes, windows, soft-cap, slices") {
    Rng rng(31);
    for (const auto& hk : std::vector<std::pair<int64_t, int64_t>>{{1, 1}, {4, 2}, {9, 3}})
        for (const auto& dd : std::vector<std::pair<int64_t, int64_t>>{{8, 8}, {64, 64}, {16, 32}, {12, 20}})
            for (int64_t n : {1, 7, 8, 37})
                for (int32_t window : {0, 5})
                    for (float softcap : {0.0f, 2.0f})
                        for (bool pq : {true, false}) check({hk.first, hk.second, dd.first, dd.second, n, window, softcap, pq}, rng);
}

TEST_CASE("attention_grad_cpu vs ref: the default model's layer (9/3 heads of 64, 512 tokens)") {
    Rng rng(32);
    check({9, 3, 64, 64, 512, 0, 0.0f, true}, rng);
}

KVMIX_TEST_MAIN()
