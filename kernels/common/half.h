// IEEE binary16 (fp16) and bfloat16 <-> fp32 conversions by bit manipulation.
// Shared by host code and CUDA kernels: no intrinsics on the host, no allocation, no state,
// so every function is thread-safe. Values travel as raw uint16_t bit patterns, which is
// how GGUF stores them and what the block structs in quant-blocks.h hold.
//
// Semantics (both directions exact where the value is representable):
//  - fp16 -> fp32 and bf16 -> fp32 are exact, subnormals included; NaN payloads keep their
//    top bits (fp16) or all bits (bf16), sign kept.
//  - fp32 -> fp16 and fp32 -> bf16 round to nearest, ties to even. Overflow gives +-inf,
//    underflow gives +-0 or a subnormal. NaN stays NaN (made quiet), sign kept.
#pragma once

#include <bit>
#include <cstdint>

#if defined(__CUDACC__)
#define KVMIX_HOST_DEVICE __host__ __device__
#else
#define KVMIX_HOST_DEVICE
#endif

// constexpr on the host (lets tests static_assert); device code uses intrinsics for the
// float <-> bits reinterpretation, which are not constexpr.
#if defined(__CUDACC__)
#define KVMIX_HALF_CONSTEXPR
#else
#define KVMIX_HALF_CONSTEXPR constexpr
#endif

namespace kvmix {

KVMIX_HOST_DEVICE KVMIX_HALF_CONSTEXPR inline uint32_t float_to_bits(float f) {
#if defined(__CUDA_ARCH__)
    return __float_as_uint(f);
#else
    return std::bit_cast<uint32_t>(f);
#endif
}

KVMIX_HOST_DEVICE KVMIX_HALF_CONSTEXPR inline float bits_to_float(uint32_t u) {
#if defined(__CUDA_ARCH__)
    return __uint_as_float(u);
#else
    return std::bit_cast<float>(u);
#endif
}

KVMIX_HOST_DEVICE KVMIX_HALF_CONSTEXPR inline float fp16_to_fp32(uint16_t h) {
    const uint32_t sign = static_cast<uint32_t>(h & 0x8000u) << 16;
    const uint32_t exp = (h >> 10) & 0x1Fu;
    uint32_t mant = h & 0x3FFu;
    if (exp == 0x1F)  // inf / NaN: widen the payload, the quiet bit lands on fp32's quiet bit
        return bits_to_float(sign | 0x7F800000u | (mant << 13));
    if (exp != 0)  // normal: rebias 15 -> 127
        return bits_to_float(sign | ((exp + (127 - 15)) << 23) | (mant << 13));
    if (mant == 0) return bits_to_float(sign);
    // Subnormal fp16 (mant * 2^-24) is a normal fp32: shift the leading one up to bit 10.
    uint32_t e = 127 - 14;
    while ((mant & 0x400u) == 0) {
        mant <<= 1;
        --e;
    }
    return bits_to_float(sign | (e << 23) | ((mant & 0x3FFu) << 13));
}

KVMIX_HOST_DEVICE KVMIX_HALF_CONSTEXPR inline uint16_t fp32_to_fp16(float f) {
    const uint32_t u = float_to_bits(f);
    const uint32_t sign = (u >> 16) & 0x8000u;
    const uint32_t a = u & 0x7FFFFFFFu;
    if (a > 0x7F800000u)  // NaN: keep the top payload bits and force the quiet bit
        return static_cast<uint16_t>(sign | 0x7E00u | ((a >> 13) & 0x3FFu));
    // 65520 is halfway between 65504 (max fp16, odd mantissa) and 2^16: ties go up to inf.
    if (a >= 0x477FF000u) return static_cast<uint16_t>(sign | 0x7C00u);
    if (a >= 0x38800000u) {  // >= 2^-14: normal fp16
        uint32_t h = ((a - ((127u - 15u) << 23)) >> 13);
        const uint32_t rem = a & 0x1FFFu;
        // A carry out of the mantissa correctly bumps the exponent.
        if (rem > 0x1000u || (rem == 0x1000u && (h & 1u))) ++h;
        return static_cast<uint16_t>(sign | h);
    }
    // 2^-25 is halfway between 0 and the smallest subnormal: ties to even give 0.
    if (a <= 0x33000000u) return static_cast<uint16_t>(sign);
    // Subnormal fp16: units of 2^-24. The fp32 value is m * 2^(e-150) with a 24-bit m,
    // so the unit count is m >> (126 - e); shift is 14..24 in this range.
    const uint32_t e = a >> 23;
    const uint32_t m = (a & 0x7FFFFFu) | 0x800000u;
    const uint32_t shift = 126u - e;
    uint32_t h = m >> shift;
    const uint32_t rem = m & ((1u << shift) - 1u);
    const uint32_t halfway = 1u << (shift - 1u);
    if (rem > halfway || (rem == halfway && (h & 1u))) ++h;  // may round up to 0x400 = 2^-14
    return static_cast<uint16_t>(sign | h);
}

KVMIX_HOST_DEVICE KVMIX_HALF_CONSTEXPR inline float bf16_to_fp32(uint16_t h) {
    return bits_to_float(static_cast<uint32_t>(h) << 16);
}

KVMIX_HOST_DEVICE KVMIX_HALF_CONSTEXPR inline uint16_t fp32_to_bf16(float f) {
    const uint32_t u = float_to_bits(f);
    // NaN: truncating could clear every payload bit and yield inf, so force the quiet bit.
    if ((u & 0x7FFFFFFFu) > 0x7F800000u) return static_cast<uint16_t>((u >> 16) | 0x0040u);
    // Ties to even: add just under half, plus one more when the kept lsb is odd. Overflow
    // carries into the exponent and ends at inf, which is the correct rounding.
    return static_cast<uint16_t>((u + 0x7FFFu + ((u >> 16) & 1u)) >> 16);
}

}  // namespace kvmix
