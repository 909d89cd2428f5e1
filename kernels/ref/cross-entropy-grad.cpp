#include "ref/cross-entropy-grad.h"

#include <algorithm>
#include <cmath>

namespace kvmix {

namespace {

double capped(float a, float softcap) {
    return softcap > 0 ? softcap * std::tanh(static_cast<double>(a) / softcap) : static_cast<double>(a);
}

}  // namespace

void cross_entropy_lse_partial(const float* logits, int64_t n, float softcap, double& max, double& sum) {
    double m = max;
    for (int64_t i = 0; i < n; ++i) m = std::max(m, capped(logits[i], softcap));
    if (m == -INFINITY) return;
    double s = sum * std::exp(max - m);
    for (int64_t i = 0; i < n; ++i) s += std::exp(capped(logits[i], softcap) - m);
    max = m;
    sum = s;
}

void cross_entropy_grad_ref(const CrossEntropyGradParams& p) {
    for (int64_t r = p.row_begin; r < p.row_end; ++r) {
        const float* a = p.logits + static_cast<size_t>(r) * p.stride;
        float* da = p.dlogits + static_cast<size_t>(r) * p.stride;
        double lse = 0;
        if (p.lse) {
            lse = p.lse[r];
        } else {
            double mx = -INFINITY, sum = 0;
            cross_entropy_lse_partial(a, p.n, p.softcap, mx, sum);
            lse = mx + std::log(sum);
        }
        const int64_t label = static_cast<int64_t>(p.labels[r]) - p.v_begin;
        if (p.loss && label >= 0 && label < p.n) *p.loss += p.weight * (lse - capped(a[label], p.softcap));
        for (int64_t i = 0; i < p.n; ++i) {
            const double z = capped(a[i], p.softcap);
            double g = std::exp(z - lse) - (i == label ? 1.0 : 0.0);
            if (p.softcap > 0) {
                const double th = std::tanh(static_cast<double>(a[i]) / p.softcap);
                g *= 1.0 - th * th;
            }
            da[i] = static_cast<float>(p.weight * g);
        }
    }
}

}  // namespace kvmix
