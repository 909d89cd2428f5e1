// KvCache: per-session storage of every layer's keys (post-RoPE) and values.
// Slot j of a layer holds the token at absolute position j; slots [0, size()) are committed.
// A forward pass writes its chunk's tokens into slots [size(), size() + n) layer by layer,
// attends over them, and commit(n) makes them part of the context once every layer ran —
// so a cancelled or failed pass leaves the cache as it was.
// The dense fp16 cache is the baseline and the dense fp32 cache the exact reference (both
// in dense-kv-cache.cpp); the KVmix cache implements the same interface. Owned by one Session; not thread-safe.
#pragma once

#include <cstdint>
#include <functional>
#include <iosfwd>
#include <memory>
#include <vector>

#include "backend/cpu-backend.h"
#include "kvmix/status.h"

namespace kvmix {

struct KvLayerShape {
    int64_t n_head_kv = 0;
    int64_t head_dim = 0;    // key head size
    int64_t head_dim_v = 0;  // value head size
};

// One layer's attention request: n_q query tokens at positions q_pos, against slots
// [0, n_kv) where n_kv = size() + the tokens written for this pass.
struct AttentionQuery {
    const float* q = nullptr;  // [n_q, n_head, head_dim]
    float* out = nullptr;      // [n_q, n_head, head_dim_v]
    int64_t n_q = 0;
    int64_t n_head = 0;
    const int32_t* q_pos = nullptr;
    int64_t n_kv = 0;
    int32_t window = 0;        // sliding window (0: none)
    float scale = 1.0f;
    float softcap = 0.0f;
};

struct KvLayerMemory {
    uint64_t bytes = 0;        // true bytes used by this layer's committed tokens
    uint64_t fp16_bytes = 0;   // what an fp16 cache would use for them
    double k_bits = 16.0;      // payload bits per key element
    double v_bits = 16.0;      // payload bits per value element
};

struct KvMemoryReport {
    int64_t n_tokens = 0;
    int64_t capacity = 0;
    uint64_t bytes = 0;            // sum of the layers' true bytes
    uint64_t fp16_bytes = 0;       // sum of their fp16 equivalents
    uint64_t allocated_bytes = 0;  // reserved storage (capacity), including slack
    std::vector<KvLayerMemory> layers;
};

// Rotates one KV head's keys k[n, head_dim] of `layer` by `delta` positions (RoPE composes:
// R(p + delta) = R(delta) R(p)), used when tokens move to new positions.
using KeyRerotateFn = std::function<void(uint32_t layer, float* k, int64_t n, int32_t delta)>;

class KvCache {
public:
    virtual ~KvCache() = default;

    virtual int64_t capacity() const = 0;
    virtual int64_t size() const = 0;
    virtual uint32_t n_layer() const = 0;
    virtual const KvLayerShape& shape(uint32_t layer) const = 0;

    // k: [n, n_head_kv * head_dim], v: [n, n_head_kv * head_dim_v] fp32; stored at slots
    // [size() + offset, size() + offset + n). Requires size() + offset + n <= capacity().
    virtual void write(uint32_t layer, int64_t offset, int64_t n, const float* k, const float* v) = 0;
    virtual void attend(uint32_t layer, const AttentionQuery& query, CpuBackend& backend) = 0;
    virtual void commit(int64_t n) = 0;

    // Drops every token at position >= n. A cache may keep fewer (a quantized cache cuts at
    // its group boundaries): size() says how many remain.
    virtual void truncate(int64_t n) = 0;
    // Removes positions [begin, end); later tokens move back by end - begin positions and
    // their keys are re-rotated with `rerotate` (a quantized cache re-quantizes what moved).
    virtual void erase(int64_t begin, int64_t end, const KeyRerotateFn& rerotate) = 0;
    // Whether erase() is available (every cache here supports it; a device cache may not).
    virtual bool supports_erase() const { return true; }

    virtual KvMemoryReport memory() const = 0;

    // Binary snapshot of the committed tokens (format tagged and versioned by the cache).
    virtual Status save(std::ostream& out) const = 0;
    // Restores a snapshot written by save() of a cache with the same shapes; on error the
    // cache is left empty.
    virtual Status load(std::istream& in) = 0;
};

// Element type of a dense cache. f16 is the default (half the memory, and the baseline
// KVmix savings are reported against); f32 stores keys/values unrounded, so the forward
// pass equals an fp32 reference implementation up to summation order.
enum class KvCacheType { f16, f32 };

// The dense caches: per layer and KV head, keys [capacity, head_dim] and values
// [capacity, head_dim_v] as fp16 / fp32, preallocated (pages are touched only when
// written). Snapshots are tagged with the element type: one never loads into the other.
// memory(): bytes are the true bytes (4 per element for f32), fp16_bytes the fp16 size.
Expected<std::unique_ptr<KvCache>> make_fp16_kv_cache(const std::vector<KvLayerShape>& layers, int64_t capacity);
Expected<std::unique_ptr<KvCache>> make_f32_kv_cache(const std::vector<KvLayerShape>& layers, int64_t capacity);
Expected<std::unique_ptr<KvCache>> make_kv_cache(KvCacheType type, const std::vector<KvLayerShape>& layers, int64_t capacity);

}  // namespace kvmix
