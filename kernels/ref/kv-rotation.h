// Scalar reference of the KV rotation (common/kv-rotation.h): the rotation as an explicit
// d × d matrix product, O(d²) per row — the twin of the fast transform in cpu/kv-rotation.h.
// Pure function, thread-safe.
#pragma once

#include <cstddef>
#include <cstdint>

namespace kvmix {

// Rows i = 0..n-1 at x + i·stride, dim floats each, are replaced in place by R·x
// (inverse = false) or Rᵀ·x (inverse = true). dim must satisfy kvrot::supported_dim
// (asserted); stride >= dim, the floats between rows are not touched.
void kv_rotate_rows_ref(float* x, int64_t n, int64_t dim, size_t stride, bool inverse);

}  // namespace kvmix
