// Tokenizer: text <-> token ids for a model's vocabulary.
// Owned by the Model (one per loaded model), immutable after construction.
// Thread-safety: every const method may be called concurrently from any thread (sessions
// share one Tokenizer); per-session streaming state lives in StreamingDecoder
// (utf8-stream.h), not here.
//
// Supported vocabularies:
//  - SentencePiece: a `tokenizer.model` file or a GGUF with `tokenizer.ggml.model = llama`
//    (Llama 1/2, Mistral, Gemma 1-3, ...). The GGUF vocabulary is converted into a
//    SentencePiece ModelProto and run by libsentencepiece (see spm-gguf-vocab.h).
//  - Byte-level BPE: a GGUF with `tokenizer.ggml.model = gpt2` (GPT-2, Llama 3, Qwen 2,
//    SmolLM, StarCoder, DeepSeek, Falcon, ...) or a Hugging Face `tokenizer.json` of type
//    BPE, run by BpeTokenizer with PCRE2 pre-tokenizer regexes (see bpe-tokenizer.h).
//
// Special tokens: `parse_special` makes CONTROL pieces (and the unknown piece) written in
// the text (e.g. "<start_of_turn>", "<|im_start|>") encode to their ids, as chat prompts
// need (longest match wins); without it they are tokenized as plain characters.
// USER_DEFINED pieces (Gemma's "\n\n", "<table>", space runs; BPE added tokens that are
// not special) are always atomic, as in SentencePiece, llama.cpp and Hugging Face.
#pragma once

#include <algorithm>
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "kvmix/status.h"

namespace kvmix {

class GgufFile;

// A token's kind; the numeric values are GGUF's tokenizer.ggml.token_type values.
enum class TokenType : uint8_t {
    normal = 1,
    unknown = 2,
    control = 3,
    user_defined = 4,
    unused = 5,
    byte = 6,
};

// What the base class knows about a vocabulary, filled by the concrete tokenizer.
struct VocabInfo {
    std::vector<TokenType> types;      // per id
    int32_t bos = -1, eos = -1, unk = -1, pad = -1;  // -1: none
    std::vector<int32_t> eog;          // ids that end a generation (eos, end-of-turn, ...)
    bool add_bos = true;               // prepend bos when encode(add_special=true)
    bool add_eos = false;              // append eos when encode(add_special=true)
    bool add_space_prefix = true;      // encoding prefixes each text fragment with "▁" (never for BPE)
    bool remove_extra_whitespaces = false;  // SentencePiece normalizer option (never for GGUF)
};

class Tokenizer {
public:
    virtual ~Tokenizer() = default;
    Tokenizer(const Tokenizer&) = delete;
    Tokenizer& operator=(const Tokenizer&) = delete;

    // From a GGUF's tokenizer.ggml.* metadata: "llama" is SentencePiece, "gpt2" byte-level
    // BPE. Errors name the key at fault; any other tokenizer.ggml.model (or an unknown
    // tokenizer.ggml.pre) is ErrorCode::unsupported.
    static Expected<std::unique_ptr<Tokenizer>> from_gguf(const GgufFile& gguf);
    // From a SentencePiece `tokenizer.model` file.
    static Expected<std::unique_ptr<Tokenizer>> from_spm_file(const std::string& path);
    // From a Hugging Face `tokenizer.json` (byte-level BPE), with the tokenizer_config.json
    // beside it when present (see bpe-tokenizer-json.h).
    static Expected<std::unique_ptr<Tokenizer>> from_tokenizer_json(const std::string& path);

    // Text -> ids. add_special: add BOS/EOS as the vocabulary asks (add_bos()/add_eos()).
    // parse_special: CONTROL/unknown pieces spelled in `text` become their ids (chat prompts).
    // Text fragments between parsed special tokens each get the dummy-prefix space when
    // the vocabulary uses one (as llama.cpp and SentencePiece-per-fragment do).
    virtual Expected<std::vector<int32_t>> encode(std::string_view text, bool add_special,
                                                  bool parse_special) const = 0;

    // Ids -> text. CONTROL tokens render as nothing unless `render_special`. Ids out of
    // range are skipped. Invalid UTF-8 from byte tokens becomes U+FFFD, one per byte.
    virtual std::string decode(std::span<const int32_t> ids, bool render_special = false) const = 0;

    // The vocabulary's piece for `id` ("▁Hello", "<0x0A>", "<start_of_turn>"); empty when
    // out of range. The view stays valid for the tokenizer's lifetime.
    virtual std::string_view piece(int32_t id) const = 0;

    // The raw bytes `id` contributes to decoded text, before the leading-space rule:
    // SentencePiece "▁" becomes " ", a byte token its byte, unknown " ⁇ "; a byte-level BPE
    // piece its raw bytes ("Ġhi" is " hi"); a control token "" (its piece if
    // render_special). Used by StreamingDecoder.
    virtual std::string token_bytes(int32_t id, bool render_special) const = 0;

    // Id of a piece, or -1.
    virtual int32_t piece_to_id(std::string_view piece) const = 0;

    int32_t n_vocab() const { return static_cast<int32_t>(info_.types.size()); }
    bool valid(int32_t id) const { return id >= 0 && id < n_vocab(); }
    TokenType type(int32_t id) const { return valid(id) ? info_.types[static_cast<size_t>(id)] : TokenType::unused; }
    bool is_control(int32_t id) const { return type(id) == TokenType::control; }
    bool is_byte(int32_t id) const { return type(id) == TokenType::byte; }
    bool is_eog(int32_t id) const {
        return id >= 0 && std::find(info_.eog.begin(), info_.eog.end(), id) != info_.eog.end();
    }

    int32_t bos() const { return info_.bos; }
    int32_t eos() const { return info_.eos; }
    int32_t unk() const { return info_.unk; }
    int32_t pad() const { return info_.pad; }
    const std::vector<int32_t>& eog_ids() const { return info_.eog; }
    bool add_bos() const { return info_.add_bos; }
    bool add_eos() const { return info_.add_eos; }
    // Whether decoding drops the leading space of the first text token (the dummy prefix).
    // (SentencePiece does so when either normalizer option below is on.)
    bool strips_leading_space() const { return info_.add_space_prefix || info_.remove_extra_whitespaces; }

protected:
    explicit Tokenizer(VocabInfo info) : info_(std::move(info)) {}
    const VocabInfo& info() const { return info_; }

private:
    VocabInfo info_;
};

}  // namespace kvmix
