#include "tokenizer/bpe-vocab.h"

#include "tokenizer/gguf-vocab-keys.h"

namespace kvmix {

Expected<BpePieceIndex> index_bpe_pieces(const std::vector<std::string>& tokens, const std::vector<TokenType>& types,
                                         const std::string& key) {
    BpePieceIndex index;
    index.reserve(tokens.size());
    for (size_t i = 0; i < tokens.size(); ++i) {
        const std::string& p = tokens[i];
        const std::string at = "'" + key + "'[" + std::to_string(i) + "]";
        if (p.empty()) return format_error("tokenizer: " + at + " is empty");
        if (p.size() > kMaxBpePieceBytes)
            return format_error("tokenizer: " + at + " is " + std::to_string(p.size()) + " bytes long (at most " +
                                std::to_string(kMaxBpePieceBytes) + ")");
        const auto [it, fresh] = index.emplace(p, static_cast<int32_t>(i));
        if (fresh) continue;
        if (i < types.size() && types[i] == TokenType::unused) continue;
        return format_error("tokenizer: '" + key + "' has the piece '" + show_vocab_piece(p) + "' twice (ids " +
                            std::to_string(it->second) + " and " + std::to_string(i) + ")");
    }
    return index;
}

Status add_bpe_merge(const BpePieceIndex& index, std::string_view left, std::string_view right,
                     const std::string& where, std::vector<BpeMerge>& merges) {
    const auto l = index.find(left);
    if (l == index.end())
        return format_error("tokenizer: " + where + ": '" + show_vocab_piece(left) + "' is not in the vocabulary");
    const auto r = index.find(right);
    if (r == index.end())
        return format_error("tokenizer: " + where + ": '" + show_vocab_piece(right) + "' is not in the vocabulary");
    std::string joined;
    joined.reserve(left.size() + right.size());
    joined.append(left).append(right);
    const auto m = index.find(joined);
    if (m == index.end())
        return format_error("tokenizer: " + where + ": the merged piece '" + show_vocab_piece(joined) +
                            "' is not in the vocabulary");
    merges.push_back({l->second, r->second, m->second});
    return Status::success();
}

}  // namespace kvmix
