// Every backward op of the importance analysis against central finite differences of an
// independent double-precision forward written here: L = Σ r ∘ f(x) with random r, so the
// analytic input gradient is the op's backward applied to dy = r. Each check compares the
// whole gradient vector: ‖analytic − numeric‖ / ‖numeric‖ <= 1e-4 (h = 1e-4, fp32 outputs).
// The double forwards are themselves tied to the engine's scalar references (rms_norm_ref,
// rope_ref, glu_ref, attention_ref) so the gradient is of the op the engine runs.
#include <cmath>
#include <functional>
#include <numbers>
#include <random>
#include <vector>

#include "check.h"
#include "ref/attention-grad.h"
#include "ref/attention.h"
#include "ref/cross-entropy-grad.h"
#include "ref/glu-grad.h"
#include "ref/glu.h"
#include "ref/matmul-grad.h"
#include "ref/rms-norm-grad.h"
#include "ref/rms-norm.h"
#include "ref/rope-grad.h"
#include "ref/rope.h"

using namespace kvmix;

namespace {

using Vec = std::vector<double>;
using Fwd = std::function<Vec(const Vec&)>;

std::mt19937_64 rng(42);

std::vector<float> randn(size_t n, double s = 1.0) {
    std::normal_distribution<double> d(0.0, s);
    std::vector<float> v(n);
    for (auto& x : v) x = static_cast<float>(d(rng));
    return v;
}
Vec widen(const std::vector<float>& v) { return Vec(v.begin(), v.end()); }

double dot(const Vec& a, const Vec& b) {
    double s = 0;
    for (size_t i = 0; i < a.size(); ++i) s += a[i] * b[i];
    return s;
}

// Relative L2 error of `analytic` against central differences of r · fwd(x).
double grad_error(const Vec& x0, const Vec& r, const Fwd& fwd, const std::vector<float>& analytic) {
    const double h = 1e-4;
    Vec x = x0;
    double num = 0, den = 0;
    for (size_t i = 0; i < x.size(); ++i) {
        x[i] = x0[i] + h;
        const double lp = dot(r, fwd(x));
        x[i] = x0[i] - h;
        const double lm = dot(r, fwd(x));
        x[i] = x0[i];
        const double g = (lp - lm) / (2 * h);
        num += (analytic[i] - g) * (analytic[i] - g);
        den += g * g;
    }
    return std::sqrt(num / den);
}

double max_abs_diff(const Vec& a, const std::vector<float>& b) {
    double m = 0;
    for (size_t i = 0; i < a.size(); ++i) m = std::max(m, std::fabs(a[i] - b[i]));
    return m;
}

// --- double forwards -------------------------------------------------------------------------

Vec rms_fwd(const Vec& x, int64_t rows, int64_t n, const std::vector<float>& w, double off, double eps) {
    Vec y(x.size());
    for (int64_t r = 0; r < rows; ++r) {
        double ss = 0;
        for (int64_t i = 0; i < n; ++i) ss += x[r * n + i] * x[r * n + i];
        const double s = 1.0 / std::sqrt(ss / static_cast<double>(n) + eps);
        for (int64_t i = 0; i < n; ++i) y[r * n + i] = x[r * n + i] * s * (w.empty() ? 1.0 : w[i] + off);
    }
    return y;
}

struct RopeCase {
    int64_t T = 5, nh = 3, d = 8, n_rot = 8;
    bool interleaved = false;
    std::vector<float> factors;
};

Vec rope_fwd(const Vec& x, const RopeCase& c, const std::vector<int32_t>& pos) {
    Vec y = x;
    const int64_t half = c.n_rot / 2;
    for (int64_t t = 0; t < c.T; ++t)
        for (int64_t h = 0; h < c.nh; ++h)
            for (int64_t i = 0; i < half; ++i) {
                double th = pos[t] * 0.5 * std::pow(100.0, -2.0 * i / c.n_rot);
                if (!c.factors.empty()) th /= c.factors[i];
                const int64_t i0 = c.interleaved ? 2 * i : i, i1 = c.interleaved ? 2 * i + 1 : i + half;
                const size_t o = static_cast<size_t>((t * c.nh + h) * c.d);
                y[o + i0] = x[o + i0] * std::cos(th) - x[o + i1] * std::sin(th);
                y[o + i1] = x[o + i0] * std::sin(th) + x[o + i1] * std::cos(th);
            }
    return y;
}

double act_fwd(double x, GluActivation a) {
    if (a == GluActivation::silu) return x / (1 + std::exp(-x));
    const double k = std::sqrt(2 / std::numbers::pi);
    return 0.5 * x * (1 + std::tanh(k * (x + 0.044715 * x * x * x)));
}

struct AttnCase {
    int64_t T = 7, H = 4, HKV = 2, D = 8;
    int32_t window = 0;
    float scale = 0.35f, softcap = 0.0f;
};

// q [T, H, D]; k, v [HKV, T, D] head-major (the kernels' layout).
Vec attn_fwd(const Vec& q, const Vec& k, const Vec& v, const AttnCase& c) {
    Vec out(static_cast<size_t>(c.T * c.H * c.D), 0.0);
    const int64_t g = c.H / c.HKV;
    for (int64_t t = 0; t < c.T; ++t)
        for (int64_t h = 0; h < c.H; ++h) {
            const int64_t hk = h / g;
            std::vector<double> s;
            const int64_t j0 = c.window > 0 ? std::max<int64_t>(0, t - c.window + 1) : 0;
            double mx = -INFINITY;
            for (int64_t j = j0; j <= t; ++j) {
                double d = 0;
                for (int64_t i = 0; i < c.D; ++i) d += q[(t * c.H + h) * c.D + i] * k[(hk * c.T + j) * c.D + i];
                d *= c.scale;
                if (c.softcap > 0) d = c.softcap * std::tanh(d / c.softcap);
                s.push_back(d);
                mx = std::max(mx, d);
            }
            double sum = 0;
            for (auto& e : s) sum += (e = std::exp(e - mx));
            for (int64_t j = j0; j <= t; ++j)
                for (int64_t i = 0; i < c.D; ++i)
                    out[(t * c.H + h) * c.D + i] += s[j - j0] / sum * v[(hk * c.T + j) * c.D + i];
        }
    return out;
}

}  // namespace

TEST_CASE("rms norm backward (weight offset, no weight) matches finite differences") {
    for (float off : {0.0f, 1.0f}) {
        for (bool has_w : {true, false}) {
            const int64_t rows = 3, n = 16;
            auto x = randn(rows * n), dy = randn(rows * n), w = has_w ? randn(n, 0.3) : std::vector<float>{};
            RmsNormGradParams p;
            p.x = x.data();
            p.dy = dy.data();
            std::vector<float> dx(x.size());
            p.dx = dx.data();
            p.stride = n;
            p.w = has_w ? w.data() : nullptr;
            p.w_offset = off;
            p.eps = 1e-5f;
            p.n = n;
            p.row_end = rows;
            rms_norm_grad_ref(p);
            Fwd f = [&](const Vec& xx) { return rms_fwd(xx, rows, n, w, off, 1e-5); };
            CHECK(grad_error(widen(x), widen(dy), f, dx) < 1e-4);
            // The double forward is the op the engine runs.
            std::vector<float> y(x.size());
            RmsNormParams fp{x.data(), static_cast<size_t>(n), y.data(), static_cast<size_t>(n), has_w ? w.data() : nullptr, off, 1e-5f, n, 0, rows};
            rms_norm_ref(fp);
            CHECK(max_abs_diff(f(widen(x)), y) < 1e-5);
        }
    }
}

TEST_CASE("rope backward (half split, interleaved, partial, freq factors) matches finite differences") {
    for (int variant = 0; variant < 3; ++variant) {
        RopeCase c;
        c.interleaved = variant == 1;
        if (variant == 2) {
            c.n_rot = 6;
            c.factors = {1.0f, 2.5f, 8.0f};
        }
        std::vector<int32_t> pos{0, 1, 2, 7, 30};
        auto x = randn(static_cast<size_t>(c.T * c.nh * c.d)), dy = randn(x.size());
        RopeParams p;
        p.token_stride = static_cast<size_t>(c.nh * c.d);
        p.head_stride = static_cast<size_t>(c.d);
        p.n_head = c.nh;
        p.head_dim = c.d;
        p.n_rot = c.n_rot;
        p.positions = pos.data();
        p.base = 100.0f;
        p.freq_scale = 0.5f;
        p.freq_factors = c.factors.empty() ? nullptr : c.factors.data();
        p.interleaved = c.interleaved;
        p.token_end = c.T;
        std::vector<float> g = dy;
        p.x = g.data();
        rope_grad_ref(p);
        Fwd f = [&](const Vec& xx) { return rope_fwd(xx, c, pos); };
        CHECK(grad_error(widen(x), widen(dy), f, g) < 1e-4);
        std::vector<float> y = x;
        p.x = y.data();
        rope_ref(p);
        CHECK(max_abs_diff(f(widen(x)), y) < 1e-5);
    }
}

TEST_CASE("glu backward (SwiGLU, GeGLU-tanh) matches finite differences") {
    for (GluActivation act : {GluActivation::silu, GluActivation::gelu_tanh}) {
        const int64_t rows = 2, n = 12;
        auto gate = randn(rows * n, 2.0), up = randn(rows * n), dy = randn(rows * n);
        std::vector<float> dg(gate.size()), du(gate.size());
        GluGradParams p{gate.data(), up.data(), dy.data(), dg.data(), du.data(), static_cast<size_t>(n), n, act, 0, rows};
        glu_grad_ref(p);
        // x = [gate, up]
        Vec x = widen(gate);
        for (float u : up) x.push_back(u);
        Fwd f = [&](const Vec& xx) {
            Vec y(static_cast<size_t>(rows * n));
            for (size_t i = 0; i < y.size(); ++i) y[i] = act_fwd(xx[i], act) * xx[i + y.size()];
            return y;
        };
        std::vector<float> both = dg;
        both.insert(both.end(), du.begin(), du.end());
        CHECK(grad_error(x, widen(dy), f, both) < 1e-4);
        std::vector<float> out(gate.size());
        GluParams fp{gate.data(), up.data(), out.data(), static_cast<size_t>(n), n, act, 0, rows};
        glu_ref(fp);
        CHECK(max_abs_diff(f(x), out) < 1e-5);
    }
}

TEST_CASE("attention backward (GQA, sliding window, softcap) matches finite differences") {
    for (int variant = 0; variant < 3; ++variant) {
        AttnCase c;
        if (variant == 1) c.window = 3;
        if (variant == 2) {
            c.softcap = 1.5f;
            c.HKV = 1;
        }
        const size_t nq = static_cast<size_t>(c.T * c.H * c.D), nk = static_cast<size_t>(c.HKV * c.T * c.D);
        auto q = randn(nq), k = randn(nk), v = randn(nk), dO = randn(nq);
        std::vector<int32_t> pos(static_cast<size_t>(c.T));
        for (int64_t t = 0; t < c.T; ++t) pos[static_cast<size_t>(t)] = static_cast<int32_t>(t);
        std::vector<float> dq(nq), dk(nk, 0.0f), dv(nk, 0.0f);
        AttentionGradParams p;
        p.q = q.data();
        p.q_stride = static_cast<size_t>(c.H * c.D);
        p.k = k.data();
        p.k_head_stride = static_cast<size_t>(c.T * c.D);
        p.v = v.data();
        p.v_head_stride = static_cast<size_t>(c.T * c.D);
        p.dout = dO.data();
        p.dout_stride = p.q_stride;
        p.dq = dq.data();
        p.dk = dk.data();
        p.dv = dv.data();
        p.n_q = c.T;
        p.n_head = c.H;
        p.n_head_kv = c.HKV;
        p.head_dim = c.D;
        p.head_dim_v = c.D;
        p.n_kv = c.T;
        p.q_pos = pos.data();
        p.window = c.window;
        p.scale = c.scale;
        p.softcap = c.softcap;
        p.head_end = c.H;
        attention_grad_ref(p);
        // x = [q, k, v]
        Vec x = widen(q);
        for (float e : k) x.push_back(e);
        for (float e : v) x.push_back(e);
        Fwd f = [&](const Vec& xx) {
            return attn_fwd(Vec(xx.begin(), xx.begin() + static_cast<long>(nq)),
                            Vec(xx.begin() + static_cast<long>(nq), xx.begin() + static_cast<long>(nq + nk)),
                            Vec(xx.begin() + static_cast<long>(nq + nk), xx.end()), c);
        };
        std::vector<float> all = dq;
        all.insert(all.end(), dk.begin(), dk.end());
        all.insert(all.end(), dv.begin(), dv.end());
        CHECK(grad_error(x, widen(dO), f, all) < 1e-4);
        // Per-query-head accumulation sums to the same dK/dV.
        std::vector<float> dkh(nk * static_cast<size_t>(c.H / c.HKV), 0.0f), dvh(dkh.size(), 0.0f), dq2(nq);
        p.dq = dq2.data();
        p.dk = dkh.data();
        p.dv = dvh.data();
        p.per_query_head_grads = true;
        attention_grad_ref(p);
        double worst = 0;
        for (int64_t hk = 0; hk < c.HKV; ++hk)
            for (int64_t i = 0; i < c.T * c.D; ++i) {
                double sk = 0;
                for (int64_t h = hk * (c.H / c.HKV); h < (hk + 1) * (c.H / c.HKV); ++h) sk += dkh[static_cast<size_t>(h * c.T * c.D + i)];
                worst = std::max(worst, std::fabs(sk - dk[static_cast<size_t>(hk * c.T * c.D + i)]));
            }
        CHECK(worst < 1e-5);
        // The double forward is the engine's attention.
        std::vector<float> out(nq);
        AttentionParams ap;
        ap.q = q.data();
        ap.q_stride = p.q_stride;
        ap.kv_type = KvElementType::f32;
        ap.k_f32 = k.data();
        ap.k_head_stride = p.k_head_stride;
        ap.v_f32 = v.data();
        ap.v_head_stride = p.v_head_stride;
        ap.out = out.data();
        ap.out_stride = p.q_stride;
        ap.n_q = c.T;
        ap.n_head = c.H;
        ap.n_head_kv = c.HKV;
        ap.head_dim = c.D;
        ap.head_dim_v = c.D;
        ap.n_kv = c.T;
        ap.q_pos = pos.data();
        ap.window = c.window;
        ap.scale = c.scale;
        ap.softcap = c.softcap;
        ap.head_end = c.H;
        attention_ref(ap);
        CHECK(max_abs_diff(f(x), out) < 1e-5);
    }
}

TEST_CASE("cross-entropy backward (softcap, vocabulary tiles) matches finite differences") {
    for (float softcap : {0.0f, 3.0f}) {
        const int64_t rows = 3, V = 10;
        auto a = randn(rows * V, 2.0);
        std::vector<int32_t> labels{4, 0, 9};
        const double w = 1.0 / rows;
        Fwd f = [&](const Vec& xx) {
            double loss = 0;
            for (int64_t r = 0; r < rows; ++r) {
                double mx = -INFINITY;
                Vec z(static_cast<size_t>(V));
                for (int64_t i = 0; i < V; ++i) {
                    z[i] = softcap > 0 ? softcap * std::tanh(xx[r * V + i] / softcap) : xx[r * V + i];
                    mx = std::max(mx, z[i]);
                }
                double s = 0;
                for (double e : z) s += std::exp(e - mx);
                loss += w * (mx + std::log(s) - z[labels[r]]);
            }
            return Vec{loss};
        };
        // Full rows.
        std::vector<float> da(a.size());
        double loss = 0;
        CrossEntropyGradParams p;
        p.logits = a.data();
        p.dlogits = da.data();
        p.stride = V;
        p.n = V;
        p.labels = labels.data();
        p.softcap = softcap;
        p.weight = w;
        p.loss = &loss;
        p.row_end = rows;
        cross_entropy_grad_ref(p);
        CHECK(grad_error(widen(a), Vec{1.0}, f, da) < 1e-4);
        CHECK(std::fabs(loss - f(widen(a))[0]) < 1e-6);
        // Two tiles of 6 + 4 columns with the caller's log-sum-exp give the same result.
        std::vector<double> lse(rows);
        for (int64_t r = 0; r < rows; ++r) {
            double mx = -INFINITY, s = 0;
            cross_entropy_lse_partial(a.data() + r * V, 6, softcap, mx, s);
            cross_entropy_lse_partial(a.data() + r * V + 6, 4, softcap, mx, s);
            lse[static_cast<size_t>(r)] = mx + std::log(s);
        }
        std::vector<float> da2(a.size());
        double loss2 = 0;
        for (int64_t v0 : {0, 6}) {
            CrossEntropyGradParams t = p;
            t.logits = a.data() + v0;
            t.dlogits = da2.data() + v0;
            t.n = v0 == 0 ? 6 : 4;
            t.v_begin = v0;
            t.lse = lse.data();
            t.loss = &loss2;
            cross_entropy_grad_ref(t);
        }
        CHECK(max_abs_diff(widen(da), da2) < 1e-7);
        CHECK(std::fabs(loss - loss2) < 1e-9);
    }
}

TEST_CASE("matmul backward (input and weight) matches finite differences") {
    const int64_t m = 3, k = 5, n = 4;
    auto x = randn(m * k), w = randn(n * k), dy = randn(m * n);
    std::vector<float> dx(x.size()), dw(w.size());
    MatmulGradParams p{dy.data(), x.data(), w.data(), dx.data(), m, k, n, 0, m};
    matmul_grad_x_ref(p);
    p.out = dw.data();
    p.row_end = n;
    matmul_grad_w_ref(p);
    auto mm = [&](const Vec& xx, const Vec& ww) {
        Vec y(static_cast<size_t>(m * n), 0.0);
        for (int64_t r = 0; r < m; ++r)
            for (int64_t j = 0; j < n; ++j)
                for (int64_t i = 0; i < k; ++i) y[r * n + j] += xx[r * k + i] * ww[j * k + i];
        return y;
    };
    Fwd fx = [&](const Vec& xx) { return mm(xx, widen(w)); };
    Fwd fw = [&](const Vec& ww) { return mm(widen(x), ww); };
    CHECK(grad_error(widen(x), widen(dy), fx, dx) < 1e-4);
    CHECK(grad_error(widen(w), widen(dy), fw, dw) < 1e-4);
}

KVMIX_TEST_MAIN()
