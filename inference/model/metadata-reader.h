// Typed, range-checked reads of architecture hyper-parameters from GGUF metadata
// ("<arch>.block_count") or a config.json object, with precise errors naming the key.
// Internal to inference/model. Not thread-safe (holds a reference; use locally).
#pragma once

#include <cstdint>
#include <string>

#include <nlohmann/json.hpp>

#include "io/gguf-file.h"
#include "kvmix/status.h"

namespace kvmix {

class GgufMetaReader {
public:
    GgufMetaReader(const GgufFile& file, std::string arch) : file_(file), arch_(std::move(arch)) {}

    // "<arch>.<key>" as an integer in [lo, hi]; missing is an error.
    Expected<uint32_t> u32(const std::string& key, uint32_t lo = 1, uint32_t hi = 1u << 30) const;
    // Same, with a default when the key is absent.
    Expected<uint32_t> u32_or(const std::string& key, uint32_t fallback, uint32_t lo = 0, uint32_t hi = 1u << 30) const;
    Expected<float> f32_or(const std::string& key, float fallback) const;
    Expected<std::string> str_or(const std::string& key, const std::string& fallback) const;
    bool has(const std::string& key) const { return file_.find(arch_ + "." + key) != nullptr; }

private:
    const GgufFile& file_;
    std::string arch_;
};

class JsonConfigReader {
public:
    explicit JsonConfigReader(const nlohmann::json& config) : config_(config) {}

    Expected<uint32_t> u32(const std::string& key, uint32_t lo = 1, uint32_t hi = 1u << 30) const;
    Expected<uint32_t> u32_or(const std::string& key, uint32_t fallback, uint32_t lo = 0, uint32_t hi = 1u << 30) const;
    Expected<float> f32_or(const std::string& key, float fallback) const;
    Expected<bool> bool_or(const std::string& key, bool fallback) const;
    Expected<std::string> str_or(const std::string& key, const std::string& fallback) const;
    // True when present and not null.
    bool has(const std::string& key) const;
    // True when present, even as null.
    bool contains(const std::string& key) const { return config_.contains(key); }
    const nlohmann::json* get(const std::string& key) const;

private:
    const nlohmann::json& config_;
};

}  // namespace kvmix
