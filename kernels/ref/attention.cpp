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
    for (int64_t t = 0; t < p.n_q; ++t) {
        const int64_t pos = p.q_pos[t];
        // Visible slots: [lo, hi).
        const int64_t hi = std::min<int64_t>(pos + 1, p.n_kv);
        const int64_t lo = p.window > 0 ? std::max<int64_t>(0, pos - p.window + 1) : 0;
        for (int64_t h = p.head_begin; h < p.head_end; ++h) {
            const float* q = p.q + static_cast<size_t>(t) * p.q_stride + static_cast<size_t>(h * p.head_dim);
            float* out = p.out + static_cast<size_t>(t) * p.out_stride + static_cast<size_t>(h * p.head_dim_v);
            const int64_t hk = h / group;
            const T* kh = k + static_cast<size_t>(hk) * p.k_head_stride;
            const T* vh = v + static_cast<size_t>(hk) * p.v_head_stride;
            std::fill(acc.begin(), acc.end(), 0.0);
            if (lo >= hi) {
                for (int64_t d = 0; d < p.head_dim_v; ++d) out[d] = 0.0f;
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

}  // namespace kvmix
