// kvmix tokenize: text -> token ids and pieces with the model's own tokenizer.
#include <cstdio>
#include <string>

#include <nlohmann/json.hpp>

#include "cli/cli-args.h"
#include "cli/commands.h"
#include "model/model-file.h"
#include "model/model-paths.h"
#include "tokenizer/tokenizer-loader.h"

namespace kvmix::cli {

int cmd_tokenize(int argc, char** argv) {
    const char* usage = "usage: kvmix tokenize -m MODEL [--json] [--no-bos] [--no-special] TEXT";
    Args args({"--model"}, {"--json", "--no-bos", "--no-special"}, {{"-m", "--model"}});
    if (!args.parse(argc, argv, 2)) {
        std::fprintf(stderr, "kvmix tokenize: %s\n%s\n", args.error().c_str(), usage);
        return 2;
    }
    if (!args.has("--model") || args.positional().size() != 1) {
        std::fprintf(stderr, "%s\n", usage);
        return 2;
    }
    auto path = resolve_model_argument(args.get("--model"));
    if (!path) {
        std::fprintf(stderr, "kvmix tokenize: %s\n", path.status().message().c_str());
        return 1;
    }
    auto model = ModelFile::open(*path);
    if (!model) {
        std::fprintf(stderr, "kvmix tokenize: %s\n", model.status().message().c_str());
        return 1;
    }
    auto tok = load_tokenizer(**model);
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
