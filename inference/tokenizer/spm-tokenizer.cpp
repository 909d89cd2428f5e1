#include "tokenizer/spm-tokenizer.h"

#include <algorithm>

#include <sentencepiece_processor.h>

namespace kvmix {

namespace {

constexpr std::string_view space_symbol = "\xE2\x96\x81";  // U+2581 "▁"
constexpr std::string_view unknown_surface = " \xE2\x81\x87 ";  // sentencepiece's " ⁇ "

int hex_digit(char c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    return -1;
}

}  // namespace

SpmTokenizer::SpmTokenizer(VocabInfo info, std::unique_ptr<sentencepiece::SentencePieceProcessor> sp)
    : Tokenizer(std::move(info)), sp_(std::move(sp)) {}

SpmTokenizer::~SpmTokenizer() = default;

Expected<std::unique_ptr<SpmTokenizer>> SpmTokenizer::create(std::string_view serialized_model, VocabInfo info,
                                                             const std::string& origin) {
    auto sp = std::make_unique<sentencepiece::SentencePieceProcessor>();
    const auto st = sp->LoadFromSerializedProto(serialized_model);
    if (!st.ok()) return format_error("tokenizer: sentencepiece rejected " + origin + ": " + st.ToString());
    if (static_cast<size_t>(sp->GetPieceSize()) != info.types.size())
        return error(ErrorCode::internal, "tokenizer: " + origin + " has " + std::to_string(sp->GetPieceSize()) +
                                              " pieces but " + std::to_string(info.types.size()) + " token types");
    std::unique_ptr<SpmTokenizer> tok(new SpmTokenizer(std::move(info), std::move(sp)));
    for (int32_t id = 0; id < tok->n_vocab(); ++id) {
        const auto t = tok->type(id);
        if (t != TokenType::control && t != TokenType::unknown) continue;
        const std::string_view p = tok->piece(id);
        if (!p.empty()) tok->specials_[static_cast<uint8_t>(p[0])].emplace_back(p, id);
    }
    for (auto& list : tok->specials_)  // longest match wins ("<s>" vs "<s>x")
        std::stable_sort(list.begin(), list.end(), [](const auto& a, const auto& b) { return a.first.size() > b.first.size(); });
    return tok;
}

Status SpmTokenizer::encode_text(std::string_view text, std::vector<int32_t>& out) const {
    if (text.empty()) return Status::success();
    std::vector<int> ids;
    const auto st = sp_->Encode(text, &ids);
    if (!st.ok()) return error(ErrorCode::internal, "tokenizer: sentencepiece failed to encode: " + st.ToString());
    out.insert(out.end(), ids.begin(), ids.end());
    return Status::success();
}

Expected<std::vector<int32_t>> SpmTokenizer::encode(std::string_view text, bool add_special, bool parse_special) const {
    std::vector<int32_t> out;
    out.reserve(text.size() / 3 + 4);
    if (add_special && add_bos()) out.push_back(bos());
    if (!parse_special) {
        KVMIX_TRY(encode_text(text, out));
    } else {
        size_t start = 0, i = 0;
        while (i < text.size()) {
            size_t matched = 0;
            for (const auto& [p, id] : specials_[static_cast<uint8_t>(text[i])]) {
                if (text.compare(i, p.size(), p) == 0) {
                    KVMIX_TRY(encode_text(text.substr(start, i - start), out));
                    out.push_back(id);
                    matched = p.size();
                    break;
                }
            }
            if (matched) {
                i += matched;
                start = i;
            } else {
                ++i;
            }
        }
        KVMIX_TRY(encode_text(text.substr(start), out));
    }
    if (add_special && add_eos()) out.push_back(eos());
    return out;
}

void SpmTokenizer::decode_run(const std::vector<int>& ids, std::string& out) const {
    if (ids.empty()) return;
    std::string text;
    // Cannot fail: every id was range-checked and the processor is loaded.
    if (sp_->Decode(ids, &text).ok()) out += text;
}

std::string SpmTokenizer::decode(std::span<const int32_t> ids, bool render_special) const {
    // Control tokens split the ids into runs decoded separately, so the text after one
    // drops its dummy-prefix space again, mirroring encode() per fragment.
    std::string out;
    std::vector<int> run;
    for (const int32_t id : ids) {
        if (!valid(id)) continue;
        if (is_control(id)) {
            decode_run(run, out);
            run.clear();
            if (render_special) out += piece(id);
            continue;
        }
        run.push_back(id);
    }
    decode_run(run, out);
    return out;
}

std::string_view SpmTokenizer::piece(int32_t id) const {
    if (!valid(id)) return {};
    return sp_->IdToPiece(id);
}

std::string SpmTokenizer::token_bytes(int32_t id, bool render_special) const {
    if (!valid(id)) return {};
    const std::string_view p = piece(id);
    switch (type(id)) {
        case TokenType::control: return render_special ? std::string(p) : std::string();
        case TokenType::unknown: return std::string(unknown_surface);
        case TokenType::byte: {
            // "<0xNN>"
            if (p.size() == 6 && p.substr(0, 3) == "<0x" && p[5] == '>') {
                const int hi = hex_digit(p[3]), lo = hex_digit(p[4]);
                if (hi >= 0 && lo >= 0) return std::string(1, static_cast<char>(hi * 16 + lo));
            }
            return std::string(unknown_surface);  // unreachable: sentencepiece validated byte pieces
        }
        default: break;
    }
    std::string out;
    out.reserve(p.size());
    for (size_t i = 0; i < p.size();) {
        if (p.compare(i, space_symbol.size(), space_symbol) == 0) {
            out.push_back(' ');
            i += space_symbol.size();
        } else {
            out.push_back(p[i++]);
        }
    }
    return out;
}

int32_t SpmTokenizer::piece_to_id(std::string_view p) const {
    const int id = sp_->PieceToId(p);  // the unknown id when absent
    if (id < 0 || sp_->IdToPiece(id) != p) return -1;
    return id;
}

}  // namespace kvmix
