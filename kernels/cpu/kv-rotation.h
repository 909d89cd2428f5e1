// Fast KV rotation (common/kv-rotation.h): an in-place Walsh–Hadamard butterfly, d·log2(d)
// additions per row, with the signs and the 1/√d scale folded into one pass. Twin:
// kv_rotate_rows_ref (ref/kv-rotation.h); same contract. The loops are plain fp32 that the
// compiler vectorizes for the baseline ISA: at d log d per row and head this is a small
// fraction of a forward pass, so no run-time ISA dispatch. Thread-safe for distinct rows.
#pragma once

#include <cstddef>
#include <cstdint>

namespace kvmix {

void kv_rotate_rows_cpu(float* x, int64_t n, int64_t dim, size_t stride, bool inverse);

}  // namespace kvmix
