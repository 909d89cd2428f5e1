// Reads a byte-level BPE vocabulary from a GGUF's `tokenizer.ggml.*` metadata
// (tokenizer.ggml.model = "gpt2"), as llama.cpp's converter writes it.
//
// How each field is decided:
//  - pieces: tokenizer.ggml.tokens (byte-level form; added tokens raw). Each must be
//    non-empty, at most kMaxBpePieceBytes (64 KiB) and unique.
//  - types: tokenizer.ggml.token_type, one per token (0 "undefined" reads as normal);
//    all normal when absent.
//  - merges: tokenizer.ggml.merges, required; each "left right" with exactly one space,
//    both sides and their concatenation in the vocabulary. A repeated pair keeps its
//    first (lowest) rank, as in llama.cpp.
//  - pre-tokenizer: tokenizer.ggml.pre (see bpe-pre-tokenizer.h for the known values).
//    When the key is missing llama.cpp falls back to its "default" set (and warns that
//    quality degrades); we do the same rather than refuse old conversions.
//  - special ids: bos/eos/unknown/eot/eom token ids must lie inside the vocabulary;
//    padding_token_id out of range reads as absent (often stale).
//  - add_bos_token / add_eos_token: as stored; when absent, add_bos follows llama.cpp's
//    default for the pre-tokenizer (on for the Llama 3 family) and add_eos is off. A flag
//    without its token is off.
//  - eog: eot, eom, eos and the well-known end-of-turn pieces (add_known_eog_tokens).
//  - no dummy-prefix space: byte-level vocabularies encode text as is.
// Thread-safety: a pure function.
#pragma once

#include "tokenizer/bpe-vocab.h"

namespace kvmix {

class GgufFile;

// Errors name the key at fault, e.g. "tokenizer: 'tokenizer.ggml.merges'[3] is 'ab',
// not two pieces separated by one space". A tokenizer.ggml.model other than "gpt2" or an
// unknown tokenizer.ggml.pre is ErrorCode::unsupported.
Expected<BpeVocab> bpe_vocab_from_gguf(const GgufFile& gguf);

}  // namespace kvmix
