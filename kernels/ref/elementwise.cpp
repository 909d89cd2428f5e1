#include "ref/elementwise.h"

#include <cmath>

namespace kvmix {

void add_ref(float* y, const float* x, int64_t n) {
    for (int64_t i = 0; i < n; ++i) y[i] += x[i];
}

void softcap_ref(float* x, int64_t n, float c) {
    for (int64_t i = 0; i < n; ++i) x[i] = c * std::tanh(x[i] / c);
}

}  // namespace kvmix
