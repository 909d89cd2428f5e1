#include "tokenizer/utf8-stream.h"

#include "tokenizer/tokenizer.h"

namespace kvmix {

namespace {

constexpr std::string_view replacement = "\xEF\xBF\xBD";  // U+FFFD

enum class Seq { complete, partial, invalid };

// Classifies the sequence starting at s[0]; `len` is its length when complete.
Seq classify(std::string_view s, size_t& len) {
    const auto b0 = static_cast<uint8_t>(s[0]);
    if (b0 < 0x80) {
        len = 1;
        return Seq::complete;
    }
    // Lead byte -> length and the allowed range of the second byte (no overlongs,
    // no surrogates, nothing past U+10FFFF).
    uint8_t lo = 0x80, hi = 0xBF;
    if (b0 >= 0xC2 && b0 <= 0xDF) {
        len = 2;
    } else if (b0 >= 0xE0 && b0 <= 0xEF) {
        len = 3;
        if (b0 == 0xE0) lo = 0xA0;
        if (b0 == 0xED) hi = 0x9F;
    } else if (b0 >= 0xF0 && b0 <= 0xF4) {
        len = 4;
        if (b0 == 0xF0) lo = 0x90;
        if (b0 == 0xF4) hi = 0x8F;
    } else {
        return Seq::invalid;
    }
    for (size_t k = 1; k < len; ++k) {
        if (k >= s.size()) return Seq::partial;
        const auto b = static_cast<uint8_t>(s[k]);
        const bool ok = k == 1 ? (b >= lo && b <= hi) : (b >= 0x80 && b <= 0xBF);
        if (!ok) return Seq::invalid;
    }
    return Seq::complete;
}

}  // namespace

bool is_valid_utf8(std::string_view s) {
    for (size_t i = 0; i < s.size();) {
        size_t len = 0;
        if (classify(s.substr(i), len) != Seq::complete) return false;
        i += len;
    }
    return true;
}

std::string Utf8Assembler::push(std::string_view bytes) {
    pending_.append(bytes);
    std::string out;
    size_t i = 0;
    while (i < pending_.size()) {
        size_t len = 0;
        const Seq seq = classify(std::string_view(pending_).substr(i), len);
        if (seq == Seq::partial) break;
        if (seq == Seq::complete) {
            out.append(pending_, i, len);
            i += len;
        } else {
            out.append(replacement);
            ++i;  // resynchronize on the next byte
        }
    }
    pending_.erase(0, i);
    return out;
}

std::string Utf8Assembler::flush() {
    std::string out;
    for (size_t i = 0; i < pending_.size(); ++i) out.append(replacement);
    pending_.clear();
    return out;
}

std::string StreamingDecoder::push(int32_t token) {
    const Tokenizer& tok = *tokenizer_;
    if (!tok.valid(token)) return {};
    if (tok.is_control(token)) {
        // Matches decode(): the text before a control token is finished, and the text
        // after it starts a new run (its dummy-prefix space is dropped again).
        std::string out = utf8_.flush();
        if (render_special_) out += tok.piece(token);
        at_start_ = true;
        return out;
    }
    std::string bytes = tok.token_bytes(token, render_special_);
    if (bytes.empty()) return {};
    if (at_start_) {
        // Only a piece's own "▁" is the dummy prefix; a byte token <0x20> or the unknown
        // surface " ⁇ " keeps its space (as in sentencepiece).
        const auto type = tok.type(token);
        const bool piece_text = type != TokenType::byte && type != TokenType::unknown;
        if (piece_text && tok.strips_leading_space() && bytes[0] == ' ') bytes.erase(0, 1);
        at_start_ = false;
    }
    return utf8_.push(bytes);
}

std::string StreamingDecoder::flush() { return utf8_.flush(); }

void StreamingDecoder::reset() {
    utf8_.reset();
    at_start_ = true;
}

}  // namespace kvmix
