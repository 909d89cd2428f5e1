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

namespace {

// The int8 query of one row for one key group (see mixed_attention_int8q_ref): qi [head_dim],
// d [blocks], and the min term qm.
struct Int8Query {
    std::vector<int8_t> qi, qi2;  // query, residual
    std::vector<float> d, d2;
    double qm = 0.0;
};

// x (finite) -> qi = round-half-even(x · (127 / max|x|)); returns d = max|x| / 127 (0 when all
// zero); res = x - d·qi (fused).
float quantize_i8(const float* x, int64_t n, int8_t* qi, float* res) {
    float a = 0.0f;
    for (int64_t c = 0; c < n; ++c) a = std::max(a, std::fabs(x[c]));
    if (a == 0.0f) {
        for (int64_t c = 0; c < n; ++c) {
            qi[c] = 0;
            res[c] = 0.0f;
        }
        return 0.0f;
    }
    const float d = a / 127.0f, inv = 127.0f / a;
    for (int64_t c = 0; c < n; ++c) {
        qi[c] = static_cast<int8_t>(std::nearbyint(x[c] * inv));
        res[c] = std::fma(-d, static_cast<float>(qi[c]), x[c]);
    }
    return d;
}

void quantize_query(const MixedAttentionParams& p, const KvSegment& s, const uint8_t* grp, const float* q, Int8Query& out) {
    const size_t rec = kvq::key_record_bytes(s.k_bits, s.group_size);
    out.qi.assign(static_cast<size_t>(p.head_dim), 0);
    out.qi2.assign(static_cast<size_t>(p.head_dim), 0);
    out.d.clear();
    out.d2.clear();
    out.qm = 0.0;
    std::vector<float> qs(static_cast<size_t>(p.head_dim));
    for (int64_t d = 0; d < p.head_dim; ++d) {
        const uint8_t* rc = grp + static_cast<size_t>(d) * rec;
        qs[static_cast<size_t>(d)] = q[d] * fp16_to_fp32(load_u16(rc));
        out.qm += static_cast<double>(q[d]) * fp16_to_fp32(load_u16(rc + 2));
    }
    const bool residual = p.query_residual || s.k_bits == 8;
    std::vector<float> res(static_cast<size_t>(kMixedQueryBlock)), unused(res.size());
    for (int64_t c0 = 0; c0 < p.head_dim; c0 += kMixedQueryBlock) {
        const int64_t c1 = std::min<int64_t>(p.head_dim, c0 + kMixedQueryBlock);
        bool finite = true;
        for (int64_t c = c0; c < c1; ++c) finite &= std::isfinite(qs[static_cast<size_t>(c)]);
        if (!finite) {
            out.d.push_back(NAN);
            out.d2.push_back(0.0f);
            continue;
        }
        out.d.push_back(quantize_i8(qs.data() + c0, c1 - c0, out.qi.data() + c0, res.data()));
        out.d2.push_back(residual ? quantize_i8(res.data(), c1 - c0, out.qi2.data() + c0, unused.data()) : 0.0f);
    }
}

// q·k of segment token i of a quantized key segment with the int8 query of its group.
double int8_key_dot(const MixedAttentionParams& p, const KvSegment& s, const uint8_t* grp, int64_t i, const Int8Query& iq) {
    const size_t rec = kvq::key_record_bytes(s.k_bits, s.group_size);
    const int ig = static_cast<int>(i % s.group_size);
    double dot = iq.qm;
    for (int64_t c0 = 0; c0 < p.head_dim; c0 += kMixedQueryBlock) {
        const int64_t c1 = std::min<int64_t>(p.head_dim, c0 + kMixedQueryBlock);
        int64_t isum = 0, isum2 = 0;
        for (int64_t c = c0; c < c1; ++c) {
            const uint8_t* chunk = grp + static_cast<size_t>(c) * rec + kvq::kMetaBytes +
                                   static_cast<size_t>(ig / kvq::kChunkCodes) * kvq::chunk_bytes(s.k_bits);
            const int64_t code = kvq::get_code(chunk, s.k_bits, ig % kvq::kChunkCodes);
            isum += iq.qi[static_cast<size_t>(c)] * code;
            isum2 += iq.qi2[static_cast<size_t>(c)] * code;
        }
        const size_t b = static_cast<size_t>(c0 / kMixedQueryBlock);
        dot += static_cast<double>(iq.d[b]) * static_cast<double>(isum) + static_cast<double>(iq.d2[b]) * static_cast<double>(isum2);
    }
    return dot;
}

struct Visible {
    int32_t seg;
    int64_t i;
};

// Quantized p·v over the visible tokens vis[0 .. e.size()) of one 32-token block of a quantized
// value segment, weights e (see mixed_attention_int8q_ref): per channel group, ws_t = fp32(e_t)·s_t
// quantized to int16 (one scale per block and group), acc_d += d·Σ qi_t·code_td + Σ e_t·m_t.
void int8_value_block(const MixedAttentionParams& p, const KvSegment& sg, int64_t hk, const Visible* vis, const std::vector<double>& e,
                      std::vector<double>& acc) {
    const size_t rec = kvq::value_record_bytes(sg.v_bits, sg.group_size);
    const size_t nt = e.size();
    std::vector<float> ws(nt);
    std::vector<int16_t> qi(nt);
    for (int64_t cg = 0; cg < p.head_dim_v / sg.group_size; ++cg) {
        float a = 0.0f;
        bool finite = true;
        for (size_t k = 0; k < nt; ++k) {
            const uint8_t* rc = sg.vq + static_cast<size_t>(hk) * sg.vq_head_stride + static_cast<size_t>(vis[k].i) * sg.vq_token_stride +
                                static_cast<size_t>(cg) * rec;
            ws[k] = static_cast<float>(e[k]) * fp16_to_fp32(load_u16(rc));
            const double m = fp16_to_fp32(load_u16(rc + 2));
            for (int64_t d = cg * sg.group_size; d < (cg + 1) * sg.group_size; ++d) acc[static_cast<size_t>(d)] += e[k] * m;
            finite &= std::isfinite(ws[k]);
            a = std::max(a, std::fabs(ws[k]));
        }
        const float qmax = static_cast<float>(kMixedValueQMax);
        const float dq = !finite ? NAN : a / qmax;
        std::fill(qi.begin(), qi.end(), int16_t{0});
        if (finite && a > 0.0f) {
            const float inv = qmax / a;
            for (size_t k = 0; k < nt; ++k) qi[k] = static_cast<int16_t>(std::nearbyint(ws[k] * inv));
        }
        for (int64_t d = cg * sg.group_size; d < (cg + 1) * sg.group_size; ++d) {
            const int ig = static_cast<int>(d - cg * sg.group_size);
            int64_t isum = 0;
            for (size_t k = 0; k < nt; ++k) {
                const uint8_t* chunk = sg.vq + static_cast<size_t>(hk) * sg.vq_head_stride + static_cast<size_t>(vis[k].i) * sg.vq_token_stride +
                                       static_cast<size_t>(cg) * rec + kvq::kMetaBytes +
                                       static_cast<size_t>(ig / kvq::kChunkCodes) * kvq::chunk_bytes(sg.v_bits);
                isum += static_cast<int64_t>(qi[k]) * kvq::get_code(chunk, sg.v_bits, ig % kvq::kChunkCodes);
            }
            acc[static_cast<size_t>(d)] += static_cast<double>(dq) * static_cast<double>(isum);
        }
    }
}

void mixed_attention_impl(const MixedAttentionParams& p, bool int8_query) {
    mixed_attention_check_params(p);
    const int64_t group = p.n_head / p.n_head_kv;
    std::vector<double> s, acc(static_cast<size_t>(p.head_dim_v));
    std::vector<float> k(static_cast<size_t>(p.head_dim)), v(static_cast<size_t>(p.head_dim_v));
    std::vector<Visible> vis;
    std::vector<double> e;
    Int8Query iq;
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
            int32_t iq_seg = -1;
            int64_t iq_group = -1;
            for (size_t n = 0; n < vis.size(); ++n) {
                const KvSegment& sg = p.segments[vis[n].seg];
                double dot = 0.0;
                if (int8_query && sg.k_bits != kvq::kNotQuantized) {
                    const int64_t gi = vis[n].i / sg.group_size;
                    const uint8_t* grp = sg.kq + static_cast<size_t>(hk) * sg.kq_head_stride + static_cast<size_t>(gi) * sg.kq_group_stride;
                    if (vis[n].seg != iq_seg || gi != iq_group) {
                        quantize_query(p, sg, grp, q, iq);
                        iq_seg = vis[n].seg;
                        iq_group = gi;
                    }
                    dot = int8_key_dot(p, sg, grp, vis[n].i, iq);
                } else {
                    load_key(p, sg, hk, vis[n].i, k.data());
                    for (int64_t d = 0; d < p.head_dim; ++d) dot += static_cast<double>(q[d]) * k[static_cast<size_t>(d)];
                }
                double sc = static_cast<double>(p.scale) * dot;
                if (p.softcap > 0.0f) sc = p.softcap * std::tanh(sc / p.softcap);
                s[n] = sc;
                nan |= std::isnan(sc);
                mx = std::max(mx, sc);
            }
            std::fill(acc.begin(), acc.end(), 0.0);
            double sum = 0.0;
            for (size_t n = 0; n < vis.size();) {
                const KvSegment& sg = p.segments[vis[n].seg];
                if (int8_query && sg.v_bits != kvq::kNotQuantized) {
                    // The visible tokens of one 32-token block of the segment.
                    size_t n1 = n;
                    while (n1 < vis.size() && vis[n1].seg == vis[n].seg && vis[n1].i / kvq::kChunkCodes == vis[n].i / kvq::kChunkCodes) ++n1;
                    e.resize(n1 - n);
                    for (size_t u = n; u < n1; ++u) {
                        e[u - n] = nan ? NAN : std::exp(s[u] - mx);
                        sum += e[u - n];
                    }
                    int8_value_block(p, sg, hk, vis.data() + n, e, acc);
                    n = n1;
                    continue;
                }
                const double ex = nan ? NAN : std::exp(s[n] - mx);
                sum += ex;
                load_value(p, sg, hk, vis[n].i, v.data());
                for (int64_t d = 0; d < p.head_dim_v; ++d) acc[static_cast<size_t>(d)] += ex * v[static_cast<size_t>(d)];
                ++n;
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

}  // namespace

void mixed_attention_ref(const MixedAttentionParams& p) { mixed_attention_impl(p, false); }

void mixed_attention_int8q_ref(const MixedAttentionParams& p) { mixed_attention_impl(p, true); }

}  // namespace kvmix
