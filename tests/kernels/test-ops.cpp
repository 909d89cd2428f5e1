// Kernel op tests: every kernels/cpu op against its kernels/ref twin over many shapes
// (NMSE tolerance per op, NaN parity, canaries around and inside outputs, slice
// splitting), and the refs themselves against hand-computed or independently derived values.
//
// Tolerances (NMSE over finite outputs; both sides see the same inputs):
//   rms_norm, rope, glu, softmax    1e-10  (fp32 kernels vs double refs; exp/tanh ~1e-7 rel)
//   matmul, exact path               1e-9   (x stays fp32; fp32 vs double accumulation over k)
//     (m > 1; F32/F16/BF16/Q8_0 at any m)
//   matmul, int16-x path             3e-9 (int16_nmse_tol) from 256 outputs up, plus a hard
//     (m == 1, other block types)    per-output bound; test labels say [fp32 x] / [int16 x]
//   attention, fp16 and fp32 K/V     1e-9   (fp32 online softmax vs double two-pass)
// NaN parity: a NaN injected into an input must give NaN at exactly the same outputs in
// both. Inf inputs are not parity-checked by design: the SIMD kernels factor sums
// (a*Σqx + b*Σx in matmul, clamped exp in glu) so ±inf can become NaN or vice versa.
#include <algorithm>
#include <cstdio>
#include <cmath>
#include <cstring>
#include <numbers>
#include <string>
#include <vector>

#include "check.h"
#include "common/half.h"
#include "common/quant-blocks.h"
#include "cpu/attention.h"
#include "cpu/glu.h"
#include "cpu/matmul.h"
#include "cpu/rms-norm.h"
#include "cpu/rope.h"
#include "cpu/softmax.h"
#include "op-harness.h"
#include "ref/attention.h"
#include "ref/dequantize.h"
#include "ref/glu.h"
#include "ref/matmul.h"
#include "ref/rms-norm.h"
#include "ref/rope.h"
#include "ref/softmax.h"

using namespace kvmix;
using kvmix_test::Accum;
using kvmix_test::Compare;
using kvmix_test::Guarded;
using kvmix_test::Rng;

namespace {

constexpr double kTolElementwise = 1e-10;
constexpr double kTolMatmul = 1e-9;  // exact path only: see int16_path / int16_nmse_tol
constexpr double kTolAttention = 1e-9;

std::string sci(double v) {
    char buf[32];
    std::snprintf(buf, sizeof buf, "%.3g", v);
    return buf;
}

// Worst NMSE seen per op, printed by the last case (test-only bookkeeping).
struct Worst {
    double matmul = 0, rms_norm = 0, rope = 0, glu = 0, softmax = 0, attention = 0;
};
Worst& worst() {
    static Worst w;
    return w;
}
void note(double& slot, double v) { slot = std::max(slot, v); }

bool same_bits(float a, float b) { return std::memcmp(&a, &b, sizeof a) == 0; }

// Compares `got` with `want` where in_slice(i), and requires every other element of both to
// be bit-identical to `before` (canary or untouched input); canaries around both intact.
template <class Pred>
Compare verify(const Guarded& got, const Guarded& want, const Guarded& before, Pred in_slice, const std::string& what) {
    Accum acc;
    size_t stray = 0;
    for (size_t i = 0; i < got.size(); ++i) {
        if (in_slice(i)) {
            acc.add(got[i], want[i], i);
        } else if (!same_bits(got[i], before[i]) || !same_bits(want[i], before[i])) {
            ++stray;
        }
    }
    if (stray) ::kvmix_test::report_failure(__FILE__, __LINE__, what + ": " + std::to_string(stray) + " writes outside the slice");
    if (!got.guards_intact() || !want.guards_intact())
        ::kvmix_test::report_failure(__FILE__, __LINE__, what + ": guard canaries overwritten");
    return acc.result();
}

void expect_close(const Compare& c, double tol, const std::string& what) {
    Worst& w = worst();
    double& slot = what.rfind("rms_norm", 0) == 0 ? w.rms_norm : what.rfind("rope", 0) == 0 ? w.rope
                 : what.rfind("silu", 0) == 0 || what.rfind("gelu", 0) == 0 ? w.glu
                 : what.rfind("softmax", 0) == 0 ? w.softmax
                 : what.rfind("attn", 0) == 0 || what.rfind("empty", 0) == 0 || what.rfind("n_kv", 0) == 0 ? w.attention
                 : w.matmul;
    note(slot, c.nmse);
    if (c.parity_breaks)
        ::kvmix_test::report_failure(__FILE__, __LINE__, what + ": NaN/Inf parity broken at " + std::to_string(c.parity_breaks) +
                                                             " outputs (first " + std::to_string(c.first_break) + ")");
    if (!(c.nmse <= tol))
        ::kvmix_test::report_failure(__FILE__, __LINE__, what + ": nmse " + sci(c.nmse) + " > " + sci(tol));
}

bool bits_equal(const Guarded& a, const Guarded& b) {
    return std::memcmp(a.data() - Guarded::kGuard, b.data() - Guarded::kGuard,
                       (a.size() + 2 * Guarded::kGuard) * sizeof(float)) == 0;
}

const TensorType kAllTypes[] = {TensorType::f32,  TensorType::f16,  TensorType::bf16, TensorType::q4_0,
                                TensorType::q4_1, TensorType::q5_0, TensorType::q5_1, TensorType::q8_0,
                                TensorType::q4_k, TensorType::q5_k, TensorType::q6_k};

// ---------------------------------------------------------------------------------------
// matmul

struct MatmulSetup {
    TensorType type;
    int64_t m, k, n;
    size_t x_stride, y_stride;
    std::vector<uint8_t> w;
    size_t row_bytes;
    Guarded x;
    MatmulSetup(TensorType t, int64_t m_, int64_t k_, int64_t n_, Rng& rng)
        : type(t), m(m_), k(k_), n(n_), x_stride(static_cast<size_t>(k_ + rng.below(3))),
          y_stride(static_cast<size_t>(n_ + rng.below(3))), w(kvmix_test::random_weights(t, n_, k_, rng)),
          row_bytes(w.size() / static_cast<size_t>(n_)), x(static_cast<size_t>(m_) * x_stride) {
        for (size_t i = 0; i < x.size(); ++i) x[i] = rng.normal();
    }
    MatmulParams params(float* y, int64_t nb, int64_t ne) const {
        MatmulParams p;
        p.w_type = type;
        p.w = w.data();
        p.w_row_bytes = row_bytes;
        p.x = x.data();
        p.x_stride = x_stride;
        p.y = y;
        p.y_stride = y_stride;
        p.m = m;
        p.k = k;
        p.n = n;
        p.n_begin = nb;
        p.n_end = ne;
        return p;
    }
    Guarded out() const {
        Guarded g(static_cast<size_t>(m) * y_stride);
        return g;
    }
};

// matmul_cpu rounds x to int16 (blocks of 32, scale d = amax/32767) when m == 1 and W is
// block-quantized other than Q8_0 — for Q4_0/Q4_1 with AVX-512 VNNI to two int8 parts,
// x ≈ (amax/127)·(h + l/256), half a step = amax/65024; every other call keeps x in fp32
// (the exact path).
bool int16_path(TensorType t, int64_t m) { return m == 1 && tensor_type_traits(t).block_elems > 1 && t != TensorType::q8_0; }

// NMSE bound of the int16-x path. Rounding x to d·q leaves an error uniform in ±d/2, so for
// weights independent of x, NMSE ≈ E[d²]/12 / E[x²] = E[amax²]/(12·32767²) ≈ 4.5e-10 for
// unit Gaussian x (amax of 32 ≈ 2.4), on top of fp32 accumulation (~1e-13). Measured at
// k=2048, n=512: 2.5e-10 (Q5_1) .. 7.1e-10 (Q4_K); one bound for every block type leaves
// >= 4x. With fewer than 256 outputs NMSE is a noisy statistic (one y near 0 dominates), so
// it is checked from 256 up; the per-output bound in matmul_compare holds at every shape.
double int16_nmse_tol(TensorType) { return 3e-9; }
double& worst_int16_nmse() {
    static double w = 0;
    return w;
}

Compare matmul_compare(const MatmulSetup& s, int64_t nb, int64_t ne, const std::string& what,
                       MatmulDecodePath path = MatmulDecodePath::best) {
    Guarded y_ref = s.out(), y_cpu = s.out(), before = s.out();
    matmul_ref(s.params(y_ref.data(), nb, ne));
    matmul_cpu_path(s.params(y_cpu.data(), nb, ne), path);
    if (int16_path(s.type, s.m)) {
        // Hard per-output bound of the int16 path: |Δ| <= Σ_l |w_l|·d(l)/2 (d(l): scale of the
        // x block holding l) + 2e-5·Σ_l |w_l x_l| (fp32 scale products and accumulation over
        // k/32 groups: ~(k/64)·6e-8 relative).
        std::vector<double> half_step(static_cast<size_t>(s.k / 32));
        for (size_t b = 0; b < half_step.size(); ++b) {
            double amax = 0;
            for (size_t l = 32 * b; l < 32 * b + 32; ++l) amax = std::max(amax, std::fabs(static_cast<double>(s.x[l])));
            half_step[b] = amax / 65024.0 * 1.001;  // the coarser of the two x roundings
        }
        std::vector<float> row(static_cast<size_t>(s.k));
        size_t over = 0;
        for (int64_t j = nb; j < ne; ++j) {
            const double got = y_cpu[static_cast<size_t>(j)], want = y_ref[static_cast<size_t>(j)];
            if (!std::isfinite(got) || !std::isfinite(want)) continue;  // parity is verify()'s job
            dequantize_row_ref(s.type, s.w.data() + static_cast<size_t>(j) * s.row_bytes, row.data(), s.k);
            double bound = 0;
            for (size_t l = 0; l < row.size(); ++l)
                bound += std::fabs(row[l]) * (half_step[l / 32] + 2e-5 * std::fabs(static_cast<double>(s.x[l])));
            if (std::fabs(got - want) > bound) ++over;
        }
        if (over) ::kvmix_test::report_failure(__FILE__, __LINE__, what + ": " + std::to_string(over) + " outputs beyond the int16-x error bound");
    }
    return verify(y_cpu, y_ref, before, [&](size_t i) {
        const auto col = static_cast<int64_t>(i % s.y_stride);
        return col >= nb && col < ne;
    }, what);
}

// Checks a matmul comparison by the path matmul_cpu took: kTolMatmul on the exact path; on
// the int16-x path NaN parity, int16_nmse_tol from 256 outputs up (per-output bound: above).
void expect_matmul(const Compare& c, TensorType t, int64_t m, int64_t outputs, const std::string& what) {
    if (!int16_path(t, m)) return expect_close(c, kTolMatmul, what);
    if (c.parity_breaks)
        ::kvmix_test::report_failure(__FILE__, __LINE__, what + ": NaN/Inf parity broken at " + std::to_string(c.parity_breaks) + " outputs");
    if (outputs < 256) return;
    worst_int16_nmse() = std::max(worst_int16_nmse(), c.nmse);
    if (!(c.nmse <= int16_nmse_tol(t)))
        ::kvmix_test::report_failure(__FILE__, __LINE__, what + ": nmse " + sci(c.nmse) + " > " + sci(int16_nmse_tol(t)));
}

std::vector<int64_t> matmul_ks(TensorType t) {
    const int64_t be = tensor_type_traits(t).block_elems;
    if (be == 1) return {1, 7, 33, 300, 1031};
    if (be == 32) return {32, 96, 288, 4096};
    return {256, 512, 2304};
}

std::string type_label(TensorType t, int64_t m, int64_t k, int64_t n) {
    return std::string(tensor_type_name(t)) + " m=" + std::to_string(m) + " k=" + std::to_string(k) + " n=" + std::to_string(n) +
           (int16_path(t, m) ? " [int16 x]" : " [fp32 x]");
}

}  // namespace

TEST_CASE("matmul_ref: hand-computed F32 and Q8_0") {
    // x [2,3], W [2 rows, 3]: y = x Wᵀ.
    const float x[6] = {1, 2, 3, -1, 0.5f, 4};
    const float w[6] = {1, 0, -1, 2, 2, 2};
    float y[4] = {};
    MatmulParams p;
    p.w_type = TensorType::f32;
    p.w = w;
    p.w_row_bytes = 12;
    p.x = x;
    p.x_stride = 3;
    p.y = y;
    p.y_stride = 2;
    p.m = 2;
    p.k = 3;
    p.n = 2;
    p.n_end = 2;
    matmul_ref(p);
    CHECK_EQ(y[0], -2.0f);
    CHECK_EQ(y[1], 12.0f);
    CHECK_EQ(y[2], -5.0f);
    CHECK_EQ(y[3], 7.0f);

    // One Q8_0 block, d = 0.5, q = 1..32, x = 1: y = 0.5 * 528.
    BlockQ8_0 b{};
    b.d = fp32_to_fp16(0.5f);
    for (int i = 0; i < 32; ++i) b.qs[i] = static_cast<int8_t>(i + 1);
    std::vector<float> ones(32, 1.0f);
    float yq = 0;
    MatmulParams q;
    q.w_type = TensorType::q8_0;
    q.w = &b;
    q.w_row_bytes = sizeof b;
    q.x = ones.data();
    q.x_stride = 32;
    q.y = &yq;
    q.y_stride = 1;
    q.m = 1;
    q.k = 32;
    q.n = 1;
    q.n_end = 1;
    matmul_ref(q);
    CHECK_EQ(yq, 264.0f);
    float yc = 0;
    q.y = &yc;
    matmul_cpu(q);
    CHECK_EQ(yc, 264.0f);
}

TEST_CASE("matmul_ref: equals dequantize_row_ref then a naive dot") {
    Rng rng(11);
    for (TensorType t : kAllTypes) {
        const int64_t k = tensor_type_traits(t).block_elems == 1 ? 45 : 512, n = 5, m = 3;
        MatmulSetup s(t, m, k, n, rng);
        Guarded y = s.out();
        matmul_ref(s.params(y.data(), 0, n));
        std::vector<float> row(static_cast<size_t>(k));
        Accum acc;
        for (int64_t j = 0; j < n; ++j) {
            dequantize_row_ref(t, s.w.data() + static_cast<size_t>(j) * s.row_bytes, row.data(), k);
            for (int64_t i = 0; i < m; ++i) {
                double want = 0;
                for (int64_t l = 0; l < k; ++l) want += static_cast<double>(row[static_cast<size_t>(l)]) * s.x[static_cast<size_t>(i) * s.x_stride + static_cast<size_t>(l)];
                acc.add(y[static_cast<size_t>(i) * s.y_stride + static_cast<size_t>(j)], want, 0);
            }
        }
        expect_close(acc.result(), 1e-14, std::string("matmul_ref ") + tensor_type_name(t));
    }
}

TEST_CASE("matmul_cpu vs ref: all types, shapes, strides and slices") {
    Rng rng(12);
    for (TensorType t : kAllTypes) {
        for (int64_t k : matmul_ks(t)) {
            for (int64_t m : {1, 2, 4, 5, 13}) {
                if (k >= 2048 && m > 5) continue;  // keep the ref's cost down
                for (int64_t n : {1, 7, 37}) {
                    MatmulSetup s(t, m, k, n, rng);
                    const std::string what = type_label(t, m, k, n);
                    expect_matmul(matmul_compare(s, 0, n, what), t, m, m * n, what);
                    if (n > 1) {
                        const int64_t nb = rng.below(n), ne = nb + 1 + rng.below(n - nb);
                        expect_matmul(matmul_compare(s, nb, ne, what + " slice"), t, m, m * (ne - nb), what + " slice");
                    }
                }
            }
        }
    }
}

TEST_CASE("matmul_cpu_path: Q4_0 / Q4_1 decode through every path this CPU has vs ref") {
    // The dispatched path is covered above; this keeps the AVX2 int16 path tested on CPUs
    // where Q4 decode goes to AVX-512 VNNI, and covers the VNNI path's step/tail layouts
    // (k/32 = 1..3 tail blocks, whole steps of 4, both) and the default model's shapes.
    Rng rng(15);
    for (MatmulDecodePath path : {MatmulDecodePath::avx2, MatmulDecodePath::avx512_vnni, MatmulDecodePath::avx512_vbmi}) {
        if (!matmul_decode_path_available(path)) continue;
        const std::string tag = path == MatmulDecodePath::avx2 ? " [avx2]" : path == MatmulDecodePath::avx512_vnni ? " [avx512 vnni]" : " [avx512 vbmi]";
        for (TensorType t : {TensorType::q4_0, TensorType::q4_1}) {
            for (int64_t k : {32, 64, 96, 128, 160, 224, 576, 1536, 8192}) {
                for (int64_t n : {1, 5, 300}) {
                    MatmulSetup s(t, 1, k, n, rng);
                    const std::string what = type_label(t, 1, k, n) + tag;
                    expect_matmul(matmul_compare(s, 0, n, what, path), t, 1, n, what);
                    const int64_t nb = rng.below(n), ne = nb + 1 + rng.below(n - nb);
                    expect_matmul(matmul_compare(s, nb, ne, what + " slice", path), t, 1, ne - nb, what + " slice");
                }
            }
            // NaN in x (block 5 of 18) and a NaN weight scale in row 2: NaN at exactly those outputs.
            MatmulSetup s(t, 1, 576, 6, rng);
            s.x[5 * 32 + 3] = NAN;
            const uint16_t nan16 = 0x7E00;
            std::memcpy(s.w.data() + 2 * s.row_bytes + kvmix_test::scale_offset(t), &nan16, 2);
            const Compare c = matmul_compare(s, 0, 6, type_label(t, 1, 576, 6) + tag + " NaN", path);
            CHECK_EQ(c.nan_count, size_t{6});
            CHECK_EQ(c.parity_breaks, size_t{0});
        }
    }
}

TEST_CASE("matmul_cpu_path: the VBMI window permutes give the VNNI path's bits") {
    // Same integers, same fp32 operations in the same order: any difference is a layout bug
    // (a nibble or scale from the wrong byte), which the error bound above might not see.
    if (!matmul_decode_path_available(MatmulDecodePath::avx512_vbmi)) return;
    Rng rng(16);
    for (TensorType t : {TensorType::q4_0, TensorType::q4_1})
        for (int64_t k : {32, 64, 128, 160, 192, 224, 576, 1536, 4096}) {
            MatmulSetup s(t, 1, k, 37, rng);
            Guarded a = s.out(), b = s.out();
            matmul_cpu_path(s.params(a.data(), 0, 37), MatmulDecodePath::avx512_vnni);
            matmul_cpu_path(s.params(b.data(), 0, 37), MatmulDecodePath::avx512_vbmi);
            CHECK(bits_equal(a, b));
        }
}

TEST_CASE("matmul_cpu vs ref: default-model decode and prefill shapes") {
    // Gemma 3 270M: n_embd 640, n_ff 2048, q 1024 (4 x 256), kv 256; plus a wide k.
    struct Shape { TensorType t; int64_t k, n; };
    const Shape shapes[] = {{TensorType::q8_0, 640, 1024}, {TensorType::q5_0, 640, 2048}, {TensorType::q4_k, 2048, 640},
                            {TensorType::q6_k, 2048, 640}, {TensorType::q5_k, 1024, 256}, {TensorType::q8_0, 8192, 64},
                            {TensorType::f16, 640, 300},   {TensorType::bf16, 640, 300}};
    Rng rng(13);
    for (const Shape& sh : shapes)
        for (int64_t m : {1, 9}) {
            MatmulSetup s(sh.t, m, sh.k, sh.n, rng);
            const std::string what = type_label(sh.t, m, sh.k, sh.n);
            expect_matmul(matmul_compare(s, 0, sh.n, what), sh.t, m, m * sh.n, what);
        }
    // Wide enough for a stable NMSE on every int16-x type (n = 512 outputs, k = 2048).
    std::string per_type;
    for (TensorType t : kAllTypes) {
        if (tensor_type_traits(t).block_elems == 1) continue;
        MatmulSetup s(t, 1, 2048, 512, rng);
        const std::string what = type_label(t, 1, 2048, 512);
        const Compare c = matmul_compare(s, 0, 512, what);
        expect_matmul(c, t, 1, 512, what);
        per_type += std::string(per_type.empty() ? "" : ", ") + tensor_type_name(t) + " " + sci(c.nmse);
    }
    std::printf("  int16-x matmul nmse, k=2048 n=512: %s; worst at >= 256 outputs: %s\n", per_type.c_str(),
                sci(worst_int16_nmse()).c_str());
}

TEST_CASE("matmul_cpu: NaN parity for NaN in x and in a weight block") {
    Rng rng(14);
    for (TensorType t : kAllTypes) {
        const int64_t k = tensor_type_traits(t).block_elems == 256 ? 512 : 96, n = 6;
        for (int64_t m : {1, 3}) {
            MatmulSetup s(t, m, k, n, rng);
            s.x[static_cast<size_t>(m - 1) * s.x_stride + 17] = NAN;  // row m-1 all NaN
            // Poison row 2 of W: a NaN scale (quantized) or a NaN element (plain).
            uint8_t* row2 = s.w.data() + 2 * s.row_bytes;
            if (tensor_type_traits(t).block_elems == 1) {
                const uint16_t nan16 = t == TensorType::bf16 ? 0x7FC0 : 0x7E00;
                if (t == TensorType::f32) {
                    const float f = NAN;
                    std::memcpy(row2 + 4 * 5, &f, 4);
                } else {
                    std::memcpy(row2 + 2 * 5, &nan16, 2);
                }
            } else {
                const uint16_t nan16 = 0x7E00;
                std::memcpy(row2 + kvmix_test::scale_offset(t), &nan16, 2);
            }
            const std::string what = type_label(t, m, k, n) + " NaN";
            const Compare c = matmul_compare(s, 0, n, what);
            expect_matmul(c, t, m, m * n, what);
            // Row m-1 (n outputs) and column 2 (m outputs) are NaN, once where they cross.
            CHECK_EQ(c.nan_count, static_cast<size_t>(n + m - 1));
        }
    }
}

TEST_CASE("matmul_cpu: a split slice equals one call, bit for bit") {
    Rng rng(15);
    for (TensorType t : kAllTypes) {
        const int64_t k = tensor_type_traits(t).block_elems == 256 ? 512 : 320, n = 41;
        for (int64_t m : {1, 6}) {
            MatmulSetup s(t, m, k, n, rng);
            Guarded one = s.out(), two = s.out();
            matmul_cpu(s.params(one.data(), 0, n));
            const int64_t mid = 1 + rng.below(n - 1);
            matmul_cpu(s.params(two.data(), 0, mid));
            matmul_cpu(s.params(two.data(), mid, n));
            CHECK(bits_equal(one, two));
        }
    }
}

// ---------------------------------------------------------------------------------------
// rms_norm

TEST_CASE("rms_norm_ref: hand-computed") {
    const float x[2] = {3, 4};
    const float w[2] = {1, 0.5f};
    float y[2];
    RmsNormParams p;
    p.x = x;
    p.x_stride = 2;
    p.y = y;
    p.y_stride = 2;
    p.w = w;
    p.w_offset = 1.0f;
    p.eps = 0.0f;
    p.n = 2;
    p.row_end = 1;
    rms_norm_ref(p);  // rms = sqrt(12.5); scales 2 and 1.5
    CHECK_CLOSE(y[0], 3 / std::sqrt(12.5) * 2, 1e-6);
    CHECK_CLOSE(y[1], 4 / std::sqrt(12.5) * 1.5, 1e-6);
}

TEST_CASE("rms_norm_cpu vs ref: sizes, weights, in place, slices, NaN") {
    Rng rng(21);
    for (int64_t n : {1, 7, 8, 9, 640, 1031, 4096})
        for (int variant = 0; variant < 4; ++variant) {
            const bool with_w = variant != 0, in_place = variant == 3, nan = variant == 2;
            const int64_t rows = 5;
            const size_t stride = static_cast<size_t>(n + rng.below(4));
            Guarded x(rows * stride), w(static_cast<size_t>(n));
            for (size_t i = 0; i < x.size(); ++i) x[i] = rng.normal(3.0f);
            for (size_t i = 0; i < w.size(); ++i) w[i] = rng.normal();
            if (nan) x[stride + static_cast<size_t>(n / 2)] = NAN;
            const int64_t rb = variant == 1 ? 1 : 0, re = variant == 1 ? 4 : rows;
            const std::string what = "rms_norm n=" + std::to_string(n) + " v" + std::to_string(variant);
            RmsNormParams p;
            p.x_stride = stride;
            p.y_stride = stride;
            p.w = with_w ? w.data() : nullptr;
            p.w_offset = variant == 2 ? 1.0f : 0.0f;
            p.eps = 1e-6f;
            p.n = n;
            p.row_begin = rb;
            p.row_end = re;
            const Guarded before = in_place ? x : Guarded(rows * stride);
            Guarded y_ref = before, y_cpu = before;
            p.x = in_place ? y_ref.data() : x.data();
            p.y = y_ref.data();
            rms_norm_ref(p);
            p.x = in_place ? y_cpu.data() : x.data();
            p.y = y_cpu.data();
            rms_norm_cpu(p);
            const Compare c = verify(y_cpu, y_ref, before, [&](size_t i) {
                const auto r = static_cast<int64_t>(i / stride);
                return r >= rb && r < re && static_cast<int64_t>(i % stride) < n;
            }, what);
            expect_close(c, kTolElementwise, what);
            if (nan) CHECK_EQ(c.nan_count, static_cast<size_t>(n));
        }
}

// ---------------------------------------------------------------------------------------
// rope

TEST_CASE("rope_ref: rotates known vectors by known angles") {
    // head_dim 4, n_rot 4, base 100: theta_0 = pos, theta_1 = pos * 100^(-1/2) / ff[1].
    const float ff[2] = {1.0f, 2.0f};
    const int32_t pos[1] = {3};
    for (bool inter : {false, true}) {
        float x[4] = {1, 0, 0, 0};
        // Put (1, 0) on pair 0 and (0, 2) on pair 1 in either layout.
        if (inter) { x[0] = 1; x[1] = 0; x[2] = 0; x[3] = 2; }
        else { x[0] = 1; x[2] = 0; x[1] = 0; x[3] = 2; }
        RopeParams p;
        p.x = x;
        p.token_stride = 4;
        p.head_stride = 4;
        p.n_head = 1;
        p.head_dim = 4;
        p.n_rot = 4;
        p.positions = pos;
        p.base = 100.0f;
        p.freq_scale = 0.5f;
        p.freq_factors = ff;
        p.interleaved = inter;
        p.token_end = 1;
        rope_ref(p);
        const double t0 = 3 * 0.5, t1 = 3 * 0.5 * 0.1 / 2.0;
        const int a0 = 0, b0 = inter ? 1 : 2, a1 = inter ? 2 : 1, b1 = 3;
        CHECK_CLOSE(x[a0], std::cos(t0), 1e-6);
        CHECK_CLOSE(x[b0], std::sin(t0), 1e-6);
        CHECK_CLOSE(x[a1], -2 * std::sin(t1), 1e-6);
        CHECK_CLOSE(x[b1], 2 * std::cos(t1), 1e-6);
    }
}

TEST_CASE("rope_cpu vs ref: layouts, partial n_rot, freq factors and scale, slices, NaN") {
    Rng rng(31);
    struct Shape { int64_t head_dim, n_rot, n_head; };
    const Shape shapes[] = {{64, 64, 4}, {128, 128, 8}, {256, 256, 4}, {128, 64, 2}, {80, 80, 3}, {96, 6, 2}, {64, 2, 1}, {40, 0, 2}};
    int variant = 0;
    for (const Shape& sh : shapes)
        for (bool inter : {false, true})
            for (int fv = 0; fv < 3; ++fv, ++variant) {
                const int64_t n_tok = 5;
                const size_t hs = static_cast<size_t>(sh.head_dim + rng.below(3));
                const size_t ts = static_cast<size_t>(sh.n_head) * hs + static_cast<size_t>(rng.below(5));
                Guarded x(static_cast<size_t>(n_tok) * ts);
                for (size_t i = 0; i < x.size(); ++i) x[i] = rng.normal();
                const bool nan = variant % 5 == 0;
                if (nan) x[ts + 1] = NAN;  // token 1, head 0, a rotated dim (or a kept one when n_rot small)
                std::vector<int32_t> pos(n_tok);
                for (auto& q : pos) q = static_cast<int32_t>(rng.below(fv == 2 ? 131072 : 4096));
                std::vector<float> ff(static_cast<size_t>(std::max<int64_t>(1, sh.n_rot / 2)));
                for (auto& f : ff) f = rng.uniform(1.0f, 8.0f);
                RopeParams p;
                p.token_stride = ts;
                p.head_stride = hs;
                p.n_head = sh.n_head;
                p.head_dim = sh.head_dim;
                p.n_rot = sh.n_rot;
                p.positions = pos.data();
                p.base = fv == 2 ? 1e6f : 10000.0f;
                p.freq_scale = fv == 1 ? 0.25f : 1.0f;
                p.freq_factors = fv == 1 ? ff.data() : nullptr;
                p.interleaved = inter;
                p.token_begin = variant % 2;
                p.token_end = n_tok - variant % 3 / 2;
                const Guarded before = x;
                Guarded ref = x, cpu = x;
                p.x = ref.data();
                rope_ref(p);
                p.x = cpu.data();
                rope_cpu(p);
                const std::string what = "rope hd=" + std::to_string(sh.head_dim) + " rot=" + std::to_string(sh.n_rot) +
                                         (inter ? " inter" : " half") + " fv" + std::to_string(fv);
                const Compare c = verify(cpu, ref, before, [&](size_t i) {
                    const auto t = static_cast<int64_t>(i / ts);
                    const size_t in_tok = i % ts;
                    return t >= p.token_begin && t < p.token_end && in_tok < static_cast<size_t>(sh.n_head) * hs &&
                           static_cast<int64_t>(in_tok % hs) < sh.n_rot;
                }, what);
                expect_close(c, kTolElementwise, what);
                // Dims past n_rot (and pad) are outside the "slice", so verify() has checked
                // them bit-identical to the input already.
            }
}

// ---------------------------------------------------------------------------------------
// glu

TEST_CASE("glu_ref: hand-computed silu and gelu_tanh") {
    const float g[2] = {1.0f, -2.0f}, u[2] = {2.0f, 3.0f};
    float o[2];
    GluParams p;
    p.gate = g;
    p.up = u;
    p.out = o;
    p.stride = 2;
    p.n = 2;
    p.row_end = 1;
    glu_ref(p);
    CHECK_CLOSE(o[0], 2.0 / (1.0 + std::exp(-1.0)), 1e-6);
    CHECK_CLOSE(o[1], 3.0 * -2.0 / (1.0 + std::exp(2.0)), 1e-6);
    p.act = GluActivation::gelu_tanh;
    glu_ref(p);
    const double k = std::sqrt(2.0 / std::numbers::pi);
    CHECK_CLOSE(o[0], 2.0 * 0.5 * (1.0 + std::tanh(k * (1.0 + 0.044715))), 1e-6);
    CHECK_CLOSE(o[1], 3.0 * 0.5 * -2.0 * (1.0 + std::tanh(k * (-2.0 - 0.044715 * 8))), 1e-6);
}

TEST_CASE("glu_cpu vs ref: both activations, tails, extremes, aliasing, NaN") {
    Rng rng(41);
    for (GluActivation act : {GluActivation::silu, GluActivation::gelu_tanh})
        for (int64_t n : {1, 7, 8, 9, 33, 1000, 2048})
            for (int variant = 0; variant < 3; ++variant) {
                const int64_t rows = 4;
                const size_t stride = static_cast<size_t>(n + rng.below(3));
                Guarded g(rows * stride), u(rows * stride);
                for (size_t i = 0; i < g.size(); ++i) {
                    g[i] = rng.normal(variant == 1 ? 20.0f : 3.0f);  // variant 1 reaches exp's clamps
                    u[i] = rng.normal();
                }
                if (variant == 2) {
                    g[stride + 0] = NAN;
                    u[2 * stride + static_cast<size_t>(n - 1)] = NAN;
                }
                const int64_t rb = variant == 1 ? 1 : 0, re = rows - (variant == 1);
                const std::string what = std::string(act == GluActivation::silu ? "silu" : "gelu") + " n=" + std::to_string(n) +
                                         " v" + std::to_string(variant);
                GluParams p;
                p.stride = stride;
                p.n = n;
                p.act = act;
                p.row_begin = rb;
                p.row_end = re;
                // Variant 0 writes in place over gate (out aliases gate).
                const Guarded before = variant == 0 ? g : Guarded(rows * stride);
                Guarded ref = before, cpu = before;
                p.up = u.data();
                p.gate = variant == 0 ? ref.data() : g.data();
                p.out = ref.data();
                glu_ref(p);
                p.gate = variant == 0 ? cpu.data() : g.data();
                p.out = cpu.data();
                glu_cpu(p);
                const Compare c = verify(cpu, ref, before, [&](size_t i) {
                    const auto r = static_cast<int64_t>(i / stride);
                    return r >= rb && r < re && static_cast<int64_t>(i % stride) < n;
                }, what);
                expect_close(c, kTolElementwise, what);
                if (variant == 2) CHECK_EQ(c.nan_count, static_cast<size_t>(2));
            }
}

// ---------------------------------------------------------------------------------------
// softmax

TEST_CASE("softmax_ref: hand-computed") {
    float x[3] = {0.0f, std::log(2.0f), -INFINITY};
    SoftmaxParams p;
    p.x = x;
    p.stride = 3;
    p.n = 3;
    p.row_end = 1;
    softmax_ref(p);
    CHECK_CLOSE(x[0], 1.0 / 3.0, 1e-7);
    CHECK_CLOSE(x[1], 2.0 / 3.0, 1e-7);
    CHECK_EQ(x[2], 0.0f);
}

TEST_CASE("softmax_cpu vs ref: sizes, masks, slices, NaN") {
    Rng rng(51);
    for (int64_t n : {1, 7, 8, 9, 33, 1000, 4099})
        for (int variant = 0; variant < 3; ++variant) {
            const int64_t rows = 4;
            const size_t stride = static_cast<size_t>(n + rng.below(3));
            Guarded x(rows * stride);
            for (size_t i = 0; i < x.size(); ++i) x[i] = rng.normal(variant == 1 ? 30.0f : 3.0f);
            if (variant == 1)  // causal-mask style -inf entries (never a whole row)
                for (size_t i = 0; i < x.size(); ++i)
                    if (i % stride != 0 && rng.below(3) == 0) x[i] = -INFINITY;
            if (variant == 2) x[2 * stride + static_cast<size_t>(n / 2)] = NAN;
            const int64_t rb = variant == 1 ? 1 : 0, re = rows;
            SoftmaxParams p;
            p.stride = stride;
            p.n = n;
            p.row_begin = rb;
            p.row_end = re;
            const Guarded before = x;
            Guarded ref = x, cpu = x;
            p.x = ref.data();
            softmax_ref(p);
            p.x = cpu.data();
            softmax_cpu(p);
            const std::string what = "softmax n=" + std::to_string(n) + " v" + std::to_string(variant);
            const Compare c = verify(cpu, ref, before, [&](size_t i) {
                const auto r = static_cast<int64_t>(i / stride);
                return r >= rb && r < re && static_cast<int64_t>(i % stride) < n;
            }, what);
            expect_close(c, kTolElementwise, what);
            if (variant == 2) CHECK_EQ(c.nan_count, static_cast<size_t>(n));
            if (variant == 1)  // masked entries are exactly zero in both
                for (size_t i = stride; i < x.size(); ++i)
                    if (static_cast<int64_t>(i % stride) < n && x[i] == -INFINITY) CHECK(cpu[i] == 0.0f && ref[i] == 0.0f);
        }
}

// ---------------------------------------------------------------------------------------
// attention

namespace {

struct AttnShape {
    int64_t n_q, n_head, n_head_kv, head_dim, head_dim_v, n_kv;
    int32_t window;
    float softcap;
};

// K/V are held in the setup's element type only (k/v for f16, kf/vf for f32), so a kernel
// that read the wrong pointers would see an empty vector's null data and crash.
struct AttnSetup {
    AttnShape s;
    KvElementType kv_type;
    size_t q_stride, out_stride, k_head_stride, v_head_stride;
    Guarded q;
    std::vector<uint16_t> k, v;
    std::vector<float> kf, vf;
    std::vector<int32_t> pos;
    AttnSetup(const AttnShape& sh, Rng& rng, KvElementType type = KvElementType::f16)
        : s(sh), kv_type(type), q_stride(static_cast<size_t>(sh.n_head * sh.head_dim + rng.below(3))),
          out_stride(static_cast<size_t>(sh.n_head * sh.head_dim_v + rng.below(3))),
          k_head_stride(static_cast<size_t>((sh.n_kv + rng.below(4)) * sh.head_dim)),
          v_head_stride(static_cast<size_t>((sh.n_kv + rng.below(4)) * sh.head_dim_v)),
          q(static_cast<size_t>(sh.n_q) * q_stride), pos(static_cast<size_t>(sh.n_q)) {
        for (size_t i = 0; i < q.size(); ++i) q[i] = rng.normal();
        const size_t nk = k_head_stride * static_cast<size_t>(sh.n_head_kv), nv = v_head_stride * static_cast<size_t>(sh.n_head_kv);
        if (type == KvElementType::f16) {
            k.resize(nk);
            v.resize(nv);
        } else {
            kf.resize(nk);
            vf.resize(nv);
        }
        // Keys scaled so scores spread over a few units (a real softmax, not uniform).
        for (size_t i = 0; i < nk; ++i) set_k(i, rng.normal(2.0f));
        for (size_t i = 0; i < nv; ++i) set_v(i, rng.normal());
        for (int64_t t = 0; t < sh.n_q; ++t) {
            // Last query at the newest slot, earlier ones anywhere (incl. 0 and past the end).
            const int64_t r = rng.below(sh.n_kv + 2);
            pos[static_cast<size_t>(t)] = static_cast<int32_t>(t == sh.n_q - 1 ? sh.n_kv - 1 : r);
        }
    }
    bool f32() const { return kv_type == KvElementType::f32; }
    // Element i of K / V as the kernel sees it (fp16 stores round).
    float k_at(size_t i) const { return f32() ? kf[i] : fp16_to_fp32(k[i]); }
    float v_at(size_t i) const { return f32() ? vf[i] : fp16_to_fp32(v[i]); }
    void set_k(size_t i, float x) { f32() ? void(kf[i] = x) : void(k[i] = fp32_to_fp16(x)); }
    void set_v(size_t i, float x) { f32() ? void(vf[i] = x) : void(v[i] = fp32_to_fp16(x)); }
    AttentionParams params(float* out, int64_t hb, int64_t he) const {
        AttentionParams p;
        p.q = q.data();
        p.q_stride = q_stride;
        p.kv_type = kv_type;
        p.k = k.data();
        p.v = v.data();
        p.k_f32 = kf.data();
        p.v_f32 = vf.data();
        p.k_head_stride = k_head_stride;
        p.v_head_stride = v_head_stride;
        p.out = out;
        p.out_stride = out_stride;
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
        p.head_begin = hb;
        p.head_end = he;
        return p;
    }
    Guarded out() const { return Guarded(static_cast<size_t>(s.n_q) * out_stride); }
    bool in_slice(size_t i, int64_t hb, int64_t he) const {
        const size_t in_tok = i % out_stride;
        const auto h = static_cast<int64_t>(in_tok / static_cast<size_t>(s.head_dim_v));
        return in_tok < static_cast<size_t>(s.n_head * s.head_dim_v) && h >= hb && h < he;
    }
};

std::string attn_label(const AttnShape& s, KvElementType t = KvElementType::f16) {
    return std::string(t == KvElementType::f32 ? "attn f32" : "attn f16") + " nq=" + std::to_string(s.n_q) + " h=" + std::to_string(s.n_head) + "/" + std::to_string(s.n_head_kv) +
           " d=" + std::to_string(s.head_dim) + "/" + std::to_string(s.head_dim_v) + " kv=" + std::to_string(s.n_kv) +
           " win=" + std::to_string(s.window) + " cap=" + std::to_string(static_cast<int>(s.softcap));
}

Compare attention_compare(const AttnSetup& a, int64_t hb, int64_t he, const std::string& what) {
    Guarded ref = a.out(), cpu = a.out(), before = a.out();
    attention_ref(a.params(ref.data(), hb, he));
    attention_cpu(a.params(cpu.data(), hb, he));
    return verify(cpu, ref, before, [&](size_t i) { return a.in_slice(i, hb, he); }, what);
}

}  // namespace

const KvElementType kKvTypes[] = {KvElementType::f16, KvElementType::f32};

TEST_CASE("attention_ref: equals a naive masked softmax(QKᵀ)V in double (fp16 and fp32 K/V)") {
    Rng rng(61);
    const AttnShape shapes[] = {{3, 4, 2, 16, 8, 20, 0, 0.0f}, {4, 6, 3, 8, 8, 37, 5, 20.0f}, {2, 2, 1, 32, 16, 9, 3, 0.0f}};
    for (const KvElementType type : kKvTypes)
        for (const AttnShape& sh : shapes) {
            AttnSetup a(sh, rng, type);
            Guarded out = a.out();
            const AttentionParams p = a.params(out.data(), 0, sh.n_head);
            attention_ref(p);
            Accum acc;
            const int64_t group = sh.n_head / sh.n_head_kv;
            for (int64_t t = 0; t < sh.n_q; ++t)
                for (int64_t h = 0; h < sh.n_head; ++h) {
                    // Full score row over every slot with an explicit mask matrix entry.
                    std::vector<double> w(static_cast<size_t>(sh.n_kv));
                    double mx = -INFINITY;
                    for (int64_t j = 0; j < sh.n_kv; ++j) {
                        const bool visible = j <= a.pos[static_cast<size_t>(t)] &&
                                             (sh.window == 0 || a.pos[static_cast<size_t>(t)] - j < sh.window);
                        double dot = 0;
                        for (int64_t d = 0; d < sh.head_dim; ++d)
                            dot += static_cast<double>(a.q[static_cast<size_t>(t) * a.q_stride + static_cast<size_t>(h * sh.head_dim + d)]) *
                                   a.k_at(static_cast<size_t>(h / group) * a.k_head_stride + static_cast<size_t>(j * sh.head_dim + d));
                        double sc = dot * p.scale;
                        if (sh.softcap > 0) sc = sh.softcap * std::tanh(sc / sh.softcap);
                        w[static_cast<size_t>(j)] = visible ? sc : -INFINITY;
                        mx = std::max(mx, w[static_cast<size_t>(j)]);
                    }
                    double z = 0;
                    for (auto& x : w) z += (x = mx == -INFINITY ? 0.0 : std::exp(x - mx));
                    for (int64_t d = 0; d < sh.head_dim_v; ++d) {
                        double o = 0;
                        for (int64_t j = 0; j < sh.n_kv; ++j)
                            o += w[static_cast<size_t>(j)] *
                                 a.v_at(static_cast<size_t>(h / group) * a.v_head_stride + static_cast<size_t>(j * sh.head_dim_v + d));
                        acc.add(out[static_cast<size_t>(t) * a.out_stride + static_cast<size_t>(h * sh.head_dim_v + d)], z > 0 ? o / z : 0.0, 0);
                    }
                }
            expect_close(acc.result(), 1e-13, attn_label(sh, type) + " ref vs naive");
        }
}

TEST_CASE("attention_ref: fp32 K/V are used unrounded, fp16 K/V rounded") {
    // fp32 K/V holding fp16-exact values give the fp16 path's result bit for bit; a change
    // below fp16 resolution still moves the fp32 result (nothing rounds it away).
    Rng rng(66);
    const AttnShape sh{2, 4, 2, 16, 16, 12, 0, 0.0f};
    AttnSetup h(sh, rng, KvElementType::f16);
    AttnSetup f = h;
    f.kv_type = KvElementType::f32;
    f.kf.resize(h.k.size());
    f.vf.resize(h.v.size());
    for (size_t i = 0; i < h.k.size(); ++i) f.kf[i] = fp16_to_fp32(h.k[i]);
    for (size_t i = 0; i < h.v.size(); ++i) f.vf[i] = fp16_to_fp32(h.v[i]);
    f.k.clear();
    f.v.clear();
    Guarded oh = h.out(), of = f.out();
    attention_ref(h.params(oh.data(), 0, 4));
    attention_ref(f.params(of.data(), 0, 4));
    CHECK(bits_equal(oh, of));  // fp16-exact values: identical
    f.kf[3] += 1e-4f;            // not representable in fp16
    Guarded of2 = f.out();
    attention_ref(f.params(of2.data(), 0, 4));
    CHECK(!bits_equal(of, of2));
}

TEST_CASE("attention_cpu vs ref: GQA ratios, head dims, windows, softcap, n_q > 1, slices; fp16 and fp32 K/V") {
    Rng rng(62);
    std::vector<AttnShape> shapes;
    for (int64_t ratio : {1, 2, 3, 4, 8, 16})
        shapes.push_back({2, ratio == 3 ? 12 : 16, (ratio == 3 ? 12 : 16) / ratio, 64, 64, 77, 0, 0.0f});
    const AttnShape more[] = {
        {1, 4, 1, 256, 256, 1, 0, 0.0f},       // a single slot
        {1, 4, 1, 256, 256, 33, 0, 50.0f},     // Gemma-like, softcap
        {3, 4, 1, 256, 256, 300, 64, 0.0f},    // sliding window, prefill queries
        {5, 8, 2, 128, 128, 1000, 0, 0.0f},
        {2, 8, 8, 40, 24, 129, 16, 30.0f},     // dims not a multiple of 32, head_dim_v != head_dim
        {2, 6, 2, 7, 9, 31, 1, 0.0f},          // tails everywhere, window of 1
        {1, 32, 8, 128, 128, 3000, 0, 0.0f},   // long context, GQA 4
        {4, 4, 2, 64, 64, 2048, 512, 50.0f},
        {1, 2, 1, 64, 64, 10, 0, 0.0f},
        {19, 8, 8, 64, 64, 300, 0, 0.0f},      // prefill-sized: MHA tiles of 8 tokens and a tail of 3
        {13, 8, 2, 64, 64, 200, 50, 30.0f},    // GQA 4: tiles of 2 tokens x 4 heads, windowed
        {9, 6, 2, 32, 32, 150, 0, 0.0f},       // GQA 3: tiles of 2 tokens x 3 heads (6 rows)
    };
    shapes.insert(shapes.end(), std::begin(more), std::end(more));
    for (const KvElementType type : kKvTypes)
        for (const AttnShape& sh : shapes) {
            AttnSetup a(sh, rng, type);
            const std::string what = attn_label(sh, type);
            expect_close(attention_compare(a, 0, sh.n_head, what), kTolAttention, what);
            if (sh.n_head > 1) {
                const int64_t hb = rng.below(sh.n_head), he = hb + 1 + rng.below(sh.n_head - hb);
                expect_close(attention_compare(a, hb, he, what + " slice"), kTolAttention, what + " slice");
            }
        }
}

TEST_CASE("attention_cpu: queries that see nothing yield zeros; n_kv = 0 (fp16 and fp32 K/V)") {
    Rng rng(63);
    for (const KvElementType type : kKvTypes) {
        const std::string tag = type == KvElementType::f32 ? " f32" : " f16";
        AttnSetup a({3, 4, 2, 32, 32, 8, 4, 0.0f}, rng, type);
        a.pos = {20, -1, 3};  // window 4 past the end, before slot 0, and a normal one
        Guarded ref = a.out(), cpu = a.out(), before = a.out();
        attention_ref(a.params(ref.data(), 0, 4));
        attention_cpu(a.params(cpu.data(), 0, 4));
        expect_close(verify(cpu, ref, before, [&](size_t i) { return a.in_slice(i, 0, 4); }, "empty" + tag), kTolAttention, "empty" + tag);
        for (size_t i = 0; i < 2 * a.out_stride; ++i)
            if (a.in_slice(i, 0, 4)) CHECK(cpu[i] == 0.0f && ref[i] == 0.0f);
        AttnSetup z({1, 2, 1, 16, 16, 1, 0, 0.0f}, rng, type);
        z.s.n_kv = 0;
        z.pos = {0};
        Guarded zr = z.out(), zc = z.out(), zb = z.out();
        attention_ref(z.params(zr.data(), 0, 2));
        attention_cpu(z.params(zc.data(), 0, 2));
        expect_close(verify(zc, zr, zb, [&](size_t i) { return z.in_slice(i, 0, 2); }, "n_kv=0" + tag), kTolAttention, "n_kv=0" + tag);
    }
}

TEST_CASE("attention_cpu: NaN parity (q, visible and masked K, V; fp16 and fp32 K/V)") {
    for (const KvElementType type : kKvTypes) {
        Rng rng(64);
        AttnSetup a({2, 8, 2, 64, 64, 100, 0, 0.0f}, rng, type);
        a.pos = {99, 40};
        a.q[static_cast<size_t>(0 * a.q_stride) + 3 * 64 + 5] = NAN;  // query 0, head 3
        a.set_k(0 * a.k_head_stride + 50 * 64 + 7, NAN);                // KV head 0, slot 50: seen by q0 only
        a.set_v(1 * a.v_head_stride + 10 * 64 + 9, NAN);                // KV head 1, slot 10, dim 9: both queries
        a.set_k(1 * a.k_head_stride + 70 * 64 + 1, NAN);                // KV head 1, slot 70: seen by q0 only
        const std::string what = type == KvElementType::f32 ? "attn NaN f32" : "attn NaN f16";
        const Compare c = attention_compare(a, 0, 8, what);
        expect_close(c, kTolAttention, what);
        // q0: heads 0-3 (KV head 0 NaN key) and 4-7 (KV head 1 NaN key) all NaN = 8*64;
        // q1: heads 4-7 dim 9 (NaN value) = 4.
        CHECK_EQ(c.nan_count, static_cast<size_t>(8 * 64 + 4));
    }
}

TEST_CASE("attention_cpu: a split head range equals one call, bit for bit (fp16 and fp32 K/V)") {
    for (const KvElementType type : kKvTypes) {
        Rng rng(65);
        AttnSetup a({3, 12, 4, 64, 64, 200, 0, 50.0f}, rng, type);
        Guarded one = a.out(), two = a.out();
        attention_cpu(a.params(one.data(), 0, 12));
        attention_cpu(a.params(two.data(), 0, 5));
        attention_cpu(a.params(two.data(), 5, 12));
        CHECK(bits_equal(one, two));
    }
}

TEST_CASE("summary: worst NMSE per op (cpu vs ref)") {
    const Worst& w = worst();
    std::printf("  worst nmse: matmul %s, rms_norm %s, rope %s, glu %s, softmax %s, attention %s\n", sci(w.matmul).c_str(),
                sci(w.rms_norm).c_str(), sci(w.rope).c_str(), sci(w.glu).c_str(), sci(w.softmax).c_str(), sci(w.attention).c_str());
}

KVMIX_TEST_MAIN()
