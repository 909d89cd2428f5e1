#include "ref/mixed-attention.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <vector>

#include "common/assert.h"
#include "common/half.h"
#include "common/kv-quant-format.h"
#include "ref/kv-quantize.h"

namespace kvmix {

namespace {

uint16_t load_u16(const uint8_t* p) {
    uint16_t v;
    std::memcpy(&v, p, 2);
    return v;
}

// Element of a quantized run: record `rec`, position i in [0, G).
float dequant_at(const uint8_t* rec, int bits, int i) {
    const KvQuantMeta meta{load_u16(rec), load_u16(rec + 2)};
    const uint8_t* chunk = rec + kvq::kMetaBytes + static_cast<size_t>(i / kvq::kChunkCodes) * kvq::chunk_bytes(bits);
    return kv_dequant_value(kvq::get_code(chunk, bits, i % kvq::kChunkCodes), meta);
}

// Key (kv head hk, segment token i) into k[head_dim], fp32.
void load_key(const MixedAttentionParams& p, const KvSegment& s, int64_t hk, int64_t i, float* k) {
    if (s.k_bits == kvq::kNotQuantized) {
        const uint16_t* row = s.k16 + static_cast<size_t>(hk) * s.k16_head_stride + static_cast<size_t>(i * p.head_dim);
        for (int64_t d = 0; d < p.head_dim; ++d) k[d] = fp16_to_fp32(row[d]);
        return;
    }
    const uint8_t* grp = s.kq + static_cast<size_t>(hk) * s.kq_head_stride + static_cast<size_t>(i / s.group_size) * s.kq_group_stride;
    const size_t rec = kvq::key_record_bytes(s.k_bits, s.group_size);
    for (int64_t d = 0; d < p.head_dim; ++d)
        k[d] = dequant_at(grp + static_cast<size_t>(d) * rec, s.k_bits, static_cast<int>(i % s.group_size));
}

void load_value(const MixedAttentionParams& p, const KvSegment& s, int64_t hk, int64_t i, float* v) {
    if (s.v_bits == kvq::kNotQuantized) {
        const uint16_t* row = s.v16 + static_cast<size_t>(hk) * s.v16_head_stride + static_cast<size_t>(i * p.head_dim_v);
        for (int64_t d = 0; d < p.head_dim_v; ++d) v[d] = fp16_to_fp32(row[d]);
        return;
    }
    const uint8_t* row = s.vq + static_cast<size_t>(hk) * s.vq_head_stride + static_cast<size_t>(i) * s.vq_token_stride;
    dequantize_value_row_ref(row, p.head_dim_v, s.group_size, s.v_bits, v);
}

}  // namespace

void mixed_attention_check_params(const MixedAttentionParams& p) {
    KVMIX_ASSERT(p.n_head > 0 && p.n_head_kv > 0 && p.n_head % p.n_head_kv == 0);
    KVMIX_ASSERT(0 <= p.head_begin && p.head_begin <= p.head_end && p.head_end <= p.n_head);
    KVMIX_ASSERT(p.head_dim > 0 && p.head_dim_v > 0 && p.n_q >= 0 && p.window >= 0);
    KVMIX_ASSERT(p.n_segments >= 0 && (p.n_segments == 0 || p.segments != nullptr));
    int64_t end = INT64_MIN;
    for (int32_t i = 0; i < p.n_segments; ++i) {
        const KvSegment& s = p.segments[i];
        KVMIX_ASSERT(s.n_tokens >= 0 && s.pos0 >= 0 && s.pos0 >= end);
        end = s.pos0 + s.n_tokens;
        const bool kq = s.k_bits != kvq::kNotQuantized, vq = s.v_bits != kvq::kNotQuantized;
        KVMIX_ASSERT(!kq || kvq::valid_bits(s.k_bits));
        KVMIX_ASSERT(!vq || kvq::valid_bits(s.v_bits));
        if (kq || vq) KVMIX_ASSERT(kvq::valid_group(s.group_size));
        if (kq) KVMIX_ASSERT(s.n_tokens % s.group_size == 0);
        if (vq) KVMIX_ASSERT(kvq::value_row_supported(s.group_size, p.head_dim_v));
        if (s.n_tokens > 0) {
            KVMIX_ASSERT(kq ? s.kq != nullptr : s.k16 != nullptr);
            KVMIX_ASSERT(vq ? s.vq != nullptr : s.v16 != nullptr);
        }
    }
}

int64_t mixed_attention_legal_cut(const KvSegment* segments, int32_t n_segments, int64_t x) {
    for (int32_t i = 0; i < n_segments; ++i) {
        const KvSegment& s = segments[i];
        const bool quant = s.k_bits != kvq::kNotQuantized || s.v_bits != kvq::kNotQuantized;
        if (quant && x > s.pos0 && x < s.pos0 + s.n_tokens) return s.pos0 + (x - s.pos0) / s.group_size * s.group_size;
    }
    return x;
}

void mixed_attention_clip_segments(const KvSegment* segments, int32_t n_segments, int64_t begin, int64_t end,
                                   int64_t head_dim, int64_t head_dim_v, std::vector<KvSegment>& out) {
    out.clear();
    for (int32_t i = 0; i < n_segments; ++i) {
        KvSegment s = segments[i];
        const int64_t a = std::max(begin, s.pos0), b = std::min(end, s.pos0 + s.n_tokens);
        if (a >= b) continue;
        const int64_t skip = a - s.pos0;
        const bool kq = s.k_bits != kvq::kNotQuantized, vq = s.v_bits != kvq::kNotQuantized;
        if (kq || vq) KVMIX_ASSERT(skip % s.group_size == 0 && (b == s.pos0 + s.n_tokens || (b - s.pos0) % s.group_size == 0));
        if (kq) {
            s.kq += static_cast<size_t>(skip / s.group_size) * s.kq_group_stride;
        } else if (s.k16 != nullptr) {
            s.k16 += static_cast<size_t>(skip * head_dim);
        }
        if (vq) {
            s.vq += static_cast<size_t>(skip) * s.vq_token_stride;
        } else if (s.v16 != nullptr) {
            s.v16 += static_cast<size_t>(skip * head_dim_v);
        }
        s.pos0 = a;
        s.n_tokens = b - a;
        out.push_back(s);
    }
}

void mixed_attention_ref(const MixedAttentionParams& p) {
    mixed_attention_check_params(p);
    const int64_t group = p.n_head / p.n_head_kv;
    std::vector<double> s, acc(static_cast<size_t>(p.head_dim_v));
    std::vector<float> k(static_cast<size_t>(p.head_dim)), v(static_cast<size_t>(p.head_dim_v));
    struct Visible {
        int32_t seg;
        int64_t i;
    };
    std::vector<Visible> vis;
    for (int64_t t = 0; t < p.n_q; ++t) {
        const int64_t pos = p.q_pos[t];
        vis.clear();
        for (int32_t si = 0; si < p.n_segments; ++si) {
            const KvSegment& sg = p.segments[si];
            for (int64_t i = 0; i < sg.n_tokens; ++i) {
                const int64_t j = sg.pos0 + i;
                if (j <= pos && (p.window == 0 || pos - j < p.window)) vis.push_back({si, i});
            }
        }
        s.resize(vis.size());
        for (int64_t h = p.head_begin; h < p.head_end; ++h) {
            const float* q = p.q + static_cast<size_t>(t) * p.q_stride + static_cast<size_t>(h * p.head_dim);
            float* out = p.out + static_cast<size_t>(t) * p.out_stride + static_cast<size_t>(h * p.head_dim_v);
            const int64_t hk = h / group;
            const size_t ml = static_cast<size_t>(t * p.n_head + h);
            if (vis.empty()) {
                std::fill(out, out + p.head_dim_v, 0.0f);
                if (p.part_m != nullptr) {
                    p.part_m[ml] = -INFINITY;
                    p.part_l[ml] = 0.0f;
                }
                continue;
            }
            double mx = -INFINITY;
            bool nan = false;
            for (size_t n = 0; n < vis.size(); ++n) {
                load_key(p, p.segments[vis[n].seg], hk, vis[n].i, k.data());
                double dot = 0.0;
                for (int64_t d = 0; d < p.head_dim; ++d) dot += static_cast<double>(q[d]) * k[static_cast<size_t>(d)];
                double sc = static_cast<double>(p.scale) * dot;
                if (p.softcap > 0.0f) sc = p.softcap * std::tanh(sc / p.softcap);
                s[n] = sc;
                nan |= std::isnan(sc);
                mx = std::max(mx, sc);
            }
            std::fill(acc.begin(), acc.end(), 0.0);
            double sum = 0.0;
            for (size_t n = 0; n < vis.size(); ++n) {
                const double e = nan ? NAN : std::exp(s[n] - mx);
                sum += e;
                load_value(p, p.segments[vis[n].seg], hk, vis[n].i, v.data());
                for (int64_t d = 0; d < p.head_dim_v; ++d) acc[static_cast<size_t>(d)] += e * v[static_cast<size_t>(d)];
            }
            if (p.part_m != nullptr) {
                p.part_m[ml] = static_cast<float>(mx);
                p.part_l[ml] = static_cast<float>(sum);
                for (int64_t d = 0; d < p.head_dim_v; ++d) out[d] = static_cast<float>(acc[static_cast<size_t>(d)]);
                continue;
            }
            for (int64_t d = 0; d < p.head_dim_v; ++d) out[d] = static_cast<float>(acc[static_cast<size_t>(d)] / sum);
        }
    }
}

}  // namespace kvmix
