#include "tokenizer/tokenizer-loader.h"

#include <filesystem>

namespace kvmix {

namespace fs = std::filesystem;

Expected<std::unique_ptr<Tokenizer>> load_tokenizer_from_dir(const std::string& dir) {
    std::error_code ec;
    const fs::path spm = fs::path(dir) / "tokenizer.model";
    if (fs::is_regular_file(spm, ec)) return Tokenizer::from_spm_file(spm.string());
    const fs::path json = fs::path(dir) / "tokenizer.json";
    if (fs::is_regular_file(json, ec)) return Tokenizer::from_tokenizer_json(json.string());
    return error(ErrorCode::unsupported,
                 "'" + dir + "' has neither a tokenizer.model (SentencePiece) nor a tokenizer.json (byte-level BPE)");
}

Expected<std::unique_ptr<Tokenizer>> load_tokenizer(const ModelFile& model) {
    if (model.gguf()) {
        auto tok = Tokenizer::from_gguf(*model.gguf());
        if (!tok) return tok.status().with_context("'" + model.path() + "'");
        return tok;
    }
    if (!model.tokenizer_model_path().empty()) return Tokenizer::from_spm_file(model.tokenizer_model_path());
    // A folder model's path is the folder, or a .safetensors/.json file inside it.
    std::error_code ec;
    const fs::path path(model.path());
    return load_tokenizer_from_dir(fs::is_directory(path, ec) ? path.string() : path.parent_path().string());
}

}  // namespace kvmix
