// Streaming detokenization that never emits broken UTF-8.
//  - Utf8Assembler: takes bytes in arbitrary pieces and releases only complete, valid
//    UTF-8; a partial sequence at the end waits for the next push. Bytes that can never
//    become valid are replaced by U+FFFD, one per byte (as SentencePiece's decoder does).
//  - StreamingDecoder: token ids -> text chunks for one generation, applying the same
//    rules as Tokenizer::decode (byte tokens, the first token's dummy-prefix space,
//    control tokens), so the concatenated chunks equal decode() of all the ids.
// Ownership: StreamingDecoder borrows the Tokenizer, which must outlive it.
// Thread-safety: per-session state, not synchronized; use one instance per stream.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

namespace kvmix {

class Tokenizer;

class Utf8Assembler {
public:
    // Appends `bytes` and returns the longest complete prefix of what is pending.
    std::string push(std::string_view bytes);
    // Returns what is pending, an incomplete sequence as U+FFFD per byte, and clears it.
    std::string flush();
    bool has_pending() const { return !pending_.empty(); }
    void reset() { pending_.clear(); }

private:
    std::string pending_;  // at most 3 bytes between calls
};

// True when `s` is entirely valid UTF-8 (no surrogates, overlongs or code points past U+10FFFF).
bool is_valid_utf8(std::string_view s);

class StreamingDecoder {
public:
    explicit StreamingDecoder(const Tokenizer& tokenizer, bool render_special = false)
        : tokenizer_(&tokenizer), render_special_(render_special) {}

    // Text completed by `token` (may be empty while a multibyte character is partial).
    std::string push(int32_t token);
    // Whatever is still held (an unfinished sequence becomes U+FFFD); call at the end.
    std::string flush();
    // Starts a new stream (the next token is "first" again).
    void reset();

private:
    const Tokenizer* tokenizer_;
    bool render_special_;
    bool at_start_ = true;  // no text emitted since the start or the last control token
    Utf8Assembler utf8_;
};

}  // namespace kvmix
