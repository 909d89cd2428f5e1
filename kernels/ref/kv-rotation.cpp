#include "ref/kv-rotation.h"

#include <cmath>
#include <vector>

#include "common/assert.h"
#include "common/kv-rotation.h"

namespace kvmix {

namespace {

float hadamard_entry(int64_t i, int64_t j) { return (__builtin_popcountll(static_cast<uint64_t>(i & j)) & 1) != 0 ? -1.0f : 1.0f; }

}  // namespace

void kv_rotate_rows_ref(float* x, int64_t n, int64_t dim, size_t stride, bool inverse) {
    KVMIX_ASSERT(kvrot::supported_dim(dim) && stride >= static_cast<size_t>(dim));
    const double norm = 1.0 / std::sqrt(static_cast<double>(dim));
    std::vector<float> in(static_cast<size_t>(dim));
    for (int64_t r = 0; r < n; ++r) {
        float* row = x + static_cast<size_t>(r) * stride;
        for (int64_t j = 0; j < dim; ++j) in[static_cast<size_t>(j)] = inverse ? row[j] : kvrot::sign(j) * row[j];
        for (int64_t i = 0; i < dim; ++i) {
            double acc = 0;
            for (int64_t j = 0; j < dim; ++j) acc += static_cast<double>(hadamard_entry(i, j)) * in[static_cast<size_t>(j)];
            const auto y = static_cast<float>(acc * norm);
            row[i] = inverse ? kvrot::sign(i) * y : y;
        }
    }
}

}  // namespace kvmix
