#include "runtime/logit-stats.h"

#include <algorithm>
#include <cmath>

namespace kvmix {

double log_sum_exp(const float* row, int64_t n) {
    double mx = row[0];
    for (int64_t v = 1; v < n; ++v) mx = std::max<double>(mx, row[v]);
    double sum = 0;
    for (int64_t v = 0; v < n; ++v) sum += std::exp(row[v] - mx);
    return std::log(sum) + mx;
}

double kl_divergence(const float* p_logits, double p_lse, const float* q_logits, double q_lse, int64_t n) {
    double kl = 0;
    for (int64_t v = 0; v < n; ++v) {
        const double lp = p_logits[v] - p_lse;
        kl += std::exp(lp) * (lp - (q_logits[v] - q_lse));
    }
    return kl;
}

int64_t arg_max(const float* row, int64_t n) {
    int64_t best = 0;
    for (int64_t v = 1; v < n; ++v)
        if (row[v] > row[best]) best = v;
    return best;
}

}  // namespace kvmix
