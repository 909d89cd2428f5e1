#include "tokenizer/tokenizer.h"

#include <algorithm>

#include "io/gguf-file.h"
#include "io/mapped-file.h"
#include "tokenizer/bpe-gguf-vocab.h"
#include "tokenizer/bpe-tokenizer-json.h"
#include "tokenizer/bpe-tokenizer.h"
#include "tokenizer/spm-gguf-vocab.h"
#include "tokenizer/spm-model-proto.h"
#include "tokenizer/spm-tokenizer.h"

namespace kvmix {

namespace {

Expected<std::unique_ptr<Tokenizer>> bpe_from(Expected<BpeVocab> vocab) {
    KVMIX_TRY(vocab);
    auto tok = BpeTokenizer::create(std::move(vocab).value());
    KVMIX_TRY(tok);
    return std::unique_ptr<Tokenizer>(std::move(tok).value());
}

}  // namespace

Expected<std::unique_ptr<Tokenizer>> Tokenizer::from_gguf(const GgufFile& gguf) {
    const char* key = "tokenizer.ggml.model";
    if (gguf.find(key)) {
        auto model = gguf.get_string(key);
        if (!model.ok()) return model.status().with_context("tokenizer");
        if (*model == "gpt2") return bpe_from(bpe_vocab_from_gguf(gguf));
        if (*model != "llama")
            return error(ErrorCode::unsupported, "tokenizer: 'tokenizer.ggml.model' is '" + *model +
                                                     "'; supported: 'llama' (SentencePiece), 'gpt2' (byte-level BPE)");
    }
    auto vocab = spm_vocab_from_gguf(gguf);
    KVMIX_TRY(vocab);
    const std::string bytes = serialize_spm_model(vocab->proto);
    auto tok = SpmTokenizer::create(bytes, std::move(vocab).value().info, "the vocabulary of the GGUF");
    KVMIX_TRY(tok);
    return std::unique_ptr<Tokenizer>(std::move(tok).value());
}

Expected<std::unique_ptr<Tokenizer>> Tokenizer::from_spm_file(const std::string& path) {
    auto file = MappedFile::open(path);
    if (!file.ok()) return file.status().with_context("tokenizer");
    const std::string_view bytes(reinterpret_cast<const char*>((*file)->data()), (*file)->size());
    auto model = parse_spm_model(bytes);
    if (!model.ok()) return model.status().with_context("tokenizer: '" + path + "'");

    VocabInfo info;
    const auto n = model->pieces.size();
    info.types.reserve(n);
    std::vector<std::string_view> pieces;
    pieces.reserve(n);
    for (const auto& p : model->pieces) {
        info.types.push_back(static_cast<TokenType>(p.type));
        pieces.emplace_back(p.piece);
    }
    // Special ids come from the trainer spec; one that is out of range or not a control
    // piece is taken as absent (as sentencepiece's bos_id() does).
    auto special = [&](int32_t id) {
        return id >= 0 && static_cast<size_t>(id) < n && info.types[static_cast<size_t>(id)] == TokenType::control ? id : -1;
    };
    info.bos = special(model->trainer.bos_id);
    info.eos = special(model->trainer.eos_id);
    info.pad = special(model->trainer.pad_id);
    const auto unk = std::find(info.types.begin(), info.types.end(), TokenType::unknown);
    info.unk = unk == info.types.end() ? -1 : static_cast<int32_t>(unk - info.types.begin());
    info.add_bos = info.bos >= 0;  // a tokenizer.model has no such flag; Llama-family default
    info.add_eos = false;
    info.add_space_prefix = model->normalizer.add_dummy_prefix;
    info.remove_extra_whitespaces = model->normalizer.remove_extra_whitespaces;
    add_known_eog_tokens(info, pieces);

    auto tok = SpmTokenizer::create(bytes, std::move(info), "'" + path + "'");
    KVMIX_TRY(tok);
    return std::unique_ptr<Tokenizer>(std::move(tok).value());
}

Expected<std::unique_ptr<Tokenizer>> Tokenizer::from_tokenizer_json(const std::string& path) {
    return bpe_from(bpe_vocab_from_tokenizer_json_file(path));
}

}  // namespace kvmix
