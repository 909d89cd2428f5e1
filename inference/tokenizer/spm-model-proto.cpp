#include "tokenizer/spm-model-proto.h"

#include <cstring>

#include "tokenizer/utf8-stream.h"

namespace kvmix {

namespace {

constexpr uint32_t wire_varint = 0;
constexpr uint32_t wire_fixed64 = 1;
constexpr uint32_t wire_bytes = 2;
constexpr uint32_t wire_fixed32 = 5;

// ModelProto
constexpr uint32_t model_pieces = 1;
constexpr uint32_t model_trainer_spec = 2;
constexpr uint32_t model_normalizer_spec = 3;
// ModelProto.SentencePiece
constexpr uint32_t piece_piece = 1;
constexpr uint32_t piece_score = 2;
constexpr uint32_t piece_type = 3;
// TrainerSpec
constexpr uint32_t trainer_model_type = 3;
constexpr uint32_t trainer_vocab_size = 4;
constexpr uint32_t trainer_byte_fallback = 35;
constexpr uint32_t trainer_unk_id = 40;
constexpr uint32_t trainer_bos_id = 41;
constexpr uint32_t trainer_eos_id = 42;
constexpr uint32_t trainer_pad_id = 43;
constexpr uint32_t trainer_unk_piece = 45;
constexpr uint32_t trainer_bos_piece = 46;
constexpr uint32_t trainer_eos_piece = 47;
constexpr uint32_t trainer_pad_piece = 48;
// NormalizerSpec
constexpr uint32_t normalizer_name = 1;
constexpr uint32_t normalizer_add_dummy_prefix = 3;
constexpr uint32_t normalizer_remove_extra_whitespaces = 4;
constexpr uint32_t normalizer_escape_whitespaces = 5;

using spm_wire::put_tag;
using spm_wire::put_varint;

// int32 fields are sign-extended to 64 bits on the wire (so -1 takes ten bytes).
void put_int32(std::string& out, uint32_t field, int32_t v) {
    put_tag(out, field, wire_varint);
    put_varint(out, static_cast<uint64_t>(static_cast<int64_t>(v)));
}

void put_bool(std::string& out, uint32_t field, bool v) {
    put_tag(out, field, wire_varint);
    put_varint(out, v ? 1 : 0);
}

void put_bytes(std::string& out, uint32_t field, std::string_view bytes) {
    put_tag(out, field, wire_bytes);
    put_varint(out, bytes.size());
    out.append(bytes);
}

void put_float(std::string& out, uint32_t field, float v) {
    put_tag(out, field, wire_fixed32);
    uint32_t bits = 0;
    std::memcpy(&bits, &v, sizeof bits);
    for (int i = 0; i < 4; ++i) out.push_back(static_cast<char>((bits >> (8 * i)) & 0xff));
}

std::string encode_piece(const SpmPiece& p) {
    std::string out;
    put_bytes(out, piece_piece, p.piece);
    put_float(out, piece_score, p.score);
    put_int32(out, piece_type, static_cast<int32_t>(p.type));
    return out;
}

std::string encode_trainer(const SpmTrainerSpec& t) {
    std::string out;
    put_int32(out, trainer_model_type, static_cast<int32_t>(t.model_type));
    put_int32(out, trainer_vocab_size, t.vocab_size);
    put_bool(out, trainer_byte_fallback, t.byte_fallback);
    put_int32(out, trainer_unk_id, t.unk_id);
    put_int32(out, trainer_bos_id, t.bos_id);
    put_int32(out, trainer_eos_id, t.eos_id);
    put_int32(out, trainer_pad_id, t.pad_id);
    if (!t.unk_piece.empty()) put_bytes(out, trainer_unk_piece, t.unk_piece);
    if (!t.bos_piece.empty()) put_bytes(out, trainer_bos_piece, t.bos_piece);
    if (!t.eos_piece.empty()) put_bytes(out, trainer_eos_piece, t.eos_piece);
    if (!t.pad_piece.empty()) put_bytes(out, trainer_pad_piece, t.pad_piece);
    return out;
}

std::string encode_normalizer(const SpmNormalizerSpec& n) {
    std::string out;
    put_bytes(out, normalizer_name, n.name);
    put_bool(out, normalizer_add_dummy_prefix, n.add_dummy_prefix);
    put_bool(out, normalizer_remove_extra_whitespaces, n.remove_extra_whitespaces);
    put_bool(out, normalizer_escape_whitespaces, n.escape_whitespaces);
    return out;
}

// One decoded field of a message.
struct Field {
    uint32_t number = 0;
    uint32_t wire = 0;
    uint64_t varint = 0;      // wire_varint; wire_fixed32 bits
    std::string_view bytes;   // wire_bytes
};

// Calls `fn(const Field&) -> Status` for each field of `msg`; errors name `what`.
template <class Fn>
Status for_each_field(std::string_view msg, const std::string& what, Fn&& fn) {
    size_t pos = 0;
    auto varint = [&](uint64_t& v) {
        v = 0;
        for (int shift = 0; shift < 64; shift += 7) {
            if (pos >= msg.size()) return false;
            const auto b = static_cast<uint8_t>(msg[pos++]);
            v |= static_cast<uint64_t>(b & 0x7f) << shift;
            if (!(b & 0x80)) return true;
        }
        return false;  // longer than ten bytes
    };
    auto bad = [&](const char* why) {
        return format_error("not a SentencePiece model: " + what + ": " + why + " at byte " + std::to_string(pos));
    };
    while (pos < msg.size()) {
        uint64_t key = 0;
        if (!varint(key)) return bad("truncated field key");
        Field f;
        f.number = static_cast<uint32_t>(key >> 3);
        f.wire = static_cast<uint32_t>(key & 7);
        if (f.number == 0) return bad("field number 0");
        switch (f.wire) {
            case wire_varint:
                if (!varint(f.varint)) return bad("truncated varint");
                break;
            case wire_fixed64:
                if (msg.size() - pos < 8) return bad("truncated fixed64");
                pos += 8;
                break;
            case wire_bytes: {
                uint64_t n = 0;
                if (!varint(n) || n > msg.size() - pos) return bad("truncated length-delimited field");
                f.bytes = msg.substr(pos, static_cast<size_t>(n));
                pos += static_cast<size_t>(n);
                break;
            }
            case wire_fixed32:
                if (msg.size() - pos < 4) return bad("truncated fixed32");
                for (size_t i = 0; i < 4; ++i)
                    f.varint |= static_cast<uint64_t>(static_cast<uint8_t>(msg[pos + i])) << (8 * i);
                pos += 4;
                break;
            default:
                return bad("unsupported wire type");  // groups are not used by sentencepiece
        }
        KVMIX_TRY(fn(f));
    }
    return Status::success();
}

Status expect_wire(const Field& f, uint32_t wire, const std::string& what) {
    if (f.wire == wire) return Status::success();
    return format_error("not a SentencePiece model: " + what + ": field " + std::to_string(f.number) +
                        " has wire type " + std::to_string(f.wire) + ", expected " + std::to_string(wire));
}

Status parse_piece(std::string_view msg, size_t index, SpmPiece& p) {
    const std::string what = "piece " + std::to_string(index);
    return for_each_field(msg, what, [&](const Field& f) -> Status {
        if (f.number == piece_piece) {
            KVMIX_TRY(expect_wire(f, wire_bytes, what));
            // Decoded text is pieces put together: a piece that is not UTF-8 would leak broken text.
            if (!is_valid_utf8(f.bytes)) return format_error("not a SentencePiece model: " + what + " is not valid UTF-8");
            p.piece.assign(f.bytes);
        } else if (f.number == piece_score) {
            KVMIX_TRY(expect_wire(f, wire_fixed32, what));
            const auto bits = static_cast<uint32_t>(f.varint);
            std::memcpy(&p.score, &bits, sizeof bits);
        } else if (f.number == piece_type) {
            KVMIX_TRY(expect_wire(f, wire_varint, what));
            if (f.varint < 1 || f.varint > 6)
                return format_error("not a SentencePiece model: " + what + ": unknown piece type " + std::to_string(f.varint));
            p.type = static_cast<SpmPieceType>(f.varint);
        }
        return Status::success();
    });
}

Status parse_trainer(std::string_view msg, SpmTrainerSpec& t) {
    const std::string what = "trainer_spec";
    return for_each_field(msg, what, [&](const Field& f) -> Status {
        auto as_int32 = [&](int32_t& out) -> Status {
            KVMIX_TRY(expect_wire(f, wire_varint, what));
            out = static_cast<int32_t>(static_cast<int64_t>(f.varint));
            return Status::success();
        };
        auto as_string = [&](std::string& out) -> Status {
            KVMIX_TRY(expect_wire(f, wire_bytes, what));
            out.assign(f.bytes);
            return Status::success();
        };
        int32_t v = 0;
        switch (f.number) {
            case trainer_model_type:
                KVMIX_TRY(as_int32(v));
                if (v < 1 || v > 4) return format_error("not a SentencePiece model: unknown model_type " + std::to_string(v));
                t.model_type = static_cast<SpmModelType>(v);
                break;
            case trainer_vocab_size: return as_int32(t.vocab_size);
            case trainer_byte_fallback:
                KVMIX_TRY(as_int32(v));
                t.byte_fallback = v != 0;
                break;
            case trainer_unk_id: return as_int32(t.unk_id);
            case trainer_bos_id: return as_int32(t.bos_id);
            case trainer_eos_id: return as_int32(t.eos_id);
            case trainer_pad_id: return as_int32(t.pad_id);
            case trainer_unk_piece: return as_string(t.unk_piece);
            case trainer_bos_piece: return as_string(t.bos_piece);
            case trainer_eos_piece: return as_string(t.eos_piece);
            case trainer_pad_piece: return as_string(t.pad_piece);
            default: break;
        }
        return Status::success();
    });
}

Status parse_normalizer(std::string_view msg, SpmNormalizerSpec& n) {
    const std::string what = "normalizer_spec";
    return for_each_field(msg, what, [&](const Field& f) -> Status {
        switch (f.number) {
            case normalizer_name:
                KVMIX_TRY(expect_wire(f, wire_bytes, what));
                n.name.assign(f.bytes);
                break;
            case normalizer_add_dummy_prefix:
                KVMIX_TRY(expect_wire(f, wire_varint, what));
                n.add_dummy_prefix = f.varint != 0;
                break;
            case normalizer_remove_extra_whitespaces:
                KVMIX_TRY(expect_wire(f, wire_varint, what));
                n.remove_extra_whitespaces = f.varint != 0;
                break;
            case normalizer_escape_whitespaces:
                KVMIX_TRY(expect_wire(f, wire_varint, what));
                n.escape_whitespaces = f.varint != 0;
                break;
            default: break;
        }
        return Status::success();
    });
}

}  // namespace

namespace spm_wire {

void put_varint(std::string& out, uint64_t v) {
    while (v >= 0x80) {
        out.push_back(static_cast<char>((v & 0x7f) | 0x80));
        v >>= 7;
    }
    out.push_back(static_cast<char>(v));
}

void put_tag(std::string& out, uint32_t field, uint32_t wire_type) {
    put_varint(out, (static_cast<uint64_t>(field) << 3) | wire_type);
}

}  // namespace spm_wire

std::string serialize_spm_model(const SpmModelProto& model) {
    std::string out;
    out.reserve(model.pieces.size() * 24 + 256);
    for (const auto& p : model.pieces) put_bytes(out, model_pieces, encode_piece(p));
    put_bytes(out, model_trainer_spec, encode_trainer(model.trainer));
    put_bytes(out, model_normalizer_spec, encode_normalizer(model.normalizer));
    return out;
}

Expected<SpmModelProto> parse_spm_model(std::string_view bytes) {
    SpmModelProto model;
    // The proto's defaults for fields a file may omit.
    model.trainer.model_type = SpmModelType::unigram;
    model.trainer.vocab_size = 8000;
    model.trainer.unk_id = 0;
    model.trainer.bos_id = 1;
    model.trainer.eos_id = 2;
    model.trainer.pad_id = -1;
    model.normalizer.name.clear();
    model.normalizer.add_dummy_prefix = true;
    model.normalizer.remove_extra_whitespaces = true;
    model.normalizer.escape_whitespaces = true;
    const Status st = for_each_field(bytes, "ModelProto", [&](const Field& f) -> Status {
        switch (f.number) {
            case model_pieces: {
                KVMIX_TRY(expect_wire(f, wire_bytes, "ModelProto"));
                SpmPiece p;
                KVMIX_TRY(parse_piece(f.bytes, model.pieces.size(), p));
                model.pieces.push_back(std::move(p));
                break;
            }
            case model_trainer_spec:
                KVMIX_TRY(expect_wire(f, wire_bytes, "ModelProto"));
                return parse_trainer(f.bytes, model.trainer);
            case model_normalizer_spec:
                KVMIX_TRY(expect_wire(f, wire_bytes, "ModelProto"));
                return parse_normalizer(f.bytes, model.normalizer);
            default: break;
        }
        return Status::success();
    });
    KVMIX_TRY(st);
    if (model.pieces.empty()) return format_error("not a SentencePiece model: no pieces");
    return model;
}

}  // namespace kvmix
