#include "ref/rope-grad.h"

#include <cmath>

#include "common/assert.h"

namespace kvmix {

void rope_grad_ref(const RopeParams& p) {
    KVMIX_ASSERT(p.n_rot >= 0 && p.n_rot % 2 == 0 && p.n_rot <= p.head_dim);
    KVMIX_ASSERT(0 <= p.token_begin && p.token_begin <= p.token_end);
    const int64_t half = p.n_rot / 2;
    for (int64_t t = p.token_begin; t < p.token_end; ++t) {
        const double pos = static_cast<double>(p.positions[t]);
        for (int64_t i = 0; i < half; ++i) {
            double theta = pos * static_cast<double>(p.freq_scale) *
                           std::pow(static_cast<double>(p.base), -2.0 * static_cast<double>(i) / static_cast<double>(p.n_rot));
            if (p.freq_factors) theta /= static_cast<double>(p.freq_factors[i]);
            const double c = std::cos(theta), s = std::sin(theta);
            const int64_t i0 = p.interleaved ? 2 * i : i;
            const int64_t i1 = p.interleaved ? 2 * i + 1 : i + half;
            for (int64_t h = 0; h < p.n_head; ++h) {
                float* g = p.x + static_cast<size_t>(t) * p.token_stride + static_cast<size_t>(h) * p.head_stride;
                const double a = g[i0], b = g[i1];
                // Transpose of [[c, -s], [s, c]].
                g[i0] = static_cast<float>(a * c + b * s);
                g[i1] = static_cast<float>(-a * s + b * c);
            }
        }
    }
}

}  // namespace kvmix
