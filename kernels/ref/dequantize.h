// Scalar reference dequantizers: one row of a GGUF weight tensor to fp32.
// These are the twins the SIMD and CUDA versions are tested against, so they favour
// clarity and a fixed operation order over speed.
//
// Contract for every function here:
//   src  raw tensor bytes, n / block_elems(type) whole blocks packed back to back; no
//        alignment required (blocks are copied out byte-wise). Borrowed, read only.
//   dst  [n] fp32 output, written in full and nothing past it. Must not overlap src.
//   n    element count, >= 0 and a multiple of the type's block_elems.
// Misuse (bad n, a type can_dequantize() rejects, null pointers with n > 0) is a bug in
// the caller, who validates tensors on load, so it aborts via KVMIX_ASSERT.
// Pure functions of their inputs: thread-safe, no state.
//
// Arithmetic: fp16 fields are widened exactly, then each element is evaluated in fp32
// in this order:
//   Q8_0 d*q; Q4_0/Q5_0 d*(q-off); Q4_1/Q5_1 (d*q)+m;
//   Q4_K/Q5_K (d*sc)*q - (dmin*m); Q6_K (d*sc)*(q-32).
// An fp16 scale has an 11-bit significand and q, sc, m have at most 8 bits, so every
// product above is exact in fp32 except Q6_K's last one: each output is rounded once,
// FMA contraction cannot change it, and only Q6_K depends on the grouping (kept as
// written). This matches gguf-py's numpy reference bit for bit; SIMD/CUDA twins that
// keep the Q6_K grouping can be bit-exact too.
#pragma once

#include <cstdint>

#include "common/tensor-types.h"

namespace kvmix {

// True for the types dequantize_row_ref handles.
bool can_dequantize(TensorType type);

void dequantize_row_ref(TensorType type, const void* src, float* dst, int64_t n);

void dequantize_row_f32_ref(const void* src, float* dst, int64_t n);
void dequantize_row_f16_ref(const void* src, float* dst, int64_t n);
void dequantize_row_bf16_ref(const void* src, float* dst, int64_t n);
void dequantize_row_q4_0_ref(const void* src, float* dst, int64_t n);
void dequantize_row_q4_1_ref(const void* src, float* dst, int64_t n);
void dequantize_row_q5_0_ref(const void* src, float* dst, int64_t n);
void dequantize_row_q5_1_ref(const void* src, float* dst, int64_t n);
void dequantize_row_q8_0_ref(const void* src, float* dst, int64_t n);
void dequantize_row_q4_k_ref(const void* src, float* dst, int64_t n);
void dequantize_row_q5_k_ref(const void* src, float* dst, int64_t n);
void dequantize_row_q6_k_ref(const void* src, float* dst, int64_t n);

}  // namespace kvmix
