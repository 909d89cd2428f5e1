// CpuBackend: the engine's CPU ops — the kernels of kernels/cpu, parallelized over the
// backend's thread pool by splitting each op's output range. Buffers are plain host
// memory (fp32 activations, fp16 KV cache); weights are views into the model's mmap.
// Owned by one Session; not thread-safe (one op at a time).
#pragma once

#include <cstdint>
#include <initializer_list>

#include "backend/thread-pool.h"
#include "common/op-params.h"
#include "io/tensor-view.h"

namespace kvmix {

struct RopeConfig {
    int64_t n_rot = 0;
    float base = 10000.0f;
    float freq_scale = 1.0f;
    const float* freq_factors = nullptr;  // [n_rot / 2] or null
    bool interleaved = false;
};

// Split-K plan for one attention call: when its work units over heads (KV heads x query
// tiles of up to 8 rows) would leave threads idle for more than a tenth of the call (fewer
// units than threads, or an uneven count such as 3 on 2 threads), the union of the queries' visible key
// ranges splits into n_parts contiguous chunks [bounds[i], bounds[i+1]) whose inner bounds
// are multiples of `align` (a quantization group never straddles two chunks) and hold at
// least 256 keys each; n_parts is the fewest that keep the threads 90% busy (units·n_parts
// over whole rounds of n_threads). n_parts = 1 means no split. Pure function of its arguments.
struct AttentionSplit {
    static constexpr int64_t kMaxParts = 64;
    int64_t n_parts = 1;
    int64_t bounds[kMaxParts + 1] = {};
};
AttentionSplit plan_attention_split(int64_t n_q, int64_t n_head, int64_t n_head_kv, int64_t n_kv, const int32_t* q_pos,
                                    int32_t window, int64_t align, int n_threads);

class CpuBackend {
public:
    explicit CpuBackend(int n_threads) : pool_(n_threads) {}

    int n_threads() const { return pool_.size(); }
    ThreadPool& pool() { return pool_; }

    // y[m, n] = x[m, k] · Wᵀ for a 2-D weight w with ne = {k, n}. x, y contiguous rows.
    void matmul(const TensorView& w, const float* x, int64_t m, float* y);
    // Products of one input with up to kMaxOutputs weights (the q/k/v projections) as one
    // parallel job: y_i[m, n_i] = x · W_iᵀ for each {W_i, y_i}. Every weight's columns are cut
    // into the same 16-column blocks as matmul() and the blocks of all weights are split
    // across the threads, so each y_i is bit-identical to matmul(W_i, x, m, y_i) and a decode
    // step waits for the threads once instead of once per weight.
    struct MatmulOutput {
        const TensorView* w = nullptr;
        float* y = nullptr;
    };
    static constexpr int kMaxOutputs = 4;
    void matmuls(const float* x, int64_t m, std::initializer_list<MatmulOutput> outputs);
    // The gated feed-forward's first half as one parallel job: gate = x·W_gateᵀ and
    // up = x·W_upᵀ ([m, F] each, F = ne[1] of both), then gate = act(gate) * up, each block of
    // 16 columns on the thread that computed it. Bit-identical to matmul, matmul, glu.
    void matmul_glu(const TensorView& w_gate, const TensorView& w_up, const float* x, int64_t m, float* gate, float* up,
                    GluActivation act);
    // The same product through the many-row packed kernel (cpu/matmul-packed.h): faster for
    // whole sequences (m >= ~32), rounded differently from matmul(). For the importance
    // analysis's gradient pass, not for the sessions.
    void matmul_packed(const TensorView& w, const float* x, int64_t m, float* y);
    // Rows of length n, contiguous. y may alias x.
    void rms_norm(const float* x, float* y, int64_t rows, int64_t n, const float* w, float w_offset, float eps);
    // x[t, h, :] with heads of head_dim contiguous, tokens n_head * head_dim apart.
    void rope(float* x, int64_t n_tokens, int64_t n_head, int64_t head_dim, const int32_t* positions, const RopeConfig& cfg);
    // gate[r, :] = act(gate[r, :]) * up[r, :], rows of n contiguous.
    void glu(float* gate, const float* up, int64_t rows, int64_t n, GluActivation act);
    // Splits query heads across threads, or KV heads x key chunks (split-K, see
    // plan_attention_split) when heads alone leave threads idle; head_begin/head_end,
    // kv_begin/kv_end and part_m/part_l of `p` are ignored.
    void attention(const AttentionParams& p);

private:
    ThreadPool pool_;
};

}  // namespace kvmix
