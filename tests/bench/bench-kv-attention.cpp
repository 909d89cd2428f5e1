// Decode-attention micro-benchmark over the KVmix mixed cache: n_q = 1, by default 32 query
// heads x 128 dims (MHA, and GQA 4 with 8 kv heads), 4k and 16k context tokens. Baseline:
// attention_cpu over a dense fp16 cache; candidates: mixed_attention_cpu over [4 fp16 sinks]
// [quantized groups, G = 32][fp16 recent window of 128 + remainder] at k8v8, k4v4, k3v3, k2v2.
// Other shapes: --heads H --kv-heads H1[,H2..] --dim D --group G --ctx N1[,N2..]
// --kv k3v2[,k2v2..] --paths fp32,i8avx2,i8vnni,i8avx512 (e.g. the default model: --heads 9 --kv-heads 3 --dim 64 --group 64). Reports
// best time per call, GB/s of the bytes the kernel actually has to read (codes, scales,
// mins, fp16 rows; not the query/output) and the speed ratio against fp16 in the same run.
// Prefill: a chunk of 64 consecutive queries at 4k depth (MHA) as one query-tiled call vs 64
// one-query calls (each re-reading the cache, as an untiled kernel would).
// Prints tables, then one JSON line (also written to the file after --json).
// Single-threaded unless --threads N (heads split across std::threads, as the backend does).
// --evict MB reads that many MB between timed calls, so the cache comes from memory as in a
// model's decode (the default times it hot in L2).
// Usage: bench-kv-attention [--quick] [--threads N] [--evict MB] [--json path] [shape options]
#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <functional>
#include <random>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "common/half.h"
#include "common/kv-quant-format.h"
#include "common/mixed-attention-params.h"
#include "cpu/attention.h"
#include "cpu/mixed-attention.h"

using namespace kvmix;

namespace {

using Clock = std::chrono::steady_clock;

// Best time of repeated calls. `evict` (--evict MB) is read before each call: as in a model's
// decode, where every other layer's weights and cache stream through the caches before this
// layer's turn comes again.
struct Timer {
    std::vector<uint8_t> evict;

    double best(const std::function<void()>& fn, double budget_s, int min_reps = 3) const;
};

double Timer::best(const std::function<void()>& fn, double budget_s, int min_reps) const {
    double best = 1e30, total = 0;
    for (int rep = 0; rep < min_reps || total < budget_s; ++rep) {
        uint64_t sum = 0;
        for (size_t i = 0; i < evict.size(); i += 64) sum += evict[i];
        volatile uint64_t sink = sum;
        (void)sink;
        const auto t0 = Clock::now();
        fn();
        const double dt = std::chrono::duration<double>(Clock::now() - t0).count();
        best = std::min(best, dt);
        total += dt;
        if (rep > 200) break;
    }
    return best;
}

void parallel(int threads, int64_t n, const std::function<void(int64_t, int64_t)>& body) {
    if (threads <= 1) return body(0, n);
    std::vector<std::thread> pool;
    for (int t = 0; t < threads; ++t) {
        const int64_t b = n * t / threads, e = n * (t + 1) / threads;
        pool.emplace_back([&body, b, e] { body(b, e); });
    }
    for (auto& th : pool) th.join();
}

constexpr int64_t kSinks = 4, kWindow = 128;

// The benchmarked shape (command-line options).
struct Shape {
    int64_t heads = 32, dim = 128;
    int group = 32;
    std::vector<int64_t> kv_heads{32, 8}, ctx{4096, 16384};
    std::vector<std::pair<int, int>> bits{{8, 8}, {4, 4}, {3, 3}, {2, 2}};  // (key, value)
    std::string paths;    // comma-separated path tags to run (empty: all this CPU has)
    bool custom = false;  // prefill rows only for the default shape
};

std::vector<int64_t> parse_list(const char* s) {
    std::vector<int64_t> v;
    for (const char* p = s; *p != '\0';) {
        char* end = nullptr;
        const long long x = std::strtoll(p, &end, 10);
        if (end == p) break;  // not a number: the shape check below reports the list
        v.push_back(x);
        p = *end == ',' ? end + 1 : end;
    }
    return v;
}

struct Row {
    std::string name;
    int64_t ctx, n_head_kv;
    double mbytes, ms, gbs, speedup;
};

struct PrefillRow {
    std::string name;
    double tiled_ms, per_token_ms;
};

constexpr int64_t kChunk = 64;  // prefill queries per call

// Times `call` once with n_q = kChunk (tiled) and as kChunk calls with n_q = 1.
template <class Params, class Fn>
PrefillRow time_prefill(const std::string& name, Params base, const std::vector<float>& q, std::vector<float>& out,
                        const std::vector<int32_t>& pos, int64_t heads, int threads, const Timer& timer, double budget, Fn call) {
    base.q = q.data();
    base.out = out.data();
    base.q_pos = pos.data();
    const auto run = [&](const Params& p) {
        parallel(threads, heads, [&](int64_t b, int64_t e) {
            Params sl = p;
            sl.head_begin = b;
            sl.head_end = e;
            call(sl);
        });
    };
    Params tiled = base;
    tiled.n_q = kChunk;
    const double t_tiled = timer.best([&] { run(tiled); }, budget);
    const double t_single = timer.best([&] {
        for (int64_t t = 0; t < kChunk; ++t) {
            Params one = base;
            one.n_q = 1;
            one.q = q.data() + t * base.q_stride;
            one.out = out.data() + t * base.out_stride;
            one.q_pos = pos.data() + t;
            run(one);
        }
    }, budget, 1);
    return {name, t_tiled * 1e3, t_single * 1e3};
}

// Random packed storage with valid fp16 scales/mins in every record (scale ~ 4/2^b, so the
// dequantized values look like unit-variance data).
std::vector<uint8_t> random_records(size_t n_records, int bits, int group, std::mt19937_64& gen) {
    const size_t rec = kvq::record_bytes(bits, group);
    std::vector<uint8_t> buf(n_records * rec);
    for (auto& b : buf) b = static_cast<uint8_t>(gen() & 0xFF);
    std::uniform_real_distribution<float> u(0.5f, 1.5f);
    for (size_t r = 0; r < n_records; ++r) {
        const uint16_t s = fp32_to_fp16(u(gen) * 4.0f / static_cast<float>(kvq::max_code(bits)));
        const uint16_t m = fp32_to_fp16(-2.0f * u(gen));
        std::memcpy(buf.data() + r * rec, &s, 2);
        std::memcpy(buf.data() + r * rec + 2, &m, 2);
    }
    return buf;
}

}  // namespace

int main(int argc, char** argv) {
    bool quick = false;
    int threads = 1;
    Shape sh;
    std::string json_path;
    Timer timer;
    for (int i = 1; i < argc; ++i) {
        if (!std::strcmp(argv[i], "--quick")) quick = true;
        else if (!std::strcmp(argv[i], "--threads") && i + 1 < argc) threads = std::max(1, std::atoi(argv[++i]));
        else if (!std::strcmp(argv[i], "--json") && i + 1 < argc) json_path = argv[++i];
        else if (!std::strcmp(argv[i], "--evict") && i + 1 < argc) timer.evict.assign(static_cast<size_t>(std::max(0, std::atoi(argv[++i]))) << 20, 1);
        else if (!std::strcmp(argv[i], "--paths") && i + 1 < argc) sh.paths = std::string(",") + argv[++i] + ",";
        else if (!std::strcmp(argv[i], "--heads") && i + 1 < argc) sh.heads = std::atoll(argv[++i]), sh.custom = true;
        else if (!std::strcmp(argv[i], "--kv-heads") && i + 1 < argc) sh.kv_heads = parse_list(argv[++i]), sh.custom = true;
        else if (!std::strcmp(argv[i], "--dim") && i + 1 < argc) sh.dim = std::atoll(argv[++i]), sh.custom = true;
        else if (!std::strcmp(argv[i], "--group") && i + 1 < argc) sh.group = std::atoi(argv[++i]), sh.custom = true;
        else if (!std::strcmp(argv[i], "--ctx") && i + 1 < argc) sh.ctx = parse_list(argv[++i]), sh.custom = true;
        else if (!std::strcmp(argv[i], "--kv") && i + 1 < argc) {
            sh.bits.clear();
            for (const char* p = argv[++i]; *p == 'k';) {
                char* e = nullptr;
                const int kb = static_cast<int>(std::strtol(p + 1, &e, 10));
                if (*e != 'v') break;
                const int vb = static_cast<int>(std::strtol(e + 1, &e, 10));
                sh.bits.emplace_back(kb, vb);
                p = *e == ',' ? e + 1 : e;
            }
            sh.custom = true;
        }
    }
    for (const int64_t hkv : sh.kv_heads) {
        if (hkv <= 0 || sh.heads % hkv != 0 || sh.dim <= 0 || sh.dim % sh.group != 0 || sh.group % 32 != 0) {
            std::fprintf(stderr, "bench-kv-attention: bad shape (heads %% kv-heads, dim %% group, group %% 32 must be 0)\n");
            return 2;
        }
    }
    const int64_t kHeads = sh.heads, kDim = sh.dim;
    const int kGroup = sh.group;
    const double budget = quick ? 0.1 : 0.5;
    std::mt19937_64 gen(7);
    std::normal_distribution<float> nd(0.0f, 1.0f);
    std::vector<Row> rows;
    std::vector<PrefillRow> prows;
    std::vector<float> q(static_cast<size_t>(kHeads * kDim)), out(static_cast<size_t>(kHeads * kDim));
    for (auto& x : q) x = nd(gen);
    std::vector<float> qc(static_cast<size_t>(kChunk * kHeads * kDim)), outc(qc.size());
    for (auto& x : qc) x = nd(gen);

    for (const int64_t ctx : sh.ctx) {
        for (const int64_t hkv : sh.kv_heads) {
            const int32_t pos = static_cast<int32_t>(ctx - 1);
            // fp16 dense baseline.
            std::vector<uint16_t> k16(static_cast<size_t>(hkv * ctx * kDim)), v16(k16.size());
            for (auto& x : k16) x = fp32_to_fp16(nd(gen));
            for (auto& x : v16) x = fp32_to_fp16(nd(gen));
            AttentionParams a;
            a.q = q.data();
            a.q_stride = static_cast<size_t>(kHeads * kDim);
            a.out = out.data();
            a.out_stride = a.q_stride;
            a.n_q = 1;
            a.n_head = kHeads;
            a.n_head_kv = hkv;
            a.head_dim = a.head_dim_v = kDim;
            a.n_kv = ctx;
            a.q_pos = &pos;
            a.scale = 1.0f / std::sqrt(static_cast<float>(kDim));
            a.k = k16.data();
            a.v = v16.data();
            a.k_head_stride = a.v_head_stride = static_cast<size_t>(ctx * kDim);
            const double fp16_bytes = static_cast<double>(k16.size() + v16.size()) * 2.0;
            const double t16 = timer.best([&] {
                parallel(threads, kHeads, [&](int64_t b, int64_t e) {
                    AttentionParams s = a;
                    s.head_begin = b;
                    s.head_end = e;
                    attention_cpu(s);
                });
            }, budget);
            rows.push_back({"fp16", ctx, hkv, fp16_bytes / 1e6, t16 * 1e3, fp16_bytes / t16 / 1e9, 1.0});
            const bool prefill = !sh.custom && ctx == 4096 && hkv == kHeads;
            std::vector<int32_t> pos_c(static_cast<size_t>(kChunk));
            for (int64_t t = 0; t < kChunk; ++t) pos_c[static_cast<size_t>(t)] = static_cast<int32_t>(ctx - kChunk + t);
            if (prefill) prows.push_back(time_prefill("fp16", a, qc, outc, pos_c, kHeads, threads, timer, budget, [](const AttentionParams& x) { attention_cpu(x); }));

            // Mixed: fp16 sinks + tail reuse the dense fp16 arrays (same head stride).
            const int64_t n_groups = (ctx - kSinks - kWindow) / kGroup;
            const int64_t nq_tok = n_groups * kGroup, tail = ctx - kSinks - nq_tok;
            for (const auto& [kbits, vbits] : sh.bits) {
                const size_t grp_bytes = kvq::key_group_bytes(kbits, kGroup, kDim);
                const size_t row_bytes = kvq::value_row_bytes(vbits, kGroup, kDim);
                const std::vector<uint8_t> kq = random_records(static_cast<size_t>(hkv * n_groups * kDim), kbits, kGroup, gen);
                const std::vector<uint8_t> vq = random_records(static_cast<size_t>(hkv * nq_tok * (kDim / kGroup)), vbits, kGroup, gen);
                KvSegment segs[3];
                segs[0].pos0 = 0;
                segs[0].n_tokens = kSinks;
                segs[0].k16 = k16.data();
                segs[0].v16 = v16.data();
                segs[0].k16_head_stride = segs[0].v16_head_stride = static_cast<size_t>(ctx * kDim);
                segs[1].pos0 = kSinks;
                segs[1].n_tokens = nq_tok;
                segs[1].k_bits = kbits;
                segs[1].v_bits = vbits;
                segs[1].group_size = kGroup;
                segs[1].kq = kq.data();
                segs[1].kq_group_stride = grp_bytes;
                segs[1].kq_head_stride = grp_bytes * static_cast<size_t>(n_groups);
                segs[1].vq = vq.data();
                segs[1].vq_token_stride = row_bytes;
                segs[1].vq_head_stride = row_bytes * static_cast<size_t>(nq_tok);
                segs[2] = segs[0];
                segs[2].pos0 = kSinks + nq_tok;
                segs[2].n_tokens = tail;
                segs[2].k16 = k16.data() + (kSinks + nq_tok) * kDim;
                segs[2].v16 = v16.data() + (kSinks + nq_tok) * kDim;
                MixedAttentionParams m;
                m.q = q.data();
                m.q_stride = a.q_stride;
                m.out = out.data();
                m.out_stride = a.out_stride;
                m.n_q = 1;
                m.n_head = kHeads;
                m.n_head_kv = hkv;
                m.head_dim = m.head_dim_v = kDim;
                m.q_pos = &pos;
                m.scale = a.scale;
                m.segments = segs;
                m.n_segments = 3;
                const double bytes = static_cast<double>(kq.size() + vq.size()) +
                                     static_cast<double>(hkv * (kSinks + tail) * kDim) * 2.0 * 2.0;
                const std::string name = "k" + std::to_string(kbits) + "v" + std::to_string(vbits);
                // Every kernel path this CPU runs, side by side (the dispatched default is the
                // first int8 one available from the top: avx512 > vnni > avx2 int8).
                const std::pair<MixedAttentionPath, const char*> paths[] = {
                    {MixedAttentionPath::avx2_fp32, "fp32"},
                    {MixedAttentionPath::avx2_int8, "i8avx2"},
                    {MixedAttentionPath::avx_vnni_int8, "i8vnni"},
                    {MixedAttentionPath::avx512_vnni_int8, "i8avx512"}};
                for (const auto& [path, tag] : paths) {
                    if (!mixed_attention_path_available(path)) continue;
                    if (!sh.paths.empty() && sh.paths.find(std::string(",") + tag + ",") == std::string::npos) continue;
                    const double t = timer.best([&, path = path] {
                        parallel(threads, kHeads, [&](int64_t b, int64_t e) {
                            MixedAttentionParams s = m;
                            s.head_begin = b;
                            s.head_end = e;
                            mixed_attention_cpu_path(s, path);
                        });
                    }, budget);
                    rows.push_back({name + "/" + tag, ctx, hkv, bytes / 1e6, t * 1e3, bytes / t / 1e9, t16 / t});
                }
                if (prefill && kbits == vbits && (kbits == 4 || kbits == 2))
                    prows.push_back(time_prefill(name, m, qc, outc, pos_c, kHeads, threads, timer, budget, [](const MixedAttentionParams& x) { mixed_attention_cpu(x); }));
            }
        }
    }

    std::printf("decode attention, n_q = 1, %lld heads x %lld, G = %d, %d thread(s)\n", static_cast<long long>(kHeads),
                static_cast<long long>(kDim), kGroup, threads);
    std::printf("%-14s %6s %4s %10s %10s %8s %10s\n", "cache", "ctx", "hkv", "MB read", "ms", "GB/s", "vs fp16");
    for (const Row& r : rows)
        std::printf("%-14s %6lld %4lld %10.2f %10.3f %8.2f %9.2fx\n", r.name.c_str(), static_cast<long long>(r.ctx),
                    static_cast<long long>(r.n_head_kv), r.mbytes, r.ms, r.gbs, r.speedup);
    std::printf("\nprefill attention, %lld queries at depth 4096, %lld heads x %lld (MHA), %d thread(s)\n", static_cast<long long>(kChunk),
                static_cast<long long>(kHeads), static_cast<long long>(kDim), threads);
    std::printf("%-6s %12s %16s %8s\n", "cache", "tiled ms", "per-token ms", "speedup");
    for (const PrefillRow& r : prows)
        std::printf("%-6s %12.3f %16.3f %7.2fx\n", r.name.c_str(), r.tiled_ms, r.per_token_ms, r.per_token_ms / r.tiled_ms);
    std::string json = "{\"bench\":\"kv-attention\",\"threads\":" + std::to_string(threads) + ",\"prefill\":[";
    for (size_t i = 0; i < prows.size(); ++i) {
        char buf[256];
        std::snprintf(buf, sizeof buf, "%s{\"cache\":\"%s\",\"n_q\":%lld,\"tiled_ms\":%.4f,\"per_token_ms\":%.4f}", i ? "," : "",
                      prows[i].name.c_str(), static_cast<long long>(kChunk), prows[i].tiled_ms, prows[i].per_token_ms);
        json += buf;
    }
    json += "],\"rows\":[";
    for (size_t i = 0; i < rows.size(); ++i) {
        char buf[256];
        std::snprintf(buf, sizeof buf, "%s{\"cache\":\"%s\",\"ctx\":%lld,\"n_head_kv\":%lld,\"mbytes\":%.3f,\"ms\":%.4f,\"gbs\":%.3f,\"speedup_vs_fp16\":%.3f}",
                      i ? "," : "", rows[i].name.c_str(), static_cast<long long>(rows[i].ctx),
                      static_cast<long long>(rows[i].n_head_kv), rows[i].mbytes, rows[i].ms, rows[i].gbs, rows[i].speedup);
        json += buf;
    }
    json += "]}";
    std::printf("%s\n", json.c_str());
    if (!json_path.empty()) {
        if (FILE* f = std::fopen(json_path.c_str(), "w")) {
            std::fprintf(f, "%s\n", json.c_str());
            std::fclose(f);
        }
    }
    return 0;
}
