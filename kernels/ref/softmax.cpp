#include "ref/softmax.h"

#include <cmath>
#include <vector>

#include "common/assert.h"

namespace kvmix {

void softmax_ref(const SoftmaxParams& p) {
    KVMIX_ASSERT(p.n > 0 && 0 <= p.row_begin && p.row_begin <= p.row_end);
    std::vector<double> e(static_cast<size_t>(p.n));
    for (int64_t r = p.row_begin; r < p.row_end; ++r) {
        float* x = p.x + static_cast<size_t>(r) * p.stride;
        double mx = -INFINITY;
        bool nan = false;
        for (int64_t i = 0; i < p.n; ++i) {
            nan |= std::isnan(x[i]);
            if (x[i] > mx) mx = x[i];
        }
        double sum = 0.0;
        for (int64_t i = 0; i < p.n; ++i) {
            e[static_cast<size_t>(i)] = std::exp(static_cast<double>(x[i]) - mx);
            sum += e[static_cast<size_t>(i)];
        }
        for (int64_t i = 0; i < p.n; ++i)
            x[i] = nan ? NAN : static_cast<float>(e[static_cast<size_t>(i)] / sum);
    }
}

}  // namespace kvmix
