// The supported architectures: how each reads its hyper-parameters (GGUF metadata or a
// Hugging Face config.json) and which weight tensors it requires, with their shapes.
// One source file per architecture (arch-llama.cpp, arch-gemma3.cpp); this header is
// the table that joins them. Stateless and thread-safe.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json_fwd.hpp>

#include "io/gguf-file.h"
#include "kvmix/status.h"
#include "model/hparams.h"

namespace kvmix {

// One weight the architecture needs, in GGUF naming, with its GGUF shape (innermost first).
struct TensorSpec {
    std::string name;
    std::vector<uint64_t> ne;
    bool required = true;
};

struct ArchitectureInfo {
    ArchFamily family;
    Expected<ModelHParams> (*from_gguf)(const GgufFile& file, const std::string& arch);
    Expected<ModelHParams> (*from_hf_config)(const nlohmann::json& config, const std::string& model_type);
    std::vector<TensorSpec> (*tensor_specs)(const ModelHParams& hp);
};

// By GGUF general.architecture ("llama", "mistral", "gemma3"); nullptr when unsupported.
const ArchitectureInfo* find_architecture_gguf(std::string_view arch);
// By Hugging Face config.json model_type ("llama", "mistral", "gemma3_text", "gemma3").
const ArchitectureInfo* find_architecture_hf(std::string_view model_type);
// "llama, mistral, gemma3" — for error messages.
std::string supported_architectures();

// Per-architecture entry points (defined in arch-<name>.cpp).
Expected<ModelHParams> llama_hparams_from_gguf(const GgufFile& file, const std::string& arch);
Expected<ModelHParams> llama_hparams_from_hf(const nlohmann::json& config, const std::string& model_type);
std::vector<TensorSpec> llama_tensor_specs(const ModelHParams& hp);
Expected<ModelHParams> gemma3_hparams_from_gguf(const GgufFile& file, const std::string& arch);
Expected<ModelHParams> gemma3_hparams_from_hf(const nlohmann::json& config, const std::string& model_type);
std::vector<TensorSpec> gemma3_tensor_specs(const ModelHParams& hp);

// Shared checks: positive sizes, head counts that divide, sane ranges. Names the field at fault.
Status validate_hparams(const ModelHParams& hp);

}  // namespace kvmix
