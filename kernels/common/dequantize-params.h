// Parameters of the row dequantization kernel (kernels/cuda/dequantize.cu; twin:
// dequantize_row_ref): dst[r, :] = scale * dequantize(row rows[r] of w) for r < n_rows
// (rows == nullptr: row r), k elements per row. Host + device compatible; pointers borrowed.
#pragma once

#include <cstddef>
#include <cstdint>

#include "common/tensor-types.h"

namespace kvmix {

struct DequantizeRowsParams {
    TensorType type = TensorType::f32;
    const void* w = nullptr;
    size_t w_row_bytes = 0;
    const int32_t* rows = nullptr;  // [n_rows] row indices, or null for rows 0..n_rows-1
    int64_t n_rows = 0;
    int64_t k = 0;                  // elements per row, a multiple of 8 and of the block size
    float* dst = nullptr;
    size_t dst_stride = 0;          // elements between output rows
    float scale = 1.0f;             // 1: the exact dequantized values
};

}  // namespace kvmix
