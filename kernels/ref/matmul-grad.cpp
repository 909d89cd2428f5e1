#include "ref/matmul-grad.h"

#include <algorithm>
#include <cstddef>
#include <vector>

namespace kvmix {

void matmul_grad_x_ref(const MatmulGradParams& p) {
    std::vector<double> acc(static_cast<size_t>(p.k));
    for (int64_t r = p.row_begin; r < p.row_end; ++r) {
        std::fill(acc.begin(), acc.end(), 0.0);
        for (int64_t j = 0; j < p.n; ++j) {
            const double g = p.dy[r * p.n + j];
            const float* w = p.w + j * p.k;
            for (int64_t i = 0; i < p.k; ++i) acc[static_cast<size_t>(i)] += g * w[i];
        }
        for (int64_t i = 0; i < p.k; ++i) p.out[r * p.k + i] = static_cast<float>(acc[static_cast<size_t>(i)]);
    }
}

void matmul_grad_w_ref(const MatmulGradParams& p) {
    std::vector<double> acc(static_cast<size_t>(p.k));
    for (int64_t r = p.row_begin; r < p.row_end; ++r) {
        std::fill(acc.begin(), acc.end(), 0.0);
        for (int64_t t = 0; t < p.m; ++t) {
            const double g = p.dy[t * p.n + r];
            if (g == 0) continue;
            const float* x = p.x + t * p.k;
            for (int64_t i = 0; i < p.k; ++i) acc[static_cast<size_t>(i)] += g * x[i];
        }
        for (int64_t i = 0; i < p.k; ++i) p.out[r * p.k + i] = static_cast<float>(acc[static_cast<size_t>(i)]);
    }
}

}  // namespace kvmix
