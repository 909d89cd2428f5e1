// Byte-level BPE tokenizer unit tests: the GPT-2 byte alphabet, the pre-tokenizer regex
// sets, a tiny in-memory GGUF vocabulary (merges, added tokens, BOS/EOS, eog), every
// vocabulary error, streaming decode, the Qwen-style fixture (GGUF and tokenizer.json
// against goldens from Hugging Face `tokenizers`), and llama.cpp's five BPE reference
// vocabularies from ../shared/data (skipped where that folder is absent).
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <thread>

#include <nlohmann/json.hpp>

#include "check.h"
#include "gguf-image.h"
#include "io/gguf-file.h"
#include "tokenizer-test-util.h"
#include "tokenizer/bpe-byte-level.h"
#include "tokenizer/bpe-pre-tokenizer.h"
#include "tokenizer/bpe-tokenizer-json.h"
#include "tokenizer/bpe-tokenizer.h"
#include "tokenizer/tokenizer-loader.h"
#include "tokenizer/tokenizer.h"
#include "tokenizer/utf8-stream.h"

using namespace kvmix;
using kvmix_test::enc;
using kvmix_test::GgufImage;
using kvmix_test::hex;
using kvmix_test::read_vocab_cases;
using kvmix_test::show;
using kvmix_test::stream_matches_decode;

namespace {

// A tiny byte-level vocabulary: ids 0..255 are the byte symbols (id == byte), then merged
// pieces and added tokens.
constexpr int32_t t_he = 256, t_ll = 257, t_hell = 258, t_hello = 259, t_sp_h = 260, t_sp_hello = 261, t_bc = 262,
                  t_ab = 263, t_eot = 264, t_im_start = 265, t_im_end = 266, t_tool = 267, t_im = 268;

struct TinyBpe {
    std::vector<std::string> tokens;
    std::vector<int32_t> types;
    std::vector<std::string> merges;
    std::string pre = "gpt-2";
    bool with_pre = true;
    bool with_merges = true;
    int64_t bos = t_eot;
};

TinyBpe tiny_bpe() {
    TinyBpe v;
    for (int b = 0; b < 256; ++b) {
        v.tokens.emplace_back(byte_level_symbol(static_cast<uint8_t>(b)));
        v.types.push_back(1);
    }
    for (const char* p : {"he", "ll", "hell", "hello", "\xC4\xA0h", "\xC4\xA0hello", "bc", "ab"}) {
        v.tokens.emplace_back(p);
        v.types.push_back(1);
    }
    for (const char* p : {"<|endoftext|>", "<|im_start|>", "<|im_end|>"}) {
        v.tokens.emplace_back(p);
        v.types.push_back(3);
    }
    v.tokens.emplace_back("<tool>");
    v.types.push_back(4);
    v.tokens.emplace_back("<|im");  // user-defined prefix of two control tokens
    v.types.push_back(4);
    // "b c" outranks "a b": "abc" is "a" + "bc".
    v.merges = {"h e", "l l", "he ll", "hell o", "\xC4\xA0 h", "\xC4\xA0 hello", "b c", "a b"};
    return v;
}

std::vector<uint8_t> tiny_bpe_gguf(const TinyBpe& v) {
    GgufImage img;
    img.add_string("general.architecture", "qwen2");
    img.add_string("tokenizer.ggml.model", "gpt2");
    if (v.with_pre) img.add_string("tokenizer.ggml.pre", v.pre);
    img.add_strings("tokenizer.ggml.tokens", v.tokens);
    img.add_i32s("tokenizer.ggml.token_type", v.types);
    if (v.with_merges) img.add_strings("tokenizer.ggml.merges", v.merges);
    img.add_u32("tokenizer.ggml.bos_token_id", static_cast<uint32_t>(v.bos));
    img.add_u32("tokenizer.ggml.eos_token_id", t_im_end);
    img.add_u32("tokenizer.ggml.padding_token_id", t_eot);
    img.add_bool("tokenizer.ggml.add_bos_token", false);
    return img.bytes();
}

template <class Edit>
Expected<std::unique_ptr<Tokenizer>> load_tiny(Edit&& edit) {
    TinyBpe v = tiny_bpe();
    edit(v);
    const auto bytes = tiny_bpe_gguf(v);
    auto gguf = GgufFile::parse_bytes(bytes.data(), bytes.size());
    if (!gguf.ok()) return gguf.status();
    return Tokenizer::from_gguf(**gguf);
}
Expected<std::unique_ptr<Tokenizer>> load_tiny() {
    return load_tiny([](TinyBpe&) {});
}

// Ids of plain bytes in the tiny vocabulary (id == byte).
std::vector<int32_t> byte_ids(std::string_view s) {
    std::vector<int32_t> ids;
    for (unsigned char c : s) ids.push_back(c);
    return ids;
}

std::vector<int32_t> cat(std::initializer_list<std::vector<int32_t>> parts) {
    std::vector<int32_t> out;
    for (const auto& p : parts) out.insert(out.end(), p.begin(), p.end());
    return out;
}

std::vector<std::string> words(const std::vector<std::string>& regexes, std::string_view text) {
    auto pre = BpePreTokenizer::create(regexes);
    if (!pre.ok()) {
        std::fprintf(stderr, "pre-tokenizer: %s\n", pre.status().message().c_str());
        return {"<error>"};
    }
    std::vector<std::string_view> w;
    if (!pre->split(text, w).ok()) return {"<error>"};
    return {w.begin(), w.end()};
}

std::vector<std::string> named_words(const std::string& pre, std::string_view text) {
    auto spec = bpe_pre_tokenizer_spec(pre);
    if (!spec.ok()) return {"<unknown>"};
    return words(spec->regexes, text);
}

std::string join(const std::vector<std::string>& w) {
    std::string s;
    for (const auto& x : w) s += (s.empty() ? "" : "|") + x;
    return s;
}

std::string error_of(const Expected<std::unique_ptr<Tokenizer>>& t) {
    return t.ok() ? "(ok)" : t.status().message();
}

std::string fixture_dir() {
    return kvmix_test::data_dir() + "/models/tokenizers";
}

}  // namespace

// ---------------------------------------------------------------------------------------
// Byte-level alphabet and pre-tokenizers

TEST_CASE("bpe byte-level: the alphabet round-trips every byte") {
    CHECK_EQ(byte_level_symbol(' '), std::string_view("\xC4\xA0"));   // "Ġ" U+0120
    CHECK_EQ(byte_level_symbol('\n'), std::string_view("\xC4\x8A"));  // "Ċ" U+010A
    CHECK_EQ(byte_level_symbol('A'), std::string_view("A"));
    CHECK_EQ(byte_level_symbol(0xE9), std::string_view("\xC3\xA9"));  // stands for itself: "é"
    CHECK_EQ(byte_level_symbol(0xAD), std::string_view("\xC5\x83"));  // soft hyphen -> U+0143
    std::string all;
    for (int b = 0; b < 256; ++b) all.push_back(static_cast<char>(b));
    std::string mapped, back;
    append_byte_level(all, mapped);
    append_byte_level_decoded(mapped, back);
    CHECK_EQ(hex(back), hex(all));
    CHECK_EQ(byte_level_byte(0x120), 0x20);
    CHECK_EQ(byte_level_byte(0x144), -1);
    CHECK_EQ(byte_level_byte(0x41), 0x41);
    // Characters outside the alphabet pass through unchanged.
    std::string passthrough;
    append_byte_level_decoded("\xE2\x82\xAC x", passthrough);
    CHECK_EQ(passthrough, std::string("\xE2\x82\xAC x"));
}

TEST_CASE("bpe pre-tokenizer: named sets split as llama.cpp's regexes do") {
    // A lone tab before a letter matches no alternative: it stays a piece of its own.
    CHECK_EQ(join(named_words("gpt-2", "Hello world's  end\n\tx 123")),
             std::string("Hello| world|'s| | end|\n|\t|x| 123"));
    // GPT-2 contractions are lower case only; Llama 3 and Qwen 2 take upper case too.
    CHECK_EQ(join(named_words("gpt-2", "HE'S")), std::string("HE|'|S"));
    CHECK_EQ(join(named_words("qwen2", "HE'S we'LL")), std::string("HE|'S| we|'LL"));
    CHECK_EQ(join(named_words("llama-bpe", "12345 abc")), std::string("123|45| abc"));
    CHECK_EQ(join(named_words("qwen2", "12345")), std::string("1|2|3|4|5"));
    CHECK_EQ(join(named_words("smollm", "a 12")), std::string("a| |1|2"));
    CHECK_EQ(join(named_words("qwen2", "a\n\n  b")), std::string("a|\n\n| | b"));
    // Multi-regex sets: falcon splits punctuation runs first, then GPT-2, then digit triples.
    CHECK_EQ(join(named_words("falcon", "x=1234567")), std::string("x|=|123|456|7"));
    CHECK_EQ(join(named_words("default", "a, b")), std::string("a|,| b"));
    CHECK_EQ(join(named_words("deepseek-coder", "int x=10;\n")), std::string("int| x|=|1|0|;|\n"));
    CHECK_EQ(join(named_words("deepseek-llm", "Hi \xE4\xBD\xA0\xE5\xA5\xBD 42  ")),
             std::string("Hi| |\xE4\xBD\xA0\xE5\xA5\xBD| |42|  "));
    CHECK(named_words("", "x") == std::vector<std::string>{"<unknown>"});
    // Empty text has no words; invalid UTF-8 never matches and stays its own piece.
    CHECK(words({"\\p{L}+"}, "").empty());
    CHECK_EQ(join(words({"\\p{L}+"},
                        "ab\xFF"
                        "cd")),
             std::string("ab|\xFF|cd"));
    // A pattern that can match empty moves on instead of looping.
    CHECK_EQ(join(words({"x*"}, "axxb")), std::string("a|xx|b"));
}

TEST_CASE("bpe pre-tokenizer: unknown names and bad patterns are errors") {
    auto unknown = bpe_pre_tokenizer_spec("gpt-5");
    REQUIRE(!unknown.ok());
    CHECK(unknown.status().code() == ErrorCode::unsupported);
    CHECK(unknown.status().message().find(
              "'tokenizer.ggml.pre' is 'gpt-5', which is not a known pre-tokenizer (known: default, gpt-2") !=
          std::string::npos);
    CHECK(known_bpe_pre_tokenizers().find("smollm") != std::string::npos);
    // llama.cpp's per-family defaults: Llama 3 adds BOS and takes whole-token words.
    auto llama3 = bpe_pre_tokenizer_spec("llama3");
    REQUIRE_OK(llama3);
    CHECK(llama3->add_bos && llama3->ignore_merges);
    auto dbrx = bpe_pre_tokenizer_spec("dbrx");
    REQUIRE_OK(dbrx);
    CHECK(!dbrx->add_bos && !dbrx->ignore_merges && dbrx->regexes == llama3->regexes);
    // Catastrophic backtracking (from a hostile tokenizer.json) ends in an error.
    auto slow = BpePreTokenizer::create({"(a+)+$"});
    REQUIRE_OK(slow);
    std::vector<std::string_view> w;
    const auto st = slow->split(std::string(40, 'a') + "b", w);
    REQUIRE(!st.ok());
    CHECK(st.message().find("tokenizer: pre-tokenizer regex 0 failed on the text: ") == 0);
    CHECK(st.message().find("limit") != std::string::npos);
    auto bad = BpePreTokenizer::create({"\\p{L}+", "(unclosed"});
    REQUIRE(!bad.ok());
    CHECK(bad.status().message().find("pre-tokenizer regex 1 '(unclosed' does not compile at offset 9: ") == 0);
}

// ---------------------------------------------------------------------------------------
// Tiny GGUF vocabulary

TEST_CASE("bpe gguf: merges by rank, specials, BOS/EOS, eog") {
    auto tok = load_tiny();
    REQUIRE_OK(tok);
    const Tokenizer& t = **tok;
    CHECK_EQ(t.n_vocab(), 269);
    CHECK(!t.strips_leading_space());
    CHECK_EQ(show(enc(t, "hello")), show({t_hello}));
    CHECK_EQ(show(enc(t, "hello hello h")), show({t_hello, t_sp_hello, t_sp_h}));
    CHECK_EQ(show(enc(t, "abc")), show({'a', t_bc}));  // rank order, not left to right
    CHECK_EQ(show(enc(t, "ab")), show({t_ab}));
    CHECK_EQ(show(enc(t, "")), show({}));
    CHECK_EQ(show(enc(t, "\xC3\xA9")), show({0xC3, 0xA9}));
    CHECK_EQ(t.piece(t_sp_hello), std::string_view("\xC4\xA0hello"));
    CHECK_EQ(t.piece_to_id("\xC4\xA0hello"), t_sp_hello);
    CHECK_EQ(t.piece_to_id(" hello"), -1);
    CHECK_EQ(t.token_bytes(t_sp_hello, false), std::string(" hello"));

    CHECK_EQ(t.bos(), t_eot);
    CHECK_EQ(t.eos(), t_im_end);
    CHECK_EQ(t.pad(), t_eot);
    CHECK_EQ(t.unk(), -1);
    CHECK(!t.add_bos());
    CHECK(!t.add_eos());
    CHECK(t.is_eog(t_im_end));
    CHECK(t.is_eog(t_eot));  // "<|endoftext|>" is a known end-of-turn marker
    CHECK(!t.is_eog(t_im_start));
    CHECK(t.is_control(t_im_start));

    // parse_special: control tokens in the text; added tokens are never merged across.
    CHECK_EQ(show(enc(t, "<|im_start|>hello<|im_end|>", false, true)), show({t_im_start, t_hello, t_im_end}));
    CHECK_EQ(show(enc(t, "he<|im_end|>llo", false, true)), show(cat({{t_he, t_im_end, t_ll, 'o'}})));
    // Without it control tokens are text, but user-defined ones ("<|im", "<tool>") still match.
    CHECK_EQ(show(enc(t, "<|im_start|>hello", false, false)),
             show(cat({{t_im}, byte_ids("_"), byte_ids("start"), byte_ids("|>"), {t_hello}})));
    CHECK_EQ(show(enc(t, "a<tool>b")), show({'a', t_tool, 'b'}));
    CHECK_EQ(show(enc(t, "hello", true, true)), show({t_hello}));  // add_bos_token = false

    const std::vector<int32_t> turn = {t_im_start, t_hello, t_tool, t_sp_hello, t_im_end};
    CHECK_EQ(t.decode(turn), std::string("hello<tool> hello"));
    CHECK_EQ(t.decode(turn, true), std::string("<|im_start|>hello<tool> hello<|im_end|>"));
    CHECK_EQ(t.decode(std::vector<int32_t>{t_hello, -1, 9999, t_sp_h}), std::string("hello h"));
    CHECK(stream_matches_decode(t, turn));
    CHECK(stream_matches_decode(t, turn, true));

    // Any bytes round-trip (invalid UTF-8 decodes to U+FFFD per byte, as documented).
    const std::string text = "hello \xE2\x82\xAC\tab\r\n \xF0\x9F\x98\x80";
    CHECK_EQ(t.decode(enc(t, text)), text);
    const auto bad = enc(t,
                         "a\xFF"
                         "b");
    CHECK_EQ(show(bad), show({'a', 0xFF, 'b'}));
    CHECK_EQ(t.decode(bad), std::string("a\xEF\xBF\xBD"
                                        "b"));
}

TEST_CASE("bpe gguf: add_bos from the GGUF, missing pre falls back to default") {
    GgufImage img;
    TinyBpe v = tiny_bpe();
    img.add_string("tokenizer.ggml.model", "gpt2");
    img.add_strings("tokenizer.ggml.tokens", v.tokens);
    img.add_i32s("tokenizer.ggml.token_type", v.types);
    img.add_strings("tokenizer.ggml.merges", v.merges);
    img.add_u32("tokenizer.ggml.bos_token_id", t_eot);
    img.add_u32("tokenizer.ggml.eos_token_id", t_eot);
    img.add_bool("tokenizer.ggml.add_bos_token", true);
    img.add_bool("tokenizer.ggml.add_eos_token", true);
    const auto bytes = img.bytes();
    auto gguf = GgufFile::parse_bytes(bytes.data(), bytes.size());
    REQUIRE_OK(gguf);
    auto tok = Tokenizer::from_gguf(**gguf);
    REQUIRE_OK(tok);
    const auto* bpe = dynamic_cast<const BpeTokenizer*>(tok->get());
    REQUIRE(bpe != nullptr);
    CHECK_EQ(bpe->pre_tokenizer_name(), std::string("default"));
    CHECK_EQ(bpe->n_merges(), size_t{8});
    CHECK_EQ(show(enc(**tok, "hello", true)), show({t_eot, t_hello, t_eot}));
    // "default" splits punctuation runs first.
    CHECK_EQ(show(enc(**tok, "he,llo")), show({t_he, ',', t_ll, 'o'}));

    // The Llama 3 family takes a word that is itself a token whole (ignore_merges): "abc"
    // is one token there, "a" + "bc" by the merges elsewhere.
    auto with_abc = [](const char* pre) {
        return load_tiny([pre](TinyBpe& x) {
            x.pre = pre;
            x.tokens.emplace_back("abc");
            x.types.push_back(1);
        });
    };
    auto llama3 = with_abc("llama-bpe");
    REQUIRE_OK(llama3);
    CHECK_EQ(show(enc(**llama3, "abc abc")), show({269, ' ', 'a', t_bc}));
    CHECK(!(*llama3)->add_bos());  // the image says add_bos_token = false
    auto gpt2 = with_abc("gpt-2");
    REQUIRE_OK(gpt2);
    CHECK_EQ(show(enc(**gpt2, "abc")), show({'a', t_bc}));
}

TEST_CASE("bpe gguf: every bad input is a precise error naming the key") {
    auto no_merges = load_tiny([](TinyBpe& v) { v.with_merges = false; });
    CHECK_EQ(error_of(no_merges),
             std::string("tokenizer: 'tokenizer.ggml.merges' is missing (a 'gpt2' vocabulary needs its BPE merges)"));

    auto no_space = load_tiny([](TinyBpe& v) { v.merges[2] = "hell"; });
    CHECK_EQ(error_of(no_space),
             std::string("tokenizer: 'tokenizer.ggml.merges'[2] is 'hell', not two pieces separated by one space"));
    auto two_spaces = load_tiny([](TinyBpe& v) { v.merges[0] = "h  e"; });
    CHECK_EQ(error_of(two_spaces),
             std::string("tokenizer: 'tokenizer.ggml.merges'[0] is 'h  e', not two pieces separated by one space"));
    auto leading = load_tiny([](TinyBpe& v) { v.merges[0] = " he"; });
    CHECK(error_of(leading).find("'tokenizer.ggml.merges'[0] is ' he', not two pieces") != std::string::npos);
    auto unknown_piece = load_tiny([](TinyBpe& v) { v.merges[3] = "hell xo"; });
    CHECK_EQ(error_of(unknown_piece),
             std::string("tokenizer: 'tokenizer.ggml.merges'[3] 'hell xo': 'xo' is not in the vocabulary"));
    auto no_result = load_tiny([](TinyBpe& v) { v.merges.push_back("x y"); });
    CHECK_EQ(
        error_of(no_result),
        std::string("tokenizer: 'tokenizer.ggml.merges'[8] 'x y': the merged piece 'xy' is not in the vocabulary"));

    auto unknown_pre = load_tiny([](TinyBpe& v) { v.pre = "tekken-9"; });
    REQUIRE(!unknown_pre.ok());
    CHECK(unknown_pre.status().code() == ErrorCode::unsupported);
    CHECK(
        error_of(unknown_pre).find("'tokenizer.ggml.pre' is 'tekken-9', which is not a known pre-tokenizer (known: ") !=
        std::string::npos);
    CHECK(error_of(unknown_pre).find("qwen2") != std::string::npos);

    auto oversized = load_tiny([](TinyBpe& v) { v.tokens[t_ab] = std::string(64 * 1024 + 1, 'x'); });
    CHECK_EQ(error_of(oversized),
             std::string("tokenizer: 'tokenizer.ggml.tokens'[263] is 65537 bytes long (at most 65536)"));

    auto types_short = load_tiny([](TinyBpe& v) { v.types.pop_back(); });
    CHECK_EQ(error_of(types_short),
             std::string("tokenizer: 'tokenizer.ggml.token_type' has 268 entries but 'tokenizer.ggml.tokens' has 269"));
    auto bad_type = load_tiny([](TinyBpe& v) { v.types[5] = 7; });
    CHECK_EQ(error_of(bad_type), std::string("tokenizer: 'tokenizer.ggml.token_type'[5] is 7 (expected 1..6)"));

    auto bos_out = load_tiny([](TinyBpe& v) { v.bos = 269; });
    CHECK_EQ(error_of(bos_out),
             std::string("tokenizer: 'tokenizer.ggml.bos_token_id' is 269, outside the vocabulary of 269 tokens"));

    auto dup = load_tiny([](TinyBpe& v) { v.tokens[t_ab] = "bc"; });
    CHECK(error_of(dup).find("'tokenizer.ggml.tokens' has the piece 'bc' twice (ids 262 and 263)") !=
          std::string::npos);
    auto empty = load_tiny([](TinyBpe& v) { v.tokens[t_ab].clear(); });
    CHECK_EQ(error_of(empty), std::string("tokenizer: 'tokenizer.ggml.tokens'[263] is empty"));

    auto bert = load_tiny([](TinyBpe&) {});
    CHECK_OK(bert);
    GgufImage other;
    other.add_string("tokenizer.ggml.model", "bert");
    const auto bytes = other.bytes();
    auto g = GgufFile::parse_bytes(bytes.data(), bytes.size());
    REQUIRE_OK(g);
    auto wpm = Tokenizer::from_gguf(**g);
    REQUIRE(!wpm.ok());
    CHECK(wpm.status().code() == ErrorCode::unsupported);
    CHECK_EQ(wpm.status().message(),
             std::string("tokenizer: 'tokenizer.ggml.model' is 'bert'; supported: 'llama' (SentencePiece), "
                         "'gpt2' (byte-level BPE)"));
}

TEST_CASE("bpe streaming decode: a character split across byte tokens is held until complete") {
    auto tok = load_tiny();
    REQUIRE_OK(tok);
    const Tokenizer& t = **tok;
    // "é€😀" has no merges in the tiny vocabulary: nine byte tokens.
    const std::string text = "\xC3\xA9\xE2\x82\xAC\xF0\x9F\x98\x80";
    const auto ids = enc(t, text);
    REQUIRE(ids.size() == 9);
    StreamingDecoder dec(t);
    std::vector<std::string> chunks;
    for (auto id : ids) chunks.push_back(dec.push(id));
    CHECK_EQ(chunks[0], std::string());
    CHECK_EQ(chunks[1], std::string("\xC3\xA9"));
    CHECK_EQ(chunks[3], std::string());
    CHECK_EQ(chunks[4], std::string("\xE2\x82\xAC"));
    CHECK_EQ(chunks[7], std::string());
    CHECK_EQ(chunks[8], std::string("\xF0\x9F\x98\x80"));
    CHECK_EQ(dec.flush(), std::string());
    // No leading-space stripping for byte-level vocabularies: " hello" stays " hello".
    StreamingDecoder first(t);
    CHECK_EQ(first.push(t_sp_hello), std::string(" hello"));
    // Crafted cases against decode(): truncated sequences, a control token in the middle.
    const std::vector<std::vector<int32_t>> crafted = {
        {0xE2, 0x82, 'a'},
        {0xE2, 0x82},
        {0x82, t_hello},
        {0xE2, t_im_start, 0x82, 0xAC},
        {t_sp_hello, 0xF0, 0x9F, t_tool},
    };
    for (const auto& c : crafted) {
        CHECK(stream_matches_decode(t, c, false));
        CHECK(stream_matches_decode(t, c, true));
    }
}

// ---------------------------------------------------------------------------------------
// The Qwen-style fixture: a vocabulary trained with Qwen 2's pre-tokenizer, as a vocab-only
// GGUF (pre "qwen2") and as tokenizer.json; goldens from Hugging Face `tokenizers`.

namespace {

nlohmann::json load_json(const std::string& path) {
    std::ifstream f(path);
    if (!f) return {};
    return nlohmann::json::parse(f, nullptr, /*allow_exceptions=*/false);
}

// Compares `t` with every golden case; returns the number that matched.
size_t check_goldens(const Tokenizer& t, const nlohmann::json& goldens, const char* label) {
    size_t matched = 0, round_trip = 0, streamed = 0, n = 0;
    for (const auto& c : goldens["cases"]) {
        ++n;
        const std::string text = c["text"].get<std::string>();
        const auto want = c["ids"].get<std::vector<int32_t>>();
        const auto got = enc(t, text, c["add_special"].get<bool>(), c["parse_special"].get<bool>());
        if (got == want)
            ++matched;
        else
            std::fprintf(stderr, "  %s %s\n    got  %s\n    want %s\n", label, c["text"].dump().c_str(),
                         show(got).c_str(), show(want).c_str());
        if (c.value("round_trip", true) && t.decode(want, true) == text) ++round_trip;
        if (!c.value("round_trip", true)) ++round_trip;
        if (stream_matches_decode(t, want)) ++streamed;
    }
    std::printf("  %s: %zu/%zu goldens match, %zu/%zu round-trip, %zu/%zu stream == decode\n", label, matched, n,
                round_trip, n, streamed, n);
    CHECK(n > 0);
    CHECK_EQ(round_trip, n);
    CHECK_EQ(streamed, n);
    return matched;
}

}  // namespace

TEST_CASE("qwen-style fixture: the GGUF and tokenizer.json give the Hugging Face ids") {
    const nlohmann::json goldens = load_json(kvmix_test::data_dir() + "/tokenizer/tiny-qwen2-bpe-goldens.json");
    REQUIRE(goldens.is_object() && goldens.contains("cases"));
    const size_t n = goldens["cases"].size();

    auto gguf = GgufFile::open(fixture_dir() + "/tiny-qwen2-bpe.gguf");
    REQUIRE_OK(gguf);
    CHECK((*gguf)->tensors().empty());
    auto from_gguf = Tokenizer::from_gguf(**gguf);
    REQUIRE_OK(from_gguf);
    auto from_json = Tokenizer::from_tokenizer_json(fixture_dir() + "/tiny-qwen2-bpe/tokenizer.json");
    REQUIRE_OK(from_json);
    auto from_dir = load_tokenizer_from_dir(fixture_dir() + "/tiny-qwen2-bpe");
    REQUIRE_OK(from_dir);

    const Tokenizer& a = **from_gguf;
    const Tokenizer& b = **from_json;
    CHECK_EQ(a.n_vocab(), goldens["n_vocab"].get<int32_t>());
    CHECK_EQ(b.n_vocab(), a.n_vocab());
    CHECK_EQ((*from_dir)->n_vocab(), a.n_vocab());
    const int32_t im_end = a.piece_to_id("<|im_end|>");
    CHECK(im_end >= 0);
    CHECK_EQ(b.piece_to_id("<|im_end|>"), im_end);
    CHECK_EQ(a.eos(), im_end);
    CHECK_EQ(b.eos(), im_end);  // tokenizer_config.json's eos_token
    CHECK(!a.add_bos());
    CHECK(!b.add_bos());
    CHECK(a.is_eog(im_end) && b.is_eog(im_end));
    CHECK(a.is_eog(a.piece_to_id("<|endoftext|>")));
    for (int32_t id = 0; id < a.n_vocab(); ++id) {
        if (a.piece(id) != b.piece(id) || a.type(id) != b.type(id)) {
            std::fprintf(stderr, "  id %d: gguf '%s' json '%s'\n", id, std::string(a.piece(id)).c_str(),
                         std::string(b.piece(id)).c_str());
            CHECK(false);
            break;
        }
    }
    CHECK_EQ(check_goldens(a, goldens, "tiny-qwen2 gguf"), n);
    CHECK_EQ(check_goldens(b, goldens, "tiny-qwen2 tokenizer.json"), n);
}

TEST_CASE("qwen-style fixture: megabyte inputs and arbitrary bytes encode exactly") {
    auto gguf = GgufFile::open(fixture_dir() + "/tiny-qwen2-bpe.gguf");
    REQUIRE_OK(gguf);
    auto tok = Tokenizer::from_gguf(**gguf);
    REQUIRE_OK(tok);
    const Tokenizer& t = **tok;
    // Megabyte-long runs (whitespace, one word, digits, mixed) stay exact; the time is printed.
    const auto start = std::chrono::steady_clock::now();
    std::string mixed;
    for (int i = 0; i < 20000; ++i) mixed += "word" + std::to_string(i) + (i % 7 ? " " : "\n\t  ");
    for (const std::string& text :
         {std::string(1 << 20, ' '), std::string(1 << 20, 'a'), std::string(1 << 19, '7'), mixed}) {
        auto ids = t.encode(text, false, false);
        REQUIRE_OK(ids);
        CHECK(!ids->empty());
        CHECK(t.decode(*ids) == text);
    }
    const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    std::printf("  long inputs: %.2f s\n", seconds);

    // Arbitrary bytes (invalid UTF-8 included): the tokens' bytes give the input back.
    std::string noise(1 << 16, '\0');
    uint32_t state = 12345;
    for (char& c : noise) {
        state = state * 1664525u + 1013904223u;
        c = static_cast<char>(state >> 24);
    }
    auto ids = t.encode(noise, false, true);
    REQUIRE_OK(ids);
    std::string bytes;
    for (const int32_t id : *ids) bytes += t.token_bytes(id, true);
    CHECK(bytes == noise);
    CHECK(is_valid_utf8(t.decode(*ids)));
    CHECK(stream_matches_decode(t, *ids));
}

TEST_CASE("tokenizer.json: unsupported and malformed files are precise errors") {
    const std::string base = kvmix_test::read_file(fixture_dir() + "/tiny-qwen2-bpe/tokenizer.json");
    REQUIRE(!base.empty());
    auto edited = [&](auto&& edit) {
        nlohmann::json j = nlohmann::json::parse(base);
        edit(j);
        auto v = bpe_vocab_from_tokenizer_json(j.dump(), "");
        if (!v.ok()) return v.status().message();
        auto t = BpeTokenizer::create(std::move(v).value());
        return t.ok() ? std::string("(ok)") : t.status().message();
    };
    CHECK_EQ(edited([](nlohmann::json&) {}), std::string("(ok)"));
    // Merges written as "a b" strings (older files) read the same as ["a", "b"] pairs.
    CHECK_EQ(edited([](nlohmann::json& j) {
                 for (auto& m : j["model"]["merges"])
                     if (m.is_array()) m = m[0].get<std::string>() + " " + m[1].get<std::string>();
             }),
             std::string("(ok)"));
    CHECK_EQ(edited([](nlohmann::json& j) { j["model"]["vocab"]["zz"] = -3; }),
             std::string("tokenizer: tokenizer.json: model.vocab['zz']: id -3 is outside 0..67108863"));
    CHECK_EQ(
        edited([](nlohmann::json& j) {
            j["decoder"] = nullptr;
            j["pre_tokenizer"] = nullptr;
        }),
        std::string(
            "tokenizer: tokenizer.json: pre_tokenizer: neither the pre-tokenizer nor the decoder is ByteLevel (not a "
            "byte-level BPE)"));
    CHECK_EQ(
        edited([](nlohmann::json& j) { j["pre_tokenizer"]["pretokenizers"][1]["add_prefix_space"] = true; }),
        std::string("tokenizer: tokenizer.json: pre_tokenizer.pretokenizers[1]: ByteLevel with add_prefix_space is not "
                    "supported"));
    CHECK_EQ(edited([](nlohmann::json& j) { j["model"]["type"] = "Unigram"; }),
             std::string("tokenizer: tokenizer.json: model.type: is 'Unigram'; only byte-level \"BPE\" is supported"));
    CHECK_EQ(edited([](nlohmann::json& j) { j["model"].erase("merges"); }),
             std::string("tokenizer: tokenizer.json: model.merges: is missing"));
    CHECK_EQ(edited([](nlohmann::json& j) { j["model"]["merges"][1] = "abc"; }),
             std::string("tokenizer: tokenizer.json: model.merges[1] is 'abc', not two pieces separated by one space"));
    CHECK_EQ(edited([](nlohmann::json& j) {
                 j["model"]["merges"][1] = nlohmann::json::array({"\xC4\xA0", "zzzq"});
             }),
             std::string("tokenizer: tokenizer.json: model.merges[1]: 'zzzq' is not in the vocabulary"));
    CHECK_EQ(
        edited([](nlohmann::json& j) { j["model"]["byte_fallback"] = true; }),
        std::string(
            "tokenizer: tokenizer.json: model.byte_fallback: is true (a SentencePiece-style BPE, not byte-level)"));
    CHECK_EQ(
        edited([](nlohmann::json& j) {
            j["pre_tokenizer"] = {{"type", "Whitespace"}};
        }),
        std::string(
            "tokenizer: tokenizer.json: pre_tokenizer: pre-tokenizer type 'Whitespace' is not supported (supported: "
            "ByteLevel, Split, Digits, Sequence)"));
    const std::string bad_regex =
        edited([](nlohmann::json& j) { j["pre_tokenizer"]["pretokenizers"][0]["pattern"]["Regex"] = "(x"; });
    CHECK(bad_regex.find("tokenizer: pre-tokenizer regex 0 '(x' does not compile at offset 2: ") == 0);
    CHECK(bad_regex.find("(pre-tokenizer 'tokenizer.json')") != std::string::npos);
    CHECK_EQ(
        edited([](nlohmann::json& j) {
            j["normalizer"] = {{"type", "Lowercase"}};
        }),
        std::string("tokenizer: tokenizer.json: normalizer: type 'Lowercase' is not supported (only none or NFC)"));
    CHECK(edited([](nlohmann::json& j) { j["model"]["vocab"]["zz"] = 5; }).find("]: id 5 is also '") !=
          std::string::npos);
    CHECK_EQ(edited([](nlohmann::json& j) { j["model"]["vocab"]["zz"] = 1 << 27; }),
             std::string("tokenizer: tokenizer.json: model.vocab['zz']: id 134217728 is outside 0..67108863"));
    auto bad_json = bpe_vocab_from_tokenizer_json("{\"model\": ", "");
    REQUIRE(!bad_json.ok());
    CHECK(bad_json.status().message().find("tokenizer.json: invalid JSON") != std::string::npos);
    auto bad_config = bpe_vocab_from_tokenizer_json(base, "{\"eos_token\": \"<|nope|>\"}");
    REQUIRE(!bad_config.ok());
    CHECK_EQ(bad_config.status().message(),
             std::string("tokenizer: tokenizer_config.json: eos_token '<|nope|>' is not in the vocabulary"));
    auto missing = Tokenizer::from_tokenizer_json("/nonexistent/tokenizer.json");
    REQUIRE(!missing.ok());
    CHECK(missing.status().message().find("/nonexistent/tokenizer.json") != std::string::npos);
    auto no_files = load_tokenizer_from_dir("/nonexistent-dir");
    REQUIRE(!no_files.ok());
    CHECK(no_files.status().message().find("neither a tokenizer.model") != std::string::npos);
}

// ---------------------------------------------------------------------------------------
// llama.cpp's BPE reference vocabularies (five pre-tokenizers)

TEST_CASE("bpe reference vocabularies: every vector matches") {
    const std::string dir = kvmix_test::shared_tokenizers_dir("ggml-vocab-gpt-2.gguf");
    if (dir.empty()) SKIP("shared data (../shared/data/tokenizers) not found; set KVMIX_SHARED_DATA");
    for (const char* name : {"gpt-2", "starcoder", "deepseek-llm", "deepseek-coder", "falcon"}) {
        const std::string base = dir + "/ggml-vocab-" + name + ".gguf";
        const auto cases = read_vocab_cases(base + ".inp", base + ".out");
        REQUIRE(!cases.empty());
        auto gguf = GgufFile::open(base);
        REQUIRE_OK(gguf);
        auto tok = Tokenizer::from_gguf(**gguf);
        REQUIRE_OK(tok);
        const Tokenizer& t = **tok;
        size_t matched = 0, streamed = 0, round_trip = 0;
        for (const auto& c : cases) {
            const auto ids = enc(t, c.text);  // llama.cpp's test: no BOS, no special parsing
            if (ids == c.ids)
                ++matched;
            else
                std::fprintf(stderr, "  %s input %s\n    got  %s\n    want %s\n", name, hex(c.text).c_str(),
                             show(ids).c_str(), show(c.ids).c_str());
            streamed += stream_matches_decode(t, c.ids) ? 1 : 0;
            round_trip += t.decode(c.ids) == c.text ? 1 : 0;
        }
        std::printf("  %s: %zu/%zu reference vectors match, %zu/%zu stream == decode, %zu/%zu decode == text\n", name,
                    matched, cases.size(), streamed, cases.size(), round_trip, cases.size());
        CHECK_EQ(matched, cases.size());
        CHECK_EQ(streamed, cases.size());
        CHECK_EQ(round_trip, cases.size());
    }
}

TEST_CASE("bpe reference vocabularies: concurrent const use") {
    const std::string dir = kvmix_test::shared_tokenizers_dir("ggml-vocab-gpt-2.gguf");
    if (dir.empty()) SKIP("shared data (../shared/data/tokenizers) not found; set KVMIX_SHARED_DATA");
    const std::string base = dir + "/ggml-vocab-starcoder.gguf";
    const auto cases = read_vocab_cases(base + ".inp", base + ".out");
    REQUIRE(!cases.empty());
    auto gguf = GgufFile::open(base);
    REQUIRE_OK(gguf);
    auto tok = Tokenizer::from_gguf(**gguf);
    REQUIRE_OK(tok);
    const Tokenizer& t = **tok;
    std::vector<int> mismatches(8, 0);
    std::vector<std::thread> threads;
    for (size_t k = 0; k < mismatches.size(); ++k) {
        threads.emplace_back([&, k] {
            for (int round = 0; round < 10; ++round)
                for (const auto& c : cases) {
                    auto ids = t.encode(c.text, false, false);
                    if (!ids.ok() || *ids != c.ids) ++mismatches[k];
                }
        });
    }
    for (auto& th : threads) th.join();
    for (int m : mismatches) CHECK_EQ(m, 0);
}

KVMIX_TEST_MAIN()
