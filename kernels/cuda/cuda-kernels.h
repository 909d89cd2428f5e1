// Host-side launchers of the CUDA kernels, one per op (one .cu file each), all taking the
// op's params struct from kernels/common with DEVICE pointers, and a stream. Every launcher
// only enqueues work (asynchronous, no allocation, no state: thread-safe for distinct
// streams) and returns nullptr, or a message (a string literal) when the combination of
// type / bit width / head size is unsupported — never a silent slow path. Launch failures
// surface through cudaGetLastError / the next synchronization, checked by the backend.
// Each kernel's scalar twin in kernels/ref is named in its comment; tests/cuda compares them.
#pragma once

#include <cuda_runtime.h>

#include <cstddef>
#include <cstdint>

#include "common/dequantize-params.h"
#include "common/kv-device-params.h"
#include "common/op-params.h"

namespace kvmix::cuda {

// Weight types the CUDA matmul and dequantize kernels read in place (no conversion at load).
bool weight_type_supported(TensorType type);

// DequantizeRowsParams (common/dequantize-params.h). Twin: dequantize_row_ref. Used for the
// token embedding lookup and for dequantize-then-GEMM prefill.
const char* dequantize_rows(const DequantizeRowsParams& p, cudaStream_t stream);

// MatmulParams (common/op-params.h), quantized weights dequantized in-register; one warp per
// output column, up to 8 rows of x per pass over W. Twin: matmul_ref.
const char* matmul(const MatmulParams& p, cudaStream_t stream);

// Twins: rms_norm_ref, rope_ref, glu_ref, softmax_ref.
const char* rms_norm(const RmsNormParams& p, cudaStream_t stream);
const char* rope(const RopeParams& p, cudaStream_t stream);
const char* glu(const GluParams& p, cudaStream_t stream);
const char* softmax(const SoftmaxParams& p, cudaStream_t stream);

// y[i] += x[i] for i < n (twin: add_ref); x[i] = c * tanh(x[i] / c) (twin: softcap_ref).
const char* add(float* y, const float* x, int64_t n, cudaStream_t stream);
const char* softcap(float* x, int64_t n, float c, cudaStream_t stream);

// KvStoreParams / KvQuantizeParams (common/kv-device-params.h). Twins: fp32_to_fp16 per
// element, quantize_key_group_ref / quantize_value_row_ref (bit-identical).
const char* kv_store(const KvStoreParams& p, cudaStream_t stream);
const char* kv_quantize(const KvQuantizeParams& p, cudaStream_t stream);

// KV rotation in place (common/kv-rotation.h): n_rows rows of dim floats at x + i·stride
// become R·x (or Rᵀ·x with inverse). Twin: kv_rotate_rows_ref.
const char* kv_rotate(float* x, int64_t n_rows, int64_t dim, size_t stride, bool inverse, cudaStream_t stream);

// Split-K attention over the device caches followed by the merge of the splits
// (FlashAttentionParams). Head sizes 16, 32, 64, 128, 256 (head_dim == head_dim_v); key and value
// bits each in {2, 3, 4, 8, 16}; G in {32, 64, 128}. Twin: mixed_attention_ref.
const char* flash_attention(const FlashAttentionParams& p, cudaStream_t stream);
// Largest number of query rows (tokens x query heads per kv head) one block handles.
inline constexpr int kFlashMaxRows = 16;
// Query tokens per block for a GQA ratio (n_head / n_head_kv).
inline constexpr int flash_q_tile(int64_t heads_per_kv) {
    return heads_per_kv >= kFlashMaxRows ? 1 : static_cast<int>(kFlashMaxRows / heads_per_kv);
}

}  // namespace kvmix::cuda
