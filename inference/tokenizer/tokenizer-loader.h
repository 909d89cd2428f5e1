// The tokenizer of an opened model: from GGUF metadata, or the tokenizer.model beside
// a Hugging Face folder's safetensors.
#pragma once

#include <memory>

#include "kvmix/status.h"
#include "model/model-file.h"
#include "tokenizer/tokenizer.h"

namespace kvmix {

Expected<std::unique_ptr<Tokenizer>> load_tokenizer(const ModelFile& model);

}  // namespace kvmix
