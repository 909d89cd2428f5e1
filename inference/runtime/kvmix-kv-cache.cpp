#include "runtime/kvmix-kv-cache.h"

#include <algorithm>
#include <atomic>
#include <cstdint>
#include <cstring>
#include <istream>
#include <new>
#include <ostream>
#include <set>

#include "backend/cpu-backend.h"
#include "common/assert.h"
#include "common/half.h"
#include "common/kv-quant-format.h"
#include "common/kv-rotation.h"
#include "common/mixed-attention-params.h"
#include "cpu/attention.h"
#include "cpu/kv-quantize.h"
#include "cpu/kv-rotation.h"
#include "cpu/mixed-attention.h"
#include "ref/kv-quantize.h"
#include "ref/mixed-attention.h"

namespace kvmix {

namespace {

// Quantized storage is counted in pages of kKvGroupsPerPage groups (128 tokens at G = 32:
// what the memory report and the app's estimates charge) and allocated in slabs of 16 pages,
// each slab holding its kv heads one after another: a head's codes then run 64 groups
// contiguously, and the decode's reads of a head stay in one stretch of memory 16x longer
// than a page (slabs of 4 pages: +10% tokens/s over pages on the synthetic MHA model at 16k,
// 2-bit; 16: +3-4% more). A slab's memory is touched only as its tokens are written, so the
// process holds the used part of the last slab, not all of it.
constexpr int64_t kPagesPerSlab = 16;

// One side (keys or values) of one layer.
struct Side {
    bool keys = false;
    bool rotated = false;   // rows are stored rotated (common/kv-rotation.h)
    int bits = 16;
    int64_t dim = 0;        // head_dim (keys) or head_dim_v (values)
    int64_t ring_cap = 0;   // fp16 tail capacity in tokens (multiple of G)
    std::unique_ptr<uint16_t[]> sinks;  // [n_head_kv][n_sinks][dim]
    std::unique_ptr<uint16_t[]> ring;   // [n_head_kv][ring_cap][dim]; position p at slot (p - S) % ring_cap
    int64_t q_tokens = 0;               // tokens after the sinks already quantized (multiple of G)
    size_t unit_bytes = 0;              // key group bytes (keys) or value row bytes (values)
    int64_t units_per_page = 0;         // key groups or value rows per page
    std::vector<std::unique_ptr<uint8_t[]>> slabs;  // each [n_head_kv][units_per_slab() * unit_bytes]
    int64_t units_per_slab() const { return units_per_page * kPagesPerSlab; }
    size_t head_stride() const { return static_cast<size_t>(units_per_slab()) * unit_bytes; }  // kv head h's units at + h·head_stride
    size_t page_bytes(int64_t n_head_kv) const { return static_cast<size_t>(n_head_kv * units_per_page) * unit_bytes; }
    size_t slab_bytes(int64_t n_head_kv) const { return static_cast<size_t>(n_head_kv) * head_stride(); }
};

struct Layer {
    KvLayerShape shape;
    Side k, v;
};

class KvmixKvCache final : public KvCache {
public:
    KvmixKvCache(std::vector<KvLayerShape> shapes, KvProfile profile, int64_t capacity, int64_t max_chunk)
        : profile_(std::move(profile)), capacity_(capacity), sinks_(std::min<int64_t>(profile_.sinks, capacity)) {
        const int64_t G = profile_.group_size;
        // The fp16 tail holds the window, the < G tokens not yet forming a group and one
        // chunk being written. Windows grow with the context, so the window at capacity
        // bounds them all: a cache for 4k tokens does not reserve window_max (1024) rows.
        const int64_t staging = G + (max_chunk + G - 1) / G * G;
        layers_.resize(shapes.size());
        for (size_t il = 0; il < shapes.size(); ++il) {
            Layer& L = layers_[il];
            L.shape = shapes[il];
            const auto l = static_cast<uint32_t>(il);
            init_side(L.k, profile_.layers[il].k_bits, L.shape.head_dim, L.shape.n_head_kv,
                      profile_.k_window(l, capacity_) + staging, /*keys=*/true);
            init_side(L.v, profile_.layers[il].v_bits, L.shape.head_dim_v, L.shape.n_head_kv,
                      profile_.v_window(l, capacity_) + staging, /*keys=*/false);
            // Only quantized sides rotate: an fp16 side would gain nothing from it.
            L.k.rotated = profile_.rotate_keys && L.k.bits != 16;
            L.v.rotated = profile_.rotate_values && L.v.bits != 16;
        }
    }

    int64_t capacity() const override { return capacity_; }
    int64_t size() const override { return size_; }
    uint32_t n_layer() const override { return static_cast<uint32_t>(layers_.size()); }
    const KvLayerShape& shape(uint32_t layer) const override { return layers_[layer].shape; }

    void write(uint32_t layer, int64_t offset, int64_t n, const float* k, const float* v) override {
        Layer& L = layers_[layer];
        const int64_t first = size_ + offset;
        KVMIX_ASSERT(first >= 0 && first + n <= capacity_);
        write_side(L.k, L.shape.n_head_kv, first, n, rotated_copy(L.k, n * L.shape.n_head_kv, k));
        write_side(L.v, L.shape.n_head_kv, first, n, rotated_copy(L.v, n * L.shape.n_head_kv, v));
    }

    // With rotated keys the query is rotated the same way (q·k = Rq·Rk); with rotated values
    // the output Σ p·Rv is un-rotated (R is orthonormal).
    void attend(uint32_t layer, const AttentionQuery& q, CpuBackend& backend) override {
        const Layer& L = layers_[layer];
        if (!L.k.rotated && !L.v.rotated) {
            attend_stored(layer, q, backend);
            return;
        }
        AttentionQuery rq = q;
        if (L.k.rotated) {
            rot_query_.assign(q.q, q.q + q.n_q * q.n_head * L.shape.head_dim);
            kv_rotate_rows_cpu(rot_query_.data(), q.n_q * q.n_head, L.shape.head_dim, static_cast<size_t>(L.shape.head_dim), false);
            rq.q = rot_query_.data();
        }
        attend_stored(layer, rq, backend);
        if (L.v.rotated)
            kv_rotate_rows_cpu(q.out, q.n_q * q.n_head, L.shape.head_dim_v, static_cast<size_t>(L.shape.head_dim_v), true);
    }

    // Attention over the rows as stored (rotated or not).
    void attend_stored(uint32_t layer, const AttentionQuery& q, CpuBackend& backend) const {
        const Layer& L = layers_[layer];
        std::vector<KvSegment> segments;
        build_segments(L, q.n_kv, segments);
        MixedAttentionParams p;
        p.q = q.q;
        p.q_stride = static_cast<size_t>(q.n_head * L.shape.head_dim);
        p.out = q.out;
        p.out_stride = static_cast<size_t>(q.n_head * L.shape.head_dim_v);
        p.n_q = q.n_q;
        p.n_head = q.n_head;
        p.n_head_kv = L.shape.n_head_kv;
        p.head_dim = L.shape.head_dim;
        p.head_dim_v = L.shape.head_dim_v;
        p.q_pos = q.q_pos;
        p.window = q.window;
        p.scale = q.scale;
        p.softcap = q.softcap;
        p.query_residual = profile_.query_residual;
        p.segments = segments.data();
        p.n_segments = static_cast<int32_t>(segments.size());
        const AttentionSplit split =
            plan_attention_split(p.n_q, p.n_head, p.n_head_kv, q.n_kv, p.q_pos, p.window, 1, backend.n_threads());
        if (split.n_parts <= 1) {
            // One unit = the query heads of one kv head (a tile shares each code unpack), taken
            // by whichever thread is free: a static half each leaves a thread idle whenever the
            // other is preempted (decode is one short call per layer). With fewer kv heads
            // than threads (e.g. one), the query heads are split instead, as before.
            const int64_t group = p.n_head / p.n_head_kv;
            if (p.n_head_kv < backend.n_threads()) {
                backend.pool().parallel_for(q.n_head, 1, [&](int64_t begin, int64_t end) {
                    MixedAttentionParams slice = p;
                    slice.head_begin = begin;
                    slice.head_end = end;
                    mixed_attention_cpu(slice);
                });
                return;
            }
            std::atomic<int64_t> next{0};
            backend.pool().parallel_for(backend.n_threads(), 1, [&](int64_t, int64_t) {
                MixedAttentionParams slice = p;
                for (int64_t u = next.fetch_add(1); u < p.n_head_kv; u = next.fetch_add(1)) {
                    slice.head_begin = u * group;
                    slice.head_end = (u + 1) * group;
                    mixed_attention_cpu(slice);
                }
            });
            return;
        }
        attend_split(p, split, backend);
    }

    // Split-K (plan_attention_split): one unit per (KV head, key chunk), chunk bounds moved
    // down to whole quantized groups; partials merge in chunk order (deterministic).
    static void attend_split(const MixedAttentionParams& p, const AttentionSplit& split, CpuBackend& backend) {
        const int64_t n_parts = split.n_parts, group = p.n_head / p.n_head_kv;
        std::vector<int64_t> bounds(static_cast<size_t>(n_parts + 1));
        // Outer bounds widen to legal cuts: keys beyond the visible range are masked anyway.
        bounds[0] = mixed_attention_legal_cut(p.segments, p.n_segments, split.bounds[0]);
        bounds[static_cast<size_t>(n_parts)] = INT64_MAX;
        for (int64_t c = 1; c < n_parts; ++c) {
            const int64_t cut = mixed_attention_legal_cut(p.segments, p.n_segments, split.bounds[c]);
            bounds[static_cast<size_t>(c)] = std::max(bounds[static_cast<size_t>(c - 1)], cut);
        }
        std::vector<std::vector<KvSegment>> parts(static_cast<size_t>(n_parts));
        for (int64_t c = 0; c < n_parts; ++c)
            mixed_attention_clip_segments(p.segments, p.n_segments, bounds[static_cast<size_t>(c)], bounds[static_cast<size_t>(c + 1)],
                                          p.head_dim, p.head_dim_v, parts[static_cast<size_t>(c)]);
        const size_t acc_stride = static_cast<size_t>(p.n_head * p.head_dim_v);
        const size_t acc_part = static_cast<size_t>(p.n_q) * acc_stride, ml_part = static_cast<size_t>(p.n_q * p.n_head);
        std::vector<float> acc(static_cast<size_t>(n_parts) * acc_part), m(static_cast<size_t>(n_parts) * ml_part), l(m.size());
        backend.pool().parallel_for(p.n_head_kv * n_parts, 1, [&](int64_t begin, int64_t end) {
            for (int64_t u = begin; u < end; ++u) {
                const int64_t hk = u / n_parts, c = u % n_parts;
                const std::vector<KvSegment>& segs = parts[static_cast<size_t>(c)];
                MixedAttentionParams slice = p;
                slice.head_begin = hk * group;
                slice.head_end = (hk + 1) * group;
                slice.segments = segs.data();
                slice.n_segments = static_cast<int32_t>(segs.size());
                slice.out = acc.data() + static_cast<size_t>(c) * acc_part;
                slice.out_stride = acc_stride;
                slice.part_m = m.data() + static_cast<size_t>(c) * ml_part;
                slice.part_l = l.data() + static_cast<size_t>(c) * ml_part;
                mixed_attention_cpu(slice);
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

    void commit(int64_t n) override {
        KVMIX_ASSERT(n >= 0 && size_ + n <= capacity_);
        size_ += n;
        // Age tokens out of the fp16 window: quantize the oldest whole group while the tail
        // is longer than window + G (KVMIX.md decision 6), in place into the pages.
        for (uint32_t il = 0; il < layers_.size(); ++il) {
            Layer& L = layers_[il];
            quantize_aged(L.k, L.shape.n_head_kv, profile_.k_window(il, size_), /*keys=*/true);
            quantize_aged(L.v, L.shape.n_head_kv, profile_.v_window(il, size_), /*keys=*/false);
        }
    }

    void truncate(int64_t n) override {
        n = std::clamp<int64_t>(n, 0, size_);
        // Quantized groups cannot be split: a cut inside them falls back to the group start.
        int64_t kept = n;
        for (const Layer& L : layers_)
            for (const Side* s : {&L.k, &L.v})
                if (sinks_ + s->q_tokens > n) kept = std::min(kept, n < sinks_ ? n : sinks_ + (n - sinks_) / profile_.group_size * profile_.group_size);
        for (Layer& L : layers_)
            for (Side* s : {&L.k, &L.v}) {
                s->q_tokens = std::min(s->q_tokens, std::max<int64_t>(0, kept - sinks_));
                s->q_tokens -= s->q_tokens % profile_.group_size;
                trim_slabs(*s);
            }
        size_ = kept;
    }

    // Context shift. Per layer and side, every token from `from` on is read back to fp32
    // (fp16 rows as they are, quantized ones dequantized), where `from` is `begin` or, when
    // `begin` falls inside the quantized part, the start of its group (groups cannot be
    // split). [begin, end) is dropped, the keys that move are re-rotated by -(end - begin),
    // and the rows are stored again at their new positions: the first S stay fp16 sinks,
    // whole groups beyond the window + G of the new size are re-quantized, the rest goes to
    // the fp16 window. So a moved token that was quantized is quantized a second time (from
    // its dequantized, re-rotated value): one extra rounding, within the width's error bound.
    // Tokens before `from` are untouched. Works head by head, so scratch is one head's rows.
    void erase(int64_t begin, int64_t end, const KeyRerotateFn& rerotate) override {
        begin = std::max<int64_t>(0, begin);
        end = std::min(end, size_);
        if (begin >= end) return;
        const int64_t removed = end - begin, new_size = size_ - removed;
        std::vector<float> buf;
        for (uint32_t il = 0; il < layers_.size(); ++il) {
            Layer& L = layers_[il];
            erase_side(L.k, il, L.shape.n_head_kv, begin, end, new_size, profile_.k_window(il, new_size), rerotate, buf);
            erase_side(L.v, il, L.shape.n_head_kv, begin, end, new_size, profile_.v_window(il, new_size), nullptr, buf);
        }
        size_ = new_size;
    }

    KvMemoryReport memory() const override {
        KvMemoryReport r;
        r.n_tokens = size_;
        r.capacity = capacity_;
        for (const Layer& L : layers_) {
            KvLayerMemory m;
            m.k_bits = L.k.bits;
            m.v_bits = L.v.bits;
            m.bytes = side_bytes(L.k, L.shape.n_head_kv) + side_bytes(L.v, L.shape.n_head_kv);
            m.fp16_bytes = static_cast<uint64_t>(size_ * L.shape.n_head_kv * (L.shape.head_dim + L.shape.head_dim_v) * 2);
            r.bytes += m.bytes;
            r.fp16_bytes += m.fp16_bytes;
            r.allocated_bytes += side_allocated(L.k, L.shape.n_head_kv) + side_allocated(L.v, L.shape.n_head_kv);
            r.layers.push_back(m);
        }
        return r;
    }

    // Snapshot (little-endian, as the host writes it): magic, format version, the profile
    // (G, sinks, window bounds, per layer the shape, K/V bits and window ratios), the token
    // count, then per layer and side (keys, values): the count of quantized tokens and, per
    // KV head, the fp16 sinks, the packed quantized units (key groups / value rows) and the
    // fp16 tail in position order. Restoring it reproduces the cache bit for bit, so a
    // restored session continues exactly like the uninterrupted one.
    Status save(std::ostream& out) const override {
        write_pod(out, kSnapshotMagic);
        write_pod(out, kSnapshotVersion);
        const int64_t header[5] = {static_cast<int64_t>(layers_.size()), profile_.group_size, sinks_, profile_.window_min,
                                   profile_.window_max};
        write_pod(out, header);
        write_pod(out, rotation_flags());
        for (uint32_t il = 0; il < layers_.size(); ++il) {
            const Layer& L = layers_[il];
            const KvLayerBits& b = profile_.layers[il];
            const int64_t shape[3] = {L.shape.n_head_kv, L.shape.head_dim, L.shape.head_dim_v};
            const int32_t bits[4] = {b.k_bits, b.v_bits, L.k.bits, L.v.bits};
            const float ratios[2] = {b.k_window_ratio, b.v_window_ratio};
            write_pod(out, shape);
            write_pod(out, bits);
            write_pod(out, ratios);
        }
        write_pod(out, size_);
        for (const Layer& L : layers_)
            for (const Side* s : {&L.k, &L.v}) {
                write_pod(out, s->q_tokens);
                const int64_t n_units = s->bits == 16 ? 0 : (s->keys ? s->q_tokens / profile_.group_size : s->q_tokens);
                for (int64_t h = 0; h < L.shape.n_head_kv; ++h) {
                    for (int64_t p = 0; p < std::min(size_, sinks_); ++p) write_row(out, *s, h, p);
                    for (int64_t u = 0; u < n_units; ++u)
                        out.write(reinterpret_cast<const char*>(existing_unit(*s, u) + static_cast<size_t>(h) * s->head_stride()),
                                  static_cast<std::streamsize>(s->unit_bytes));
                    for (int64_t p = sinks_ + s->q_tokens; p < size_; ++p) write_row(out, *s, h, p);
                }
            }
        if (!out) return error(ErrorCode::io, "writing the KVmix cache snapshot failed");
        return {};
    }

    Status load(std::istream& in) override {
        Status st = load_impl(in);
        if (!st.ok()) truncate(0);
        return st;
    }

private:
    static constexpr char kSnapshotMagic[8] = {'K', 'V', 'M', 'I', 'X', 'Q', 'C', 0};
    // Version 2 added the rotation flags after the header; version 1 snapshots hold none.
    static constexpr uint32_t kSnapshotVersion = 2;

    int32_t rotation_flags() const { return (profile_.rotate_keys ? 1 : 0) | (profile_.rotate_values ? 2 : 0); }

    // Rows [n][dim] of `x` rotated into scratch when the side stores rotated rows; else x.
    const float* rotated_copy(const Side& s, int64_t n_rows, const float* x) {
        if (!s.rotated) return x;
        std::vector<float>& buf = s.keys ? rot_keys_ : rot_values_;
        buf.assign(x, x + n_rows * s.dim);
        kv_rotate_rows_cpu(buf.data(), n_rows, s.dim, static_cast<size_t>(s.dim), false);
        return buf.data();
    }

    template <class T>
    static void write_pod(std::ostream& out, const T& x) {
        out.write(reinterpret_cast<const char*>(&x), sizeof x);
    }
    template <class T>
    static bool read_pod(std::istream& in, T& x) {
        in.read(reinterpret_cast<char*>(&x), sizeof x);
        return static_cast<bool>(in);
    }
    void write_row(std::ostream& out, const Side& s, int64_t h, int64_t pos) const {
        out.write(reinterpret_cast<const char*>(slot(s, h, pos)), static_cast<std::streamsize>(s.dim * 2));
    }

    Status load_impl(std::istream& in) {
        truncate(0);
        char magic[sizeof kSnapshotMagic];
        in.read(magic, sizeof magic);
        if (!in) return format_error("KV cache snapshot truncated in its header");
        if (std::memcmp(magic, kSnapshotMagic, sizeof magic) != 0) {
            if (std::memcmp(magic, "KVFP", 4) == 0)
                return format_error("the KV cache snapshot holds a dense (unquantized) cache; this session uses the KVmix profile '" +
                                    profile_.name + "' (load it with the --kv it was saved with)");
            return format_error("not a KVmix KV cache snapshot");
        }
        uint32_t version = 0;
        if (!read_pod(in, version)) return format_error("KV cache snapshot truncated in its header");
        if (version != 1 && version != kSnapshotVersion)
            return format_error("KVmix cache snapshot version " + std::to_string(version) + " is not supported (this build reads versions 1 and " +
                                std::to_string(kSnapshotVersion) + ")");
        int64_t header[5] = {};
        if (!read_pod(in, header)) return format_error("KV cache snapshot truncated in its header");
        int32_t rotation = 0;
        if (version >= 2 && !read_pod(in, rotation)) return format_error("KV cache snapshot truncated in its header");
        if (rotation != rotation_flags()) {
            static const char* const kNames[4] = {"none", "keys", "values", "both"};
            return format_error(std::string("the KV cache snapshot was saved with KV rotation '") +
                                (rotation >= 0 && rotation < 4 ? kNames[rotation] : "invalid") + "', this session's KVmix profile '" +
                                profile_.name + "' has '" + rotation_name(profile_) + "'");
        }
        if (header[0] != static_cast<int64_t>(layers_.size()))
            return format_error("KV cache snapshot has " + std::to_string(header[0]) + " layers, this model has " + std::to_string(layers_.size()));
        const auto mismatch = [&](const std::string& what, int64_t saved, int64_t here) {
            return format_error("the KV cache snapshot was saved with " + what + " " + std::to_string(saved) + ", this session's KVmix profile '" +
                                profile_.name + "' has " + std::to_string(here));
        };
        if (header[1] != profile_.group_size) return mismatch("group size", header[1], profile_.group_size);
        if (header[2] != sinks_) return mismatch("sink count", header[2], sinks_);
        if (header[3] != profile_.window_min) return mismatch("window minimum", header[3], profile_.window_min);
        if (header[4] != profile_.window_max) return mismatch("window maximum", header[4], profile_.window_max);
        for (uint32_t il = 0; il < layers_.size(); ++il) {
            const Layer& L = layers_[il];
            const KvLayerBits& b = profile_.layers[il];
            int64_t shape[3] = {};
            int32_t bits[4] = {};
            float ratios[2] = {};
            if (!read_pod(in, shape) || !read_pod(in, bits) || !read_pod(in, ratios))
                return format_error("KV cache snapshot truncated in the profile of layer " + std::to_string(il));
            const std::string layer = "layer " + std::to_string(il);
            if (shape[0] != L.shape.n_head_kv || shape[1] != L.shape.head_dim || shape[2] != L.shape.head_dim_v)
                return format_error("KV cache snapshot " + layer + " does not match this model's shape");
            if (bits[0] != b.k_bits) return mismatch(layer + " key bits", bits[0], b.k_bits);
            if (bits[1] != b.v_bits) return mismatch(layer + " value bits", bits[1], b.v_bits);
            if (bits[2] != L.k.bits || bits[3] != L.v.bits) return format_error("KV cache snapshot " + layer + ": inconsistent stored widths");
            if (ratios[0] != b.k_window_ratio || ratios[1] != b.v_window_ratio)
                return format_error("the KV cache snapshot was saved with " + layer + " window ratios " + std::to_string(ratios[0]) + "/" +
                                    std::to_string(ratios[1]) + ", this session's KVmix profile '" + profile_.name + "' has " +
                                    std::to_string(b.k_window_ratio) + "/" + std::to_string(b.v_window_ratio));
        }
        int64_t n = 0;
        if (!read_pod(in, n)) return format_error("KV cache snapshot truncated in its header");
        if (n < 0 || n > capacity_)
            return error(ErrorCode::out_of_memory, "KV cache snapshot holds " + std::to_string(n) + " tokens, more than this session's context of " +
                                                       std::to_string(capacity_));
        const int64_t G = profile_.group_size;
        for (uint32_t il = 0; il < layers_.size(); ++il) {
            Layer& L = layers_[il];
            for (Side* s : {&L.k, &L.v}) {
                const bool keys = s == &L.k;
                const std::string where = "KV cache snapshot layer " + std::to_string(il) + (keys ? " keys" : " values");
                int64_t q = 0;
                if (!read_pod(in, q)) return format_error(where + ": truncated");
                if (q < 0 || q % G != 0 || q > std::max<int64_t>(0, n - sinks_) || (s->bits == 16 && q != 0))
                    return format_error(where + ": invalid quantized token count " + std::to_string(q));
                if (n - sinks_ - q > s->ring_cap)
                    return format_error(where + ": " + std::to_string(n - sinks_ - q) + " fp16 window tokens do not fit this session's window of " +
                                        std::to_string(s->ring_cap) + " (a smaller batch size than when it was saved?)");
                const int64_t n_units = s->bits == 16 ? 0 : (keys ? q / G : q);
                for (int64_t h = 0; h < L.shape.n_head_kv; ++h) {
                    for (int64_t p = 0; p < std::min(n, sinks_); ++p) in.read(reinterpret_cast<char*>(slot(*s, h, p)), s->dim * 2);
                    for (int64_t u = 0; u < n_units; ++u)
                        in.read(reinterpret_cast<char*>(unit_ptr(*s, L.shape.n_head_kv, h, u)), static_cast<std::streamsize>(s->unit_bytes));
                    for (int64_t p = sinks_ + q; p < n; ++p) in.read(reinterpret_cast<char*>(slot(*s, h, p)), s->dim * 2);
                    if (!in) return format_error(where + ": truncated");
                }
                s->q_tokens = q;
            }
        }
        size_ = n;
        return {};
    }

    // Key groups or value rows quantized so far.
    int64_t quantized_units(const Side& s) const { return s.keys ? s.q_tokens / profile_.group_size : s.q_tokens; }

    // Slabs beyond what the quantized tokens use are freed (truncate, erase).
    void trim_slabs(Side& s) const {
        if (s.bits == 16) return;
        const auto slabs = static_cast<size_t>((quantized_units(s) + s.units_per_slab() - 1) / s.units_per_slab());
        if (s.slabs.size() > slabs) s.slabs.resize(slabs);
    }

    // Reads positions [p0, p0 + n) of kv head h as fp32 rows [n][dim] (see erase()).
    void read_rows(const Side& s, int64_t h, int64_t p0, int64_t n, float* out) const {
        const bool keys = s.keys;
        const int64_t G = profile_.group_size;
        std::vector<float> group;
        for (int64_t p = p0; p < p0 + n;) {
            float* dst = out + (p - p0) * s.dim;
            if (p >= sinks_ && p < sinks_ + s.q_tokens) {
                const int64_t t = p - sinks_;
                const uint8_t* head0 = existing_unit(s, keys ? t / G : t);
                const uint8_t* unit = head0 + static_cast<size_t>(h) * s.head_stride();
                if (keys) {
                    // A whole key group at once; copy the rows of it that are wanted.
                    group.resize(static_cast<size_t>(G * s.dim));
                    dequantize_key_group_ref(unit, s.dim, static_cast<int>(G), s.bits, group.data(), static_cast<size_t>(s.dim));
                    const int64_t g0 = sinks_ + t / G * G;
                    const int64_t last = std::min(g0 + G, p0 + n);
                    std::memcpy(dst, group.data() + (p - g0) * s.dim, static_cast<size_t>((last - p) * s.dim) * sizeof(float));
                    p = last;
                    continue;
                }
                dequantize_value_row_ref(unit, s.dim, static_cast<int>(G), s.bits, dst);
            } else {
                fp16_to_fp32_row_cpu(slot(s, h, p), dst, s.dim);
            }
            ++p;
        }
    }

    void erase_side(Side& s, uint32_t layer, int64_t n_head_kv, int64_t begin, int64_t end, int64_t new_size, int64_t window,
                    const KeyRerotateFn& rerotate, std::vector<float>& buf) {
        const bool keys = s.keys;
        const int64_t G = profile_.group_size, removed = end - begin;
        const int64_t q_end = sinks_ + s.q_tokens;
        int64_t from = (begin >= sinks_ && begin < q_end) ? sinks_ + (begin - sinks_) / G * G : begin;
        const int64_t q_keep = std::clamp<int64_t>(from - sinks_, 0, s.q_tokens);
        int64_t nq = q_keep;
        if (s.bits != 16)
            while (new_size - sinks_ - nq > window + G) nq += G;
        // Groups newly quantized after the shift may start before `begin`: read them too.
        if (nq > q_keep) from = std::min(from, sinks_ + q_keep);
        const int64_t n_read = size_ - from, n_keep = new_size - from, n_moved = size_ - end;
        buf.resize(static_cast<size_t>(n_read * s.dim));
        for (int64_t h = 0; h < n_head_kv; ++h) {
            read_rows(s, h, from, n_read, buf.data());
            float* moved = buf.data() + (begin - from) * s.dim;
            std::memmove(moved, buf.data() + (end - from) * s.dim, static_cast<size_t>(n_moved * s.dim) * sizeof(float));
            if (keys && rerotate && n_moved > 0) {
                // RoPE acts on the model's channels: leave the rotated basis around it.
                if (s.rotated) kv_rotate_rows_cpu(moved, n_moved, s.dim, static_cast<size_t>(s.dim), true);
                rerotate(layer, moved, n_moved, -static_cast<int32_t>(removed));
                if (s.rotated) kv_rotate_rows_cpu(moved, n_moved, s.dim, static_cast<size_t>(s.dim), false);
            }
            // Every stored row goes through fp16 first, as write() does for new tokens.
            for (int64_t i = 0; i < n_keep * s.dim; ++i) buf[static_cast<size_t>(i)] = fp16_to_fp32(fp32_to_fp16(buf[static_cast<size_t>(i)]));
            for (int64_t p = from; p < new_size;) {
                const float* row = buf.data() + (p - from) * s.dim;
                if (p >= sinks_ && p < sinks_ + nq) {
                    const int64_t t = p - sinks_;
                    if (keys) {
                        quantize_key_group_cpu(row, static_cast<size_t>(s.dim), s.dim, static_cast<int>(G), s.bits, unit_ptr(s, n_head_kv, h, t / G));
                        p += G;
                    } else {
                        quantize_value_row_cpu(row, s.dim, static_cast<int>(G), s.bits, unit_ptr(s, n_head_kv, h, t));
                        ++p;
                    }
                    continue;
                }
                fp32_to_fp16_row_cpu(row, slot(s, h, p), s.dim);
                ++p;
            }
        }
        s.q_tokens = nq;
        trim_slabs(s);
    }

    void init_side(Side& s, int bits, int64_t dim, int64_t n_head_kv, int64_t tail, bool keys) {
        const int G = profile_.group_size;
        // A side whose dims do not split into groups stays fp16 (e.g. tiny head sizes).
        if (bits != 16 && (keys ? dim <= 0 : !kvq::value_row_supported(G, dim))) bits = 16;
        s.keys = keys;
        s.bits = bits;
        s.dim = dim;
        s.ring_cap = bits == 16 ? std::max<int64_t>(capacity_ - sinks_, 1) : std::min(tail, (std::max<int64_t>(capacity_ - sinks_, 1) + G - 1) / G * G);
        if (bits != 16) s.ring_cap = (s.ring_cap + G - 1) / G * G;
        s.sinks.reset(new uint16_t[static_cast<size_t>(std::max<int64_t>(sinks_, 1) * n_head_kv * dim)]);
        s.ring.reset(new uint16_t[static_cast<size_t>(s.ring_cap * n_head_kv * dim)]);
        if (bits != 16) {
            s.unit_bytes = keys ? kvq::key_group_bytes(bits, G, dim) : kvq::value_row_bytes(bits, G, dim);
            s.units_per_page = keys ? kKvGroupsPerPage : kKvGroupsPerPage * G;
        }
    }

    // fp16 row of `pos` for a kv head: in the sinks, or in the ring at (pos - S) % ring_cap.
    uint16_t* slot(const Side& s, int64_t n_head_kv_index, int64_t pos) const {
        if (pos < sinks_) return s.sinks.get() + (n_head_kv_index * sinks_ + pos) * s.dim;
        return s.ring.get() + (n_head_kv_index * s.ring_cap + (pos - sinks_) % s.ring_cap) * s.dim;
    }

    // An already quantized unit (key group or value row) of kv head 0; heads follow at head_stride().
    static const uint8_t* existing_unit(const Side& s, int64_t unit) {
        KVMIX_ASSERT(unit / s.units_per_slab() < static_cast<int64_t>(s.slabs.size()));
        return s.slabs[static_cast<size_t>(unit / s.units_per_slab())].get() + static_cast<size_t>(unit % s.units_per_slab()) * s.unit_bytes;
    }

    void write_side(Side& s, int64_t n_head_kv, int64_t first, int64_t n, const float* x) {
        KVMIX_ASSERT(first + n <= sinks_ || first + n - sinks_ - s.q_tokens <= s.ring_cap);
        for (int64_t t = 0; t < n; ++t)
            for (int64_t h = 0; h < n_head_kv; ++h) {
                fp32_to_fp16_row_cpu(x + (t * n_head_kv + h) * s.dim, slot(s, h, first + t), s.dim);
            }
    }

    uint8_t* unit_ptr(Side& s, int64_t n_head_kv, int64_t h, int64_t unit) {
        const int64_t slab = unit / s.units_per_slab();
        while (static_cast<int64_t>(s.slabs.size()) <= slab) s.slabs.emplace_back(new uint8_t[s.slab_bytes(n_head_kv)]);
        return s.slabs[static_cast<size_t>(slab)].get() + static_cast<size_t>(h) * s.head_stride() +
               static_cast<size_t>(unit % s.units_per_slab()) * s.unit_bytes;
    }

    void quantize_aged(Side& s, int64_t n_head_kv, int64_t window, bool keys) {
        if (s.bits == 16) return;
        const int G = profile_.group_size;
        std::vector<float> buf(static_cast<size_t>(G * s.dim));
        while (size_ - sinks_ - s.q_tokens > window + G) {
            const int64_t p0 = sinks_ + s.q_tokens;
            for (int64_t h = 0; h < n_head_kv; ++h) {
                for (int64_t t = 0; t < G; ++t) fp16_to_fp32_row_cpu(slot(s, h, p0 + t), buf.data() + t * s.dim, s.dim);
                if (keys) {
                    quantize_key_group_cpu(buf.data(), static_cast<size_t>(s.dim), s.dim, G, s.bits,
                                           unit_ptr(s, n_head_kv, h, s.q_tokens / G));
                } else {
                    for (int64_t t = 0; t < G; ++t)
                        quantize_value_row_cpu(buf.data() + t * s.dim, s.dim, G, s.bits, unit_ptr(s, n_head_kv, h, s.q_tokens + t));
                }
            }
            s.q_tokens += G;
        }
    }

    // Splits [0, n_kv) into segments at every boundary where the K or V storage changes:
    // the sinks, the quantized/fp16 boundary of each side, page ends and ring wrap points.
    void build_segments(const Layer& L, int64_t n_kv, std::vector<KvSegment>& out) const {
        const int64_t G = profile_.group_size;
        std::set<int64_t> cuts = {0, std::min(sinks_, n_kv), n_kv};
        for (const Side* s : {&L.k, &L.v}) {
            const int64_t qend = sinks_ + s->q_tokens;
            if (qend < n_kv) cuts.insert(qend);
            if (s->bits != 16) {
                const int64_t slab_tokens = kPagesPerSlab * kKvGroupsPerPage * G;  // a slab holds this many tokens of either side
                for (int64_t p = sinks_ + slab_tokens; p < std::min(qend, n_kv); p += slab_tokens) cuts.insert(p);
            }
            for (int64_t p = sinks_ + (s->q_tokens / s->ring_cap + 1) * s->ring_cap; p < n_kv; p += s->ring_cap) cuts.insert(p);
        }
        int64_t prev = -1;
        for (int64_t c : cuts) {
            if (prev >= 0 && c > prev) {
                KvSegment seg;
                seg.pos0 = prev;
                seg.n_tokens = c - prev;
                seg.group_size = static_cast<int32_t>(G);
                describe(L.k, prev, seg, true);
                describe(L.v, prev, seg, false);
                out.push_back(seg);
            }
            prev = c;
        }
    }

    void describe(const Side& s, int64_t pos, KvSegment& seg, bool keys) const {
        const bool quantized = pos >= sinks_ && pos < sinks_ + s.q_tokens;
        const uint16_t* f16 = nullptr;
        size_t f16_stride = 0;
        if (!quantized) {
            f16 = slot(s, 0, pos);
            f16_stride = static_cast<size_t>((pos < sinks_ ? sinks_ : s.ring_cap) * s.dim);
        }
        if (keys) {
            seg.k_bits = quantized ? s.bits : kvq::kNotQuantized;
            if (quantized) {
                const int64_t unit = (pos - sinks_) / profile_.group_size;
                seg.kq = existing_unit(s, unit);
                seg.kq_head_stride = s.head_stride();
                seg.kq_group_stride = s.unit_bytes;
            } else {
                seg.k16 = f16;
                seg.k16_head_stride = f16_stride;
            }
        } else {
            seg.v_bits = quantized ? s.bits : kvq::kNotQuantized;
            if (quantized) {
                const int64_t unit = pos - sinks_;
                seg.vq = existing_unit(s, unit);
                seg.vq_head_stride = s.head_stride();
                seg.vq_token_stride = s.unit_bytes;
            } else {
                seg.v16 = f16;
                seg.v16_head_stride = f16_stride;
            }
        }
    }

    uint64_t side_bytes(const Side& s, int64_t n_head_kv) const {
        const int64_t n_sink = std::min(size_, sinks_);
        const int64_t n_tail = std::max<int64_t>(0, size_ - sinks_ - s.q_tokens);
        uint64_t b = static_cast<uint64_t>((n_sink + n_tail) * n_head_kv * s.dim * 2);
        // Whole pages, the partly filled last one included.
        if (s.bits != 16)
            b += static_cast<uint64_t>((quantized_units(s) + s.units_per_page - 1) / s.units_per_page) * s.page_bytes(n_head_kv);
        return b;
    }

    uint64_t side_allocated(const Side& s, int64_t n_head_kv) const {
        return static_cast<uint64_t>((std::max<int64_t>(sinks_, 1) + s.ring_cap) * n_head_kv * s.dim * 2) +
               s.slabs.size() * s.slab_bytes(n_head_kv);
    }

    KvProfile profile_;
    int64_t capacity_;
    int64_t sinks_;
    int64_t size_ = 0;
    std::vector<Layer> layers_;
    std::vector<float> rot_keys_, rot_values_, rot_query_;  // rotation scratch, reused across calls
};

}  // namespace

Expected<std::unique_ptr<KvCache>> make_kvmix_kv_cache(const std::vector<KvLayerShape>& layers, const KvProfile& profile,
                                                       int64_t capacity, int64_t max_chunk) {
    KVMIX_TRY(validate(profile, static_cast<uint32_t>(layers.size())));
    if (capacity <= 0 || max_chunk <= 0) return error(ErrorCode::invalid_argument, "KV cache capacity and chunk must be positive");
    for (size_t il = 0; il < layers.size(); ++il) {
        const KvLayerBits& b = profile.layers[il];
        const auto bad = [&](const char* side, int64_t dim) {
            return error(ErrorCode::unsupported, "KV rotation of " + std::string(side) + " needs a power-of-two head size up to " +
                                                     std::to_string(kvrot::kMaxDim) + "; layer " + std::to_string(il) + " has " + std::to_string(dim));
        };
        if (profile.rotate_keys && b.k_bits != 16 && !kvrot::supported_dim(layers[il].head_dim)) return bad("keys", layers[il].head_dim);
        if (profile.rotate_values && b.v_bits != 16 && !kvrot::supported_dim(layers[il].head_dim_v)) return bad("values", layers[il].head_dim_v);
    }
    try {
        return std::unique_ptr<KvCache>(new KvmixKvCache(layers, profile, capacity, max_chunk));
    } catch (const std::bad_alloc&) {
        return error(ErrorCode::out_of_memory, "cannot allocate the KVmix cache for " + std::to_string(capacity) + " tokens");
    }
}

}  // namespace kvmix
