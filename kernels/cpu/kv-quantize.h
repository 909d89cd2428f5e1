// SIMD twins of the KVmix cache's per-step conversions: fp32 <-> fp16 rows (the fp16 window
// and the dense fp16 cache) and the quantizers of ref/kv-quantize.h (tokens aging out of the
// window). Decode runs them on one thread every step, between parallel jobs, so their scalar
// versions (a double division and a library rounding call per value) cost the second
// thread its share of the step.
//
// Results, bit for bit:
//  - fp32_to_fp16_row_cpu: fp32_to_fp16 of every element (F16C, round to nearest even).
//  - fp16_to_fp32_row_cpu: fp16_to_fp32 of every element, except that a signaling NaN comes
//    back quiet (its payload's top bit set), as the conversion instruction does.
//  - quantize_key_group_cpu / quantize_value_row_cpu: the bytes of quantize_key_group_ref /
//    quantize_value_row_ref, same contract (kv_quant_choose_meta per record; each code as
//    kv_quant_code's double-precision division and rounding, four values per instruction).
// test-kv-quantize-cpu compares all four with their scalar twins. Without AVX2/F16C (or off
// x86) each is its scalar twin. Pure, no allocation, thread-safe.
#pragma once

#include <cstddef>
#include <cstdint>

namespace kvmix {

void fp32_to_fp16_row_cpu(const float* x, uint16_t* y, int64_t n);
void fp16_to_fp32_row_cpu(const uint16_t* x, float* y, int64_t n);

void quantize_key_group_cpu(const float* keys, size_t key_stride, int64_t head_dim, int group, int bits, uint8_t* out);
void quantize_value_row_cpu(const float* values, int64_t head_dim_v, int group, int bits, uint8_t* out);

}  // namespace kvmix
