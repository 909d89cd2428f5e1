// Tokenizer tests on the default model (Gemma 3 270M GGUF, 262144 tokens): our
// sentencepiece-based GGUF tokenizer against goldens from Hugging Face transformers
// (tests/tools/gen-tokenizer-goldens.py -> tests/data/tokenizer/gemma3-goldens.json).
// The model is found via $KVMIX_DEFAULT_MODEL or
// $XDG_DATA_HOME/kvmix/models/gemma-3-270m-q4_k_m.gguf; skipped when absent.
#include <cstdio>
#include <cstdlib>
#include <fstream>

#include <nlohmann/json.hpp>

#include "check.h"
#include "io/gguf-file.h"
#include "tokenizer/tokenizer.h"
#include "tokenizer/utf8-stream.h"

using namespace kvmix;

namespace {

std::string default_model_path() {
    if (const char* env = std::getenv("KVMIX_DEFAULT_MODEL"); env && *env) return env;
    std::string data;
    if (const char* xdg = std::getenv("XDG_DATA_HOME"); xdg && *xdg) {
        data = xdg;
    } else if (const char* home = std::getenv("HOME"); home && *home) {
        data = std::string(home) + "/.local/share";
    } else {
        return {};
    }
    return data + "/kvmix/models/gemma-3-270m-q4_k_m.gguf";
}

std::string show(const std::vector<int32_t>& ids) {
    std::string s;
    for (auto id : ids) s += (s.empty() ? "" : " ") + std::to_string(id);
    return "[" + s + "]";
}

// Loads the default model's tokenizer once per process (it is immutable and shared).
const Tokenizer* gemma_tokenizer(std::string& skip_reason) {
    static std::unique_ptr<Tokenizer> tok;
    static std::string reason;
    static bool tried = false;
    if (!tried) {
        tried = true;
        const std::string path = default_model_path();
        if (path.empty() || !std::ifstream(path).good()) {
            reason = "default model not found at '" + path +
                     "' (set KVMIX_DEFAULT_MODEL or install gemma-3-270m-q4_k_m.gguf there)";
        } else {
            auto gguf = GgufFile::open(path);
            if (!gguf.ok()) {
                reason = "cannot open '" + path + "': " + gguf.status().message();
            } else {
                auto t = Tokenizer::from_gguf(**gguf);
                if (t.ok())
                    tok = std::move(t).value();
                else
                    std::fprintf(stderr, "from_gguf('%s') failed: %s\n", path.c_str(), t.status().message().c_str());
            }
        }
    }
    skip_reason = reason;
    return tok.get();
}

nlohmann::json load_goldens() {
    std::ifstream f(kvmix_test::data_dir() + "/tokenizer/gemma3-goldens.json");
    if (!f) return {};
    return nlohmann::json::parse(f, nullptr, /*allow_exceptions=*/false);
}

}  // namespace

TEST_CASE("gemma3: vocabulary facts") {
    std::string skip;
    const Tokenizer* t = gemma_tokenizer(skip);
    if (!skip.empty()) SKIP(skip);
    REQUIRE(t != nullptr);
    CHECK_EQ(t->n_vocab(), 262144);
    CHECK_EQ(t->bos(), 2);
    CHECK_EQ(t->eos(), 1);
    CHECK_EQ(t->unk(), 3);
    CHECK_EQ(t->pad(), 0);
    CHECK(t->add_bos());
    CHECK(!t->add_eos());
    CHECK(!t->strips_leading_space());  // add_space_prefix = false
    CHECK_EQ(t->piece_to_id("<start_of_turn>"), 105);
    CHECK_EQ(t->piece_to_id("<end_of_turn>"), 106);
    CHECK(t->is_control(105));
    CHECK(t->is_eog(1));
    CHECK(t->is_eog(106));
    CHECK(!t->is_eog(105));
    // Without special parsing a control piece is just text.
    auto plain = t->encode("<start_of_turn>", false, false);
    REQUIRE_OK(plain);
    CHECK(plain->size() > 1);
    CHECK_EQ(t->decode(*plain), std::string("<start_of_turn>"));
}

TEST_CASE("gemma3: ids equal the Hugging Face goldens") {
    std::string skip;
    const Tokenizer* t = gemma_tokenizer(skip);
    if (!skip.empty()) SKIP(skip);
    REQUIRE(t != nullptr);
    const auto goldens = load_goldens();
    REQUIRE(goldens.is_object() && goldens.contains("cases"));
    CHECK_EQ(goldens.value("n_vocab", 0), t->n_vocab());
    size_t matched = 0, round_trip = 0, streamed = 0, n = 0;
    for (const auto& c : goldens["cases"]) {
        ++n;
        const std::string text = c["text"].get<std::string>();
        const bool add_special = c["add_special"].get<bool>();
        const auto want = c["ids"].get<std::vector<int32_t>>();
        auto got = t->encode(text, add_special, c["parse_special"].get<bool>());
        REQUIRE_OK(got);
        if (*got == want) {
            ++matched;
        } else {
            std::fprintf(stderr, "  %s\n    got  %s\n    want %s\n", c["text"].dump().c_str(), show(*got).c_str(),
                         show(want).c_str());
        }
        // With specials rendered, decoding gives the text back (BOS added by add_special aside).
        const std::string back = t->decode(want, true);
        const std::string expect = (add_special ? std::string(t->piece(t->bos())) : std::string()) + text;
        if (back == expect)
            ++round_trip;
        else
            std::fprintf(stderr, "  decode %s gave %s\n", c["text"].dump().c_str(), nlohmann::json(back).dump().c_str());
        // Streaming token by token gives valid UTF-8 chunks that add up to decode().
        StreamingDecoder dec(*t);
        std::string s;
        bool valid = true;
        for (auto id : want) {
            const std::string chunk = dec.push(id);
            valid &= is_valid_utf8(chunk);
            s += chunk;
        }
        s += dec.flush();
        if (valid && s == t->decode(want)) ++streamed;
    }
    std::printf("  gemma3: %zu/%zu goldens match, %zu/%zu round-trip, %zu/%zu stream == decode\n", matched, n, round_trip,
                n, streamed, n);
    CHECK(n > 0);
    CHECK_EQ(matched, n);
    CHECK_EQ(round_trip, n);
    CHECK_EQ(streamed, n);
}

TEST_CASE("gemma3: streaming a multibyte reply byte token by byte token") {
    std::string skip;
    const Tokenizer* t = gemma_tokenizer(skip);
    if (!skip.empty()) SKIP(skip);
    REQUIRE(t != nullptr);
    // Force byte tokens: spell each UTF-8 byte of the text as its <0xNN> piece.
    const std::string text = "caf\xC3\xA9 \xE2\x82\xAC \xF0\x9F\x91\xA9\xE2\x80\x8D\xF0\x9F\x92\xBB \xE4\xBD\xA0\xE5\xA5\xBD";
    std::vector<int32_t> ids;
    for (unsigned char c : text) {
        char name[8];
        std::snprintf(name, sizeof name, "<0x%02X>", c);
        const int32_t id = t->piece_to_id(name);
        REQUIRE(id >= 0 && t->is_byte(id));
        ids.push_back(id);
    }
    StreamingDecoder dec(*t);
    std::string out;
    size_t empty_chunks = 0;
    for (auto id : ids) {
        const std::string chunk = dec.push(id);
        CHECK(is_valid_utf8(chunk));
        empty_chunks += chunk.empty() ? 1 : 0;
        out += chunk;
    }
    out += dec.flush();
    CHECK_EQ(out, text);
    CHECK_EQ(out, t->decode(ids));
    CHECK(empty_chunks > 0);  // partial characters were held back
}

KVMIX_TEST_MAIN()
