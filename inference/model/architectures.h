// The supported architectures: how each reads its hyper-parameters (GGUF metadata or a
// Hugging Face config.json). One source file per architecture (arch-llama.cpp,
// arch-qwen2.cpp, arch-qwen3.cpp, arch-gemma3.cpp) states its differences over the shared
// loading core (arch-common.h); this header is the table that joins them, plus the weight
// list every architecture derives from its ModelHParams. Stateless and thread-safe.
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
};

// By GGUF general.architecture ("llama", "mistral", "qwen2", "qwen3", "gemma3"); nullptr
// when unsupported.
const ArchitectureInfo* find_architecture_gguf(std::string_view arch);
// By Hugging Face config.json model_type ("llama", "mistral", "qwen2", "qwen3",
// "gemma3_text", "gemma3").
const ArchitectureInfo* find_architecture_hf(std::string_view model_type);
// "llama (...), mistral, qwen2, ..." — for error messages.
std::string supported_architectures();

// The weights a model with these hyper-parameters needs, in forward order: embeddings,
// output head, then per layer the projections plus what hp's switches add (Q/K/V biases,
// QK-norm, sandwich norms, RoPE frequency factors).
std::vector<TensorSpec> tensor_specs(const ModelHParams& hp);

// Per-architecture entry points (defined in arch-<name>.cpp).
Expected<ModelHParams> llama_hparams_from_gguf(const GgufFile& file, const std::string& arch);
Expected<ModelHParams> llama_hparams_from_hf(const nlohmann::json& config, const std::string& model_type);
Expected<ModelHParams> qwen2_hparams_from_gguf(const GgufFile& file, const std::string& arch);
Expected<ModelHParams> qwen2_hparams_from_hf(const nlohmann::json& config, const std::string& model_type);
Expected<ModelHParams> qwen3_hparams_from_gguf(const GgufFile& file, const std::string& arch);
Expected<ModelHParams> qwen3_hparams_from_hf(const nlohmann::json& config, const std::string& model_type);
Expected<ModelHParams> gemma3_hparams_from_gguf(const GgufFile& file, const std::string& arch);
Expected<ModelHParams> gemma3_hparams_from_hf(const nlohmann::json& config, const std::string& model_type);

// Shared checks: positive sizes, head counts that divide, sane ranges. Names the field at fault.
Status validate_hparams(const ModelHParams& hp);

}  // namespace kvmix
