// Pieces shared by the kvmix subcommands: loading a model + tokenizer from -m, the
// sampling/context options, and number parsing with precise errors.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "cli/cli-args.h"
#include "kvmix/status.h"
#include "model/model.h"
#include "runtime/generation.h"
#include "runtime/session.h"

namespace kvmix::cli {

// Options every model-running command accepts: --model, --threads, --ctx, --batch and
// --kv-cache f16|f32 (the dense cache's element type; f32 for exact comparisons), --device
// cpu|cuda and --gpu N.
std::set<std::string> model_options();
// Sampling and generation options (generate, chat).
std::set<std::string> sampling_options();

Expected<int64_t> parse_int(const Args& args, const std::string& name, int64_t fallback, int64_t lo, int64_t hi);
Expected<double> parse_float(const Args& args, const std::string& name, double fallback);
// "512,4096,16384" -> {512, 4096, 16384}
Expected<std::vector<int64_t>> parse_int_list(const std::string& name, const std::string& text);

// --ctx, --batch, --threads, --kv-cache; a precise error for a bad value.
Expected<SessionConfig> session_config(const Args& args, int64_t default_ctx);
Expected<GenerationParams> generation_params(const Args& args);

// --kv SPEC (fp16, kXvY, profile:FILE), --kv-group G, --kv-window R, --kv-sinks S,
// --kv-rotate none|keys|values|both for this model,
// and --kv-window-min/--kv-window-max N (window bounds in tokens) where the command accepts them.
Status apply_kv_options(const Args& args, const ModelHParams& hp, SessionConfig& config);

// The whole content of a text file the user named (`what` describes it in the error:
// "cannot open prompt file 'x': No such file or directory").
Expected<std::string> read_text_file(const std::string& path, const std::string& what);

// The model named by -m (resolving "default").
Expected<std::shared_ptr<const Model>> load_model(const Args& args);

// Prints "kvmix CMD: message" to stderr and returns 1.
int fail(const char* cmd, const Status& status);

}  // namespace kvmix::cli
