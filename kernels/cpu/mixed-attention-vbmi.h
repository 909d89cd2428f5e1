// Blocks of the int8 mixed attention (cpu/mixed-attention.cpp) with AVX-512 VBMI byte
// permutes, for the shapes that dominate decode at long context: one row (MHA) over G = 32,
// 2-bit codes, and the value side of GQA tiles over G = 64, 2-bit values at head sizes 64
// and 128 (the presets' format). The generic int8 path byte-transposes every four rows of
// codes with unpacks and gathers each scale/min pair with a scalar load; here one
// single-source VPERMB of a 64-byte window builds each VPDPBUSD / VPDPWSSD operand, and three
// merged ones 16 scale/min pairs, straight from contiguous records.
// Every code byte is used at its place: the bit pair at shift 2s is masked, not shifted, so
// its products carry a factor 4^s that an exact arithmetic shift of the int32 sums removes.
//
// Every function does the same fp32 operations in the same order as the generic path
// (prepare_key_group_int8 + score_int8, accum_int8; no residual row) and the same
// exact integers, so the attention output is bit-identical to every other int8 path
// (test-kv-quant compares them byte for byte).
//
// Key group (vbmi_key_group_fn(2, 32, head_dim), head_dim % 32 == 0): q [head_dim] fp32, grp
//   one key group (kv-quant-format.h), scratch qi [head_dim] int8 and qd [head_dim / 32];
//   writes s [32] = the raw dots qm + Σ_b qd_b · Σ_{c in b} qi_c·code_ct of the group's tokens.
// Value block (vbmi_value_block_fn(2, 32, 128, 48)): w [32] the weights of a row that sees
//   all 32 tokens of a whole block, rows = the block's first value row (rows 48 bytes apart);
//   acc [128] += the block's p·v with int16 weights, macc [4] += Σ_t w_t·min_t per channel group.
// Value tile (vbmi_value_tile_fn(2, 64, dv, ts, n_rows), dv 64 or 128 (one or two channel
//   groups per token), n_rows 1-4, 20·dv/64 <= ts <= 48: GQA decode): w [n_rows][32] the
//   weights of rows that each see all 32 tokens of a whole block, rows = the block's first
//   value row (rows ts bytes apart); acc [n_rows][dv] += the block's p·v with int16 weights,
//   macc [n_rows][dv / 32 + 1]: slots 2cg and 2cg + 1 += Σ_t w_t·min_t of group cg.
// Softmax step (vbmi_softmax_fn()): one row over a whole block without softcap, as
//   softmax_step: s [32] the raw dots -> the weights in place, running max m and sum l
//   updated, acc [dv] and macc [n_macc] rescaled; 16-lane exp with avx2::exp's operations.
// The fn getters return nullptr for other shapes and on CPUs without cpu_has_avx512_vbmi().
// Pure, thread-safe.
#pragma once

#include <cstddef>
#include <cstdint>

namespace kvmix {

using VbmiKeyGroupFn = void (*)(const float* q, const uint8_t* grp, int64_t head_dim, int8_t* qi, float* qd, float* s);
using VbmiValueBlockFn = void (*)(const float* w, const uint8_t* rows, float* acc, float* macc);
using VbmiValueTileFn = void (*)(const float* w, const uint8_t* rows, size_t token_stride, float* acc, float* macc);
using VbmiSoftmaxFn = void (*)(float* s, float scale, float& m, float& l, float* acc, int64_t dv, float* macc, int64_t n_macc);

VbmiKeyGroupFn vbmi_key_group_fn(int bits, int group, int64_t head_dim);
VbmiValueBlockFn vbmi_value_block_fn(int bits, int group, int64_t head_dim_v, size_t token_stride);
VbmiValueTileFn vbmi_value_tile_fn(int bits, int group, int64_t head_dim_v, size_t token_stride, int n_rows);
VbmiSoftmaxFn vbmi_softmax_fn();

}  // namespace kvmix
