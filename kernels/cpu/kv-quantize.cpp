#include "cpu/kv-quantize.h"

#include <cstddef>
#include <cstdint>
#include <cstring>

#include "common/assert.h"
#include "common/half.h"
#include "common/kv-quant-format.h"
#include "cpu/cpu-features.h"
#include "ref/kv-quantize.h"

#if KVMIX_CPU_X86
#include <immintrin.h>
#endif

namespace kvmix {

namespace {

// A record's metadata and codes (element order) in the format's layout.
void put_record(uint8_t* rec, KvQuantMeta meta, int group, int bits, const int32_t* codes, size_t code_stride) {
    std::memcpy(rec, &meta.scale, 2);
    std::memcpy(rec + 2, &meta.min, 2);
    uint8_t* packed = rec + kvq::kMetaBytes;
    std::memset(packed, 0, kvq::codes_bytes(bits, group));
    for (int i = 0; i < group; ++i)
        kvq::put_code(packed + static_cast<size_t>(i / kvq::kChunkCodes) * kvq::chunk_bytes(bits), bits, i % kvq::kChunkCodes,
                      static_cast<uint32_t>(codes[static_cast<size_t>(i) * code_stride]));
}

// kv_quant_code's test for a usable scale: positive and finite (else every code is 0).
bool usable_scale(float s) { return s > 0.0f && (float_to_bits(s) & 0x7F800000u) != 0x7F800000u; }

}  // namespace

#if KVMIX_CPU_X86
KVMIX_AVX2_BEGIN
namespace {

void f32_to_f16_avx2(const float* x, uint16_t* y, int64_t n) {
    int64_t i = 0;
    for (; i + 8 <= n; i += 8)
        _mm_storeu_si128(reinterpret_cast<__m128i*>(y + i), _mm256_cvtps_ph(_mm256_loadu_ps(x + i), _MM_FROUND_TO_NEAREST_INT));
    for (; i < n; ++i) y[i] = fp32_to_fp16(x[i]);
}

void f16_to_f32_avx2(const uint16_t* x, float* y, int64_t n) {
    int64_t i = 0;
    for (; i + 8 <= n; i += 8) _mm256_storeu_ps(y + i, _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(x + i))));
    for (; i < n; ++i) y[i] = fp16_to_fp32(x[i]);
}

// kv_quant_code of four values with per-lane min m and scale s (as doubles of their fp32
// values): round((x - m) / s) to nearest even in double, NaN and negatives to 0 (max returns
// its second operand for a NaN), at most qmax; lanes whose scale is unusable (keep 0) give 0.
inline __m128i codes4(__m128 x, __m256d m, __m256d s, __m256d qmax, __m128i keep) {
    const __m256d q = _mm256_div_pd(_mm256_sub_pd(_mm256_cvtps_pd(x), m), s);
    const __m256d r = _mm256_round_pd(q, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
    const __m256d c = _mm256_min_pd(_mm256_max_pd(r, _mm256_setzero_pd()), qmax);
    return _mm_and_si128(_mm256_cvttpd_epi32(c), keep);
}

void key_group_avx2(const float* keys, size_t stride, int64_t head_dim, int group, int bits, uint8_t* out) {
    const size_t rec = kvq::key_record_bytes(bits, group);
    const __m256d qmax = _mm256_set1_pd(static_cast<double>(kvq::max_code(bits)));
    alignas(16) int32_t codes[128][4];  // [token][channel of the quad]; group <= 128
    int64_t c = 0;
    for (; c + 4 <= head_dim; c += 4) {
        KvQuantMeta meta[4];
        alignas(16) float sv[4], mv[4];
        alignas(16) int32_t keep[4];
        for (int j = 0; j < 4; ++j) {
            meta[j] = kv_quant_choose_meta(keys + c + j, stride, group, bits);
            sv[j] = fp16_to_fp32(meta[j].scale);
            mv[j] = fp16_to_fp32(meta[j].min);
            keep[j] = usable_scale(sv[j]) ? -1 : 0;
        }
        const __m256d s = _mm256_cvtps_pd(_mm_load_ps(sv)), m = _mm256_cvtps_pd(_mm_load_ps(mv));
        const __m128i kp = _mm_load_si128(reinterpret_cast<const __m128i*>(keep));
        for (int t = 0; t < group; ++t)
            _mm_store_si128(reinterpret_cast<__m128i*>(codes[t]), codes4(_mm_loadu_ps(keys + static_cast<size_t>(t) * stride + c), m, s, qmax, kp));
        for (int j = 0; j < 4; ++j) put_record(out + static_cast<size_t>(c + j) * rec, meta[j], group, bits, &codes[0][j], 4);
    }
    if (c < head_dim) quantize_key_group_ref(keys + c, stride, head_dim - c, group, bits, out + static_cast<size_t>(c) * rec);
}

void value_row_avx2(const float* values, int64_t head_dim_v, int group, int bits, uint8_t* out) {
    const size_t rec = kvq::value_record_bytes(bits, group);
    const __m256d qmax = _mm256_set1_pd(static_cast<double>(kvq::max_code(bits)));
    alignas(16) int32_t codes[128];
    for (int64_t g = 0; g < head_dim_v / group; ++g) {
        const float* x = values + g * group;
        const KvQuantMeta meta = kv_quant_choose_meta(x, 1, group, bits);
        const float sf = fp16_to_fp32(meta.scale);
        const __m256d s = _mm256_set1_pd(static_cast<double>(sf)), m = _mm256_set1_pd(static_cast<double>(fp16_to_fp32(meta.min)));
        const __m128i kp = _mm_set1_epi32(usable_scale(sf) ? -1 : 0);
        for (int i = 0; i < group; i += 4) _mm_store_si128(reinterpret_cast<__m128i*>(codes + i), codes4(_mm_loadu_ps(x + i), m, s, qmax, kp));
        put_record(out + static_cast<size_t>(g) * rec, meta, group, bits, codes, 1);
    }
}

}  // namespace
KVMIX_AVX2_END
#endif

void fp32_to_fp16_row_cpu(const float* x, uint16_t* y, int64_t n) {
#if KVMIX_CPU_X86
    if (cpu_has_avx2_fma_f16c()) return f32_to_f16_avx2(x, y, n);
#endif
    for (int64_t i = 0; i < n; ++i) y[i] = fp32_to_fp16(x[i]);
}

void fp16_to_fp32_row_cpu(const uint16_t* x, float* y, int64_t n) {
#if KVMIX_CPU_X86
    if (cpu_has_avx2_fma_f16c()) return f16_to_f32_avx2(x, y, n);
#endif
    for (int64_t i = 0; i < n; ++i) y[i] = fp16_to_fp32(x[i]);
}

void quantize_key_group_cpu(const float* keys, size_t key_stride, int64_t head_dim, int group, int bits, uint8_t* out) {
    KVMIX_ASSERT(kvq::valid_bits(bits) && kvq::valid_group(group) && head_dim > 0);
#if KVMIX_CPU_X86
    if (cpu_has_avx2_fma_f16c()) return key_group_avx2(keys, key_stride, head_dim, group, bits, out);
#endif
    quantize_key_group_ref(keys, key_stride, head_dim, group, bits, out);
}

void quantize_value_row_cpu(const float* values, int64_t head_dim_v, int group, int bits, uint8_t* out) {
    KVMIX_ASSERT(kvq::valid_bits(bits) && kvq::valid_group(group) && kvq::value_row_supported(group, head_dim_v));
#if KVMIX_CPU_X86
    if (cpu_has_avx2_fma_f16c()) return value_row_avx2(values, head_dim_v, group, bits, out);
#endif
    quantize_value_row_ref(values, head_dim_v, group, bits, out);
}

}  // namespace kvmix
