#include "ref/matmul-grad.h"

#include <algorithm>
#include <cstddef>
#include <vector>

#include "common/assert.h"
#include "ref/dequantize.h"

namespace kvmix {

namespace {

void store(const MatmulGradParams& p, int64_t r, const std::vector<double>& acc) {
    float* out = p.out + r * p.k;
    for (int64_t i = 0; i < p.k; ++i) {
        const auto v = static_cast<float>(acc[static_cast<size_t>(i)]);
        out[i] = p.accumulate ? out[i] + v : v;
    }
}

}  // namespace

void matmul_grad_x_ref(const MatmulGradParams& p) {
    KVMIX_ASSERT(can_dequantize(p.w_type) && p.k % tensor_type_traits(p.w_type).block_elems == 0);
    const TensorTypeTraits& traits = tensor_type_traits(p.w_type);
    const size_t row_bytes = static_cast<size_t>(p.k / traits.block_elems) * traits.block_bytes;
    // W dequantized whole: this is the reference, not the fast path.
    std::vector<float> w(static_cast<size_t>(p.n * p.k));
    for (int64_t j = 0; j < p.n; ++j)
        dequantize_row_ref(p.w_type, static_cast<const uint8_t*>(p.w) + static_cast<size_t>(j) * row_bytes, w.data() + j * p.k, p.k);
    std::vector<double> acc(static_cast<size_t>(p.k));
    for (int64_t r = p.row_begin; r < p.row_end; ++r) {
        std::fill(acc.begin(), acc.end(), 0.0);
        for (int64_t j = 0; j < p.n; ++j) {
            const double g = p.dy[r * p.n + j];
            const float* wr = w.data() + j * p.k;
            for (int64_t i = 0; i < p.k; ++i) acc[static_cast<size_t>(i)] += g * wr[i];
        }
        store(p, r, acc);
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
        store(p, r, acc);
    }
}

}  // namespace kvmix
