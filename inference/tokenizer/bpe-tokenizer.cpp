#include "tokenizer/bpe-tokenizer.h"

#include <algorithm>

#include "tokenizer/bpe-byte-level.h"
#include "tokenizer/utf8-stream.h"

namespace kvmix {

namespace {

uint64_t pair_key(int32_t left, int32_t right) {
    return (static_cast<uint64_t>(static_cast<uint32_t>(left)) << 32) | static_cast<uint32_t>(right);
}

bool is_added(TokenType t) {
    return t == TokenType::control || t == TokenType::unknown || t == TokenType::user_defined;
}

}  // namespace

BpeTokenizer::BpeTokenizer(BpeVocab vocab, BpePreTokenizer pre)
    : Tokenizer(std::move(vocab.info)),
      tokens_(std::move(vocab.tokens)),
      pre_(std::move(pre)),
      pre_name_(std::move(vocab.pre.name)),
      ignore_merges_(vocab.pre.ignore_merges),
      unk_for_missing_bytes_(vocab.unk_for_missing_bytes) {}

Expected<std::unique_ptr<BpeTokenizer>> BpeTokenizer::create(BpeVocab vocab) {
    const size_t n = vocab.tokens.size();
    if (vocab.info.types.size() != n)
        return error(ErrorCode::internal, "tokenizer: " + std::to_string(n) + " pieces but " +
                                              std::to_string(vocab.info.types.size()) + " token types");
    VocabInfo& info = vocab.info;
    for (const int32_t id : {info.bos, info.eos, info.unk, info.pad})
        if (id < -1 || id >= static_cast<int64_t>(n))
            return error(ErrorCode::internal,
                         "tokenizer: special token id " + std::to_string(id) + " outside the vocabulary");
    info.add_bos = info.add_bos && info.bos >= 0;
    info.add_eos = info.add_eos && info.eos >= 0;
    auto pre = BpePreTokenizer::create(vocab.pre.regexes);
    if (!pre.ok())
        return error(pre.status().code(),
                     "tokenizer: " + pre.status().message() + " (pre-tokenizer '" + vocab.pre.name + "')");
    std::vector<BpeMerge> merges = std::move(vocab.merges);
    std::unique_ptr<BpeTokenizer> tok(new BpeTokenizer(std::move(vocab), std::move(pre).value()));

    // The index points into tok->tokens_, which never changes from here on.
    auto index = index_bpe_pieces(tok->tokens_, tok->info().types, "tokens");
    KVMIX_TRY(index);
    tok->index_ = std::move(index).value();

    tok->merges_.reserve(merges.size());
    for (size_t r = 0; r < merges.size(); ++r) {
        const BpeMerge& m = merges[r];
        if (!tok->valid(m.left) || !tok->valid(m.right) || !tok->valid(m.result))
            return error(ErrorCode::internal,
                         "tokenizer: merge " + std::to_string(r) + " has an id outside the vocabulary");
        tok->merges_.emplace(pair_key(m.left, m.right), Merge{static_cast<int32_t>(r), m.result});  // first rank wins
    }

    for (int b = 0; b < 256; ++b) {
        const auto it = tok->index_.find(byte_level_symbol(static_cast<uint8_t>(b)));
        tok->byte_token_[static_cast<size_t>(b)] = it == tok->index_.end() ? -1 : it->second;
    }

    for (int32_t id = 0; id < tok->n_vocab(); ++id) {
        if (!is_added(tok->type(id))) continue;
        const std::string_view p = tok->tokens_[static_cast<size_t>(id)];
        tok->added_[static_cast<uint8_t>(p[0])].emplace_back(p, id);
    }
    for (auto& list : tok->added_)  // longest match wins ("<|im" vs "<|im_start|>")
        std::stable_sort(list.begin(), list.end(),
                         [](const auto& a, const auto& b) { return a.first.size() > b.first.size(); });
    return tok;
}

const BpeTokenizer::Merge* BpeTokenizer::find_merge(int32_t left, int32_t right) const {
    const auto it = merges_.find(pair_key(left, right));
    return it == merges_.end() ? nullptr : &it->second;
}

void BpeTokenizer::encode_word(std::string_view word, std::vector<int32_t>& out) const {
    if (word.empty()) return;
    if (ignore_merges_) {
        std::string symbols;
        append_byte_level(word, symbols);
        const auto it = index_.find(symbols);
        if (it != index_.end()) {
            out.push_back(it->second);
            return;
        }
    }

    // One symbol per byte, linked so merged-away symbols drop out; candidate pairs wait in
    // a min-heap on (rank, position) and are checked against the symbols when popped.
    struct Symbol {
        int32_t id;
        int32_t prev, next;  // -1 at the ends
        bool alive;
    };
    struct Candidate {
        int32_t rank, left, right, left_id, right_id, result;
    };
    const auto n = static_cast<int32_t>(word.size());
    std::vector<Symbol> sym(static_cast<size_t>(n));
    for (int32_t i = 0; i < n; ++i)
        sym[static_cast<size_t>(i)] = {byte_token_[static_cast<uint8_t>(word[static_cast<size_t>(i)])], i - 1,
                                       i + 1 < n ? i + 1 : -1, true};

    const auto later = [](const Candidate& a, const Candidate& b) {
        return a.rank != b.rank ? a.rank > b.rank : a.left > b.left;
    };
    std::vector<Candidate> heap;
    const auto consider = [&](int32_t left, int32_t right) {
        if (left < 0 || right < 0) return;
        const Symbol& l = sym[static_cast<size_t>(left)];
        const Symbol& r = sym[static_cast<size_t>(right)];
        if (l.id < 0 || r.id < 0) return;
        if (const Merge* m = find_merge(l.id, r.id)) {
            heap.push_back({m->rank, left, right, l.id, r.id, m->result});
            std::push_heap(heap.begin(), heap.end(), later);
        }
    };
    for (int32_t i = 0; i + 1 < n; ++i) consider(i, i + 1);

    while (!heap.empty()) {
        std::pop_heap(heap.begin(), heap.end(), later);
        const Candidate c = heap.back();
        heap.pop_back();
        Symbol& l = sym[static_cast<size_t>(c.left)];
        Symbol& r = sym[static_cast<size_t>(c.right)];
        // Stale when either side merged since: symbols only grow, so equal ids mean unchanged.
        if (!l.alive || !r.alive || l.next != c.right || l.id != c.left_id || r.id != c.right_id) continue;
        l.id = c.result;
        l.next = r.next;
        if (r.next >= 0) sym[static_cast<size_t>(r.next)].prev = c.left;
        r.alive = false;
        consider(l.prev, c.left);
        consider(c.left, l.next);
    }

    for (int32_t i = 0; i >= 0; i = sym[static_cast<size_t>(i)].next) {
        const int32_t id = sym[static_cast<size_t>(i)].id;
        if (id >= 0)
            out.push_back(id);
        else if (unk_for_missing_bytes_ && unk() >= 0)
            out.push_back(unk());
    }
}

Status BpeTokenizer::encode_fragment(std::string_view text, std::vector<int32_t>& out) const {
    if (text.empty()) return Status::success();
    std::vector<std::string_view> words;
    KVMIX_TRY(pre_.split(text, words));
    for (const std::string_view w : words) encode_word(w, out);
    return Status::success();
}

Expected<std::vector<int32_t>> BpeTokenizer::encode(std::string_view text, bool add_special, bool parse_special) const {
    std::vector<int32_t> out;
    out.reserve(text.size() / 3 + 4);
    if (add_special && add_bos()) out.push_back(bos());
    size_t start = 0, i = 0;
    while (i < text.size()) {
        size_t matched = 0;
        for (const auto& [p, id] : added_[static_cast<uint8_t>(text[i])]) {
            if (!parse_special && type(id) != TokenType::user_defined) continue;
            if (text.compare(i, p.size(), p) != 0) continue;
            KVMIX_TRY(encode_fragment(text.substr(start, i - start), out));
            out.push_back(id);
            matched = p.size();
            break;
        }
        if (matched) {
            i += matched;
            start = i;
        } else {
            ++i;
        }
    }
    KVMIX_TRY(encode_fragment(text.substr(start), out));
    if (add_special && add_eos()) out.push_back(eos());
    return out;
}

std::string BpeTokenizer::decode(std::span<const int32_t> ids, bool render_special) const {
    // Same rules as StreamingDecoder, so streamed chunks add up to this: a control token
    // ends the text before it (an unfinished character there becomes U+FFFD).
    std::string out;
    Utf8Assembler utf8;
    for (const int32_t id : ids) {
        if (!valid(id)) continue;
        if (is_control(id)) {
            out += utf8.flush();
            if (render_special) out += piece(id);
            continue;
        }
        out += utf8.push(token_bytes(id, render_special));
    }
    out += utf8.flush();
    return out;
}

std::string_view BpeTokenizer::piece(int32_t id) const {
    if (!valid(id)) return {};
    return tokens_[static_cast<size_t>(id)];
}

std::string BpeTokenizer::token_bytes(int32_t id, bool render_special) const {
    if (!valid(id)) return {};
    const std::string_view p = piece(id);
    switch (type(id)) {
        case TokenType::control:
        case TokenType::unknown:
            return render_special ? std::string(p) : std::string();
        case TokenType::user_defined:
            return std::string(p);
        default:
            break;
    }
    std::string out;
    out.reserve(p.size());
    append_byte_level_decoded(p, out);
    return out;
}

int32_t BpeTokenizer::piece_to_id(std::string_view p) const {
    const auto it = index_.find(p);
    return it == index_.end() ? -1 : it->second;
}

}  // namespace kvmix
