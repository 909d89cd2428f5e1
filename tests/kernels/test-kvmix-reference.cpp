// Our KVmix quantizer and mixed-cache attention kernels against the independent numpy
// reference (tests/tools/gen-kvmix-reference.py, goldens in tests/data/kvmix/kernel-cases.*):
// head sizes 64/128/256, GQA and MHA, G 32/64, widths 2/3/4/8 (K and V apart), contexts of
// sinks + several quantized groups + an fp16 tail, constant groups, and a case made of exact
// rounding ties.
//  - quantizer: fp16 scale and min bit-identical, every code identical. The reference mirrors
//    the format's choices (metadata first, min rounded down, scale rounded up, codes by
//    round-half-to-even of the same float64 quotient), so there is no tolerance: ties included.
//  - dequantizer: x̂ bit-identical to fp32(code·s + min) of the reference's codes (q·s is
//    exact in fp32, so both sides round the exact value once).
//  - attention, scalar twin and the dispatched SIMD kernel: every output element within the
//    derived bounds of kvmix-golden.h.
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <functional>
#include <string>
#include <vector>

#include "check.h"
#include "common/half.h"
#include "common/kv-quant-format.h"
#include "common/mixed-attention-params.h"
#include "cpu/mixed-attention.h"
#include "kvmix-golden.h"
#include "ref/kv-quantize.h"
#include "ref/mixed-attention.h"

using namespace kvmix;
using kvmix_test::Golden;
using kvmix_test::GoldenArray;

namespace {

const Golden& golden() {
    static const Golden g(kvmix_test::data_dir() + "/kvmix", "kernel-cases");
    return g;
}

uint16_t u16_at(const uint8_t* p) {
    uint16_t v;
    std::memcpy(&v, p, 2);
    return v;
}

// One kernel case: the golden inputs, our quantized storage and the segment list over it.
struct Case {
    std::string name;
    int64_t H = 0, HK = 0, D = 0, DV = 0, S = 0, ng = 0, tail = 0, n_ctx = 0;
    int G = 32, kb = 16, vb = 16;
    float scale = 1.0f;
    std::vector<int32_t> q_pos;
    std::vector<uint16_t> k16, v16;  // [HK][n_ctx][D] golden inputs (fp16 bits)
    std::vector<float> q;            // [n_q][H][D]
    std::vector<uint8_t> kq, vq;     // our quantized groups [HK][ng] / rows [HK][ng·G]
    std::vector<KvSegment> segs;
    nlohmann::json arrays;

    int64_t n_q() const { return static_cast<int64_t>(q_pos.size()); }
    int64_t nq_tok() const { return ng * G; }
    size_t kgrp() const { return kvq::key_group_bytes(kb, G, D); }
    size_t vrow() const { return kvq::value_row_bytes(vb, G, DV); }
    GoldenArray arr(const char* key) const { return golden().array(arrays.at(key)); }
};

Case load_case(const nlohmann::json& c) {
    Case k;
    k.name = c.at("name");
    k.H = c.at("n_head");
    k.HK = c.at("n_head_kv");
    k.D = c.at("head_dim");
    k.DV = c.at("head_dim_v");
    k.G = c.at("group");
    k.kb = c.at("k_bits");
    k.vb = c.at("v_bits");
    k.S = c.at("sinks");
    k.ng = c.at("n_groups");
    k.tail = c.at("tail");
    k.n_ctx = c.at("n_ctx");
    k.scale = c.at("scale").get<float>();
    k.q_pos = c.at("q_pos").get<std::vector<int32_t>>();
    k.arrays = c.at("arrays");
    const GoldenArray ka = k.arr("k"), va = k.arr("v"), qa = k.arr("q");
    for (size_t i = 0; i < ka.size(); ++i) k.k16.push_back(ka.f16_bits(i));
    for (size_t i = 0; i < va.size(); ++i) k.v16.push_back(va.f16_bits(i));
    k.q = qa.floats();

    // Our quantizer on the (fp16-valued) inputs, as the cache feeds it.
    k.kq.assign(static_cast<size_t>(k.HK * k.ng) * k.kgrp(), 0);
    k.vq.assign(static_cast<size_t>(k.HK * k.nq_tok()) * k.vrow(), 0);
    std::vector<float> rows(static_cast<size_t>(k.G * k.D));
    for (int64_t h = 0; h < k.HK; ++h) {
        for (int64_t n = 0; n < k.ng; ++n) {
            for (int64_t t = 0; t < k.G; ++t)
                for (int64_t d = 0; d < k.D; ++d)
                    rows[static_cast<size_t>(t * k.D + d)] = fp16_to_fp32(k.k16[static_cast<size_t>((h * k.n_ctx + k.S + n * k.G + t) * k.D + d)]);
            quantize_key_group_ref(rows.data(), static_cast<size_t>(k.D), k.D, k.G, k.kb, k.kq.data() + static_cast<size_t>(h * k.ng + n) * k.kgrp());
        }
        std::vector<float> row(static_cast<size_t>(k.DV));
        for (int64_t i = 0; i < k.nq_tok(); ++i) {
            for (int64_t d = 0; d < k.DV; ++d) row[static_cast<size_t>(d)] = fp16_to_fp32(k.v16[static_cast<size_t>((h * k.n_ctx + k.S + i) * k.DV + d)]);
            quantize_value_row_ref(row.data(), k.DV, k.G, k.vb, k.vq.data() + static_cast<size_t>(h * k.nq_tok() + i) * k.vrow());
        }
    }

    // Segments: the sinks, one segment per quantized group (page boundaries), the tail.
    auto fp16_seg = [&](int64_t j0, int64_t n) {
        KvSegment s;
        s.pos0 = j0;
        s.n_tokens = n;
        s.k16 = k.k16.data() + j0 * k.D;
        s.k16_head_stride = static_cast<size_t>(k.n_ctx * k.D);
        s.v16 = k.v16.data() + j0 * k.DV;
        s.v16_head_stride = static_cast<size_t>(k.n_ctx * k.DV);
        return s;
    };
    if (k.S > 0) k.segs.push_back(fp16_seg(0, k.S));
    for (int64_t n = 0; n < k.ng; ++n) {
        KvSegment s;
        s.pos0 = k.S + n * k.G;
        s.n_tokens = k.G;
        s.k_bits = k.kb;
        s.v_bits = k.vb;
        s.group_size = k.G;
        s.kq = k.kq.data() + static_cast<size_t>(n) * k.kgrp();
        s.kq_head_stride = static_cast<size_t>(k.ng) * k.kgrp();
        s.kq_group_stride = k.kgrp();
        s.vq = k.vq.data() + static_cast<size_t>(n * k.G) * k.vrow();
        s.vq_head_stride = static_cast<size_t>(k.nq_tok()) * k.vrow();
        s.vq_token_stride = k.vrow();
        k.segs.push_back(s);
    }
    if (k.tail > 0) k.segs.push_back(fp16_seg(k.S + k.nq_tok(), k.tail));
    return k;
}

std::vector<Case> cases() {
    std::vector<Case> out;
    for (const auto& c : golden().index().at("cases")) out.push_back(load_case(c));
    return out;
}

// Compares one record (scale, min, G codes) of ours with the reference's; x̂ from our
// dequantizer against fp32(code·s + min) of the reference. Returns mismatch counts.
struct RecordDiff {
    int64_t meta = 0, codes = 0, dequant = 0;
};

void compare_record(const uint8_t* rec, int bits, int G, uint16_t ref_s, uint16_t ref_m, const std::function<uint32_t(int)>& ref_code,
                    const std::function<float(int)>& our_xhat, RecordDiff& diff) {
    diff.meta += u16_at(rec) != ref_s;
    diff.meta += u16_at(rec + 2) != ref_m;
    for (int i = 0; i < G; ++i) {
        const uint8_t* chunk = rec + kvq::kMetaBytes + static_cast<size_t>(i / kvq::kChunkCodes) * kvq::chunk_bytes(bits);
        const uint32_t code = ref_code(i);
        diff.codes += kvq::get_code(chunk, bits, i % kvq::kChunkCodes) != code;
        const float want = static_cast<float>(static_cast<double>(code) * fp16_to_fp32(ref_s) + fp16_to_fp32(ref_m));
        const float got = our_xhat(i);
        diff.dequant += std::memcmp(&want, &got, sizeof want) != 0;
    }
}

MixedAttentionParams params(const Case& c, float* out) {
    MixedAttentionParams p;
    p.q = c.q.data();
    p.q_stride = static_cast<size_t>(c.H * c.D);
    p.out = out;
    p.out_stride = static_cast<size_t>(c.H * c.DV);
    p.n_q = c.n_q();
    p.n_head = c.H;
    p.n_head_kv = c.HK;
    p.head_dim = c.D;
    p.head_dim_v = c.DV;
    p.q_pos = c.q_pos.data();
    p.scale = c.scale;
    p.segments = c.segs.data();
    p.n_segments = static_cast<int32_t>(c.segs.size());
    p.head_begin = 0;
    p.head_end = c.H;
    return p;
}

}  // namespace

TEST_CASE("kvmix reference: goldens present, every format dimension covered") {
    if (!golden().ok()) std::printf("  %s\n", golden().error().c_str());
    REQUIRE(golden().ok());
    bool d64 = false, d128 = false, d256 = false, gqa = false, mha = false, g32 = false, g64 = false;
    int64_t ties = 0;
    for (const auto& c : golden().index().at("cases")) {
        const int64_t d = c.at("head_dim"), h = c.at("n_head"), hk = c.at("n_head_kv"), g = c.at("group");
        d64 |= d == 64;
        d128 |= d == 128;
        d256 |= d == 256;
        gqa |= h > hk;
        mha |= h == hk;
        g32 |= g == 32;
        g64 |= g == 64;
        ties += c.at("ties").get<int64_t>();
    }
    CHECK(d64 && d128 && d256 && gqa && mha && g32 && g64);
    CHECK(ties > 1000);  // the tie rule is exercised, not just stated
}

TEST_CASE("kvmix reference: scale, min and codes bit-identical to the reference (ties included), x̂ exact") {
    REQUIRE(golden().ok());
    for (const Case& c : cases()) {
        RecordDiff kd, vd;
        const GoldenArray kc = c.arr("k_codes"), ks = c.arr("k_scale"), km = c.arr("k_min");
        const GoldenArray vc = c.arr("v_codes"), vs = c.arr("v_scale"), vm = c.arr("v_min");
        const size_t krec = kvq::key_record_bytes(c.kb, c.G), vrec = kvq::value_record_bytes(c.vb, c.G);
        std::vector<float> kx(static_cast<size_t>(c.G * c.D)), vx(static_cast<size_t>(c.DV));
        for (int64_t h = 0; h < c.HK; ++h) {
            for (int64_t n = 0; n < c.ng; ++n) {
                const uint8_t* grp = c.kq.data() + static_cast<size_t>(h * c.ng + n) * c.kgrp();
                dequantize_key_group_ref(grp, c.D, c.G, c.kb, kx.data(), static_cast<size_t>(c.D));
                for (int64_t d = 0; d < c.D; ++d) {
                    const size_t m = static_cast<size_t>((h * c.ng + n) * c.D + d);  // [HK][ng][D]
                    compare_record(grp + static_cast<size_t>(d) * krec, c.kb, c.G, ks.f16_bits(m), km.f16_bits(m),
                                   [&](int i) { return kc.u8(m * static_cast<size_t>(c.G) + static_cast<size_t>(i)); },
                                   [&](int i) { return kx[static_cast<size_t>(i * c.D + d)]; }, kd);
                }
            }
            for (int64_t t = 0; t < c.nq_tok(); ++t) {
                const uint8_t* row = c.vq.data() + static_cast<size_t>(h * c.nq_tok() + t) * c.vrow();
                dequantize_value_row_ref(row, c.DV, c.G, c.vb, vx.data());
                for (int64_t g = 0; g < c.DV / c.G; ++g) {
                    const size_t m = static_cast<size_t>((h * c.nq_tok() + t) * (c.DV / c.G) + g);  // [HK][T][DV/G]
                    const size_t code0 = static_cast<size_t>((h * c.nq_tok() + t) * c.DV + g * c.G);
                    compare_record(row + static_cast<size_t>(g) * vrec, c.vb, c.G, vs.f16_bits(m), vm.f16_bits(m),
                                   [&](int i) { return vc.u8(code0 + static_cast<size_t>(i)); },
                                   [&](int i) { return vx[static_cast<size_t>(g * c.G + i)]; }, vd);
                }
            }
        }
        if (kd.meta + kd.codes + kd.dequant + vd.meta + vd.codes + vd.dequant > 0)
            std::printf("  %s: keys %lld meta / %lld codes / %lld x̂ differ, values %lld / %lld / %lld\n", c.name.c_str(),
                        static_cast<long long>(kd.meta), static_cast<long long>(kd.codes), static_cast<long long>(kd.dequant),
                        static_cast<long long>(vd.meta), static_cast<long long>(vd.codes), static_cast<long long>(vd.dequant));
        CHECK_EQ(kd.meta, int64_t(0));
        CHECK_EQ(kd.codes, int64_t(0));
        CHECK_EQ(kd.dequant, int64_t(0));
        CHECK_EQ(vd.meta, int64_t(0));
        CHECK_EQ(vd.codes, int64_t(0));
        CHECK_EQ(vd.dequant, int64_t(0));
    }
}

// Calls f(i, amax, mag, want, n_vis, n_blocks) for every output element i of case c, with the
// reference's attention-logit maximum, |p|·|v| magnitude and output there, the visible
// tokens and the online-softmax block count (32-token chunks aligned within each segment,
// so each segment adds at most two partial blocks): what the bounds need.
template <class F>
void for_each_output(const Case& c, F&& f) {
    const GoldenArray want = c.arr("out"), amax = c.arr("amax"), mag = c.arr("mag");
    for (int64_t t = 0; t < c.n_q(); ++t) {
        const int64_t n_vis = c.q_pos[static_cast<size_t>(t)] + 1;
        const int64_t n_blocks = (n_vis + 31) / 32 + 2 * static_cast<int64_t>(c.segs.size());
        for (int64_t h = 0; h < c.H; ++h)
            for (int64_t d = 0; d < c.DV; ++d) {
                const size_t i = static_cast<size_t>((t * c.H + h) * c.DV + d);
                f(i, static_cast<double>(amax.f32(static_cast<size_t>(t * c.H + h))), static_cast<double>(mag.f32(i)),
                  static_cast<double>(want.f32(i)), n_vis, n_blocks);
            }
    }
}

TEST_CASE("kvmix reference: mixed attention (scalar twin and dispatched SIMD) within the derived bounds") {
    REQUIRE(golden().ok());
    double worst_ref = 0, worst_cpu = 0;
    for (const Case& c : cases()) {
        const size_t n = static_cast<size_t>(c.n_q() * c.H * c.DV);
        REQUIRE(c.arr("out").size() == n);
        std::vector<float> ref(n, NAN), cpu(n, NAN);
        mixed_attention_ref(params(c, ref.data()));
        // The fp32 path: cpu_bound is its error analysis (the integer paths: the next case).
        mixed_attention_cpu_path(params(c, cpu.data()), mixed_attention_path_available(MixedAttentionPath::avx2_fp32)
                                                           ? MixedAttentionPath::avx2_fp32
                                                           : MixedAttentionPath::scalar);
        int64_t bad_ref = 0, bad_cpu = 0;
        double case_ref = 0, case_cpu = 0, rel_ref = 0, rel_cpu = 0;
        for_each_output(c, [&](size_t i, double a, double m, double o, int64_t n_vis, int64_t n_blocks) {
            const double br = kvmix_test::ref_twin_bound(a, m, o, c.D, n_vis);
            const double bc = kvmix_test::cpu_bound(a, m, o, c.D, n_vis, n_blocks);
            const double er = std::fabs(static_cast<double>(ref[i]) - o), ec = std::fabs(static_cast<double>(cpu[i]) - o);
            bad_ref += !(er <= br);
            bad_cpu += !(ec <= bc);
            case_ref = std::max(case_ref, er / br);
            case_cpu = std::max(case_cpu, ec / bc);
            rel_ref = std::max(rel_ref, br / m);
            rel_cpu = std::max(rel_cpu, bc / m);
        });
        std::printf("  %-20s bound / mag <= %.1e (ref twin), %.1e (simd); worst error / bound %.1e, %.1e\n", c.name.c_str(), rel_ref,
                    rel_cpu, case_ref, case_cpu);
        CHECK_EQ(bad_ref, int64_t(0));
        CHECK_EQ(bad_cpu, int64_t(0));
        worst_ref = std::max(worst_ref, case_ref);
        worst_cpu = std::max(worst_cpu, case_cpu);
    }
    std::printf("  worst error / bound over all cases: ref twin %.1e, simd %.1e\n", worst_ref, worst_cpu);
}

// Bound on the score error of query row (t, h) from the int8 query's rounding: per key group
// and block of kMixedQueryBlock channels, step d = max |fp32(q·s)| / 127 and a remainder of
// <= d/2 per channel (d/508 with the residual row, which 8-bit keys always take), times the
// largest code, summed over the blocks; the worst group, times |scale|.
double int8_query_err(const Case& c, int64_t t, int64_t h, bool residual) {
    if (c.kb == kvq::kNotQuantized || c.ng == 0) return 0.0;
    const double half_step = residual || c.kb == 8 ? 508.0 : 2.0;
    const size_t rec = kvq::key_record_bytes(c.kb, c.G);
    const int64_t hk = h / (c.H / c.HK);
    const float* q = c.q.data() + static_cast<size_t>((t * c.H + h) * c.D);
    double worst = 0.0;
    for (int64_t gi = 0; gi < c.ng; ++gi) {
        const uint8_t* grp = c.kq.data() + static_cast<size_t>(hk * c.ng + gi) * c.kgrp();
        double e = 0.0;
        for (int64_t b0 = 0; b0 < c.D; b0 += kMixedQueryBlock) {
            const int64_t b1 = std::min<int64_t>(c.D, b0 + kMixedQueryBlock);
            double a = 0.0;
            for (int64_t ch = b0; ch < b1; ++ch)
                a = std::max(a, std::fabs(static_cast<double>(q[ch] * fp16_to_fp32(u16_at(grp + static_cast<size_t>(ch) * rec)))));
            e += a / 127.0 * 1.001 / half_step * static_cast<double>(b1 - b0) * kvq::max_code(c.kb);
        }
        worst = std::max(worst, e);
    }
    return std::fabs(static_cast<double>(c.scale)) * worst;
}

// The integer paths (int8 query, int16 value weights) against the same independent reference
// and the fp32 path's bound plus the int8 query's rounding (int8_query_err), with and without
// the residual row; the residual row's is far inside the fp32 bound. The dispatched call is the
// best path, bit for bit.
TEST_CASE("kvmix reference: the dispatched kernel and every integer path this CPU has, within the derived bounds") {
    REQUIRE(golden().ok());
    for (const MixedAttentionPath path :
         {MixedAttentionPath::avx2_int8, MixedAttentionPath::avx_vnni_int8, MixedAttentionPath::avx512_vnni_int8}) {
        if (!mixed_attention_path_available(path)) continue;
        for (const bool residual : {false, true}) {
            double worst = 0;
            int64_t bad = 0;
            for (const Case& c : cases()) {
                const size_t n = static_cast<size_t>(c.n_q() * c.H * c.DV);
                std::vector<float> got(n, NAN), dispatched(n, NAN);
                MixedAttentionParams p = params(c, got.data());
                p.query_residual = residual;
                mixed_attention_cpu_path(p, path);
                if (path == mixed_attention_best_path() && !residual) {
                    mixed_attention_cpu(params(c, dispatched.data()));
                    CHECK(std::memcmp(got.data(), dispatched.data(), n * sizeof(float)) == 0);
                }
                std::vector<double> query_err(static_cast<size_t>(c.n_q() * c.H));  // per query row (t, h)
                for (int64_t row = 0; row < c.n_q() * c.H; ++row) query_err[static_cast<size_t>(row)] = int8_query_err(c, row / c.H, row % c.H, residual);
                for_each_output(c, [&](size_t i, double a, double m, double o, int64_t n_vis, int64_t n_blocks) {
                    const double b = kvmix_test::cpu_bound(a, m, o, c.D, n_vis, n_blocks, 1, query_err[i / static_cast<size_t>(c.DV)]);
                    const double e = std::fabs(static_cast<double>(got[i]) - o);
                    bad += !(e <= b);
                    worst = std::max(worst, e / b);
                });
            }
            std::printf("  path %d%s: worst error / bound %.2e, %lld outside\n", static_cast<int>(path), residual ? " residual" : "", worst,
                        static_cast<long long>(bad));
            CHECK_EQ(bad, int64_t(0));
        }
    }
}

KVMIX_TEST_MAIN()
