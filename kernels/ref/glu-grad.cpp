#include "ref/glu-grad.h"

#include <cmath>
#include <numbers>

namespace kvmix {

void glu_grad_ref(const GluGradParams& p) {
    const double k = std::sqrt(2.0 / std::numbers::pi);
    for (int64_t row = p.row_begin; row < p.row_end; ++row) {
        const size_t o = static_cast<size_t>(row) * p.stride;
        for (int64_t i = 0; i < p.n; ++i) {
            const size_t j = o + static_cast<size_t>(i);
            const double x = p.gate[j], u = p.up[j], d = p.dout[j];
            double act = 0, dact = 0;
            if (p.act == GluActivation::silu) {
                const double s = 1.0 / (1.0 + std::exp(-x));
                act = x * s;
                dact = s * (1.0 + x * (1.0 - s));
            } else {
                const double th = std::tanh(k * (x + 0.044715 * x * x * x));
                act = 0.5 * x * (1.0 + th);
                dact = 0.5 * (1.0 + th) + 0.5 * x * (1.0 - th * th) * k * (1.0 + 3.0 * 0.044715 * x * x);
            }
            p.dgate[j] = static_cast<float>(d * u * dact);
            p.dup[j] = static_cast<float>(d * act);
        }
    }
}

}  // namespace kvmix
