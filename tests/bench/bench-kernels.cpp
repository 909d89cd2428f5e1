// Kernel micro-benchmark: GEMV (decode matmul, m = 1) GB/s per weight type at the default
// model's shapes (Gemma 3 270M) plus a DRAM-sized matrix, and attention decode GB/s over an
// fp16 KV cache (32 heads x 128 dims, 4k / 16k slots, MHA and GQA 4) — on AVX-512 VNNI
// CPUs also Q4_0/Q4_1 through both decode paths ([avx2] int16 x, [vnni]) — each as a ratio
// against the scalar reference measured in the same run, plus a plain streaming-read
// baseline for "% of memory bandwidth" (kvmix bench's probe loop, cpu/stream-read.h).
// Prints a table, then one JSON object (also written to the file after --json).
// Single-threaded unless --threads N (slices split across std::threads, as the backend
// does). --evict MB reads that many MB before every timed call, so the operands come from
// memory and not from a last-level cache that holds them (a "~64MB" case fits an L3 of
// 100 MB or more). Usage: bench-kernels [--quick] [--threads N] [--evict MB] [--json path]
#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <functional>
#include <string>
#include <thread>
#include <vector>

#include "cpu/attention.h"
#include "cpu/cpu-features.h"
#include "cpu/matmul.h"
#include "cpu/stream-read.h"
#include "op-harness.h"
#include "ref/attention.h"
#include "ref/matmul.h"

using namespace kvmix;

namespace {

using Clock = std::chrono::steady_clock;

// Best seconds per call over repeated runs (at least `min_reps`, about `budget_s` of calls
// in total). `evict` (--evict MB, empty by default) is read before each call, untimed.
struct Timer {
    std::vector<uint64_t> evict;

    double best(const std::function<void()>& fn, double budget_s, int min_reps = 2) const;
};

double Timer::best(const std::function<void()>& fn, double budget_s, int min_reps) const {
    double best = 1e30, total = 0;
    for (int rep = 0; rep < min_reps || total < budget_s; ++rep) {
        if (!evict.empty()) {
            volatile uint64_t sink = stream_read_sum(evict.data(), evict.size());
            (void)sink;
        }
        const auto t0 = Clock::now();
        fn();
        const double dt = std::chrono::duration<double>(Clock::now() - t0).count();
        best = std::min(best, dt);
        total += dt;
        if (rep > (evict.empty() ? 200 : 10)) break;  // each evicting rep also reads the buffer
    }
    return best;
}

// Runs body(begin, end) over [0, n) split across `threads` threads.
void parallel(int threads, int64_t n, const std::function<void(int64_t, int64_t)>& body) {
    if (threads <= 1) return body(0, n);
    std::vector<std::thread> pool;
    for (int t = 0; t < threads; ++t) {
        const int64_t b = n * t / threads, e = n * (t + 1) / threads;
        pool.emplace_back([&body, b, e] { body(b, e); });
    }
    for (auto& th : pool) th.join();
}

struct Row {
    std::string kind, name;
    double mbytes, ref_gbs, cpu_gbs, cpu_mt_gbs;
};

}  // namespace

int main(int argc, char** argv) {
    bool quick = false;
    int threads = static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
    std::string json_path;
    Timer timer;
    for (int i = 1; i < argc; ++i) {
        if (!std::strcmp(argv[i], "--quick")) quick = true;
        else if (!std::strcmp(argv[i], "--threads") && i + 1 < argc) threads = std::atoi(argv[++i]);
        else if (!std::strcmp(argv[i], "--json") && i + 1 < argc) json_path = argv[++i];
        else if (!std::strcmp(argv[i], "--evict") && i + 1 < argc)
            timer.evict.assign((static_cast<size_t>(std::max(0, std::atoi(argv[++i]))) << 20) / sizeof(uint64_t), 1);
    }
    const double budget = quick ? 0.1 : 0.4;
    kvmix_test::Rng rng(2024);
    std::vector<Row> rows;

    // Streaming-read baseline: a 256 MB buffer through kvmix bench's probe loop (64-byte
    // loads and a prefetch where the CPU has them; narrower loads read 20-40% low).
    double read_gbs = 0;
    {
        std::vector<uint64_t> buf(static_cast<size_t>(32) << 20, 1);
        volatile uint64_t sink = 0;
        const double t = timer.best([&] { sink = stream_read_sum(buf.data(), buf.size()); }, budget);
        (void)sink;
        read_gbs = static_cast<double>(buf.size() * 8) / t / 1e9;
    }

    // GEMV: (type, k, n) — Gemma 3 270M decode shapes and the tied Q8_0 output head.
    struct G {
        TensorType t;
        int64_t k, n;
        std::string what;
        MatmulDecodePath path = MatmulDecodePath::best;
    };
    std::vector<G> gemv = {
        {TensorType::q8_0, 640, 1024, "attn_q 640x1024"},   {TensorType::q5_0, 640, 2048, "ffn_up 640x2048"},
        {TensorType::q4_k, 2048, 640, "ffn_down 2048x640"}, {TensorType::q6_k, 2048, 640, "ffn_down 2048x640"},
        {TensorType::q8_0, 640, quick ? 32768 : 262144, "output 640x262144"},
    };
    for (TensorType t : {TensorType::f32, TensorType::f16, TensorType::bf16, TensorType::q4_0, TensorType::q4_1,
                         TensorType::q5_0, TensorType::q5_1, TensorType::q8_0, TensorType::q4_k, TensorType::q5_k,
                         TensorType::q6_k}) {
        // ~64 MB of weights (DRAM-sized), k = 2048.
        const auto& tr = tensor_type_traits(t);
        const int64_t k = 2048, row = k / tr.block_elems * tr.block_bytes;
        gemv.push_back({t, k, (quick ? (16 << 20) : (64 << 20)) / row, "k=2048 ~64MB"});
    }
    // Q4_0 / Q4_1 decode: the AVX-512 VNNI path and the AVX2 int16 one side by side, at
    // ~64 MB and at the default model's (SmolLM2-135M) shapes.
    if (matmul_decode_path_available(MatmulDecodePath::avx512_vnni)) {
        for (TensorType t : {TensorType::q4_0, TensorType::q4_1}) {
            const auto& tr = tensor_type_traits(t);
            const int64_t n64 = (quick ? (16 << 20) : (64 << 20)) / (2048 / tr.block_elems * tr.block_bytes);
            for (MatmulDecodePath path : {MatmulDecodePath::avx2, MatmulDecodePath::avx512_vnni, MatmulDecodePath::avx512_vbmi}) {
                if (!matmul_decode_path_available(path)) continue;
                const std::string tag = path == MatmulDecodePath::avx2 ? " [avx2]" : path == MatmulDecodePath::avx512_vnni ? " [vnni]" : " [vbmi]";
                gemv.push_back({t, 2048, n64, "k=2048 ~64MB" + tag, path});
                gemv.push_back({t, 576, 1536, "ffn_up 576x1536" + tag, path});
                gemv.push_back({t, 1536, 576, "ffn_down 1536x576" + tag, path});
            }
        }
    }
    for (const G& g : gemv) {
        const auto w = kvmix_test::random_weights(g.t, g.n, g.k, rng);
        const auto x = rng.normals(static_cast<size_t>(g.k));
        std::vector<float> y(static_cast<size_t>(g.n));
        MatmulParams p;
        p.w_type = g.t;
        p.w = w.data();
        p.w_row_bytes = w.size() / static_cast<size_t>(g.n);
        p.x = x.data();
        p.x_stride = static_cast<size_t>(g.k);
        p.y = y.data();
        p.y_stride = static_cast<size_t>(g.n);
        p.m = 1;
        p.k = g.k;
        p.n = g.n;
        p.n_end = g.n;
        const double bytes = static_cast<double>(w.size());
        MatmulParams pr = p;  // the scalar ref reads at most ~4 MB: it is slow, and GB/s is per byte
        pr.n_end = std::max<int64_t>(1, std::min<int64_t>(g.n, (4 << 20) / static_cast<int64_t>(p.w_row_bytes)));
        const double ref_bytes = static_cast<double>(pr.n_end) * static_cast<double>(p.w_row_bytes);
        const double t_ref = timer.best([&] { matmul_ref(pr); }, budget / 2, 1);
        const double t_cpu = timer.best([&] { matmul_cpu_path(p, g.path); }, budget);
        const double t_mt = timer.best([&] {
            parallel(threads, g.n, [&](int64_t b, int64_t e) {
                MatmulParams q = p;
                q.n_begin = b;
                q.n_end = e;
                matmul_cpu_path(q, g.path);
            });
        }, budget);
        rows.push_back({"gemv", std::string(tensor_type_name(g.t)) + " " + g.what, bytes / 1e6, ref_bytes / t_ref / 1e9,
                        bytes / t_cpu / 1e9, bytes / t_mt / 1e9});
    }

    // Attention decode: one query at the newest slot, 32 heads x 128 dims; the fp32 cache
    // (reference validation mode) at 4096 slots only.
    for (const KvElementType kt : {KvElementType::f16, KvElementType::f32})
        for (int64_t n_kv : {int64_t{4096}, int64_t{16384}})
            for (int64_t n_head_kv : {int64_t{32}, int64_t{8}}) {
                if ((quick || kt == KvElementType::f32) && n_kv > 4096) continue;
                const bool f32 = kt == KvElementType::f32;
                const int64_t H = 32, D = 128;
                const auto n_elems = static_cast<size_t>(n_kv * n_head_kv * D);
                std::vector<uint16_t> k(f32 ? 0 : n_elems), v(k.size());
                std::vector<float> kf(f32 ? n_elems : 0), vf(kf.size());
                for (size_t i = 0; i < n_elems; ++i) {
                    const float a = rng.normal(), b = rng.normal();
                    if (f32) {
                        kf[i] = a;
                        vf[i] = b;
                    } else {
                        k[i] = fp32_to_fp16(a);
                        v[i] = fp32_to_fp16(b);
                    }
                }
                const auto q = rng.normals(static_cast<size_t>(H * D));
                std::vector<float> out(static_cast<size_t>(H * D));
                const int32_t pos = static_cast<int32_t>(n_kv - 1);
                AttentionParams p;
                p.q = q.data();
                p.q_stride = static_cast<size_t>(H * D);
                p.kv_type = kt;
                p.k = k.data();
                p.v = v.data();
                p.k_f32 = kf.data();
                p.v_f32 = vf.data();
                p.k_head_stride = static_cast<size_t>(n_kv * D);
                p.v_head_stride = static_cast<size_t>(n_kv * D);
                p.out = out.data();
                p.out_stride = static_cast<size_t>(H * D);
                p.n_q = 1;
                p.n_head = H;
                p.n_head_kv = n_head_kv;
                p.head_dim = D;
                p.head_dim_v = D;
                p.n_kv = n_kv;
                p.q_pos = &pos;
                p.scale = 1.0f / std::sqrt(static_cast<float>(D));
                p.head_end = H;
                const double bytes = static_cast<double>(2 * n_elems * (f32 ? sizeof(float) : sizeof(uint16_t)));
                AttentionParams pr = p;  // ref over a quarter of the heads (whole KV groups)
                pr.head_end = H / 4;
                const double t_ref = timer.best([&] { attention_ref(pr); }, budget / 2, 1) * 4;
                const double t_cpu = timer.best([&] { attention_cpu(p); }, budget);
                const int64_t groups = n_head_kv;  // split by KV group so threads share no KV rows
                const double t_mt = timer.best([&] {
                    parallel(threads, groups, [&](int64_t b, int64_t e) {
                        AttentionParams a = p;
                        a.head_begin = b * (H / n_head_kv);
                        a.head_end = e * (H / n_head_kv);
                        attention_cpu(a);
                    });
                }, budget);
                const std::string name = std::string(f32 ? "f32 " : "") + "decode kv=" + std::to_string(n_kv) + " heads 32/" +
                                         std::to_string(n_head_kv) + " d128";
                rows.push_back({"attention", name, bytes / 1e6, bytes / t_ref / 1e9, bytes / t_cpu / 1e9, bytes / t_mt / 1e9});
            }

    std::printf("avx2+fma+f16c: %s   threads (mt column): %d   streaming read baseline: %.2f GB/s\n",
                cpu_has_avx2_fma_f16c() ? "yes" : "no (cpu = ref)", threads, read_gbs);
    std::printf("%-10s %-34s %9s %9s %9s %8s %9s %7s\n", "op", "case", "MB", "ref GB/s", "cpu GB/s", "cpu/ref", "mt GB/s", "mt/read");
    for (const Row& r : rows)
        std::printf("%-10s %-34s %9.1f %9.2f %9.2f %8.1f %9.2f %6.0f%%\n", r.kind.c_str(), r.name.c_str(), r.mbytes, r.ref_gbs,
                    r.cpu_gbs, r.cpu_gbs / r.ref_gbs, r.cpu_mt_gbs, 100.0 * r.cpu_mt_gbs / read_gbs);

    std::string json = "{\"bench\":\"kernels\",\"avx2\":" + std::string(cpu_has_avx2_fma_f16c() ? "true" : "false") +
                       ",\"threads\":" + std::to_string(threads) + ",\"read_gbs\":" + std::to_string(read_gbs) + ",\"rows\":[";
    for (size_t i = 0; i < rows.size(); ++i) {
        const Row& r = rows[i];
        char buf[512];
        std::snprintf(buf, sizeof buf,
                      "%s{\"op\":\"%s\",\"case\":\"%s\",\"mb\":%.2f,\"ref_gbs\":%.3f,\"cpu_gbs\":%.3f,\"ratio\":%.2f,\"mt_gbs\":%.3f}",
                      i ? "," : "", r.kind.c_str(), r.name.c_str(), r.mbytes, r.ref_gbs, r.cpu_gbs, r.cpu_gbs / r.ref_gbs, r.cpu_mt_gbs);
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
