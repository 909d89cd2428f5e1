// Weight tensor element types, numbered as in GGUF (ggml_type), and their block geometry.
// Shared by host and device code: constexpr only, no allocation.
#pragma once

#include <cstddef>
#include <cstdint>

namespace kvmix {

enum class TensorType : uint32_t {
    f32 = 0,
    f16 = 1,
    q4_0 = 2,
    q4_1 = 3,
    q5_0 = 6,
    q5_1 = 7,
    q8_0 = 8,
    q8_1 = 9,
    q2_k = 10,
    q3_k = 11,
    q4_k = 12,
    q5_k = 13,
    q6_k = 14,
    q8_k = 15,
    iq2_xxs = 16,
    iq2_xs = 17,
    iq3_xxs = 18,
    iq1_s = 19,
    iq4_nl = 20,
    iq3_s = 21,
    iq2_s = 22,
    iq4_xs = 23,
    i8 = 24,
    i16 = 25,
    i32 = 26,
    i64 = 27,
    f64 = 28,
    iq1_m = 29,
    bf16 = 30,
    tq1_0 = 34,
    tq2_0 = 35,
    mxfp4 = 39,
};

struct TensorTypeTraits {
    TensorType type;
    const char* name;
    uint32_t block_elems;  // elements per block (1 for plain types)
    uint32_t block_bytes;  // bytes per block
    bool supported;        // we can dequantize / multiply it
};

// Every type GGUF defines that we know the geometry of; `supported` marks those we compute with.
inline constexpr TensorTypeTraits kTensorTypeTraits[] = {
    {TensorType::f32, "F32", 1, 4, true},
    {TensorType::f16, "F16", 1, 2, true},
    {TensorType::q4_0, "Q4_0", 32, 18, true},
    {TensorType::q4_1, "Q4_1", 32, 20, true},
    {TensorType::q5_0, "Q5_0", 32, 22, true},
    {TensorType::q5_1, "Q5_1", 32, 24, true},
    {TensorType::q8_0, "Q8_0", 32, 34, true},
    {TensorType::q8_1, "Q8_1", 32, 36, false},
    {TensorType::q2_k, "Q2_K", 256, 84, false},
    {TensorType::q3_k, "Q3_K", 256, 110, false},
    {TensorType::q4_k, "Q4_K", 256, 144, true},
    {TensorType::q5_k, "Q5_K", 256, 176, true},
    {TensorType::q6_k, "Q6_K", 256, 210, true},
    {TensorType::q8_k, "Q8_K", 256, 292, false},
    {TensorType::iq2_xxs, "IQ2_XXS", 256, 66, false},
    {TensorType::iq2_xs, "IQ2_XS", 256, 74, false},
    {TensorType::iq3_xxs, "IQ3_XXS", 256, 98, false},
    {TensorType::iq1_s, "IQ1_S", 256, 50, false},
    {TensorType::iq4_nl, "IQ4_NL", 32, 18, false},
    {TensorType::iq3_s, "IQ3_S", 256, 110, false},
    {TensorType::iq2_s, "IQ2_S", 256, 82, false},
    {TensorType::iq4_xs, "IQ4_XS", 256, 136, false},
    {TensorType::i8, "I8", 1, 1, false},
    {TensorType::i16, "I16", 1, 2, false},
    {TensorType::i32, "I32", 1, 4, false},
    {TensorType::i64, "I64", 1, 8, false},
    {TensorType::f64, "F64", 1, 8, false},
    {TensorType::iq1_m, "IQ1_M", 256, 56, false},
    {TensorType::bf16, "BF16", 1, 2, true},
    {TensorType::tq1_0, "TQ1_0", 256, 54, false},
    {TensorType::tq2_0, "TQ2_0", 256, 66, false},
    {TensorType::mxfp4, "MXFP4", 32, 17, false},
};

// Traits for a raw GGUF type id; nullptr when the id is not a type we know.
constexpr const TensorTypeTraits* tensor_type_traits(uint32_t raw) {
    for (const auto& t : kTensorTypeTraits)
        if (static_cast<uint32_t>(t.type) == raw) return &t;
    return nullptr;
}

constexpr const TensorTypeTraits& tensor_type_traits(TensorType type) {
    return *tensor_type_traits(static_cast<uint32_t>(type));
}

constexpr const char* tensor_type_name(TensorType type) { return tensor_type_traits(type).name; }

}  // namespace kvmix
