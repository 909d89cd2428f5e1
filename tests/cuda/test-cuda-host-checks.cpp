// The checking code of test-cuda-kernels run on the host, so a defect in the test itself
// fails here, in the CPU suite, and not first on a GPU machine:
//  - every attention case's reference setup (the device-cache layout, the segments cut at
//    storage boundaries, mixed_attention_ref) runs, cuts quantized runs only at whole groups,
//    and agrees with plain attention_ref over the same cache dequantized to flat fp32;
//  - the guarded-output check accepts an op that writes exactly its column slice into a
//    buffer prepared like a DeviceGuarded, and catches writes outside it.
#include <cmath>
#include <cstdio>
#include <vector>

#include "check.h"
#include "common/op-params.h"
#include "kernel-cases.h"
#include "op-harness.h"
#include "ref/attention.h"
#include "ref/kv-quantize.h"
#include "ref/matmul.h"

using namespace kvmix;
using namespace kvmix_test;

namespace {

// Every position of a side as the kernels dequantize it: [hkv][n][dim] fp32.
std::vector<float> flat_side(const HostSide& s, bool keys, const std::vector<uint16_t>& rows16, int64_t n) {
    std::vector<float> out(static_cast<size_t>(s.hkv * n * s.dim));
    for (size_t i = 0; i < out.size(); ++i) out[i] = fp16_to_fp32(rows16[i]);
    if (s.bits == 16) return out;
    for (int64_t h = 0; h < s.hkv; ++h) {
        const uint8_t* base = s.packed.data() + static_cast<size_t>(h * s.units_cap) * s.unit;
        float* head = out.data() + static_cast<size_t>(h * n * s.dim);
        if (keys) {
            for (int64_t g = 0; g < s.nq / s.G; ++g)
                dequantize_key_group_ref(base + static_cast<size_t>(g) * s.unit, s.dim, s.G, s.bits,
                                         head + (s.S + g * s.G) * s.dim, static_cast<size_t>(s.dim));
        } else {
            for (int64_t i = 0; i < s.nq; ++i)
                dequantize_value_row_ref(base + static_cast<size_t>(i) * s.unit, s.dim, s.G, s.bits, head + (s.S + i) * s.dim);
        }
    }
    return out;
}

}  // namespace

TEST_CASE("cuda test host side: every attention case's segments are legal and match attention over the flat cache") {
    Rng rng(16);  // the CUDA test's seed: the same cases in the same order
    for (const AttnCase& c : attention_cases()) {
        const AttnSetup setup(c, rng);
        // The segments tile [0, n_kv) in order; quantized runs hold whole groups.
        int64_t next = 0;
        for (const KvSegment& sg : setup.segs) {
            CHECK_EQ(sg.pos0, next);
            next = sg.pos0 + sg.n_tokens;
            if (sg.k_bits != 16) CHECK_EQ(sg.n_tokens % sg.group_size, 0);
        }
        CHECK_EQ(next, c.n_kv);

        const std::vector<float> k = flat_side(setup.ks, true, setup.krows, c.n_kv);
        const std::vector<float> v = flat_side(setup.vs, false, setup.vrows, c.n_kv);
        std::vector<float> plain(setup.want.size(), 0.0f);
        AttentionParams p;
        p.q = setup.q.data();
        p.q_stride = static_cast<size_t>(c.H * c.D);
        p.kv_type = KvElementType::f32;
        p.k_f32 = k.data();
        p.v_f32 = v.data();
        p.k_head_stride = p.v_head_stride = static_cast<size_t>(c.n_kv * c.D);
        p.out = plain.data();
        p.out_stride = static_cast<size_t>(c.H * c.D);
        p.n_q = c.n_q;
        p.n_head = c.H;
        p.n_head_kv = c.HKV;
        p.head_dim = p.head_dim_v = c.D;
        p.n_kv = c.n_kv;
        p.q_pos = setup.qpos.data();
        p.window = c.window;
        p.scale = setup.scale();
        p.softcap = c.softcap;
        p.head_begin = 0;
        p.head_end = c.H;
        attention_ref(p);
        Accum acc;
        for (size_t i = 0; i < plain.size(); ++i) acc.add(setup.want[i], plain[i], i);
        const Compare cmp = acc.result();
        if (cmp.parity_breaks != 0 || !(cmp.nmse < 1e-12))
            std::fprintf(stderr, "  case k%d v%d G%d D%lld n_kv %lld: nmse %g, parity breaks %zu, %zu segments\n", c.kb, c.vb, c.G,
                         static_cast<long long>(c.D), static_cast<long long>(c.n_kv), cmp.nmse, cmp.parity_breaks, setup.segs.size());
        CHECK_EQ(cmp.parity_breaks, 0u);
        CHECK(cmp.nmse < 1e-12);
        CHECK_EQ(cmp.nan_count > 0, c.nan);
    }
}

TEST_CASE("cuda test host side: the column-slice check accepts exact slice writes and catches stray ones") {
    Rng rng(12);
    const int64_t k = 512, n = 67, n_begin = 5, n_end = 60;
    for (TensorType t : {TensorType::f32, TensorType::f16, TensorType::q4_0, TensorType::q8_0, TensorType::q4_k, TensorType::q6_k})
        for (int64_t m : {1, 3, 8, 19}) {
            const std::vector<uint8_t> w = random_weights(t, n, k, rng);
            const std::vector<float> x = rng.normals(static_cast<size_t>(m * k));
            std::vector<float> all = guarded_buffer(static_cast<size_t>(m * n));
            const auto& tr = tensor_type_traits(t);
            MatmulParams p;
            p.w_type = t;
            p.w = w.data();
            p.w_row_bytes = static_cast<size_t>(k / tr.block_elems) * tr.block_bytes;
            p.x = x.data();
            p.x_stride = static_cast<size_t>(k);
            p.y = all.data() + Guarded::kGuard;
            p.y_stride = static_cast<size_t>(n);
            p.m = m;
            p.k = k;
            p.n = n;
            p.n_begin = n_begin;
            p.n_end = n_end;
            matmul_ref(p);
            std::vector<float> got;
            CHECK(unguard(all, got));
            CHECK_EQ(written_outside_columns(got, m, n, n_begin, n_end), 0u);
            for (int64_t r = 0; r < m; ++r)
                for (int64_t c = n_begin; c < n_end; ++c) CHECK(!is_canary(got[static_cast<size_t>(r * n + c)]));
        }
    std::vector<float> all = guarded_buffer(4 * 10);
    std::vector<float> got;
    all[Guarded::kGuard + 10 + 1] = 0.0f;  // row 1, column 1: outside columns [2, 8)
    CHECK(unguard(all, got));
    CHECK_EQ(written_outside_columns(got, 4, 10, 2, 8), 1u);
    all[Guarded::kGuard - 1] = 0.0f;  // the last element of the leading guard
    CHECK(!unguard(all, got));
}

KVMIX_TEST_MAIN()
