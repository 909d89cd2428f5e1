// kvmix perplexity: perplexity of a text file, windows of --ctx tokens scored on their
// second half, prefilled in chunks of --chunk tokens that attend to earlier chunks through
// the session's KV cache (so a quantized cache shows its real effect).
// --kv A,B,... evaluates several caches in one pass (a session each, the same windows).
// With --kld (or --base SPEC) one more session holds the baseline cache (fp16 unless --base
// says otherwise) and reads the same windows; the command then also
// reports KL(base || tested) per scored token (mean, 99th percentile) and top-1 agreement,
// which say more than a perplexity difference: two caches can have equal perplexity and
// still disagree on the tokens a user would see.
#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <nlohmann/json.hpp>

#include "cli/cli-common.h"
#include "cli/commands.h"
#include "runtime/logit-stats.h"
#include "tokenizer/tokenizer-loader.h"

namespace kvmix::cli {

namespace {

// One cache under evaluation: its session, the logits of the piece being scored, the running
// negative log-likelihood and, against the baseline, per-token KL and top-1 matches.
struct ScoredRun {
    std::string spec;
    std::unique_ptr<Session> session;
    std::vector<float> logits;
    double nll = 0;
    std::vector<double> kld;
    int64_t top1_same = 0;
};

// The q-quantile with linear interpolation between order statistics (numpy's default), so
// the figure can be recomputed from per-token values.
double quantile(std::vector<double> v, double q) {
    std::sort(v.begin(), v.end());
    const double pos = q * static_cast<double>(v.size() - 1);
    const auto lo = static_cast<size_t>(pos);
    const size_t hi = std::min(lo + 1, v.size() - 1);
    return v[lo] + (pos - static_cast<double>(lo)) * (v[hi] - v[lo]);
}

// A session of `model` whose cache is `spec` (parsed like --kv, with the same --kv-group,
// --kv-window* and --kv-sinks).
Expected<std::unique_ptr<Session>> make_session(Args args, const std::shared_ptr<const Model>& model, SessionConfig cfg,
                                                const std::string& spec) {
    args.set("--kv", spec);
    KVMIX_TRY(apply_kv_options(args, model->hparams(), cfg));
    return Session::create(model, cfg);
}

std::string mib(uint64_t bytes) {
    char buf[32];
    std::snprintf(buf, sizeof buf, "%.2f MiB", static_cast<double>(bytes) / (1024.0 * 1024.0));
    return buf;
}

}  // namespace

int cmd_perplexity(int argc, char** argv) {
    const char* usage =
        "usage: kvmix perplexity -m MODEL -f FILE [--ctx N] [--chunk N] [--max-windows N] [--threads N] [--json]\n"
        "         [--kv SPEC[,SPEC...]] [--kv-group G] [--kv-window R] [--kv-window-min N] [--kv-window-max N]\n"
        "         [--kv-sinks S] [--kv-rotate none|keys|values|both] [--kv-cache f16|f32] [--kld] [--base SPEC]\n"
        "         [--dump-logits FILE]\n"
        "  --kv A,B,...   several caches in one pass over the text (one session each): one result each\n"
        "  --kv-window-min/--kv-window-max N  bounds in tokens of the fp16 recent window (default 32 and 1024);\n"
        "                 --kv-window 0 --kv-window-min W keeps a fixed window of W tokens\n"
        "  --kld          also run the baseline cache (--base, default fp16) on the same windows and report\n"
        "                 KL(base || kv) per scored token (mean, 99th percentile) and top-1 agreement\n"
        "  --base SPEC    the baseline cache, as --kv (implies --kld); the --kv-* options apply to all caches\n"
        "  --dump-logits FILE  write the scored logits of the (single) --kv cache as raw float32 rows\n"
        "                 [scored tokens x n_vocab], host byte order (for checking; large)\n"
        "  Output: one line (--json: one JSON object per line) per --kv cache, in --kv order.";
    Args args({"--model", "--file", "--ctx", "--chunk", "--max-windows", "--threads", "--kv", "--kv-group", "--kv-window",
               "--kv-sinks", "--kv-rotate", "--kv-window-min", "--kv-window-max", "--kv-cache", "--base", "--dump-logits"},
              {"--json", "--kld"},
              {{"-m", "--model"}, {"-f", "--file"}, {"-c", "--ctx"}, {"-t", "--threads"}});
    args.parse(argc, argv, 2);
    if (int rc = args.usage_exit("perplexity", usage, args.has("--model") && args.has("--file") && args.positional().empty()); rc >= 0) return rc;
    auto ctx = parse_int(args, "--ctx", 512, 4, 1 << 20);
    auto chunk = parse_int(args, "--chunk", 128, 1, 1 << 16);
    auto max_windows = parse_int(args, "--max-windows", 0, 0, 1 << 24);
    auto threads = parse_int(args, "--threads", 0, 0, 1024);
    for (const Status* st : {&ctx.status(), &chunk.status(), &max_windows.status(), &threads.status()})
        if (!st->ok()) return fail("perplexity", *st);
    const bool compare = args.has("--kld") || args.has("--base");
    const std::string base_spec = args.get("--base", "fp16");
    std::vector<std::string> kv_specs;
    for (size_t b = 0;;) {
        const size_t e = args.get("--kv", "fp16").find(',', b);
        kv_specs.push_back(args.get("--kv", "fp16").substr(b, e == std::string::npos ? std::string::npos : e - b));
        if (kv_specs.back().empty())
            return fail("perplexity", error(ErrorCode::invalid_argument, "--kv expects specs separated by commas, got '" + args.get("--kv") + "'"));
        if (e == std::string::npos) break;
        b = e + 1;
    }
    if (args.has("--dump-logits") && kv_specs.size() > 1)
        return fail("perplexity", error(ErrorCode::invalid_argument, "--dump-logits takes a single --kv cache"));

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

    // One run per --kv cache, then (when comparing) the baseline last.
    const size_t n_tested = kv_specs.size();
    std::vector<ScoredRun> runs(n_tested + (compare ? 1 : 0));
    for (size_t i = 0; i < runs.size(); ++i) {
        runs[i].spec = i < n_tested ? kv_specs[i] : base_spec;
        auto session = make_session(args, *model, cfg, runs[i].spec);
        if (!session) return fail("perplexity", session.status());
        runs[i].session = std::move(session).value();
    }
    ScoredRun* base = compare ? &runs.back() : nullptr;

    std::FILE* dump = nullptr;
    if (args.has("--dump-logits")) {
        dump = std::fopen(args.get("--dump-logits").c_str(), "wb");
        if (!dump)
            return fail("perplexity", error(ErrorCode::io, "cannot create logits file '" + args.get("--dump-logits") + "': " + std::strerror(errno)));
    }
    struct FileCloser {
        std::FILE* f;
        ~FileCloser() {
            if (f) std::fclose(f);
        }
    } dump_closer{dump};

    const Tokenizer& tok = **tokenizer;
    const int64_t n_vocab = (*model)->hparams().n_vocab;
    const int64_t first_scored = n_ctx / 2;  // logits at position p predict token p + 1
    int64_t scored = 0;
    const auto t0 = std::chrono::steady_clock::now();
    std::vector<double> lse(runs.size());
    for (int64_t w = 0; w < n_windows; ++w) {
        std::vector<int32_t> window(ids->begin() + w * n_ctx, ids->begin() + (w + 1) * n_ctx);
        if (tok.add_bos() && tok.bos() >= 0) window[0] = tok.bos();
        const std::span<const int32_t> all(window);
        for (ScoredRun& r : runs) {
            r.session->truncate(0);
            if (Status st = r.session->eval(all.first(static_cast<size_t>(first_scored - 1))); !st.ok()) return fail("perplexity", st);
        }
        // The scored half goes in pieces of --chunk tokens: eval() splits each call into
        // --chunk pieces from its start, so the chunk boundaries (and the numbers) are those of
        // one call, while only one piece's logits per session are held.
        for (int64_t begin = first_scored - 1; begin < n_ctx; begin += *chunk) {
            const int64_t len = std::min(*chunk, n_ctx - begin);
            for (ScoredRun& r : runs) {
                Status st = r.session->eval(all.subspan(static_cast<size_t>(begin), static_cast<size_t>(len)), nullptr, &r.logits);
                if (!st.ok()) return fail("perplexity", st);
            }
            for (int64_t i = 0; i < len && begin + i + 1 < n_ctx; ++i) {
                const int32_t target = window[static_cast<size_t>(begin + i + 1)];
                for (size_t k = 0; k < runs.size(); ++k) {
                    const float* row = runs[k].logits.data() + i * n_vocab;
                    lse[k] = log_sum_exp(row, n_vocab);
                    runs[k].nll += lse[k] - row[target];
                }
                if (base) {
                    const float* b = base->logits.data() + i * n_vocab;
                    const int64_t base_top = arg_max(b, n_vocab);
                    for (size_t k = 0; k < n_tested; ++k) {
                        const float* row = runs[k].logits.data() + i * n_vocab;
                        runs[k].kld.push_back(kl_divergence(b, lse.back(), row, lse[k], n_vocab));
                        runs[k].top1_same += base_top == arg_max(row, n_vocab);
                    }
                }
                if (dump && std::fwrite(runs[0].logits.data() + i * n_vocab, sizeof(float), static_cast<size_t>(n_vocab), dump) !=
                                static_cast<size_t>(n_vocab))
                    return fail("perplexity", error(ErrorCode::io, "cannot write logits file '" + args.get("--dump-logits") + "'"));
                ++scored;
            }
        }
        std::fprintf(stderr, "[%lld/%lld]", static_cast<long long>(w + 1), static_cast<long long>(n_windows));
        for (size_t k = 0; k < runs.size(); ++k) {
            double sum = 0;
            for (double x : runs[k].kld) sum += x;
            std::fprintf(stderr, " %s%s ppl %.4f", base && k == n_tested ? "base " : "", runs[k].spec.c_str(), std::exp(runs[k].nll / scored));
            if (base && k < n_tested) std::fprintf(stderr, " KLD %.6f", sum / scored);
        }
        std::fprintf(stderr, "\n");
    }
    if (dump) {
        dump_closer.f = nullptr;
        if (std::fclose(dump) != 0)
            return fail("perplexity", error(ErrorCode::io, "cannot write logits file '" + args.get("--dump-logits") + "'"));
    }
    const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    const double base_ppl = base ? std::exp(base->nll / scored) : 0.0;
    for (size_t k = 0; k < n_tested; ++k) {
        const ScoredRun& r = runs[k];
        const double ppl = std::exp(r.nll / scored);
        // The cache as it stood at the end of the last window (n_ctx tokens).
        const KvMemoryReport mem = r.session->kv_memory();
        double kld_mean = 0, kld_p99 = 0, kld_median = 0, kld_max = 0, top1 = 0;
        if (base) {
            for (double x : r.kld) kld_mean += x;
            kld_mean /= static_cast<double>(r.kld.size());
            kld_p99 = quantile(r.kld, 0.99);
            kld_median = quantile(r.kld, 0.5);
            kld_max = *std::max_element(r.kld.begin(), r.kld.end());
            top1 = static_cast<double>(r.top1_same) / static_cast<double>(scored);
        }
        if (args.has("--json")) {
            nlohmann::json j = {{"ppl", ppl}, {"tokens", scored}, {"seconds", seconds}, {"windows", n_windows},
                                {"ctx", n_ctx}, {"chunk", *chunk}, {"kv", r.spec},
                                {"rotation", rotation_name(r.session->config().kv_profile)}, {"kv_bytes", mem.bytes},
                                {"kv_fp16_bytes", mem.fp16_bytes}};
            if (base) {
                j["base"] = {{"kv", base_spec}, {"ppl", base_ppl}, {"kv_bytes", base->session->kv_memory().bytes}};
                j["ppl_delta_pct"] = 100.0 * (ppl / base_ppl - 1.0);
                j["kld"] = {{"mean", kld_mean}, {"p99", kld_p99}, {"median", kld_median}, {"max", kld_max}};
                j["top1_agreement"] = top1;
            }
            std::printf("%s\n", j.dump().c_str());
        } else {
            std::printf("perplexity %.4f over %lld scored tokens (%lld windows of %lld, chunk %lld, kv %s) in %.1f s\n", ppl,
                        static_cast<long long>(scored), static_cast<long long>(n_windows), static_cast<long long>(n_ctx),
                        static_cast<long long>(*chunk), r.spec.c_str(), seconds);
            if (base) {
                std::printf("base perplexity %.4f (kv %s): %+.2f%%\n", base_ppl, base_spec.c_str(), 100.0 * (ppl / base_ppl - 1.0));
                std::printf("KL divergence vs base per token: mean %.6f, p99 %.6f, median %.6f, max %.6f; top-1 agreement %.2f%%\n",
                            kld_mean, kld_p99, kld_median, kld_max, 100.0 * top1);
                std::printf("cache at %lld tokens: %s true bytes, %s as fp16 (%.2fx)\n", static_cast<long long>(mem.n_tokens),
                            mib(mem.bytes).c_str(), mib(mem.fp16_bytes).c_str(),
                            mem.bytes ? static_cast<double>(mem.fp16_bytes) / static_cast<double>(mem.bytes) : 0.0);
            }
        }
    }
    return 0;
}

}  // namespace kvmix::cli
