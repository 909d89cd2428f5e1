// TensorView: a named, typed, shaped view of weight bytes owned by someone else
// (a memory-mapped model file). Shapes follow GGUF: ne[0] is the innermost
// (contiguous) dimension, so a [n_out, n_in] matrix has ne = {n_in, n_out}.
#pragma once

#include <array>
#include <cstdint>
#include <string>

#include "common/tensor-types.h"

namespace kvmix {

struct TensorView {
    std::string name;
    TensorType type = TensorType::f32;
    uint32_t n_dims = 0;
    std::array<uint64_t, 4> ne{1, 1, 1, 1};  // elements per dimension, innermost first
    uint64_t offset = 0;    // absolute byte offset in the file
    uint64_t n_bytes = 0;   // size of the data in bytes
    const uint8_t* data = nullptr;

    uint64_t n_elements() const { return ne[0] * ne[1] * ne[2] * ne[3]; }
    uint64_t rows() const { return ne[1] * ne[2] * ne[3]; }
    std::string shape_string() const;  // e.g. "[640, 262144]"
};

}  // namespace kvmix
