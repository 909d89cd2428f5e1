// Pre-tokenization for byte-level BPE: text is cut into words by a sequence of regexes
// before merges run inside each word.
//
// Named sets follow llama.cpp's `tokenizer.ggml.pre` values (which match the Hugging Face
// pre-tokenizers the vocabularies were trained with). Each regex of a set splits every
// piece produced by the previous one; a match becomes a piece and so does the unmatched
// text between matches. A regex sees only its piece: lookarounds and `$` stop at the
// piece's edges.
//
// Regexes run on PCRE2 with UTF and UCP (\p{L}, \s, ... are Unicode properties), `$` only
// at the very end, and invalid UTF-8 in the text allowed (it never matches, so it ends up
// in the unmatched pieces and is still encoded byte by byte). Patterns are compiled once,
// JIT-compiled where PCRE2 supports it.
// Ownership: BpePreTokenizer owns its compiled patterns.
// Thread-safety: split() is const and allocates its match data per call, so one instance
// serves any number of threads.
#pragma once

#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "kvmix/status.h"

struct pcre2_real_code_8;

namespace kvmix {

struct BpePreTokenizerSpec {
    std::string name;                  // the `tokenizer.ggml.pre` value, or where the regexes came from
    std::vector<std::string> regexes;  // applied in order
    bool ignore_merges = false;        // a word that is itself a token is taken whole (Llama 3)
    bool add_bos = false;              // llama.cpp's add_bos default when the GGUF does not say
};

// The set for a `tokenizer.ggml.pre` value; ErrorCode::unsupported naming the known values
// for anything else.
Expected<BpePreTokenizerSpec> bpe_pre_tokenizer_spec(std::string_view pre);

// The accepted `tokenizer.ggml.pre` values, comma-separated (for messages and docs).
std::string known_bpe_pre_tokenizers();

class BpePreTokenizer {
public:
    // Compiles `regexes`; a pattern PCRE2 rejects is a format error naming it and the offset
    // ("pre-tokenizer regex 1 '(x' does not compile at offset 2: ...").
    static Expected<BpePreTokenizer> create(const std::vector<std::string>& regexes);

    BpePreTokenizer(BpePreTokenizer&&) noexcept;
    BpePreTokenizer& operator=(BpePreTokenizer&&) noexcept;
    ~BpePreTokenizer();

    // Appends the words of `text` (views into it, in order, covering it exactly). Fails
    // only when PCRE2 gives up on a match: a pattern that backtracks more than
    // 10M + 64 steps per byte of the piece for one match (never the built-in sets, which
    // stay linear) is an error, not a stall.
    Status split(std::string_view text, std::vector<std::string_view>& words) const;

    size_t size() const { return codes_.size(); }

private:
    BpePreTokenizer() = default;
    void release();

    std::vector<pcre2_real_code_8*> codes_;  // owned
};

}  // namespace kvmix
