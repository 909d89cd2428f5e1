#include "ref/kv-quantize.h"

#include <cmath>
#include <cstring>

#include "common/assert.h"
#include "common/half.h"
#include "common/kv-quant-format.h"

namespace kvmix {

namespace {

// Neighbouring fp16 values (finite inputs; infinities and NaN are returned unchanged).
uint16_t fp16_next_down(uint16_t h) {
    if ((h & 0x7C00u) == 0x7C00u) return h;
    if (h == 0x0000u) return 0x8001u;                       // +0 -> -smallest subnormal
    if (h & 0x8000u) return static_cast<uint16_t>(h + 1u);  // negative: grow magnitude
    return static_cast<uint16_t>(h - 1u);
}
uint16_t fp16_next_up(uint16_t h) {  // for non-negative h
    if ((h & 0x7C00u) == 0x7C00u) return h;
    if (h == 0x8000u) return 0x0001u;
    return static_cast<uint16_t>(h + 1u);
}

void store_u16(uint8_t* p, uint16_t v) { std::memcpy(p, &v, 2); }
uint16_t load_u16(const uint8_t* p) {
    uint16_t v;
    std::memcpy(&v, p, 2);
    return v;
}

void check_format(int group, int bits) {
    KVMIX_ASSERT(kvq::valid_bits(bits));
    KVMIX_ASSERT(kvq::valid_group(group));
}

// One record: meta + G codes of x[i * stride].
void quantize_record(const float* x, size_t stride, int group, int bits, uint8_t* rec) {
    const KvQuantMeta meta = kv_quant_choose_meta(x, stride, group, bits);
    store_u16(rec, meta.scale);
    store_u16(rec + 2, meta.min);
    uint8_t* codes = rec + kvq::kMetaBytes;
    std::memset(codes, 0, kvq::codes_bytes(bits, group));
    for (int i = 0; i < group; ++i) {
        uint8_t* chunk = codes + static_cast<size_t>(i / kvq::kChunkCodes) * kvq::chunk_bytes(bits);
        kvq::put_code(chunk, bits, i % kvq::kChunkCodes, kv_quant_code(x[static_cast<size_t>(i) * stride], meta, bits));
    }
}

void dequantize_record(const uint8_t* rec, int group, int bits, float* x, size_t stride) {
    const KvQuantMeta meta{load_u16(rec), load_u16(rec + 2)};
    const uint8_t* codes = rec + kvq::kMetaBytes;
    for (int i = 0; i < group; ++i) {
        const uint8_t* chunk = codes + static_cast<size_t>(i / kvq::kChunkCodes) * kvq::chunk_bytes(bits);
        x[static_cast<size_t>(i) * stride] = kv_dequant_value(kvq::get_code(chunk, bits, i % kvq::kChunkCodes), meta);
    }
}

}  // namespace

KvQuantMeta kv_quant_choose_meta(const float* x, size_t stride, int group, int bits) {
    check_format(group, bits);
    float mn = x[0], mx = x[0];
    bool finite = true;
    for (int i = 0; i < group; ++i) {
        const float v = x[static_cast<size_t>(i) * stride];
        finite &= std::isfinite(v);
        mn = v < mn ? v : mn;
        mx = v > mx ? v : mx;
    }
    if (!finite) {
        // Poison the whole group: NaN scale makes every dequantized value NaN.
        return {0x7E00u, 0x7E00u};
    }
    uint16_t min_h = fp32_to_fp16(mn);
    if (mx == mn) return {0, min_h};  // constant group: s = 0, x̂ = fp16(min), no division
    // Round min down so the grid starts at or below every value.
    if (static_cast<double>(fp16_to_fp32(min_h)) > static_cast<double>(mn)) min_h = fp16_next_down(min_h);
    const double m = fp16_to_fp32(min_h);
    const double qmax = kvq::max_code(bits);
    uint16_t s_h = fp32_to_fp16(static_cast<float>((static_cast<double>(mx) - m) / qmax));
    // Round the scale up so the grid's top (m + qmax·s) reaches max.
    if (m + qmax * static_cast<double>(fp16_to_fp32(s_h)) < static_cast<double>(mx)) s_h = fp16_next_up(s_h);
    return {s_h, min_h};
}

uint32_t kv_quant_code(float x, KvQuantMeta meta, int bits) {
    const float s = fp16_to_fp32(meta.scale), m = fp16_to_fp32(meta.min);
    if (!(s > 0.0f) || !std::isfinite(s)) return 0;  // constant (or poisoned) group
    const double qmax = kvq::max_code(bits);
    double v = std::nearbyint((static_cast<double>(x) - m) / static_cast<double>(s));
    if (!(v >= 0.0)) v = 0.0;  // also catches NaN
    if (v > qmax) v = qmax;
    return static_cast<uint32_t>(v);
}

float kv_dequant_value(uint32_t code, KvQuantMeta meta) {
    return static_cast<float>(code) * fp16_to_fp32(meta.scale) + fp16_to_fp32(meta.min);
}

void quantize_key_group_ref(const float* keys, size_t key_stride, int64_t head_dim, int group, int bits,
                            uint8_t* out) {
    check_format(group, bits);
    KVMIX_ASSERT(head_dim > 0);
    const size_t rec = kvq::key_record_bytes(bits, group);
    for (int64_t c = 0; c < head_dim; ++c)
        quantize_record(keys + c, key_stride, group, bits, out + static_cast<size_t>(c) * rec);
}

void dequantize_key_group_ref(const uint8_t* in, int64_t head_dim, int group, int bits, float* keys,
                              size_t key_stride) {
    check_format(group, bits);
    const size_t rec = kvq::key_record_bytes(bits, group);
    for (int64_t c = 0; c < head_dim; ++c)
        dequantize_record(in + static_cast<size_t>(c) * rec, group, bits, keys + c, key_stride);
}

void quantize_value_row_ref(const float* values, int64_t head_dim_v, int group, int bits, uint8_t* out) {
    check_format(group, bits);
    KVMIX_ASSERT(kvq::value_row_supported(group, head_dim_v));
    const size_t rec = kvq::value_record_bytes(bits, group);
    for (int64_t g = 0; g < head_dim_v / group; ++g)
        quantize_record(values + g * group, 1, group, bits, out + static_cast<size_t>(g) * rec);
}

void dequantize_value_row_ref(const uint8_t* in, int64_t head_dim_v, int group, int bits, float* values) {
    check_format(group, bits);
    KVMIX_ASSERT(kvq::value_row_supported(group, head_dim_v));
    const size_t rec = kvq::value_record_bytes(bits, group);
    for (int64_t g = 0; g < head_dim_v / group; ++g)
        dequantize_record(in + static_cast<size_t>(g) * rec, group, bits, values + g * group, 1);
}

}  // namespace kvmix
