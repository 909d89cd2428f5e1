#include "ref/rms-norm-grad.h"

#include <cmath>

namespace kvmix {

void rms_norm_grad_ref(const RmsNormGradParams& p) {
    const auto n = static_cast<size_t>(p.n);
    for (int64_t row = p.row_begin; row < p.row_end; ++row) {
        const size_t o = static_cast<size_t>(row) * p.stride;
        const float* x = p.x + o;
        const float* dy = p.dy + o;
        float* dx = p.dx + o;
        double ss = 0, dot = 0;
        for (size_t i = 0; i < n; ++i) {
            const double w = (p.w ? static_cast<double>(p.w[i]) : 0.0) + (p.w ? static_cast<double>(p.w_offset) : 1.0);
            ss += static_cast<double>(x[i]) * x[i];
            dot += static_cast<double>(dy[i]) * w * x[i];
        }
        const double r = 1.0 / std::sqrt(ss / static_cast<double>(n) + static_cast<double>(p.eps));
        const double c = dot * r * r * r / static_cast<double>(n);
        for (size_t i = 0; i < n; ++i) {
            const double w = (p.w ? static_cast<double>(p.w[i]) : 0.0) + (p.w ? static_cast<double>(p.w_offset) : 1.0);
            dx[i] = static_cast<float>(r * w * dy[i] - c * x[i]);
        }
    }
}

}  // namespace kvmix
