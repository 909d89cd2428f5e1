// Presets and the bit allocation of KVmix (../shared/KVMIX.md §1, decisions 3-5): K and V
// layers are ranked separately by importance score; the top n_hi layers of each get the
// preset's high widths and window ratio, every other layer the low ones.
//
// Rounding rule: n_hi = floor(fraction · n_layer + 1/2) (round half up), clamped to
// [0, n_layer]. The paper's rule (custom:0.2:k3v4:k2v2) on a 32-layer model gets
// n_hi = floor(6.4 + 0.5) = 6 of 32 layers — K (6·3 + 26·2)/32 = 2.1875, V (6·4 + 26·2)/32 =
// 2.375 bits, the paper's K2.19/V2.38. Ties in the ranking go to the lower layer index.
//
// Shipped presets (4 sinks, a fixed 64-token fp16 window, keys and values rotated; see
// KvPreset). With the rotation a group of 64 costs little quality and saves 0.5 bit per
// element, so the low-bit presets use G = 64:
//   fp16      no quantization
//   high      top 30% K8/V8, others K4/V4, G = 32 — near-lossless (4-bit KIVI-style keys
//             and values are within noise of fp16; the most sensitive third stays at 8 bits)
//   balanced  top 10% K4/V2, others K3/V2, G = 64 — key-heavy: on the default model 2-bit
//             keys, not values, cause most of the loss, so keys get the extra bit everywhere
//   compact   top 30% K3/V2, others K2/V2, G = 64 — the smallest cache; its extra bits go to
//             keys (the paper's top 20% K3/V4 at G = 64 is larger and about 2x worse in KL)
//   custom    custom:FRACTION:kHIvHI:kLOvLO, e.g. custom:0.25:k4v4:k2v2
// Plain value types and pure functions; thread-safe.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "kvmix/status.h"
#include "runtime/kv-profile.h"

namespace kvmix {

// Storage settings shared by every preset (custom ones included), chosen by measurement on
// the default model (tests/bench/RESULTS.md, "KV rotation" and the window study): a fixed
// fp16 window of 64 recent tokens (ratio 0, W_min 64) instead of a share of the context, and
// the KV rotation on both sides.
struct KvPreset {
    std::string name;
    double fraction = 0.0;  // share of layers with the high widths
    int k_hi = 16, k_lo = 16, v_hi = 16, v_lo = 16;
    float ratio_hi = 0.0f, ratio_lo = 0.0f;  // full-precision window ratios
    int64_t window_min = 64, window_max = 1024;
    int group_size = 32;
    int sinks = 4;
    bool rotate_keys = true, rotate_values = true;

    bool needs_scores() const { return k_hi != k_lo || v_hi != v_lo; }
};

// fp16, high, balanced, compact — in that order.
std::vector<KvPreset> builtin_presets();
// True for the names of builtin_presets() and any "custom:..." spec.
bool is_preset_name(const std::string& name);
// A builtin name or "custom:FRACTION:kHIvHI:kLOvLO"; a precise error otherwise.
Expected<KvPreset> parse_preset(const std::string& name);

// n_hi = floor(fraction · n_layer + 1/2), clamped to [0, n_layer].
uint32_t high_layer_count(double fraction, uint32_t n_layer);

// Layer indices by descending score (ties: lower index first).
std::vector<uint32_t> rank_layers(const std::vector<double>& scores);

// The per-layer KvProfile of `preset` for these scores ([n_layer] each, same length).
// Scores are only read by presets whose high and low widths differ.
KvProfile allocate(const KvPreset& preset, const std::vector<double>& k_scores, const std::vector<double>& v_scores);

// The preset's storage settings (G, sinks, window bounds and ratios, rotation) on a profile
// whose widths come from elsewhere (per-layer bits chosen in the app, a uniform fallback):
// window ratios by width as allocate() gives them (ratio_hi above the low widths).
void apply_preset_storage(const KvPreset& preset, KvProfile& profile);

// Same bit budget, explicit ranking: the first n_hi entries of k_order / v_order get the
// high widths (for comparisons against random or inverted rankings).
KvProfile allocate_ranked(const KvPreset& preset, const std::vector<uint32_t>& k_order, const std::vector<uint32_t>& v_order);

}  // namespace kvmix
