// Scalar quantizers / dequantizers of the KVmix cache format (common/kv-quant-format.h).
// These ARE the format's definition of which codes and metadata a value gets; the runtime's
// cache uses them to quantize a group in place, the tests to check the attention kernels.
// Pure functions, no allocation, thread-safe. bits ∈ {2,3,4,8}, group ∈ {32,64,128}.
#pragma once

#include <cstddef>
#include <cstdint>

namespace kvmix {

// Per-record (scale, min) choice and code of one value (exposed for tests and CUDA parity).
struct KvQuantMeta {
    uint16_t scale;  // fp16 bits
    uint16_t min;    // fp16 bits
};
// Metadata of G values x[i * stride] (see the header comment of kv-quant-format.h).
KvQuantMeta kv_quant_choose_meta(const float* x, size_t stride, int group, int bits);
// Code of x under meta (clamped to [0, 2^bits - 1]; NaN gives 0).
uint32_t kv_quant_code(float x, KvQuantMeta meta, int bits);
// x̂ = code * s + min in fp32 (the value every kernel dequantizes to).
float kv_dequant_value(uint32_t code, KvQuantMeta meta);

// keys [group tokens][key_stride] fp32, the head_dim channels of one kv head per token (post-
// RoPE) -> one key group of kvq::key_group_bytes(bits, group, head_dim) bytes at `out`.
void quantize_key_group_ref(const float* keys, size_t key_stride, int64_t head_dim, int group, int bits,
                            uint8_t* out);
// One key group -> keys [group tokens][key_stride] fp32 (head_dim channels written per token).
void dequantize_key_group_ref(const uint8_t* in, int64_t head_dim, int group, int bits, float* keys,
                              size_t key_stride);

// values [head_dim_v] fp32 of one token of one kv head -> one value row of
// kvq::value_row_bytes(bits, group, head_dim_v) bytes. head_dim_v % group == 0 (asserted;
// the cache keeps such layers in fp16).
void quantize_value_row_ref(const float* values, int64_t head_dim_v, int group, int bits, uint8_t* out);
void dequantize_value_row_ref(const uint8_t* in, int64_t head_dim_v, int group, int bits, float* values);

}  // namespace kvmix
