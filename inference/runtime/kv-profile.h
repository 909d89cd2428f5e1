// KvProfile: how the KVmix cache stores each layer — key and value bit widths
// ({2, 3, 4, 8} or 16 = fp16), the full-precision recent-window ratios, the group size G,
// the attention-sink count and the window bounds (../shared/KVMIX.md §1-2).
// Window rule (our decision 5): window = clamp(ratio · tokens in context, window_min,
// window_max), rounded up to whole groups, per layer and separately for K and V.
// Plain value type; thread-safe once built.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "kvmix/status.h"

namespace kvmix {

struct KvLayerBits {
    int k_bits = 16;
    int v_bits = 16;
    float k_window_ratio = 0.1f;
    float v_window_ratio = 0.1f;
};

struct KvProfile {
    std::string name = "fp16";       // "fp16", "k2v4", a preset or profile name
    std::vector<KvLayerBits> layers;
    int group_size = 32;             // G: tokens per key group, channels per value group
    int sinks = 4;                   // first tokens kept in fp16 (attention sinks)
    int64_t window_min = 32;         // full-precision window bounds in tokens
    int64_t window_max = 1024;
    // Rotate keys / values per head before quantization (common/kv-rotation.h); applies to
    // the quantized sides only and needs power-of-two head sizes. CPU cache only.
    bool rotate_keys = false;
    bool rotate_values = false;
    // CPU integer attention: keep the int8 query's rounding residual as a second int8 row for
    // 2-4-bit keys (MixedAttentionParams::query_residual): scores exact to ~1/32000 of a block's
    // largest |q·s| instead of ~1/254, for about 15% more attention time. Off by default (the
    // single int8 query's rounding is far inside the keys' own); the checks against an exact
    // reference turn it on.
    bool query_residual = false;

    bool is_fp16() const;            // every layer 16/16: the plain fp16 cache
    // Average payload bits per element over layers (the paper's convention, metadata not counted).
    double avg_k_bits() const;
    double avg_v_bits() const;
    // Full-precision window in tokens for a layer when the context holds n_tokens.
    int64_t k_window(uint32_t layer, int64_t n_tokens) const;
    int64_t v_window(uint32_t layer, int64_t n_tokens) const;
};

// Checks widths, ratios, G, sinks and bounds; the message names the layer and field.
Status validate(const KvProfile& profile, uint32_t n_layer);

// A uniform profile: every layer k_bits/v_bits with the paper's low-bit window ratio (10%),
// 20% for layers above 2 bits (the paper's high-bit ratio).
KvProfile uniform_kv_profile(uint32_t n_layer, int k_bits, int v_bits);

// Parses a --kv SPEC: "fp16", "kXvY" with X, Y in {2, 3, 4, 8, 16} (e.g. k2v2, k4v4, k2v4),
// or "profile:FILE" (per-layer JSON, see parse_kv_profile_json).
Expected<KvProfile> parse_kv_spec(const std::string& spec, uint32_t n_layer);

// Per-layer profile JSON: {"name": ..., "group_size": 32, "sinks": 4, "window_min": 32,
// "window_max": 1024, "rotation": "none" | "keys" | "values" | "both", "layers": [{"k_bits": 3, "v_bits": 4, "k_window_ratio": 0.2,
// "v_window_ratio": 0.2}, ...]} with exactly n_layer entries. Optional fields keep defaults.
Expected<KvProfile> parse_kv_profile_json(const std::string& text, uint32_t n_layer, const std::string& what);

// The rotation setting by name: "none", "keys", "values" or "both" (--kv-rotate, the
// profile JSON's "rotation"); rotation_name is its inverse.
Status parse_kv_rotation(const std::string& name, KvProfile& profile);
std::string rotation_name(const KvProfile& profile);

// Bytes per token of a layer with n_head_kv heads of head_dim/head_dim_v, for a
// quantized token (codes + fp16 scale/min per group, KVMIX.md §3) and as fp16.
double kv_quantized_bytes_per_token(int k_bits, int v_bits, int group_size, int64_t n_head_kv, int64_t head_dim, int64_t head_dim_v);
double kv_fp16_bytes_per_token(int64_t n_head_kv, int64_t head_dim, int64_t head_dim_v);

}  // namespace kvmix
