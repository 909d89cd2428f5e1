#include "cpu/kv-rotation.h"

#include <cmath>

#include "common/assert.h"
#include "common/kv-rotation.h"

namespace kvmix {

void kv_rotate_rows_cpu(float* x, int64_t n, int64_t dim, size_t stride, bool inverse) {
    KVMIX_ASSERT(kvrot::supported_dim(dim) && stride >= static_cast<size_t>(dim));
    const float norm = static_cast<float>(1.0 / std::sqrt(static_cast<double>(dim)));
    // The signs of one row, computed once per call (they do not depend on the row).
    float signs[kvrot::kMaxDim];
    for (int64_t j = 0; j < dim; ++j) signs[j] = kvrot::sign(j);
    for (int64_t r = 0; r < n; ++r) {
        float* row = x + static_cast<size_t>(r) * stride;
        if (!inverse)
            for (int64_t j = 0; j < dim; ++j) row[j] *= signs[j];
        for (int64_t len = 1; len < dim; len <<= 1)
            for (int64_t base = 0; base < dim; base += 2 * len)
                for (int64_t j = base; j < base + len; ++j) {
                    const float a = row[j], b = row[j + len];
                    row[j] = a + b;
                    row[j + len] = a - b;
                }
        if (inverse)
            for (int64_t j = 0; j < dim; ++j) row[j] *= norm * signs[j];
        else
            for (int64_t j = 0; j < dim; ++j) row[j] *= norm;
    }
}

}  // namespace kvmix
