// Statistics of logit rows shared by the perplexity and KL measurements (the CLI's
// `perplexity --kld`, the app's quality check). Double precision; pure functions.
#pragma once

#include <cstdint>

namespace kvmix {

// log(sum_v exp(row[v])) over n > 0 logits, shifted by the maximum so no exp overflows.
double log_sum_exp(const float* row, int64_t n);

// KL(P || Q) = sum_v p(v) (log p(v) - log q(v)) of two rows of n logits, given their
// log_sum_exp. Bitwise-equal rows give exactly 0 (every term is 0).
double kl_divergence(const float* p_logits, double p_lse, const float* q_logits, double q_lse, int64_t n);

// The first index of the largest logit (ties go to the lower id, as greedy sampling picks).
int64_t arg_max(const float* row, int64_t n);

}  // namespace kvmix
