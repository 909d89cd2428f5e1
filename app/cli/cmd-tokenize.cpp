// kvmix tokenize: text -> token ids and pieces with the model's own tokenizer.
// A GGUF is read for its vocabulary only, so vocab-only GGUFs (no tensors, as llama.cpp's
// llama-tokenize accepts) work as well as full models; folders and .safetensors files use
// the tokenizer files beside the weights.
#include <cstdio>
#include <filesystem>
#include <memory>
#include <string>

#include <nlohmann/json.hpp>

#include "cli/cli-args.h"
#include "cli/commands.h"
#include "io/gguf-file.h"
#include "model/model-file.h"
#include "model/model-paths.h"
#include "tokenizer/tokenizer-loader.h"

namespace kvmix::cli {

namespace {

namespace fs = std::filesystem;

// The tokenizer of `path`, dispatched as ModelFile::open does: a folder, .safetensors or
// .json is a Hugging Face model; any other file is a GGUF.
Expected<std::unique_ptr<Tokenizer>> open_tokenizer(const std::string& path) {
    std::error_code ec;
    const fs::file_status st = fs::status(path, ec);
    if (ec || !fs::exists(st)) return error(ErrorCode::io, "model '" + path + "' does not exist");
    const std::string ext = fs::path(path).extension().string();
    if (fs::is_directory(st) || ext == ".safetensors" || ext == ".json") {
        auto model = ModelFile::open(path);
        if (!model) return model.status();
        return load_tokenizer(**model);
    }
    auto gguf = GgufFile::open(path);
    if (!gguf) return gguf.status().with_context("'" + path + "'");
    auto tok = Tokenizer::from_gguf(**gguf);
    if (!tok) return tok.status().with_context("'" + path + "'");
    return tok;
}

}  // namespace

int cmd_tokenize(int argc, char** argv) {
    const char* usage = "usage: kvmix tokenize -m MODEL [--json] [--no-bos] [--no-special] TEXT";
    Args args({"--model"}, {"--json", "--no-bos", "--no-special"}, {{"-m", "--model"}});
    args.parse(argc, argv, 2);
    if (int rc = args.usage_exit("tokenize", usage, args.has("--model") && args.positional().size() == 1); rc >= 0)
        return rc;
    auto path = resolve_model_argument(args.get("--model"));
    if (!path) {
        std::fprintf(stderr, "kvmix tokenize: %s\n", path.status().message().c_str());
        return 1;
    }
    auto tok = open_tokenizer(*path);
    if (!tok) {
        std::fprintf(stderr, "kvmix tokenize: %s\n", tok.status().message().c_str());
        return 1;
    }
    const std::string& text = args.positional()[0];
    auto ids = (*tok)->encode(text, !args.has("--no-bos"), !args.has("--no-special"));
    if (!ids) {
        std::fprintf(stderr, "kvmix tokenize: %s\n", ids.status().message().c_str());
        return 1;
    }
    if (args.has("--json")) {
        nlohmann::json j;
        j["ids"] = *ids;
        nlohmann::json pieces = nlohmann::json::array();
        for (int32_t id : *ids) pieces.push_back(std::string((*tok)->piece(id)));
        j["pieces"] = pieces;
        j["count"] = ids->size();
        std::printf("%s\n", j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace).c_str());
        return 0;
    }
    for (int32_t id : *ids) std::printf("%6d  %s\n", id, std::string((*tok)->piece(id)).c_str());
    std::printf("%zu tokens\n", ids->size());
    return 0;
}

}  // namespace kvmix::cli
