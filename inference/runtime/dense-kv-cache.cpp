// The dense KV caches: fp16 (the baseline every quantized cache is measured against) and
// fp32 (no rounding of keys/values at all: validating the forward pass against an fp32
// reference). One template over the stored element type; the two differ only in
// conversions, the kernel's element-type tag and the snapshot magic.
#include <algorithm>
#include <cstring>
#include <istream>
#include <new>
#include <ostream>
#include <type_traits>

#include "common/assert.h"
#include "common/half.h"
#include "cpu/kv-quantize.h"
#include "runtime/kv-cache.h"

namespace kvmix {

namespace {

// Per element type: the snapshot magic (distinct per type, so a snapshot never loads into
// a cache of the other type), conversions from/to fp32, and the kernel tag.
template <class T>
struct DenseTraits;

template <>
struct DenseTraits<uint16_t> {
    static constexpr char magic[8] = {'K', 'V', 'F', 'P', '1', '6', 0, 1};
    static constexpr const char* name = "fp16";
    static constexpr KvElementType kernel_type = KvElementType::f16;
    static uint16_t from_f32(float x) { return fp32_to_fp16(x); }
    static float to_f32(uint16_t x) { return fp16_to_fp32(x); }
    static void from_f32_row(const float* x, uint16_t* y, int64_t n) { fp32_to_fp16_row_cpu(x, y, n); }
};

template <>
struct DenseTraits<float> {
    static constexpr char magic[8] = {'K', 'V', 'F', 'P', '3', '2', 0, 1};
    static constexpr const char* name = "fp32";
    static constexpr KvElementType kernel_type = KvElementType::f32;
    static float from_f32(float x) { return x; }
    static float to_f32(float x) { return x; }
    static void from_f32_row(const float* x, float* y, int64_t n) { std::memcpy(y, x, static_cast<size_t>(n) * sizeof(float)); }
};

template <class T>
class DenseKvCache final : public KvCache {
public:
    using Traits = DenseTraits<T>;
    static constexpr uint64_t kElemBytes = sizeof(T);

    struct Layer {
        KvLayerShape shape;
        std::unique_ptr<T[]> k;  // [n_head_kv][capacity][head_dim]
        std::unique_ptr<T[]> v;  // [n_head_kv][capacity][head_dim_v]
    };

    DenseKvCache(std::vector<Layer> layers, int64_t capacity) : layers_(std::move(layers)), capacity_(capacity) {}

    int64_t capacity() const override { return capacity_; }
    int64_t size() const override { return size_; }
    uint32_t n_layer() const override { return static_cast<uint32_t>(layers_.size()); }
    const KvLayerShape& shape(uint32_t layer) const override { return layers_[layer].shape; }

    void write(uint32_t layer, int64_t offset, int64_t n, const float* k, const float* v) override {
        Layer& L = layers_[layer];
        const int64_t first = size_ + offset;
        KVMIX_ASSERT(first >= 0 && first + n <= capacity_);
        const int64_t hd = L.shape.head_dim, hdv = L.shape.head_dim_v, nh = L.shape.n_head_kv;
        for (int64_t t = 0; t < n; ++t) {
            for (int64_t h = 0; h < nh; ++h) {
                Traits::from_f32_row(k + (t * nh + h) * hd, L.k.get() + (h * capacity_ + first + t) * hd, hd);
                Traits::from_f32_row(v + (t * nh + h) * hdv, L.v.get() + (h * capacity_ + first + t) * hdv, hdv);
            }
        }
    }

    void attend(uint32_t layer, const AttentionQuery& q, CpuBackend& backend) override {
        const Layer& L = layers_[layer];
        KVMIX_ASSERT(q.n_kv <= capacity_);
        AttentionParams p;
        p.q = q.q;
        p.q_stride = static_cast<size_t>(q.n_head * L.shape.head_dim);
        p.kv_type = Traits::kernel_type;
        if constexpr (std::is_same_v<T, float>) {
            p.k_f32 = L.k.get();
            p.v_f32 = L.v.get();
        } else {
            p.k = L.k.get();
            p.v = L.v.get();
        }
        p.k_head_stride = static_cast<size_t>(capacity_ * L.shape.head_dim);
        p.v_head_stride = static_cast<size_t>(capacity_ * L.shape.head_dim_v);
        p.out = q.out;
        p.out_stride = static_cast<size_t>(q.n_head * L.shape.head_dim_v);
        p.n_q = q.n_q;
        p.n_head = q.n_head;
        p.n_head_kv = L.shape.n_head_kv;
        p.head_dim = L.shape.head_dim;
        p.head_dim_v = L.shape.head_dim_v;
        p.n_kv = q.n_kv;
        p.q_pos = q.q_pos;
        p.window = q.window;
        p.scale = q.scale;
        p.softcap = q.softcap;
        backend.attention(p);
    }

    void commit(int64_t n) override {
        KVMIX_ASSERT(n >= 0 && size_ + n <= capacity_);
        size_ += n;
    }

    void truncate(int64_t n) override {
        if (n < size_) size_ = n < 0 ? 0 : n;
    }

    void erase(int64_t begin, int64_t end, const KeyRerotateFn& rerotate) override {
        begin = std::max<int64_t>(0, begin);
        end = std::min(end, size_);
        if (begin >= end) return;
        const int64_t removed = end - begin, moved = size_ - end;
        std::vector<float> scratch;
        for (uint32_t il = 0; il < layers_.size(); ++il) {
            Layer& L = layers_[il];
            const int64_t hd = L.shape.head_dim, hdv = L.shape.head_dim_v;
            for (int64_t h = 0; h < L.shape.n_head_kv; ++h) {
                T* kh = L.k.get() + h * capacity_ * hd;
                T* vh = L.v.get() + h * capacity_ * hdv;
                std::memmove(kh + begin * hd, kh + end * hd, static_cast<size_t>(moved * hd) * sizeof(T));
                std::memmove(vh + begin * hdv, vh + end * hdv, static_cast<size_t>(moved * hdv) * sizeof(T));
                if (moved == 0 || !rerotate) continue;
                // Re-rotate the moved keys of this head by -removed (fp16: widen, rotate, narrow).
                if constexpr (std::is_same_v<T, float>) {
                    rerotate(il, kh + begin * hd, moved, -static_cast<int32_t>(removed));
                } else {
                    scratch.resize(static_cast<size_t>(moved * hd));
                    for (int64_t i = 0; i < moved * hd; ++i) scratch[i] = Traits::to_f32(kh[begin * hd + i]);
                    rerotate(il, scratch.data(), moved, -static_cast<int32_t>(removed));
                    for (int64_t i = 0; i < moved * hd; ++i) kh[begin * hd + i] = Traits::from_f32(scratch[i]);
                }
            }
        }
        size_ -= removed;
    }

    KvMemoryReport memory() const override {
        KvMemoryReport r;
        r.n_tokens = size_;
        r.capacity = capacity_;
        for (const Layer& L : layers_) {
            KvLayerMemory m;
            const auto per_token_elems = static_cast<uint64_t>(L.shape.n_head_kv * (L.shape.head_dim + L.shape.head_dim_v));
            const uint64_t per_token = per_token_elems * kElemBytes;
            m.bytes = per_token * static_cast<uint64_t>(size_);
            m.fp16_bytes = per_token_elems * 2 * static_cast<uint64_t>(size_);
            m.k_bits = m.v_bits = 8.0 * kElemBytes;
            r.bytes += m.bytes;
            r.fp16_bytes += m.fp16_bytes;
            r.allocated_bytes += per_token * static_cast<uint64_t>(capacity_);
            r.layers.push_back(m);
        }
        return r;
    }

    Status save(std::ostream& out) const override {
        out.write(Traits::magic, sizeof Traits::magic);
        const int64_t header[2] = {static_cast<int64_t>(layers_.size()), size_};
        out.write(reinterpret_cast<const char*>(header), sizeof header);
        for (const Layer& L : layers_) {
            const int64_t shape[3] = {L.shape.n_head_kv, L.shape.head_dim, L.shape.head_dim_v};
            out.write(reinterpret_cast<const char*>(shape), sizeof shape);
            for (int64_t h = 0; h < L.shape.n_head_kv; ++h) {
                out.write(reinterpret_cast<const char*>(L.k.get() + h * capacity_ * L.shape.head_dim),
                          static_cast<std::streamsize>(size_ * L.shape.head_dim * kElemBytes));
                out.write(reinterpret_cast<const char*>(L.v.get() + h * capacity_ * L.shape.head_dim_v),
                          static_cast<std::streamsize>(size_ * L.shape.head_dim_v * kElemBytes));
            }
        }
        if (!out) return error(ErrorCode::io, "writing the KV cache snapshot failed");
        return {};
    }

    Status load(std::istream& in) override {
        size_ = 0;
        char magic[sizeof Traits::magic];
        in.read(magic, sizeof magic);
        if (!in || std::memcmp(magic, Traits::magic, sizeof magic) != 0) {
            using Other = std::conditional_t<std::is_same_v<T, float>, uint16_t, float>;
            if (in && std::memcmp(magic, DenseTraits<Other>::magic, sizeof magic) == 0)
                return format_error(std::string("the KV cache snapshot holds ") + DenseTraits<Other>::name +
                                    " keys/values, this session's cache is " + Traits::name);
            if (in && std::memcmp(magic, "KVMIXQC", 7) == 0)
                return format_error(std::string("the KV cache snapshot holds a KVmix-quantized cache, this session's cache is ") +
                                    Traits::name + " (load it with the --kv it was saved with)");
            return format_error(std::string("not an ") + Traits::name + " KV cache snapshot");
        }
        int64_t header[2] = {0, 0};
        in.read(reinterpret_cast<char*>(header), sizeof header);
        if (!in) return format_error("KV cache snapshot truncated in its header");
        if (header[0] != static_cast<int64_t>(layers_.size()))
            return format_error("KV cache snapshot has " + std::to_string(header[0]) + " layers, this model has " +
                                std::to_string(layers_.size()));
        if (header[1] < 0 || header[1] > capacity_)
            return error(ErrorCode::out_of_memory, "KV cache snapshot holds " + std::to_string(header[1]) +
                                                       " tokens, more than this session's context of " + std::to_string(capacity_));
        const int64_t n = header[1];
        for (uint32_t il = 0; il < layers_.size(); ++il) {
            Layer& L = layers_[il];
            int64_t shape[3] = {0, 0, 0};
            in.read(reinterpret_cast<char*>(shape), sizeof shape);
            if (!in || shape[0] != L.shape.n_head_kv || shape[1] != L.shape.head_dim || shape[2] != L.shape.head_dim_v)
                return format_error("KV cache snapshot layer " + std::to_string(il) + " does not match this model's shape");
            for (int64_t h = 0; h < L.shape.n_head_kv; ++h) {
                in.read(reinterpret_cast<char*>(L.k.get() + h * capacity_ * L.shape.head_dim), static_cast<std::streamsize>(n * L.shape.head_dim * kElemBytes));
                in.read(reinterpret_cast<char*>(L.v.get() + h * capacity_ * L.shape.head_dim_v), static_cast<std::streamsize>(n * L.shape.head_dim_v * kElemBytes));
                if (!in) return format_error("KV cache snapshot truncated in layer " + std::to_string(il));
            }
        }
        size_ = n;
        return {};
    }

private:
    std::vector<Layer> layers_;
    int64_t capacity_ = 0;
    int64_t size_ = 0;
};

template <class T>
Expected<std::unique_ptr<KvCache>> make_dense_kv_cache(const std::vector<KvLayerShape>& shapes, int64_t capacity) {
    using Cache = DenseKvCache<T>;
    if (capacity <= 0) return error(ErrorCode::invalid_argument, "KV cache capacity must be positive");
    std::vector<typename Cache::Layer> layers;
    uint64_t total = 0;
    try {
        for (const auto& s : shapes) {
            typename Cache::Layer L;
            L.shape = s;
            const auto nk = static_cast<size_t>(s.n_head_kv * capacity * s.head_dim);
            const auto nv = static_cast<size_t>(s.n_head_kv * capacity * s.head_dim_v);
            total += (nk + nv) * sizeof(T);
            L.k.reset(new T[nk]);
            L.v.reset(new T[nv]);
            layers.push_back(std::move(L));
        }
    } catch (const std::bad_alloc&) {
        return error(ErrorCode::out_of_memory, "cannot allocate " + std::to_string(total >> 20) + " MiB for an " +
                                                   Cache::Traits::name + " KV cache of " + std::to_string(capacity) +
                                                   " tokens; use a smaller context");
    }
    return std::unique_ptr<KvCache>(new Cache(std::move(layers), capacity));
}

}  // namespace

Expected<std::unique_ptr<KvCache>> make_fp16_kv_cache(const std::vector<KvLayerShape>& shapes, int64_t capacity) {
    return make_dense_kv_cache<uint16_t>(shapes, capacity);
}

Expected<std::unique_ptr<KvCache>> make_f32_kv_cache(const std::vector<KvLayerShape>& shapes, int64_t capacity) {
    return make_dense_kv_cache<float>(shapes, capacity);
}

Expected<std::unique_ptr<KvCache>> make_kv_cache(KvCacheType type, const std::vector<KvLayerShape>& shapes, int64_t capacity) {
    switch (type) {
        case KvCacheType::f16: return make_fp16_kv_cache(shapes, capacity);
        case KvCacheType::f32: return make_f32_kv_cache(shapes, capacity);
    }
    return error(ErrorCode::invalid_argument, "unknown KV cache type");
}

}  // namespace kvmix
