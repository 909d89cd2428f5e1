// Parameter structs of the device-side KVmix cache kernels (kernels/cuda: kv-store.cu,
// kv-quantize.cu, attn-flash.cu, attn-merge.cu). Host + device compatible: plain data,
// every pointer borrowed and pointing into device memory when used by a CUDA kernel.
//
// The device cache keeps, per layer and side (keys or values), the layout the kernels
// read (kv-quant-format.h), preallocated for the whole context so nothing is ever copied:
//   sinks  [n_head_kv][n_sinks][dim] fp16          positions [0, n_sinks)
//   packed [n_head_kv][units][unit_bytes]          positions [n_sinks, n_sinks + n_quant)
//          keys: unit = one key group of G tokens; values: unit = one value row (1 token)
//   ring   [n_head_kv][ring_cap][dim] fp16         positions >= n_sinks + n_quant, position
//          p in slot (p - n_sinks) % ring_cap (the full-precision recent window)
// A 16-bit side has n_sinks = n_quant = 0 and ring_cap = capacity: slot = position.
#pragma once

#include <cstddef>
#include <cstdint>

#include "common/kv-quant-format.h"

namespace kvmix {

// One side of one layer of one sequence's device cache.
struct KvSideView {
    int32_t bits = kvq::kNotQuantized;
    int32_t group_size = 32;
    int64_t n_sinks = 0;
    int64_t n_quant = 0;  // multiple of group_size for keys
    const uint16_t* sinks = nullptr;
    size_t sinks_head_stride = 0;  // elements
    const uint8_t* packed = nullptr;
    size_t packed_head_stride = 0;  // bytes
    size_t unit_bytes = 0;          // key_group_bytes or value_row_bytes
    const uint16_t* ring = nullptr;
    size_t ring_head_stride = 0;  // elements
    int64_t ring_cap = 0;
};

// Stores n new tokens' fp32 rows src[t, h * dim + d] (token stride src_stride) as fp16 at
// positions [first_pos, first_pos + n) of a side: sinks below n_sinks, else the ring.
struct KvStoreParams {
    const float* src = nullptr;
    size_t src_stride = 0;
    int64_t n = 0, first_pos = 0, n_head_kv = 0, dim = 0;
    uint16_t* sinks = nullptr;
    size_t sinks_head_stride = 0;
    int64_t n_sinks = 0;
    uint16_t* ring = nullptr;
    size_t ring_head_stride = 0;
    int64_t ring_cap = 0;
};

// Quantizes fp16 ring tokens in place into packed units (bit-identical to
// quantize_key_group_ref / quantize_value_row_ref on the fp16 values widened to fp32).
//   keys:   n_units key groups; group u takes ring slots (first_slot + u*G + i) % ring_cap,
//           i < G, and is written at dst + h * dst_head_stride + (first_unit + u) * unit_bytes
//   values: n_units value rows; token u takes slot (first_slot + u) % ring_cap
struct KvQuantizeParams {
    bool keys = true;
    int32_t bits = 2, group_size = 32;
    int64_t n_head_kv = 0, dim = 0;
    const uint16_t* ring = nullptr;
    size_t ring_head_stride = 0;
    int64_t ring_cap = 0;
    int64_t first_slot = 0;
    int64_t n_units = 0;
    uint8_t* dst = nullptr;
    size_t dst_head_stride = 0;
    size_t unit_bytes = 0;
    int64_t first_unit = 0;
};

// Split-K ("flash-decoding") attention of several sequences over their device caches.
// Query rows q[r, h * head_dim + d] (row stride q_stride, fp32) at positions q_pos[r];
// sequence s owns rows [row0, row0 + n_rows) and attends positions [0, n_kv) of its cache
// under the causal/window mask of AttentionParams. Output out[r, h * head_dim_v + d].
struct FlashSeq {
    KvSideView k, v;
    int64_t n_kv = 0;
    int32_t row0 = 0, n_rows = 0;
};

// One block's query rows: up to `q_tile` consecutive rows of one sequence.
struct FlashWork {
    int32_t seq = 0;
    int32_t row0 = 0;
    int32_t n_rows = 0;
};

struct FlashAttentionParams {
    const float* q = nullptr;
    size_t q_stride = 0;
    float* out = nullptr;
    size_t out_stride = 0;
    const int32_t* q_pos = nullptr;   // [n_rows_total]
    const FlashSeq* seqs = nullptr;   // [n_seqs]
    const FlashWork* work = nullptr;  // [n_work]
    int32_t n_seqs = 0, n_work = 0, n_rows_total = 0;
    int64_t n_head = 0, n_head_kv = 0, head_dim = 0, head_dim_v = 0;
    int32_t window = 0;
    float scale = 1.0f;
    float softcap = 0.0f;
    int32_t n_splits = 1;
    int64_t split_tokens = 0;  // positions per split
    // Scratch: per (row, head, split) the unnormalized accumulator [head_dim_v] and (max, sum).
    float* partial_acc = nullptr;  // [n_rows_total][n_head][n_splits][head_dim_v]
    float* partial_ml = nullptr;   // [n_rows_total][n_head][n_splits][2]
};

}  // namespace kvmix
