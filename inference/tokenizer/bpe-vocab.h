// BpeVocab: a byte-level BPE vocabulary as the loaders (GGUF, tokenizer.json) hand it to
// BpeTokenizer, plus the checks both loaders share.
//
// Pieces: NORMAL tokens are in byte-level form ("Ġhello"); CONTROL and USER_DEFINED ones
// (added tokens) are raw text ("<|im_end|>"), matched in the text before pre-tokenization.
// Merges are resolved to ids: merges[r] is the pair of rank r (lower merges first), and
// its result is the token spelled left + right, which must exist.
// Thread-safety: plain values and pure functions.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "kvmix/status.h"
#include "tokenizer/bpe-pre-tokenizer.h"
#include "tokenizer/tokenizer.h"

namespace kvmix {

// Longest accepted piece. Real vocabularies stay below 1 KiB (StarCoder's whitespace
// runs reach 512 bytes); anything near this bound is a corrupt or hostile file.
inline constexpr size_t kMaxBpePieceBytes = 64 * 1024;

struct BpeMerge {
    int32_t left = -1, right = -1, result = -1;
};

struct BpeVocab {
    std::vector<std::string> tokens;  // by id
    VocabInfo info;                   // types (one per token), special ids, flags, eog
    std::vector<BpeMerge> merges;     // by rank
    BpePreTokenizerSpec pre;
    // A byte whose symbol is not a token becomes info.unk instead of being dropped
    // (Hugging Face BPE with an unk_token; llama.cpp and unk-less BPE drop it).
    bool unk_for_missing_bytes = false;
};

// Piece -> id; the views point into the tokens vector it was built from.
using BpePieceIndex = std::unordered_map<std::string_view, int32_t>;

// Checks every piece (non-empty, at most kMaxBpePieceBytes, no duplicates) and indexes
// them. `key` names the list in errors: "'tokenizer.ggml.tokens'[5] is empty".
// Pieces of type UNUSED that repeat another piece (placeholders) are left out of the
// index instead of being an error.
Expected<BpePieceIndex> index_bpe_pieces(const std::vector<std::string>& tokens, const std::vector<TokenType>& types,
                                         const std::string& key);

// Resolves one merge and appends it to `merges`. `where` names it in errors, e.g.
// "'tokenizer.ggml.merges'[7] 'Ġ t'".
Status add_bpe_merge(const BpePieceIndex& index, std::string_view left, std::string_view right,
                     const std::string& where, std::vector<BpeMerge>& merges);

}  // namespace kvmix
