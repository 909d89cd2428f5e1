#include "profile/bit-allocation.h"

#include <algorithm>
#include <cmath>
#include <numeric>

namespace kvmix {

namespace {

KvPreset mix(const char* name, double fraction, int k_hi, int k_lo, int v_hi, int v_lo, int group_size = 32) {
    KvPreset p;
    p.name = name;
    p.group_size = group_size;
    p.fraction = fraction;
    p.k_hi = k_hi;
    p.k_lo = k_lo;
    p.v_hi = v_hi;
    p.v_lo = v_lo;
    return p;
}

}  // namespace

std::vector<KvPreset> builtin_presets() {
    return {mix("fp16", 0.0, 16, 16, 16, 16), mix("high", 0.3, 8, 4, 8, 4), mix("balanced", 0.1, 4, 3, 2, 2, 64),
            mix("compact", 0.3, 3, 2, 2, 2, 64)};
}

bool is_preset_name(const std::string& name) {
    if (name.rfind("custom:", 0) == 0 || name == "custom") return true;
    for (const KvPreset& p : builtin_presets())
        if (p.name == name) return true;
    return false;
}

namespace {

bool valid_bits(int b) { return b == 2 || b == 3 || b == 4 || b == 8 || b == 16; }

// "kXvY" -> (X, Y)
bool parse_kv_pair(const std::string& s, int& k, int& v) {
    if (s.size() < 4 || s[0] != 'k') return false;
    const size_t vp = s.find('v');
    if (vp == std::string::npos || vp < 2 || vp + 1 >= s.size()) return false;
    try {
        size_t used = 0;
        k = std::stoi(s.substr(1, vp - 1), &used);
        if (used != vp - 1) return false;
        v = std::stoi(s.substr(vp + 1), &used);
        if (used != s.size() - vp - 1) return false;
    } catch (...) {
        return false;
    }
    return valid_bits(k) && valid_bits(v);
}

}  // namespace

Expected<KvPreset> parse_preset(const std::string& name) {
    for (const KvPreset& p : builtin_presets())
        if (p.name == name) return p;
    const std::string usage = "custom preset: expected custom:FRACTION:kHIvHI:kLOvLO (e.g. custom:0.25:k4v4:k2v2; widths 2, 3, 4, 8, 16)";
    if (name.rfind("custom", 0) != 0) return error(ErrorCode::invalid_argument, "unknown preset '" + name + "' (fp16, high, balanced, compact, custom:...)");
    std::vector<std::string> parts;
    size_t b = 0;
    while (true) {
        const size_t e = name.find(':', b);
        parts.push_back(name.substr(b, e == std::string::npos ? std::string::npos : e - b));
        if (e == std::string::npos) break;
        b = e + 1;
    }
    if (parts.size() != 4 || parts[0] != "custom") return error(ErrorCode::invalid_argument, usage + ", got '" + name + "'");
    KvPreset p;
    p.name = name;
    bool ok = !parts[1].empty();
    try {
        size_t used = 0;
        if (ok) p.fraction = std::stod(parts[1], &used);
        ok = ok && used == parts[1].size();
    } catch (...) {
        ok = false;
    }
    if (!ok) return error(ErrorCode::invalid_argument, usage + ": bad fraction '" + parts[1] + "'");
    if (!(p.fraction >= 0 && p.fraction <= 1)) return error(ErrorCode::invalid_argument, usage + ": fraction must be in [0, 1]");
    if (!parse_kv_pair(parts[2], p.k_hi, p.v_hi)) return error(ErrorCode::invalid_argument, usage + ": bad high widths '" + parts[2] + "'");
    if (!parse_kv_pair(parts[3], p.k_lo, p.v_lo)) return error(ErrorCode::invalid_argument, usage + ": bad low widths '" + parts[3] + "'");
    return p;
}

uint32_t high_layer_count(double fraction, uint32_t n_layer) {
    const double x = std::floor(fraction * static_cast<double>(n_layer) + 0.5);
    return static_cast<uint32_t>(std::clamp(x, 0.0, static_cast<double>(n_layer)));
}

std::vector<uint32_t> rank_layers(const std::vector<double>& scores) {
    std::vector<uint32_t> order(scores.size());
    std::iota(order.begin(), order.end(), 0u);
    std::stable_sort(order.begin(), order.end(), [&](uint32_t a, uint32_t b) { return scores[a] > scores[b]; });
    return order;
}

namespace {

// The profile-wide storage fields of a preset (everything but the per-layer widths and ratios).
void copy_storage(const KvPreset& preset, KvProfile& p) {
    p.group_size = preset.group_size;
    p.sinks = preset.sinks;
    p.window_min = preset.window_min;
    p.window_max = preset.window_max;
    p.rotate_keys = preset.rotate_keys;
    p.rotate_values = preset.rotate_values;
}

}  // namespace

void apply_preset_storage(const KvPreset& preset, KvProfile& p) {
    copy_storage(preset, p);
    for (KvLayerBits& l : p.layers) {
        l.k_window_ratio = l.k_bits > preset.k_lo ? preset.ratio_hi : preset.ratio_lo;
        l.v_window_ratio = l.v_bits > preset.v_lo ? preset.ratio_hi : preset.ratio_lo;
    }
}

KvProfile allocate_ranked(const KvPreset& preset, const std::vector<uint32_t>& k_order, const std::vector<uint32_t>& v_order) {
    const auto n_layer = static_cast<uint32_t>(k_order.size());
    KvProfile p;
    p.name = preset.name;
    copy_storage(preset, p);
    p.layers.resize(n_layer);
    const uint32_t n_hi = high_layer_count(preset.fraction, n_layer);
    for (KvLayerBits& l : p.layers) {
        l.k_bits = preset.k_lo;
        l.v_bits = preset.v_lo;
        l.k_window_ratio = l.v_window_ratio = preset.ratio_lo;
    }
    for (uint32_t r = 0; r < n_hi; ++r) {
        p.layers[k_order[r]].k_bits = preset.k_hi;
        p.layers[k_order[r]].k_window_ratio = preset.ratio_hi;
        p.layers[v_order[r]].v_bits = preset.v_hi;
        p.layers[v_order[r]].v_window_ratio = preset.ratio_hi;
    }
    return p;
}

KvProfile allocate(const KvPreset& preset, const std::vector<double>& k_scores, const std::vector<double>& v_scores) {
    return allocate_ranked(preset, rank_layers(k_scores), rank_layers(v_scores));
}

}  // namespace kvmix
