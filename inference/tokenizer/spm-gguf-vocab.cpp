#include "tokenizer/spm-gguf-vocab.h"

#include <algorithm>
#include <array>
#include <limits>
#include <unordered_map>

#include "io/gguf-file.h"
#include "tokenizer/gguf-vocab-keys.h"
#include "tokenizer/utf8-stream.h"

namespace kvmix {

namespace {

constexpr std::string_view space_symbol = "\xE2\x96\x81";  // U+2581 "▁"

const char* const key_model = "tokenizer.ggml.model";
const char* const key_tokens = "tokenizer.ggml.tokens";
const char* const key_scores = "tokenizer.ggml.scores";
const char* const key_types = "tokenizer.ggml.token_type";

Status tok_error(ErrorCode code, const std::string& message) { return {code, "tokenizer: " + message}; }

std::string quote(const std::string& key) { return "'" + key + "'"; }

std::string escape_spaces(std::string_view s) {
    std::string out;
    out.reserve(s.size());
    for (char c : s) {
        if (c == ' ')
            out.append(space_symbol);
        else
            out.push_back(c);
    }
    return out;
}

}  // namespace

void add_known_eog_tokens(VocabInfo& info, const std::vector<std::string_view>& pieces) {
    // End-of-turn markers of common chat formats (Gemma, ChatML, Llama 3, Phi, ...).
    static constexpr std::array<std::string_view, 8> markers = {
        "<end_of_turn>", "<|im_end|>", "<|eot_id|>", "<|eom_id|>", "<|end|>", "<|endoftext|>", "<EOT>", "<|return|>",
    };
    auto add = [&](int32_t id) {
        if (id >= 0 && std::find(info.eog.begin(), info.eog.end(), id) == info.eog.end()) info.eog.push_back(id);
    };
    add(info.eos);
    for (size_t i = 0; i < pieces.size() && i < info.types.size(); ++i) {
        if (info.types[i] != TokenType::control) continue;
        if (std::find(markers.begin(), markers.end(), pieces[i]) != markers.end()) add(static_cast<int32_t>(i));
    }
}

Expected<SpmGgufVocab> spm_vocab_from_gguf(const GgufFile& gguf) {
    if (!gguf.find(key_model)) return tok_error(ErrorCode::format, "the GGUF has no " + quote(key_model) + " (no vocabulary)");
    auto model = gguf.get_string(key_model);
    if (!model.ok()) return model.status().with_context("tokenizer");
    if (*model != "llama")
        return tok_error(ErrorCode::unsupported, quote(key_model) + " is '" + *model +
                                                     "'; only SentencePiece vocabularies ('llama') are supported");

    auto tokens = gguf.get_string_array(key_tokens);
    if (!tokens.ok()) return tokens.status().with_context("tokenizer");
    const size_t n = tokens->size();
    if (n == 0) return tok_error(ErrorCode::format, quote(key_tokens) + " is empty");
    if (n > static_cast<size_t>(std::numeric_limits<int32_t>::max()))
        return tok_error(ErrorCode::format, quote(key_tokens) + " has too many entries (" + std::to_string(n) + ")");

    auto count_mismatch = [&](const char* key, size_t got) {
        return tok_error(ErrorCode::format, quote(key) + " has " + std::to_string(got) + " entries but " + quote(key_tokens) +
                                                " has " + std::to_string(n));
    };

    std::vector<double> scores(n, 0.0);
    if (gguf.find(key_scores)) {
        auto s = gguf.get_float_array(key_scores);
        if (!s.ok()) return s.status().with_context("tokenizer");
        if (s->size() != n) return count_mismatch(key_scores, s->size());
        scores = std::move(s).value();
    }

    SpmGgufVocab out;
    VocabInfo& info = out.info;
    info.types.assign(n, TokenType::normal);
    if (gguf.find(key_types)) {
        auto t = gguf.get_int_array(key_types);
        if (!t.ok()) return t.status().with_context("tokenizer");
        if (t->size() != n) return count_mismatch(key_types, t->size());
        for (size_t i = 0; i < n; ++i) {
            const int64_t v = (*t)[i];
            if (v < 0 || v > 6)
                return tok_error(ErrorCode::format, quote(key_types) + "[" + std::to_string(i) + "] is " + std::to_string(v) +
                                                        " (expected 1..6)");
            info.types[i] = v == 0 ? TokenType::normal : static_cast<TokenType>(v);
        }
    }

    // Special ids and flags.
    auto special = read_gguf_special_tokens(gguf, n, /*default_add_bos=*/true);
    KVMIX_TRY(special);
    auto add_space_prefix = gguf_optional_bool(gguf, "tokenizer.ggml.add_space_prefix", true);
    KVMIX_TRY(add_space_prefix);

    // sentencepiece needs exactly one UNKNOWN piece.
    int32_t unk_id = special->unk;
    if (unk_id < 0) {
        const auto it = std::find(info.types.begin(), info.types.end(), TokenType::unknown);
        if (it == info.types.end())
            return tok_error(ErrorCode::format, "the vocabulary has no unknown token (no 'tokenizer.ggml.unknown_token_id' and no token of type 2)");
        unk_id = static_cast<int32_t>(it - info.types.begin());
    }
    for (auto& t : info.types)
        if (t == TokenType::unknown) t = TokenType::control;
    info.types[static_cast<size_t>(unk_id)] = TokenType::unknown;

    info.bos = special->bos;
    info.eos = special->eos;
    info.unk = unk_id;
    info.pad = special->pad;
    info.add_bos = special->add_bos && info.bos >= 0;
    info.add_eos = special->add_eos && info.eos >= 0;
    info.add_space_prefix = *add_space_prefix;

    // Pieces.
    SpmModelProto& proto = out.proto;
    proto.pieces.resize(n);
    std::unordered_map<std::string_view, size_t> seen;
    seen.reserve(n);
    bool has_bytes = false;
    for (size_t i = 0; i < n; ++i) {
        SpmPiece& p = proto.pieces[i];
        const auto type = info.types[i];
        p.piece = type == TokenType::user_defined ? escape_spaces((*tokens)[i]) : std::move((*tokens)[i]);
        p.score = static_cast<float>(scores[i]);
        p.type = static_cast<SpmPieceType>(type);
        has_bytes |= type == TokenType::byte;
        if (p.piece.empty()) return tok_error(ErrorCode::format, quote(key_tokens) + "[" + std::to_string(i) + "] is empty");
        // Decoded text is pieces put together: a piece that is not UTF-8 would leak broken text.
        if (!is_valid_utf8(p.piece))
            return tok_error(ErrorCode::format, quote(key_tokens) + "[" + std::to_string(i) + "] is not valid UTF-8");
    }
    for (size_t i = 0; i < n; ++i) {
        const auto [it, fresh] = seen.emplace(proto.pieces[i].piece, i);
        if (!fresh)
            return tok_error(ErrorCode::format, quote(key_tokens) + " has the piece '" + show_vocab_piece(proto.pieces[i].piece) +
                                                    "' twice (ids " + std::to_string(it->second) + " and " + std::to_string(i) + ")");
    }

    SpmTrainerSpec& tr = proto.trainer;
    tr.model_type = SpmModelType::bpe;
    tr.vocab_size = static_cast<int32_t>(n);
    tr.byte_fallback = has_bytes;
    tr.unk_id = unk_id;
    tr.bos_id = info.bos;
    tr.eos_id = info.eos;
    tr.pad_id = info.pad;
    tr.unk_piece = proto.pieces[static_cast<size_t>(unk_id)].piece;
    if (info.bos >= 0) tr.bos_piece = proto.pieces[static_cast<size_t>(info.bos)].piece;
    if (info.eos >= 0) tr.eos_piece = proto.pieces[static_cast<size_t>(info.eos)].piece;
    if (info.pad >= 0) tr.pad_piece = proto.pieces[static_cast<size_t>(info.pad)].piece;

    SpmNormalizerSpec& nz = proto.normalizer;
    nz.name = "identity";
    nz.add_dummy_prefix = info.add_space_prefix;
    nz.remove_extra_whitespaces = false;
    nz.escape_whitespaces = true;

    if (special->eot >= 0) info.eog.push_back(special->eot);
    if (special->eom >= 0 && special->eom != special->eot) info.eog.push_back(special->eom);
    std::vector<std::string_view> views;
    views.reserve(n);
    for (const auto& p : proto.pieces) views.emplace_back(p.piece);
    add_known_eog_tokens(info, views);
    return out;
}

}  // namespace kvmix
