// The host side of test-cuda-kernels: the attention cases with their reference setup (cache
// sides laid out as the device cache, the reference's segments, mixed_attention_ref's output)
// and the guarded-output checks. No CUDA here, so test-cuda-host-checks runs the same code on
// any machine: a defect in the test's own logic shows up in the CPU suite, not first on a GPU.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <vector>

#include "common/half.h"
#include "common/kv-quant-format.h"
#include "common/mixed-attention-params.h"
#include "op-harness.h"
#include "ref/kv-quantize.h"
#include "ref/mixed-attention.h"

namespace kvmix_test {

// ---------------------------------------------------------------------------------------
// Guarded outputs. A device output buffer starts as guarded_buffer(n) — canaries in the
// guards AND inside — so every element a kernel does not write stays a canary.

inline std::vector<float> guarded_buffer(size_t n) { return std::vector<float>(n + 2 * Guarded::kGuard, canary()); }

// The inside of a guarded buffer; false if a guard was overwritten.
inline bool unguard(const std::vector<float>& all, std::vector<float>& inside) {
    inside.assign(all.begin() + Guarded::kGuard, all.end() - Guarded::kGuard);
    for (size_t i = 0; i < Guarded::kGuard; ++i)
        if (!is_canary(all[i]) || !is_canary(all[all.size() - 1 - i])) return false;
    return true;
}

// Elements of a row-major [m, n] output outside columns [n_begin, n_end) that are no longer
// canaries: writes outside an op's column slice.
inline size_t written_outside_columns(const std::vector<float>& y, int64_t m, int64_t n, int64_t n_begin, int64_t n_end) {
    size_t bad = 0;
    for (int64_t r = 0; r < m; ++r)
        for (int64_t c = 0; c < n; ++c)
            if ((c < n_begin || c >= n_end) && !is_canary(y[static_cast<size_t>(r * n + c)])) ++bad;
    return bad;
}

// ---------------------------------------------------------------------------------------
// Attention: one device-cache side modelled on the host, filled from fp16 rows of every
// position. Positions [0, S) are sinks, [S, S + nq) quantized groups, the rest sit in a ring
// of ring_cap slots (position p in slot (p - S) % ring_cap); a 16-bit side is one fp16 ring.
struct HostSide {
    int bits = 16, G = 32;
    int64_t dim = 0, hkv = 0, S = 0, ring_cap = 0, nq = 0, cap = 0;
    size_t unit = 0;
    int64_t units_cap = 0;
    std::vector<uint16_t> sinks, ring;
    std::vector<uint8_t> packed;
};

// rows16[h][p][d] fp16 for p < n; keys choose per-channel groups.
inline HostSide make_side(bool keys, int bits, int G, int64_t hkv, int64_t dim, int64_t n, int64_t S, int64_t window,
                          int64_t ring_cap, const std::vector<uint16_t>& rows16) {
    using namespace kvmix;
    HostSide s;
    s.bits = bits;
    s.G = G;
    s.dim = dim;
    s.hkv = hkv;
    s.cap = n;
    auto row = [&](int64_t h, int64_t p) { return rows16.data() + static_cast<size_t>((h * n + p) * dim); };
    if (bits == 16) {
        s.ring_cap = n;
        s.ring.assign(rows16.begin(), rows16.end());
        return s;
    }
    s.S = S;
    s.ring_cap = ring_cap;
    const int64_t tail = std::max<int64_t>(0, n - S);
    s.nq = tail > window + G ? (tail - window - 1) / G * G : 0;
    s.unit = keys ? kvq::key_group_bytes(bits, G, dim) : kvq::value_row_bytes(bits, G, dim);
    s.units_cap = keys ? (n + G - 1) / G : n;
    s.sinks.assign(static_cast<size_t>(hkv * std::max<int64_t>(S, 1) * dim), 0);
    s.ring.assign(static_cast<size_t>(hkv * ring_cap * dim), 0);
    s.packed.assign(static_cast<size_t>(hkv * s.units_cap) * s.unit, 0);
    std::vector<float> f(static_cast<size_t>(G * dim));
    for (int64_t h = 0; h < hkv; ++h) {
        for (int64_t p = 0; p < std::min(S, n); ++p)
            std::memcpy(&s.sinks[static_cast<size_t>((h * S + p) * dim)], row(h, p), static_cast<size_t>(dim) * 2);
        for (int64_t p = S + s.nq; p < n; ++p)
            std::memcpy(&s.ring[static_cast<size_t>((h * ring_cap + (p - S) % ring_cap) * dim)], row(h, p), static_cast<size_t>(dim) * 2);
        uint8_t* base = s.packed.data() + static_cast<size_t>(h * s.units_cap) * s.unit;
        if (keys) {
            for (int64_t g = 0; g < s.nq / G; ++g) {
                for (int64_t i = 0; i < G; ++i)
                    for (int64_t d = 0; d < dim; ++d) f[static_cast<size_t>(i * dim + d)] = fp16_to_fp32(row(h, S + g * G + i)[d]);
                quantize_key_group_ref(f.data(), static_cast<size_t>(dim), dim, G, bits, base + static_cast<size_t>(g) * s.unit);
            }
        } else {
            for (int64_t i = 0; i < s.nq; ++i) {
                for (int64_t d = 0; d < dim; ++d) f[static_cast<size_t>(d)] = fp16_to_fp32(row(h, S + i)[d]);
                quantize_value_row_ref(f.data(), dim, G, bits, base + static_cast<size_t>(i) * s.unit);
            }
        }
    }
    return s;
}

// Storage of positions [a, b) of a side for the reference's KvSegment (no wrap inside).
inline void set_segment_side(const HostSide& s, bool keys, int64_t a, kvmix::KvSegment& seg) {
    const bool packed = s.bits != 16 && a >= s.S && a < s.S + s.nq;
    int32_t& bits = keys ? seg.k_bits : seg.v_bits;
    bits = packed ? s.bits : 16;
    if (packed) seg.group_size = s.G;
    const uint16_t* p16 = nullptr;
    size_t stride16 = 0;
    if (!packed) {
        if (s.bits == 16) {
            p16 = s.ring.data() + a * s.dim;
            stride16 = static_cast<size_t>(s.ring_cap * s.dim);
        } else if (a < s.S) {
            p16 = s.sinks.data() + a * s.dim;
            stride16 = static_cast<size_t>(s.S * s.dim);
        } else {
            p16 = s.ring.data() + ((a - s.S) % s.ring_cap) * s.dim;
            stride16 = static_cast<size_t>(s.ring_cap * s.dim);
        }
    }
    const size_t head_bytes = static_cast<size_t>(s.units_cap) * s.unit;
    if (keys) {
        if (packed) {
            seg.kq = s.packed.data() + static_cast<size_t>((a - s.S) / s.G) * s.unit;
            seg.kq_head_stride = head_bytes;
            seg.kq_group_stride = s.unit;
        } else {
            seg.k16 = p16;
            seg.k16_head_stride = stride16;
        }
    } else {
        if (packed) {
            seg.vq = s.packed.data() + static_cast<size_t>(a - s.S) * s.unit;
            seg.vq_head_stride = head_bytes;
            seg.vq_token_stride = s.unit;
        } else {
            seg.v16 = p16;
            seg.v16_head_stride = stride16;
        }
    }
}

// Where a side's storage changes over positions [0, n): end of the sinks, end of the packed
// groups, and the ring's wrap points. Wraps are only cut in the fp16 tail: the ring holds no
// packed position, and a cut inside the packed range that is not a multiple of G would split
// a key group (ring_cap need not be a multiple of G).
inline void boundaries(const HostSide& s, int64_t n, std::vector<int64_t>& b) {
    if (s.bits == 16) return;
    b.push_back(std::min(s.S, n));
    b.push_back(s.S + s.nq);
    for (int64_t p = s.S + s.ring_cap; p < n; p += s.ring_cap)
        if (p > s.S + s.nq) b.push_back(p);
}

struct AttnCase {
    int kb, vb, G;
    int64_t D, H, HKV, n_kv, n_q;
    int32_t window;
    float softcap;
    bool nan = false;
};

// Every attention case test-cuda-kernels runs, in its order.
inline std::vector<AttnCase> attention_cases() {
    std::vector<AttnCase> cs;
    const int widths[] = {2, 3, 4, 8, 16};
    for (int kb : widths)
        for (int vb : widths) cs.push_back({kb, vb, 32, 128, 8, 2, 700, 1, 0, 0.0f});
    for (int G : {64, 128}) cs.push_back({3, 4, G, 128, 4, 4, 900, 3, 0, 0.0f});
    for (int64_t D : {16, 32, 64, 256}) cs.push_back({2, 4, 32, D, 8, 1, 520, 5, 0, 0.0f});
    cs.push_back({4, 2, 32, 64, 16, 1, 400, 17, 0, 0.0f});      // 16 heads per kv head
    cs.push_back({2, 2, 32, 128, 32, 32, 1500, 33, 0, 0.0f});   // MHA prefill chunk
    cs.push_back({8, 3, 32, 256, 4, 1, 800, 4, 128, 50.0f});    // sliding window + softcap
    cs.push_back({2, 2, 32, 64, 4, 2, 300, 2, 0, 0.0f, true});  // NaN query
    cs.push_back({16, 16, 32, 64, 4, 2, 3, 3, 0, 0.0f});        // shorter than the sinks
    return cs;
}

// One case laid out as the device cache (sinks, packed groups, ring) with its queries, the
// reference's segments over that layout and mixed_attention_ref's output. The segments point
// into the sides, so a setup stays where it was built.
class AttnSetup {
public:
    static constexpr int64_t kSinks = 4, kWindow = 64;

    AttnSetup(const AttnCase& c, Rng& rng) : c_(c) {
        using namespace kvmix;
        const int64_t ring_cap = kWindow + 2 * c.G + 32;
        krows.resize(static_cast<size_t>(c.HKV * c.n_kv * c.D));
        vrows.resize(krows.size());
        for (auto& v : krows) v = fp32_to_fp16(rng.normal(1.0f));
        for (auto& v : vrows) v = fp32_to_fp16(rng.normal(1.0f));
        ks = make_side(true, c.kb, c.G, c.HKV, c.D, c.n_kv, kSinks, kWindow, ring_cap, krows);
        // Values whose head is not a multiple of G stay fp16, as in the caches.
        const int vb = kvq::value_row_supported(c.G, c.D) ? c.vb : 16;
        vs = make_side(false, vb, c.G, c.HKV, c.D, c.n_kv, kSinks, kWindow, ring_cap, vrows);
        // Queries: the last n_q positions.
        q = rng.normals(static_cast<size_t>(c.n_q * c.H * c.D));
        if (c.nan) q[3] = NAN;
        qpos.resize(static_cast<size_t>(c.n_q));
        for (int64_t t = 0; t < c.n_q; ++t) qpos[static_cast<size_t>(t)] = static_cast<int32_t>(c.n_kv - c.n_q + t);

        // Segments split at the union of both sides' boundaries.
        std::vector<int64_t> b = {0, c.n_kv};
        boundaries(ks, c.n_kv, b);
        boundaries(vs, c.n_kv, b);
        std::sort(b.begin(), b.end());
        b.erase(std::unique(b.begin(), b.end()), b.end());
        for (size_t i = 0; i + 1 < b.size(); ++i) {
            if (b[i] >= c.n_kv || b[i + 1] <= b[i]) continue;
            KvSegment sg;
            sg.pos0 = b[i];
            sg.n_tokens = std::min(b[i + 1], c.n_kv) - b[i];
            set_segment_side(ks, true, b[i], sg);
            set_segment_side(vs, false, b[i], sg);
            segs.push_back(sg);
        }
        want.assign(static_cast<size_t>(c.n_q * c.H * c.D), 0.0f);
        mixed_attention_ref(params(want.data()));
    }
    AttnSetup(const AttnSetup&) = delete;
    AttnSetup& operator=(const AttnSetup&) = delete;

    float scale() const { return 1.0f / std::sqrt(static_cast<float>(c_.D)); }
    kvmix::MixedAttentionParams params(float* out) const {
        kvmix::MixedAttentionParams mp;
        mp.q = q.data();
        mp.q_stride = static_cast<size_t>(c_.H * c_.D);
        mp.out = out;
        mp.out_stride = static_cast<size_t>(c_.H * c_.D);
        mp.n_q = c_.n_q;
        mp.n_head = c_.H;
        mp.n_head_kv = c_.HKV;
        mp.head_dim = mp.head_dim_v = c_.D;
        mp.q_pos = qpos.data();
        mp.window = c_.window;
        mp.scale = scale();
        mp.softcap = c_.softcap;
        mp.segments = segs.data();
        mp.n_segments = static_cast<int32_t>(segs.size());
        mp.head_begin = 0;
        mp.head_end = c_.H;
        return mp;
    }

    std::vector<uint16_t> krows, vrows;  // [HKV][n_kv][D] fp16, every position
    HostSide ks, vs;
    std::vector<float> q;
    std::vector<int32_t> qpos;
    std::vector<kvmix::KvSegment> segs;
    std::vector<float> want;  // mixed_attention_ref over segs: [n_q][H][D]

private:
    AttnCase c_;
};

}  // namespace kvmix_test
