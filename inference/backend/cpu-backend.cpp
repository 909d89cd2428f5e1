#include "backend/cpu-backend.h"

#include <algorithm>
#include <vector>

#include "common/assert.h"
#include "cpu/attention.h"
#include "cpu/glu.h"
#include "cpu/matmul-packed.h"
#include "cpu/matmul.h"
#include "cpu/rms-norm.h"
#include "cpu/rope.h"

namespace kvmix {

AttentionSplit plan_attention_split(int64_t n_q, int64_t n_head, int64_t n_head_kv, int64_t n_kv, const int32_t* q_pos,
                                    int32_t window, int64_t align, int n_threads) {
    constexpr int64_t kMinChunk = 256;  // keys per chunk worth a partial and its merge
    AttentionSplit split;
    if (n_q <= 0 || n_head_kv <= 0 || n_kv <= 0 || align <= 0 || n_threads <= 1) return split;
    const int64_t rows_per_tile = std::max<int64_t>(1, 8 / std::max<int64_t>(1, n_head / n_head_kv));
    const int64_t units = n_head_kv * ((n_q + rows_per_tile - 1) / rows_per_tile);
    // The fewest parts per unit that keep the threads >= 90% busy: 3 KV heads on 2 threads
    // leave one thread idle for a third of the call; 2 parts each make 6 equal units.
    int64_t want = AttentionSplit::kMaxParts;
    for (int64_t parts = 1; parts < AttentionSplit::kMaxParts; ++parts) {
        const int64_t n = units * parts, rounds = (n + n_threads - 1) / n_threads;
        if (10 * n >= 9 * rounds * n_threads) {
            want = parts;
            break;
        }
    }
    if (want <= 1) return split;
    int64_t lo = n_kv, hi = 0;
    for (int64_t t = 0; t < n_q; ++t) {
        const int64_t pos = q_pos[t];
        lo = std::min(lo, window > 0 ? std::max<int64_t>(0, pos - window + 1) : 0);
        hi = std::max(hi, std::min<int64_t>(pos + 1, n_kv));
    }
    const int64_t span = hi - lo;
    const int64_t parts = std::min(want, span / kMinChunk);
    if (parts <= 1) return split;
    split.n_parts = parts;
    split.bounds[0] = lo;
    for (int64_t c = 1; c < parts; ++c)
        split.bounds[c] = std::max(split.bounds[c - 1], (lo + span * c / parts) / align * align);
    split.bounds[parts] = hi;
    return split;
}

namespace {

MatmulParams matmul_params(const TensorView& w, const float* x, int64_t m, float* y) {
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
    return p;
}

// Output columns per block of a decode product: enough that each thread streams whole cache
// lines of W. matmul, matmuls and matmul_glu cut columns alike, so their results agree bit
// for bit.
constexpr int64_t kMatmulBlock = 16;

// The product p restricted to output columns [begin, end).
MatmulParams columns(const MatmulParams& p, int64_t begin, int64_t end) {
    MatmulParams slice = p;
    slice.n_begin = begin;
    slice.n_end = end;
    return slice;
}

// One matmul kernel over slices of the output columns, `chunk` columns at least per task.
void parallel_matmul(ThreadPool& pool, const MatmulParams& p, int64_t chunk, void (*kernel)(const MatmulParams&)) {
    pool.parallel_for(p.n, chunk, [&](int64_t begin, int64_t end) { kernel(columns(p, begin, end)); });
}

}  // namespace

void CpuBackend::matmul_packed(const TensorView& w, const float* x, int64_t m, float* y) {
    // Chunks of whole 24-row panels.
    parallel_matmul(pool_, matmul_params(w, x, m, y), 24, &matmul_packed_cpu);
}

void CpuBackend::matmul(const TensorView& w, const float* x, int64_t m, float* y) {
    parallel_matmul(pool_, matmul_params(w, x, m, y), kMatmulBlock, &matmul_cpu);
}

void CpuBackend::matmuls(const float* x, int64_t m, std::initializer_list<MatmulOutput> outputs) {
    KVMIX_ASSERT(outputs.size() <= static_cast<size_t>(kMaxOutputs));
    MatmulParams ps[kMaxOutputs];
    int64_t first[kMaxOutputs + 1] = {};  // first block of each weight in the joint range
    int count = 0;
    for (const MatmulOutput& o : outputs) {
        ps[count] = matmul_params(*o.w, x, m, o.y);
        first[count + 1] = first[count] + (ps[count].n + kMatmulBlock - 1) / kMatmulBlock;
        ++count;
    }
    pool_.parallel_for(first[count], 1, [&](int64_t begin, int64_t end) {
        for (int i = 0; i < count; ++i) {
            const int64_t lo = std::max(begin, first[i]), hi = std::min(end, first[i + 1]);
            if (lo < hi) matmul_cpu(columns(ps[i], (lo - first[i]) * kMatmulBlock, std::min(ps[i].n, (hi - first[i]) * kMatmulBlock)));
        }
    });
}

void CpuBackend::matmul_glu(const TensorView& w_gate, const TensorView& w_up, const float* x, int64_t m, float* gate, float* up,
                            GluActivation act) {
    const MatmulParams pg = matmul_params(w_gate, x, m, gate), pu = matmul_params(w_up, x, m, up);
    KVMIX_ASSERT(pg.n == pu.n && pg.k == pu.k);
    const int64_t n = pg.n;
    pool_.parallel_for(n, kMatmulBlock, [&](int64_t begin, int64_t end) {
        matmul_cpu(columns(pg, begin, end));
        matmul_cpu(columns(pu, begin, end));
        GluParams g;
        g.gate = gate + begin;
        g.up = up + begin;
        g.out = gate + begin;
        g.stride = static_cast<size_t>(n);
        g.n = end - begin;
        g.act = act;
        g.row_begin = 0;
        g.row_end = m;
        glu_cpu(g);
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
    const AttentionSplit split = plan_attention_split(p.n_q, p.n_head, p.n_head_kv, p.n_kv, p.q_pos, p.window, 32, pool_.size());
    if (split.n_parts <= 1) {
        pool_.parallel_for(p.n_head, 1, [&](int64_t begin, int64_t end) {
            AttentionParams slice = p;
            slice.head_begin = begin;
            slice.head_end = end;
            attention_cpu(slice);
        });
        return;
    }
    // Split-K: one unit per (KV head, key chunk) so a KV head's query tile reads each K/V row
    // once; the partials merge in chunk order (deterministic).
    const int64_t group = p.n_head / p.n_head_kv, n_parts = split.n_parts;
    const size_t acc_stride = static_cast<size_t>(p.n_head * p.head_dim_v);
    const size_t acc_part = static_cast<size_t>(p.n_q) * acc_stride, ml_part = static_cast<size_t>(p.n_q * p.n_head);
    std::vector<float> acc(static_cast<size_t>(n_parts) * acc_part), m(static_cast<size_t>(n_parts) * ml_part), l(m.size());
    pool_.parallel_for(p.n_head_kv * n_parts, 1, [&](int64_t begin, int64_t end) {
        for (int64_t u = begin; u < end; ++u) {
            const int64_t hk = u / n_parts, c = u % n_parts;
            AttentionParams slice = p;
            slice.head_begin = hk * group;
            slice.head_end = (hk + 1) * group;
            slice.kv_begin = split.bounds[c];
            slice.kv_end = split.bounds[c + 1];
            slice.out = acc.data() + static_cast<size_t>(c) * acc_part;
            slice.out_stride = acc_stride;
            slice.part_m = m.data() + static_cast<size_t>(c) * ml_part;
            slice.part_l = l.data() + static_cast<size_t>(c) * ml_part;
            attention_cpu(slice);
        }
    });
    AttentionMergeParams mp;
    mp.acc = acc.data();
    mp.acc_part_stride = acc_part;
    mp.acc_stride = acc_stride;
    mp.m = m.data();
    mp.l = l.data();
    mp.ml_part_stride = ml_part;
    mp.n_parts = n_parts;
    mp.out = p.out;
    mp.out_stride = p.out_stride;
    mp.n_q = p.n_q;
    mp.n_head = p.n_head;
    mp.head_dim_v = p.head_dim_v;
    mp.head_begin = 0;
    mp.head_end = p.n_head;
    attention_merge_cpu(mp);
}

}  // namespace kvmix
