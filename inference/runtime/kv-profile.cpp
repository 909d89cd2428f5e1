#include "runtime/kv-profile.h"

#include <algorithm>
#include <cmath>
#include <fstream>
#include <regex>
#include <sstream>

#include <nlohmann/json.hpp>

namespace kvmix {

namespace {

bool valid_width(int b) { return b == 2 || b == 3 || b == 4 || b == 8 || b == 16; }

// Far above any context length; keeps the window arithmetic (rounding up to whole groups,
// sizing the fp16 tail) from overflowing on a profile file's huge window_max.
constexpr int64_t kMaxWindowTokens = int64_t{1} << 30;

int64_t round_up(int64_t x, int64_t g) { return (x + g - 1) / g * g; }

int64_t window_for(const KvProfile& p, float ratio, int64_t n_tokens) {
    const auto w = static_cast<int64_t>(std::ceil(static_cast<double>(ratio) * static_cast<double>(n_tokens)));
    return round_up(std::clamp(w, p.window_min, p.window_max), p.group_size);
}

}  // namespace

bool KvProfile::is_fp16() const {
    return std::all_of(layers.begin(), layers.end(), [](const KvLayerBits& l) { return l.k_bits == 16 && l.v_bits == 16; });
}

double KvProfile::avg_k_bits() const {
    double s = 0;
    for (const auto& l : layers) s += l.k_bits;
    return layers.empty() ? 16.0 : s / static_cast<double>(layers.size());
}

double KvProfile::avg_v_bits() const {
    double s = 0;
    for (const auto& l : layers) s += l.v_bits;
    return layers.empty() ? 16.0 : s / static_cast<double>(layers.size());
}

int64_t KvProfile::k_window(uint32_t layer, int64_t n_tokens) const { return window_for(*this, layers[layer].k_window_ratio, n_tokens); }
int64_t KvProfile::v_window(uint32_t layer, int64_t n_tokens) const { return window_for(*this, layers[layer].v_window_ratio, n_tokens); }

Status validate(const KvProfile& p, uint32_t n_layer) {
    auto fail = [&](const std::string& m) { return error(ErrorCode::invalid_argument, "KV profile '" + p.name + "': " + m); };
    if (p.layers.size() != n_layer)
        return fail("has " + std::to_string(p.layers.size()) + " layers, the model has " + std::to_string(n_layer));
    if (p.group_size != 32 && p.group_size != 64 && p.group_size != 128) return fail("group size must be 32, 64 or 128, got " + std::to_string(p.group_size));
    if (p.sinks < 0 || p.sinks > 1024) return fail("sinks must be in [0, 1024], got " + std::to_string(p.sinks));
    if (p.window_min < 0 || p.window_max < p.window_min || p.window_max > kMaxWindowTokens)
        return fail("window bounds must satisfy 0 <= min <= max <= " + std::to_string(kMaxWindowTokens) + ", got [" +
                    std::to_string(p.window_min) + ", " + std::to_string(p.window_max) + "]");
    for (size_t i = 0; i < p.layers.size(); ++i) {
        const KvLayerBits& l = p.layers[i];
        const std::string at = "layer " + std::to_string(i) + ": ";
        if (!valid_width(l.k_bits)) return fail(at + "key bits must be 2, 3, 4, 8 or 16, got " + std::to_string(l.k_bits));
        if (!valid_width(l.v_bits)) return fail(at + "value bits must be 2, 3, 4, 8 or 16, got " + std::to_string(l.v_bits));
        for (float r : {l.k_window_ratio, l.v_window_ratio})
            if (!(r >= 0.0f && r <= 1.0f)) return fail(at + "window ratios must be in [0, 1]");
    }
    return {};
}

KvProfile uniform_kv_profile(uint32_t n_layer, int k_bits, int v_bits) {
    KvProfile p;
    p.name = k_bits == 16 && v_bits == 16 ? "fp16" : "k" + std::to_string(k_bits) + "v" + std::to_string(v_bits);
    KvLayerBits l;
    l.k_bits = k_bits;
    l.v_bits = v_bits;
    l.k_window_ratio = k_bits > 2 ? 0.2f : 0.1f;
    l.v_window_ratio = v_bits > 2 ? 0.2f : 0.1f;
    p.layers.assign(n_layer, l);
    return p;
}

Expected<KvProfile> parse_kv_spec(const std::string& spec, uint32_t n_layer) {
    if (spec == "fp16" || spec == "f16") return uniform_kv_profile(n_layer, 16, 16);
    if (spec.rfind("profile:", 0) == 0) {
        const std::string path = spec.substr(8);
        std::ifstream in(path, std::ios::binary);
        if (!in) return error(ErrorCode::io, "cannot open KV profile '" + path + "'");
        std::stringstream ss;
        ss << in.rdbuf();
        return parse_kv_profile_json(ss.str(), n_layer, "'" + path + "'");
    }
    static const std::regex kSpec("k(2|3|4|8|16)v(2|3|4|8|16)");
    std::smatch m;
    if (std::regex_match(spec, m, kSpec)) {
        KvProfile p = uniform_kv_profile(n_layer, std::stoi(m[1]), std::stoi(m[2]));
        KVMIX_TRY(validate(p, n_layer));
        return p;
    }
    return error(ErrorCode::invalid_argument, "unknown --kv '" + spec +
                                                  "' (expected fp16, kXvY with X and Y in 2, 3, 4, 8, 16 such as k2v2 or k2v4, "
                                                  "or profile:FILE)");
}

Expected<KvProfile> parse_kv_profile_json(const std::string& text, uint32_t n_layer, const std::string& what) {
    nlohmann::json j = nlohmann::json::parse(text, nullptr, /*allow_exceptions=*/false);
    if (j.is_discarded()) return format_error("KV profile " + what + " is not valid JSON");
    if (!j.is_object()) return format_error("KV profile " + what + ": top level must be an object");
    KvProfile p;
    p.name = "profile";
    auto get_int = [&](const nlohmann::json& o, const char* key, auto& out) -> Status {
        auto it = o.find(key);
        if (it == o.end()) return {};
        if (!it->is_number_integer()) return format_error("KV profile " + what + ": '" + key + "' must be an integer");
        out = it->get<std::remove_reference_t<decltype(out)>>();
        return {};
    };
    auto get_ratio = [&](const nlohmann::json& o, const char* key, float& out) -> Status {
        auto it = o.find(key);
        if (it == o.end()) return {};
        if (!it->is_number()) return format_error("KV profile " + what + ": '" + key + "' must be a number");
        out = it->get<float>();
        return {};
    };
    if (auto it = j.find("name"); it != j.end() && it->is_string()) p.name = it->get<std::string>();
    if (auto it = j.find("rotation"); it != j.end()) {
        if (!it->is_string()) return format_error("KV profile " + what + ": 'rotation' must be a string");
        Status st = parse_kv_rotation(it->get<std::string>(), p);
        if (!st.ok()) return format_error("KV profile " + what + ": " + st.message());
    }
    KVMIX_TRY(get_int(j, "group_size", p.group_size));
    KVMIX_TRY(get_int(j, "sinks", p.sinks));
    KVMIX_TRY(get_int(j, "window_min", p.window_min));
    KVMIX_TRY(get_int(j, "window_max", p.window_max));
    auto layers = j.find("layers");
    if (layers == j.end() || !layers->is_array()) return format_error("KV profile " + what + ": missing 'layers' array");
    for (const auto& lj : *layers) {
        if (!lj.is_object()) return format_error("KV profile " + what + ": every 'layers' entry must be an object");
        KvLayerBits l;
        KVMIX_TRY(get_int(lj, "k_bits", l.k_bits));
        KVMIX_TRY(get_int(lj, "v_bits", l.v_bits));
        l.k_window_ratio = l.k_bits > 2 ? 0.2f : 0.1f;
        l.v_window_ratio = l.v_bits > 2 ? 0.2f : 0.1f;
        KVMIX_TRY(get_ratio(lj, "k_window_ratio", l.k_window_ratio));
        KVMIX_TRY(get_ratio(lj, "v_window_ratio", l.v_window_ratio));
        p.layers.push_back(l);
    }
    Status st = validate(p, n_layer);
    if (!st.ok()) return format_error(st.message() + " (in " + what + ")");
    return p;
}

Status parse_kv_rotation(const std::string& name, KvProfile& profile) {
    if (name != "none" && name != "keys" && name != "values" && name != "both")
        return error(ErrorCode::invalid_argument, "KV rotation must be none, keys, values or both, got '" + name + "'");
    profile.rotate_keys = name == "keys" || name == "both";
    profile.rotate_values = name == "values" || name == "both";
    return {};
}

std::string rotation_name(const KvProfile& profile) {
    if (profile.rotate_keys) return profile.rotate_values ? "both" : "keys";
    return profile.rotate_values ? "values" : "none";
}

double kv_quantized_bytes_per_token(int k_bits, int v_bits, int group_size, int64_t n_head_kv, int64_t head_dim, int64_t head_dim_v) {
    // b + 32/G bits per element: b-bit codes plus an fp16 scale and an fp16 min per group.
    auto bits = [&](int b) { return b == 16 ? 16.0 : b + 32.0 / group_size; };
    return static_cast<double>(n_head_kv) * (head_dim * bits(k_bits) + head_dim_v * bits(v_bits)) / 8.0;
}

double kv_fp16_bytes_per_token(int64_t n_head_kv, int64_t head_dim, int64_t head_dim_v) {
    return static_cast<double>(n_head_kv * (head_dim + head_dim_v) * 2);
}

}  // namespace kvmix
