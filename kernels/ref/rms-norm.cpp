#include "ref/rms-norm.h"

#include <cmath>

#include "common/assert.h"

namespace kvmix {

void rms_norm_ref(const RmsNormParams& p) {
    KVMIX_ASSERT(p.n > 0 && 0 <= p.row_begin && p.row_begin <= p.row_end);
    for (int64_t r = p.row_begin; r < p.row_end; ++r) {
        const float* x = p.x + static_cast<size_t>(r) * p.x_stride;
        float* y = p.y + static_cast<size_t>(r) * p.y_stride;
        double ss = 0.0;
        for (int64_t i = 0; i < p.n; ++i) ss += static_cast<double>(x[i]) * static_cast<double>(x[i]);
        const double scale = 1.0 / std::sqrt(ss / static_cast<double>(p.n) + static_cast<double>(p.eps));
        // Read x[i] before writing y[i]: in-place is allowed.
        for (int64_t i = 0; i < p.n; ++i) {
            const double w = p.w ? static_cast<double>(p.w[i]) + static_cast<double>(p.w_offset) : 1.0;
            y[i] = static_cast<float>(static_cast<double>(x[i]) * scale * w);
        }
    }
}

}  // namespace kvmix
