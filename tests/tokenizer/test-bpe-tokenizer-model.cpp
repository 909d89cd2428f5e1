// Byte-level BPE on the default model (SmolLM2 135M Instruct GGUF, pre "smollm", 49152
// tokens, 48900 merges): our tokenizer against Hugging Face goldens
// (tests/tools/gen-bpe-tokenizer-goldens.py -> tests/data/tokenizer/smollm2-goldens.json).
// The model is $KVMIX_DEFAULT_MODEL when set, else
// $XDG_DATA_HOME/kvmix/models/smollm2-135m-instruct-q4_1.gguf; skipped when absent.
#include <cstdio>
#include <cstdlib>
#include <fstream>

#include <nlohmann/json.hpp>

#include "check.h"
#include "io/gguf-file.h"
#include "tokenizer-test-util.h"
#include "tokenizer/bpe-tokenizer.h"
#include "tokenizer/tokenizer.h"
#include "tokenizer/utf8-stream.h"

using namespace kvmix;
using kvmix_test::show;

namespace {

std::string smollm2_path() {
    if (const char* env = std::getenv("KVMIX_DEFAULT_MODEL"); env && *env) return env;
    std::string data;
    if (const char* xdg = std::getenv("XDG_DATA_HOME"); xdg && *xdg) {
        data = xdg;
    } else if (const char* home = std::getenv("HOME"); home && *home) {
        data = std::string(home) + "/.local/share";
    } else {
        return {};
    }
    return data + "/kvmix/models/smollm2-135m-instruct-q4_1.gguf";
}

// Loads the tokenizer once per process (it is immutable and shared).
const Tokenizer* smollm2(std::string& skip_reason) {
    static std::unique_ptr<Tokenizer> tok;
    static std::string reason;
    static bool tried = false;
    if (!tried) {
        tried = true;
        const std::string path = smollm2_path();
        if (path.empty() || !std::ifstream(path).good()) {
            reason = "SmolLM2 GGUF not found at '" + path +
                     "' (set KVMIX_DEFAULT_MODEL or install smollm2-135m-instruct-q4_1.gguf there)";
        } else {
            auto gguf = GgufFile::open(path);
            if (!gguf.ok()) {
                std::fprintf(stderr, "cannot open '%s': %s\n", path.c_str(), gguf.status().message().c_str());
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
    std::ifstream f(kvmix_test::data_dir() + "/tokenizer/smollm2-goldens.json");
    if (!f) return {};
    return nlohmann::json::parse(f, nullptr, /*allow_exceptions=*/false);
}

}  // namespace

TEST_CASE("smollm2: vocabulary facts") {
    std::string skip;
    const Tokenizer* t = smollm2(skip);
    if (!skip.empty()) SKIP(skip);
    REQUIRE(t != nullptr);
    const auto* bpe = dynamic_cast<const BpeTokenizer*>(t);
    REQUIRE(bpe != nullptr);
    CHECK_EQ(bpe->pre_tokenizer_name(), std::string("smollm"));
    CHECK_EQ(bpe->n_merges(), size_t{48900});
    CHECK_EQ(t->n_vocab(), 49152);
    CHECK_EQ(t->bos(), 1);
    CHECK_EQ(t->eos(), 2);
    CHECK_EQ(t->unk(), 0);
    CHECK_EQ(t->pad(), 2);
    CHECK(!t->add_bos());
    CHECK(!t->add_eos());
    CHECK(!t->strips_leading_space());
    CHECK_EQ(t->piece_to_id("<|im_start|>"), 1);
    CHECK_EQ(t->piece_to_id("<|im_end|>"), 2);
    CHECK(t->is_control(1));
    CHECK(t->is_eog(2));
    CHECK(t->is_eog(0));  // <|endoftext|>
    CHECK(!t->is_eog(1));
}

TEST_CASE("smollm2: ids equal the Hugging Face goldens") {
    std::string skip;
    const Tokenizer* t = smollm2(skip);
    if (!skip.empty()) SKIP(skip);
    REQUIRE(t != nullptr);
    const auto goldens = load_goldens();
    REQUIRE(goldens.is_object() && goldens.contains("cases"));
    CHECK_EQ(goldens.value("n_vocab", 0), t->n_vocab());
    size_t matched = 0, round_trip = 0, streamed = 0, n = 0;
    for (const auto& c : goldens["cases"]) {
        ++n;
        const std::string text = c["text"].get<std::string>();
        const auto want = c["ids"].get<std::vector<int32_t>>();
        auto got = t->encode(text, c["add_special"].get<bool>(), c["parse_special"].get<bool>());
        REQUIRE_OK(got);
        if (*got == want)
            ++matched;
        else
            std::fprintf(stderr, "  %s\n    got  %s\n    want %s\n", c["text"].dump().c_str(), show(*got).c_str(),
                         show(want).c_str());
        // Specials rendered, decoding gives the text back (bytes the vocabulary lacks aside).
        const std::string back = t->decode(want, true);
        if (!c.value("round_trip", true) || back == text)
            ++round_trip;
        else
            std::fprintf(stderr, "  decode %s gave %s\n", c["text"].dump().c_str(),
                         nlohmann::json(back).dump().c_str());
        if (kvmix_test::stream_matches_decode(*t, want)) ++streamed;
    }
    std::printf("  smollm2: %zu/%zu goldens match, %zu/%zu round-trip, %zu/%zu stream == decode\n", matched, n,
                round_trip, n, streamed, n);
    CHECK(n > 0);
    CHECK_EQ(matched, n);
    CHECK_EQ(round_trip, n);
    CHECK_EQ(streamed, n);
}

KVMIX_TEST_MAIN()
