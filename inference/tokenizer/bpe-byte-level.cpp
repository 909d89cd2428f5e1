#include "tokenizer/bpe-byte-level.h"

#include <array>

namespace kvmix {

namespace {

constexpr bool stands_for_itself(unsigned b) {
    return (b >= 0x21 && b <= 0x7E) || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE && b <= 0xFF);
}

struct Alphabet {
    std::array<uint16_t, 256> code_point{};  // byte -> code point
    std::array<int16_t, 324> byte{};         // code point -> byte (-1: none); 256 + 68 code points
    std::array<std::array<char, 2>, 256> utf8{};
    std::array<uint8_t, 256> utf8_len{};
};

constexpr Alphabet make_alphabet() {
    Alphabet a{};
    for (auto& b : a.byte) b = -1;
    unsigned next = 256;
    for (unsigned b = 0; b < 256; ++b) {
        const unsigned cp = stands_for_itself(b) ? b : next++;
        a.code_point[b] = static_cast<uint16_t>(cp);
        a.byte[cp] = static_cast<int16_t>(b);
        if (cp < 0x80) {
            a.utf8[b][0] = static_cast<char>(cp);
            a.utf8_len[b] = 1;
        } else {
            a.utf8[b][0] = static_cast<char>(0xC0 | (cp >> 6));
            a.utf8[b][1] = static_cast<char>(0x80 | (cp & 0x3F));
            a.utf8_len[b] = 2;
        }
    }
    return a;
}

constexpr Alphabet alphabet = make_alphabet();
static_assert(alphabet.code_point[0x20] == 0x120, "space is U+0120 'Ġ'");
static_assert(alphabet.code_point[0xFF] == 0xFF && alphabet.code_point[0xAD] == 0x143);

}  // namespace

std::string_view byte_level_symbol(uint8_t b) {
    return {alphabet.utf8[b].data(), alphabet.utf8_len[b]};
}

int byte_level_byte(uint32_t cp) {
    return cp < alphabet.byte.size() ? alphabet.byte[cp] : -1;
}

void append_byte_level(std::string_view raw, std::string& out) {
    for (const char c : raw) out.append(byte_level_symbol(static_cast<uint8_t>(c)));
}

void append_byte_level_decoded(std::string_view piece, std::string& out) {
    for (size_t i = 0; i < piece.size();) {
        const auto b0 = static_cast<uint8_t>(piece[i]);
        // The alphabet lies below U+0800: one- and two-byte sequences only.
        if (b0 < 0x80) {
            const int b = byte_level_byte(b0);
            out.push_back(b >= 0 ? static_cast<char>(b) : static_cast<char>(b0));
            ++i;
            continue;
        }
        if (b0 >= 0xC2 && b0 <= 0xDF && i + 1 < piece.size()) {
            const auto b1 = static_cast<uint8_t>(piece[i + 1]);
            if ((b1 & 0xC0) == 0x80) {
                const int b = byte_level_byte(((b0 & 0x1Fu) << 6) | (b1 & 0x3Fu));
                if (b >= 0) {
                    out.push_back(static_cast<char>(b));
                } else {
                    out.append(piece.substr(i, 2));
                }
                i += 2;
                continue;
            }
        }
        out.push_back(static_cast<char>(b0));
        ++i;
    }
}

}  // namespace kvmix
