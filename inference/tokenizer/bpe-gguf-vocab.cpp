#include "tokenizer/bpe-gguf-vocab.h"

#include <limits>

#include "io/gguf-file.h"
#include "tokenizer/gguf-vocab-keys.h"
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
            return format_error("tokenizer: " + where + " is '" + show_vocab_piece(m) +
                                "', not two pieces separated by one space");
        KVMIX_TRY(add_bpe_merge(*index, std::string_view(m).substr(0, space), std::string_view(m).substr(space + 1),
                                where + " '" + show_vocab_piece(m) + "'", out.merges));
    }

    auto special = read_gguf_special_tokens(gguf, n, out.pre.add_bos);
    KVMIX_TRY(special);
    info.bos = special->bos;
    info.eos = special->eos;
    info.unk = special->unk;
    info.pad = special->pad;
    info.add_bos = special->add_bos && info.bos >= 0;
    info.add_eos = special->add_eos && info.eos >= 0;
    info.add_space_prefix = false;
    info.remove_extra_whitespaces = false;
    if (special->eot >= 0) info.eog.push_back(special->eot);
    if (special->eom >= 0 && special->eom != special->eot) info.eog.push_back(special->eom);
    std::vector<std::string_view> views(out.tokens.begin(), out.tokens.end());
    add_known_eog_tokens(info, views);
    return out;
}

}  // namespace kvmix
