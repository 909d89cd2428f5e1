#include "tokenizer/bpe-gguf-vocab.h"

#include <limits>

#include "io/gguf-file.h"
#include "tokenizer/spm-gguf-vocab.h"

namespace kvmix {

namespace {

const char* const key_model = "tokenizer.ggml.model";
const char* const key_pre = "tokenizer.ggml.pre";
const char* const key_tokens = "tokenizer.ggml.tokens";
const char* const key_types = "tokenizer.ggml.token_type";
const char* const key_merges = "tokenizer.ggml.merges";

std::string quote(const std::string& key) {
    return "'" + key + "'";
}

// An optional token id: -1 when the key is absent. Out of range is an error, except for
// `lenient` keys, which then read as absent.
Expected<int32_t> optional_id(const GgufFile& gguf, const std::string& key, size_t n_vocab, bool lenient = false) {
    if (!gguf.find(key)) return int32_t{-1};
    auto v = gguf.get_int(key);
    if (!v.ok()) return v.status().with_context("tokenizer");
    if (*v < 0 || static_cast<uint64_t>(*v) >= n_vocab) {
        if (lenient) return int32_t{-1};
        return format_error("tokenizer: " + quote(key) + " is " + std::to_string(*v) + ", outside the vocabulary of " +
                            std::to_string(n_vocab) + " tokens");
    }
    return static_cast<int32_t>(*v);
}

Expected<bool> optional_bool(const GgufFile& gguf, const std::string& key, bool fallback) {
    if (!gguf.find(key)) return fallback;
    auto v = gguf.get_bool(key);
    if (!v.ok()) return v.status().with_context("tokenizer");
    return *v;
}

}  // namespace

Expected<BpeVocab> bpe_vocab_from_gguf(const GgufFile& gguf) {
    if (!gguf.find(key_model))
        return format_error("tokenizer: the GGUF has no " + quote(key_model) + " (no vocabulary)");
    auto model = gguf.get_string(key_model);
    if (!model.ok()) return model.status().with_context("tokenizer");
    if (*model != "gpt2")
        return error(ErrorCode::unsupported,
                     "tokenizer: " + quote(key_model) + " is '" + *model + "'; a byte-level BPE vocabulary is 'gpt2'");

    BpeVocab out;
    // The pre-tokenizer first: an unknown one is the likeliest reason to refuse a file.
    // Without the key llama.cpp uses its "default" set (old conversions); so do we.
    std::string pre = "default";
    if (gguf.find(key_pre)) {
        auto p = gguf.get_string(key_pre);
        if (!p.ok()) return p.status().with_context("tokenizer");
        pre = std::move(p).value();
    }
    auto spec = bpe_pre_tokenizer_spec(pre);
    KVMIX_TRY(spec);
    out.pre = std::move(spec).value();

    auto tokens = gguf.get_string_array(key_tokens);
    if (!tokens.ok()) return tokens.status().with_context("tokenizer");
    const size_t n = tokens->size();
    if (n == 0) return format_error("tokenizer: " + quote(key_tokens) + " is empty");
    if (n > static_cast<size_t>(std::numeric_limits<int32_t>::max()))
        return format_error("tokenizer: " + quote(key_tokens) + " has too many entries (" + std::to_string(n) + ")");
    out.tokens = std::move(tokens).value();

    VocabInfo& info = out.info;
    info.types.assign(n, TokenType::normal);
    if (gguf.find(key_types)) {
        auto t = gguf.get_int_array(key_types);
        if (!t.ok()) return t.status().with_context("tokenizer");
        if (t->size() != n)
            return format_error("tokenizer: " + quote(key_types) + " has " + std::to_string(t->size()) +
                                " entries but " + quote(key_tokens) + " has " + std::to_string(n));
        for (size_t i = 0; i < n; ++i) {
            const int64_t v = (*t)[i];
            if (v < 0 || v > 6)
                return format_error("tokenizer: " + quote(key_types) + "[" + std::to_string(i) + "] is " +
                                    std::to_string(v) + " (expected 1..6)");
            info.types[i] = v == 0 ? TokenType::normal : static_cast<TokenType>(v);
        }
    }

    auto index = index_bpe_pieces(out.tokens, info.types, key_tokens);
    KVMIX_TRY(index);

    if (!gguf.find(key_merges))
        return format_error("tokenizer: " + quote(key_merges) +
                            " is missing (a 'gpt2' vocabulary needs its BPE merges)");
    auto merges = gguf.get_string_array(key_merges);
    if (!merges.ok()) return merges.status().with_context("tokenizer");
    out.merges.reserve(merges->size());
    for (size_t i = 0; i < merges->size(); ++i) {
        const std::string& m = (*merges)[i];
        const std::string where = quote(key_merges) + "[" + std::to_string(i) + "]";
        const size_t space = m.find(' ');
        if (space == std::string::npos || space == 0 || space + 1 == m.size() ||
            m.find(' ', space + 1) != std::string::npos)
            return format_error("tokenizer: " + where + " is '" + show_bpe_piece(m) +
                                "', not two pieces separated by one space");
        KVMIX_TRY(add_bpe_merge(*index, std::string_view(m).substr(0, space), std::string_view(m).substr(space + 1),
                                where + " '" + show_bpe_piece(m) + "'", out.merges));
    }

    auto bos = optional_id(gguf, "tokenizer.ggml.bos_token_id", n);
    KVMIX_TRY(bos);
    auto eos = optional_id(gguf, "tokenizer.ggml.eos_token_id", n);
    KVMIX_TRY(eos);
    auto unk = optional_id(gguf, "tokenizer.ggml.unknown_token_id", n);
    KVMIX_TRY(unk);
    auto pad = optional_id(gguf, "tokenizer.ggml.padding_token_id", n, /*lenient=*/true);
    KVMIX_TRY(pad);
    auto eot = optional_id(gguf, "tokenizer.ggml.eot_token_id", n);
    KVMIX_TRY(eot);
    auto eom = optional_id(gguf, "tokenizer.ggml.eom_token_id", n);
    KVMIX_TRY(eom);
    auto add_bos = optional_bool(gguf, "tokenizer.ggml.add_bos_token", out.pre.add_bos);
    KVMIX_TRY(add_bos);
    auto add_eos = optional_bool(gguf, "tokenizer.ggml.add_eos_token", false);
    KVMIX_TRY(add_eos);

    info.bos = *bos;
    info.eos = *eos;
    info.unk = *unk;
    info.pad = *pad;
    info.add_bos = *add_bos && info.bos >= 0;
    info.add_eos = *add_eos && info.eos >= 0;
    info.add_space_prefix = false;
    info.remove_extra_whitespaces = false;
    if (*eot >= 0) info.eog.push_back(*eot);
    if (*eom >= 0 && *eom != *eot) info.eog.push_back(*eom);
    std::vector<std::string_view> views(out.tokens.begin(), out.tokens.end());
    add_known_eog_tokens(info, views);
    return out;
}

}  // namespace kvmix
