// kvmix profile: gradient-based layer importance of a model (one forward + one backward per
// calibration sequence) and the bit allocation of every preset. Calibration comes from
// --calib text files and/or sequences the model samples itself (--self-generate N --len T,
// temperature 1 from BOS or BOS + a short neutral prompt); nothing is downloaded. Writes the
// profile to the user data dir (where `--kv balanced` finds it) or to -o FILE.
#include <atomic>
#include <cstdio>

#include <nlohmann/json.hpp>

#include "cli/cli-common.h"
#include "cli/commands.h"
#include "profile/importance.h"
#include "tokenizer/tokenizer-loader.h"

namespace kvmix::cli {

namespace {

// Short, content-neutral openings for data-free calibration; the first is BOS alone.
constexpr const char* kNeutralPrompts[] = {"", "The", "In", "Once upon a time", "Here is", "It was", "A", "This"};

std::string bits_cell(const KvProfile& p, uint32_t layer) {
    const KvLayerBits& l = p.layers[layer];
    return "K" + std::to_string(l.k_bits) + "/V" + std::to_string(l.v_bits);
}

}  // namespace

int cmd_profile(int argc, char** argv) {
    const char* usage =
        "usage: kvmix profile -m MODEL [--calib FILE]... [--self-generate N --len T] [--seed S] [-o FILE] [--threads N] [--json]\n"
        "  Without --calib, calibrates on 16 x 512 self-generated tokens. --len also caps the length\n"
        "  of each --calib window. The profile goes to the user data dir unless -o FILE is given.";
    Args args({"--model", "--calib", "--self-generate", "--len", "--seed", "--output", "--threads"}, {"--json", "--quiet"},
              {{"-m", "--model"}, {"-o", "--output"}, {"-t", "--threads"}, {"-s", "--seed"}});
    args.parse(argc, argv, 2);
    if (int rc = args.usage_exit("profile", usage, args.has("--model") && args.positional().empty()); rc >= 0) return rc;
    const std::vector<std::string> calib = args.get_all("--calib");
    const int64_t default_n = calib.empty() ? 16 : 0;
    auto n_gen = parse_int(args, "--self-generate", default_n, 0, 100000);
    auto len = parse_int(args, "--len", 512, 2, 1 << 20);
    auto seed = parse_int(args, "--seed", 0, 0, INT64_MAX);
    auto threads = parse_int(args, "--threads", 0, 0, 1024);
    for (const Status* st : {&n_gen.status(), &len.status(), &seed.status(), &threads.status()})
        if (!st->ok()) return fail("profile", *st);
    const bool json_out = args.has("--json");

    auto model = load_model(args);
    if (!model) return fail("profile", model.status());
    const ModelHParams& hp = (*model)->hparams();
    if (*len > static_cast<int64_t>(hp.context_length))
        return fail("profile", error(ErrorCode::invalid_argument, "--len " + std::to_string(*len) + " exceeds the model's context of " +
                                                                    std::to_string(hp.context_length)));
    auto tokenizer = load_tokenizer((*model)->file());
    if (!tokenizer) return fail("profile", tokenizer.status());
    const Tokenizer& tok = **tokenizer;

    CalibrationConfig cc;
    cc.max_len = *len;
    cc.n_threads = static_cast<int>(*threads);
    cc.seed = static_cast<uint64_t>(*seed);
    for (const std::string& path : calib) {
        auto text = read_text_file(path, "calibration file");
        if (!text) return fail("profile", text.status());
        auto ids = tok.encode(*text, false, false);
        if (!ids) return fail("profile", ids.status());
        // Every window starts like a document: BOS first when the model uses one.
        const auto win = static_cast<size_t>(*len - (tok.bos() >= 0 ? 1 : 0));
        for (size_t b = 0; b < ids->size(); b += win) {
            std::vector<int32_t> seq;
            if (tok.bos() >= 0) seq.push_back(tok.bos());
            seq.insert(seq.end(), ids->begin() + static_cast<long>(b), ids->begin() + static_cast<long>(std::min(ids->size(), b + win)));
            cc.sequences.push_back(std::move(seq));
        }
        cc.files.push_back(path);
    }
    if (!calib.empty()) cc.sources.push_back("text");
    cc.n_generate = *n_gen;
    cc.generate_len = *len;
    for (const char* p : kNeutralPrompts) {
        std::vector<int32_t> ids;
        if (tok.bos() >= 0) ids.push_back(tok.bos());
        auto enc = tok.encode(p, false, false);
        if (!enc) return fail("profile", enc.status());
        ids.insert(ids.end(), enc->begin(), enc->end());
        if (!ids.empty() && static_cast<int64_t>(ids.size()) < *len) cc.start_prompts.push_back(std::move(ids));
    }
    cc.banned_tokens = tok.eog_ids();
    if (tok.eos() >= 0) cc.banned_tokens.push_back(tok.eos());

    const bool quiet = args.has("--quiet");
    ProgressCallback progress = [&](const CalibrationProgress& p) {
        if (quiet) return;
        std::fprintf(stderr, "\rkvmix profile: %-8s %lld/%lld %s  %.1f s   ", p.stage, static_cast<long long>(p.done),
                     static_cast<long long>(p.total), std::string(p.stage) == "generate" ? "tokens" : "sequences", p.seconds);
        if (p.done == p.total) std::fprintf(stderr, "\n");
        std::fflush(stderr);
    };
    auto profile = analyze_importance(*model, cc, progress);
    if (!profile) return fail("profile", profile.status());

    const std::string out_path = args.has("--output") ? args.get("--output") : stored_profile_path(profile->model);
    if (Status st = save_importance_profile(*profile, out_path); !st.ok()) return fail("profile", st);

    const uint32_t L = hp.n_layer;
    const auto k_rank = rank_layers(profile->k_scores), v_rank = rank_layers(profile->v_scores);
    std::vector<uint32_t> k_pos(L), v_pos(L);
    for (uint32_t r = 0; r < L; ++r) {
        k_pos[k_rank[r]] = r + 1;
        v_pos[v_rank[r]] = r + 1;
    }
    std::vector<KvPreset> presets;
    std::vector<KvProfile> allocs;
    for (const KvPreset& p : builtin_presets())
        if (p.needs_scores()) {
            presets.push_back(p);
            allocs.push_back(allocate(p, profile->k_scores, profile->v_scores));
        }
    const CalibrationInfo& c = profile->calibration;
    if (json_out) {
        nlohmann::json j = nlohmann::json::parse(to_json(*profile));
        j["path"] = out_path;
        std::printf("%s\n", j.dump(1).c_str());
        return 0;
    }
    std::string sources;
    for (const auto& s : c.sources) sources += (sources.empty() ? "" : "+") + s;
    std::printf("model: %s (%s, %u layers), K/V weights sha256 %s\n", hp.name.c_str(), hp.architecture.c_str(), L,
                profile->model.kv_weights_sha256.substr(0, 16).c_str());
    std::printf("calibration: %s, %lld sequences, %lld tokens (longest %lld), seed %llu, mean loss %.4f nats\n", sources.c_str(),
                static_cast<long long>(c.n_sequences), static_cast<long long>(c.n_tokens), static_cast<long long>(c.seq_len),
                static_cast<unsigned long long>(c.seed), c.mean_loss);
    std::printf("\n%5s %12s %6s %12s %6s", "layer", "s_K", "rank", "s_V", "rank");
    for (const KvPreset& p : presets) std::printf(" %10s", p.name.c_str());
    std::printf("\n");
    for (uint32_t i = 0; i < L; ++i) {
        std::printf("%5u %12.6g %6u %12.6g %6u", i, profile->k_scores[i], k_pos[i], profile->v_scores[i], v_pos[i]);
        for (const KvProfile& a : allocs) std::printf(" %10s", bits_cell(a, i).c_str());
        std::printf("\n");
    }
    std::printf("\n%-10s %8s %10s %10s\n", "preset", "n_high", "avg K bits", "avg V bits");
    for (size_t i = 0; i < presets.size(); ++i)
        std::printf("%-10s %8u %10.6g %10.6g\n", presets[i].name.c_str(), high_layer_count(presets[i].fraction, L), allocs[i].avg_k_bits(),
                    allocs[i].avg_v_bits());
    std::printf("\nwrote %s (%.1f s)\n", out_path.c_str(), c.seconds);
    return 0;
}

}  // namespace kvmix::cli
