// SIMD attention over a mixed fp16 / quantized KV cache; same contract as mixed_attention_ref
// (ref/mixed-attention.h, MixedAttentionParams in common/mixed-attention-params.h): query
// heads [head_begin, head_end) for all queries.
//
// Paths (MixedAttentionPath), chosen at run time by CPUID (cpu-features.h):
//   int8 paths (the default where the CPU has AVX2): integer dot products against the packed
//       codes (cpu/code-dot.h: AVX-512 VNNI, else AVX-VNNI, else AVX2 VPMADDUBSW/VPMADDWD),
//       the contract of mixed_attention_int8q_ref (ref/mixed-attention.h):
//       q·k over a key group: the channel scales folded into the query (qs = q·s), qs
//           quantized to int8 per kMixedQueryBlock channels (with query_residual or 8-bit
//           keys, plus its rounding residual to int8 again: two int8 weight rows sharing
//           every code unpack), exact int32 dots, scaled and summed in fp32 with the Σ q·min
//           term;
//       p·v over quantized values: per 32-token block and value channel group, the weights
//           with the token scales folded in (p·s) quantized to int16, exact int32 dots
//           (VPMADDWD / VPDPWSSD), the Σ p·min term in fp32.
//       Against mixed_attention_ref the only approximations are those two roundings
//       (score error <= 1/254 of the block's largest |q·s| per channel and code step, 1/64516
//       with the residual row; weights to 2^-16 of the block's largest): the attention output
//       moves by ~1e-5 NMSE on random caches (~1e-9 with the residual; test-kv-quant), far
//       inside the 2-4-bit keys' own rounding (1/3 to 1/15 of a channel's range).
//       fp16 keys/values and the online softmax are as on the fp32 path.
//       With AVX-512 VBMI, one query row (MHA decode) over 2-bit G = 32 records runs the key
//       groups and whole value blocks through cpu/mixed-attention-vbmi.h, and a tile of 1-4
//       rows (GQA decode) over 2-bit G = 64 values at head size 64 or 128 its whole value blocks:
//       byte permutes build the dot operands from the records, same integers and fp32
//       operations, so the output is bit-identical to the other int8 paths.
//   avx2_fp32: fp32 dots, the contract of mixed_attention_ref.
//   scalar: mixed_attention_ref (also the fallback without AVX2 + FMA + F16C).
// The fp32 path (the int8 paths share everything but the quantized q·k and p·v inner loops):
// One pass over all segments with an online (flash-style) softmax in fp32, in blocks of 32
// tokens (a packed chunk). Packed codes are read directly and never expanded into a copy of
// the cache:
//   q·k over a key group folds the per-channel scales into the query once per group
//       (qs_c = q_c·s_c, qm = Σ_c q_c·m_c, score_t = Σ_c qs_c·code_ct + qm), and each
//       unpacked 8-token code vector feeds all query heads of the kv head (GQA native, up
//       to 8 heads share every unpack);
//   p·v accumulates (p_t·s_t)·code_td per head and keeps the Σ p_t·m_t terms in one scalar
//       per (head, 32 channels), added once at the end.
// Widths 2/4/8 unpack with one zero-extend, shift and mask; 3-bit adds one variable shift
// of the high-bit byte (all vectorized). Query tiling (flash-style prefill): up to 8 query
// ROWS (query token x query head on one kv head: 8 tokens for MHA, 2 tokens x 4 heads for
// a GQA group of 4) are processed together, so a prefill chunk unpacks each code block and
// reads each fp16 row once per tile instead of once per query token. Each row only uses
// the positions it sees, so its result does not depend on the tile it shares.
// Per-block setup is vectorized (a group's scales and mins are loaded as vectors, a whole
// int8 query block is quantized in registers) and the 4 KiB pages that start in the
// quantized K group and V rows two blocks ahead get one prefetch each (the hardware
// prefetcher stops at page boundaries); none of this changes a result.
// With part_m/part_l it writes the split-K partial (m, l, unnormalized acc; see
// MixedAttentionParams) for attention_merge_cpu.
// No state; stack scratch (heap when head_dim or head_dim_v > 512); thread-safe.
#pragma once

#include "common/mixed-attention-params.h"
#include "ref/mixed-attention.h"

namespace kvmix {

enum class MixedAttentionPath {
    best,              // the fastest int8 path this CPU has (else scalar)
    scalar,            // mixed_attention_ref
    avx2_fp32,         // fp32 key dots (AVX2 + FMA + F16C)
    avx2_int8,         // int8 query, VPMADDUBSW + VPMADDWD
    avx_vnni_int8,     // int8 query, VPDPBUSD ymm (AVX-VNNI)
    avx512_vnni_int8,  // int8 query, VPDPBUSD zmm (AVX-512 F/BW/VL/VNNI)
};

// mixed_attention_cpu_path(p, best).
void mixed_attention_cpu(const MixedAttentionParams& p);

// One path explicitly (tests, benchmarks); aborts when !mixed_attention_path_available(path).
void mixed_attention_cpu_path(const MixedAttentionParams& p, MixedAttentionPath path);
bool mixed_attention_path_available(MixedAttentionPath path);
// What `best` resolves to on this CPU.
MixedAttentionPath mixed_attention_best_path();

}  // namespace kvmix
