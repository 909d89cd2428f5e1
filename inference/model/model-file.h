// ModelFile: a model on disk, opened and validated — hyper-parameters, the weight views
// under internal (GGUF-style) names, special tokens and the chat template. It is what
// `kvmix info` prints and what the engine's Model is built from.
// Accepts a .gguf file, a Hugging Face folder (config.json + safetensors), or a
// .safetensors file inside such a folder. Every required tensor is checked for presence,
// shape and a supported type before open() succeeds.
// Ownership: keeps the memory maps alive. Thread-safety: immutable after open().
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "io/gguf-file.h"
#include "io/safetensors-file.h"
#include "io/tensor-view.h"
#include "kvmix/status.h"
#include "model/hparams.h"

namespace kvmix {

enum class ModelFormat { gguf, safetensors };

struct SpecialTokens {
    int32_t bos = -1;
    int32_t eos = -1;
    int32_t unk = -1;
    int32_t pad = -1;
    bool add_bos = true;
    bool add_eos = false;
};

class ModelFile {
public:
    static Expected<std::shared_ptr<const ModelFile>> open(const std::string& path);

    ModelFormat format() const { return format_; }
    const std::string& path() const { return path_; }
    uint64_t file_bytes() const { return file_bytes_; }  // all files of the model
    const ModelHParams& hparams() const { return hparams_; }

    const std::vector<TensorView>& tensors() const { return tensors_; }  // internal names
    const TensorView* tensor(const std::string& name) const;
    uint64_t weight_bytes() const;
    std::map<std::string, uint64_t> tensor_type_counts() const;  // "Q4_K" -> count

    const SpecialTokens& special_tokens() const { return special_; }
    const std::string& chat_template() const { return chat_template_; }  // empty when absent
    const std::string& tokenizer_kind() const { return tokenizer_kind_; }  // "llama" (SentencePiece), ...

    // Source-specific handles for the tokenizer: exactly one is set.
    const GgufFile* gguf() const { return gguf_.get(); }
    const std::string& tokenizer_model_path() const { return tokenizer_model_path_; }

    // Tensors present in the file that the architecture does not use (reported, not an error).
    const std::vector<std::string>& unused_tensors() const { return unused_; }

private:
    ModelFile() = default;
    static Expected<std::shared_ptr<const ModelFile>> open_gguf(const std::string& path);
    static Expected<std::shared_ptr<const ModelFile>> open_safetensors(const std::string& dir);
    Status index_and_validate();

    ModelFormat format_ = ModelFormat::gguf;
    std::string path_;
    uint64_t file_bytes_ = 0;
    ModelHParams hparams_;
    std::vector<TensorView> tensors_;
    std::map<std::string, size_t> index_;
    SpecialTokens special_;
    std::string chat_template_;
    std::string tokenizer_kind_;
    std::shared_ptr<const GgufFile> gguf_;
    std::shared_ptr<const SafetensorsModel> safetensors_;
    std::string tokenizer_model_path_;
    std::vector<std::string> unused_;
};

const char* model_format_name(ModelFormat format);

}  // namespace kvmix
