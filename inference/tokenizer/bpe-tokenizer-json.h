// Reads a byte-level BPE vocabulary from a Hugging Face `tokenizer.json` (and the
// `tokenizer_config.json` beside it, when present), as found in safetensors folders.
//
// What is read and how:
//  - model: type "BPE" with vocab {piece: id} and merges ("a b" strings or ["a", "b"]
//    pairs); ignore_merges and unk_token as given. byte_fallback, dropout, a
//    continuing_subword_prefix or end_of_word_suffix are unsupported (not byte-level BPE).
//  - added_tokens: special ones become CONTROL, the others USER_DEFINED, stored as raw
//    text (an id shared with model.vocab takes the added token's text). lstrip, rstrip and
//    single_word are not applied (llama.cpp's GGUF conversion drops them too).
//  - ids missing from both lists become UNUSED placeholders "[PAD<id>]".
//  - pre_tokenizer: ByteLevel (with use_regex: GPT-2's pattern), Split with a Regex or
//    String pattern and behavior "Isolated", Digits, and Sequence of these become the
//    regex list directly; anything else is unsupported. The file must be byte-level
//    (a ByteLevel pre-tokenizer or decoder); add_prefix_space is unsupported.
//  - normalizer: none; "NFC" is accepted but not applied (llama.cpp's conversion drops it
//    as well; text that is already NFC, which is nearly all text, is unaffected).
//  - BOS/EOS: tokenizer_config.json's bos_token/eos_token and add_bos_token/add_eos_token;
//    without those flags, a TemplateProcessing post-processor that puts a special token
//    before/after the sequence turns add_bos/add_eos on.
//  - eog: eos plus the well-known end-of-turn pieces (add_known_eog_tokens).
// Errors name the file and the JSON path, e.g. "tokenizer.json: model.merges[7]: ...".
// Thread-safety: pure functions.
#pragma once

#include <string>
#include <string_view>

#include "tokenizer/bpe-vocab.h"

namespace kvmix {

// `tokenizer_json` and `config_json` are the two files' text; `config_json` may be empty
// (no tokenizer_config.json).
Expected<BpeVocab> bpe_vocab_from_tokenizer_json(std::string_view tokenizer_json, std::string_view config_json);

// Reads `path` (a tokenizer.json) and the tokenizer_config.json in the same folder.
Expected<BpeVocab> bpe_vocab_from_tokenizer_json_file(const std::string& path);

}  // namespace kvmix
