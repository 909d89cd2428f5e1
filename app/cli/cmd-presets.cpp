// kvmix presets: what each KV preset costs on a model — average payload bits (the paper's
// convention), true bytes per quantized token (codes + fp16 scale/min per group), the cache
// size at --ctx tokens including the full-precision sinks and recent windows, compression
// against fp16 and the longest context whose cache fits --budget bytes.
#include <cstdio>

#include <nlohmann/json.hpp>

#include "cli/cli-common.h"
#include "cli/commands.h"
#include "model/model-paths.h"
#include "profile/importance-profile.h"

namespace kvmix::cli {

namespace {

// Cache bytes of `p` holding n tokens: per layer, sinks + recent window stay fp16 (whole
// cache when a width is 16), every older token is quantized.
double cache_bytes(const KvProfile& p, const ModelHParams& hp, int64_t n) {
    double total = 0;
    const int64_t HKV = hp.n_head_kv, D = hp.head_dim, DV = hp.head_dim_v;
    for (uint32_t l = 0; l < hp.n_layer; ++l) {
        const KvLayerBits& b = p.layers[l];
        const int64_t fp_k = b.k_bits == 16 ? n : std::min<int64_t>(n, p.sinks + p.k_window(l, n));
        const int64_t fp_v = b.v_bits == 16 ? n : std::min<int64_t>(n, p.sinks + p.v_window(l, n));
        const double qk = kv_quantized_bytes_per_token(b.k_bits, 16, p.group_size, HKV, D, 0);
        const double qv = kv_quantized_bytes_per_token(16, b.v_bits, p.group_size, HKV, 0, DV);
        total += static_cast<double>(n - fp_k) * qk + static_cast<double>(fp_k) * 2.0 * static_cast<double>(HKV * D);
        total += static_cast<double>(n - fp_v) * qv + static_cast<double>(fp_v) * 2.0 * static_cast<double>(HKV * DV);
    }
    return total;
}

int64_t max_context(const KvProfile& p, const ModelHParams& hp, double budget) {
    int64_t lo = 0, hi = hp.context_length;
    while (lo < hi) {
        const int64_t mid = lo + (hi - lo + 1) / 2;
        if (cache_bytes(p, hp, mid) <= budget) lo = mid;
        else hi = mid - 1;
    }
    return lo;
}

}  // namespace

int cmd_presets(int argc, char** argv) {
    const char* usage =
        "usage: kvmix presets -m MODEL [--profile FILE] [--budget BYTES] [--ctx N] [--json]\n"
        "  Presets: fp16, high, balanced, compact (and custom:FRACTION:kHIvHI:kLOvLO via --kv).\n"
        "  Uses the model's stored importance profile (kvmix profile) unless --profile is given.";
    Args args({"--model", "--profile", "--budget", "--ctx"}, {"--json"}, {{"-m", "--model"}, {"-c", "--ctx"}});
    args.parse(argc, argv, 2);
    if (int rc = args.usage_exit("presets", usage, args.has("--model") && args.positional().empty()); rc >= 0) return rc;
    auto budget = parse_int(args, "--budget", int64_t{1} << 30, 1, INT64_MAX);
    auto ctx = parse_int(args, "--ctx", 4096, 1, 1 << 24);
    for (const Status* st : {&budget.status(), &ctx.status()})
        if (!st->ok()) return fail("presets", *st);
    auto path = resolve_model_argument(args.get("--model"));
    if (!path) return fail("presets", path.status());
    auto file = ModelFile::open(*path);
    if (!file) return fail("presets", file.status());
    const ModelHParams& hp = (*file)->hparams();
    const int64_t n = std::min<int64_t>(*ctx, hp.context_length);

    nlohmann::json rows = nlohmann::json::array();
    const double fp16_bytes = static_cast<double>(n) * hp.n_layer * kv_fp16_bytes_per_token(hp.n_head_kv, hp.head_dim, hp.head_dim_v);
    std::string missing;
    if (!args.has("--json"))
        std::printf("%-9s %6s %10s %10s %14s %14s %11s %12s\n", "preset", "n_high", "avg K bits", "avg V bits", "bytes/token",
                    ("bytes@" + std::to_string(n)).c_str(), "vs fp16", "max context");
    for (const KvPreset& preset : builtin_presets()) {
        auto kp = preset_kv_profile(preset.name, **file, args.get("--profile"));
        if (!kp && args.has("--profile")) return fail("presets", kp.status());
        if (!kp) {
            if (missing.empty()) missing = kp.status().message();
            if (!args.has("--json")) std::printf("%-9s (%s)\n", preset.name.c_str(), "needs an importance profile");
            rows.push_back(nlohmann::json{{"preset", preset.name}, {"error", kp.status().message()}});
            continue;
        }
        double per_token = 0;
        for (const KvLayerBits& b : kp->layers)
            per_token += b.k_bits == 16 && b.v_bits == 16
                             ? kv_fp16_bytes_per_token(hp.n_head_kv, hp.head_dim, hp.head_dim_v)
                             : kv_quantized_bytes_per_token(b.k_bits, b.v_bits, kp->group_size, hp.n_head_kv, hp.head_dim, hp.head_dim_v);
        const double at_n = cache_bytes(*kp, hp, n);
        const int64_t max_ctx = max_context(*kp, hp, static_cast<double>(*budget));
        const uint32_t n_hi = preset.needs_scores() ? high_layer_count(preset.fraction, hp.n_layer) : 0;
        rows.push_back(nlohmann::json{{"preset", preset.name},
                        {"n_high", n_hi},
                        {"avg_k_bits", kp->avg_k_bits()},
                        {"avg_v_bits", kp->avg_v_bits()},
                        {"bytes_per_token", per_token},
                        {"ctx", n},
                        {"bytes_at_ctx", at_n},
                        {"compression_vs_fp16", fp16_bytes / at_n},
                        {"budget", *budget},
                        {"max_context", max_ctx}});
        if (!args.has("--json"))
            std::printf("%-9s %6u %10.6g %10.6g %14.1f %14.0f %10.2fx %12lld\n", preset.name.c_str(), n_hi, kp->avg_k_bits(),
                        kp->avg_v_bits(), per_token, at_n, fp16_bytes / at_n, static_cast<long long>(max_ctx));
    }
    if (args.has("--json")) {
        nlohmann::json j = {{"model", *path}, {"n_layer", hp.n_layer}, {"presets", rows}};
        std::printf("%s\n", j.dump(1).c_str());
    } else {
        std::printf("\nbytes/token: codes + fp16 scale/min per group of every layer (fp16 layers: 2 bytes/element);\n"
                    "bytes@%lld: whole cache incl. the fp16 sinks and recent windows; max context: within %lld bytes.\n",
                    static_cast<long long>(n), static_cast<long long>(*budget));
        if (!missing.empty()) std::printf("%s\n", missing.c_str());
    }
    return 0;
}

}  // namespace kvmix::cli
