#include "backend/cpu-backend.h"

#include "common/assert.h"
#include "cpu/attention.h"
#include "cpu/glu.h"
#include "cpu/matmul.h"
#include "cpu/rms-norm.h"
#include "cpu/rope.h"

namespace kvmix {

void CpuBackend::matmul(const TensorView& w, const float* x, int64_t m, float* y) {
    KVMIX_ASSERT(w.n_dims <= 2);
    const TensorTypeTraits& traits = tensor_type_traits(w.type);
    MatmulParams p;
    p.w_type = w.type;
    p.w = w.data;
    p.k = static_cast<int64_t>(w.ne[0]);
    p.n = static_cast<int64_t>(w.ne[1]);
    p.w_row_bytes = static_cast<size_t>(p.k / traits.block_elems * traits.block_bytes);
    p.x = x;
    p.x_stride = static_cast<size_t>(p.k);
    p.y = y;
    p.y_stride = static_cast<size_t>(p.n);
    p.m = m;
    // Enough output columns per chunk that each thread streams whole cache lines of W.
    pool_.parallel_for(p.n, 16, [&](int64_t begin, int64_t end) {
        MatmulParams slice = p;
        slice.n_begin = begin;
        slice.n_end = end;
        matmul_cpu(slice);
    });
}

void CpuBackend::rms_norm(const float* x, float* y, int64_t rows, int64_t n, const float* w, float w_offset, float eps) {
    RmsNormParams p;
    p.x = x;
    p.x_stride = static_cast<size_t>(n);
    p.y = y;
    p.y_stride = static_cast<size_t>(n);
    p.w = w;
    p.w_offset = w_offset;
    p.eps = eps;
    p.n = n;
    if (rows * n < 16384) {
        p.row_begin = 0;
        p.row_end = rows;
        rms_norm_cpu(p);
        return;
    }
    pool_.parallel_for(rows, 1, [&](int64_t begin, int64_t end) {
        RmsNormParams slice = p;
        slice.row_begin = begin;
        slice.row_end = end;
        rms_norm_cpu(slice);
    });
}

void CpuBackend::rope(float* x, int64_t n_tokens, int64_t n_head, int64_t head_dim, const int32_t* positions, const RopeConfig& cfg) {
    RopeParams p;
    p.x = x;
    p.token_stride = static_cast<size_t>(n_head * head_dim);
    p.head_stride = static_cast<size_t>(head_dim);
    p.n_head = n_head;
    p.head_dim = head_dim;
    p.n_rot = cfg.n_rot;
    p.positions = positions;
    p.base = cfg.base;
    p.freq_scale = cfg.freq_scale;
    p.freq_factors = cfg.freq_factors;
    p.interleaved = cfg.interleaved;
    pool_.parallel_for(n_tokens, 1, [&](int64_t begin, int64_t end) {
        RopeParams slice = p;
        slice.token_begin = begin;
        slice.token_end = end;
        rope_cpu(slice);
    });
}

void CpuBackend::glu(float* gate, const float* up, int64_t rows, int64_t n, GluActivation act) {
    GluParams p;
    p.gate = gate;
    p.up = up;
    p.out = gate;
    p.stride = static_cast<size_t>(n);
    p.n = n;
    p.act = act;
    pool_.parallel_for(rows, 1, [&](int64_t begin, int64_t end) {
        GluParams slice = p;
        slice.row_begin = begin;
        slice.row_end = end;
        glu_cpu(slice);
    });
}

void CpuBackend::attention(const AttentionParams& p) {
    pool_.parallel_for(p.n_head, 1, [&](int64_t begin, int64_t end) {
        AttentionParams slice = p;
        slice.head_begin = begin;
        slice.head_end = end;
        attention_cpu(slice);
    });
}

}  // namespace kvmix
