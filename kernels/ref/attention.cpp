#include "ref/attention.h"

#include <algorithm>
#include <cmath>
#include <vector>

#include "common/assert.h"
#include "common/half.h"

namespace kvmix {

namespace {

// fp16 widens to double exactly; fp32 is read as is.
double widen(uint16_t h) { return static_cast<double>(fp16_to_fp32(h)); }
double widen(float f) { return static_cast<double>(f); }

template <class T>
void attention_ref_typed(const AttentionParams& p, const T* k, const T* v) {
    const int64_t group = p.n_head / p.n_head_kv;
    std::vector<double> s(static_cast<size_t>(p.n_kv));
    std::vector<double> acc(static_cast<size_t>(p.head_dim_v));
    const bool partial = p.part_m != nullptr;
    const int64_t kv_end = p.kv_end < 0 ? p.n_kv : std::min(p.kv_end, p.n_kv);
    for (int64_t t = 0; t < p.n_q; ++t) {
        const int64_t pos = p.q_pos[t];
        // Visible slots: [lo, hi).
        const int64_t hi = std::min<int64_t>(pos + 1, kv_end);
        const int64_t lo = std::max<int64_t>(p.kv_begin, p.window > 0 ? std::max<int64_t>(0, pos - p.window + 1) : 0);
        for (int64_t h = p.head_begin; h < p.head_end; ++h) {
            const float* q = p.q + static_cast<size_t>(t) * p.q_stride + static_cast<size_t>(h * p.head_dim);
            float* out = p.out + static_cast<size_t>(t) * p.out_stride + static_cast<size_t>(h * p.head_dim_v);
            const int64_t hk = h / group;
            const T* kh = k + static_cast<size_t>(hk) * p.k_head_stride;
            const T* vh = v + static_cast<size_t>(hk) * p.v_head_stride;
            std::fill(acc.begin(), acc.end(), 0.0);
            const size_t ml = static_cast<size_t>(t * p.n_head + h);
            if (lo >= hi) {
                for (int64_t d = 0; d < p.head_dim_v; ++d) out[d] = 0.0f;
                if (partial) {
                    p.part_m[ml] = -INFINITY;
                    p.part_l[ml] = 0.0f;
                }
                continue;
            }
            double mx = -INFINITY;
            bool nan = false;
            for (int64_t j = lo; j < hi; ++j) {
                const T* kj = kh + static_cast<size_t>(j * p.head_dim);
                double dot = 0.0;
                for (int64_t d = 0; d < p.head_dim; ++d) dot += static_cast<double>(q[d]) * widen(kj[d]);
                double sc = static_cast<double>(p.scale) * dot;
                if (p.softcap > 0.0f) sc = p.softcap * std::tanh(sc / p.softcap);
                s[static_cast<size_t>(j)] = sc;
                nan |= std::isnan(sc);
                if (sc > mx) mx = sc;
            }
            double sum = 0.0;
            for (int64_t j = lo; j < hi; ++j) {
                const double e = nan ? NAN : std::exp(s[static_cast<size_t>(j)] - mx);
                sum += e;
                const T* vj = vh + static_cast<size_t>(j * p.head_dim_v);
                for (int64_t d = 0; d < p.head_dim_v; ++d) acc[static_cast<size_t>(d)] += e * widen(vj[d]);
            }
            if (partial) {
                p.part_m[ml] = static_cast<float>(mx);
                p.part_l[ml] = static_cast<float>(sum);
                for (int64_t d = 0; d < p.head_dim_v; ++d) out[d] = static_cast<float>(acc[static_cast<size_t>(d)]);
                continue;
            }
            for (int64_t d = 0; d < p.head_dim_v; ++d) out[d] = static_cast<float>(acc[static_cast<size_t>(d)] / sum);
        }
    }
}

}  // namespace

void attention_ref(const AttentionParams& p) {
    KVMIX_ASSERT(p.n_head > 0 && p.n_head_kv > 0 && p.n_head % p.n_head_kv == 0);
    KVMIX_ASSERT(0 <= p.head_begin && p.head_begin <= p.head_end && p.head_end <= p.n_head);
    KVMIX_ASSERT(p.n_kv >= 0 && p.head_dim > 0 && p.head_dim_v > 0);
    switch (p.kv_type) {
        case KvElementType::f16: attention_ref_typed(p, p.k, p.v); return;
        case KvElementType::f32: attention_ref_typed(p, p.k_f32, p.v_f32); return;
    }
    KVMIX_ASSERT(false && "unknown KV element type");
}

void attention_merge_ref(const AttentionMergeParams& p) {
    KVMIX_ASSERT(p.n_parts > 0 && 0 <= p.head_begin && p.head_begin <= p.head_end && p.head_end <= p.n_head);
    std::vector<double> num(static_cast<size_t>(p.head_dim_v));
    for (int64_t t = 0; t < p.n_q; ++t) {
        for (int64_t h = p.head_begin; h < p.head_end; ++h) {
            const size_t ml = static_cast<size_t>(t * p.n_head + h);
            const size_t row = static_cast<size_t>(t) * p.acc_stride + static_cast<size_t>(h * p.head_dim_v);
            float* out = p.out + static_cast<size_t>(t) * p.out_stride + static_cast<size_t>(h * p.head_dim_v);
            double mx = -INFINITY;
            bool nan = false;
            for (int64_t i = 0; i < p.n_parts; ++i) {
                const double m = p.m[static_cast<size_t>(i) * p.ml_part_stride + ml];
                nan |= std::isnan(m);
                if (m > mx) mx = m;
            }
            if (nan || mx == -INFINITY) {
                for (int64_t d = 0; d < p.head_dim_v; ++d) out[d] = nan ? NAN : 0.0f;
                continue;
            }
            std::fill(num.begin(), num.end(), 0.0);
            double den = 0.0;
            for (int64_t i = 0; i < p.n_parts; ++i) {
                const size_t ip = static_cast<size_t>(i);
                const double w = std::exp(static_cast<double>(p.m[ip * p.ml_part_stride + ml]) - mx);
                den += w * static_cast<double>(p.l[ip * p.ml_part_stride + ml]);
                const float* acc = p.acc + ip * p.acc_part_stride + row;
                for (int64_t d = 0; d < p.head_dim_v; ++d) num[static_cast<size_t>(d)] += w * static_cast<double>(acc[d]);
            }
            for (int64_t d = 0; d < p.head_dim_v; ++d) out[d] = static_cast<float>(num[static_cast<size_t>(d)] / den);
        }
    }
}

}  // namespace kvmix
