// SIMD backward of causal GQA attention over fp32 K/V: the contract of attention_grad_ref
// (ref/attention-grad.h, AttentionGradParams) — heads [head_begin, head_end), dq written,
// dk/dv accumulated (per query head or per kv head), probabilities recomputed from q and k.
//
// AVX2 + FMA when the CPU has them and head_dim, head_dim_v are multiples of 8 (runtime
// dispatch), else the ref. Scores and dO·v come 8 keys at a time (8 dot products reduced
// into one vector), exp / tanh are the vectorized ones of simd-avx2.h, and the softmax is
// kept in fp32 (the ref uses double): results differ from the ref by rounding only.
// Allocates three [n_kv] buffers per call; no state, thread-safe.
#pragma once

#include "ref/attention-grad.h"

namespace kvmix {

void attention_grad_cpu(const AttentionGradParams& p);

}  // namespace kvmix
