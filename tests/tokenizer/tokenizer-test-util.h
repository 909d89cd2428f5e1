// Helpers shared by the tokenizer tests: id/byte printing, encode that reports failures,
// the stream-vs-decode check, and llama.cpp's .inp/.out vocabulary vectors.
#pragma once

#include <cstdio>
#include <fstream>
#include <sstream>
#include <string>
#include <string_view>
#include <vector>

#include "check.h"
#include "tokenizer/tokenizer.h"
#include "tokenizer/utf8-stream.h"

namespace kvmix_test {

inline std::string show(const std::vector<int32_t>& ids) {
    std::string s;
    for (auto id : ids) s += (s.empty() ? "" : " ") + std::to_string(id);
    return "[" + s + "]";
}

inline std::string hex(std::string_view s) {
    std::string out;
    char buf[4];
    for (unsigned char c : s) {
        std::snprintf(buf, sizeof buf, "%02x", c);
        out += buf;
    }
    return out;
}

inline std::vector<int32_t> enc(const kvmix::Tokenizer& tok, std::string_view text, bool add_special = false,
                                bool parse_special = false) {
    auto ids = tok.encode(text, add_special, parse_special);
    if (!ids.ok()) {
        std::fprintf(stderr, "encode failed: %s\n", ids.status().message().c_str());
        return {-999};
    }
    return *ids;
}

// Streams `ids` through a StreamingDecoder; checks every chunk is valid UTF-8 and the
// concatenation equals decode(). Returns false on a mismatch.
inline bool stream_matches_decode(const kvmix::Tokenizer& tok, const std::vector<int32_t>& ids,
                                  bool render_special = false) {
    kvmix::StreamingDecoder dec(tok, render_special);
    std::string streamed;
    bool ok = true;
    for (auto id : ids) {
        const std::string chunk = dec.push(id);
        if (!kvmix::is_valid_utf8(chunk)) {
            std::fprintf(stderr, "  chunk after token %d is not valid UTF-8: %s\n", id, hex(chunk).c_str());
            ok = false;
        }
        streamed += chunk;
    }
    streamed += dec.flush();
    const std::string full = tok.decode(ids, render_special);
    if (streamed != full) {
        std::fprintf(stderr, "  ids %s: streamed %s != decoded %s\n", show(ids).c_str(), hex(streamed).c_str(),
                     hex(full).c_str());
        ok = false;
    }
    return ok;
}

inline std::string read_file(const std::string& path) {
    std::ifstream f(path, std::ios::binary);
    std::ostringstream ss;
    ss << f.rdbuf();
    return ss.str();
}

// llama.cpp's vocabulary test files: inputs separated by lines "__ggml_vocab_test__";
// an input is the lines before its marker joined by "\n" (so "\n\n" before a marker is
// the input "\n"); the .out has one line of space-separated ids per input.
struct VocabCase {
    std::string text;
    std::vector<int32_t> ids;
};

inline std::vector<VocabCase> read_vocab_cases(const std::string& inp_path, const std::string& out_path) {
    std::vector<VocabCase> cases;
    std::istringstream inp(read_file(inp_path));
    std::string line, text;
    bool first = true;
    while (std::getline(inp, line)) {
        if (line == "__ggml_vocab_test__") {
            cases.push_back({text, {}});
            text.clear();
            first = true;
            continue;
        }
        if (!first) text += "\n";
        text += line;
        first = false;
    }
    std::istringstream out(read_file(out_path));
    size_t i = 0;
    while (std::getline(out, line) && i < cases.size()) {
        std::istringstream ids(line);
        int32_t id = 0;
        while (ids >> id) cases[i].ids.push_back(id);
        ++i;
    }
    if (i != cases.size()) cases.clear();  // malformed pair of files
    return cases;
}

// ../shared/data/tokenizers when it holds `probe`, else empty (as on a user's machine).
inline std::string shared_tokenizers_dir(const std::string& probe = "ggml-vocab-llama-spm.gguf") {
    const std::string dir = shared_data_dir();
    if (dir.empty() || !std::ifstream(dir + "/tokenizers/" + probe).good()) return {};
    return dir + "/tokenizers";
}

}  // namespace kvmix_test
