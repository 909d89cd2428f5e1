// The broadcast-GEMM kernels (cpu/gemm-avx2.h) against their scalar twins:
//   matmul_grad_x_cpu / matmul_grad_w_cpu vs ref/matmul-grad, matmul_packed_cpu vs matmul_ref,
// and the tile dequantizer they use, dequantize_row_cpu, bit-exact against dequantize_row_ref.
// All types, shapes with row / column / depth tails, accumulate on and off, row slices
// (grad) and column slices (packed), canaries around every output and untouched elements
// outside the slice checked bitwise. Tolerance: NMSE 1e-9 (fp32 vs double sums, as for
// matmul_cpu in test-ops), NaN parity where a NaN is injected into the left operand.
#include <cmath>
#include <cstring>
#include <string>
#include <vector>

#include "check.h"
#include "cpu/matmul-grad.h"
#include "cpu/matmul-packed.h"
#include "cpu/matmul.h"
#include "op-harness.h"
#include "ref/dequantize.h"
#include "ref/matmul-grad.h"
#include "ref/matmul.h"

using namespace kvmix;
using kvmix_test::Accum;
using kvmix_test::Guarded;
using kvmix_test::Rng;

namespace {

constexpr double kTol = 1e-9;

const TensorType kAllTypes[] = {TensorType::f32,  TensorType::f16,  TensorType::bf16, TensorType::q4_0,
                                TensorType::q4_1, TensorType::q5_0, TensorType::q5_1, TensorType::q8_0,
                                TensorType::q4_k, TensorType::q5_k, TensorType::q6_k};

bool same_bits(float a, float b) { return std::memcmp(&a, &b, sizeof a) == 0; }

std::vector<int64_t> ks(TensorType t) {
    const int64_t be = tensor_type_traits(t).block_elems;
    if (be == 1) return {1, 7, 33, 300};
    if (be == 32) return {32, 160, 576};
    return {256, 768};
}

std::string label(const char* op, TensorType t, int64_t m, int64_t k, int64_t n) {
    return std::string(op) + " " + tensor_type_name(t) + " m=" + std::to_string(m) + " k=" + std::to_string(k) + " n=" + std::to_string(n);
}

// got/want agree inside the slice (NMSE, parity) and equal `before` bitwise outside it.
template <class Pred>
void expect_match(const Guarded& got, const Guarded& want, const Guarded& before, Pred in_slice, const std::string& what) {
    Accum acc;
    size_t stray = 0;
    for (size_t i = 0; i < got.size(); ++i) {
        if (in_slice(i)) acc.add(got[i], want[i], i);
        else if (!same_bits(got[i], before[i]) || !same_bits(want[i], before[i])) ++stray;
    }
    const auto c = acc.result();
    if (stray) ::kvmix_test::report_failure(__FILE__, __LINE__, what + ": " + std::to_string(stray) + " writes outside the slice");
    if (!got.guards_intact() || !want.guards_intact()) ::kvmix_test::report_failure(__FILE__, __LINE__, what + ": canaries overwritten");
    if (c.parity_breaks) ::kvmix_test::report_failure(__FILE__, __LINE__, what + ": NaN parity broken");
    if (!(c.nmse <= kTol)) ::kvmix_test::report_failure(__FILE__, __LINE__, what + ": nmse " + std::to_string(c.nmse));
}

void check_grad(TensorType t, int64_t m, int64_t k, int64_t n, bool accumulate, bool nan, Rng& rng) {
    const std::vector<uint8_t> w = kvmix_test::random_weights(t, n, k, rng);
    std::vector<float> dy = rng.normals(static_cast<size_t>(m * n)), x = rng.normals(static_cast<size_t>(m * k));
    if (nan) dy[static_cast<size_t>(rng.below(m * n))] = NAN;
    const int64_t rb = rng.below(m), re = rb + 1 + rng.below(m - rb);
    MatmulGradParams p{dy.data(), x.data(), w.data(), nullptr, m, k, n, rb, re, t, accumulate};
    Guarded before(static_cast<size_t>(m * k));
    for (size_t i = 0; i < before.size(); ++i) before[i] = rng.normal();
    Guarded got = before, want = before;
    p.out = want.data();
    matmul_grad_x_ref(p);
    p.out = got.data();
    matmul_grad_x_cpu(p);
    const std::string what = label("grad_x", t, m, k, n) + (accumulate ? " acc" : "");
    expect_match(got, want, before, [&](size_t i) { return static_cast<int64_t>(i) / k >= rb && static_cast<int64_t>(i) / k < re; }, what);
    if (t != TensorType::f32) return;  // grad_w reads no weight
    const int64_t wb = rng.below(n), we = wb + 1 + rng.below(n - wb);
    p.row_begin = wb;
    p.row_end = we;
    Guarded before_w(static_cast<size_t>(n * k));
    for (size_t i = 0; i < before_w.size(); ++i) before_w[i] = rng.normal();
    Guarded got_w = before_w, want_w = before_w;
    p.out = want_w.data();
    matmul_grad_w_ref(p);
    p.out = got_w.data();
    matmul_grad_w_cpu(p);
    expect_match(got_w, want_w, before_w, [&](size_t i) { return static_cast<int64_t>(i) / k >= wb && static_cast<int64_t>(i) / k < we; },
                 label("grad_w", t, m, k, n) + (accumulate ? " acc" : ""));
}

void check_packed(TensorType t, int64_t m, int64_t k, int64_t n, Rng& rng) {
    const std::vector<uint8_t> w = kvmix_test::random_weights(t, n, k, rng);
    const auto xs = static_cast<size_t>(k + rng.below(3)), ys = static_cast<size_t>(n + rng.below(3));
    std::vector<float> x = rng.normals(static_cast<size_t>(m) * xs);
    const int64_t nb = rng.below(n), ne = nb + 1 + rng.below(n - nb);
    MatmulParams p;
    p.w_type = t;
    p.w = w.data();
    p.w_row_bytes = w.size() / static_cast<size_t>(n);
    p.x = x.data();
    p.x_stride = xs;
    p.m = m;
    p.k = k;
    p.n = n;
    p.n_begin = nb;
    p.n_end = ne;
    p.y_stride = ys;
    Guarded before(static_cast<size_t>(m) * ys);
    Guarded got = before, want = before;
    p.y = want.data();
    matmul_ref(p);
    p.y = got.data();
    matmul_packed_cpu(p);
    expect_match(got, want, before, [&](size_t i) {
        const auto c = static_cast<int64_t>(i % ys);
        return c >= nb && c < ne;
    }, label("packed", t, m, k, n));
}

}  // namespace

TEST_CASE("dequantize_row_cpu is bit-exact with dequantize_row_ref") {
    Rng rng(20);
    for (TensorType t : kAllTypes)
        for (int64_t k : ks(t)) {
            const std::vector<uint8_t> w = kvmix_test::random_weights(t, 3, k, rng);
            Guarded got(static_cast<size_t>(3 * k)), want(static_cast<size_t>(3 * k));
            dequantize_row_ref(t, w.data(), want.data(), 3 * k);
            dequantize_row_cpu(t, w.data(), got.data(), 3 * k);
            CHECK(got.guards_intact());
            size_t diff = 0;
            for (size_t i = 0; i < got.size(); ++i) diff += same_bits(got[i], want[i]) ? 0 : 1;
            if (diff) ::kvmix_test::report_failure(__FILE__, __LINE__, label("dequantize", t, 3, k, 0) + ": " + std::to_string(diff) + " values differ");
        }
}

TEST_CASE("matmul_grad_x/w_cpu vs ref: all types, tails, slices, accumulate") {
    Rng rng(21);
    for (TensorType t : kAllTypes)
        for (int64_t k : ks(t))
            for (int64_t m : {1, 3, 4, 9, 37})
                for (int64_t n : {1, 5, 24, 300}) check_grad(t, m, k, n, (m + n) % 2 == 0, false, rng);
}

TEST_CASE("matmul_grad_x/w_cpu: a NaN in dy poisons the same outputs") {
    Rng rng(22);
    for (TensorType t : {TensorType::f32, TensorType::q4_1, TensorType::q6_k}) check_grad(t, 13, ks(t).back(), 29, false, true, rng);
}

TEST_CASE("matmul_grad_x/w_cpu: gradient-pass shapes (SmolLM2-135M, 512 tokens)") {
    Rng rng(23);
    check_grad(TensorType::q4_1, 512, 576, 1536, false, false, rng);
    check_grad(TensorType::q8_0, 511, 576, 128, true, false, rng);
    check_grad(TensorType::f32, 512, 576, 192, false, false, rng);
}

TEST_CASE("matmul_packed_cpu vs matmul_ref: all types, tails, column slices") {
    Rng rng(24);
    for (TensorType t : kAllTypes)
        for (int64_t k : ks(t))
            for (int64_t m : {1, 2, 5, 16, 37})
                for (int64_t n : {1, 7, 24, 61}) check_packed(t, m, k, n, rng);
    check_packed(TensorType::q4_1, 512, 576, 200, rng);
}

KVMIX_TEST_MAIN()
