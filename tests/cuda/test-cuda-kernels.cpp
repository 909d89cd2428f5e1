// Every CUDA kernel (kernels/cuda) against its scalar twin (kernels/ref): bit-exact where the
// twin's arithmetic is reproducible (dequantize, KV store/quantize), NMSE bounds elsewhere,
// NaN parity, guard canaries around outputs, and errors for unsupported combinations.
// Without a CUDA device every case is skipped with the reason (failed under KVMIX_REQUIRE_GPU).
#include <algorithm>
#include <cmath>
#include <cstring>
#include <string>
#include <vector>

#include "common/half.h"
#include "common/kv-device-params.h"
#include "common/mixed-attention-params.h"
#include "cuda-test-util.h"
#include "cuda/cuda-kernels.h"
#include "kernel-cases.h"
#include "ref/dequantize.h"
#include "ref/elementwise.h"
#include "ref/glu.h"
#include "ref/kv-quantize.h"
#include "ref/kv-rotation.h"
#include "ref/matmul.h"
#include "ref/mixed-attention.h"
#include "ref/rms-norm.h"
#include "ref/rope.h"
#include "ref/softmax.h"

using namespace kvmix;
using namespace kvmix_test;

namespace {

const TensorType kWeightTypes[] = {TensorType::f32,  TensorType::f16,  TensorType::bf16, TensorType::q4_0,
                                   TensorType::q4_1, TensorType::q5_0, TensorType::q5_1, TensorType::q8_0,
                                   TensorType::q4_k, TensorType::q5_k, TensorType::q6_k};

size_t row_bytes(TensorType t, int64_t k) {
    const auto& tr = tensor_type_traits(t);
    return static_cast<size_t>(k / tr.block_elems) * tr.block_bytes;
}

std::string type_name(TensorType t) { return tensor_type_name(t); }

}  // namespace

TEST_CASE("cuda dequantize: bit-exact with dequantize_row_ref for every weight type, gathered rows, guards intact") {
    REQUIRE_CUDA_DEVICE();
    Rng rng(11);
    const int64_t rows = 9, k = 512;
    for (TensorType t : kWeightTypes) {
        const std::vector<uint8_t> w = random_weights(t, rows, k, rng);
        const std::vector<int32_t> pick = {3, 0, 8, 3};
        DeviceVec<uint8_t> dw(w);
        DeviceVec<int32_t> dpick(pick);
        DeviceGuarded out(pick.size() * k);
        DequantizeRowsParams dp;
        dp.type = t;
        dp.w = dw.get();
        dp.w_row_bytes = row_bytes(t, k);
        dp.rows = dpick.get();
        dp.n_rows = static_cast<int64_t>(pick.size());
        dp.k = k;
        dp.dst = out.data();
        dp.dst_stride = static_cast<size_t>(k);
        CHECK(cuda::dequantize_rows(dp, nullptr) == nullptr);
        sync_ok();
        std::vector<float> got;
        CHECK(out.fetch(got));
        std::vector<float> want(static_cast<size_t>(k));
        for (size_t r = 0; r < pick.size(); ++r) {
            dequantize_row_ref(t, w.data() + static_cast<size_t>(pick[r]) * row_bytes(t, k), want.data(), k);
            for (int64_t i = 0; i < k; ++i) {
                const float g = got[r * k + static_cast<size_t>(i)], e = want[static_cast<size_t>(i)];
                if (std::memcmp(&g, &e, 4) != 0) {
                    CHECK(false && "dequantize differs");
                    std::fprintf(stderr, "  type %s row %zu elem %lld: %g vs %g\n", type_name(t).c_str(), r,
                                 static_cast<long long>(i), g, e);
                    break;
                }
            }
        }
    }
}

TEST_CASE("cuda matmul: matches matmul_ref for every weight type and batch sizes 1..19, column slice respected") {
    REQUIRE_CUDA_DEVICE();
    Rng rng(12);
    const int64_t k = 512, n = 67;
    for (TensorType t : kWeightTypes)
        for (int64_t m : {1, 3, 8, 19}) {
            const std::vector<uint8_t> w = random_weights(t, n, k, rng);
            std::vector<float> x = rng.normals(static_cast<size_t>(m * k));
            if (m > 2) x[static_cast<size_t>(k) + 5] = NAN;  // row 1 must come out all NaN
            DeviceVec<uint8_t> dw(w);
            DeviceVec<float> dx(x);
            DeviceGuarded dy(static_cast<size_t>(m * n));
            MatmulParams p;
            p.w_type = t;
            p.w_row_bytes = row_bytes(t, k);
            p.x_stride = static_cast<size_t>(k);
            p.y_stride = static_cast<size_t>(n);
            p.m = m;
            p.k = k;
            p.n = n;
            p.n_begin = 5;
            p.n_end = 60;
            MatmulParams dp = p;
            dp.w = dw.get();
            dp.x = dx.get();
            dp.y = dy.data();
            CHECK(cuda::matmul(dp, nullptr) == nullptr);
            sync_ok();
            std::vector<float> got;
            CHECK(dy.fetch(got));
            // Outside the column slice the buffer keeps its canaries.
            CHECK_EQ(written_outside_columns(got, m, n, p.n_begin, p.n_end), 0u);
            std::vector<float> want(got);
            p.w = w.data();
            p.x = x.data();
            p.y = want.data();
            matmul_ref(p);
            const Compare cmp = compare(got, want);
            CHECK_EQ(cmp.parity_breaks, 0u);
            CHECK(cmp.nmse < 1e-10);
        }
}

TEST_CASE("cuda rms_norm / glu / softmax / add / softcap: match their twins, NaN parity") {
    REQUIRE_CUDA_DEVICE();
    Rng rng(13);
    const int64_t rows = 6, n = 1000;
    std::vector<float> x = rng.normals(static_cast<size_t>(rows * n), 3.0f), w = rng.normals(static_cast<size_t>(n));
    x[2 * n + 7] = NAN;
    {
        DeviceVec<float> dx(x), dw(w);
        DeviceGuarded dy(x.size());
        RmsNormParams p;
        p.x_stride = p.y_stride = static_cast<size_t>(n);
        p.w_offset = 1.0f;
        p.eps = 1e-6f;
        p.n = n;
        p.row_begin = 0;
        p.row_end = rows;
        RmsNormParams d = p;
        d.x = dx.get();
        d.y = dy.data();
        d.w = dw.get();
        CHECK(cuda::rms_norm(d, nullptr) == nullptr);
        sync_ok();
        std::vector<float> got, want(x.size());
        CHECK(dy.fetch(got));
        p.x = x.data();
        p.y = want.data();
        p.w = w.data();
        rms_norm_ref(p);
        const Compare c = compare(got, want);
        CHECK_EQ(c.parity_breaks, 0u);
        CHECK(c.nmse < 1e-12);
    }
    for (GluActivation act : {GluActivation::silu, GluActivation::gelu_tanh}) {
        const std::vector<float> up = rng.normals(x.size());
        DeviceVec<float> dg(x), du(up);
        DeviceGuarded dout(x.size());
        GluParams p;
        p.stride = static_cast<size_t>(n);
        p.n = n;
        p.act = act;
        p.row_begin = 0;
        p.row_end = rows;
        GluParams d = p;
        d.gate = dg.get();
        d.up = du.get();
        d.out = dout.data();
        CHECK(cuda::glu(d, nullptr) == nullptr);
        sync_ok();
        std::vector<float> got, want(x.size());
        CHECK(dout.fetch(got));
        p.gate = x.data();
        p.up = up.data();
        p.out = want.data();
        glu_ref(p);
        const Compare c = compare(got, want);
        CHECK_EQ(c.parity_breaks, 0u);
        CHECK(c.nmse < 1e-12);
    }
    {
        std::vector<float> s = x;
        for (int64_t i = 0; i < n; i += 3) s[static_cast<size_t>(i)] = -INFINITY;  // masked entries in row 0
        DeviceVec<float> ds(s);
        SoftmaxParams p;
        p.stride = static_cast<size_t>(n);
        p.n = n;
        p.row_begin = 0;
        p.row_end = rows;
        SoftmaxParams d = p;
        d.x = ds.get();
        CHECK(cuda::softmax(d, nullptr) == nullptr);
        sync_ok();
        const std::vector<float> got = ds.to_host();
        p.x = s.data();
        softmax_ref(p);
        const Compare c = compare(got, s);
        CHECK_EQ(c.parity_breaks, 0u);
        CHECK(c.nmse < 1e-12);
    }
    {
        const std::vector<float> b = rng.normals(x.size());
        DeviceVec<float> dy(x), dx(b);
        CHECK(cuda::add(dy.get(), dx.get(), static_cast<int64_t>(x.size()), nullptr) == nullptr);
        CHECK(cuda::softcap(dy.get(), static_cast<int64_t>(x.size()), 30.0f, nullptr) == nullptr);
        CHECK(cuda::softcap(dy.get(), 1, 0.0f, nullptr) != nullptr);
        sync_ok();
        const std::vector<float> got = dy.to_host();
        std::vector<float> want = x;
        add_ref(want.data(), b.data(), static_cast<int64_t>(want.size()));
        softcap_ref(want.data(), static_cast<int64_t>(want.size()), 30.0f);
        const Compare c = compare(got, want);
        CHECK_EQ(c.parity_breaks, 0u);
        CHECK(c.nmse < 1e-12);
    }
}

TEST_CASE("cuda rope: both pairings, partial rotation, linear scaling and frequency factors match rope_ref") {
    REQUIRE_CUDA_DEVICE();
    Rng rng(14);
    const int64_t T = 7, H = 3, D = 64;
    std::vector<int32_t> pos = {0, 1, 5, 100, 4095, 17, 32000};
    std::vector<float> ff(16);
    for (auto& f : ff) f = rng.uniform(1.0f, 8.0f);
    for (bool inter : {false, true})
        for (int64_t n_rot : {int64_t{64}, int64_t{32}})
            for (bool factors : {false, true}) {
                std::vector<float> x = rng.normals(static_cast<size_t>(T * H * D));
                DeviceVec<float> dx(x), dff(ff);
                DeviceVec<int32_t> dpos(pos);
                RopeParams p;
                p.token_stride = static_cast<size_t>(H * D);
                p.head_stride = static_cast<size_t>(D);
                p.n_head = H;
                p.head_dim = D;
                p.n_rot = n_rot;
                p.base = 500000.0f;
                p.freq_scale = 0.25f;
                p.interleaved = inter;
                p.token_begin = 0;
                p.token_end = T;
                const bool use_ff = factors && n_rot == 32;
                RopeParams d = p;
                d.x = dx.get();
                d.positions = dpos.get();
                d.freq_factors = use_ff ? dff.get() : nullptr;
                CHECK(cuda::rope(d, nullptr) == nullptr);
                sync_ok();
                const std::vector<float> got = dx.to_host();
                p.x = x.data();
                p.positions = pos.data();
                p.freq_factors = use_ff ? ff.data() : nullptr;
                rope_ref(p);
                const Compare c = compare(got, x);
                CHECK(c.nmse < 1e-12);
            }
}

TEST_CASE("cuda kv_rotate: every head size 2..1024, forward and inverse, strided rows, NaN parity vs kv_rotate_rows_ref") {
    REQUIRE_CUDA_DEVICE();
    Rng rng(15);
    for (int64_t d = 2; d <= 1024; d *= 2)
        for (bool inverse : {false, true}) {
            const int64_t n = 37;
            const size_t stride = static_cast<size_t>(d + 5);
            std::vector<float> x = rng.normals(static_cast<size_t>(n) * stride);
            x[stride * 3 + 1] = std::nanf("");
            DeviceVec<float> dx(x);
            CHECK(cuda::kv_rotate(dx.get(), n, d, stride, inverse, nullptr) == nullptr);
            sync_ok();
            const std::vector<float> got = dx.to_host();
            kv_rotate_rows_ref(x.data(), n, d, stride, inverse);
            for (int64_t r = 0; r < n; ++r)
                for (size_t c = 0; c < stride; ++c) {
                    const float a = got[static_cast<size_t>(r) * stride + c], b = x[static_cast<size_t>(r) * stride + c];
                    if (std::isnan(b)) {
                        CHECK(std::isnan(a));
                        continue;
                    }
                    CHECK(std::fabs(a - b) <= 1e-5f * (1.0f + std::fabs(b)) * static_cast<float>(std::log2(static_cast<double>(d)) + 1));
                }
        }
    CHECK(cuda::kv_rotate(nullptr, 1, 96, 96, false, nullptr) != nullptr);
    CHECK(cuda::kv_rotate(nullptr, 1, 64, 32, false, nullptr) != nullptr);
}

namespace {

struct DevSide {
    std::unique_ptr<DeviceVec<uint16_t>> sinks, ring;
    std::unique_ptr<DeviceVec<uint8_t>> packed;
    KvSideView view(const HostSide& s) const {
        KvSideView v;
        v.bits = s.bits;
        v.group_size = s.G;
        v.n_sinks = s.bits == 16 ? 0 : s.S;
        v.n_quant = s.nq;
        v.sinks = sinks ? sinks->get() : nullptr;
        v.sinks_head_stride = static_cast<size_t>(s.S * s.dim);
        v.packed = packed ? packed->get() : nullptr;
        v.packed_head_stride = static_cast<size_t>(s.units_cap) * s.unit;
        v.unit_bytes = s.unit;
        v.ring = ring->get();
        v.ring_head_stride = static_cast<size_t>(s.ring_cap * s.dim);
        v.ring_cap = s.ring_cap;
        return v;
    }
};

DevSide upload(const HostSide& s) {
    DevSide d;
    d.ring = std::make_unique<DeviceVec<uint16_t>>(s.ring);
    if (s.bits != 16) {
        d.sinks = std::make_unique<DeviceVec<uint16_t>>(s.sinks);
        d.packed = std::make_unique<DeviceVec<uint8_t>>(s.packed);
    }
    return d;
}

void run_attention_case(const AttnCase& c, Rng& rng) {
    const AttnSetup setup(c, rng);
    const HostSide &ks = setup.ks, &vs = setup.vs;
    const std::vector<float>& want = setup.want;
    const MixedAttentionParams mp = setup.params(nullptr);
    const DevSide dk = upload(ks), dv = upload(vs);
    FlashSeq fs;
    fs.k = dk.view(ks);
    fs.v = dv.view(vs);
    fs.n_kv = c.n_kv;
    fs.row0 = 0;
    fs.n_rows = static_cast<int32_t>(c.n_q);
    std::vector<FlashWork> work;
    const int tile = cuda::flash_q_tile(c.H / c.HKV);
    for (int32_t t = 0; t < c.n_q; t += tile) work.push_back({0, t, std::min<int32_t>(tile, static_cast<int32_t>(c.n_q) - t)});
    DeviceVec<FlashSeq> dseq(std::vector<FlashSeq>{fs});
    DeviceVec<FlashWork> dwork(work);
    DeviceVec<float> dq(setup.q);
    DeviceVec<int32_t> dpos(setup.qpos);
    DeviceGuarded dout(want.size());
    const int32_t n_splits = 5;
    DeviceVec<float> pacc(static_cast<size_t>(c.n_q * c.H * n_splits * c.D)), pml(static_cast<size_t>(c.n_q * c.H * n_splits * 2));
    FlashAttentionParams fp;
    fp.q = dq.get();
    fp.q_stride = mp.q_stride;
    fp.out = dout.data();
    fp.out_stride = mp.out_stride;
    fp.q_pos = dpos.get();
    fp.seqs = dseq.get();
    fp.work = dwork.get();
    fp.n_seqs = 1;
    fp.n_work = static_cast<int32_t>(work.size());
    fp.n_rows_total = static_cast<int32_t>(c.n_q);
    fp.n_head = c.H;
    fp.n_head_kv = c.HKV;
    fp.head_dim = fp.head_dim_v = c.D;
    fp.window = c.window;
    fp.scale = mp.scale;
    fp.softcap = c.softcap;
    fp.n_splits = n_splits;
    fp.split_tokens = (c.n_kv + n_splits - 1) / n_splits;
    fp.partial_acc = pacc.get();
    fp.partial_ml = pml.get();
    const char* msg = cuda::flash_attention(fp, nullptr);
    CHECK(msg == nullptr);
    sync_ok();
    std::vector<float> got;
    CHECK(dout.fetch(got));
    const Compare cmp = compare(got, want);
    if (cmp.parity_breaks != 0 || !(cmp.nmse < 1e-9))
        std::fprintf(stderr, "  case k%d v%d G%d D%lld H%lld/%lld n_kv %lld n_q %lld window %d: nmse %g, parity breaks %zu\n",
                     c.kb, c.vb, c.G, static_cast<long long>(c.D), static_cast<long long>(c.H), static_cast<long long>(c.HKV),
                     static_cast<long long>(c.n_kv), static_cast<long long>(c.n_q), c.window, cmp.nmse, cmp.parity_breaks);
    CHECK_EQ(cmp.parity_breaks, 0u);
    CHECK(cmp.nmse < 1e-9);
}

}  // namespace

TEST_CASE("cuda kv store + quantize: byte-identical to the reference quantizers for every width and group, ring wrap") {
    REQUIRE_CUDA_DEVICE();
    Rng rng(15);
    const int64_t hkv = 2, dim = 128;
    for (int bits : {2, 3, 4, 8})
        for (int G : {32, 64, 128})
            for (bool keys : {true, false}) {
                const int64_t ring_cap = 3 * G, n = 2 * G, first_slot = 2 * G;  // group straddles the ring end
                std::vector<float> src = rng.normals(static_cast<size_t>(n * hkv * dim), 2.0f);
                src[7] = INFINITY;  // poisons its group / row only
                DeviceVec<float> dsrc(src);
                DeviceVec<uint16_t> dring(static_cast<size_t>(hkv * ring_cap * dim)), dsinks(static_cast<size_t>(hkv * dim));
                KvStoreParams sp;
                sp.src = dsrc.get();
                sp.src_stride = static_cast<size_t>(hkv * dim);
                sp.n = n;
                sp.first_pos = 1 + first_slot;  // one sink, so position p lands in slot p - 1
                sp.n_head_kv = hkv;
                sp.dim = dim;
                sp.sinks = dsinks.get();
                sp.sinks_head_stride = static_cast<size_t>(dim);
                sp.n_sinks = 1;
                sp.ring = dring.get();
                sp.ring_head_stride = static_cast<size_t>(ring_cap * dim);
                sp.ring_cap = ring_cap;
                CHECK(cuda::kv_store(sp, nullptr) == nullptr);
                const size_t unit = keys ? kvq::key_group_bytes(bits, G, dim) : kvq::value_row_bytes(bits, G, dim);
                const int64_t units = keys ? 2 : n;
                DeviceVec<uint8_t> dpacked(static_cast<size_t>(hkv * (units + 1)) * unit);
                KvQuantizeParams qp;
                qp.keys = keys;
                qp.bits = bits;
                qp.group_size = G;
                qp.n_head_kv = hkv;
                qp.dim = dim;
                qp.ring = dring.get();
                qp.ring_head_stride = sp.ring_head_stride;
                qp.ring_cap = ring_cap;
                qp.first_slot = first_slot;
                qp.n_units = units;
                qp.dst = dpacked.get();
                qp.dst_head_stride = static_cast<size_t>(units + 1) * unit;
                qp.unit_bytes = unit;
                qp.first_unit = 1;
                CHECK(cuda::kv_quantize(qp, nullptr) == nullptr);
                sync_ok();
                const std::vector<uint8_t> got = dpacked.to_host();
                const std::vector<uint16_t> ring = dring.to_host();
                // The ring holds fp32_to_fp16 of every element.
                bool stored = true;
                for (int64_t t = 0; t < n; ++t)
                    for (int64_t h = 0; h < hkv; ++h)
                        for (int64_t d = 0; d < dim; ++d)
                            stored &= ring[static_cast<size_t>((h * ring_cap + (first_slot + t) % ring_cap) * dim + d)] ==
                                      fp32_to_fp16(src[static_cast<size_t>(t * hkv * dim + h * dim + d)]);
                CHECK(stored);
                std::vector<uint8_t> want(got.size(), 0);
                std::vector<float> f(static_cast<size_t>(G * dim));
                for (int64_t h = 0; h < hkv; ++h) {
                    auto widened = [&](int64_t t, int64_t d) {
                        return fp16_to_fp32(fp32_to_fp16(src[static_cast<size_t>(t * hkv * dim + h * dim + d)]));
                    };
                    uint8_t* base = want.data() + static_cast<size_t>(h * (units + 1)) * unit;
                    if (keys) {
                        for (int64_t g = 0; g < units; ++g) {
                            for (int64_t i = 0; i < G; ++i)
                                for (int64_t d = 0; d < dim; ++d) f[static_cast<size_t>(i * dim + d)] = widened(g * G + i, d);
                            quantize_key_group_ref(f.data(), static_cast<size_t>(dim), dim, G, bits, base + static_cast<size_t>(1 + g) * unit);
                        }
                    } else {
                        for (int64_t t = 0; t < units; ++t) {
                            for (int64_t d = 0; d < dim; ++d) f[static_cast<size_t>(d)] = widened(t, d);
                            quantize_value_row_ref(f.data(), dim, G, bits, base + static_cast<size_t>(1 + t) * unit);
                        }
                    }
                }
                CHECK(got == want);
            }
    KvQuantizeParams bad;
    bad.bits = 5;
    bad.ring_cap = 32;
    bad.n_units = 1;
    CHECK(cuda::kv_quantize(bad, nullptr) != nullptr);
}

TEST_CASE("cuda flash attention: every K/V width pair, G, head size, GQA, chunks, window, softcap vs mixed_attention_ref") {
    REQUIRE_CUDA_DEVICE();
    Rng rng(16);
    for (const AttnCase& c : attention_cases()) run_attention_case(c, rng);
}

TEST_CASE("cuda flash attention: unsupported head sizes and GQA ratios are errors, not silent paths") {
    REQUIRE_CUDA_DEVICE();
    FlashAttentionParams p;
    p.n_head = 8;
    p.n_head_kv = 2;
    p.head_dim = p.head_dim_v = 96;
    p.n_work = 1;
    p.split_tokens = 64;
    CHECK(cuda::flash_attention(p, nullptr) != nullptr);
    p.head_dim = 128;
    p.head_dim_v = 64;
    CHECK(cuda::flash_attention(p, nullptr) != nullptr);
    p.head_dim_v = 128;
    p.n_head = 64;
    p.n_head_kv = 2;
    CHECK(cuda::flash_attention(p, nullptr) != nullptr);
    MatmulParams m;
    m.w_type = TensorType::q2_k;
    m.k = 256;
    m.n = m.n_end = 1;
    m.m = 1;
    m.x_stride = 256;
    CHECK(cuda::matmul(m, nullptr) != nullptr);
}

KVMIX_TEST_MAIN()
