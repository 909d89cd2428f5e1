// kvmix bench: prefill and decode speed after filling the cache to each depth, the KV bytes
// there, and the physical limit — bytes read per decoded token ÷ memory bandwidth measured
// in the same run. Works on token ids, so it needs no tokenizer.
// --fill random skips the prefill: every layer's cache is filled with Gaussian keys and
// values through the cache's own write/commit (so a KVmix cache quantizes them exactly as
// it would a prompt's). Decode speed depends only on what the cache holds and how it is
// stored, so this reaches 16k-32k depths in seconds; prefill speed is then not measured.
// Each row also gives the resident memory the session added (anonymous RSS after its first
// decode round minus before the session, freed heap handed back in between), next to the
// cache's true bytes.
// --rounds N splits each depth's decode into N rounds, and in every round each KV spec decodes
// its share in turn (round 0 right after the spec's fill), so a change in machine load over
// the run slows every spec alike: the ratios between specs are what a shared machine can
// measure. N = 1 decodes each spec's tokens in one go, one session alive at a time.
// The bound's bandwidth: with N = 1 the probe at the start of the run; with N > 1 the median
// of N probes taken at that depth, one before each of rounds 1..N-1 and one after the last,
// because on a shared machine the bandwidth swings by a quarter within seconds, and a probe
// taken once, before the fills, makes the share of the bound a matter of when it ran. Both
// bounds are in the JSON.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <memory>
#include <nlohmann/json.hpp>
#include <random>
#include <vector>

#if defined(__GLIBC__)
#include <malloc.h>
#endif

#include "cli/cli-common.h"
#include "cli/commands.h"
#include "cpu/stream-read.h"

namespace kvmix::cli {

namespace {

using Clock = std::chrono::steady_clock;

double seconds_since(Clock::time_point t0) { return std::chrono::duration<double>(Clock::now() - t0).count(); }

// The process's resident anonymous memory (Linux /proc/self/status RssAnon): what sessions
// allocate, without the model file's mapped pages. -1 where unknown.
int64_t resident_anon_bytes() {
    FILE* f = std::fopen("/proc/self/status", "r");
    if (!f) return -1;
    char line[256];
    long long kb = -1;
    while (std::fgets(line, sizeof line, f))
        if (std::sscanf(line, "RssAnon: %lld kB", &kb) == 1) break;
    std::fclose(f);
    return kb >= 0 ? kb * 1024 : -1;
}

// Hands freed heap back to the system, so the next session's RSS delta starts from a clean base.
void release_free_heap() {
#if defined(__GLIBC__)
    malloc_trim(0);
#endif
}

// Read bandwidth with all threads streaming a 512 MiB buffer (much larger than the caches),
// in bytes per second: the best of `passes` passes. The reads go through stream_read_sum
// (the widest loads the CPU has, prefetching ahead), so the bound is what the fastest
// streaming loop reaches, not what narrow loads do. The buffer lives as long as the probe.
class ReadBandwidthProbe {
public:
    explicit ReadBandwidthProbe(ThreadPool& pool) : pool_(pool), buf_(new uint64_t[kWords]), sums_(static_cast<size_t>(pool.size()) * 8) {
        pool_.parallel_for(static_cast<int64_t>(kWords), 4096, [&](int64_t b, int64_t e) {
            for (int64_t i = b; i < e; ++i) buf_[i] = static_cast<uint64_t>(i);
        });
    }

    double best_of(int passes) {
        double best = 0;
        for (int pass = 0; pass < passes; ++pass) {
            const auto t0 = Clock::now();
            pool_.parallel_for(static_cast<int64_t>(kWords), 4096, [&](int64_t b, int64_t e) {
                sums_[static_cast<size_t>(b / 4096) % sums_.size()] += stream_read_sum(buf_.get() + b, static_cast<size_t>(e - b));
            });
            best = std::max(best, kWords * sizeof(uint64_t) / seconds_since(t0));
        }
        volatile uint64_t sink = sums_[0];
        (void)sink;
        return best;
    }

private:
    static constexpr size_t kWords = (512ull << 20) / sizeof(uint64_t);
    ThreadPool& pool_;
    std::unique_ptr<uint64_t[]> buf_;
    std::vector<uint64_t> sums_;
};

double median(std::vector<double> v) {
    std::sort(v.begin(), v.end());
    const size_t n = v.size();
    return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

// fp16 K/V bytes a decode step reads at this depth (sliding layers only their window).
uint64_t kv_read_bytes(const Model& m, int64_t depth) {
    const ModelHParams& hp = m.hparams();
    uint64_t bytes = 0;
    for (uint32_t i = 0; i < hp.n_layer; ++i) {
        const int64_t span = m.layer(i).window > 0 ? std::min<int64_t>(depth, m.layer(i).window) : depth;
        bytes += static_cast<uint64_t>(span) * hp.n_head_kv * (hp.head_dim + hp.head_dim_v) * 2;
    }
    return bytes;
}

// Bytes a decode step reads: every matrix once, plus the K/V each layer attends over.
uint64_t bytes_per_decode_token(const Model& m, int64_t depth) {
    const ModelHParams& hp = m.hparams();
    uint64_t bytes = m.output().n_bytes;
    for (uint32_t i = 0; i < hp.n_layer; ++i) {
        const LayerWeights& L = m.layer(i);
        for (const TensorView* t : {L.wq, L.wk, L.wv, L.wo, L.gate, L.up, L.down}) bytes += t->n_bytes;
        const int64_t span = L.window > 0 ? std::min<int64_t>(depth, L.window) : depth;
        bytes += static_cast<uint64_t>(span) * hp.n_head_kv * (hp.head_dim + hp.head_dim_v) * 2;
    }
    return bytes;
}

// Fills `cache` to `depth` tokens with N(0, 1) keys and values, `chunk` tokens per
// write/commit (a KVmix cache's fp16 window holds at most one batch beyond its window).
// Values come from a pool of Gaussians read at random offsets: drawing 10^9 fresh normals
// for a 32k-deep 7B-shaped cache would take longer than the decode being measured.
void fill_random(KvCache& cache, int64_t depth, int64_t chunk, std::mt19937& rng) {
    constexpr size_t kPool = size_t(1) << 20;
    std::vector<float> pool(kPool);
    std::normal_distribution<float> normal(0.0f, 1.0f);
    for (float& x : pool) x = normal(rng);
    std::uniform_int_distribution<size_t> offset(0, kPool - 1);
    std::vector<float> k, v;
    for (int64_t done = 0; done < depth; done += chunk) {
        const int64_t n = std::min(chunk, depth - done);
        for (uint32_t il = 0; il < cache.n_layer(); ++il) {
            const KvLayerShape& s = cache.shape(il);
            k.resize(static_cast<size_t>(n * s.n_head_kv * s.head_dim));
            v.resize(static_cast<size_t>(n * s.n_head_kv * s.head_dim_v));
            for (std::vector<float>* x : {&k, &v})
                for (size_t i = 0; i < x->size();) {
                    const size_t at = offset(rng), len = std::min(x->size() - i, kPool - at);
                    std::copy_n(pool.begin() + static_cast<std::ptrdiff_t>(at), len, x->begin() + static_cast<std::ptrdiff_t>(i));
                    i += len;
                }
            cache.write(il, 0, n, k.data(), v.data());
        }
        cache.commit(n);
    }
}

}  // namespace

int cmd_bench(int argc, char** argv) {
    const char* usage =
        "usage: kvmix bench -m MODEL [--ctx 512,4096,16384] [--gen 64] [--kv fp16,k4v4,k2v2] [--kv-group G] [--kv-window R]\n"
        "         [--kv-sinks S] [--kv-rotate none|keys|values|both] [--batch N] [--threads N] [--fill prefill|random]\n"
        "         [--rounds N] [--json]";
    Args args({"--model", "--ctx", "--gen", "--batch", "--threads", "--kv", "--kv-group", "--kv-window", "--kv-sinks", "--kv-rotate", "--fill",
               "--rounds"},
              {"--json"},
              {{"-m", "--model"}, {"-t", "--threads"}});
    args.parse(argc, argv, 2);
    if (int rc = args.usage_exit("bench", usage, args.has("--model") && args.positional().empty()); rc >= 0) return rc;
    auto depths = parse_int_list("--ctx", args.get("--ctx", "512,4096,16384"));
    if (!depths) return fail("bench", depths.status());
    auto gen = parse_int(args, "--gen", 64, 1, 1 << 20);
    if (!gen) return fail("bench", gen.status());
    auto batch = parse_int(args, "--batch", 256, 1, 1 << 16);
    if (!batch) return fail("bench", batch.status());
    auto threads = parse_int(args, "--threads", 0, 0, 1024);
    if (!threads) return fail("bench", threads.status());
    auto rounds = parse_int(args, "--rounds", 1, 1, 1 << 16);
    if (!rounds) return fail("bench", rounds.status());
    if (*rounds > *gen)
        return fail("bench", error(ErrorCode::invalid_argument, "--rounds (" + std::to_string(*rounds) + ") must not exceed --gen (" +
                                                                    std::to_string(*gen) + "): every round decodes at least one token"));
    const std::string fill = args.get("--fill", "prefill");
    if (fill != "prefill" && fill != "random")
        return fail("bench", error(ErrorCode::invalid_argument, "--fill must be 'prefill' or 'random', not '" + fill + "'"));
    const bool random_fill = fill == "random";
    auto model = load_model(args);
    if (!model) return fail("bench", model.status());
    const ModelHParams& hp = (*model)->hparams();

    ThreadPool bw_pool(static_cast<int>(*threads));
    // Kept (with its 512 MiB) only when the rounds probe again.
    auto probe = std::make_unique<ReadBandwidthProbe>(bw_pool);
    const double start_bandwidth = probe->best_of(5);
    if (*rounds == 1) probe.reset();
    const bool json = args.has("--json");
    std::fprintf(json ? stderr : stdout, "model %s: %u layers, weights %.1f MiB; read bandwidth %.2f GB/s (%d threads, best of 5 at the start)\n",
                 hp.name.c_str(), hp.n_layer, (*model)->file().weight_bytes() / 1048576.0, start_bandwidth / 1e9, bw_pool.size());
    if (!json)
        std::printf("%-8s %8s %12s %12s %10s %10s %8s %12s %9s %9s\n", "kv", "ctx", "prefill t/s", "decode t/s", "kv MiB", "fp16 MiB",
                    "ratio", "bound t/s", "of bound", "RSS MiB");
    std::vector<std::string> specs;
    {
        const std::string list = args.get("--kv", "fp16");
        size_t start = 0;
        while (start <= list.size()) {
            const size_t comma = list.find(',', start);
            specs.push_back(list.substr(start, comma == std::string::npos ? std::string::npos : comma - start));
            if (comma == std::string::npos) break;
            start = comma + 1;
        }
    }

    nlohmann::json rows = nlohmann::json::array();
    std::mt19937 rng(1234);
    std::uniform_int_distribution<int32_t> token(0, static_cast<int32_t>(hp.n_vocab) - 1);
    // Depth outer, KV spec inner: the specs compared at one depth run back to back (and with
    // --rounds, interleaved), so a change in machine load between them is as small as it can be.
    struct Entry {
        std::string spec;
        SessionConfig cfg;
        std::unique_ptr<Session> session;
        double fill_s = 0, decode_s = 0;
        uint64_t kv_bytes = 0, fp16_bytes = 0;
        nlohmann::json rss_delta;
    };
    // Decodes round r's share of the --gen tokens (round r of *rounds) into e.decode_s.
    auto decode_round = [&](Entry& e, int64_t r) -> Status {
        const int64_t n = *gen * (r + 1) / *rounds - *gen * r / *rounds;
        std::vector<float> logits;
        const auto t0 = Clock::now();
        for (int64_t i = 0; i < n; ++i) {
            const int32_t next[1] = {token(rng)};
            if (Status st = e.session->eval(next, &logits); !st.ok()) return st;
        }
        e.decode_s += seconds_since(t0);
        return Status();
    };
    for (int64_t depth : *depths) {
        if (depth + *gen > hp.context_length) {
            std::fprintf(stderr, "skipping ctx %lld: beyond the model's context of %u\n", static_cast<long long>(depth), hp.context_length);
            continue;
        }
        std::vector<Entry> entries;
        for (const std::string& spec : specs) {
            Entry e;
            e.spec = spec;
            e.cfg.n_ctx = depth + *gen;
            e.cfg.n_batch = *batch;
            e.cfg.n_threads = static_cast<int>(*threads);
            Args one = args;
            one.set("--kv", spec);
            if (Status st = apply_kv_options(one, hp, e.cfg); !st.ok()) return fail("bench", st);
            release_free_heap();
            const int64_t rss_before = resident_anon_bytes();
            auto session = Session::create(*model, e.cfg);
            if (!session) return fail("bench", session.status());
            e.session = std::move(*session);
            const auto t0 = Clock::now();
            if (random_fill) {
                fill_random(e.session->cache(), depth, e.session->config().n_batch, rng);
            } else {
                std::vector<int32_t> prompt(static_cast<size_t>(depth));
                for (auto& t : prompt) t = token(rng);
                if (Status st = e.session->eval(prompt); !st.ok()) return fail("bench", st);
            }
            e.fill_s = seconds_since(t0);
            const KvMemoryReport mem = e.session->kv_memory();
            e.kv_bytes = mem.bytes;
            e.fp16_bytes = mem.fp16_bytes;
            if (Status st = decode_round(e, 0); !st.ok()) return fail("bench", st);
            const int64_t rss_after = resident_anon_bytes();
            e.rss_delta = rss_before >= 0 && rss_after >= 0 ? nlohmann::json(rss_after - rss_before) : nlohmann::json(nullptr);
            if (*rounds == 1) e.session.reset();
            entries.push_back(std::move(e));
        }
        // Best of 2 passes per probe: one pass is at the mercy of a single burst of other load.
        std::vector<double> probes;
        for (int64_t r = 1; r < *rounds; ++r) {
            probes.push_back(probe->best_of(2));
            for (Entry& e : entries)
                if (Status st = decode_round(e, r); !st.ok()) return fail("bench", st);
        }
        if (*rounds > 1) probes.push_back(probe->best_of(2));
        const double bandwidth = probes.empty() ? start_bandwidth : median(probes);
        for (const Entry& e : entries) {
            const double prefill_tps = random_fill ? 0.0 : depth / e.fill_s, decode_tps = *gen / e.decode_s;
            // The bound reads the cache as stored: scale the fp16 KV term by the measured compression.
            const double compression = e.kv_bytes > 0 ? static_cast<double>(e.fp16_bytes) / static_cast<double>(e.kv_bytes) : 1.0;
            const uint64_t fp16_kv = kv_read_bytes(**model, depth + *gen / 2);
            const double read = static_cast<double>(bytes_per_decode_token(**model, depth + *gen / 2) - fp16_kv) + fp16_kv / compression;
            const double bound_tps = bandwidth / read;
            rows.push_back({{"ctx", depth}, {"prefill_tps", random_fill ? nlohmann::json(nullptr) : nlohmann::json(prefill_tps)},
                            {"decode_tps", decode_tps}, {"kv_bytes", e.kv_bytes}, {"bound_tps", bound_tps},
                            {"bound_tps_start", start_bandwidth / read}, {"bandwidth_bytes_per_s", bandwidth},
                            {"bandwidth_probes", probes}, {"read_bytes_per_token", read}, {"kv", e.spec},
                            {"rotation", rotation_name(e.cfg.kv_profile)},
                            {"kv_true_bytes", e.kv_bytes}, {"kv_fp16_bytes", e.fp16_bytes}, {"compression", compression},
                            {"fill", fill}, {"fill_seconds", e.fill_s}, {"session_rss_bytes", e.rss_delta}});
            char prefill_col[32] = "-";
            if (!random_fill) std::snprintf(prefill_col, sizeof prefill_col, "%.1f", prefill_tps);
            if (!json)
                std::printf("%-8s %8lld %12s %12.2f %10.1f %10.1f %7.2fx %12.2f %8.0f%% %9.1f\n", e.spec.c_str(), static_cast<long long>(depth),
                            prefill_col, decode_tps, e.kv_bytes / 1048576.0, e.fp16_bytes / 1048576.0, compression, bound_tps,
                            100 * decode_tps / bound_tps, e.rss_delta.is_null() ? -1.0 : e.rss_delta.get<double>() / 1048576.0);
        }
        if (!probes.empty())
            std::fprintf(json ? stderr : stdout, "  ctx %lld bounds: read bandwidth %.2f GB/s during the rounds (median of %zu probes, %.2f-%.2f)\n",
                         static_cast<long long>(depth), bandwidth / 1e9, probes.size(), *std::min_element(probes.begin(), probes.end()) / 1e9,
                         *std::max_element(probes.begin(), probes.end()) / 1e9);
        std::fflush(stdout);
    }
    if (json) {
        nlohmann::json out = {{"model", hp.name}, {"bandwidth_bytes_per_s", start_bandwidth}, {"threads", bw_pool.size()}, {"rounds", *rounds},
                              {"rows", rows}};
        std::printf("%s\n", out.dump().c_str());
    }
    return 0;
}

}  // namespace kvmix::cli
