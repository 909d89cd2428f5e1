#include "profile/kv-gradients.h"

#include <algorithm>
#include <cmath>
#include <string>
#include <utility>

#include "common/assert.h"
#include "cpu/attention-grad.h"
#include "cpu/matmul-grad.h"
#include "cpu/matmul-packed.h"
#include "ref/dequantize.h"
#include "ref/glu-grad.h"
#include "ref/rms-norm-grad.h"
#include "ref/rope-grad.h"

namespace kvmix {

namespace {

using Buf = std::vector<float>;

size_t sz(int64_t n) { return static_cast<size_t>(n); }

// Activations of one layer for T tokens: from its forward, kept for the backward or
// recomputed from the layer's input checkpoint.
struct LayerActs {
    Buf xn, q0, k0, v, q, k, kh, vh, o, a0, x2, hn, g, u, m, f0;
};

class GradPass {
public:
    GradPass(const Model& model, CpuBackend& be, int64_t T, size_t kept_bytes)
        : m_(model), hp_(model.hparams()), be_(be), T_(T), kept_bytes_(kept_bytes) {
        E_ = hp_.n_embd;
        H_ = hp_.n_head;
        HKV_ = hp_.n_head_kv;
        D_ = hp_.head_dim;
        DV_ = hp_.head_dim_v;
        F_ = hp_.n_ff;
        pos_.resize(sz(T));
        for (int64_t t = 0; t < T; ++t) pos_[sz(t)] = static_cast<int32_t>(t);
    }

    Expected<KvGradientNorms> run(std::span<const int32_t> tokens, const std::atomic<bool>* cancel);

private:
    void layer_forward(uint32_t il, const float* x_in, LayerActs& a, float* x_out);
    void layer_backward(uint32_t il, const float* x_in, LayerActs& a, Buf& dx, double& gk, double& gv, bool need_dx);
    // Moves what layer_backward reads out of `a` into `kept` (the rest is reused by the next
    // layer's forward) except xn, which the backward recomputes from x_in for a few flops;
    // with `bytes_only` just returns the bytes that would be kept.
    size_t keep(uint32_t il, LayerActs& a, LayerActs& kept, bool bytes_only) const;
    double head_backward(const float* h, Buf& dh, std::span<const int32_t> tokens);

    void rms_norm(const float* x, float* y, int64_t rows, int64_t n, const std::vector<float>& w) {
        be_.rms_norm(x, y, rows, n, w.data(), hp_.norm_weight_offset, hp_.rms_eps);
    }
    // dx = rms_norm backward (dx may alias dy).
    void rms_norm_grad(const float* x, const float* dy, float* dx, int64_t rows, int64_t n, const std::vector<float>& w);
    // y[T, n_out] = x[T, n_in] · Wᵀ through the many-row kernel (the engine's is tuned for
    // few rows).
    void matmul(const TensorView& w, const float* x, float* y) { be_.matmul_packed(w, x, T_, y); }
    // dx[T, n_in] (+)= dy[T, n_out] · W, W dequantized tile by tile inside the kernel; rows
    // split across the pool.
    void grad_x(const TensorView& w, const float* dy, float* dx, bool accumulate);
    // ‖dyᵀ · x‖_F for dy [T, n_out], x [T, n_in].
    double weight_grad_norm(const float* dy, int64_t n_out, const float* x, int64_t n_in);
    void rope_grad(float* g, int64_t n_head, const RopeConfig& cfg);

    const Model& m_;
    const ModelHParams& hp_;
    CpuBackend& be_;
    int64_t T_;
    size_t kept_bytes_;
    int64_t E_ = 0, H_ = 0, HKV_ = 0, D_ = 0, DV_ = 0, F_ = 0;
    std::vector<int32_t> pos_;
    Buf tmp_, tmp2_;
};

void GradPass::grad_x(const TensorView& w, const float* dy, float* dx, bool accumulate) {
    MatmulGradParams p;
    p.dy = dy;
    p.w = w.data;
    p.w_type = w.type;
    p.out = dx;
    p.m = T_;
    p.k = static_cast<int64_t>(w.ne[0]);
    p.n = static_cast<int64_t>(w.ne[1]);
    p.accumulate = accumulate;
    be_.pool().parallel_for(T_, 4, [&](int64_t b, int64_t e) {
        MatmulGradParams s = p;
        s.row_begin = b;
        s.row_end = e;
        matmul_grad_x_cpu(s);
    });
}

double GradPass::weight_grad_norm(const float* dy, int64_t n_out, const float* x, int64_t n_in) {
    MatmulGradParams p;
    p.dy = dy;
    p.x = x;
    p.m = T_;
    p.k = n_in;
    p.n = n_out;
    tmp_.resize(sz(n_out * n_in));
    p.out = tmp_.data();
    be_.pool().parallel_for(n_out, 4, [&](int64_t b, int64_t e) {
        MatmulGradParams s = p;
        s.row_begin = b;
        s.row_end = e;
        matmul_grad_w_cpu(s);
    });
    double ss = 0;
    for (float g : tmp_) ss += static_cast<double>(g) * g;
    return std::sqrt(ss);
}

void GradPass::rms_norm_grad(const float* x, const float* dy, float* dx, int64_t rows, int64_t n, const std::vector<float>& w) {
    RmsNormGradParams p;
    p.x = x;
    p.dy = dy;
    p.dx = dx;
    p.stride = sz(n);
    p.w = w.empty() ? nullptr : w.data();
    p.w_offset = hp_.norm_weight_offset;
    p.eps = hp_.rms_eps;
    p.n = n;
    be_.pool().parallel_for(rows, 1, [&](int64_t b, int64_t e) {
        RmsNormGradParams s = p;
        s.row_begin = b;
        s.row_end = e;
        rms_norm_grad_ref(s);
    });
}

void GradPass::rope_grad(float* g, int64_t n_head, const RopeConfig& cfg) {
    RopeParams p;
    p.x = g;
    p.token_stride = sz(n_head * D_);
    p.head_stride = sz(D_);
    p.n_head = n_head;
    p.head_dim = D_;
    p.n_rot = cfg.n_rot;
    p.positions = pos_.data();
    p.base = cfg.base;
    p.freq_scale = cfg.freq_scale;
    p.freq_factors = cfg.freq_factors;
    p.interleaved = cfg.interleaved;
    be_.pool().parallel_for(T_, 1, [&](int64_t b, int64_t e) {
        RopeParams s = p;
        s.token_begin = b;
        s.token_end = e;
        rope_grad_ref(s);
    });
}

// [T, nh, d] <-> [nh, T, d]
void to_head_major(const float* src, int64_t T, int64_t nh, int64_t d, float* dst) {
    for (int64_t t = 0; t < T; ++t)
        for (int64_t h = 0; h < nh; ++h) std::copy_n(src + (t * nh + h) * d, d, dst + (h * T + t) * d);
}
void to_token_major(const float* src, int64_t T, int64_t nh, int64_t d, float* dst) {
    for (int64_t t = 0; t < T; ++t)
        for (int64_t h = 0; h < nh; ++h) std::copy_n(src + (h * T + t) * d, d, dst + (t * nh + h) * d);
}

float attention_scale(const ModelHParams& hp) {
    return hp.attention_scale > 0 ? hp.attention_scale : 1.0f / std::sqrt(static_cast<float>(hp.head_dim));
}

void GradPass::layer_forward(uint32_t il, const float* x_in, LayerActs& a, float* x_out) {
    const LayerWeights& L = m_.layer(il);
    const int64_t T = T_;
    auto fit = [](Buf& b, int64_t n) { b.resize(sz(n)); };
    fit(a.xn, T * E_), fit(a.q0, T * H_ * D_), fit(a.k0, T * HKV_ * D_), fit(a.v, T * HKV_ * DV_);
    fit(a.q, T * H_ * D_), fit(a.k, T * HKV_ * D_), fit(a.kh, T * HKV_ * D_), fit(a.vh, T * HKV_ * DV_);
    fit(a.o, T * H_ * DV_), fit(a.a0, T * E_), fit(a.x2, T * E_), fit(a.hn, T * E_);
    fit(a.g, T * F_), fit(a.u, T * F_), fit(a.m, T * F_), fit(a.f0, T * E_);

    rms_norm(x_in, a.xn.data(), T, E_, L.attn_norm);
    matmul(*L.wq, a.xn.data(), a.q0.data());
    matmul(*L.wk, a.xn.data(), a.k0.data());
    matmul(*L.wv, a.xn.data(), a.v.data());
    // Biases shift the activations the backward linearizes around; ∂L/∂W does not involve them.
    add_bias(a.q0.data(), T, L.bq);
    add_bias(a.k0.data(), T, L.bk);
    add_bias(a.v.data(), T, L.bv);
    if (!L.q_norm.empty()) {
        rms_norm(a.q0.data(), a.q.data(), T * H_, D_, L.q_norm);
        rms_norm(a.k0.data(), a.k.data(), T * HKV_, D_, L.k_norm);
    } else {
        a.q = a.q0;
        a.k = a.k0;
    }
    be_.rope(a.q.data(), T, H_, D_, pos_.data(), L.rope);
    be_.rope(a.k.data(), T, HKV_, D_, pos_.data(), L.rope);
    to_head_major(a.k.data(), T, HKV_, D_, a.kh.data());
    to_head_major(a.v.data(), T, HKV_, DV_, a.vh.data());

    AttentionParams p;
    p.q = a.q.data();
    p.q_stride = sz(H_ * D_);
    p.kv_type = KvElementType::f32;
    p.k_f32 = a.kh.data();
    p.k_head_stride = sz(T * D_);
    p.v_f32 = a.vh.data();
    p.v_head_stride = sz(T * DV_);
    p.out = a.o.data();
    p.out_stride = sz(H_ * DV_);
    p.n_q = T;
    p.n_head = H_;
    p.n_head_kv = HKV_;
    p.head_dim = D_;
    p.head_dim_v = DV_;
    p.n_kv = T;
    p.q_pos = pos_.data();
    p.window = L.window;
    p.scale = attention_scale(hp_);
    p.softcap = hp_.attn_logit_softcap;
    be_.attention(p);

    matmul(*L.wo, a.o.data(), a.a0.data());
    const float* attn_out = a.a0.data();
    Buf& post = tmp2_;
    if (!L.post_attn_norm.empty()) {
        post.resize(sz(T * E_));
        rms_norm(a.a0.data(), post.data(), T, E_, L.post_attn_norm);
        attn_out = post.data();
    }
    for (size_t i = 0; i < sz(T * E_); ++i) a.x2[i] = x_in[i] + attn_out[i];

    rms_norm(a.x2.data(), a.hn.data(), T, E_, L.ffn_norm);
    matmul(*L.gate, a.hn.data(), a.g.data());
    matmul(*L.up, a.hn.data(), a.u.data());
    a.m = a.g;
    be_.glu(a.m.data(), a.u.data(), T, F_, hp_.activation == Activation::silu ? GluActivation::silu : GluActivation::gelu_tanh);
    matmul(*L.down, a.m.data(), a.f0.data());
    const float* ffn_out = a.f0.data();
    if (!L.post_ffw_norm.empty()) {
        post.resize(sz(T * E_));
        rms_norm(a.f0.data(), post.data(), T, E_, L.post_ffw_norm);
        ffn_out = post.data();
    }
    if (x_out)
        for (size_t i = 0; i < sz(T * E_); ++i) x_out[i] = a.x2[i] + ffn_out[i];
}

void GradPass::layer_backward(uint32_t il, const float* x_in, LayerActs& a, Buf& dx, double& gk, double& gv, bool need_dx) {
    const LayerWeights& L = m_.layer(il);
    const int64_t T = T_;
    if (a.xn.empty()) {
        a.xn.resize(sz(T * E_));
        rms_norm(x_in, a.xn.data(), T, E_, L.attn_norm);
    }
    // dx holds ∂L/∂x_out on entry; the residual passes it to x2 unchanged.
    Buf d2 = dx;  // ∂L/∂x2 accumulates the FFN branch below
    Buf df(sz(T * E_));
    if (!L.post_ffw_norm.empty()) rms_norm_grad(a.f0.data(), dx.data(), df.data(), T, E_, L.post_ffw_norm);
    else df = dx;
    Buf dm(sz(T * F_)), dg(sz(T * F_)), du(sz(T * F_));
    grad_x(*L.down, df.data(), dm.data(), false);
    GluGradParams gp;
    gp.gate = a.g.data();
    gp.up = a.u.data();
    gp.dout = dm.data();
    gp.dgate = dg.data();
    gp.dup = du.data();
    gp.stride = sz(F_);
    gp.n = F_;
    gp.act = hp_.activation == Activation::silu ? GluActivation::silu : GluActivation::gelu_tanh;
    be_.pool().parallel_for(T, 1, [&](int64_t b, int64_t e) {
        GluGradParams s = gp;
        s.row_begin = b;
        s.row_end = e;
        glu_grad_ref(s);
    });
    Buf dhn(sz(T * E_));
    grad_x(*L.gate, dg.data(), dhn.data(), false);
    grad_x(*L.up, du.data(), dhn.data(), true);
    rms_norm_grad(a.x2.data(), dhn.data(), dhn.data(), T, E_, L.ffn_norm);
    for (size_t i = 0; i < sz(T * E_); ++i) d2[i] += dhn[i];

    // Attention branch.
    Buf da0(sz(T * E_));
    if (!L.post_attn_norm.empty()) rms_norm_grad(a.a0.data(), d2.data(), da0.data(), T, E_, L.post_attn_norm);
    else da0 = d2;
    Buf dout(sz(T * H_ * DV_));
    grad_x(*L.wo, da0.data(), dout.data(), false);

    // Per-query-head dK/dV so heads run in parallel; summed per kv group afterwards.
    Buf dkh(sz(H_ * T * D_), 0.0f), dvh(sz(H_ * T * DV_), 0.0f), dq(sz(T * H_ * D_));
    AttentionGradParams ap;
    ap.q = a.q.data();
    ap.q_stride = sz(H_ * D_);
    ap.k = a.kh.data();
    ap.k_head_stride = sz(T * D_);
    ap.v = a.vh.data();
    ap.v_head_stride = sz(T * DV_);
    ap.dout = dout.data();
    ap.dout_stride = sz(H_ * DV_);
    ap.dq = dq.data();
    ap.dk = dkh.data();
    ap.dv = dvh.data();
    ap.per_query_head_grads = true;
    ap.n_q = T;
    ap.n_head = H_;
    ap.n_head_kv = HKV_;
    ap.head_dim = D_;
    ap.head_dim_v = DV_;
    ap.n_kv = T;
    ap.q_pos = pos_.data();
    ap.window = L.window;
    ap.scale = attention_scale(hp_);
    ap.softcap = hp_.attn_logit_softcap;
    be_.pool().parallel_for(H_, 1, [&](int64_t b, int64_t e) {
        AttentionGradParams s = ap;
        s.head_begin = b;
        s.head_end = e;
        attention_grad_cpu(s);
    });
    const int64_t group = H_ / HKV_;
    Buf dk_sum(sz(HKV_ * T * D_), 0.0f), dv_sum(sz(HKV_ * T * DV_), 0.0f);
    for (int64_t h = 0; h < H_; ++h) {
        const int64_t hk = h / group;
        for (int64_t i = 0; i < T * D_; ++i) dk_sum[sz(hk * T * D_ + i)] += dkh[sz(h * T * D_ + i)];
        for (int64_t i = 0; i < T * DV_; ++i) dv_sum[sz(hk * T * DV_ + i)] += dvh[sz(h * T * DV_ + i)];
    }
    Buf dk(sz(T * HKV_ * D_)), dv(sz(T * HKV_ * DV_));
    to_token_major(dk_sum.data(), T, HKV_, D_, dk.data());
    to_token_major(dv_sum.data(), T, HKV_, DV_, dv.data());
    rope_grad(dq.data(), H_, L.rope);
    rope_grad(dk.data(), HKV_, L.rope);
    if (!L.q_norm.empty()) {
        rms_norm_grad(a.q0.data(), dq.data(), dq.data(), T * H_, D_, L.q_norm);
        rms_norm_grad(a.k0.data(), dk.data(), dk.data(), T * HKV_, D_, L.k_norm);
    }
    gk = weight_grad_norm(dk.data(), HKV_ * D_, a.xn.data(), E_);
    gv = weight_grad_norm(dv.data(), HKV_ * DV_, a.xn.data(), E_);
    if (!need_dx) return;
    Buf dxn(sz(T * E_));
    grad_x(*L.wq, dq.data(), dxn.data(), false);
    grad_x(*L.wk, dk.data(), dxn.data(), true);
    grad_x(*L.wv, dv.data(), dxn.data(), true);
    rms_norm_grad(x_in, dxn.data(), dxn.data(), T, E_, L.attn_norm);
    for (size_t i = 0; i < sz(T * E_); ++i) dx[i] = d2[i] + dxn[i];
}

// Output head over vocabulary tiles in ONE pass, flash-softmax style: per row a running
// max m, S = Σ exp(z − m) and A = Σ exp(z − m) · softcap'(a) · W_v, rescaled when m grows,
// so ∂L/∂h = (A / S − softcap'(a_label) · W_label) / N without [T, n_vocab] logits or a
// second pass. Each thread owns whole tiles and its own (m, S, A); they are merged at the
// end. Returns the loss.
double GradPass::head_backward(const float* h, Buf& dh, std::span<const int32_t> tokens) {
    const TensorView& W = m_.output();
    const int64_t N = T_ - 1;  // rows with a label
    const auto V = static_cast<int64_t>(W.ne[1]);
    const TensorTypeTraits& traits = tensor_type_traits(W.type);
    const size_t row_bytes = sz(E_ / traits.block_elems * traits.block_bytes);
    constexpr int64_t kTile = 144;  // 6 strips of 24 for the packed and grad_x kernels
    const int64_t n_tiles = (V + kTile - 1) / kTile;
    const int n_slots = static_cast<int>(std::min<int64_t>(be_.n_threads(), n_tiles));
    const float softcap = hp_.final_logit_softcap;
    const int32_t* labels = tokens.data() + 1;

    struct Slot {
        std::vector<double> m, s;
        Buf acc;
    };
    std::vector<Slot> slots(sz(n_slots));
    std::vector<double> z_label(sz(N), 0.0), dcap_label(sz(N), 1.0);
    be_.pool().parallel_for(n_slots, 1, [&](int64_t b, int64_t e) {
        Buf logits(sz(N * kTile));
        for (int64_t si = b; si < e; ++si) {
            Slot& st = slots[sz(si)];
            st.m.assign(sz(N), -INFINITY);
            st.s.assign(sz(N), 0.0);
            st.acc.assign(sz(N * E_), 0.0f);
            for (int64_t tile = n_tiles * si / n_slots; tile < n_tiles * (si + 1) / n_slots; ++tile) {
                const int64_t v0 = tile * kTile, nv = std::min(kTile, V - v0);
                MatmulParams p;
                p.w_type = W.type;
                p.w = W.data + sz(v0) * row_bytes;
                p.w_row_bytes = row_bytes;
                p.x = h;
                p.x_stride = sz(E_);
                p.y = logits.data();
                p.y_stride = sz(nv);
                p.m = N;
                p.k = E_;
                p.n = nv;
                p.n_begin = 0;
                p.n_end = nv;
                matmul_packed_cpu(p);
                for (int64_t r = 0; r < N; ++r) {
                    float* a = logits.data() + r * nv;
                    if (softcap > 0)
                        for (int64_t i = 0; i < nv; ++i) a[i] = softcap * std::tanh(a[i] / softcap);  // z
                    const int64_t label = labels[r] - v0;
                    if (label >= 0 && label < nv) {
                        z_label[sz(r)] = a[label];
                        if (softcap > 0) dcap_label[sz(r)] = 1.0 - (a[label] / softcap) * (a[label] / softcap);
                    }
                    float mt = -INFINITY;
                    for (int64_t i = 0; i < nv; ++i) mt = std::max(mt, a[i]);
                    double& m = st.m[sz(r)];
                    if (mt > m) {
                        const double scale = std::exp(m - mt);
                        st.s[sz(r)] *= scale;
                        float* ar = st.acc.data() + r * E_;
                        for (int64_t i = 0; i < E_; ++i) ar[i] = static_cast<float>(ar[i] * scale);
                        m = mt;
                    }
                    double sum = 0;
                    const auto mf = static_cast<float>(m);
                    for (int64_t i = 0; i < nv; ++i) {
                        const float ev = std::exp(a[i] - mf);
                        sum += ev;
                        // softcap'(a) = 1 − tanh²(a / c) = 1 − (z / c)².
                        a[i] = softcap > 0 ? ev * (1.0f - (a[i] / softcap) * (a[i] / softcap)) : ev;
                    }
                    st.s[sz(r)] += sum;
                }
                // acc[N, E] += weights[N, nv] · Wtile[nv, E].
                MatmulGradParams g;
                g.dy = logits.data();
                g.w = W.data + sz(v0) * row_bytes;
                g.w_type = W.type;
                g.out = st.acc.data();
                g.m = N;
                g.k = E_;
                g.n = nv;
                g.row_end = N;
                g.accumulate = true;
                matmul_grad_x_cpu(g);
            }
        }
    });
    dh.assign(sz(T_ * E_), 0.0f);
    const double w = 1.0 / static_cast<double>(N);
    double loss = 0;
    Buf wlabel(sz(E_));
    for (int64_t r = 0; r < N; ++r) {
        double m = -INFINITY;
        for (const Slot& st : slots) m = std::max(m, st.m[sz(r)]);
        double sum = 0;
        std::vector<double> acc(sz(E_), 0.0);
        for (const Slot& st : slots) {
            if (st.s[sz(r)] <= 0) continue;
            const double f = std::exp(st.m[sz(r)] - m);
            sum += st.s[sz(r)] * f;
            for (int64_t i = 0; i < E_; ++i) acc[sz(i)] += f * st.acc[sz(r * E_ + i)];
        }
        loss += w * (m + std::log(sum) - z_label[sz(r)]);
        dequantize_row_ref(W.type, W.data + sz(labels[r]) * row_bytes, wlabel.data(), E_);
        for (int64_t i = 0; i < E_; ++i)
            dh[sz(r * E_ + i)] = static_cast<float>(w * (acc[sz(i)] / sum - dcap_label[sz(r)] * wlabel[sz(i)]));
    }
    return loss;
}

size_t GradPass::keep(uint32_t il, LayerActs& a, LayerActs& kept, bool bytes_only) const {
    const LayerWeights& L = m_.layer(il);
    size_t bytes = 0;
    auto take = [&](Buf& from, Buf& to, int64_t per_token) {
        bytes += sz(T_ * per_token) * sizeof(float);
        if (!bytes_only) to = std::move(from);
    };
    take(a.q, kept.q, H_ * D_);
    take(a.kh, kept.kh, HKV_ * D_);
    take(a.vh, kept.vh, HKV_ * DV_);
    take(a.x2, kept.x2, E_);
    take(a.g, kept.g, F_);
    take(a.u, kept.u, F_);
    if (!L.q_norm.empty()) {
        take(a.q0, kept.q0, H_ * D_);
        take(a.k0, kept.k0, HKV_ * D_);
    }
    if (!L.post_attn_norm.empty()) take(a.a0, kept.a0, E_);
    if (!L.post_ffw_norm.empty()) take(a.f0, kept.f0, E_);
    return bytes;
}

Expected<KvGradientNorms> GradPass::run(std::span<const int32_t> tokens, const std::atomic<bool>* cancel) {
    const uint32_t NL = hp_.n_layer;
    auto cancelled = [&] { return cancel && cancel->load(std::memory_order_relaxed); };
    // Layer inputs: checkpoints[il] enters layer il; checkpoints[NL] is the final residual.
    std::vector<Buf> checkpoints(NL + 1, Buf(sz(T_ * E_)));
    for (int64_t t = 0; t < T_; ++t) m_.embed(tokens[sz(t)], checkpoints[0].data() + t * E_);
    LayerActs acts;
    // Layers [first_kept, NL) keep their activations within kept_bytes_.
    uint32_t first_kept = NL;
    for (size_t total = 0; first_kept > 0; --first_kept) {
        total += keep(first_kept - 1, acts, acts, true);
        if (total > kept_bytes_) break;
    }
    std::vector<LayerActs> kept(NL);
    for (uint32_t il = 0; il < NL; ++il) {
        if (cancelled()) return error(ErrorCode::cancelled, "importance analysis cancelled");
        layer_forward(il, checkpoints[il].data(), acts, checkpoints[il + 1].data());
        if (il >= first_kept) keep(il, acts, kept[il], false);
    }
    Buf hfin(sz(T_ * E_));
    rms_norm(checkpoints[NL].data(), hfin.data(), T_, E_, m_.output_norm());
    KvGradientNorms out;
    out.k.assign(NL, 0.0);
    out.v.assign(NL, 0.0);
    out.n_predicted = T_ - 1;
    Buf dx;
    out.loss = head_backward(hfin.data(), dx, tokens);
    rms_norm_grad(checkpoints[NL].data(), dx.data(), dx.data(), T_, E_, m_.output_norm());
    for (uint32_t il = NL; il-- > 0;) {
        if (cancelled()) return error(ErrorCode::cancelled, "importance analysis cancelled");
        LayerActs* a = &kept[il];
        if (il < first_kept) {
            layer_forward(il, checkpoints[il].data(), acts, nullptr);
            a = &acts;
        }
        layer_backward(il, checkpoints[il].data(), *a, dx, out.k[il], out.v[il], il > 0);
        kept[il] = LayerActs();  // freed as soon as used
    }
    return out;
}

}  // namespace

Expected<KvGradientNorms> kv_gradient_norms(const Model& model, CpuBackend& backend, std::span<const int32_t> tokens,
                                            const std::atomic<bool>* cancel, size_t kept_activation_bytes) {
    const ModelHParams& hp = model.hparams();
    const auto T = static_cast<int64_t>(tokens.size());
    if (T < 2) return error(ErrorCode::invalid_argument, "importance analysis needs at least 2 tokens, got " + std::to_string(T));
    if (hp.context_length > 0 && T > static_cast<int64_t>(hp.context_length))
        return error(ErrorCode::invalid_argument, "calibration sequence of " + std::to_string(T) +
                                                      " tokens exceeds the model's context (" + std::to_string(hp.context_length) + ")");
    for (int32_t t : tokens)
        if (t < 0 || t >= static_cast<int32_t>(hp.n_vocab))
            return error(ErrorCode::invalid_argument, "token id " + std::to_string(t) + " is outside the vocabulary (" +
                                                          std::to_string(hp.n_vocab) + ")");
    GradPass pass(model, backend, T, kept_activation_bytes);
    return pass.run(tokens, cancel);
}

}  // namespace kvmix
