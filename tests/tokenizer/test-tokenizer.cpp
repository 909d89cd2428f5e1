// Tokenizer unit tests: the ModelProto encoder, GGUF -> SentencePiece conversion on tiny
// in-memory vocabularies (and its errors), streaming decode, and the llama-spm reference
// vectors from ../shared/data (skipped where that folder is absent).
#include <algorithm>
#include <cstdio>
#include <fstream>
#include <sstream>
#include <thread>

#include "check.h"
#include "gguf-image.h"
#include "tokenizer-test-util.h"
#include "io/gguf-file.h"
#include "tokenizer/spm-model-proto.h"
#include "tokenizer/tokenizer.h"
#include "tokenizer/utf8-stream.h"

using namespace kvmix;
using kvmix_test::enc;
using kvmix_test::GgufImage;
using kvmix_test::hex;
using kvmix_test::read_vocab_cases;
using kvmix_test::shared_tokenizers_dir;
using kvmix_test::show;
using kvmix_test::stream_matches_decode;

namespace {

// A tiny llama-style vocabulary (ids noted) with the GGUF conventions.
constexpr int32_t tiny_unk = 0, tiny_bos = 1, tiny_eos = 2, tiny_sot = 3, tiny_eot = 4, tiny_byte0 = 5;
constexpr int32_t tiny_space = 261, tiny_a = 262, tiny_b = 263, tiny_sp_a = 264, tiny_ab = 265, tiny_sp_ab = 266,
                  tiny_two_spaces = 267, tiny_e_acute = 268;

struct TinyVocab {
    std::vector<std::string> tokens;
    std::vector<float> scores;
    std::vector<int32_t> types;
};

TinyVocab tiny_vocab() {
    TinyVocab v;
    auto add = [&](std::string piece, float score, int32_t type) {
        v.tokens.push_back(std::move(piece));
        v.scores.push_back(score);
        v.types.push_back(type);
    };
    add("<unk>", 0, 2);
    add("<s>", 0, 3);
    add("</s>", 0, 3);
    add("<start_of_turn>", 0, 3);
    add("<end_of_turn>", 0, 3);
    for (int b = 0; b < 256; ++b) {
        char name[8];
        std::snprintf(name, sizeof name, "<0x%02X>", b);
        add(name, 0, 6);
    }
    add("\xE2\x96\x81", -100, 1);      // "▁"
    add("a", -101, 1);
    add("b", -102, 1);
    add("\xE2\x96\x81" "a", -1, 1);    // "▁a" merges first
    add("ab", -2, 1);
    add("\xE2\x96\x81" "ab", -3, 1);
    add("  ", 0, 4);                   // user-defined, stored with raw spaces as llama.cpp does
    add("\xC3\xA9", -103, 1);          // "é"
    return v;
}

// A GGUF image of the tiny vocabulary; `edit` may change it before it is written.
template <class Edit>
std::vector<uint8_t> tiny_gguf(Edit&& edit, const std::string& model = "llama") {
    TinyVocab v = tiny_vocab();
    edit(v);
    GgufImage img;
    img.add_string("general.architecture", "llama");
    img.add_string("tokenizer.ggml.model", model);
    img.add_strings("tokenizer.ggml.tokens", v.tokens);
    img.add_floats("tokenizer.ggml.scores", v.scores);
    img.add_i32s("tokenizer.ggml.token_type", v.types);
    img.add_u32("tokenizer.ggml.bos_token_id", tiny_bos);
    img.add_u32("tokenizer.ggml.eos_token_id", tiny_eos);
    img.add_u32("tokenizer.ggml.unknown_token_id", tiny_unk);
    img.add_bool("tokenizer.ggml.add_bos_token", true);
    return img.bytes();
}
std::vector<uint8_t> tiny_gguf() {
    return tiny_gguf([](TinyVocab&) {});
}

Expected<std::unique_ptr<Tokenizer>> load_image(const std::vector<uint8_t>& bytes) {
    auto gguf = GgufFile::parse_bytes(bytes.data(), bytes.size());
    if (!gguf.ok()) return gguf.status();
    return Tokenizer::from_gguf(**gguf);
}

}  // namespace

// ---------------------------------------------------------------------------------------
// ModelProto wire format

TEST_CASE("spm proto: varints and tags") {
    std::string s;
    spm_wire::put_varint(s, 1);
    CHECK_EQ(hex(s), std::string("01"));
    s.clear();
    spm_wire::put_varint(s, 300);
    CHECK_EQ(hex(s), std::string("ac02"));
    s.clear();
    spm_wire::put_varint(s, static_cast<uint64_t>(int64_t{-1}));  // int32 -1 is sign-extended: ten bytes
    CHECK_EQ(hex(s), std::string("ffffffffffffffffff01"));
    s.clear();
    spm_wire::put_tag(s, 35, 0);  // byte_fallback: (35 << 3) | 0 = 280
    CHECK_EQ(hex(s), std::string("9802"));
}

TEST_CASE("spm proto: a piece encodes as field 1 with piece, score, type") {
    SpmModelProto m;
    m.pieces.push_back({"a", 1.0f, SpmPieceType::user_defined});
    const std::string bytes = serialize_spm_model(m);
    // 0a 0a | 0a 01 'a' | 15 0000803f | 18 04, then the trainer spec (field 2: 12 ...)
    CHECK_EQ(hex(bytes.substr(0, 13)), std::string("0a0a0a0161150000803f180412"));
}

TEST_CASE("spm proto: serialize then parse round-trips") {
    SpmModelProto m;
    m.pieces = {{"<unk>", 0.0f, SpmPieceType::unknown}, {"\xE2\x96\x81x", -2.5f, SpmPieceType::normal},
                {"<0x41>", 0.0f, SpmPieceType::byte}};
    m.trainer.vocab_size = 3;
    m.trainer.byte_fallback = true;
    m.trainer.bos_id = -1;
    m.trainer.pad_id = 7;
    m.trainer.unk_piece = "<unk>";
    m.normalizer.add_dummy_prefix = false;
    auto back = parse_spm_model(serialize_spm_model(m));
    REQUIRE_OK(back);
    REQUIRE(back->pieces.size() == 3);
    CHECK_EQ(back->pieces[1].piece, m.pieces[1].piece);
    CHECK_EQ(back->pieces[1].score, -2.5f);
    CHECK(back->pieces[2].type == SpmPieceType::byte);
    CHECK(back->trainer.model_type == SpmModelType::bpe);
    CHECK(back->trainer.byte_fallback);
    CHECK_EQ(back->trainer.bos_id, -1);
    CHECK_EQ(back->trainer.pad_id, 7);
    CHECK_EQ(back->trainer.unk_piece, std::string("<unk>"));
    CHECK_EQ(back->normalizer.name, std::string("identity"));
    CHECK(!back->normalizer.add_dummy_prefix);
    CHECK(!back->normalizer.remove_extra_whitespaces);
    CHECK(back->normalizer.escape_whitespaces);
}

TEST_CASE("spm proto: malformed bytes are errors") {
    CHECK(!parse_spm_model("").ok());                         // no pieces
    CHECK(!parse_spm_model(std::string("\x0a\x05" "ab", 4)).ok());  // length past the end
    CHECK(!parse_spm_model("hello, this is not a model").ok());
}

// ---------------------------------------------------------------------------------------
// GGUF vocabulary -> sentencepiece

TEST_CASE("gguf vocab: BPE merges by score, dummy prefix, byte fallback") {
    auto tok = load_image(tiny_gguf());
    REQUIRE_OK(tok);
    const Tokenizer& t = **tok;
    CHECK_EQ(t.n_vocab(), 269);
    CHECK_EQ(show(enc(t, "ab ab")), show({tiny_sp_ab, tiny_sp_ab}));
    CHECK_EQ(show(enc(t, "a")), show({tiny_sp_a}));
    CHECK_EQ(show(enc(t, "b")), show({tiny_space, tiny_b}));
    CHECK_EQ(show(enc(t, "")), show({}));
    CHECK_EQ(show(enc(t, "\xC3\xA9")), show({tiny_space, tiny_e_acute}));
    // "€" is not in the vocabulary: its three bytes.
    CHECK_EQ(show(enc(t, "\xE2\x82\xAC")), show({tiny_space, tiny_byte0 + 0xE2, tiny_byte0 + 0x82, tiny_byte0 + 0xAC}));
    // Whitespace is kept as is; user-defined "  " is atomic (stored as "  ", matched as "▁▁").
    CHECK_EQ(show(enc(t, "a  b")), show({tiny_sp_a, tiny_two_spaces, tiny_b}));
    CHECK_EQ(t.piece(tiny_two_spaces), std::string_view("\xE2\x96\x81\xE2\x96\x81"));
    CHECK_EQ(t.decode(enc(t, "a  b")), std::string("a  b"));
    CHECK_EQ(t.decode(enc(t, "ab ab")), std::string("ab ab"));
}

TEST_CASE("gguf vocab: specials, BOS/EOS, pieces, end of generation") {
    auto tok = load_image(tiny_gguf());
    REQUIRE_OK(tok);
    const Tokenizer& t = **tok;
    CHECK_EQ(t.bos(), tiny_bos);
    CHECK_EQ(t.eos(), tiny_eos);
    CHECK_EQ(t.unk(), tiny_unk);
    CHECK(t.add_bos());
    CHECK(!t.add_eos());
    CHECK(t.is_control(tiny_sot));
    CHECK(!t.is_control(tiny_a));
    CHECK(t.is_byte(tiny_byte0 + 10));
    CHECK(t.is_eog(tiny_eos));
    CHECK(t.is_eog(tiny_eot));  // "<end_of_turn>" is a known end-of-turn marker
    CHECK(!t.is_eog(tiny_sot));
    CHECK(!t.is_eog(-1));
    CHECK_EQ(t.piece(tiny_sot), std::string_view("<start_of_turn>"));
    CHECK_EQ(t.piece(-1), std::string_view());
    CHECK_EQ(t.piece(100000), std::string_view());
    CHECK_EQ(t.piece_to_id("<start_of_turn>"), tiny_sot);
    CHECK_EQ(t.piece_to_id("nope"), -1);

    CHECK_EQ(show(enc(t, "ab", true)), show({tiny_bos, tiny_sp_ab}));
    // parse_special: control pieces in the text become their ids; each text fragment gets
    // the dummy prefix.
    CHECK_EQ(show(enc(t, "<start_of_turn>ab<end_of_turn>", false, true)), show({tiny_sot, tiny_sp_ab, tiny_eot}));
    CHECK_EQ(show(enc(t, "<s>a", false, true)), show({tiny_bos, tiny_sp_a}));
    // Without it they are plain text.
    const auto plain = enc(t, "<start_of_turn>", false, false);
    CHECK(std::find(plain.begin(), plain.end(), tiny_sot) == plain.end());
    CHECK_EQ(t.decode(plain), std::string("<start_of_turn>"));

    const std::vector<int32_t> turn = {tiny_bos, tiny_sot, tiny_sp_ab, tiny_eot};
    CHECK_EQ(t.decode(turn), std::string("ab"));
    CHECK_EQ(t.decode(turn, true), std::string("<s><start_of_turn>ab<end_of_turn>"));
    CHECK_EQ(t.decode(std::vector<int32_t>{tiny_sp_a, -5, 99999, tiny_b}), std::string("ab"));  // bad ids skipped
}

TEST_CASE("gguf vocab: add_space_prefix=false keeps text as is") {
    GgufImage img;
    auto v = tiny_vocab();
    img.add_string("tokenizer.ggml.model", "llama");
    img.add_strings("tokenizer.ggml.tokens", v.tokens);
    img.add_floats("tokenizer.ggml.scores", v.scores);
    img.add_i32s("tokenizer.ggml.token_type", v.types);
    img.add_bool("tokenizer.ggml.add_space_prefix", false);
    // No unknown_token_id: the type-2 token is the unknown one.
    auto tok = load_image(img.bytes());
    REQUIRE_OK(tok);
    const Tokenizer& t = **tok;
    CHECK_EQ(show(enc(t, "ab ab")), show({tiny_ab, tiny_sp_ab}));
    CHECK_EQ(show(enc(t, " a")), show({tiny_sp_a}));
    CHECK_EQ(t.decode(enc(t, " a")), std::string(" a"));  // no dummy prefix to strip
    CHECK(!t.strips_leading_space());
    CHECK_EQ(t.bos(), -1);
    CHECK(!t.add_bos());
    CHECK_EQ(t.unk(), tiny_unk);
}

TEST_CASE("gguf vocab: errors name the key") {
    auto fewer_scores = load_image(tiny_gguf([](TinyVocab& v) { v.scores.pop_back(); }));
    REQUIRE(!fewer_scores.ok());
    CHECK_EQ(fewer_scores.status().message(),
             std::string("tokenizer: 'tokenizer.ggml.scores' has 268 entries but 'tokenizer.ggml.tokens' has 269"));

    auto t5 = load_image(tiny_gguf([](TinyVocab&) {}, "t5"));
    REQUIRE(!t5.ok());
    CHECK(t5.status().code() == ErrorCode::unsupported);
    CHECK_EQ(t5.status().message(), std::string("tokenizer: 'tokenizer.ggml.model' is 't5'; supported: 'llama' "
                                                 "(SentencePiece), 'gpt2' (byte-level BPE)"));

    auto bad_type = load_image(tiny_gguf([](TinyVocab& v) { v.types[7] = 9; }));
    REQUIRE(!bad_type.ok());
    CHECK_EQ(bad_type.status().message(), std::string("tokenizer: 'tokenizer.ggml.token_type'[7] is 9 (expected 1..6)"));

    auto dup = load_image(tiny_gguf([](TinyVocab& v) { v.tokens[tiny_b] = "a"; }));
    REQUIRE(!dup.ok());
    CHECK(dup.status().message().find("twice (ids 262 and 263)") != std::string::npos);

    auto empty_piece = load_image(tiny_gguf([](TinyVocab& v) { v.tokens[tiny_b].clear(); }));
    REQUIRE(!empty_piece.ok());
    CHECK(empty_piece.status().message().find("'tokenizer.ggml.tokens'[263] is empty") != std::string::npos);

    GgufImage no_vocab;
    no_vocab.add_string("general.architecture", "llama");
    auto none = load_image(no_vocab.bytes());
    REQUIRE(!none.ok());
    CHECK(none.status().message().find("tokenizer.ggml.model") != std::string::npos);

    GgufImage bad_bos;
    bad_bos.add_string("tokenizer.ggml.model", "llama");
    bad_bos.add_strings("tokenizer.ggml.tokens", tiny_vocab().tokens);
    bad_bos.add_i32s("tokenizer.ggml.token_type", tiny_vocab().types);
    bad_bos.add_u32("tokenizer.ggml.bos_token_id", 5000);
    auto oob = load_image(bad_bos.bytes());
    REQUIRE(!oob.ok());
    CHECK_EQ(oob.status().message(),
             std::string("tokenizer: 'tokenizer.ggml.bos_token_id' is 5000, outside the vocabulary of 269 tokens"));

    auto no_unk = load_image(tiny_gguf([](TinyVocab& v) { v.types[tiny_unk] = 3; }));
    // Still fine: unknown_token_id names it.
    CHECK_OK(no_unk);
}

TEST_CASE("spm file: wrong files are clear errors") {
    auto missing = Tokenizer::from_spm_file("/nonexistent/tokenizer.model");
    REQUIRE(!missing.ok());
    CHECK(missing.status().message().find("/nonexistent/tokenizer.model") != std::string::npos);

    const std::string path = "/tmp/kvmix-test-tokenizer-not-a-model.txt";
    {
        std::ofstream f(path, std::ios::binary);
        f << "this is a text file, not a tokenizer model\n";
    }
    auto text = Tokenizer::from_spm_file(path);
    std::remove(path.c_str());
    REQUIRE(!text.ok());
    CHECK(text.status().message().find("not a SentencePiece model") != std::string::npos);
}

// ---------------------------------------------------------------------------------------
// Streaming decode

TEST_CASE("utf8: assembler holds partial sequences and replaces invalid bytes") {
    Utf8Assembler a;
    CHECK_EQ(a.push("\xF0\x9F"), std::string());
    CHECK(a.has_pending());
    CHECK_EQ(a.push("\x98"), std::string());
    CHECK_EQ(a.push("\x80!"), std::string("\xF0\x9F\x98\x80!"));
    CHECK(!a.has_pending());
    CHECK_EQ(a.push("\xE2\x82" "a"), std::string("\xEF\xBF\xBD\xEF\xBF\xBD" "a"));  // cut short by 'a'
    CHECK_EQ(a.push("\x80"), std::string("\xEF\xBF\xBD"));                          // lone continuation
    CHECK_EQ(a.push("\xED\xA0\x80"), std::string("\xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBD"));  // surrogate
    CHECK_EQ(a.push("\xE2"), std::string());
    CHECK_EQ(a.flush(), std::string("\xEF\xBF\xBD"));
    CHECK(is_valid_utf8("h\xC3\xA9llo \xF0\x9F\x98\x80"));
    CHECK(!is_valid_utf8("\xC0\xAF"));  // overlong
    CHECK(!is_valid_utf8("\xF4\x90\x80\x80"));  // past U+10FFFF
}

TEST_CASE("streaming decode: byte tokens, leading space, control tokens") {
    auto tok = load_image(tiny_gguf());
    REQUIRE_OK(tok);
    const Tokenizer& t = **tok;
    // Multibyte text that falls back to bytes: 3-byte "€", 4-byte emoji, ZWJ sequence, CJK.
    const std::string text = "ab \xE2\x82\xAC\xF0\x9F\x98\x80 \xF0\x9F\x91\xA9\xE2\x80\x8D\xF0\x9F\x92\xBB \xE4\xBD\xA0\xE5\xA5\xBD \xC3\xA9";
    const auto ids = enc(t, text);
    CHECK(ids.size() > 20);
    CHECK(stream_matches_decode(t, ids));
    CHECK_EQ(t.decode(ids), text);

    // The first token's dummy-prefix space is dropped once, also after control tokens.
    StreamingDecoder dec(t);
    CHECK_EQ(dec.push(tiny_sp_ab), std::string("ab"));
    CHECK_EQ(dec.push(tiny_sp_ab), std::string(" ab"));
    CHECK_EQ(dec.push(tiny_byte0 + 0xE2), std::string());
    CHECK_EQ(dec.push(tiny_byte0 + 0x82), std::string());
    CHECK_EQ(dec.push(tiny_byte0 + 0xAC), std::string("\xE2\x82\xAC"));
    CHECK_EQ(dec.flush(), std::string());
    dec.reset();
    CHECK_EQ(dec.push(tiny_sp_a), std::string("a"));

    // Crafted sequences, compared with sentencepiece's own decoding.
    const std::vector<std::vector<int32_t>> crafted = {
        {tiny_a, tiny_sp_a},
        {tiny_space, tiny_space, tiny_a},
        {tiny_bos, tiny_sp_a, tiny_sot, tiny_sp_ab, tiny_eot},
        {tiny_byte0 + 0xE2, tiny_byte0 + 0x82, tiny_a},                 // truncated, then text
        {tiny_byte0 + 0xE2, tiny_byte0 + 0x82},                          // truncated at the end
        {tiny_byte0 + 0x82, tiny_sp_a},                                  // lone continuation first
        {tiny_byte0 + 0xE2, tiny_sot, tiny_byte0 + 0x82, tiny_byte0 + 0xAC},  // split by a control token
        {tiny_unk, tiny_sp_a, tiny_unk},
        {tiny_byte0 + 0x20, tiny_sp_a},
        {tiny_two_spaces, tiny_a},
    };
    for (const auto& c : crafted) {
        CHECK(stream_matches_decode(t, c, false));
        CHECK(stream_matches_decode(t, c, true));
    }
}

// ---------------------------------------------------------------------------------------
// Reference vectors (llama.cpp's ggml-vocab-llama-spm) and the Llama 2 tokenizer.model

TEST_CASE("llama-spm gguf: every reference vector matches") {
    const std::string dir = shared_tokenizers_dir();
    if (dir.empty()) SKIP("shared data (../shared/data/tokenizers) not found; set KVMIX_SHARED_DATA");
    const std::string base = dir + "/ggml-vocab-llama-spm.gguf";
    const auto cases = read_vocab_cases(base + ".inp", base + ".out");
    REQUIRE(!cases.empty());
    auto gguf = GgufFile::open(base);
    REQUIRE_OK(gguf);
    auto tok = Tokenizer::from_gguf(**gguf);
    REQUIRE_OK(tok);
    const Tokenizer& t = **tok;
    CHECK_EQ(t.n_vocab(), 32000);
    CHECK_EQ(t.bos(), 1);
    CHECK_EQ(t.eos(), 2);
    CHECK_EQ(t.unk(), 0);
    CHECK(t.add_bos());
    size_t matched = 0, streamed = 0;
    for (const auto& c : cases) {
        const auto ids = enc(t, c.text);  // llama.cpp's test: no BOS, no special parsing
        if (ids == c.ids) {
            ++matched;
        } else {
            std::fprintf(stderr, "  input %s\n    got  %s\n    want %s\n", hex(c.text).c_str(), show(ids).c_str(), show(c.ids).c_str());
        }
        streamed += stream_matches_decode(t, c.ids) ? 1 : 0;
    }
    std::printf("  llama-spm: %zu/%zu reference vectors match, %zu/%zu stream-decode == decode\n", matched, cases.size(),
                streamed, cases.size());
    CHECK_EQ(matched, cases.size());
    CHECK_EQ(streamed, cases.size());
}

TEST_CASE("llama2 tokenizer.model: same ids as the GGUF-built tokenizer") {
    const std::string dir = shared_tokenizers_dir();
    if (dir.empty()) SKIP("shared data (../shared/data/tokenizers) not found; set KVMIX_SHARED_DATA");
    const std::string base = dir + "/ggml-vocab-llama-spm.gguf";
    const auto cases = read_vocab_cases(base + ".inp", base + ".out");
    REQUIRE(!cases.empty());
    auto spm = Tokenizer::from_spm_file(dir + "/llama2-tokenizer.model");
    REQUIRE_OK(spm);
    auto gguf = GgufFile::open(base);
    REQUIRE_OK(gguf);
    auto from_gguf = Tokenizer::from_gguf(**gguf);
    REQUIRE_OK(from_gguf);
    const Tokenizer& a = **spm;
    const Tokenizer& b = **from_gguf;
    CHECK_EQ(a.n_vocab(), b.n_vocab());
    CHECK_EQ(a.bos(), b.bos());
    CHECK_EQ(a.eos(), b.eos());
    CHECK_EQ(a.unk(), b.unk());
    size_t same = 0, round_trip = 0;
    std::vector<std::string> texts;
    for (const auto& c : cases) texts.push_back(c.text);
    texts.push_back("<s>[INST] hi [/INST] there</s>");
    for (const auto& text : texts) {
        for (bool special : {false, true}) {
            const auto x = enc(a, text, special, special);
            const auto y = enc(b, text, special, special);
            if (x == y) {
                ++same;
            } else {
                std::fprintf(stderr, "  input %s: model %s gguf %s\n", hex(text).c_str(), show(x).c_str(), show(y).c_str());
            }
        }
        if (a.decode(enc(a, text)) == text) ++round_trip;
    }
    std::printf("  llama2 .model vs gguf: %zu/%zu encodings equal; decode(encode(x)) == x for %zu/%zu inputs\n", same,
                texts.size() * 2, round_trip, texts.size());
    CHECK_EQ(same, texts.size() * 2);
    CHECK_EQ(round_trip, texts.size());
    CHECK_EQ(show(enc(a, "<s>[INST] hi [/INST] there</s>", false, true)).substr(0, 3), std::string("[1 "));
}

TEST_CASE("llama-spm gguf: concurrent const use from several threads") {
    const std::string dir = shared_tokenizers_dir();
    if (dir.empty()) SKIP("shared data (../shared/data/tokenizers) not found; set KVMIX_SHARED_DATA");
    const std::string base = dir + "/ggml-vocab-llama-spm.gguf";
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
            for (int round = 0; round < 10; ++round) {
                for (const auto& c : cases) {
                    auto ids = t.encode(c.text, false, true);
                    if (!ids.ok() || *ids != c.ids || t.decode(c.ids) != t.decode(*ids)) ++mismatches[k];
                }
            }
        });
    }
    for (auto& th : threads) th.join();
    for (int m : mismatches) CHECK_EQ(m, 0);
}

KVMIX_TEST_MAIN()
