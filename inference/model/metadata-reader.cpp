#include "model/metadata-reader.h"

#include <cmath>

namespace kvmix {

namespace {

Status out_of_range(const std::string& what, const std::string& value, uint32_t lo, uint32_t hi) {
    return format_error(what + " = " + value + " is outside the valid range [" + std::to_string(lo) + ", " +
                        std::to_string(hi) + "]");
}

}  // namespace

Expected<uint32_t> GgufMetaReader::u32(const std::string& key, uint32_t lo, uint32_t hi) const {
    const std::string full = arch_ + "." + key;
    auto v = file_.get_int(full);
    if (!v) return v.status();
    if (*v < lo || *v > hi) return out_of_range("metadata key '" + full + "'", std::to_string(*v), lo, hi);
    return static_cast<uint32_t>(*v);
}

Expected<uint32_t> GgufMetaReader::u32_or(const std::string& key, uint32_t fallback, uint32_t lo, uint32_t hi) const {
    if (!has(key)) return fallback;
    return u32(key, lo, hi);
}

Expected<float> GgufMetaReader::f32_or(const std::string& key, float fallback) const {
    const std::string full = arch_ + "." + key;
    if (!file_.find(full)) return fallback;
    auto v = file_.get_float(full);
    if (!v) return v.status();
    if (!std::isfinite(*v)) return format_error("metadata key '" + full + "' is not a finite number");
    return static_cast<float>(*v);
}

Expected<std::string> GgufMetaReader::str_or(const std::string& key, const std::string& fallback) const {
    const std::string full = arch_ + "." + key;
    if (!file_.find(full)) return fallback;
    return file_.get_string(full);
}

bool JsonConfigReader::has(const std::string& key) const {
    auto it = config_.find(key);
    return it != config_.end() && !it->is_null();
}

const nlohmann::json* JsonConfigReader::get(const std::string& key) const {
    auto it = config_.find(key);
    return (it == config_.end() || it->is_null()) ? nullptr : &*it;
}

Expected<uint32_t> JsonConfigReader::u32(const std::string& key, uint32_t lo, uint32_t hi) const {
    const nlohmann::json* v = get(key);
    if (!v) return format_error("config.json: missing '" + key + "'");
    if (!v->is_number_integer()) return format_error("config.json: '" + key + "' is " + v->dump() + ", expected an integer");
    const int64_t x = v->get<int64_t>();
    if (x < lo || x > hi) return out_of_range("config.json: '" + key + "'", std::to_string(x), lo, hi);
    return static_cast<uint32_t>(x);
}

Expected<uint32_t> JsonConfigReader::u32_or(const std::string& key, uint32_t fallback, uint32_t lo, uint32_t hi) const {
    if (!has(key)) return fallback;
    return u32(key, lo, hi);
}

Expected<float> JsonConfigReader::f32_or(const std::string& key, float fallback) const {
    const nlohmann::json* v = get(key);
    if (!v) return fallback;
    if (!v->is_number()) return format_error("config.json: '" + key + "' is " + v->dump() + ", expected a number");
    const double x = v->get<double>();
    if (!std::isfinite(x)) return format_error("config.json: '" + key + "' is not a finite number");
    return static_cast<float>(x);
}

Expected<bool> JsonConfigReader::bool_or(const std::string& key, bool fallback) const {
    const nlohmann::json* v = get(key);
    if (!v) return fallback;
    if (!v->is_boolean()) return format_error("config.json: '" + key + "' is " + v->dump() + ", expected true or false");
    return v->get<bool>();
}

Expected<std::string> JsonConfigReader::str_or(const std::string& key, const std::string& fallback) const {
    const nlohmann::json* v = get(key);
    if (!v) return fallback;
    if (!v->is_string()) return format_error("config.json: '" + key + "' is " + v->dump() + ", expected a string");
    return v->get<std::string>();
}

}  // namespace kvmix
