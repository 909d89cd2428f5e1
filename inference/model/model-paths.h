// Where models live on a user's machine, what `-m default` means, and the short names of
// the models installer/setup.sh installs ("smollm2-135m-instruct", "gemma-3-270m").
// Reads the environment (XDG_DATA_HOME, HOME, KVMIX_DEFAULT_MODEL) and the models folder
// at call time; no state. Thread-safe.
#pragma once

#include <span>
#include <string>
#include <vector>

#include "kvmix/status.h"

namespace kvmix {

// A model installer/setup.sh puts into the models folder.
struct KnownModel {
    const char* name;         // short name for -m and the app's picker
    const char* file;         // file name inside user_models_dir()
    const char* description;  // one line for people
};

// The known models; the first one is the default.
std::span<const KnownModel> known_models();

// The file name installer/setup.sh gives the default model.
inline constexpr const char* kDefaultModelFile = "smollm2-135m-instruct-q4_1.gguf";

// $XDG_DATA_HOME/kvmix, else ~/.local/share/kvmix.
std::string user_data_dir();
// <user_data_dir>/models
std::string user_models_dir();
// $KVMIX_DEFAULT_MODEL when set, else <user_models_dir>/<kDefaultModelFile>.
std::string default_model_path();

// A model found in the models folder.
struct InstalledModel {
    std::string name;         // the known short name, else the file name without ".gguf"
    std::string path;
    std::string description;  // empty for a model setup.sh does not know
    bool is_default = false;
};
// Every .gguf file in user_models_dir() (the default model, and the known ones, first),
// plus $KVMIX_DEFAULT_MODEL when it points elsewhere. Empty when the folder is missing.
std::vector<InstalledModel> installed_models();

// "default" -> default_model_path(); a short name of an installed model (a known name, or
// the stem of a .gguf in the models folder) -> its path, unless a file or folder of that
// name exists here. Errors name the path looked for and the fix. Any other argument is
// returned unchanged.
Expected<std::string> resolve_model_argument(const std::string& arg);

}  // namespace kvmix
