// kvmix perplexity: perplexity of a text file, windows of --ctx tokens scored on their
// second half, prefilled in chunks of --chunk tokens that attend to earlier chunks through
// the session's KV cache (so a quantized cache shows its real effect).
#include <chrono>
#include <cmath>
#include <cstdio>
#include <nlohmann/json.hpp>

#include "cli/cli-common.h"
#include "cli/commands.h"
#include "tokenizer/tokenizer-loader.h"

namespace kvmix::cli {

int cmd_perplexity(int argc, char** argv) {
    const char* usage =
        "usage: kvmix perplexity -m MODEL -f FILE [--ctx N] [--chunk N] [--max-windows N] [--threads N] [--json]\n"
        "         [--kv SPEC] [--kv-group G] [--kv-window R] [--kv-sinks S] [--kv-cache f16|f32]";
    Args args({"--model", "--file", "--ctx", "--chunk", "--max-windows", "--threads", "--kv", "--kv-group", "--kv-window",
               "--kv-sinks", "--kv-cache"},
              {"--json"},
              {{"-m", "--model"}, {"-f", "--file"}, {"-c", "--ctx"}, {"-t", "--threads"}});
    args.parse(argc, argv, 2);
    if (int rc = args.usage_exit("perplexity", usage, args.has("--model") && args.has("--file") && args.positional().empty()); rc >= 0) return rc;
    auto ctx = parse_int(args, "--ctx", 512, 4, 1 << 20);
    auto chunk = parse_int(args, "--chunk", 128, 1, 1 << 16);
    auto max_windows = parse_int(args, "--max-windows", 0, 0, 1 << 24);
    auto threads = parse_int(args, "--threads", 0, 0, 1024);
    for (const Status* st : {&ctx.status(), &chunk.status(), &max_windows.status(), &threads.status()})
        if (!st->ok()) return fail("perplexity", *st);

    auto text = read_text_file(args.get("--file"), "text file");
    if (!text) return fail("perplexity", text.status());

    auto model = load_model(args);
    if (!model) return fail("perplexity", model.status());
    auto tokenizer = load_tokenizer((*model)->file());
    if (!tokenizer) return fail("perplexity", tokenizer.status());
    auto ids = (*tokenizer)->encode(*text, false, false);
    if (!ids) return fail("perplexity", ids.status());

    const int64_t n_ctx = *ctx;
    if (n_ctx > (*model)->hparams().context_length)
        return fail("perplexity", error(ErrorCode::invalid_argument, "--ctx " + std::to_string(n_ctx) + " exceeds the model's context of " +
                                                                         std::to_string((*model)->hparams().context_length)));
    int64_t n_windows = static_cast<int64_t>(ids->size()) / n_ctx;
    if (*max_windows > 0) n_windows = std::min(n_windows, *max_windows);
    if (n_windows == 0)
        return fail("perplexity", error(ErrorCode::invalid_argument, "the file has " + std::to_string(ids->size()) +
                                                                         " tokens, fewer than one window of --ctx " + std::to_string(n_ctx)));
    SessionConfig cfg;
    cfg.n_ctx = n_ctx;
    cfg.n_batch = *chunk;
    cfg.n_threads = static_cast<int>(*threads);
    auto dense = session_config(args, n_ctx);  // --kv-cache
    if (!dense) return fail("perplexity", dense.status());
    cfg.kv_cache = dense->kv_cache;
    if (Status st = apply_kv_options(args, (*model)->hparams(), cfg); !st.ok()) return fail("perplexity", st);
    auto session = Session::create(*model, cfg);
    if (!session) return fail("perplexity", session.status());

    const Tokenizer& tok = **tokenizer;
    const int64_t n_vocab = (*model)->hparams().n_vocab;
    const int64_t first_scored = n_ctx / 2;  // logits at position p predict token p + 1
    double nll = 0;
    int64_t scored = 0;
    const auto t0 = std::chrono::steady_clock::now();
    std::vector<float> logits;
    for (int64_t w = 0; w < n_windows; ++w) {
        std::vector<int32_t> window(ids->begin() + w * n_ctx, ids->begin() + (w + 1) * n_ctx);
        if (tok.add_bos() && tok.bos() >= 0) window[0] = tok.bos();
        (*session)->truncate(0);
        const std::span<const int32_t> all(window);
        Status st = (*session)->eval(all.first(static_cast<size_t>(first_scored - 1)));
        if (!st.ok()) return fail("perplexity", st);
        st = (*session)->eval(all.subspan(static_cast<size_t>(first_scored - 1)), nullptr, &logits);
        if (!st.ok()) return fail("perplexity", st);
        for (int64_t i = 0; i + first_scored < n_ctx; ++i) {
            const float* row = logits.data() + i * n_vocab;
            double mx = row[0];
            for (int64_t v = 1; v < n_vocab; ++v) mx = std::max<double>(mx, row[v]);
            double sum = 0;
            for (int64_t v = 0; v < n_vocab; ++v) sum += std::exp(row[v] - mx);
            nll += std::log(sum) + mx - row[window[first_scored + i]];
            ++scored;
        }
        std::fprintf(stderr, "[%lld/%lld] ppl %.4f\n", static_cast<long long>(w + 1), static_cast<long long>(n_windows), std::exp(nll / scored));
    }
    const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    const double ppl = std::exp(nll / scored);
    if (args.has("--json")) {
        nlohmann::json j = {{"ppl", ppl}, {"tokens", scored}, {"seconds", seconds}, {"windows", n_windows},
                            {"ctx", n_ctx}, {"chunk", *chunk}, {"kv", args.get("--kv", "fp16")}};
        std::printf("%s\n", j.dump().c_str());
    } else {
        std::printf("perplexity %.4f over %lld scored tokens (%lld windows of %lld, chunk %lld, kv %s) in %.1f s\n", ppl,
                    static_cast<long long>(scored), static_cast<long long>(n_windows), static_cast<long long>(n_ctx),
                    static_cast<long long>(*chunk), args.get("--kv", "fp16").c_str(), seconds);
    }
    return 0;
}

}  // namespace kvmix::cli
