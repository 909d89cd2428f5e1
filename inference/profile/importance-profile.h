// The importance profile of a model: identity, calibration description, per-layer
// importance scores and the per-preset bit allocations, as a versioned JSON file.
//
// File format (schema_version 1):
//   {"format": "kvmix-importance-profile", "schema_version": 1,
//    "name": "balanced", "group_size": 32, "sinks": 4, "layers": [...],   <- the balanced
//        allocation at top level, so `--kv profile:FILE` reads the file as a KvProfile
//    "model": {"architecture", "name", "n_layer", "kv_weights_sha256"},
//    "calibration": {"sources", "files", "n_sequences", "n_tokens", "seq_len", "seed",
//                    "seconds", "mean_loss"},
//    "scores": [{"layer": i, "k": s_K(i), "v": s_V(i)}, ...],
//    "presets": {"high": {"fraction", "n_high", "avg_k_bits", "avg_v_bits", "layers"}, ...}}
// kv_weights_sha256 is the SHA-256 of every layer's K and V projection (name, type, shape,
// bytes, in layer order), so a profile never applies to another model.
//
// Profiles are stored in <user_data_dir>/profiles/<kv_weights_sha256>.json. Parsing is
// all-or-nothing: a malformed, truncated, mismatched or newer-schema file is a precise
// error and nothing of it is used. Plain value types and pure functions except the store
// helpers (file system); thread-safe.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "kvmix/status.h"
#include "model/model-file.h"
#include "profile/bit-allocation.h"
#include "runtime/kv-profile.h"

namespace kvmix {

inline constexpr int kImportanceSchemaVersion = 1;

struct ModelIdentity {
    std::string architecture;
    std::string name;
    uint32_t n_layer = 0;
    std::string kv_weights_sha256;
};

struct CalibrationInfo {
    std::vector<std::string> sources;  // "text", "conversations", "self-generated", "tokens"
    std::vector<std::string> files;    // text files, by name as given
    int64_t n_sequences = 0;
    int64_t n_tokens = 0;              // tokens over all sequences
    int64_t seq_len = 0;               // longest sequence
    uint64_t seed = 0;                 // self-generation seed
    double seconds = 0;                // wall time of generation + analysis
    double mean_loss = 0;              // mean next-token cross-entropy over sequences (nats)
};

struct ImportanceProfile {
    int schema_version = kImportanceSchemaVersion;
    ModelIdentity model;
    CalibrationInfo calibration;
    std::vector<double> k_scores, v_scores;  // [n_layer], averaged over sequences
};

ModelIdentity model_identity(const ModelFile& file);

std::string to_json(const ImportanceProfile& profile, int indent = 1);
// `what` names the source in messages (e.g. the path).
Expected<ImportanceProfile> parse_importance_profile(const std::string& text, const std::string& what);
// OK when `profile` was made for the model `id`; a precise error otherwise.
Status check_profile_matches(const ImportanceProfile& profile, const ModelIdentity& id, const std::string& what);

// <user_data_dir>/profiles/<sha256>.json
std::string stored_profile_path(const ModelIdentity& id);
Expected<ImportanceProfile> load_importance_profile(const std::string& path);
// Writes atomically (temporary file + rename), creating directories.
Status save_importance_profile(const ImportanceProfile& profile, const std::string& path);

// The KvProfile of a preset spec (fp16, high, balanced, compact, custom:...) for the model
// in `file`: from `profile_path` when non-empty, else the stored profile of the model.
// Presets without a high/low split need no profile. Missing profile: "no importance profile
// for this model; run `kvmix profile -m MODEL`".
Expected<KvProfile> preset_kv_profile(const std::string& spec, const ModelFile& file, const std::string& profile_path = {});

}  // namespace kvmix
