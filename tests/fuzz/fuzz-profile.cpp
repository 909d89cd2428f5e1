// libFuzzer harness for the profile files a user hands to the engine:
//  - the importance profile (parse_importance_profile): a parsed profile must write back
//    (to_json) to a file that parses to the same values, and every preset's allocation
//    over its scores must be a valid KvProfile;
//  - the per-layer KV profile (parse_kv_profile_json, what `--kv profile:FILE` reads), for
//    as many layers as the input's "layers" array has: a profile it accepts must validate
//    and must build a KVmix cache (shapes of the tiny fixtures) that stores, truncates,
//    saves and reloads tokens;
//  - short non-JSON inputs as a --kv spec (parse_kv_spec) and a preset name (parse_preset).
// Every failure must carry a message.
#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <memory>
#include <sstream>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "profile/bit-allocation.h"
#include "profile/importance-profile.h"
#include "runtime/kv-cache.h"
#include "runtime/kv-profile.h"
#include "runtime/kvmix-kv-cache.h"

namespace {

void check_failure(const kvmix::Status& st) {
    if (st.message().empty()) __builtin_trap();
}

bool same_bits(double a, double b) {
    return std::memcmp(&a, &b, sizeof a) == 0;
}

void check_allocations(const std::vector<double>& k, const std::vector<double>& v) {
    for (const kvmix::KvPreset& preset : kvmix::builtin_presets()) {
        const kvmix::KvProfile p = kvmix::allocate(preset, k, v);
        if (!kvmix::validate(p, static_cast<uint32_t>(k.size())).ok()) __builtin_trap();
    }
}

void check_importance(const std::string& text) {
    const auto parsed = kvmix::parse_importance_profile(text, "'fuzz.json'");
    if (!parsed.ok()) {
        check_failure(parsed.status());
        return;
    }
    const kvmix::ImportanceProfile& p = *parsed;
    if (p.k_scores.size() != p.model.n_layer || p.v_scores.size() != p.model.n_layer) __builtin_trap();
    check_allocations(p.k_scores, p.v_scores);
    const auto back = kvmix::parse_importance_profile(kvmix::to_json(p), "'written.json'");
    if (!back.ok()) __builtin_trap();  // what we write, we read
    const kvmix::ImportanceProfile& b = *back;
    if (b.model.architecture != p.model.architecture || b.model.name != p.model.name ||
        b.model.n_layer != p.model.n_layer || b.model.kv_weights_sha256 != p.model.kv_weights_sha256 ||
        b.calibration.sources != p.calibration.sources || b.calibration.files != p.calibration.files ||
        b.calibration.n_tokens != p.calibration.n_tokens || b.calibration.seed != p.calibration.seed ||
        !same_bits(b.calibration.mean_loss, p.calibration.mean_loss))
        __builtin_trap();
    for (size_t i = 0; i < p.k_scores.size(); ++i)
        if (!same_bits(b.k_scores[i], p.k_scores[i]) || !same_bits(b.v_scores[i], p.v_scores[i])) __builtin_trap();
}

// A profile the reader accepted must work as a cache. Layer shapes alternate like the tiny
// fixtures' (2 KV heads of 16; 1 of 32 with a wider value head).
void exercise_cache(const kvmix::KvProfile& profile) {
    if (profile.layers.size() > 8) return;  // the cost grows with layers; the logic does not
    std::vector<kvmix::KvLayerShape> shapes;
    for (size_t i = 0; i < profile.layers.size(); ++i)
        shapes.push_back(i % 2 ? kvmix::KvLayerShape{1, 32, 48} : kvmix::KvLayerShape{2, 16, 16});
    constexpr int64_t capacity = 160, chunk = 24;
    auto made = kvmix::make_kvmix_kv_cache(shapes, profile, capacity, chunk);
    if (!made.ok()) {
        check_failure(made.status());
        return;
    }
    kvmix::KvCache& cache = **made;
    std::vector<float> k, v;
    for (int64_t done = 0; done < capacity; done += chunk) {
        const int64_t n = std::min(chunk, capacity - done);
        for (uint32_t l = 0; l < cache.n_layer(); ++l) {
            const kvmix::KvLayerShape& s = cache.shape(l);
            k.resize(static_cast<size_t>(n * s.n_head_kv * s.head_dim));
            v.resize(static_cast<size_t>(n * s.n_head_kv * s.head_dim_v));
            for (size_t i = 0; i < k.size(); ++i) k[i] = std::sin(0.37f * static_cast<float>(i + done + l));
            for (size_t i = 0; i < v.size(); ++i) v[i] = std::cos(0.11f * static_cast<float>(i + done + l));
            cache.write(l, 0, n, k.data(), v.data());
        }
        cache.commit(n);
    }
    const kvmix::KvMemoryReport mem = cache.memory();
    if (mem.n_tokens != capacity || mem.layers.size() != shapes.size()) __builtin_trap();
    cache.truncate(capacity / 2 + 3);
    std::stringstream snapshot;
    if (!cache.save(snapshot).ok()) __builtin_trap();
    const int64_t kept = cache.size();
    if (!cache.load(snapshot).ok() || cache.size() != kept) __builtin_trap();
}

void check_kv_profile(const std::string& text) {
    const auto j = nlohmann::json::parse(text, nullptr, false);
    uint32_t n_layer = 2;
    if (j.is_object()) {
        const auto layers = j.find("layers");
        if (layers != j.end() && layers->is_array() && !layers->empty())
            n_layer = static_cast<uint32_t>(layers->size());
    }
    const auto parsed = kvmix::parse_kv_profile_json(text, n_layer, "'fuzz.json'");
    if (!parsed.ok()) {
        check_failure(parsed.status());
        return;
    }
    if (!kvmix::validate(*parsed, n_layer).ok()) __builtin_trap();
    exercise_cache(*parsed);
}

void check_spec(const std::string& text) {
    if (text.size() > 256 || text.rfind("profile:", 0) == 0) return;  // profile:FILE would open a file
    const auto spec = kvmix::parse_kv_spec(text, 2);
    if (!spec.ok())
        check_failure(spec.status());
    else if (!kvmix::validate(*spec, 2).ok())
        __builtin_trap();
    const auto preset = kvmix::parse_preset(text);
    if (!preset.ok()) {
        check_failure(preset.status());
        return;
    }
    const kvmix::KvProfile p = kvmix::allocate(*preset, {0.5, 1.0, 0.25}, {1.0, 0.0, 2.0});
    if (!kvmix::validate(p, 3).ok()) __builtin_trap();
    exercise_cache(p);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    const std::string text(reinterpret_cast<const char*>(data), size);
    check_importance(text);
    check_kv_profile(text);
    check_spec(text);
    return 0;
}
