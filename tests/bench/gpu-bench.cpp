// GPU benchmarks for installer/gpu-check.sh: prints tables and writes one JSON file.
//   copy     device-to-device copy bandwidth (the baseline the attention kernel is held to)
//   attn     decode-attention kernel bandwidth: bytes of the (packed) cache read per second,
//            k2v2 / k4v4 / balanced-like / fp16 at 4k, 16k, 32k context, Llama-2-7B heads
//   decode   end-to-end decode tok/s at batch 1/8/16 at 8k context, fp16 vs balanced-like
//            cache, on a synthetic Llama-2-7B-shaped model (and the default model if given)
//   maxbatch the largest batch whose caches fit a fixed memory budget, fp16 vs balanced-like
//   synthetic  only makes sure the synthetic model file exists (see --synthetic)
// Usage: gpu-bench --out FILE.json [--work DIR] [--layers 32] [--model PATH] [--budget-gib 64]
//                  [--only copy,attn,decode,maxbatch,synthetic] [--synthetic FILE.gguf]
// The synthetic model (7.2 GB at 32 layers) is written once: with --synthetic it is reused
// when that file already holds it and kept for the next run (installer/gpu-check.sh shares
// one between its decode and maxbatch runs and deletes it); without, it goes to --work and
// is deleted at exit. Decode runs start from a cache filled by
// GpuSequence::fill_for_benchmark (the state after an 8k prefill, without its cost); speeds
// are reported with ratios against fp16 measured in the same run. The JSON is rewritten
// after every section, a section being measured marked {"incomplete": true}, so a run cut
// short by a time limit still leaves what it measured. Exit 77 without a CUDA device.
#include <cuda_runtime.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <random>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "backend/device.h"
#include "common/half.h"
#include "common/kv-device-params.h"
#include "cuda/cuda-kernels.h"
#include "gguf-builder.h"
#include "model/model.h"
#include "runtime/kv-profile.h"

using namespace kvmix;
using json = nlohmann::json;

namespace {

#define CU(x)                                                                                   \
    do {                                                                                        \
        const cudaError_t e_ = (x);                                                             \
        if (e_ != cudaSuccess) {                                                                \
            std::fprintf(stderr, "%s:%d: %s: %s\n", __FILE__, __LINE__, #x, cudaGetErrorString(e_)); \
            std::exit(1);                                                                       \
        }                                                                                       \
    } while (0)

struct Timer {
    cudaEvent_t a{}, b{};
    Timer() {
        CU(cudaEventCreate(&a));
        CU(cudaEventCreate(&b));
    }
    ~Timer() {
        cudaEventDestroy(a);
        cudaEventDestroy(b);
    }
    void start() { CU(cudaEventRecord(a)); }
    double stop_ms() {
        CU(cudaEventRecord(b));
        CU(cudaEventSynchronize(b));
        float ms = 0;
        CU(cudaEventElapsedTime(&ms, a, b));
        return ms;
    }
};

// The balanced-like profile: round(0.2 L) layers at K3/V4 with a 20% window, the rest K2/V2
// at 10% (the paper's 20% setting; which layers is irrelevant for speed).
KvProfile balanced_like(uint32_t n_layer) {
    KvProfile p = uniform_kv_profile(n_layer, 2, 2);
    p.name = "balanced-like";
    const auto hi = static_cast<uint32_t>(std::lround(0.2 * n_layer));
    for (uint32_t i = 0; i < hi && i < n_layer; ++i) {
        p.layers[i].k_bits = 3;
        p.layers[i].v_bits = 4;
        p.layers[i].k_window_ratio = p.layers[i].v_window_ratio = 0.2f;
    }
    return p;
}

// ---------------------------------------------------------------------------------------
json bench_copy() {
    const size_t bytes = size_t{2} << 30;
    void *a = nullptr, *b = nullptr;
    CU(cudaMalloc(&a, bytes));
    CU(cudaMalloc(&b, bytes));
    CU(cudaMemset(a, 1, bytes));
    CU(cudaMemcpy(b, a, bytes, cudaMemcpyDeviceToDevice));
    Timer t;
    const int reps = 10;
    t.start();
    for (int i = 0; i < reps; ++i) CU(cudaMemcpyAsync(i % 2 ? a : b, i % 2 ? b : a, bytes, cudaMemcpyDeviceToDevice));
    const double ms = t.stop_ms();
    cudaFree(a);
    cudaFree(b);
    const double gbps = 2.0 * static_cast<double>(bytes) * reps / (ms * 1e-3) / 1e9;  // read + write
    std::printf("device-to-device copy: %.1f GB/s (bytes read + written)\n", gbps);
    return {{"bytes", bytes}, {"gbps_read_plus_write", gbps}};
}

// ---------------------------------------------------------------------------------------
// One layer's side on the device for the attention benchmark, filled with a finite pattern.
struct BenchSide {
    KvSideView view;
    std::vector<void*> allocs;
    uint64_t bytes_read = 0;  // cache bytes one attention pass over n_kv reads
};

BenchSide make_bench_side(bool keys, int bits, float ratio, int64_t n_kv, int64_t hkv, int64_t D, int G, int S) {
    BenchSide s;
    KvSideView& v = s.view;
    v.bits = bits;
    v.group_size = G;
    auto alloc = [&](size_t b) {
        void* p = nullptr;
        CU(cudaMalloc(&p, std::max<size_t>(b, 1)));
        CU(cudaMemset(p, 0x2C, std::max<size_t>(b, 1)));  // fp16 0.0659 everywhere: finite
        s.allocs.push_back(p);
        return p;
    };
    if (bits == 16) {
        v.ring_cap = n_kv;
        v.ring = static_cast<uint16_t*>(alloc(static_cast<size_t>(hkv * n_kv * D) * 2));
        v.ring_head_stride = static_cast<size_t>(n_kv * D);
        s.bytes_read = static_cast<uint64_t>(hkv * n_kv * D) * 2;
        return s;
    }
    const int64_t w = (std::clamp<int64_t>(static_cast<int64_t>(std::ceil(ratio * static_cast<double>(n_kv))), 32, 1024) + G - 1) / G * G;
    const int64_t tail = n_kv - S;
    v.n_sinks = S;
    v.n_quant = tail > w + G ? (tail - w - 1) / G * G : 0;
    v.ring_cap = w + 2 * G;
    v.unit_bytes = keys ? kvq::key_group_bytes(bits, G, D) : kvq::value_row_bytes(bits, G, D);
    const int64_t units = keys ? (n_kv + G - 1) / G : n_kv;
    v.sinks = static_cast<uint16_t*>(alloc(static_cast<size_t>(hkv * S * D) * 2));
    v.sinks_head_stride = static_cast<size_t>(S * D);
    v.ring = static_cast<uint16_t*>(alloc(static_cast<size_t>(hkv * v.ring_cap * D) * 2));
    v.ring_head_stride = static_cast<size_t>(v.ring_cap * D);
    v.packed = static_cast<uint8_t*>(alloc(static_cast<size_t>(hkv * units) * v.unit_bytes));
    v.packed_head_stride = static_cast<size_t>(units) * v.unit_bytes;
    const int64_t q_units = keys ? v.n_quant / G : v.n_quant;
    s.bytes_read = static_cast<uint64_t>(hkv) * (static_cast<uint64_t>(q_units) * v.unit_bytes +
                                                 static_cast<uint64_t>(n_kv - v.n_quant) * static_cast<uint64_t>(D) * 2);
    return s;
}

json bench_attention(int sm_count, double copy_gbps) {
    const int64_t H = 32, HKV = 32, D = 128;
    const int G = 32, S = 4;
    json out = json::array();
    std::printf("\ndecode attention (Llama-2-7B heads: 32 x 128, one query token, batch 1 per layer)\n");
    std::printf("%-14s %8s %12s %10s %12s %10s\n", "cache", "context", "bytes/layer", "us/layer", "GB/s", "% of copy");
    for (const char* name : {"k2v2", "k4v4", "balanced-like", "fp16"})
        for (int64_t n_kv : {int64_t{4096}, int64_t{16384}, int64_t{32768}}) {
            const KvProfile prof = std::string(name) == "balanced-like" ? balanced_like(32)
                                   : std::string(name) == "k2v2"       ? uniform_kv_profile(32, 2, 2)
                                   : std::string(name) == "k4v4"       ? uniform_kv_profile(32, 4, 4)
                                                                       : uniform_kv_profile(32, 16, 16);
            // Enough layers that the working set is far beyond L2 (each launch reads cold data).
            std::vector<BenchSide> ks, vs;
            uint64_t total = 0;
            for (uint32_t il = 0; il < 32 && (il < 4 || total < (uint64_t{1} << 30)); ++il) {
                const KvLayerBits& lb = prof.layers[il];
                ks.push_back(make_bench_side(true, lb.k_bits, lb.k_window_ratio, n_kv, HKV, D, G, S));
                vs.push_back(make_bench_side(false, lb.v_bits, lb.v_window_ratio, n_kv, HKV, D, G, S));
                total += ks.back().bytes_read + vs.back().bytes_read;
            }
            const auto L = static_cast<int>(ks.size());
            std::vector<FlashSeq> seqs(static_cast<size_t>(L));
            for (int il = 0; il < L; ++il) {
                seqs[static_cast<size_t>(il)].k = ks[static_cast<size_t>(il)].view;
                seqs[static_cast<size_t>(il)].v = vs[static_cast<size_t>(il)].view;
                seqs[static_cast<size_t>(il)].n_kv = n_kv;
                seqs[static_cast<size_t>(il)].n_rows = 1;
            }
            FlashSeq* dseqs = nullptr;
            FlashWork* dwork = nullptr;
            float *q = nullptr, *o = nullptr, *pacc = nullptr, *pml = nullptr;
            int32_t* pos = nullptr;
            const int64_t splits = std::max<int64_t>(1, (4 * sm_count + HKV - 1) / HKV);
            const int64_t split_tokens = ((n_kv + splits - 1) / splits + 31) / 32 * 32;
            const int32_t n_splits = static_cast<int32_t>((n_kv + split_tokens - 1) / split_tokens);
            CU(cudaMalloc(&dseqs, seqs.size() * sizeof(FlashSeq)));
            CU(cudaMemcpy(dseqs, seqs.data(), seqs.size() * sizeof(FlashSeq), cudaMemcpyHostToDevice));
            const FlashWork w{0, 0, 1};
            CU(cudaMalloc(&dwork, sizeof w));
            CU(cudaMemcpy(dwork, &w, sizeof w, cudaMemcpyHostToDevice));
            CU(cudaMalloc(&q, static_cast<size_t>(H * D) * 4));
            CU(cudaMemset(q, 0, static_cast<size_t>(H * D) * 4));
            CU(cudaMalloc(&o, static_cast<size_t>(H * D) * 4));
            CU(cudaMalloc(&pacc, static_cast<size_t>(H * D * n_splits) * 4));
            CU(cudaMalloc(&pml, static_cast<size_t>(H * 2 * n_splits) * 4));
            const auto last = static_cast<int32_t>(n_kv - 1);
            CU(cudaMalloc(&pos, 4));
            CU(cudaMemcpy(pos, &last, 4, cudaMemcpyHostToDevice));
            FlashAttentionParams p;
            p.q = q;
            p.q_stride = static_cast<size_t>(H * D);
            p.out = o;
            p.out_stride = p.q_stride;
            p.q_pos = pos;
            p.work = dwork;
            p.n_seqs = 1;
            p.n_work = 1;
            p.n_rows_total = 1;
            p.n_head = H;
            p.n_head_kv = HKV;
            p.head_dim = p.head_dim_v = D;
            p.scale = 0.088f;
            p.n_splits = n_splits;
            p.split_tokens = split_tokens;
            p.partial_acc = pacc;
            p.partial_ml = pml;
            auto pass = [&](int il) {
                p.seqs = dseqs + il;
                const char* msg = cuda::flash_attention(p, nullptr);
                if (msg) {
                    std::fprintf(stderr, "%s\n", msg);
                    std::exit(1);
                }
            };
            for (int il = 0; il < L; ++il) pass(il);  // warm-up
            CU(cudaDeviceSynchronize());
            const int rounds = 5;
            Timer t;
            t.start();
            for (int r = 0; r < rounds; ++r)
                for (int il = 0; il < L; ++il) pass(il);
            const double ms = t.stop_ms();
            CU(cudaGetLastError());
            const double us_layer = ms * 1e3 / (rounds * L);
            const double gbps = static_cast<double>(total) * rounds / (ms * 1e-3) / 1e9;
            std::printf("%-14s %8lld %12.0f %10.1f %12.1f %9.1f%%\n", name, static_cast<long long>(n_kv),
                        static_cast<double>(total) / L, us_layer, gbps, 100.0 * gbps / copy_gbps);
            out.push_back({{"cache", name}, {"context", n_kv}, {"layers_cycled", L}, {"bytes_per_layer", total / static_cast<uint64_t>(L)},
                           {"us_per_layer", us_layer}, {"gbps", gbps}, {"fraction_of_copy", gbps / copy_gbps}});
            for (auto* side : {&ks, &vs})
                for (auto& s : *side)
                    for (void* a : s.allocs) cudaFree(a);
            cudaFree(dseqs);
            cudaFree(dwork);
            cudaFree(q);
            cudaFree(o);
            cudaFree(pacc);
            cudaFree(pml);
            cudaFree(pos);
        }
    return out;
}

// ---------------------------------------------------------------------------------------
// A Llama-2-7B-shaped GGUF (4096 wide, 32 heads x 128, FFN 11008, vocab 32000) with random
// Q8_0 weights.
bool write_synthetic_model(const std::string& path, uint32_t layers) {
    const uint64_t E = 4096, F = 11008, V = 32000;
    std::mt19937_64 rng(7);
    auto q8 = [&](uint64_t rows, uint64_t cols) {
        std::vector<uint8_t> b(rows * cols / 32 * 34);
        const uint16_t d = fp32_to_fp16(1.0f / (64.0f * std::sqrt(static_cast<float>(cols))));
        for (size_t o = 0; o < b.size(); o += 34) {
            std::memcpy(&b[o], &d, 2);
            for (size_t i = 0; i < 32; i += 8) {
                const uint64_t r = rng();
                std::memcpy(&b[o + 2 + i], &r, 8);
            }
        }
        return b;
    };
    kvmix_test::GgufBuilder g;
    g.kv_string("general.architecture", "llama")
        .kv_u32("llama.context_length", 32768)
        .kv_u32("llama.embedding_length", static_cast<uint32_t>(E))
        .kv_u32("llama.block_count", layers)
        .kv_u32("llama.feed_forward_length", static_cast<uint32_t>(F))
        .kv_u32("llama.attention.head_count", 32)
        .kv_u32("llama.attention.head_count_kv", 32)
        .kv_f32("llama.attention.layer_norm_rms_epsilon", 1e-5f)
        .kv_f32("llama.rope.freq_base", 10000.0f);
    g.tensor("token_embd.weight", 8, {E, V}, q8(V, E));
    g.tensor_f32("output_norm.weight", {E}, 1.0f);
    g.tensor("output.weight", 8, {E, V}, q8(V, E));
    for (uint32_t i = 0; i < layers; ++i) {
        const std::string b = "blk." + std::to_string(i) + ".";
        g.tensor_f32(b + "attn_norm.weight", {E}, 1.0f);
        for (const char* t : {"attn_q", "attn_k", "attn_v", "attn_output"}) g.tensor(b + t + ".weight", 8, {E, E}, q8(E, E));
        g.tensor_f32(b + "ffn_norm.weight", {E}, 1.0f);
        g.tensor(b + "ffn_gate.weight", 8, {E, F}, q8(F, E));
        g.tensor(b + "ffn_up.weight", 8, {E, F}, q8(F, E));
        g.tensor(b + "ffn_down.weight", 8, {F, E}, q8(E, F));
    }
    // Written under a temporary name first: a run killed while writing leaves no file that
    // a later run would take for a complete model.
    const std::string tmp = path + ".partial";
    if (!g.write(tmp)) return false;
    std::error_code ec;
    std::filesystem::rename(tmp, path, ec);
    return !ec;
}

// True if `path` holds the synthetic model write_synthetic_model makes with `layers` layers.
bool is_synthetic_model(const std::string& path, uint32_t layers) {
    if (!std::filesystem::exists(path)) return false;
    auto m = Model::load(path);
    return m && (*m)->hparams().n_layer == layers && (*m)->hparams().n_embd == 4096 && (*m)->hparams().n_vocab == 32000;
}

// Decode tok/s of `batch` sequences at `ctx` tokens each; -1 if they do not fit.
double decode_tok_s(GpuModel& gm, const KvProfile& prof, int batch, int64_t ctx, int steps, uint64_t* seq_bytes) {
    std::vector<std::unique_ptr<GpuSequence>> seqs;
    for (int b = 0; b < batch; ++b) {
        auto s = gm.new_sequence(GpuSequenceConfig{ctx + steps + 8, prof});
        if (!s) {
            std::printf("  batch %d does not fit: %s\n", batch, s.status().message().c_str());
            return -1.0;
        }
        if (!(*s)->fill_for_benchmark(ctx).ok()) return -1.0;
        seqs.push_back(std::move(*s));
    }
    if (seq_bytes) *seq_bytes = seqs[0]->allocated_bytes();
    const int64_t V = 32000;
    std::vector<std::vector<float>> logits(static_cast<size_t>(batch), std::vector<float>(static_cast<size_t>(V) * 2));
    std::vector<int32_t> tok(static_cast<size_t>(batch), 1);
    auto step = [&]() {
        std::vector<GpuBatchItem> items;
        for (int b = 0; b < batch; ++b)
            items.push_back({seqs[static_cast<size_t>(b)].get(), std::span<const int32_t>(&tok[static_cast<size_t>(b)], 1), 1,
                             logits[static_cast<size_t>(b)].data()});
        const Status st = gm.forward(items);
        if (!st.ok()) {
            std::fprintf(stderr, "forward failed: %s\n", st.message().c_str());
            std::exit(1);
        }
    };
    step();
    step();
    const auto t0 = std::chrono::steady_clock::now();
    for (int i = 0; i < steps; ++i) step();
    const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    return batch * steps / s;
}

json bench_decode(const std::string& model_path, const char* label, uint32_t n_layer_hint, int64_t ctx) {
    json out;
    auto m = Model::load(model_path);
    if (!m) {
        std::printf("%s: cannot load: %s\n", label, m.status().message().c_str());
        return {{"error", m.status().message()}};
    }
    auto gm = upload_model_cuda(*m, GpuModelConfig{0, 64});
    if (!gm) {
        std::printf("%s: %s\n", label, gm.status().message().c_str());
        return {{"error", gm.status().message()}};
    }
    const uint32_t L = (*m)->hparams().n_layer;
    (void)n_layer_hint;
    std::printf("\n%s: %u layers, weights %.2f GB on %s; decode at %lld context\n", label, L, (*gm)->weights().bytes() / 1e9,
                (*gm)->weights().device().name.c_str(), static_cast<long long>(ctx));
    std::printf("%-14s %6s %12s %14s %10s\n", "cache", "batch", "tok/s", "KV GB/seq", "vs fp16");
    out["weight_bytes"] = (*gm)->weights().bytes();
    out["context"] = ctx;
    json rows = json::array();
    std::vector<double> fp16_speed;
    for (const KvProfile& prof : {uniform_kv_profile(L, 16, 16), balanced_like(L)}) {
        int bi = 0;
        for (int batch : {1, 8, 16}) {
            uint64_t bytes = 0;
            const double tps = decode_tok_s(**gm, prof, batch, ctx, 8, &bytes);
            const bool is_fp16 = prof.is_fp16();
            if (is_fp16) fp16_speed.push_back(tps);
            const double ratio = !is_fp16 && fp16_speed.size() > static_cast<size_t>(bi) && fp16_speed[static_cast<size_t>(bi)] > 0
                                     ? tps / fp16_speed[static_cast<size_t>(bi)]
                                     : 1.0;
            std::printf("%-14s %6d %12.1f %14.3f %9.2fx\n", is_fp16 ? "fp16" : "balanced-like", batch, tps, bytes / 1e9, ratio);
            rows.push_back({{"cache", is_fp16 ? "fp16" : "balanced-like"}, {"batch", batch}, {"tok_s", tps}, {"kv_bytes_per_seq", bytes},
                            {"speedup_vs_fp16", ratio}});
            ++bi;
        }
    }
    out["decode"] = rows;
    return out;
}

json bench_maxbatch(const std::string& model_path, int64_t ctx, double budget_gib) {
    auto m = Model::load(model_path);
    if (!m) return {{"error", m.status().message()}};
    auto gm = upload_model_cuda(*m, GpuModelConfig{0, 64});
    if (!gm) return {{"error", gm.status().message()}};
    const uint32_t L = (*m)->hparams().n_layer;
    const auto budget = static_cast<uint64_t>(budget_gib * (1u << 30));
    json out = {{"budget_bytes", budget}, {"context", ctx}};
    std::printf("\nlargest batch whose KV caches fit %.0f GiB at %lld context\n", budget_gib, static_cast<long long>(ctx));
    int fp16_max = 0;
    for (const KvProfile& prof : {uniform_kv_profile(L, 16, 16), balanced_like(L)}) {
        std::vector<std::unique_ptr<GpuSequence>> seqs;
        uint64_t used = 0;
        while (true) {
            auto s = (*gm)->new_sequence(GpuSequenceConfig{ctx, prof});
            if (!s || used + (*s)->allocated_bytes() > budget) break;
            used += (*s)->allocated_bytes();
            seqs.push_back(std::move(*s));
        }
        const int n = static_cast<int>(seqs.size());
        const bool is_fp16 = prof.is_fp16();
        if (is_fp16) fp16_max = n;
        const double ratio = is_fp16 || fp16_max == 0 ? 1.0 : static_cast<double>(n) / fp16_max;
        std::printf("  %-14s max batch %4d (%.2f GB per sequence)  %.2fx fp16\n", is_fp16 ? "fp16" : "balanced-like", n,
                    n ? static_cast<double>(used) / n / 1e9 : 0.0, ratio);
        out[is_fp16 ? "fp16" : "balanced_like"] = {{"max_batch", n}, {"bytes_per_seq", n ? used / static_cast<uint64_t>(n) : 0},
                                                   {"ratio_vs_fp16", ratio}};
    }
    return out;
}

}  // namespace

int main(int argc, char** argv) {
    std::string out_path = "gpu-bench.json", work = ".", model_path, only = "copy,attn,decode,maxbatch", synth;
    uint32_t layers = 32;
    double budget = 64.0;
    for (int i = 1; i + 1 < argc; i += 2) {
        const std::string a = argv[i], v = argv[i + 1];
        if (a == "--out") out_path = v;
        else if (a == "--work") work = v;
        else if (a == "--layers") layers = static_cast<uint32_t>(std::stoul(v));
        else if (a == "--model") model_path = v;
        else if (a == "--budget-gib") budget = std::stod(v);
        else if (a == "--only") only = v;
        else if (a == "--synthetic") synth = v;
        else {
            std::fprintf(stderr, "unknown option %s\n", a.c_str());
            return 2;
        }
    }
    const CudaAvailability avail = cuda_availability();
    if (!avail.available) {
        std::printf("skipped: %s\n", avail.reason.c_str());
        return 77;
    }
    auto devs = list_cuda_devices();
    json j;
    j["device"] = {{"name", (*devs)[0].name}, {"total_bytes", (*devs)[0].total_bytes}, {"sm_count", (*devs)[0].sm_count},
                   {"cc", std::to_string((*devs)[0].cc_major) + "." + std::to_string((*devs)[0].cc_minor)}};
    std::printf("device: %s, %d SMs, %.1f GB\n", (*devs)[0].name.c_str(), (*devs)[0].sm_count, (*devs)[0].total_bytes / 1e9);
    auto want = [&](const char* what) { return only.find(what) != std::string::npos; };
    auto flush = [&]() {
        FILE* f = std::fopen(out_path.c_str(), "w");
        if (f) {
            std::fputs(j.dump(2).c_str(), f);
            std::fclose(f);
        }
    };
    auto begin_section = [&](const char* key) {
        j[key] = {{"incomplete", true}};
        flush();
    };
    double copy_gbps = 1.0;
    if (want("copy") || want("attn")) {
        begin_section("copy");
        j["copy"] = bench_copy();
        copy_gbps = j["copy"]["gbps_read_plus_write"].get<double>();
        flush();
    }
    if (want("attn")) {
        begin_section("attention");
        j["attention"] = bench_attention((*devs)[0].sm_count, copy_gbps);
        flush();
    }
    const bool keep_synth = !synth.empty();
    if (!keep_synth) synth = (std::filesystem::path(work) / "synthetic-llama2-7b-q8_0.gguf").string();
    if (want("decode") || want("maxbatch") || want("synthetic")) {
        const auto t0 = std::chrono::steady_clock::now();
        if (keep_synth && is_synthetic_model(synth, layers)) {
            std::printf("\nsynthetic Llama-2-7B-shaped model: reusing %s\n", synth.c_str());
        } else {
            begin_section("synthetic_model");
            if (!write_synthetic_model(synth, layers)) {
                std::fprintf(stderr, "cannot write %s\n", synth.c_str());
                j["synthetic_model"] = {{"error", "cannot write " + synth}};
                flush();
                return 1;
            }
            const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
            std::printf("\nsynthetic Llama-2-7B-shaped model (%u layers, Q8_0) written in %.1f s\n", layers, s);
            j["synthetic_model"] = {{"layers", layers}, {"write_seconds", s}};
            flush();
        }
    }
    if (want("decode")) {
        begin_section("decode_synthetic");
        j["decode_synthetic"] = bench_decode(synth, "synthetic Llama-2-7B", layers, 8192);
        flush();
        if (!model_path.empty() && std::filesystem::exists(model_path)) {
            begin_section("decode_default_model");
            j["decode_default_model"] = bench_decode(model_path, "default model", 0, 8192);
        } else {
            std::printf("\ndefault model: skipped (file not present on this machine)\n");
            j["decode_default_model"] = {{"skipped", "model file not present"}};
        }
        flush();
    }
    if (want("maxbatch")) {
        begin_section("max_batch");
        j["max_batch"] = bench_maxbatch(synth, 8192, budget);
        flush();
    }
    if (!keep_synth) std::filesystem::remove(synth);
    flush();
    std::printf("\nJSON: %s\n", out_path.c_str());
    return 0;
}
