// SafetensorsFile: one parsed .safetensors file (8-byte little-endian header length, a
// JSON header, then the raw tensor data). Tensor data stays in the memory map.
// SafetensorsModel: a Hugging Face model folder (model.safetensors, or shards listed by
// model.safetensors.index.json) plus its config.json and optional tokenizer.model.
//
// Untrusted input: the header length, every shape and every data range are checked
// against the file size and the caps in SafetensorsLimits; errors name the tensor or
// key at fault. Supported dtypes: F32, F16, BF16 (others are a clear error).
// Shapes are converted from safetensors' outermost-first order to TensorView's
// innermost-first ne[]. Data pointers may be unaligned (the format does not pad).
//
// Ownership: each object keeps the memory maps its TensorViews point into alive.
// Thread-safety: immutable after open()/parse(); share freely across threads.
#pragma once

#include <cstddef>
#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "io/mapped-file.h"
#include "io/tensor-view.h"
#include "kvmix/status.h"

namespace kvmix {

struct SafetensorsLimits {
    uint64_t max_header_bytes = 100ull << 20;  // the official reader's cap as well
    uint64_t max_tensors = 1ull << 20;
    uint32_t max_json_depth = 64;              // header nesting (a real header needs 3)
    uint64_t max_json_file_bytes = 64ull << 20;  // config.json, index json
};

class SafetensorsFile {
public:
    // Parses the file at `path` (memory-mapped). Errors are prefixed with the path.
    static Expected<std::shared_ptr<const SafetensorsFile>> open(const std::string& path,
                                                                 const SafetensorsLimits& limits = {});
    // Parses an already mapped file.
    static Expected<std::shared_ptr<const SafetensorsFile>> parse(std::shared_ptr<const MappedFile> file,
                                                                  const SafetensorsLimits& limits = {});
    // Parses an in-memory image (fuzzing, tests); `bytes` must outlive the result.
    static Expected<std::shared_ptr<const SafetensorsFile>> parse_bytes(const uint8_t* bytes, size_t size,
                                                                        const SafetensorsLimits& limits = {});

    const std::string& path() const { return path_; }  // empty for parse_bytes
    uint64_t file_size() const { return size_; }
    uint64_t header_bytes() const { return header_bytes_; }  // JSON length (without the 8-byte prefix)
    uint64_t data_offset() const { return 8 + header_bytes_; }

    // The optional "__metadata__" string map.
    const std::map<std::string, std::string>& metadata() const { return metadata_; }

    // Tensors in data order (ascending offset); names are the file's (Hugging Face) names.
    const std::vector<TensorView>& tensors() const { return tensors_; }
    const TensorView* find_tensor(const std::string& name) const;

private:
    SafetensorsFile() = default;
    friend class SafetensorsParser;

    std::shared_ptr<const MappedFile> file_;  // keeps tensor data alive; null for parse_bytes
    std::string path_;
    uint64_t size_ = 0;
    uint64_t header_bytes_ = 0;
    std::map<std::string, std::string> metadata_;
    std::vector<TensorView> tensors_;
    std::map<std::string, size_t> tensor_index_;
};

class SafetensorsModel {
public:
    // Opens a Hugging Face model folder: model.safetensors (preferred when present) or
    // model.safetensors.index.json with its shards; config.json is required.
    static Expected<std::shared_ptr<const SafetensorsModel>> open(const std::string& dir,
                                                                  const SafetensorsLimits& limits = {});

    const std::string& dir() const { return dir_; }
    bool sharded() const { return sharded_; }
    const std::vector<std::shared_ptr<const SafetensorsFile>>& shards() const { return shards_; }

    // All tensors of all shards (shard order, then data order within a shard).
    const std::vector<TensorView>& tensors() const { return tensors_; }
    const TensorView* find_tensor(const std::string& name) const;
    // The shard file a tensor lives in; nullptr when there is no such tensor.
    const SafetensorsFile* shard_of(const std::string& name) const;

    const nlohmann::json& config() const { return config_; }  // parsed config.json (an object)
    const std::string& tokenizer_model_path() const { return tokenizer_model_path_; }  // empty if absent

private:
    SafetensorsModel() = default;

    std::string dir_;
    bool sharded_ = false;
    std::vector<std::shared_ptr<const SafetensorsFile>> shards_;
    std::vector<TensorView> tensors_;
    std::map<std::string, std::pair<size_t, size_t>> tensor_index_;  // name -> (shard, index in tensors_)
    nlohmann::json config_;
    std::string tokenizer_model_path_;
};

// Parses untrusted JSON text without throwing: duplicate keys (anywhere) and nesting
// deeper than `max_depth` are errors; `what` names the document in messages.
Expected<nlohmann::json> parse_json_strict(std::string_view text, const std::string& what, uint32_t max_depth = 64);

// Reads model.safetensors.index.json text into tensor name -> shard file name.
// Shard names must be plain file names (no directories). Exposed for tests and fuzzing.
Expected<std::map<std::string, std::string>> parse_safetensors_index(std::string_view text,
                                                                     const SafetensorsLimits& limits = {});

}  // namespace kvmix
