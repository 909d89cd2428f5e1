#include "model/model-paths.h"

#include <cstdlib>
#include <filesystem>

namespace kvmix {

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

Expected<std::string> resolve_model_argument(const std::string& arg) {
    if (arg != "default") return arg;
    const std::string path = default_model_path();
    std::error_code ec;
    if (!std::filesystem::exists(path, ec))
        return error(ErrorCode::io, "the default model is not installed (looked for '" + path +
                                        "'); run installer/setup.sh, or pass -m PATH to a .gguf file or a model folder");
    return path;
}

}  // namespace kvmix
