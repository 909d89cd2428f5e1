// Mean next-token cross-entropy over output logits, with the optional final soft-cap
// z = c · tanh(a / c) (c = softcap, 0: z = a), and its gradient with respect to the raw
// logits a:  da = weight · (softmax(z) − onehot(label)) · (1 − tanh²(a / c)).
// Works on a vocabulary tile [v_begin, v_begin + n) of each row so a caller can stream a
// large vocabulary: `lse` then holds log Σ exp(z) of every full row (computed by the caller
// with cross_entropy_lse_partial); when lse is null the tile must be the full row.
// Rows [row_begin, row_end); math in double, outputs fp32. No state, thread-safe.
#pragma once

#include <cstddef>
#include <cstdint>

namespace kvmix {

struct CrossEntropyGradParams {
    const float* logits = nullptr;  // raw logits a of the tile [rows, n], row stride `stride`
    float* dlogits = nullptr;       // da of the tile, same layout; may alias logits
    size_t stride = 0;
    int64_t n = 0;                  // tile width
    int64_t v_begin = 0;            // first vocabulary id of the tile
    const int32_t* labels = nullptr;  // [rows] target ids (full-vocabulary ids)
    const double* lse = nullptr;    // [rows] log-sum-exp of the full row, or null
    float softcap = 0.0f;
    double weight = 1.0;            // 1 / number of predicted tokens
    double* loss = nullptr;         // when non-null, += weight · (lse − z_label) for labels in the tile
    int64_t row_begin = 0, row_end = 0;
};

void cross_entropy_grad_ref(const CrossEntropyGradParams& p);

// Running log-sum-exp of the soft-capped logits of one tile row: updates (max, sum) so that
// log-sum-exp = max + log(sum) over every tile seen so far. Start with max = -inf, sum = 0.
void cross_entropy_lse_partial(const float* logits, int64_t n, float softcap, double& max, double& sum);

}  // namespace kvmix
