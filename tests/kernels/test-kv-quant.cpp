// KVmix quantized KV format and mixed-cache attention (kernels/common/kv-quant-format.h,
// ref/kv-quantize, ref/mixed-attention, cpu/mixed-attention):
//  - packing: every code value at every position of every width and group size survives a
//    pack/unpack round trip, writes stay inside G·b/8 bytes, 3-bit is a real 3-bit code;
//  - quantize -> dequantize: the stored scale within fp16 rounding of (max - min)/(2^b - 1)
//    computed here from the data, min rounded down, error <= s/2 per element (+ fp32 rounding
//    of x̂), constant groups exact (s = 0, no NaN), non-finite input poisons only its group;
//  - mixed_attention_ref == attention_ref over the DEQUANTIZED dense fp32 cache (1e-12),
//    and its error against the UNQUANTIZED fp32 cache per bit width and G (bounds below 1, so
//    an all-zero output fails; the measured values are printed);
//  - mixed_attention_cpu vs ref: NMSE <= 1e-8 (fp32 online softmax with folded scales vs
//    double), NaN parity, guard canaries, head slices, over K/V widths {2,3,4,8,16}
//    independently, G ∈ {32,64,128}, head sizes 64/128/256, random segment splits, GQA 1/2/4/8, n_q 1..5,
//    sliding windows and softcap — for EVERY path this CPU runs, each forced explicitly: the
//    fp32 path against mixed_attention_ref, the int8 paths (AVX2, AVX-VNNI, AVX-512 VNNI)
//    against their twin mixed_attention_int8q_ref (NMSE <= 1e-8, see kTolCpuInt8), with and
//    without the query's residual row, and bit-identical to each other;
//  - code_dot (cpu/code-dot.h), every variant, width, row count and weight count: exactly the
//    integers of the scalar loop over kvq::get_code;
//  - mixed_attention_int8q_ref vs mixed_attention_ref: within the bound derived from the
//    int8 query rounding (score error <= scale·Σ_b (d_b/2)·n_b·qmax; d_b/508 with the residual
//    row) and the int16 weight rounding on the p·v side (see the test).
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <string>
#include <utility>
#include <vector>

#include "check.h"
#include "common/half.h"
#include "common/kv-quant-format.h"
#include "common/mixed-attention-params.h"
#include "cpu/attention.h"
#include "cpu/code-dot.h"
#include "cpu/cpu-features.h"
#include "cpu/mixed-attention.h"
#include "cpu/mixed-attention-vbmi.h"
#include "op-harness.h"
#include "ref/attention.h"
#include "ref/kv-quantize.h"
#include "ref/mixed-attention.h"

using namespace kvmix;
using kvmix_test::Accum;
using kvmix_test::Compare;
using kvmix_test::Guarded;
using kvmix_test::Rng;

namespace {

constexpr int kBits[] = {2, 3, 4, 8};
constexpr int kGroups[] = {32, 64, 128};
constexpr double kTolCpu = 1e-8;
// int8 paths vs their twin: the query codes are bit-identical; the int16 softmax weights are
// quantized from fp32 online-softmax values in the kernel and from double in the twin, so a
// weight within rounding of a tie may land one int16 step apart (<= 2^-15 of the block's
// largest weight: far below this tolerance). Measured worst: 4e-10.
constexpr double kTolCpuInt8 = 1e-8;
constexpr double kTolDequantized = 1e-12;

std::string sci(double v) {
    char buf[32];
    std::snprintf(buf, sizeof buf, "%.3g", v);
    return buf;
}

uint16_t u16_at(const uint8_t* p) {
    uint16_t v;
    std::memcpy(&v, p, 2);
    return v;
}

// ---- a mixed cache built from fp32 K/V ----------------------------------------------------

struct CacheSpec {
    int64_t n_head = 4, n_head_kv = 2, head_dim = 64, head_dim_v = 64;
    int64_t pos_base = 0;  // absolute position of cache token 0
    int64_t sinks = 4, n_groups = 3, tail = 20;
    int group = 32, k_bits = 4, v_bits = 4;  // 16 = fp16 side
    int n_pages = 1;                         // quantized groups split into this many segments
    bool packed = false;                     // quantized strides exactly the format's sizes (else random padding)
    int value_pad = -1;                      // bytes after each value row when not packed (-1: random 0, 2 or 4)
    int32_t window = 0;
    float softcap = 0.0f;
    int64_t n_q = 1;
};

struct MixedCache {
    CacheSpec spec;
    int64_t n_ctx = 0;
    std::vector<float> k, v;          // original fp32 [n_head_kv][n_ctx][D]
    std::vector<float> kd, vd;        // what the cache holds, dequantized: same shape
    std::vector<uint16_t> k16, v16;   // fp16 storage, same shape (only fp16 tokens used)
    std::vector<uint8_t> kq, vq;      // quantized storage (padded strides)
    size_t kq_head = 0, kq_grp = 0, vq_head = 0, vq_tok = 0;
    std::vector<KvSegment> segs;
    std::vector<float> q;
    std::vector<int32_t> q_pos;

    size_t at(int64_t h, int64_t j, int64_t d, int64_t dim) const {
        return static_cast<size_t>((h * n_ctx + j) * dim + d);
    }
};

MixedCache build_cache(const CacheSpec& sp, Rng& rng) {
    MixedCache c;
    c.spec = sp;
    const int64_t G = sp.group, D = sp.head_dim, DV = sp.head_dim_v, HK = sp.n_head_kv;
    const int64_t nq_tok = sp.n_groups * G;
    c.n_ctx = sp.sinks + nq_tok + sp.tail;
    // Keys with per-channel offsets (the outlier channels that motivate per-channel K).
    std::vector<float> chan_bias(static_cast<size_t>(HK * D));
    for (auto& b : chan_bias) b = rng.below(4) == 0 ? rng.normal(3.0f) : 0.0f;
    c.k.resize(static_cast<size_t>(HK * c.n_ctx * D));
    c.v.resize(static_cast<size_t>(HK * c.n_ctx * DV));
    for (int64_t h = 0; h < HK; ++h)
        for (int64_t j = 0; j < c.n_ctx; ++j) {
            for (int64_t d = 0; d < D; ++d) c.k[c.at(h, j, d, D)] = rng.normal() + chan_bias[static_cast<size_t>(h * D + d)];
            for (int64_t d = 0; d < DV; ++d) c.v[c.at(h, j, d, DV)] = rng.normal();
        }
    c.k16.resize(c.k.size());
    c.v16.resize(c.v.size());
    for (size_t i = 0; i < c.k.size(); ++i) c.k16[i] = fp32_to_fp16(c.k[i]);
    for (size_t i = 0; i < c.v.size(); ++i) c.v16[i] = fp32_to_fp16(c.v[i]);
    c.kd.resize(c.k.size());
    c.vd.resize(c.v.size());
    for (size_t i = 0; i < c.k.size(); ++i) c.kd[i] = fp16_to_fp32(c.k16[i]);
    for (size_t i = 0; i < c.v.size(); ++i) c.vd[i] = fp16_to_fp32(c.v16[i]);

    const bool kq = sp.k_bits != 16, vq = sp.v_bits != 16;
    if (kq) {
        c.kq_grp = kvq::key_group_bytes(sp.k_bits, sp.group, D) + (sp.packed ? 0 : 4 * static_cast<size_t>(rng.below(3)));
        c.kq_head = c.kq_grp * static_cast<size_t>(sp.n_groups) + (sp.packed ? 0 : 2 * static_cast<size_t>(rng.below(5)));
        c.kq.assign(c.kq_head * static_cast<size_t>(HK), 0xEE);
        std::vector<float> tmp(static_cast<size_t>(G * D));
        for (int64_t h = 0; h < HK; ++h)
            for (int64_t n = 0; n < sp.n_groups; ++n) {
                const int64_t j0 = sp.sinks + n * G;
                uint8_t* dst = c.kq.data() + static_cast<size_t>(h) * c.kq_head + static_cast<size_t>(n) * c.kq_grp;
                quantize_key_group_ref(&c.k[c.at(h, j0, 0, D)], static_cast<size_t>(D), D, sp.group, sp.k_bits, dst);
                dequantize_key_group_ref(dst, D, sp.group, sp.k_bits, tmp.data(), static_cast<size_t>(D));
                std::copy(tmp.begin(), tmp.end(), c.kd.begin() + static_cast<std::ptrdiff_t>(c.at(h, j0, 0, D)));
            }
    }
    if (vq) {
        const size_t pad = sp.value_pad >= 0 ? static_cast<size_t>(sp.value_pad) : 2 * static_cast<size_t>(rng.below(3));
        c.vq_tok = kvq::value_row_bytes(sp.v_bits, sp.group, DV) + (sp.packed ? 0 : pad);
        c.vq_head = c.vq_tok * static_cast<size_t>(nq_tok) + (sp.packed ? 0 : static_cast<size_t>(rng.below(7)));
        c.vq.assign(c.vq_head * static_cast<size_t>(HK), 0xEE);
        for (int64_t h = 0; h < HK; ++h)
            for (int64_t i = 0; i < nq_tok; ++i) {
                const int64_t j = sp.sinks + i;
                uint8_t* dst = c.vq.data() + static_cast<size_t>(h) * c.vq_head + static_cast<size_t>(i) * c.vq_tok;
                quantize_value_row_ref(&c.v[c.at(h, j, 0, DV)], DV, sp.group, sp.v_bits, dst);
                dequantize_value_row_ref(dst, DV, sp.group, sp.v_bits, &c.vd[c.at(h, j, 0, DV)]);
            }
    }

    // Segments: [sinks fp16][quantized groups in n_pages pages][tail fp16]. fp16 segments
    // point into the full-size fp16 arrays (head stride n_ctx·D), offset to their first token.
    auto fp16_seg = [&](int64_t j0, int64_t n) {
        KvSegment s;
        s.pos0 = sp.pos_base + j0;
        s.n_tokens = n;
        s.k16 = c.k16.data() + j0 * D;
        s.k16_head_stride = static_cast<size_t>(c.n_ctx * D);
        s.v16 = c.v16.data() + j0 * DV;
        s.v16_head_stride = static_cast<size_t>(c.n_ctx * DV);
        return s;
    };
    if (sp.sinks > 0) c.segs.push_back(fp16_seg(0, sp.sinks));
    // Random page boundaries at group granularity.
    std::vector<int64_t> cuts = {0, sp.n_groups};
    for (int i = 1; i < sp.n_pages && sp.n_groups > 1; ++i) cuts.push_back(1 + rng.below(sp.n_groups - 1));
    std::sort(cuts.begin(), cuts.end());
    cuts.erase(std::unique(cuts.begin(), cuts.end()), cuts.end());
    for (size_t i = 0; i + 1 < cuts.size(); ++i) {
        const int64_t g0 = cuts[i], gn = cuts[i + 1] - cuts[i];
        KvSegment s = fp16_seg(sp.sinks + g0 * G, gn * G);
        s.k_bits = sp.k_bits;
        s.v_bits = sp.v_bits;
        s.group_size = sp.group;
        if (kq) {
            s.k16 = nullptr;
            s.kq = c.kq.data() + static_cast<size_t>(g0) * c.kq_grp;
            s.kq_head_stride = c.kq_head;
            s.kq_group_stride = c.kq_grp;
        }
        if (vq) {
            s.v16 = nullptr;
            s.vq = c.vq.data() + static_cast<size_t>(g0 * G) * c.vq_tok;
            s.vq_head_stride = c.vq_head;
            s.vq_token_stride = c.vq_tok;
        }
        c.segs.push_back(s);
    }
    if (sp.tail > 0) c.segs.push_back(fp16_seg(sp.sinks + nq_tok, sp.tail));

    // Queries: the last position always; others random over the context (and a bit before
    // it when pos_base > 0, where they see nothing).
    c.q = rng.normals(static_cast<size_t>(sp.n_q * sp.n_head * D));
    for (int64_t t = 0; t < sp.n_q; ++t) {
        const int64_t pos = t == 0 ? sp.pos_base + c.n_ctx - 1 : rng.below(sp.pos_base + c.n_ctx);
        c.q_pos.push_back(static_cast<int32_t>(pos));
    }
    return c;
}

MixedAttentionParams mixed_params(const MixedCache& c, float* out, int64_t hb, int64_t he, bool query_residual = false) {
    const CacheSpec& sp = c.spec;
    MixedAttentionParams p;
    p.q = c.q.data();
    p.q_stride = static_cast<size_t>(sp.n_head * sp.head_dim);
    p.out = out;
    p.out_stride = static_cast<size_t>(sp.n_head * sp.head_dim_v);
    p.n_q = sp.n_q;
    p.n_head = sp.n_head;
    p.n_head_kv = sp.n_head_kv;
    p.head_dim = sp.head_dim;
    p.head_dim_v = sp.head_dim_v;
    p.q_pos = c.q_pos.data();
    p.window = sp.window;
    p.scale = 1.0f / std::sqrt(static_cast<float>(sp.head_dim));
    p.softcap = sp.softcap;
    p.segments = c.segs.data();
    p.n_segments = static_cast<int32_t>(c.segs.size());
    p.head_begin = hb;
    p.head_end = he;
    p.query_residual = query_residual;
    return p;
}

// attention_ref over a dense fp32 cache [n_head_kv][n_ctx][D] whose slot j is absolute
// position pos_base + j: queries are shifted by pos_base (positions before the cache see nothing).
std::vector<float> dense_attention(const MixedCache& c, const std::vector<float>& k, const std::vector<float>& v) {
    const CacheSpec& sp = c.spec;
    std::vector<float> out(static_cast<size_t>(sp.n_q * sp.n_head * sp.head_dim_v));
    std::vector<int32_t> pos(c.q_pos.size());
    for (size_t t = 0; t < pos.size(); ++t) pos[t] = static_cast<int32_t>(c.q_pos[t] - sp.pos_base);
    for (int64_t t = 0; t < sp.n_q; ++t) {
        AttentionParams a;
        a.q = c.q.data() + static_cast<size_t>(t * sp.n_head * sp.head_dim);
        a.q_stride = 0;
        a.out = out.data() + static_cast<size_t>(t * sp.n_head * sp.head_dim_v);
        a.out_stride = 0;
        a.n_q = 1;
        a.n_head = sp.n_head;
        a.n_head_kv = sp.n_head_kv;
        a.head_dim = sp.head_dim;
        a.head_dim_v = sp.head_dim_v;
        a.n_kv = c.n_ctx;
        a.q_pos = &pos[static_cast<size_t>(t)];
        a.window = sp.window;
        a.scale = 1.0f / std::sqrt(static_cast<float>(sp.head_dim));
        a.softcap = sp.softcap;
        a.head_begin = 0;
        a.head_end = sp.n_head;
        a.kv_type = KvElementType::f32;
        a.k_f32 = k.data();
        a.k_head_stride = static_cast<size_t>(c.n_ctx * sp.head_dim);
        a.v_f32 = v.data();
        a.v_head_stride = static_cast<size_t>(c.n_ctx * sp.head_dim_v);
        if (pos[static_cast<size_t>(t)] < 0) {  // sees nothing
            std::fill(a.out, a.out + sp.n_head * sp.head_dim_v, 0.0f);
            continue;
        }
        attention_ref(a);
    }
    return out;
}

Compare compare(const float* got, const float* want, size_t n) {
    Accum acc;
    for (size_t i = 0; i < n; ++i) acc.add(got[i], want[i], i);
    return acc.result();
}

std::string describe(const CacheSpec& s) {
    char buf[256];
    std::snprintf(buf, sizeof buf, "k%d v%d G%d H%lld/%lld D%lld/%lld sinks %lld groups %lld pages %d tail %lld win %d cap %g nq %lld base %lld",
                  s.k_bits, s.v_bits, s.group, static_cast<long long>(s.n_head), static_cast<long long>(s.n_head_kv),
                  static_cast<long long>(s.head_dim), static_cast<long long>(s.head_dim_v), static_cast<long long>(s.sinks),
                  static_cast<long long>(s.n_groups), s.n_pages, static_cast<long long>(s.tail), s.window,
                  static_cast<double>(s.softcap), static_cast<long long>(s.n_q), static_cast<long long>(s.pos_base));
    return buf;
}

const char* path_name(MixedAttentionPath path) {
    switch (path) {
        case MixedAttentionPath::best: return "best";
        case MixedAttentionPath::scalar: return "scalar";
        case MixedAttentionPath::avx2_fp32: return "avx2_fp32";
        case MixedAttentionPath::avx2_int8: return "avx2_int8";
        case MixedAttentionPath::avx_vnni_int8: return "avx_vnni_int8";
        case MixedAttentionPath::avx512_vnni_int8: return "avx512_vnni_int8";
    }
    return "?";
}

constexpr MixedAttentionPath kInt8Paths[] = {MixedAttentionPath::avx2_int8, MixedAttentionPath::avx_vnni_int8,
                                             MixedAttentionPath::avx512_vnni_int8};

// One SIMD path vs its twin (ref: mixed_attention_ref or mixed_attention_int8q_ref) over the
// full head range and a slice, with guards. Returns the worst NMSE; `full` gets the output.
double check_path_vs_twin(const MixedCache& c, const std::string& what, MixedAttentionPath path, const Guarded& ref,
                          std::vector<float>& full, bool residual = false) {
    const CacheSpec& sp = c.spec;
    const double tol = path == MixedAttentionPath::avx2_fp32 ? kTolCpu : kTolCpuInt8;
    const size_t n = static_cast<size_t>(sp.n_q * sp.n_head * sp.head_dim_v);
    Guarded cpu(n);
    mixed_attention_cpu_path(mixed_params(c, cpu.data(), 0, sp.n_head, residual), path);
    full.assign(cpu.data(), cpu.data() + n);
    const Compare r = compare(cpu.data(), ref.data(), n);
    CHECK(cpu.guards_intact());
    if (!(r.parity_breaks == 0 && r.nmse <= tol))
        std::fprintf(stderr, "%s vs twin: %s: nmse %s, parity breaks %zu\n", path_name(path), what.c_str(), sci(r.nmse).c_str(),
                     r.parity_breaks);
    CHECK(r.parity_breaks == 0);
    CHECK(r.nmse <= tol);
    double worst = r.nmse;
    // A head slice writes exactly its heads.
    if (sp.n_head > 1) {
        const int64_t hb = 1, he = sp.n_head - (sp.n_head > 2 ? 1 : 0);
        cpu.fill_canary();
        mixed_attention_cpu_path(mixed_params(c, cpu.data(), hb, he, residual), path);
        CHECK(cpu.guards_intact());
        bool slice_ok = true;
        for (int64_t t = 0; t < sp.n_q; ++t)
            for (int64_t h = 0; h < sp.n_head; ++h)
                for (int64_t d = 0; d < sp.head_dim_v; ++d) {
                    const size_t i = static_cast<size_t>((t * sp.n_head + h) * sp.head_dim_v + d);
                    const bool inside = h >= hb && h < he;
                    if (inside != !kvmix_test::is_canary(cpu[i])) slice_ok = false;
                    if (!inside) cpu[i] = ref[i];
                }
        CHECK(slice_ok);
        const Compare rs = compare(cpu.data(), ref.data(), n);
        CHECK(rs.parity_breaks == 0 && rs.nmse <= tol);
        worst = std::max(worst, rs.nmse);
    }
    return worst;
}

// Every path this CPU runs: fp32 vs mixed_attention_ref, each int8 path vs
// mixed_attention_int8q_ref with and without the query's residual row, the int8 paths
// bit-identical to each other, and the dispatched mixed_attention_cpu equal to the path it
// resolves to. Returns the worst NMSE.
double check_cpu_vs_ref(const MixedCache& c, const std::string& what) {
    const CacheSpec& sp = c.spec;
    const size_t n = static_cast<size_t>(sp.n_q * sp.n_head * sp.head_dim_v);
    Guarded ref(n);
    mixed_attention_ref(mixed_params(c, ref.data(), 0, sp.n_head));
    CHECK(ref.guards_intact());
    double worst = 0.0;
    std::vector<float> out, first_int8;
    if (mixed_attention_path_available(MixedAttentionPath::avx2_fp32))
        worst = std::max(worst, check_path_vs_twin(c, what, MixedAttentionPath::avx2_fp32, ref, out));
    for (const bool residual : {false, true}) {
        Guarded ref_int8(n);
        mixed_attention_int8q_ref(mixed_params(c, ref_int8.data(), 0, sp.n_head, residual));
        CHECK(ref_int8.guards_intact());
        first_int8.clear();
        for (MixedAttentionPath path : kInt8Paths) {
            if (!mixed_attention_path_available(path)) continue;
            worst = std::max(worst, check_path_vs_twin(c, what + (residual ? ", residual" : ""), path, ref_int8, out, residual));
            if (first_int8.empty()) {
                first_int8 = out;
            } else {
                const bool same = std::memcmp(out.data(), first_int8.data(), n * sizeof(float)) == 0;
                if (!same) std::fprintf(stderr, "%s differs from avx2_int8: %s\n", path_name(path), what.c_str());
                CHECK(same);
            }
        }
    }
    std::vector<float> best(n);
    mixed_attention_cpu(mixed_params(c, best.data(), 0, sp.n_head));
    mixed_attention_cpu_path(mixed_params(c, out.data(), 0, sp.n_head), mixed_attention_best_path());
    CHECK(std::memcmp(best.data(), out.data(), n * sizeof(float)) == 0);
    return worst;
}

}  // namespace

// ---- packing ------------------------------------------------------------------------------

TEST_CASE("kv format: sizes are exact, b + 32/G bits per element with metadata") {
    for (int b : kBits)
        for (int g : kGroups) {
            CHECK(kvq::codes_bytes(b, g) * 8 == static_cast<size_t>(g * b));
            for (int64_t d : {32, 64, 128, 256}) {
                // Key group: G tokens x d channels; value row: 1 token x d channels.
                CHECK(kvq::key_group_bytes(b, g, d) * 8 * static_cast<size_t>(g) ==
                      static_cast<size_t>(g * d) * static_cast<size_t>(b * g + 32));
                if (d % g == 0)
                    CHECK(kvq::value_row_bytes(b, g, d) * 8 * static_cast<size_t>(g) ==
                          static_cast<size_t>(d) * static_cast<size_t>(b * g + 32));
            }
        }
    CHECK(kvq::codes_bytes(3, 32) == 12);  // 96 bits for 32 codes: a real 3-bit code each
    CHECK(!kvq::value_row_supported(32, 16) && kvq::value_row_supported(128, 256) && !kvq::value_row_supported(128, 64));
}

TEST_CASE("kv format: every code at every position survives pack/unpack; writes stay in G*b/8 bytes") {
    for (int b : kBits)
        for (int g : kGroups) {
            const uint32_t n_codes = kvq::max_code(b) + 1;
            const size_t nbytes = kvq::codes_bytes(b, g);
            int bad = 0;
            for (uint32_t v = 0; v < n_codes; ++v)
                for (uint32_t stride : {1u, 3u}) {
                    std::vector<uint8_t> buf(nbytes, 0);
                    buf.resize(nbytes + 8, 0xA5);  // canaries after the codes
                    auto code_of = [&](int i) { return (v + stride * static_cast<uint32_t>(i)) % n_codes; };
                    for (int i = 0; i < g; ++i)
                        kvq::put_code(buf.data() + (i / 32) * kvq::chunk_bytes(b), b, i % 32, code_of(i));
                    for (int i = 0; i < g; ++i)
                        bad += kvq::get_code(buf.data() + (i / 32) * kvq::chunk_bytes(b), b, i % 32) != code_of(i);
                    for (size_t i = nbytes; i < buf.size(); ++i) bad += buf[i] != 0xA5;
                }
            if (bad) std::fprintf(stderr, "b=%d G=%d: %d mismatches\n", b, g, bad);
            CHECK(bad == 0);
        }
}

TEST_CASE("kv format: 3-bit keeps all three bits of every element (no 11-per-word clipping)") {
    // Every element 7, then every element a distinct pattern: with 32 codes in 96 bits there
    // is no slot to drop. A layout that packs 10 or 11 codes per 32-bit word would lose the
    // top bit of element 10 / 21 / 31 here.
    for (int g : kGroups) {
        std::vector<float> x(static_cast<size_t>(g));
        for (int i = 0; i < g; ++i) x[static_cast<size_t>(i)] = static_cast<float>(i % 8);
        x[0] = 0.0f;
        x[1] = 7.0f;  // min 0, max 7: s = 1 exactly, codes = values
        std::vector<uint8_t> row(kvq::value_row_bytes(3, g, g));
        quantize_value_row_ref(x.data(), g, g, 3, row.data());
        CHECK(u16_at(row.data()) == fp32_to_fp16(1.0f));
        std::vector<float> y(static_cast<size_t>(g));
        dequantize_value_row_ref(row.data(), g, g, 3, y.data());
        int bad = 0;
        for (int i = 0; i < g; ++i) bad += y[static_cast<size_t>(i)] != x[static_cast<size_t>(i)];
        CHECK(bad == 0);
        // All-7 codes set exactly 3·G bits.
        std::vector<uint8_t> codes(kvq::codes_bytes(3, g), 0);
        for (int i = 0; i < g; ++i) kvq::put_code(codes.data() + (i / 32) * 12, 3, i % 32, 7);
        int bits = 0;
        for (uint8_t byte : codes) bits += __builtin_popcount(byte);
        CHECK(bits == 3 * g);
    }
}

// ---- quantize / dequantize ----------------------------------------------------------------

namespace {

// Spacing of fp16 values at |y| (the fp16 ulp there; 2^-24 among subnormals).
double fp16_spacing(double y) {
    const uint16_t h = fp32_to_fp16(static_cast<float>(std::fabs(y)));
    return static_cast<double>(fp16_to_fp32(static_cast<uint16_t>((h & 0x7FFFu) + 1))) - fp16_to_fp32(h & 0x7FFFu);
}

// Checks one record's stored (s, m) against the group's own min/max, computed here, and every
// element's error against that independent scale. The format (kv-quant-format.h) rounds min
// down (m <= min, by less than one fp16 spacing) and the scale up so the grid covers [min, max]:
//   s_true = (max - min) / qmax <= s <= (max - m) / qmax · (1 + 2^-24) + 1.5 fp16 spacings of s
// (fp32 then fp16 rounding of the quotient, plus the one-step round-up). An element is within
// half a stored step of its value, so |x - x̂| <= s_hi / 2 (+ fp32 rounding of x̂ = q·s + m).
// Returns the worst |x - x̂| / (s_hi / 2 + slack).
double check_record(const float* x, size_t stride, int g, int b, const uint8_t* rec, const float* xd, size_t xd_stride) {
    double mn = x[0], mx = x[0];
    for (int i = 0; i < g; ++i) {
        mn = std::min(mn, static_cast<double>(x[static_cast<size_t>(i) * stride]));
        mx = std::max(mx, static_cast<double>(x[static_cast<size_t>(i) * stride]));
    }
    const double qmax = kvq::max_code(b), s_true = (mx - mn) / qmax;
    const double s = fp16_to_fp32(u16_at(rec)), m = fp16_to_fp32(u16_at(rec + 2));
    const double s_hi = (mx - mn + fp16_spacing(mn)) / qmax * (1 + 0x1p-24) + 1.5 * fp16_spacing(s);
    CHECK(m <= mn && mn - m < fp16_spacing(mn));
    CHECK(s >= s_true && s <= s_hi);
    if (!(s >= s_true && s <= s_hi)) std::fprintf(stderr, "b=%d G=%d: s %.9g outside [%.9g, %.9g]\n", b, g, s, s_true, s_hi);
    double worst = 0;
    for (int i = 0; i < g; ++i) {
        const double slack = 1e-6 * (std::fabs(m) + qmax * s);
        const double err = std::fabs(static_cast<double>(x[static_cast<size_t>(i) * stride]) - xd[static_cast<size_t>(i) * xd_stride]);
        CHECK(err <= s_hi / 2.0 + slack);
        worst = std::max(worst, err / (s_hi / 2.0 + slack));
    }
    return worst;
}

}  // namespace

TEST_CASE("kv quantize: scale within fp16 rounding of (max - min)/(2^b - 1), error <= s/2, keys per channel, values per token") {
    Rng rng(11);
    for (int b : kBits)
        for (int g : kGroups)
            for (const int64_t D : {128, 256}) {
                double worst_ratio = 0;
                for (int rep = 0; rep < 4; ++rep) {
                    const float spread = rep == 3 ? 1e-3f : 1.0f, offset = rep == 2 ? 37.0f : 0.0f;
                    std::vector<float> k(static_cast<size_t>(g * D)), kd(k.size());
                    for (auto& x : k) x = offset + rng.normal(spread);
                    std::vector<uint8_t> grp(kvq::key_group_bytes(b, g, D));
                    quantize_key_group_ref(k.data(), static_cast<size_t>(D), D, g, b, grp.data());
                    dequantize_key_group_ref(grp.data(), D, g, b, kd.data(), static_cast<size_t>(D));
                    for (int64_t c = 0; c < D; ++c)
                        worst_ratio = std::max(worst_ratio, check_record(k.data() + c, static_cast<size_t>(D), g, b,
                                                                         grp.data() + static_cast<size_t>(c) * kvq::key_record_bytes(b, g),
                                                                         kd.data() + c, static_cast<size_t>(D)));
                    // Values per token over channel groups: one row of D channels.
                    std::vector<float> v(static_cast<size_t>(D)), vd(v.size());
                    for (auto& x : v) x = offset + rng.normal(spread);
                    std::vector<uint8_t> row(kvq::value_row_bytes(b, g, D));
                    quantize_value_row_ref(v.data(), D, g, b, row.data());
                    dequantize_value_row_ref(row.data(), D, g, b, vd.data());
                    for (int64_t i = 0; i < D / g; ++i)
                        worst_ratio = std::max(worst_ratio, check_record(v.data() + i * g, 1, g, b,
                                                                         row.data() + static_cast<size_t>(i) * kvq::value_record_bytes(b, g),
                                                                         vd.data() + i * g, 1));
                }
                CHECK(worst_ratio <= 1.0);
            }
}

TEST_CASE("kv quantize: constant groups are exact with s = 0; non-finite input poisons its group only") {
    for (int b : kBits)
        for (int g : kGroups) {
            for (float cst : {0.0f, 0.75f, -3.5f, 0.1f}) {
                std::vector<float> x(static_cast<size_t>(g), cst), y(x.size());
                std::vector<uint8_t> row(kvq::value_row_bytes(b, g, g));
                quantize_value_row_ref(x.data(), g, g, b, row.data());
                dequantize_value_row_ref(row.data(), g, g, b, y.data());
                CHECK(u16_at(row.data()) == 0);  // s = +0
                const float want = fp16_to_fp32(fp32_to_fp16(cst));  // exact when representable
                bool ok = true;
                for (float f : y) ok &= f == want && !std::isnan(f);
                CHECK(ok);
            }
            // NaN in one channel group: that group NaN, the other intact.
            std::vector<float> x(static_cast<size_t>(2 * g)), y(x.size());
            for (int i = 0; i < 2 * g; ++i) x[static_cast<size_t>(i)] = static_cast<float>(i % 5);
            x[3] = NAN;
            std::vector<uint8_t> row(kvq::value_row_bytes(b, g, 2 * g));
            quantize_value_row_ref(x.data(), 2 * g, g, b, row.data());
            dequantize_value_row_ref(row.data(), 2 * g, g, b, y.data());
            bool ok = true;
            for (int i = 0; i < g; ++i) ok &= std::isnan(y[static_cast<size_t>(i)]);
            for (int i = g; i < 2 * g; ++i) ok &= std::isfinite(y[static_cast<size_t>(i)]);
            CHECK(ok);
        }
}

TEST_CASE("kv quantize: tiny ranges use subnormal fp16 scales without dividing by zero") {
    std::vector<float> x(32), y(32);
    for (int i = 0; i < 32; ++i) x[static_cast<size_t>(i)] = 1.0f + static_cast<float>(i) * 1e-9f;
    std::vector<uint8_t> row(kvq::value_row_bytes(2, 32, 32));
    quantize_value_row_ref(x.data(), 32, 32, 2, row.data());
    dequantize_value_row_ref(row.data(), 32, 32, 2, y.data());
    bool ok = true;
    for (int i = 0; i < 32; ++i) ok &= std::isfinite(y[static_cast<size_t>(i)]) && std::fabs(y[static_cast<size_t>(i)] - x[static_cast<size_t>(i)]) < 1e-3f;
    CHECK(ok);
}

// ---- mixed attention: reference ------------------------------------------------------------

TEST_CASE("mixed_attention_ref equals attention_ref over the dequantized dense cache") {
    Rng rng(21);
    double worst = 0;
    for (int kb : {2, 3, 4, 8, 16})
        for (int vb : {2, 3, 4, 8, 16})
            for (int g : {32, 64}) {
                CacheSpec sp;
                sp.k_bits = kb;
                sp.v_bits = vb;
                sp.group = g;
                sp.n_groups = 2;
                sp.n_pages = 2;
                sp.tail = 1 + rng.below(40);
                sp.n_q = 3;
                sp.window = rng.below(2) ? 0 : static_cast<int32_t>(20 + rng.below(100));
                sp.softcap = rng.below(2) ? 0.0f : 5.0f;
                sp.pos_base = rng.below(2) ? 0 : 7;
                MixedCache c = build_cache(sp, rng);
                std::vector<float> out(static_cast<size_t>(sp.n_q * sp.n_head * sp.head_dim_v));
                mixed_attention_ref(mixed_params(c, out.data(), 0, sp.n_head));
                const std::vector<float> want = dense_attention(c, c.kd, c.vd);
                const Compare r = compare(out.data(), want.data(), out.size());
                CHECK(r.parity_breaks == 0);
                CHECK(r.nmse <= kTolDequantized);
                worst = std::max(worst, r.nmse);
            }
    std::printf("  ref vs dense attention over the dequantized cache: worst nmse %s\n", sci(worst).c_str());
}

TEST_CASE("mixed_attention_ref vs the unquantized fp32 cache: error per bit width") {
    // All-quantized cache, K and V at the same width; bounds ~1.5x the measured NMSE per width
    // and G (printed; deterministic seed), all below 1: an all-zero output scores exactly 1.
    // D = 128, 512 random-normal tokens, GQA 4.
    Rng rng(31);
    auto bound = [](int b, int g) {
        switch (b) {
            case 2: return g == 32 ? 0.5 : g == 64 ? 0.66 : 0.93;
            case 3: return g == 128 ? 0.15 : 0.11;
            case 4: return g == 32 ? 0.017 : 0.03;
            default: return g == 32 ? 3.3e-5 : 1e-4;
        }
    };
    for (int b : kBits) {
        for (int g : kGroups) {
            CacheSpec sp;
            sp.k_bits = sp.v_bits = b;
            sp.group = g;
            sp.head_dim = sp.head_dim_v = 128;
            sp.n_head = 4;
            sp.n_head_kv = 1;
            sp.sinks = 0;
            sp.tail = 0;
            sp.n_groups = 512 / g;
            sp.n_q = 4;
            MixedCache c = build_cache(sp, rng);
            std::vector<float> out(static_cast<size_t>(sp.n_q * sp.n_head * sp.head_dim_v));
            mixed_attention_ref(mixed_params(c, out.data(), 0, sp.n_head));
            const std::vector<float> want = dense_attention(c, c.k, c.v);
            const Compare r = compare(out.data(), want.data(), out.size());
            CHECK(r.parity_breaks == 0);
            CHECK(r.nmse <= bound(b, g));
            std::printf("  k%d v%d G%-3d: nmse vs unquantized fp32 cache %s (bound %s)\n", b, b, g, sci(r.nmse).c_str(),
                        sci(bound(b, g)).c_str());
        }
    }
}

TEST_CASE("mixed attention: queries before every segment see nothing and yield zeros") {
    Rng rng(41);
    CacheSpec sp;
    sp.pos_base = 50;
    sp.n_q = 2;
    MixedCache c = build_cache(sp, rng);
    c.q_pos = {10, 49};
    const size_t n = static_cast<size_t>(sp.n_q * sp.n_head * sp.head_dim_v);
    Guarded ref(n), cpu(n);
    mixed_attention_ref(mixed_params(c, ref.data(), 0, sp.n_head));
    mixed_attention_cpu(mixed_params(c, cpu.data(), 0, sp.n_head));
    bool zeros = true;
    for (size_t i = 0; i < n; ++i) zeros &= ref[i] == 0.0f && cpu[i] == 0.0f;
    CHECK(zeros);
    CHECK(ref.guards_intact() && cpu.guards_intact());
    // No segments at all.
    MixedAttentionParams p = mixed_params(c, cpu.data(), 0, sp.n_head);
    p.n_segments = 0;
    cpu.fill_canary();
    mixed_attention_cpu(p);
    zeros = true;
    for (size_t i = 0; i < n; ++i) zeros &= cpu[i] == 0.0f;
    CHECK(zeros && cpu.guards_intact());
}

// ---- mixed attention: cpu vs ref -----------------------------------------------------------

TEST_CASE("mixed_attention_cpu vs ref: every K/V width pair, group size, GQA ratio, windows, softcap") {
    Rng rng(51);
    double worst = 0;
    int cases = 0;
    const int bits[] = {2, 3, 4, 8, 16};
    for (int kb : bits)
        for (int vb : bits)
            for (int g : kGroups) {
                CacheSpec sp;
                sp.k_bits = kb;
                sp.v_bits = vb;
                sp.group = g;
                const int64_t gqa = int64_t{1} << rng.below(4);  // 1, 2, 4, 8
                sp.n_head_kv = 1 + rng.below(2);
                sp.n_head = sp.n_head_kv * gqa;
                sp.head_dim = g == 128 ? 128 * (1 + rng.below(2)) : int64_t{64} << rng.below(3);  // 64, 128, 256
                sp.head_dim_v = sp.head_dim;
                if (kb != 16 && vb == 16 && rng.below(3) == 0) sp.head_dim = sp.head_dim_v = 40 + 8 * rng.below(3);
                sp.sinks = rng.below(6);
                sp.n_groups = 1 + rng.below(3);
                sp.n_pages = 1 + static_cast<int>(rng.below(3));
                sp.tail = rng.below(70);
                sp.n_q = rng.below(3) ? 1 : 2 + rng.below(4);
                sp.window = rng.below(3) ? 0 : static_cast<int32_t>(1 + rng.below(150));
                sp.softcap = rng.below(4) == 0 ? 3.0f : 0.0f;
                sp.pos_base = rng.below(4) == 0 ? 3 + rng.below(20) : 0;
                MixedCache c = build_cache(sp, rng);
                worst = std::max(worst, check_cpu_vs_ref(c, describe(sp)));
                ++cases;
            }
    std::printf("  cpu vs ref: %d shapes, worst nmse %s (tol %s fp32, %s int8)\n", cases, sci(worst).c_str(), sci(kTolCpu).c_str(),
                sci(kTolCpuInt8).c_str());
}

TEST_CASE("mixed_attention_cpu vs ref: odd head dims on fp16 keys, GQA 3/6 (heads split 4+2), 1-token window") {
    Rng rng(61);
    for (int64_t gqa : {3, 6, 7}) {
        CacheSpec sp;
        sp.n_head_kv = 2;
        sp.n_head = 2 * gqa;
        sp.k_bits = 16;
        sp.v_bits = 16;
        sp.head_dim = 36;
        sp.head_dim_v = 20;
        sp.n_q = 3;
        MixedCache c = build_cache(sp, rng);
        check_cpu_vs_ref(c, "fp16 odd dims gqa " + std::to_string(gqa));
        sp.k_bits = 3;
        sp.v_bits = 2;
        sp.head_dim = sp.head_dim_v = 64;
        sp.window = 1;
        MixedCache c2 = build_cache(sp, rng);
        check_cpu_vs_ref(c2, "k3 v2 window 1 gqa " + std::to_string(gqa));
    }
}

TEST_CASE("mixed_attention_cpu vs ref: NaN parity (query head, fp16 sink key, poisoned quantized group)") {
    Rng rng(71);
    for (int kb : {2, 3, 4, 8}) {
        CacheSpec sp;
        sp.k_bits = kb;
        sp.v_bits = kb == 8 ? 2 : (kb == 4 ? 8 : kb + 1);
        sp.n_q = 2;
        sp.n_head = 4;
        sp.n_head_kv = 2;
        MixedCache c = build_cache(sp, rng);
        c.q[5] = NAN;  // query 0, head 0
        c.k16[c.at(1, 0, 3, sp.head_dim)] = fp32_to_fp16(NAN);  // kv head 1, sink token 0
        check_cpu_vs_ref(c, "nan q / sink key k" + std::to_string(kb));
        // A quantized key record with a NaN scale: every query that sees the group is NaN.
        MixedCache c2 = build_cache(sp, rng);
        const uint16_t nan16 = 0x7E00;
        std::memcpy(c2.kq.data() + 7 * kvq::key_record_bytes(kb, sp.group), &nan16, 2);
        check_cpu_vs_ref(c2, "nan key scale k" + std::to_string(kb));
    }
}

TEST_CASE("mixed_attention_cpu vs ref: long context, many pages (G = 128, GQA 8)") {
    Rng rng(81);
    CacheSpec sp;
    sp.k_bits = 2;
    sp.v_bits = 3;
    sp.group = 128;
    sp.n_head = 8;
    sp.n_head_kv = 1;
    sp.head_dim = sp.head_dim_v = 128;
    sp.n_groups = 8;
    sp.n_pages = 5;
    sp.tail = 100;
    sp.n_q = 3;
    sp.window = 700;
    MixedCache c = build_cache(sp, rng);
    check_cpu_vs_ref(c, describe(sp));
}

TEST_CASE("mixed_attention_cpu vs ref: GQA 3 decode (one tile of 3 rows: 6 int8 key rows, 3 value rows)") {
    // Decode runs a kv head's 3 query heads as one tile; the head slices in check_cpu_vs_ref
    // run 2 + 1 instead.
    Rng rng(83);
    double worst = 0;
    for (int kb : {2, 3, 4, 8, 16})
        for (int vb : {2, 3, 4, 8, 16})
            for (const int64_t d : {64, 128, 256}) {
                CacheSpec sp;
                sp.k_bits = kb;
                sp.v_bits = vb;
                sp.group = d == 64 ? 64 : 32;
                sp.n_head_kv = 1 + rng.below(2);
                sp.n_head = 3 * sp.n_head_kv;
                sp.head_dim = sp.head_dim_v = d;
                sp.sinks = rng.below(6);
                sp.n_groups = 1 + rng.below(3);
                sp.n_pages = 1 + static_cast<int>(rng.below(3));
                sp.tail = rng.below(70);
                sp.n_q = 1;
                sp.window = rng.below(3) ? 0 : static_cast<int32_t>(1 + rng.below(150));
                MixedCache c = build_cache(sp, rng);
                worst = std::max(worst, check_cpu_vs_ref(c, describe(sp) + " gqa3"));
            }
    std::printf("  GQA 3 decode: worst nmse %s\n", sci(worst).c_str());
}

TEST_CASE("mixed_attention_cpu vs ref: prefill chunks (query tiles of up to 8 rows, tile tails, causal and windowed)") {
    // A prefill chunk: n_q consecutive positions ending at the cache end, so rows of one tile
    // see different (causal) ranges; MHA tiles 8 tokens, GQA 2/4 tiles 4/2 tokens, GQA 8 one.
    Rng rng(82);
    double worst = 0;
    for (const int64_t n_head_kv : {8, 4, 2, 1})
        for (const int64_t n_q : {1, 3, 8, 13, 19}) {
            CacheSpec sp;
            sp.n_head = 8;
            sp.n_head_kv = n_head_kv;
            sp.head_dim = sp.head_dim_v = 64;
            sp.k_bits = n_q % 2 ? 2 : 4;
            sp.v_bits = n_head_kv == 2 ? 3 : 2;
            sp.n_groups = 4;
            sp.n_pages = 2;
            sp.tail = 45;
            sp.n_q = n_q;
            sp.window = n_q == 13 ? 70 : 0;
            MixedCache c = build_cache(sp, rng);
            for (int64_t t = 0; t < n_q; ++t) c.q_pos[static_cast<size_t>(t)] = static_cast<int32_t>(sp.pos_base + c.n_ctx - n_q + t);
            worst = std::max(worst, check_cpu_vs_ref(c, describe(sp) + " prefill"));
        }
    std::printf("  prefill tiles: worst nmse %s (tol %s)\n", sci(worst).c_str(), sci(kTolCpu).c_str());
}

// ---- int8 query: code dots, twin vs the fp32 reference ------------------------------------

namespace {

// How many of the n_w × 32 code_dot results differ from the scalar loop over kvq::get_code:
// got[g·32 + i] = Σ_r w[g·w_stride + r] · code_i(row r).
template <class W>
int code_dot_wrong(const std::vector<uint8_t>& codes, size_t stride, int64_t n_rows, int b, const std::vector<W>& w, size_t w_stride,
                   int n_w, const std::vector<int32_t>& got) {
    int bad = 0;
    for (int g = 0; g < n_w; ++g)
        for (int i = 0; i < 32; ++i) {
            int64_t want = 0;
            for (int64_t r = 0; r < n_rows; ++r)
                want += int64_t{w[static_cast<size_t>(g) * w_stride + static_cast<size_t>(r)]} *
                        kvq::get_code(codes.data() + static_cast<size_t>(r) * stride, b, i);
            bad += got[static_cast<size_t>(g * 32 + i)] != want;
        }
    return bad;
}

}  // namespace

TEST_CASE("code_dot / code_dot16: every variant, width and weight count gives the exact integers of the scalar loop") {
    Rng rng(91);
    const CodeDotIsa isas[] = {CodeDotIsa::avx2, CodeDotIsa::avx_vnni, CodeDotIsa::avx512};
    const bool have[] = {cpu_has_avx2_fma_f16c(), cpu_has_avx_vnni(), cpu_has_avx512_vnni()};
    int tested = 0;
    for (int v = 0; v < 3; ++v) {
        if (!have[v]) {
            std::printf("  code_dot variant %d: not on this CPU, skipped\n", v);
            continue;
        }
        for (int b : kBits)
            for (int n_w : {1, 2, 3, 4, 6, 8})
                for (int64_t n_rows : {0, 1, 3, 4, 5, 8, 31, 32, 37}) {
                    const CodeDotFn fn = code_dot_fn(isas[v], b, n_w);
                    REQUIRE(fn != nullptr);
                    const size_t stride = kvq::chunk_bytes(b) + static_cast<size_t>(rng.below(9));
                    // Exactly n_rows chunks, no slack after the last: a read past it is caught by ASan.
                    std::vector<uint8_t> codes(n_rows > 0 ? static_cast<size_t>(n_rows - 1) * stride + kvq::chunk_bytes(b) : 0);
                    for (auto& x : codes) x = static_cast<uint8_t>(rng.below(256));
                    const size_t w_stride = static_cast<size_t>(n_rows) + static_cast<size_t>(rng.below(5));
                    std::vector<int8_t> w(static_cast<size_t>(n_w) * w_stride + 1);
                    // Extremes included: -127 and 127 against the largest codes.
                    for (auto& x : w) x = static_cast<int8_t>(rng.below(4) == 0 ? (rng.below(2) ? 127 : -127) : static_cast<int>(rng.below(255)) - 127);
                    std::vector<int32_t> got(static_cast<size_t>(n_w) * 32, 12345);
                    fn(codes.data(), stride, n_rows, w.data(), w_stride, got.data());
                    const int bad = code_dot_wrong(codes, stride, n_rows, b, w, w_stride, n_w, got);
                    if (bad) std::fprintf(stderr, "code_dot isa %d b=%d n_w=%d rows=%lld: %d wrong\n", v, b, n_w, static_cast<long long>(n_rows), bad);
                    CHECK(bad == 0);
                    ++tested;
                }
        // All codes at their maximum against ±127: the largest sums, no saturation.
        for (int b : kBits) {
            const int64_t n_rows = 256;
            std::vector<uint8_t> codes(static_cast<size_t>(n_rows) * kvq::chunk_bytes(b), 0xFF);
            for (int8_t sgn : {int8_t{127}, int8_t{-127}}) {
                std::vector<int8_t> w(static_cast<size_t>(n_rows), sgn);
                std::vector<int32_t> got(32);
                code_dot_fn(isas[v], b, 1)(codes.data(), kvq::chunk_bytes(b), n_rows, w.data(), 0, got.data());
                bool ok = true;
                for (int32_t x : got) ok &= x == int32_t{sgn} * static_cast<int32_t>(kvq::max_code(b)) * n_rows;
                CHECK(ok);
            }
        }
    }
    // int16 weights, rows in pairs (the p·v side): up to 33 rows, extremes ±32767.
    for (int v = 0; v < 3; ++v) {
        if (!have[v]) continue;
        for (int b : kBits)
            for (int n_w : {1, 2, 3, 4, 6, 8})
                for (int64_t n_rows : {0, 1, 2, 7, 32, 33}) {
                    const CodeDot16Fn fn = code_dot16_fn(isas[v], b, n_w);
                    REQUIRE(fn != nullptr);
                    const size_t stride = kvq::chunk_bytes(b) + static_cast<size_t>(rng.below(9));
                    std::vector<uint8_t> codes(n_rows > 0 ? static_cast<size_t>(n_rows - 1) * stride + kvq::chunk_bytes(b) : 0);
                    for (auto& x : codes) x = static_cast<uint8_t>(rng.below(256));
                    const size_t w_stride = static_cast<size_t>(n_rows) + static_cast<size_t>(rng.below(5));
                    std::vector<int16_t> w(static_cast<size_t>(n_w) * w_stride + 1);
                    for (auto& x : w)
                        x = static_cast<int16_t>(rng.below(4) == 0 ? (rng.below(2) ? 32767 : -32767) : static_cast<int>(rng.below(65535)) - 32767);
                    std::vector<int32_t> got(static_cast<size_t>(n_w) * 32, 12345);
                    fn(codes.data(), stride, n_rows, w.data(), w_stride, got.data());
                    const int bad = code_dot_wrong(codes, stride, n_rows, b, w, w_stride, n_w, got);
                    if (bad) std::fprintf(stderr, "code_dot16 isa %d b=%d n_w=%d rows=%lld: %d wrong\n", v, b, n_w, static_cast<long long>(n_rows), bad);
                    CHECK(bad == 0);
                    ++tested;
                }
    }
    std::printf("  code_dot: %d shapes exact\n", tested);
}

TEST_CASE("mixed_attention_int8q_ref vs mixed_attention_ref: within the bound of the int8 rounding") {
    // Keys: per query row and key group, a block of channels with scale d = max|q·s| / 127
    // leaves a residual |q·s - d·qi| <= d/2, which moves a token's dot by <= (d/2)·n_block·qmax
    // (single int8 query); with the residual row it is quantized again with d2 <= d/254 and
    // what remains, <= d2/2 per channel, moves the dot by <= (d/508)·n_block·qmax. fp32 rounding of
    // q·s (twin) and of x̂ (reference) adds <= 2^-23·Σ_c |q_c|·max|x̂|. Every score then moves
    // by <= ε (the worst over the groups, times |scale|; softcap is 1-Lipschitz), and softmax
    // weights by a factor within e^{±2ε}: |Δout| <= (e^{2ε} - 1)·max_j |v̂_j|.
    // Values: in a 32-token block, ws_t = p_t·s_t is rounded to int16 steps, by <= max_t ws_t /
    // 65534 <= max_t p_t · s_max / 65534, times Σ_t code <= 32·qmax; summed over blocks and
    // divided by l >= Σ_blocks max_t p_t: |Δout| <= 32·qmax·s_max / 65534 (s_max: the largest
    // value scale).
    // Checked per output element as (e^{2ε} - 1)·max|v̂| + e^{2ε}·(value term) plus 1e-6
    // relative for double rounding; the measured worst error / bound and the NMSE are printed.
    Rng rng(92);
    double worst_ratio = 0.0;
    for (int kb : {2, 3, 4, 8})
        for (int g : kGroups)
            for (int64_t D : {64, 128, 256}) {
                if (g == 128 && D == 64) continue;
                CacheSpec sp;
                sp.k_bits = kb;
                sp.v_bits = rng.below(2) ? kb : 16;
                sp.group = g;
                sp.head_dim = sp.head_dim_v = D;
                sp.n_head_kv = 2;
                sp.n_head = 2 * (int64_t{1} << rng.below(3));
                sp.n_groups = 2;
                sp.tail = 1 + rng.below(40);
                sp.n_q = 3;
                sp.window = rng.below(3) == 0 ? static_cast<int32_t>(g + 7) : 0;
                sp.softcap = rng.below(4) == 0 ? 4.0f : 0.0f;
                MixedCache c = build_cache(sp, rng);
                const size_t n = static_cast<size_t>(sp.n_q * sp.n_head * sp.head_dim_v);
                std::vector<float> ref(n);
                mixed_attention_ref(mixed_params(c, ref.data(), 0, sp.n_head));
                const double scale = 1.0 / std::sqrt(static_cast<double>(D)), qmax = kvq::max_code(kb);
                const size_t rec = kvq::key_record_bytes(kb, g);
                for (const bool residual : {false, true}) {
                    std::vector<float> twin(n);
                    mixed_attention_int8q_ref(mixed_params(c, twin.data(), 0, sp.n_head, residual));
                    const double last_step = residual || kb == 8 ? 508.0 : 2.0;  // d / (the last rounding's half step)
                    int bad = 0;
                    double case_ratio = 0.0;
                    for (int64_t t = 0; t < sp.n_q; ++t)
                        for (int64_t h = 0; h < sp.n_head; ++h) {
                            const int64_t hk = h / (sp.n_head / sp.n_head_kv);
                            const float* q = c.q.data() + static_cast<size_t>((t * sp.n_head + h) * D);
                            double eps = 0.0, qabs = 0.0, kmax = 0.0;
                            for (int64_t ch = 0; ch < D; ++ch) qabs += std::fabs(static_cast<double>(q[ch]));
                            for (int64_t j = 0; j < c.n_ctx; ++j)
                                for (int64_t ch = 0; ch < D; ++ch) kmax = std::max(kmax, std::fabs(static_cast<double>(c.kd[c.at(hk, j, ch, D)])));
                            for (int64_t gi = 0; gi < sp.n_groups; ++gi) {
                                const uint8_t* grp = c.kq.data() + static_cast<size_t>(hk) * c.kq_head + static_cast<size_t>(gi) * c.kq_grp;
                                double e = 0.0;
                                for (int64_t b0 = 0; b0 < D; b0 += kMixedQueryBlock) {
                                    double a = 0.0;
                                    for (int64_t ch = b0; ch < b0 + kMixedQueryBlock; ++ch)
                                        a = std::max(a, std::fabs(static_cast<double>(q[ch] * fp16_to_fp32(u16_at(grp + static_cast<size_t>(ch) * rec)))));
                                    e += a / 127.0 / last_step * kMixedQueryBlock * qmax;
                                }
                                eps = std::max(eps, scale * (e * 1.001 + 0x1p-23 * qabs * kmax));
                            }
                            double vmax = 0.0, s_max = 0.0;
                            for (int64_t j = 0; j < c.n_ctx; ++j)
                                for (int64_t d = 0; d < D; ++d) vmax = std::max(vmax, std::fabs(static_cast<double>(c.vd[c.at(hk, j, d, D)])));
                            if (sp.v_bits != 16)
                                for (int64_t j = 0; j < sp.n_groups * g; ++j)
                                    for (int64_t cg = 0; cg < D / g; ++cg)
                                        s_max = std::max(s_max, static_cast<double>(fp16_to_fp32(u16_at(
                                                                    c.vq.data() + static_cast<size_t>(hk) * c.vq_head + static_cast<size_t>(j) * c.vq_tok +
                                                                    static_cast<size_t>(cg) * kvq::value_record_bytes(sp.v_bits, g)))));
                            const double v_term = 32.0 * static_cast<double>(kvq::max_code(sp.v_bits == 16 ? 2 : sp.v_bits)) * s_max / (2.0 * kMixedValueQMax);
                            for (int64_t d = 0; d < D; ++d) {
                                const size_t i = static_cast<size_t>((t * sp.n_head + h) * D + d);
                                const double bound = std::expm1(2.0 * eps) * vmax + std::exp(2.0 * eps) * v_term + 1e-6 * (std::fabs(ref[i]) + vmax);
                                const double err = std::fabs(static_cast<double>(twin[i]) - ref[i]);
                                bad += !(err <= bound);
                                case_ratio = std::max(case_ratio, err / bound);
                            }
                        }
                    const Compare r = compare(twin.data(), ref.data(), n);
                    if (bad) std::fprintf(stderr, "int8q twin vs ref: %s: %d outside the bound\n", describe(sp).c_str(), bad);
                    CHECK(bad == 0);
                    CHECK(r.parity_breaks == 0);
                    worst_ratio = std::max(worst_ratio, case_ratio);
                    if (g == 32 && D == 128)
                        std::printf("  k%d G%d D%lld%s: int8q twin vs fp32 ref nmse %s, worst error / bound %.2g\n", kb, g,
                                    static_cast<long long>(D), residual ? " residual" : "", sci(r.nmse).c_str(), case_ratio);
                }
            }
    std::printf("  int8q twin vs ref: worst error / derived bound %.2g\n", worst_ratio);
}

TEST_CASE("mixed_attention_cpu int8 paths: NaN parity and an all-zero query block") {
    Rng rng(93);
    CacheSpec sp;
    sp.k_bits = 2;
    sp.v_bits = 2;
    sp.head_dim = sp.head_dim_v = 128;
    sp.n_q = 2;
    MixedCache c = build_cache(sp, rng);
    for (int64_t d = 32; d < 64; ++d) c.q[static_cast<size_t>(d)] = 0.0f;  // query 0 head 0: block 1 all zero (d = 0)
    check_cpu_vs_ref(c, "zero query block");
    c.q[static_cast<size_t>(sp.head_dim) + 70] = INFINITY;  // query 0 head 1: a non-finite q·s
    check_cpu_vs_ref(c, "inf query element");
}

TEST_CASE("mixed_attention_cpu: one-row decode over packed 2-bit G32 records (the AVX-512 VBMI blocks), NaN parity") {
    // MHA decode with the cache's own strides is the shape the VBMI key-group and value-block
    // functions serve (keys: head_dim % 32 == 0; values: head_dim_v 128): check_cpu_vs_ref
    // holds the avx512 path byte-identical to avx2_int8 and within tolerance of the twin.
    // Windows and segment edges make partial blocks, which take the generic value path.
    const bool vbmi = cpu_has_avx512_vbmi();
    CHECK((vbmi_key_group_fn(2, 32, 128) != nullptr) == vbmi);
    CHECK((vbmi_value_block_fn(2, 32, 128, kvq::value_row_bytes(2, 32, 128)) != nullptr) == vbmi);
    CHECK(vbmi_key_group_fn(3, 32, 128) == nullptr && vbmi_key_group_fn(2, 64, 128) == nullptr && vbmi_key_group_fn(2, 32, 48) == nullptr);
    CHECK(vbmi_value_block_fn(2, 32, 64, kvq::value_row_bytes(2, 32, 64)) == nullptr &&
          vbmi_value_block_fn(2, 32, 128, kvq::value_row_bytes(2, 32, 128) + 2) == nullptr);
    std::printf("  VBMI blocks on this CPU: %s\n", vbmi ? "yes" : "no");
    Rng rng(97);
    int cases = 0;
    for (const int64_t d : {64, 128, 256})
        for (const auto& [kb, vb] : {std::pair{2, 2}, std::pair{2, 4}, std::pair{4, 2}, std::pair{2, 16}, std::pair{16, 2}}) {
            CacheSpec sp;
            sp.packed = true;
            sp.k_bits = kb;
            sp.v_bits = vb;
            sp.n_head = sp.n_head_kv = 3;
            sp.head_dim = sp.head_dim_v = d;
            sp.n_groups = 2 + rng.below(4);
            sp.n_pages = 1 + static_cast<int>(rng.below(3));
            sp.sinks = rng.below(6);
            sp.tail = rng.below(70);
            sp.window = rng.below(3) ? 0 : static_cast<int32_t>(1 + rng.below(150));
            sp.softcap = rng.below(4) == 0 ? 3.0f : 0.0f;
            MixedCache c = build_cache(sp, rng);
            check_cpu_vs_ref(c, describe(sp) + " packed");
            ++cases;
        }
    CacheSpec sp;
    sp.packed = true;
    sp.k_bits = sp.v_bits = 2;
    sp.n_head = sp.n_head_kv = 2;
    sp.head_dim = sp.head_dim_v = 128;
    sp.n_groups = 4;
    MixedCache c = build_cache(sp, rng);
    for (int64_t i = 64; i < 96; ++i) c.q[static_cast<size_t>(i)] = 0.0f;  // head 0: channel block 2 all zero (d = 0)
    check_cpu_vs_ref(c, "packed k2v2: zero query block");
    c.q[static_cast<size_t>(sp.head_dim) + 70] = INFINITY;  // head 1: a non-finite q·s
    check_cpu_vs_ref(c, "packed k2v2: inf query element");
    const uint16_t nan16 = 0x7E00;
    MixedCache ck = build_cache(sp, rng);
    std::memcpy(ck.kq.data() + 37 * kvq::key_record_bytes(2, 32), &nan16, 2);  // kv head 0, group 0, channel 37: NaN scale
    check_cpu_vs_ref(ck, "packed k2v2: NaN key scale");
    MixedCache cv = build_cache(sp, rng);
    std::memcpy(cv.vq.data() + 40 * cv.vq_tok + 2 * kvq::value_record_bytes(2, 32) + 2, &nan16, 2);  // token 40, group 2: NaN min
    check_cpu_vs_ref(cv, "packed k2v2: NaN value min");
    MixedCache ci = build_cache(sp, rng);
    const uint16_t inf16 = 0x7C00;
    std::memcpy(ci.vq.data() + ci.vq_head + 70 * ci.vq_tok + kvq::value_record_bytes(2, 32), &inf16, 2);  // head 1, token 70: inf scale
    check_cpu_vs_ref(ci, "packed k2v2: inf value scale");
    std::printf("  packed one-row decode: %d shapes + 5 special caches\n", cases);
}

TEST_CASE("mixed_attention_cpu: GQA decode over 2-bit G64 value records at head sizes 64 and 128 (the AVX-512 VBMI value tile), NaN parity") {
    // A tile of 1-4 rows that all see a whole block of 2-bit values with 64-channel groups
    // (one or two per token) takes vbmi_value_tile_fn's kernel: check_cpu_vs_ref holds the
    // avx512 path byte-identical to avx2_int8 and within tolerance of the twin. Sinks, tails,
    // windows and later query tokens make blocks that only some rows see, which take the
    // generic path.
    const bool vbmi = cpu_has_avx512_vbmi();
    for (const int64_t dv : {64, 128}) {
        const size_t rec = kvq::value_row_bytes(2, 64, dv);
        for (int rows = 1; rows <= 4; ++rows) {
            CHECK((vbmi_value_tile_fn(2, 64, dv, rec, rows) != nullptr) == vbmi);
            CHECK((vbmi_value_tile_fn(2, 64, dv, 48, rows) != nullptr) == vbmi);
            CHECK(vbmi_value_tile_fn(2, 64, dv, 49, rows) == nullptr && vbmi_value_tile_fn(2, 64, dv, rec - 1, rows) == nullptr);
        }
        CHECK(vbmi_value_tile_fn(2, 64, dv, rec, 5) == nullptr && vbmi_value_tile_fn(3, 64, dv, kvq::value_row_bytes(3, 64, dv), 3) == nullptr &&
              vbmi_value_tile_fn(2, 32, dv, kvq::value_row_bytes(2, 32, dv), 3) == nullptr);
    }
    CHECK(vbmi_value_tile_fn(2, 64, 256, kvq::value_row_bytes(2, 64, 256), 3) == nullptr);
    Rng rng(131);
    int cases = 0;
    for (const int64_t d : {64, 128})
        for (int ratio = 1; ratio <= 4; ++ratio)
            for (int kb : {2, 3, 4, 16})
                for (const bool packed : {true, false}) {
                    CacheSpec sp;
                    sp.packed = packed;
                    sp.k_bits = kb;
                    sp.v_bits = 2;
                    sp.group = 64;
                    sp.n_head_kv = 1 + rng.below(2);
                    sp.n_head = ratio * sp.n_head_kv;
                    sp.head_dim = sp.head_dim_v = d;
                    sp.n_groups = 2 + rng.below(3);
                    sp.n_pages = 1 + static_cast<int>(rng.below(3));
                    sp.sinks = rng.below(6);
                    sp.tail = rng.below(70);
                    sp.window = rng.below(3) ? 0 : static_cast<int32_t>(1 + rng.below(150));
                    sp.n_q = ratio == 1 ? 1 + rng.below(3) : 1;
                    MixedCache c = build_cache(sp, rng);
                    check_cpu_vs_ref(c, describe(sp) + " value tile");
                    ++cases;
                }
    CacheSpec sp;
    sp.packed = true;
    sp.k_bits = 3;
    sp.v_bits = 2;
    sp.group = 64;
    sp.n_head_kv = 2;
    sp.n_head = 6;
    sp.head_dim = sp.head_dim_v = 64;
    sp.n_groups = 3;
    const auto value_meta = [&](MixedCache& c, int64_t hk, int64_t token, int field) {
        return c.vq.data() + static_cast<size_t>(hk) * c.vq_head + static_cast<size_t>(token) * c.vq_tok + 2 * static_cast<size_t>(field);
    };
    const uint16_t nan16 = 0x7E00, inf16 = 0x7C00, zero16 = 0;
    MixedCache cn = build_cache(sp, rng);
    std::memcpy(value_meta(cn, 0, 40, 1), &nan16, 2);  // kv head 0, token 40: NaN min
    check_cpu_vs_ref(cn, "value tile: NaN value min");
    MixedCache ci = build_cache(sp, rng);
    std::memcpy(value_meta(ci, 1, 70, 0), &inf16, 2);  // kv head 1, token 70: inf scale
    check_cpu_vs_ref(ci, "value tile: inf value scale");
    MixedCache cz = build_cache(sp, rng);
    for (int64_t t = 32; t < 64; ++t) std::memcpy(value_meta(cz, 0, t, 0), &zero16, 2);  // kv head 0, block 1: every scale 0 (d = 0)
    check_cpu_vs_ref(cz, "value tile: an all-zero-scale block");
    CacheSpec sp128 = sp;
    sp128.head_dim = sp128.head_dim_v = 128;
    MixedCache cn2 = build_cache(sp128, rng);
    std::memcpy(value_meta(cn2, 1, 50, 0) + kvq::value_record_bytes(2, 64), &nan16, 2);  // kv head 1, token 50, second group: NaN scale
    check_cpu_vs_ref(cn2, "value tile: D128, NaN scale in the second group");
    // The widest value stride the tile takes (its last window is a full 64 bytes), and one
    // byte more (the generic path).
    for (const int64_t d : {64, 128})
        for (const int extra : {0, 1}) {
            CacheSpec wide = sp;
            wide.head_dim = wide.head_dim_v = d;
            wide.packed = false;
            wide.value_pad = static_cast<int>(48 + extra - kvq::value_row_bytes(2, 64, d));
            MixedCache cw = build_cache(wide, rng);
            check_cpu_vs_ref(cw, "value tile: D" + std::to_string(d) + ", value rows " + std::to_string(cw.vq_tok) + " bytes apart");
        }
    std::printf("  value tile: %d shapes + 4 special caches + 4 wide strides (kernel on this CPU: %s)\n", cases, vbmi ? "yes" : "no");
}

// ---- mixed attention: split-K ----------------------------------------------------------------

namespace {

// Partials over the key chunks [cuts[i], cuts[i+1]) (segments clipped to each chunk) merged
// in chunk order.
template <class Attend, class Merge>
std::vector<float> mixed_split_k(const MixedCache& c, const std::vector<int64_t>& cuts, Attend attend, Merge merge) {
    const CacheSpec& sp = c.spec;
    const auto n_parts = static_cast<int64_t>(cuts.size()) - 1;
    const size_t stride = static_cast<size_t>(sp.n_head * sp.head_dim_v);
    const size_t acc_part = static_cast<size_t>(sp.n_q) * stride, ml_part = static_cast<size_t>(sp.n_q * sp.n_head);
    std::vector<float> acc(static_cast<size_t>(n_parts) * acc_part), m(static_cast<size_t>(n_parts) * ml_part), l(m.size());
    std::vector<KvSegment> segs;
    for (int64_t i = 0; i < n_parts; ++i) {
        mixed_attention_clip_segments(c.segs.data(), static_cast<int32_t>(c.segs.size()), cuts[static_cast<size_t>(i)],
                                      cuts[static_cast<size_t>(i) + 1], sp.head_dim, sp.head_dim_v, segs);
        MixedAttentionParams p = mixed_params(c, acc.data() + static_cast<size_t>(i) * acc_part, 0, sp.n_head);
        p.segments = segs.data();
        p.n_segments = static_cast<int32_t>(segs.size());
        p.part_m = m.data() + static_cast<size_t>(i) * ml_part;
        p.part_l = l.data() + static_cast<size_t>(i) * ml_part;
        attend(p);
    }
    std::vector<float> out(acc_part, -1.0f);
    AttentionMergeParams mp;
    mp.acc = acc.data();
    mp.acc_part_stride = acc_part;
    mp.acc_stride = stride;
    mp.m = m.data();
    mp.l = l.data();
    mp.ml_part_stride = ml_part;
    mp.n_parts = n_parts;
    mp.out = out.data();
    mp.out_stride = stride;
    mp.n_q = sp.n_q;
    mp.n_head = sp.n_head;
    mp.head_dim_v = sp.head_dim_v;
    mp.head_begin = 0;
    mp.head_end = sp.n_head;
    merge(mp);
    return out;
}

double max_rel_diff(const std::vector<float>& got, const std::vector<float>& want) {
    double worst = 0.0;
    for (size_t i = 0; i < want.size(); ++i) {
        const double d = std::fabs(static_cast<double>(got[i]) - want[i]) / (1.0 + std::fabs(static_cast<double>(want[i])));
        worst = std::isnan(d) ? INFINITY : std::max(worst, d);
    }
    return worst;
}

}  // namespace

TEST_CASE("mixed attention split-K: clipped segments' partials merged equal the unsplit kernel (ref and cpu)") {
    Rng rng(71);
    const int pairs[][2] = {{2, 2}, {3, 3}, {4, 4}, {8, 8}, {2, 4}, {16, 2}, {4, 16}};
    int cases = 0;
    for (const auto& kv : pairs)
        for (int g : {32, 64})
            for (int64_t n_parts = 1; n_parts <= 5; ++n_parts) {
                CacheSpec sp;
                sp.k_bits = kv[0];
                sp.v_bits = kv[1];
                sp.group = g;
                sp.n_head_kv = 1 + rng.below(2);
                sp.n_head = sp.n_head_kv * (int64_t{1} << rng.below(3));
                sp.sinks = rng.below(6);
                sp.n_groups = 2 + rng.below(4);
                sp.n_pages = 1 + static_cast<int>(rng.below(3));
                sp.tail = rng.below(70);
                sp.n_q = rng.below(2) ? 1 : 2 + rng.below(3);
                // Every third case a short window: chunks at the front are hidden entirely.
                sp.window = n_parts % 3 == 0 ? static_cast<int32_t>(1 + rng.below(40)) : 0;
                sp.softcap = rng.below(3) == 0 ? 3.0f : 0.0f;
                MixedCache c = build_cache(sp, rng);
                const auto n_segs = static_cast<int32_t>(c.segs.size());
                std::vector<int64_t> cuts{0};
                for (int64_t i = 1; i < n_parts; ++i) cuts.push_back(rng.below(c.n_ctx + 1));
                std::sort(cuts.begin(), cuts.end());
                for (int64_t& x : cuts) {
                    const int64_t legal = mixed_attention_legal_cut(c.segs.data(), n_segs, x);
                    CHECK(legal <= x);
                    x = legal;
                }
                cuts.push_back(c.n_ctx);
                const std::string what = describe(sp) + " parts=" + std::to_string(n_parts);
                std::vector<float> want_ref(static_cast<size_t>(sp.n_q * sp.n_head * sp.head_dim_v)), want_cpu(want_ref.size());
                mixed_attention_ref(mixed_params(c, want_ref.data(), 0, sp.n_head));
                mixed_attention_cpu(mixed_params(c, want_cpu.data(), 0, sp.n_head));
                const auto ref = mixed_split_k(c, cuts, mixed_attention_ref, attention_merge_ref);
                const auto cpu = mixed_split_k(c, cuts, mixed_attention_cpu, attention_merge_cpu);
                const auto again = mixed_split_k(c, cuts, mixed_attention_cpu, attention_merge_cpu);
                const double e_ref = max_rel_diff(ref, want_ref), e_cpu = max_rel_diff(cpu, want_cpu);
                CHECK(e_ref < 1e-6);
                CHECK(e_cpu < 1e-5);
                CHECK(std::memcmp(cpu.data(), again.data(), cpu.size() * sizeof(float)) == 0);
                if (e_ref >= 1e-6 || e_cpu >= 1e-5) std::printf("  %s: ref %g cpu %g\n", what.c_str(), e_ref, e_cpu);
                ++cases;
            }
    std::printf("  split-K: %d cases\n", cases);
}

KVMIX_TEST_MAIN()
