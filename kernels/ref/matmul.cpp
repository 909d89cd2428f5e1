#include "ref/matmul.h"

#include <vector>

#include "common/assert.h"
#include "ref/dequantize.h"

namespace kvmix {

void matmul_ref(const MatmulParams& p) {
    KVMIX_ASSERT(can_dequantize(p.w_type));
    KVMIX_ASSERT(p.m >= 0 && p.k >= 0 && 0 <= p.n_begin && p.n_begin <= p.n_end && p.n_end <= p.n);
    KVMIX_ASSERT(p.k % tensor_type_traits(p.w_type).block_elems == 0);
    if (p.m == 0 || p.n_begin == p.n_end) return;
    std::vector<float> row(static_cast<size_t>(p.k));
    const auto* w = static_cast<const unsigned char*>(p.w);
    for (int64_t j = p.n_begin; j < p.n_end; ++j) {
        dequantize_row_ref(p.w_type, w + static_cast<size_t>(j) * p.w_row_bytes, row.data(), p.k);
        for (int64_t i = 0; i < p.m; ++i) {
            const float* x = p.x + static_cast<size_t>(i) * p.x_stride;
            double acc = 0.0;
            for (int64_t l = 0; l < p.k; ++l) acc += static_cast<double>(x[l]) * static_cast<double>(row[static_cast<size_t>(l)]);
            p.y[static_cast<size_t>(i) * p.y_stride + static_cast<size_t>(j)] = static_cast<float>(acc);
        }
    }
}

}  // namespace kvmix
