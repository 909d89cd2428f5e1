#include "tokenizer/gguf-vocab-keys.h"

#include "io/gguf-file.h"

namespace kvmix {

Expected<int32_t> gguf_optional_token_id(const GgufFile& gguf, const std::string& key, size_t n_vocab, bool lenient) {
    if (!gguf.find(key)) return int32_t{-1};
    auto v = gguf.get_int(key);
    if (!v.ok()) return v.status().with_context("tokenizer");
    if (*v < 0 || static_cast<uint64_t>(*v) >= n_vocab) {
        if (lenient) return int32_t{-1};
        return format_error("tokenizer: '" + key + "' is " + std::to_string(*v) + ", outside the vocabulary of " +
                            std::to_string(n_vocab) + " tokens");
    }
    return static_cast<int32_t>(*v);
}

Expected<bool> gguf_optional_bool(const GgufFile& gguf, const std::string& key, bool fallback) {
    if (!gguf.find(key)) return fallback;
    auto v = gguf.get_bool(key);
    if (!v.ok()) return v.status().with_context("tokenizer");
    return *v;
}

Expected<GgufSpecialTokens> read_gguf_special_tokens(const GgufFile& gguf, size_t n_vocab, bool default_add_bos) {
    GgufSpecialTokens s;
    KVMIX_ASSIGN(s.bos, gguf_optional_token_id(gguf, "tokenizer.ggml.bos_token_id", n_vocab));
    KVMIX_ASSIGN(s.eos, gguf_optional_token_id(gguf, "tokenizer.ggml.eos_token_id", n_vocab));
    KVMIX_ASSIGN(s.unk, gguf_optional_token_id(gguf, "tokenizer.ggml.unknown_token_id", n_vocab));
    KVMIX_ASSIGN(s.pad, gguf_optional_token_id(gguf, "tokenizer.ggml.padding_token_id", n_vocab, /*lenient=*/true));
    KVMIX_ASSIGN(s.eot, gguf_optional_token_id(gguf, "tokenizer.ggml.eot_token_id", n_vocab));
    KVMIX_ASSIGN(s.eom, gguf_optional_token_id(gguf, "tokenizer.ggml.eom_token_id", n_vocab));
    KVMIX_ASSIGN(s.add_bos, gguf_optional_bool(gguf, "tokenizer.ggml.add_bos_token", default_add_bos));
    KVMIX_ASSIGN(s.add_eos, gguf_optional_bool(gguf, "tokenizer.ggml.add_eos_token", false));
    return s;
}

std::string show_vocab_piece(std::string_view s) {
    static const char hex[] = "0123456789abcdef";
    std::string out;
    for (unsigned char c : s) {
        if (c < 0x20 || c == 0x7f) {
            out += "\\x";
            out.push_back(hex[c >> 4]);
            out.push_back(hex[c & 15]);
        } else {
            out.push_back(static_cast<char>(c));
        }
        if (out.size() > 64) return out + "...";
    }
    return out;
}

}  // namespace kvmix
