// The tokenizer of an opened model: from GGUF metadata, or the tokenizer files beside a
// Hugging Face folder's safetensors.
// Thread-safety: pure functions (they read files).
#pragma once

#include <memory>
#include <string>

#include "kvmix/status.h"
#include "model/model-file.h"
#include "tokenizer/tokenizer.h"

namespace kvmix {

Expected<std::unique_ptr<Tokenizer>> load_tokenizer(const ModelFile& model);

// The tokenizer of a Hugging Face model folder: its tokenizer.model (SentencePiece) when
// present, which is exact for the SentencePiece models that ship both files, else its
// tokenizer.json (byte-level BPE). An error names the folder when it has neither.
Expected<std::unique_ptr<Tokenizer>> load_tokenizer_from_dir(const std::string& dir);

}  // namespace kvmix
