#include "cli/cli-common.h"

#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <sstream>

#include "model/model-paths.h"
#include "profile/importance-profile.h"

namespace kvmix::cli {

std::set<std::string> model_options() {
    return {"--model", "--threads", "--ctx", "--batch", "--kv-cache", "--kv", "--kv-group", "--kv-window", "--kv-sinks",
            "--kv-rotate", "--device", "--gpu"};
}

std::set<std::string> sampling_options() {
    return {"--n-predict", "--temp", "--top-k", "--top-p", "--min-p", "--repeat-penalty", "--repeat-window",
            "--seed", "--stop", "--context-policy", "--keep"};
}

Expected<std::string> read_text_file(const std::string& path, const std::string& what) {
    std::ifstream in(path, std::ios::binary);
    if (!in) return error(ErrorCode::io, "cannot open " + what + " '" + path + "': " + std::strerror(errno));
    std::stringstream text;
    text << in.rdbuf();
    if (in.bad()) return error(ErrorCode::io, "cannot read " + what + " '" + path + "'");
    return text.str();
}

Expected<int64_t> parse_int(const Args& args, const std::string& name, int64_t fallback, int64_t lo, int64_t hi) {
    if (!args.has(name)) return fallback;
    const std::string s = args.get(name);
    errno = 0;
    char* end = nullptr;
    const long long v = std::strtoll(s.c_str(), &end, 10);
    if (s.empty() || *end != '\0' || errno == ERANGE)
        return error(ErrorCode::invalid_argument, name + " expects an integer, got '" + s + "'");
    if (v < lo || v > hi)
        return error(ErrorCode::invalid_argument, name + " must be in [" + std::to_string(lo) + ", " + std::to_string(hi) + "], got " + s);
    return static_cast<int64_t>(v);
}

Expected<double> parse_float(const Args& args, const std::string& name, double fallback) {
    if (!args.has(name)) return fallback;
    const std::string s = args.get(name);
    char* end = nullptr;
    const double v = std::strtod(s.c_str(), &end);
    if (s.empty() || *end != '\0' || !std::isfinite(v)) return error(ErrorCode::invalid_argument, name + " expects a number, got '" + s + "'");
    return v;
}

Expected<std::vector<int64_t>> parse_int_list(const std::string& name, const std::string& text) {
    std::vector<int64_t> out;
    size_t start = 0;
    while (start <= text.size()) {
        const size_t comma = text.find(',', start);
        const std::string item = text.substr(start, comma == std::string::npos ? std::string::npos : comma - start);
        char* end = nullptr;
        const long long v = std::strtoll(item.c_str(), &end, 10);
        if (item.empty() || *end != '\0' || v <= 0)
            return error(ErrorCode::invalid_argument, name + " expects positive integers separated by commas, got '" + text + "'");
        out.push_back(v);
        if (comma == std::string::npos) break;
        start = comma + 1;
    }
    return out;
}

Expected<SessionConfig> session_config(const Args& args, int64_t default_ctx) {
    SessionConfig c;
    KVMIX_ASSIGN(c.n_ctx, parse_int(args, "--ctx", default_ctx, 1, 1 << 24));
    KVMIX_ASSIGN(c.n_batch, parse_int(args, "--batch", 256, 1, 1 << 16));
    int64_t threads = 0;
    KVMIX_ASSIGN(threads, parse_int(args, "--threads", 0, 0, 1024));
    c.n_threads = static_cast<int>(threads);
    const std::string kv = args.get("--kv-cache", "f16");
    if (kv == "f16") c.kv_cache = KvCacheType::f16;
    else if (kv == "f32") c.kv_cache = KvCacheType::f32;
    else return error(ErrorCode::invalid_argument, "--kv-cache must be f16 or f32, got '" + kv + "'");
    KVMIX_ASSIGN(c.device, parse_device_kind(args.get("--device", "cpu")));
    int64_t gpu = 0;
    KVMIX_ASSIGN(gpu, parse_int(args, "--gpu", 0, 0, 64));
    c.gpu_index = static_cast<int>(gpu);
    return c;
}

Expected<GenerationParams> generation_params(const Args& args) {
    GenerationParams p;
    int64_t v = 0;
    KVMIX_ASSIGN(v, parse_int(args, "--n-predict", 256, -1, 1 << 24));
    p.max_tokens = static_cast<int32_t>(v);
    double f = 0;
    KVMIX_ASSIGN(f, parse_float(args, "--temp", p.sampling.temperature));
    p.sampling.temperature = static_cast<float>(f);
    KVMIX_ASSIGN(v, parse_int(args, "--top-k", p.sampling.top_k, -1, 1 << 24));
    p.sampling.top_k = static_cast<int32_t>(v);
    KVMIX_ASSIGN(f, parse_float(args, "--top-p", p.sampling.top_p));
    p.sampling.top_p = static_cast<float>(f);
    KVMIX_ASSIGN(f, parse_float(args, "--min-p", p.sampling.min_p));
    p.sampling.min_p = static_cast<float>(f);
    KVMIX_ASSIGN(f, parse_float(args, "--repeat-penalty", p.sampling.repeat_penalty));
    p.sampling.repeat_penalty = static_cast<float>(f);
    KVMIX_ASSIGN(v, parse_int(args, "--repeat-window", p.sampling.repeat_window, 0, 1 << 24));
    p.sampling.repeat_window = static_cast<int32_t>(v);
    KVMIX_ASSIGN(v, parse_int(args, "--seed", 0, 0, INT64_MAX));
    p.sampling.seed = static_cast<uint64_t>(v);
    KVMIX_TRY(validate(p.sampling));
    p.stop_strings = args.get_all("--stop");
    const std::string policy = args.get("--context-policy", "error");
    if (policy == "error") p.context_policy = ContextPolicy::error;
    else if (policy == "truncate") p.context_policy = ContextPolicy::truncate_middle;
    else if (policy == "rolling") p.context_policy = ContextPolicy::rolling_window;
    else return error(ErrorCode::invalid_argument, "--context-policy must be error, truncate or rolling, got '" + policy + "'");
    KVMIX_ASSIGN(p.keep_prefix, parse_int(args, "--keep", 0, 0, 1 << 24));
    return p;
}

Status apply_kv_options(const Args& args, const ModelHParams& hp, SessionConfig& config) {
    const std::string spec = args.get("--kv", "fp16");
    // Presets (high, balanced, ...) rank layers by the model's importance profile, found by
    // the model's K/V weights.
    auto profile = [&]() -> Expected<KvProfile> {
        if (spec == "fp16" || !is_preset_name(spec)) return parse_kv_spec(spec, hp.n_layer);
        auto path = resolve_model_argument(args.get("--model"));
        if (!path) return path.status();
        auto file = ModelFile::open(*path);
        if (!file) return file.status();
        return preset_kv_profile(spec, **file);
    }();
    if (!profile) return profile.status();
    int64_t v = 0;
    KVMIX_ASSIGN(v, parse_int(args, "--kv-group", profile->group_size, 32, 128));
    profile->group_size = static_cast<int>(v);
    KVMIX_ASSIGN(v, parse_int(args, "--kv-sinks", profile->sinks, 0, 1024));
    profile->sinks = static_cast<int>(v);
    if (args.has("--kv-rotate")) {
        Status st = parse_kv_rotation(args.get("--kv-rotate"), *profile);
        if (!st.ok()) return error(ErrorCode::invalid_argument, "--kv-rotate: " + st.message());
    }
    if (args.has("--kv-window")) {
        double r = 0;
        KVMIX_ASSIGN(r, parse_float(args, "--kv-window", 0.1));
        if (!(r >= 0 && r <= 1)) return error(ErrorCode::invalid_argument, "--kv-window must be a ratio in [0, 1], got " + args.get("--kv-window"));
        for (auto& l : profile->layers) l.k_window_ratio = l.v_window_ratio = static_cast<float>(r);
    }
    // The window's bounds in tokens; with --kv-window 0, --kv-window-min W is a fixed window
    // of W tokens (KIVI's residual length) instead of a share of the context.
    KVMIX_ASSIGN(profile->window_min, parse_int(args, "--kv-window-min", profile->window_min, 0, 1 << 20));
    KVMIX_ASSIGN(profile->window_max, parse_int(args, "--kv-window-max", std::max(profile->window_max, profile->window_min), 0, 1 << 20));
    KVMIX_TRY(validate(*profile, hp.n_layer));
    config.kv_profile = std::move(profile).value();
    return {};
}

Expected<std::shared_ptr<const Model>> load_model(const Args& args) {
    if (!args.has("--model")) return error(ErrorCode::invalid_argument, "missing -m MODEL");
    auto path = resolve_model_argument(args.get("--model"));
    if (!path) return path.status();
    return Model::load(*path);
}

int fail(const char* cmd, const Status& status) {
    std::fprintf(stderr, "kvmix %s: %s\n", cmd, status.message().c_str());
    return 1;
}

}  // namespace kvmix::cli
