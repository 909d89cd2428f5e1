#include "profile/importance-profile.h"

#include <cmath>
#include <filesystem>
#include <fstream>
#include <numeric>
#include <sstream>

#include <nlohmann/json.hpp>

#include "model/model-paths.h"
#include "profile/sha256.h"

namespace kvmix {

namespace {

using json = nlohmann::json;

constexpr const char* kFormat = "kvmix-importance-profile";

json layers_json(const KvProfile& p) {
    json layers = json::array();
    for (const KvLayerBits& l : p.layers)
        layers.push_back({{"k_bits", l.k_bits}, {"v_bits", l.v_bits}, {"k_window_ratio", l.k_window_ratio}, {"v_window_ratio", l.v_window_ratio}});
    return layers;
}

}  // namespace

ModelIdentity model_identity(const ModelFile& file) {
    const ModelHParams& hp = file.hparams();
    ModelIdentity id;
    id.architecture = hp.architecture;
    id.name = hp.name;
    id.n_layer = hp.n_layer;
    Sha256 h;
    for (uint32_t i = 0; i < hp.n_layer; ++i) {
        for (const char* which : {"attn_k", "attn_v"}) {
            const std::string name = "blk." + std::to_string(i) + "." + which + ".weight";
            const TensorView* t = file.tensor(name);
            if (!t) continue;  // ModelFile::open checked presence; keep the hash total anyway
            const std::string head = name + ":" + tensor_type_name(t->type) + ":" + t->shape_string();
            h.update(head.data(), head.size());
            h.update(t->data, static_cast<size_t>(t->n_bytes));
        }
    }
    id.kv_weights_sha256 = h.finish_hex();
    return id;
}

std::string to_json(const ImportanceProfile& profile, int indent) {
    const auto n_layer = static_cast<uint32_t>(profile.k_scores.size());
    json j;
    j["format"] = kFormat;
    j["schema_version"] = profile.schema_version;
    const KvProfile balanced = allocate(parse_preset("balanced").value(), profile.k_scores, profile.v_scores);
    j["name"] = "balanced";
    j["group_size"] = balanced.group_size;
    j["sinks"] = balanced.sinks;
    j["window_min"] = balanced.window_min;
    j["window_max"] = balanced.window_max;
    j["rotation"] = rotation_name(balanced);
    j["layers"] = layers_json(balanced);
    j["model"] = {{"architecture", profile.model.architecture},
                  {"name", profile.model.name},
                  {"n_layer", profile.model.n_layer},
                  {"kv_weights_sha256", profile.model.kv_weights_sha256}};
    const CalibrationInfo& c = profile.calibration;
    j["calibration"] = {{"sources", c.sources},   {"files", c.files},     {"n_sequences", c.n_sequences},
                        {"n_tokens", c.n_tokens}, {"seq_len", c.seq_len}, {"seed", c.seed},
                        {"seconds", c.seconds},   {"mean_loss", c.mean_loss}};
    json scores = json::array();
    for (uint32_t i = 0; i < n_layer; ++i) scores.push_back({{"layer", i}, {"k", profile.k_scores[i]}, {"v", profile.v_scores[i]}});
    j["scores"] = scores;
    json presets = json::object();
    for (const KvPreset& p : builtin_presets()) {
        if (!p.needs_scores()) continue;
        const KvProfile kp = allocate(p, profile.k_scores, profile.v_scores);
        presets[p.name] = {{"fraction", p.fraction},
                           {"n_high", high_layer_count(p.fraction, n_layer)},
                           {"avg_k_bits", kp.avg_k_bits()},
                           {"avg_v_bits", kp.avg_v_bits()},
                           {"group_size", kp.group_size},
                           {"sinks", kp.sinks},
                           {"window_min", kp.window_min},
                           {"window_max", kp.window_max},
                           {"rotation", rotation_name(kp)},
                           {"layers", layers_json(kp)}};
    }
    j["presets"] = presets;
    return j.dump(indent) + "\n";
}

Expected<ImportanceProfile> parse_importance_profile(const std::string& text, const std::string& what) {
    const std::string pre = "importance profile " + what + ": ";
    json j;
    try {
        j = json::parse(text);
    } catch (const json::exception& e) {
        return format_error(pre + "not valid JSON (truncated or corrupt): " + e.what());
    }
    if (!j.is_object()) return format_error(pre + "the top level must be an object");
    auto field = [&](const json& o, const char* key, json::value_t type, const std::string& where) -> Expected<const json*> {
        auto it = o.find(key);
        if (it == o.end()) return format_error(pre + "missing '" + where + key + "'");
        const bool number_ok = type == json::value_t::number_float && it->is_number();
        const bool uint_ok = type == json::value_t::number_unsigned && it->is_number_unsigned();
        if (!(it->type() == type || number_ok || uint_ok)) return format_error(pre + "'" + where + key + "' has the wrong type");
        return &*it;
    };
    const json* f = nullptr;
    KVMIX_ASSIGN(f, field(j, "format", json::value_t::string, ""));
    if (f->get<std::string>() != kFormat) return format_error(pre + "not an importance profile (format '" + f->get<std::string>() + "')");
    KVMIX_ASSIGN(f, field(j, "schema_version", json::value_t::number_unsigned, ""));
    ImportanceProfile p;
    const uint64_t version = f->get<uint64_t>();
    if (version > static_cast<uint64_t>(kImportanceSchemaVersion))
        return error(ErrorCode::unsupported, pre + "schema_version " + std::to_string(version) + " is newer than this kvmix reads (" +
                                                 std::to_string(kImportanceSchemaVersion) + "); update kvmix or run `kvmix profile` again");
    if (version < 1) return format_error(pre + "schema_version must be >= 1");
    p.schema_version = static_cast<int>(version);

    const json* m = nullptr;
    KVMIX_ASSIGN(m, field(j, "model", json::value_t::object, ""));
    KVMIX_ASSIGN(f, field(*m, "architecture", json::value_t::string, "model."));
    p.model.architecture = f->get<std::string>();
    KVMIX_ASSIGN(f, field(*m, "name", json::value_t::string, "model."));
    p.model.name = f->get<std::string>();
    KVMIX_ASSIGN(f, field(*m, "n_layer", json::value_t::number_unsigned, "model."));
    if (f->get<uint64_t>() == 0 || f->get<uint64_t>() > 4096) return format_error(pre + "model.n_layer out of range");
    p.model.n_layer = f->get<uint32_t>();
    KVMIX_ASSIGN(f, field(*m, "kv_weights_sha256", json::value_t::string, "model."));
    p.model.kv_weights_sha256 = f->get<std::string>();
    if (p.model.kv_weights_sha256.size() != 64 ||
        p.model.kv_weights_sha256.find_first_not_of("0123456789abcdef") != std::string::npos)
        return format_error(pre + "model.kv_weights_sha256 must be 64 lower-case hex digits");

    const json* c = nullptr;
    KVMIX_ASSIGN(c, field(j, "calibration", json::value_t::object, ""));
    try {
        CalibrationInfo& ci = p.calibration;
        KVMIX_ASSIGN(f, field(*c, "sources", json::value_t::array, "calibration."));
        ci.sources = f->get<std::vector<std::string>>();
        KVMIX_ASSIGN(f, field(*c, "files", json::value_t::array, "calibration."));
        ci.files = f->get<std::vector<std::string>>();
        KVMIX_ASSIGN(f, field(*c, "n_sequences", json::value_t::number_unsigned, "calibration."));
        ci.n_sequences = f->get<int64_t>();
        KVMIX_ASSIGN(f, field(*c, "n_tokens", json::value_t::number_unsigned, "calibration."));
        ci.n_tokens = f->get<int64_t>();
        KVMIX_ASSIGN(f, field(*c, "seq_len", json::value_t::number_unsigned, "calibration."));
        ci.seq_len = f->get<int64_t>();
        KVMIX_ASSIGN(f, field(*c, "seed", json::value_t::number_unsigned, "calibration."));
        ci.seed = f->get<uint64_t>();
        KVMIX_ASSIGN(f, field(*c, "seconds", json::value_t::number_float, "calibration."));
        ci.seconds = f->get<double>();
        KVMIX_ASSIGN(f, field(*c, "mean_loss", json::value_t::number_float, "calibration."));
        ci.mean_loss = f->get<double>();
    } catch (const json::exception&) {
        return format_error(pre + "calibration.sources and calibration.files must be arrays of strings");
    }

    const json* s = nullptr;
    KVMIX_ASSIGN(s, field(j, "scores", json::value_t::array, ""));
    if (s->size() != p.model.n_layer)
        return format_error(pre + "'scores' has " + std::to_string(s->size()) + " entries for " + std::to_string(p.model.n_layer) + " layers");
    for (size_t i = 0; i < s->size(); ++i) {
        const json& e = (*s)[i];
        const std::string where = "scores[" + std::to_string(i) + "].";
        if (!e.is_object()) return format_error(pre + "scores[" + std::to_string(i) + "] must be an object");
        KVMIX_ASSIGN(f, field(e, "layer", json::value_t::number_unsigned, where));
        if (f->get<uint64_t>() != i) return format_error(pre + where + "layer must be " + std::to_string(i));
        for (const char* key : {"k", "v"}) {
            KVMIX_ASSIGN(f, field(e, key, json::value_t::number_float, where));
            const double x = f->get<double>();
            if (!std::isfinite(x) || x < 0) return format_error(pre + where + key + " must be finite and >= 0");
            (key[0] == 'k' ? p.k_scores : p.v_scores).push_back(x);
        }
    }
    // The top-level allocation must be one a KvProfile reader accepts.
    auto top = parse_kv_profile_json(text, p.model.n_layer, what);
    if (!top) return format_error(pre + top.status().message());
    return p;
}

Status check_profile_matches(const ImportanceProfile& profile, const ModelIdentity& id, const std::string& what) {
    const ModelIdentity& p = profile.model;
    if (p.architecture != id.architecture || p.n_layer != id.n_layer || p.kv_weights_sha256 != id.kv_weights_sha256)
        return error(ErrorCode::invalid_argument,
                     "importance profile " + what + " is for another model (" + p.architecture + ", " + std::to_string(p.n_layer) +
                         " layers, K/V weights " + p.kv_weights_sha256.substr(0, 12) + "), not this one (" + id.architecture + ", " +
                         std::to_string(id.n_layer) + " layers, K/V weights " + id.kv_weights_sha256.substr(0, 12) +
                         "); run `kvmix profile` for this model");
    return {};
}

std::string stored_profile_path(const ModelIdentity& id) {
    return user_data_dir() + "/profiles/" + id.kv_weights_sha256 + ".json";
}

Expected<ImportanceProfile> load_importance_profile(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    if (!in) return error(ErrorCode::io, "cannot open importance profile '" + path + "'");
    std::ostringstream ss;
    ss << in.rdbuf();
    if (in.bad()) return error(ErrorCode::io, "cannot read importance profile '" + path + "'");
    return parse_importance_profile(ss.str(), "'" + path + "'");
}

Status save_importance_profile(const ImportanceProfile& profile, const std::string& path) {
    namespace fs = std::filesystem;
    std::error_code ec;
    const fs::path target(path);
    if (target.has_parent_path()) fs::create_directories(target.parent_path(), ec);
    if (ec) return error(ErrorCode::io, "cannot create '" + target.parent_path().string() + "': " + ec.message());
    const std::string tmp = path + ".tmp";
    {
        std::ofstream out(tmp, std::ios::binary | std::ios::trunc);
        if (!out) return error(ErrorCode::io, "cannot write '" + tmp + "'");
        out << to_json(profile);
        out.flush();
        if (!out) return error(ErrorCode::io, "cannot write '" + tmp + "'");
    }
    fs::rename(tmp, target, ec);
    if (ec) {
        fs::remove(tmp, ec);
        return error(ErrorCode::io, "cannot write '" + path + "'");
    }
    return {};
}

Expected<KvProfile> preset_kv_profile(const std::string& spec, const ModelFile& file, const std::string& profile_path) {
    KvPreset preset;
    KVMIX_ASSIGN(preset, parse_preset(spec));
    const uint32_t n_layer = file.hparams().n_layer;
    if (!preset.needs_scores()) {
        std::vector<uint32_t> order(n_layer);
        std::iota(order.begin(), order.end(), 0u);
        return allocate_ranked(preset, order, order);
    }
    const ModelIdentity id = model_identity(file);
    const std::string path = profile_path.empty() ? stored_profile_path(id) : profile_path;
    std::error_code ec;
    if (profile_path.empty() && !std::filesystem::exists(path, ec))
        return error(ErrorCode::invalid_argument,
                     "no importance profile for this model; run `kvmix profile -m " + file.path() + "` (preset '" + spec + "')");
    ImportanceProfile p;
    KVMIX_ASSIGN(p, load_importance_profile(path));
    KVMIX_TRY(check_profile_matches(p, id, "'" + path + "'"));
    KvProfile kp = allocate(preset, p.k_scores, p.v_scores);
    KVMIX_TRY(validate(kp, n_layer));
    return kp;
}

}  // namespace kvmix
