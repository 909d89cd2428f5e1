#include "tokenizer/tokenizer-loader.h"

namespace kvmix {

Expected<std::unique_ptr<Tokenizer>> load_tokenizer(const ModelFile& model) {
    if (model.gguf()) {
        auto tok = Tokenizer::from_gguf(*model.gguf());
        if (!tok) return tok.status().with_context("'" + model.path() + "'");
        return tok;
    }
    if (!model.tokenizer_model_path().empty()) return Tokenizer::from_spm_file(model.tokenizer_model_path());
    return error(ErrorCode::unsupported,
                 "'" + model.path() + "' has no tokenizer.model beside its weights (only SentencePiece tokenizers are supported)");
}

}  // namespace kvmix
