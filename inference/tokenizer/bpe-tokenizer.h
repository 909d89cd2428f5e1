// BpeTokenizer: the Tokenizer for byte-level BPE vocabularies (GPT-2 style: GGUF
// tokenizer.ggml.model = "gpt2", or a Hugging Face tokenizer.json of type BPE).
//
// encode(): added tokens are cut out of the text first (leftmost, longest first):
// USER_DEFINED ones always, CONTROL and UNKNOWN ones only with parse_special, as llama.cpp
// and Hugging Face do. Each remaining fragment is split into words by the pre-tokenizer
// regexes, each word's bytes become byte-level symbols, and merges are applied lowest
// rank first (leftmost on ties) until none applies. With ignore_merges (Llama 3) a word
// that is itself a token is taken whole. A byte whose symbol is not a token (vocabularies
// trained on a reduced alphabet lack some, e.g. SmolLM2 has no 0x04 or 0xF5..0xFF) is
// dropped, as llama.cpp and Hugging Face (without unk_token) do, or becomes the unknown
// token when a tokenizer.json names one.
//
// decode()/token_bytes(): NORMAL (and BYTE/UNUSED) pieces map back from the byte-level
// alphabet to raw bytes; USER_DEFINED pieces are raw text; CONTROL and UNKNOWN pieces
// appear only with render_special. There is no dummy-prefix space to strip.
// Ownership: owns the vocabulary and the compiled pre-tokenizer.
// Thread-safety: immutable after create(); const methods keep their scratch in locals,
// so any number of threads may call them concurrently.
#pragma once

#include <array>
#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

#include "tokenizer/bpe-pre-tokenizer.h"
#include "tokenizer/bpe-vocab.h"
#include "tokenizer/tokenizer.h"

namespace kvmix {

class BpeTokenizer final : public Tokenizer {
public:
    // Compiles the pre-tokenizer and indexes `vocab` (as checked by the loaders).
    static Expected<std::unique_ptr<BpeTokenizer>> create(BpeVocab vocab);

    Expected<std::vector<int32_t>> encode(std::string_view text, bool add_special, bool parse_special) const override;
    std::string decode(std::span<const int32_t> ids, bool render_special = false) const override;
    std::string_view piece(int32_t id) const override;
    std::string token_bytes(int32_t id, bool render_special) const override;
    int32_t piece_to_id(std::string_view piece) const override;

    // The pre-tokenizer's name ("smollm", "qwen2", "tokenizer.json", ...).
    const std::string& pre_tokenizer_name() const { return pre_name_; }
    size_t n_merges() const { return merges_.size(); }

private:
    struct Merge {
        int32_t rank;
        int32_t result;
    };

    BpeTokenizer(BpeVocab vocab, BpePreTokenizer pre);
    // Encodes text that holds no added token.
    Status encode_fragment(std::string_view text, std::vector<int32_t>& out) const;
    void encode_word(std::string_view word, std::vector<int32_t>& out) const;
    const Merge* find_merge(int32_t left, int32_t right) const;

    std::vector<std::string> tokens_;
    BpePieceIndex index_;                         // views into tokens_
    std::unordered_map<uint64_t, Merge> merges_;  // (left << 32 | right) -> rank, result
    std::array<int32_t, 256> byte_token_{};       // byte -> id of its symbol, -1 when missing
    BpePreTokenizer pre_;
    std::string pre_name_;
    bool ignore_merges_ = false;
    bool unk_for_missing_bytes_ = false;
    // Added tokens by first byte, longest first.
    std::array<std::vector<std::pair<std::string_view, int32_t>>, 256> added_;
};

}  // namespace kvmix
