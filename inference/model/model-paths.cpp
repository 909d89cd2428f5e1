#include "model/model-paths.h"

#include <algorithm>
#include <array>
#include <cstdlib>
#include <filesystem>

namespace kvmix {

namespace {

constexpr std::array<KnownModel, 2> kKnownModels{{
    {"smollm2-135m-instruct", kDefaultModelFile, "SmolLM2 135M Instruct (Q4_1): the default chat model, 30 full-attention layers"},
    {"gemma-3-270m", "gemma-3-270m-q4_k_m.gguf", "Gemma 3 270M (Q4_K_M): a pretrained base model, not tuned for chat"},
}};

bool exists(const std::string& path) {
    std::error_code ec;
    return std::filesystem::exists(path, ec);
}

}  // namespace

std::span<const KnownModel> known_models() { return kKnownModels; }

std::string user_data_dir() {
    const char* xdg = std::getenv("XDG_DATA_HOME");
    if (xdg && *xdg == '/') return std::string(xdg) + "/kvmix";
    const char* home = std::getenv("HOME");
    return std::string(home && *home ? home : ".") + "/.local/share/kvmix";
}

std::string user_models_dir() { return user_data_dir() + "/models"; }

std::string default_model_path() {
    const char* env = std::getenv("KVMIX_DEFAULT_MODEL");
    if (env && *env) return env;
    return user_models_dir() + "/" + kDefaultModelFile;
}

std::vector<InstalledModel> installed_models() {
    namespace fs = std::filesystem;
    const std::string def = default_model_path();
    std::vector<InstalledModel> out;
    std::error_code ec;
    for (fs::directory_iterator it(user_models_dir(), ec), end; !ec && it != end; it.increment(ec)) {
        const fs::path& p = it->path();
        if (p.extension() != ".gguf" || !it->is_regular_file(ec)) continue;
        InstalledModel m{p.stem().string(), p.string(), "", p.string() == def};
        for (const KnownModel& k : kKnownModels)
            if (p.filename() == k.file) {
                m.name = k.name;
                m.description = k.description;
            }
        out.push_back(std::move(m));
    }
    if (std::none_of(out.begin(), out.end(), [&](const InstalledModel& m) { return m.is_default; }) && exists(def))
        out.push_back({"default", def, "the model named by KVMIX_DEFAULT_MODEL", true});
    // The default first, then the known models in their order, then the rest by name.
    auto rank = [](const InstalledModel& m) {
        if (m.is_default) return -1;
        for (size_t i = 0; i < kKnownModels.size(); ++i)
            if (m.name == kKnownModels[i].name) return static_cast<int>(i);
        return static_cast<int>(kKnownModels.size());
    };
    std::sort(out.begin(), out.end(), [&](const InstalledModel& a, const InstalledModel& b) {
        return rank(a) != rank(b) ? rank(a) < rank(b) : a.name < b.name;
    });
    return out;
}

Expected<std::string> resolve_model_argument(const std::string& arg) {
    if (arg == "default") {
        const std::string path = default_model_path();
        if (!exists(path))
            return error(ErrorCode::io, "the default model is not installed (looked for '" + path +
                                            "'); run installer/setup.sh, or pass -m PATH to a .gguf file or a model folder");
        return path;
    }
    if (arg.empty() || arg.find('/') != std::string::npos || exists(arg)) return arg;
    for (const KnownModel& k : kKnownModels) {
        if (arg != k.name) continue;
        const std::string path = user_models_dir() + "/" + k.file;
        if (!exists(path))
            return error(ErrorCode::io, "the model '" + arg + "' is not installed (looked for '" + path + "'); run installer/setup.sh");
        return path;
    }
    if (const std::string path = user_models_dir() + "/" + arg + ".gguf"; exists(path)) return path;
    return arg;
}

}  // namespace kvmix
