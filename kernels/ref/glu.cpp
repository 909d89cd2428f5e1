#include "ref/glu.h"

#include <cmath>
#include <numbers>

#include "common/assert.h"

namespace kvmix {

void glu_ref(const GluParams& p) {
    KVMIX_ASSERT(p.n >= 0 && 0 <= p.row_begin && p.row_begin <= p.row_end);
    const double k = std::sqrt(2.0 / std::numbers::pi);
    for (int64_t r = p.row_begin; r < p.row_end; ++r) {
        const size_t off = static_cast<size_t>(r) * p.stride;
        for (int64_t i = 0; i < p.n; ++i) {
            const double g = p.gate[off + static_cast<size_t>(i)];
            const double u = p.up[off + static_cast<size_t>(i)];
            const double a = p.act == GluActivation::silu
                                 ? g / (1.0 + std::exp(-g))
                                 : 0.5 * g * (1.0 + std::tanh(k * (g + 0.044715 * g * g * g)));
            p.out[off + static_cast<size_t>(i)] = static_cast<float>(a * u);
        }
    }
}

}  // namespace kvmix
