// CpuBackend::matmuls (several weights on one input, one parallel job) and
// CpuBackend::matmul_glu (gate and up products with the GLU applied per column block) are
// bit-identical to the unfused calls they replace in the forward pass: matmul per weight,
// and matmul, matmul, glu. Weight types with 1-, 32- and 256-element blocks, decode (m = 1)
// and several rows, output widths that are and are not multiples of the 16-column block,
// 1 to 3 threads, both activations; canaries after every output.
#include <cstring>
#include <string>
#include <vector>

#include "backend/cpu-backend.h"
#include "check.h"
#include "common/tensor-types.h"
#include "op-harness.h"

using namespace kvmix;
using kvmix_test::Rng;

namespace {

constexpr float kCanary = 12345.0f;

struct Weight {
    std::vector<uint8_t> bytes;
    TensorView view;
};

Weight make_weight(TensorType t, int64_t k, int64_t n, Rng& rng) {
    Weight w;
    w.bytes = kvmix_test::random_weights(t, n, k, rng);
    w.view.type = t;
    w.view.n_dims = 2;
    w.view.ne = {static_cast<uint64_t>(k), static_cast<uint64_t>(n), 1, 1};
    w.view.n_bytes = w.bytes.size();
    w.view.data = w.bytes.data();
    return w;
}

// An output of m x n floats followed by 16 canaries.
std::vector<float> output(int64_t m, int64_t n) { return std::vector<float>(static_cast<size_t>(m * n + 16), kCanary); }

bool canaries_intact(const std::vector<float>& y, int64_t m, int64_t n) {
    for (size_t i = static_cast<size_t>(m * n); i < y.size(); ++i)
        if (y[i] != kCanary) return false;
    return true;
}

bool same_bits(const std::vector<float>& a, const std::vector<float>& b) {
    return a.size() == b.size() && std::memcmp(a.data(), b.data(), a.size() * sizeof(float)) == 0;
}

void expect(bool ok, const std::string& what) {
    if (!ok) ::kvmix_test::report_failure(__FILE__, __LINE__, what);
}

struct Case {
    TensorType type;
    int64_t k;
};

const Case kCases[] = {{TensorType::f32, 72}, {TensorType::f16, 96},   {TensorType::q4_0, 576}, {TensorType::q4_1, 576},
                       {TensorType::q8_0, 160}, {TensorType::q4_k, 512}, {TensorType::q6_k, 256}};

}  // namespace

TEST_CASE("matmuls equals one matmul per weight, bit for bit") {
    Rng rng(11);
    for (const Case& c : kCases)
        for (int threads : {1, 2, 3})
            for (int64_t m : {1, 3, 20}) {
                CpuBackend be(threads);
                // q, k, v-like widths: a multiple of 16, a smaller one, one that is not.
                const int64_t ns[3] = {192, 64, 37};
                Weight w[3];
                for (int i = 0; i < 3; ++i) w[i] = make_weight(c.type, c.k, ns[i], rng);
                const std::vector<float> x = rng.normals(static_cast<size_t>(m * c.k));
                std::vector<float> got[3], want[3];
                for (int i = 0; i < 3; ++i) {
                    got[i] = output(m, ns[i]);
                    want[i] = output(m, ns[i]);
                    be.matmul(w[i].view, x.data(), m, want[i].data());
                }
                be.matmuls(x.data(), m, {{&w[0].view, got[0].data()}, {&w[1].view, got[1].data()}, {&w[2].view, got[2].data()}});
                const std::string what = std::string(tensor_type_name(c.type)) + " m=" + std::to_string(m) + " threads=" + std::to_string(threads);
                for (int i = 0; i < 3; ++i) {
                    expect(same_bits(got[i], want[i]), what + " output " + std::to_string(i));
                    expect(canaries_intact(got[i], m, ns[i]), what + " canaries");
                }
            }
}

TEST_CASE("matmul_glu equals matmul, matmul, glu, bit for bit") {
    Rng rng(12);
    for (const Case& c : kCases)
        for (int threads : {1, 2, 3})
            for (int64_t m : {1, 4})
                for (int64_t f : {96, 100})
                    for (GluActivation act : {GluActivation::silu, GluActivation::gelu_tanh}) {
                        CpuBackend be(threads);
                        const Weight wg = make_weight(c.type, c.k, f, rng), wu = make_weight(c.type, c.k, f, rng);
                        const std::vector<float> x = rng.normals(static_cast<size_t>(m * c.k));
                        std::vector<float> gate = output(m, f), up = output(m, f), want_gate = output(m, f), want_up = output(m, f);
                        be.matmul(wg.view, x.data(), m, want_gate.data());
                        be.matmul(wu.view, x.data(), m, want_up.data());
                        be.glu(want_gate.data(), want_up.data(), m, f, act);
                        be.matmul_glu(wg.view, wu.view, x.data(), m, gate.data(), up.data(), act);
                        const std::string what = std::string(tensor_type_name(c.type)) + " m=" + std::to_string(m) + " F=" + std::to_string(f) +
                                                 " threads=" + std::to_string(threads);
                        expect(same_bits(gate, want_gate), what + " gate");
                        expect(same_bits(up, want_up), what + " up");
                        expect(canaries_intact(gate, m, f) && canaries_intact(up, m, f), what + " canaries");
                    }
}

KVMIX_TEST_MAIN()
