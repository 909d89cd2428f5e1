// Where models live on a user's machine, and what `-m default` means.
// Reads the environment (XDG_DATA_HOME, HOME, KVMIX_DEFAULT_MODEL) at call time; no state.
#pragma once

#include <string>

#include "kvmix/status.h"

namespace kvmix {

// The file name installer/setup.sh gives the default model.
inline constexpr const char* kDefaultModelFile = "gemma-3-270m-q4_k_m.gguf";

// $XDG_DATA_HOME/kvmix, else ~/.local/share/kvmix.
std::string user_data_dir();
// <user_data_dir>/models
std::string user_models_dir();
// $KVMIX_DEFAULT_MODEL when set, else <user_models_dir>/gemma-3-270m-q4_k_m.gguf.
std::string default_model_path();
// "default" -> default_model_path() (an error naming the path and the fix when it is
// missing); any other argument is returned unchanged.
Expected<std::string> resolve_model_argument(const std::string& arg);

}  // namespace kvmix
