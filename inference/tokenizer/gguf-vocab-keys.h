// The tokenizer.ggml.* keys every GGUF vocabulary shares (special token ids, add-BOS/EOS
// flags), read the same way for SentencePiece and byte-level BPE vocabularies, with errors
// that name the key. Stateless; thread-safe.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "kvmix/status.h"

namespace kvmix {

class GgufFile;

// An optional token id: -1 when the key is absent. Out of range is an error, except for
// `lenient` keys (padding ids are often stale), which then read as absent.
Expected<int32_t> gguf_optional_token_id(const GgufFile& gguf, const std::string& key, size_t n_vocab, bool lenient = false);
Expected<bool> gguf_optional_bool(const GgufFile& gguf, const std::string& key, bool fallback);

// The special ids (-1: absent) and flags of tokenizer.ggml.*; add_bos falls back to
// `default_add_bos` when the file does not say (it differs between vocabulary families).
struct GgufSpecialTokens {
    int32_t bos = -1, eos = -1, unk = -1, pad = -1, eot = -1, eom = -1;
    bool add_bos = false, add_eos = false;
};
Expected<GgufSpecialTokens> read_gguf_special_tokens(const GgufFile& gguf, size_t n_vocab, bool default_add_bos);

// Printable form of a vocabulary piece for error messages: control bytes as \xNN, cut
// after 64 characters.
std::string show_vocab_piece(std::string_view s);

}  // namespace kvmix
