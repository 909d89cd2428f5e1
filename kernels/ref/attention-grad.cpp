#include "ref/attention-grad.h"

#include <algorithm>
#include <cmath>
#include <vector>

#include "common/assert.h"

namespace kvmix {

namespace {

// Eight independent partial sums so the compiler can vectorize without reassociating.
float dot(const float* a, const float* b, int64_t n) {
    float acc[8] = {};
    int64_t i = 0;
    for (; i + 8 <= n; i += 8)
        for (int l = 0; l < 8; ++l) acc[l] += a[i + l] * b[i + l];
    float s = ((acc[0] + acc[1]) + (acc[2] + acc[3])) + ((acc[4] + acc[5]) + (acc[6] + acc[7]));
    for (; i < n; ++i) s += a[i] * b[i];
    return s;
}

void axpy(float a, const float* x, float* y, int64_t n) {
    for (int64_t i = 0; i < n; ++i) y[i] += a * x[i];
}

}  // namespace

void attention_grad_ref(const AttentionGradParams& p) {
    KVMIX_ASSERT(p.n_head_kv > 0 && p.n_head % p.n_head_kv == 0);
    const int64_t group = p.n_head / p.n_head_kv;
    const int64_t D = p.head_dim, DV = p.head_dim_v;
    std::vector<double> prob(static_cast<size_t>(std::max<int64_t>(p.n_kv, 1)));
    std::vector<float> tanh_s(static_cast<size_t>(std::max<int64_t>(p.n_kv, 1)));
    std::vector<float> dprob(static_cast<size_t>(std::max<int64_t>(p.n_kv, 1)));
    for (int64_t h = p.head_begin; h < p.head_end; ++h) {
        const int64_t hk = h / group;
        const int64_t hg = p.per_query_head_grads ? h : hk;
        const float* K = p.k + static_cast<size_t>(hk) * p.k_head_stride;
        const float* V = p.v + static_cast<size_t>(hk) * p.v_head_stride;
        float* dK = p.dk + static_cast<size_t>(hg) * p.k_head_stride;
        float* dV = p.dv + static_cast<size_t>(hg) * p.v_head_stride;
        for (int64_t t = 0; t < p.n_q; ++t) {
            const float* q = p.q + static_cast<size_t>(t) * p.q_stride + static_cast<size_t>(h * D);
            const float* dO = p.dout + static_cast<size_t>(t) * p.dout_stride + static_cast<size_t>(h * DV);
            float* dq = p.dq + static_cast<size_t>(t) * p.q_stride + static_cast<size_t>(h * D);
            std::fill(dq, dq + D, 0.0f);
            const int64_t pos = p.q_pos[t];
            const int64_t j_end = std::min<int64_t>(pos + 1, p.n_kv);
            const int64_t j_begin = p.window > 0 ? std::max<int64_t>(0, pos - p.window + 1) : 0;
            if (j_begin >= j_end) continue;
            double mx = -INFINITY;
            for (int64_t j = j_begin; j < j_end; ++j) {
                double s = static_cast<double>(p.scale) * dot(q, K + j * D, D);
                if (p.softcap > 0) {
                    const double th = std::tanh(s / p.softcap);
                    tanh_s[static_cast<size_t>(j)] = static_cast<float>(th);
                    s = p.softcap * th;
                }
                prob[static_cast<size_t>(j)] = s;
                mx = std::max(mx, s);
            }
            double sum = 0;
            for (int64_t j = j_begin; j < j_end; ++j) sum += (prob[static_cast<size_t>(j)] = std::exp(prob[static_cast<size_t>(j)] - mx));
            double delta = 0;
            for (int64_t j = j_begin; j < j_end; ++j) {
                const auto js = static_cast<size_t>(j);
                prob[js] /= sum;
                dprob[js] = dot(dO, V + j * DV, DV);
                delta += prob[js] * dprob[js];
            }
            for (int64_t j = j_begin; j < j_end; ++j) {
                const double pj = prob[static_cast<size_t>(j)];
                const double dp = dprob[static_cast<size_t>(j)];
                double ds = pj * (dp - delta);
                if (p.softcap > 0) {
                    const double th = tanh_s[static_cast<size_t>(j)];
                    ds *= 1.0 - th * th;
                }
                const auto g = static_cast<float>(ds * p.scale);
                axpy(g, K + j * D, dq, D);
                axpy(g, q, dK + j * D, D);
                axpy(static_cast<float>(pj), dO, dV + j * DV, DV);
            }
        }
    }
}

}  // namespace kvmix
