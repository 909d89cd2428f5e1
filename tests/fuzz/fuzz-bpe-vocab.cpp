// libFuzzer harness for byte-level BPE vocabularies and encoding:
//  - an input that parses as a GGUF goes through the GGUF -> BpeVocab conversion and, when
//    that succeeds, BpeTokenizer::create, then the tokenizer encodes the input itself;
//  - an input that starts with '{' goes through the tokenizer.json reader the same way;
//  - every input is also encoded as text by a fixed small vocabulary under one of the
//    built-in pre-tokenizer sets (picked by the first byte), where decode(encode(x)) must
//    give x back when x is valid UTF-8 (and U+FFFD per bad byte otherwise).
// Every failure must carry a message; streamed decoding must equal decode(). Only the
// first 8 KiB are encoded, which keeps runs fast (megabyte inputs are a unit test).
#include <array>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "io/gguf-file.h"
#include "tokenizer/bpe-byte-level.h"
#include "tokenizer/bpe-gguf-vocab.h"
#include "tokenizer/bpe-tokenizer-json.h"
#include "tokenizer/bpe-tokenizer.h"
#include "tokenizer/utf8-stream.h"

namespace {

using kvmix::BpeTokenizer;
using kvmix::Tokenizer;

constexpr std::array<const char*, 9> pre_sets = {"default", "gpt-2",        "llama-bpe",      "qwen2", "smollm",
                                                 "falcon",  "deepseek-llm", "deepseek-coder", "dbrx"};

// 256 byte symbols, a few merges, three control tokens; no user-defined tokens, so
// encode(parse_special = false) then decode() is the identity on valid UTF-8.
std::unique_ptr<BpeTokenizer> fixed_tokenizer(const char* pre) {
    kvmix::BpeVocab v;
    for (int b = 0; b < 256; ++b) v.tokens.emplace_back(kvmix::byte_level_symbol(static_cast<uint8_t>(b)));
    const std::vector<std::pair<std::string, std::string>> merges = {
        {"\xC4\xA0", "t"}, {"h", "e"}, {"\xC4\xA0t", "he"}, {"i", "n"},
        {"\xC4\xA0", "a"}, {"e", "r"}, {"1", "2"},          {"\xC4\xA0", "\xC4\xA0"},
    };
    for (const auto& [l, r] : merges) v.tokens.push_back(l + r);
    for (const char* s : {"<|endoftext|>", "<|im_start|>", "<|im_end|>"}) v.tokens.emplace_back(s);
    v.info.types.assign(v.tokens.size(), kvmix::TokenType::normal);
    for (size_t i = v.tokens.size() - 3; i < v.tokens.size(); ++i) v.info.types[i] = kvmix::TokenType::control;
    auto index = kvmix::index_bpe_pieces(v.tokens, v.info.types, "tokens");
    if (!index.ok()) __builtin_trap();
    for (const auto& [l, r] : merges)
        if (!kvmix::add_bpe_merge(*index, l, r, "merge", v.merges).ok()) __builtin_trap();
    auto spec = kvmix::bpe_pre_tokenizer_spec(pre);
    if (!spec.ok()) __builtin_trap();
    v.pre = std::move(spec).value();
    v.info.add_space_prefix = false;
    auto tok = BpeTokenizer::create(std::move(v));
    if (!tok.ok()) __builtin_trap();
    return std::move(tok).value();
}

// Ids are valid; decoding gives valid UTF-8 and streaming gives the same text.
void check_decode(const Tokenizer& tok, const std::vector<int32_t>& ids, bool render_special) {
    for (const int32_t id : ids)
        if (!tok.valid(id)) __builtin_trap();
    const std::string full = tok.decode(ids, render_special);
    if (!kvmix::is_valid_utf8(full)) __builtin_trap();
    kvmix::StreamingDecoder dec(tok, render_special);
    std::string streamed;
    for (const int32_t id : ids) streamed += dec.push(id);
    streamed += dec.flush();
    if (streamed != full) __builtin_trap();
}

// Encodes `text` both ways; an error is allowed (PCRE2 limits) but must say why.
void exercise(const Tokenizer& tok, std::string_view text) {
    for (const bool parse_special : {false, true}) {
        const auto ids = tok.encode(text, true, parse_special);
        if (!ids.ok()) {
            if (ids.status().message().empty()) __builtin_trap();
            continue;
        }
        check_decode(tok, *ids, parse_special);
    }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    const std::string_view input(reinterpret_cast<const char*>(data), size);
    const std::string_view text = input.substr(0, 8192);

    static std::array<std::unique_ptr<BpeTokenizer>, pre_sets.size()> fixed;
    const size_t which = size ? data[0] % pre_sets.size() : 0;
    if (!fixed[which]) fixed[which] = fixed_tokenizer(pre_sets[which]);
    const BpeTokenizer& tok = *fixed[which];
    const auto ids = tok.encode(text, false, false);
    if (!ids.ok()) __builtin_trap();  // the built-in sets never hit PCRE2's limits
    check_decode(tok, *ids, false);
    if (kvmix::is_valid_utf8(text) && tok.decode(*ids) != text) __builtin_trap();
    const auto special = tok.encode(text, true, true);
    if (!special.ok()) __builtin_trap();
    check_decode(tok, *special, true);

    const auto gguf = kvmix::GgufFile::parse_bytes(data, size);
    if (gguf.ok()) {
        auto vocab = kvmix::bpe_vocab_from_gguf(**gguf);
        if (!vocab.ok()) {
            if (vocab.status().message().empty()) __builtin_trap();
        } else {
            auto from_gguf = BpeTokenizer::create(std::move(vocab).value());
            if (!from_gguf.ok()) {
                if (from_gguf.status().message().empty()) __builtin_trap();
            } else {
                exercise(**from_gguf, text);
            }
        }
    }

    if (size > 0 && data[0] == '{') {
        auto vocab = kvmix::bpe_vocab_from_tokenizer_json(input, {});
        if (!vocab.ok()) {
            if (vocab.status().message().empty()) __builtin_trap();
        } else {
            auto from_json = BpeTokenizer::create(std::move(vocab).value());
            if (!from_json.ok()) {
                if (from_json.status().message().empty()) __builtin_trap();
            } else {
                exercise(**from_json, text);
            }
        }
    }
    return 0;
}
