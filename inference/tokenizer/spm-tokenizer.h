// SpmTokenizer: the Tokenizer for SentencePiece vocabularies, backed by libsentencepiece
// (one processor, loaded from a tokenizer.model or from a ModelProto built out of a GGUF).
// Thread-safety: immutable after create(); const methods are safe to call concurrently
// (sentencepiece's Encode/Decode are const and keep no per-call state in the processor).
#pragma once

#include <array>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "tokenizer/tokenizer.h"

namespace sentencepiece {
class SentencePieceProcessor;
}

namespace kvmix {

class SpmTokenizer final : public Tokenizer {
public:
    // Loads `serialized_model` (a ModelProto) into sentencepiece; `info.types` must have
    // one entry per piece. `origin` names the source in error messages.
    static Expected<std::unique_ptr<SpmTokenizer>> create(std::string_view serialized_model, VocabInfo info,
                                                          const std::string& origin);
    ~SpmTokenizer() override;

    Expected<std::vector<int32_t>> encode(std::string_view text, bool add_special, bool parse_special) const override;
    std::string decode(std::span<const int32_t> ids, bool render_special = false) const override;
    std::string_view piece(int32_t id) const override;
    std::string token_bytes(int32_t id, bool render_special) const override;
    int32_t piece_to_id(std::string_view piece) const override;

private:
    SpmTokenizer(VocabInfo info, std::unique_ptr<sentencepiece::SentencePieceProcessor> sp);
    // Encodes one run of plain text (no special-token parsing) and appends the ids.
    Status encode_text(std::string_view text, std::vector<int32_t>& out) const;
    // Decodes ids that contain no CONTROL token.
    void decode_run(const std::vector<int>& ids, std::string& out) const;

    std::unique_ptr<sentencepiece::SentencePieceProcessor> sp_;
    // CONTROL pieces by first byte, longest first, for parse_special.
    std::array<std::vector<std::pair<std::string_view, int32_t>>, 256> specials_;
};

}  // namespace kvmix
