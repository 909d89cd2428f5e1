// libFuzzer harness for SentencePiece vocabularies:
//  - an input that parses as a GGUF goes through the GGUF -> ModelProto conversion
//    (spm_vocab_from_gguf); our proto reader must give back exactly what our writer wrote,
//    then Tokenizer::from_gguf builds the tokenizer (libsentencepiece loads the proto) and
//    encodes the input itself;
//  - any other input is a tokenizer.model: our proto reader must accept it or say why, and
//    Tokenizer::from_spm_file must load it or say why, then encode the input.
// Ids must be in range, decoding must give valid UTF-8 and streaming must equal decode().
// Only the first 4 KiB are encoded, which keeps runs fast.
#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "io/gguf-file.h"
#include "tokenizer/spm-gguf-vocab.h"
#include "tokenizer/spm-model-proto.h"
#include "tokenizer/tokenizer.h"
#include "tokenizer/utf8-stream.h"

namespace {

using kvmix::Tokenizer;

void check_failure(const kvmix::Status& st) {
    if (st.message().empty()) __builtin_trap();  // every failure must say why
}

void check_decode(const Tokenizer& tok, const std::vector<int32_t>& ids, bool render_special) {
    for (const int32_t id : ids)
        if (!tok.valid(id)) __builtin_trap();
    const std::string full = tok.decode(ids, render_special);
    if (!kvmix::is_valid_utf8(full)) __builtin_trap();
    kvmix::StreamingDecoder dec(tok, render_special);
    std::string streamed;
    for (const int32_t id : ids) streamed += dec.push(id);
    streamed += dec.flush();
    if (streamed != full) __builtin_trap();
}

void exercise(const Tokenizer& tok, std::string_view text) {
    for (const bool parse_special : {false, true}) {
        const auto ids = tok.encode(text, true, parse_special);
        if (!ids.ok()) {
            check_failure(ids.status());
            continue;
        }
        check_decode(tok, *ids, parse_special);
    }
    // Out-of-range ids are skipped, never read.
    const std::vector<int32_t> odd = {-1, tok.n_vocab(), 0, tok.n_vocab() - 1};
    (void)tok.decode(odd, true);
    for (const int32_t id : odd) (void)tok.piece(id), (void)tok.token_bytes(id, true);
}

bool same_bits(float a, float b) {
    return std::memcmp(&a, &b, sizeof a) == 0;
}

// The reader must return what the writer wrote (the fields the writer emits).
void check_round_trip(const kvmix::SpmModelProto& proto) {
    const auto back = kvmix::parse_spm_model(kvmix::serialize_spm_model(proto));
    if (!back.ok() || back->pieces.size() != proto.pieces.size()) __builtin_trap();
    for (size_t i = 0; i < proto.pieces.size(); ++i) {
        const auto& a = proto.pieces[i];
        const auto& b = back->pieces[i];
        if (a.piece != b.piece || a.type != b.type || !same_bits(a.score, b.score)) __builtin_trap();
    }
    if (back->trainer.model_type != proto.trainer.model_type ||
        back->trainer.byte_fallback != proto.trainer.byte_fallback || back->trainer.unk_id != proto.trainer.unk_id ||
        back->trainer.bos_id != proto.trainer.bos_id || back->trainer.eos_id != proto.trainer.eos_id ||
        back->trainer.pad_id != proto.trainer.pad_id ||
        back->normalizer.add_dummy_prefix != proto.normalizer.add_dummy_prefix ||
        back->normalizer.remove_extra_whitespaces != proto.normalizer.remove_extra_whitespaces)
        __builtin_trap();
}

// Tokenizer::from_spm_file reads a path: the input goes to a per-process temporary file.
const std::string& model_path() {
    static const std::string path = [] {
        const char* dir = std::getenv("TMPDIR");
        return std::string(dir && *dir ? dir : "/tmp") + "/kvmix-fuzz-spm-" + std::to_string(getpid()) + ".model";
    }();
    return path;
}

bool write_file(const std::string& path, const uint8_t* data, size_t size) {
    FILE* f = std::fopen(path.c_str(), "wb");
    if (!f) return false;
    const bool ok = std::fwrite(data, 1, size, f) == size;
    return std::fclose(f) == 0 && ok;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    const std::string_view input(reinterpret_cast<const char*>(data), size);
    const std::string_view text = input.substr(0, 4096);

    const auto gguf = kvmix::GgufFile::parse_bytes(data, size);
    if (gguf.ok()) {
        const auto vocab = kvmix::spm_vocab_from_gguf(**gguf);
        if (!vocab.ok()) {
            check_failure(vocab.status());
        } else {
            if (vocab->info.types.size() != vocab->proto.pieces.size()) __builtin_trap();
            check_round_trip(vocab->proto);
        }
        const auto tok = Tokenizer::from_gguf(**gguf);
        if (!tok.ok()) {
            check_failure(tok.status());
        } else {
            exercise(**tok, text);
        }
        return 0;
    }

    const auto proto = kvmix::parse_spm_model(input);
    if (!proto.ok()) check_failure(proto.status());
    if (!write_file(model_path(), data, size)) __builtin_trap();
    const auto tok = Tokenizer::from_spm_file(model_path());
    std::remove(model_path().c_str());
    if (!tok.ok()) {
        check_failure(tok.status());
        return 0;
    }
    exercise(**tok, text);
    return 0;
}
