// SpmModelProto: the subset of SentencePiece's ModelProto that we build from a GGUF
// vocabulary, with a protobuf wire-format encoder (Debian's libsentencepiece-dev ships no
// protobuf headers, so we write the bytes ourselves and hand them to
// SentencePieceProcessor::LoadFromSerializedProto) and a small reader for the pieces of an
// existing tokenizer.model (to learn what the 0.1.x C++ API does not expose: user-defined
// piece types, add_dummy_prefix).
// Field numbers follow sentencepiece_model.proto (ModelProto, TrainerSpec, NormalizerSpec).
// Thread-safety: plain values and pure functions.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "kvmix/status.h"

namespace kvmix {

// ModelProto.SentencePiece.Type; the values are the wire values (and GGUF's token_type).
enum class SpmPieceType : int32_t {
    normal = 1,
    unknown = 2,
    control = 3,
    user_defined = 4,
    unused = 5,
    byte = 6,
};

// TrainerSpec.ModelType.
enum class SpmModelType : int32_t { unigram = 1, bpe = 2, word = 3, character = 4 };

struct SpmPiece {
    std::string piece;
    float score = 0.0f;
    SpmPieceType type = SpmPieceType::normal;
};

// Only the fields the encoder reads at run time (plus ids/pieces for completeness);
// training-only options (split_digits, character_coverage, ...) are left at defaults.
struct SpmTrainerSpec {
    SpmModelType model_type = SpmModelType::bpe;
    int32_t vocab_size = 0;
    bool byte_fallback = false;
    int32_t unk_id = 0;
    int32_t bos_id = -1;  // -1: none
    int32_t eos_id = -1;
    int32_t pad_id = -1;
    std::string unk_piece, bos_piece, eos_piece, pad_piece;  // empty: not written
};

struct SpmNormalizerSpec {
    std::string name = "identity";  // with no precompiled charsmap: no normalization at all
    bool add_dummy_prefix = true;
    bool remove_extra_whitespaces = false;
    bool escape_whitespaces = true;
};

struct SpmModelProto {
    std::vector<SpmPiece> pieces;
    SpmTrainerSpec trainer;
    SpmNormalizerSpec normalizer;
};

// Serializes `model` as a ModelProto in protobuf wire format.
std::string serialize_spm_model(const SpmModelProto& model);

// Reads the fields above from a serialized ModelProto (absent ones take the proto's
// defaults), skipping all others. Errors on malformed wire data, a piece that is not UTF-8
// or a model without pieces; sentencepiece itself does the full validation when it loads
// the bytes.
Expected<SpmModelProto> parse_spm_model(std::string_view bytes);

// Low-level wire helpers, exposed for tests.
namespace spm_wire {
void put_varint(std::string& out, uint64_t v);
void put_tag(std::string& out, uint32_t field, uint32_t wire_type);
}  // namespace spm_wire

}  // namespace kvmix
