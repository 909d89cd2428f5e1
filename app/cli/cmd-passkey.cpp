// kvmix passkey: hides a random number at several depths of generated filler text, asks
// for it at the end and reports how often the model retrieves it — a long-context check
// of the KV cache (run it with different --kv specs).
#include <cstdio>
#include <nlohmann/json.hpp>
#include <random>
#include <string>

#include "cli/cli-common.h"
#include "cli/commands.h"
#include "tokenizer/tokenizer-loader.h"

namespace kvmix::cli {

namespace {

// Plain, repetitive sentences from a seeded grammar: easy to skip, nothing to remember.
std::string filler_sentence(std::mt19937& rng) {
    static constexpr const char* kSubjects[] = {"The grass", "The sky", "The river", "A small bird", "The old road", "The wind"};
    static constexpr const char* kVerbs[] = {"stays", "looks", "seems", "feels", "turns"};
    static constexpr const char* kAdjectives[] = {"green", "calm", "quiet", "bright", "soft", "wide"};
    auto pick = [&](const auto& arr) { return arr[std::uniform_int_distribution<size_t>(0, std::size(arr) - 1)(rng)]; };
    return std::string(pick(kSubjects)) + " " + pick(kVerbs) + " " + pick(kAdjectives) + " today. ";
}

}  // namespace

int cmd_passkey(int argc, char** argv) {
    const char* usage =
        "usage: kvmix passkey -m MODEL --ctx N [--depths 0.1,0.5,0.9] [--trials N] [--seed S] [--kv SPEC] [--threads N] [--json]";
    std::set<std::string> opts = model_options();
    opts.insert({"--depths", "--trials", "--seed"});
    Args args(opts, {"--json"}, {{"-m", "--model"}, {"-t", "--threads"}, {"-c", "--ctx"}});
    args.parse(argc, argv, 2);
    if (int rc = args.usage_exit("passkey", usage, args.has("--model") && args.has("--ctx") && args.positional().empty()); rc >= 0) return rc;
    auto cfg = session_config(args, 2048);
    if (!cfg) return fail("passkey", cfg.status());
    auto trials = parse_int(args, "--trials", 3, 1, 1000);
    auto seed = parse_int(args, "--seed", 1, 0, INT32_MAX);
    if (!trials) return fail("passkey", trials.status());
    if (!seed) return fail("passkey", seed.status());
    std::vector<double> depths;
    {
        const std::string list = args.get("--depths", "0.1,0.5,0.9");
        size_t start = 0;
        while (start <= list.size()) {
            const size_t comma = list.find(',', start);
            const std::string item = list.substr(start, comma == std::string::npos ? std::string::npos : comma - start);
            char* end = nullptr;
            const double d = std::strtod(item.c_str(), &end);
            if (item.empty() || *end || !(d >= 0 && d <= 1))
                return fail("passkey", error(ErrorCode::invalid_argument, "--depths expects ratios in [0, 1], got '" + item + "'"));
            depths.push_back(d);
            if (comma == std::string::npos) break;
            start = comma + 1;
        }
    }
    auto model = load_model(args);
    if (!model) return fail("passkey", model.status());
    if (Status st = apply_kv_options(args, (*model)->hparams(), *cfg); !st.ok()) return fail("passkey", st);
    auto tokenizer = load_tokenizer((*model)->file());
    if (!tokenizer) return fail("passkey", tokenizer.status());
    const Tokenizer& tok = **tokenizer;
    auto session = Session::create(*model, *cfg);
    if (!session) return fail("passkey", session.status());
    const int64_t n_ctx = (*session)->n_ctx();

    std::mt19937 rng(static_cast<uint32_t>(*seed));
    nlohmann::json rows = nlohmann::json::array();
    int total_ok = 0, total = 0;
    const std::string intro = "There is a pass key hidden in the following text. Find it and remember it.\n";
    const std::string question = "\nWhat is the pass key? The pass key is";
    for (double depth : depths) {
        int ok = 0;
        for (int64_t trial = 0; trial < *trials; ++trial) {
            const int key = std::uniform_int_distribution<int>(10000, 99999)(rng);
            const std::string needle = "The pass key is " + std::to_string(key) + ". Remember it. " + std::to_string(key) + " is the pass key. ";
            // Fill to ~90% of the context (the answer needs room), needle at `depth`.
            const int64_t budget = n_ctx * 9 / 10;
            std::vector<std::string> sentences;
            int64_t tokens = 0;
            const int64_t fixed = static_cast<int64_t>(tok.encode(intro + needle + question, true, false)->size());
            while (tokens + fixed < budget) {
                sentences.push_back(filler_sentence(rng));
                tokens += static_cast<int64_t>(tok.encode(sentences.back(), false, false)->size());
            }
            if (!sentences.empty()) sentences.pop_back();
            const size_t at = static_cast<size_t>(depth * static_cast<double>(sentences.size()));
            std::string text = intro;
            for (size_t i = 0; i < sentences.size(); ++i) {
                if (i == at) text += needle;
                text += sentences[i];
            }
            if (at >= sentences.size()) text += needle;
            text += question;
            auto prompt = tok.encode(text, true, false);
            if (!prompt) return fail("passkey", prompt.status());
            GenerationParams gp;
            gp.sampling.temperature = 0;
            gp.max_tokens = 8;
            gp.context_policy = ContextPolicy::error;
            (*session)->truncate(0);
            auto r = generate(**session, tok, *prompt, gp);
            if (!r) return fail("passkey", r.status());
            const bool found = r->text.find(std::to_string(key)) != std::string::npos;
            ok += found;
            std::fprintf(stderr, "[depth %.2f trial %lld] %zu tokens, key %d -> '%s' %s\n", depth, static_cast<long long>(trial),
                         prompt->size(), key, r->text.c_str(), found ? "ok" : "missed");
        }
        rows.push_back({{"depth", depth}, {"correct", ok}, {"trials", *trials}});
        total_ok += ok;
        total += static_cast<int>(*trials);
    }
    const double accuracy = total ? static_cast<double>(total_ok) / total : 0.0;
    if (args.has("--json")) {
        nlohmann::json out = {{"ctx", n_ctx}, {"kv", args.get("--kv", "fp16")}, {"accuracy", accuracy}, {"rows", rows}};
        std::printf("%s\n", out.dump().c_str());
    } else {
        for (const auto& r : rows)
            std::printf("depth %.2f: %d/%d\n", r["depth"].get<double>(), r["correct"].get<int>(), r["trials"].get<int>());
        std::printf("passkey accuracy %.2f (%d/%d) at context %lld with kv %s\n", accuracy, total_ok, total,
                    static_cast<long long>(n_ctx), args.get("--kv", "fp16").c_str());
    }
    return 0;
}

}  // namespace kvmix::cli
