// Builds a SentencePiece ModelProto from a GGUF's `tokenizer.ggml.*` metadata
// (tokenizer.ggml.model = "llama"), so libsentencepiece runs GGUF vocabularies too.
//
// How each field is decided:
//  - model_type: BPE. llama.cpp's "llama" vocabularies are SentencePiece BPE models whose
//    merge order is the piece score (Llama, Mistral, Gemma 1-3); unigram is "t5" there.
//  - pieces: tokenizer.ggml.tokens; scores: tokenizer.ggml.scores (0 when absent);
//    types: tokenizer.ggml.token_type (1 normal, 2 unknown, 3 control, 4 user-defined,
//    5 unused, 6 byte; 0 "undefined" is taken as normal; normal when absent).
//  - user-defined pieces: llama.cpp's converter stores them with "▁" turned back into
//    " " (it matches them on raw text); sentencepiece matches them after whitespace
//    escaping, so " " is turned into "▁" again (Gemma's space runs "  ", "   ", ...).
//  - unknown: tokenizer.ggml.unknown_token_id, else the first type-2 token; that piece is
//    typed UNKNOWN (Gemma's GGUF marks <unk> as control) and any other type-2 piece
//    becomes CONTROL, since sentencepiece needs exactly one.
//  - byte_fallback: on when the vocabulary has byte (<0xNN>) tokens.
//  - normalizer: identity (no NFKC, no precompiled charsmap), whitespace runs kept
//    (remove_extra_whitespaces off), spaces escaped to "▁", add_dummy_prefix from
//    tokenizer.ggml.add_space_prefix (true when absent).
//  - training-only options (split_digits, character_coverage, ...) do not affect encoding
//    and keep their defaults.
// Thread-safety: a pure function.
#pragma once

#include "tokenizer/spm-model-proto.h"
#include "tokenizer/tokenizer.h"

namespace kvmix {

class GgufFile;

struct SpmGgufVocab {
    SpmModelProto proto;
    VocabInfo info;  // types as given to sentencepiece, special ids, add_bos/add_eos, eog
};

// Errors name the key at fault, e.g. "tokenizer: 'tokenizer.ggml.scores' has 31999
// entries but 'tokenizer.ggml.tokens' has 32000". A tokenizer.ggml.model other than
// "llama" is ErrorCode::unsupported.
Expected<SpmGgufVocab> spm_vocab_from_gguf(const GgufFile& gguf);

// Adds to info.eog: eos plus CONTROL tokens whose piece is a well-known end-of-turn
// marker ("<end_of_turn>", "<|im_end|>", ...), since GGUFs often lack eot_token_id.
void add_known_eog_tokens(VocabInfo& info, const std::vector<std::string_view>& pieces);

}  // namespace kvmix
