// GPT-2's byte-level alphabet: every byte value has its own printable code point, so a
// byte-level BPE vocabulary stores any byte string as ordinary text ("Ġhello" is " hello").
// The printable bytes '!'..'~', U+00A1..U+00AC and U+00AE..U+00FF stand for themselves;
// the other 68 bytes (controls, space, DEL, NBSP, soft hyphen) take U+0100.. in byte order.
// Thread-safety: pure functions over constant tables.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

namespace kvmix {

// The UTF-8 of the code point that stands for byte `b` (one or two bytes long).
std::string_view byte_level_symbol(uint8_t b);

// The byte that code point `cp` stands for, or -1 when `cp` is not in the alphabet.
int byte_level_byte(uint32_t cp);

// Appends the byte-level form of `raw` (each byte becomes its symbol).
void append_byte_level(std::string_view raw, std::string& out);

// Appends the raw bytes a byte-level piece stands for. Characters outside the alphabet
// (a vocabulary that is not purely byte-level) are copied unchanged, as are stray bytes
// that are not valid UTF-8.
void append_byte_level_decoded(std::string_view piece, std::string& out);

}  // namespace kvmix
