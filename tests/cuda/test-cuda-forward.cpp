// The whole model on the GPU against the CPU path: tiny-fixture logits (every GGUF fixture,
// fp16 and KVmix caches, Qwen2's Q/K/V biases and Qwen3's per-head Q/K norm included), a batch
// of sequences equal to separate GPU runs, sessions sharing one weight upload, and greedy
// generation of 32 tokens on the default model identical to the CPU's.
// Without a CUDA device every case is skipped with the reason (failed under KVMIX_REQUIRE_GPU).
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <memory>
#include <string>
#include <vector>

#include <unistd.h>

#include "backend/device-weights.h"
#include "backend/device.h"
#include "check.h"
#include "gpu-required.h"
#include "model/model.h"
#include "model/model-paths.h"
#include "runtime/kv-profile.h"
#include "runtime/session.h"

using namespace kvmix;

namespace {

#define REQUIRE_DEVICE()                                                \
    do {                                                                \
        const CudaAvailability kvmix_a_ = cuda_availability();          \
        if (!kvmix_a_.available) SKIP_OR_FAIL_WITHOUT_GPU(kvmix_a_.reason); \
    } while (0)

size_t argmax(const std::vector<float>& x, size_t off, size_t n) {
    return static_cast<size_t>(std::max_element(x.begin() + static_cast<long>(off), x.begin() + static_cast<long>(off + n)) -
                               x.begin()) - off;
}

double nmse(const std::vector<float>& got, const std::vector<float>& want) {
    double e = 0, r = 0;
    for (size_t i = 0; i < want.size(); ++i) {
        e += (static_cast<double>(got[i]) - want[i]) * (static_cast<double>(got[i]) - want[i]);
        r += static_cast<double>(want[i]) * want[i];
    }
    return r > 0 ? e / r : e;
}

std::unique_ptr<Session> session(std::shared_ptr<const Model> m, DeviceKind dev, const KvProfile& profile, int64_t n_batch,
                                 std::shared_ptr<DeviceWeights> weights = nullptr) {
    SessionConfig cfg;
    cfg.n_ctx = 256;
    cfg.n_batch = n_batch;
    cfg.n_threads = 2;
    cfg.device = dev;
    cfg.kv_profile = profile;
    cfg.kv_profile.query_residual = true;  // the CPU side at its exact query arithmetic (the GPU dequantizes to fp32)
    cfg.gpu_weights = std::move(weights);
    auto s = Session::create(std::move(m), cfg);
    if (!s) {
        std::fprintf(stderr, "  %s\n", s.status().message().c_str());
        return nullptr;
    }
    return std::move(*s);
}

}  // namespace

TEST_CASE("cuda forward: every tiny GGUF fixture's logits match the CPU path (prefill and decode)") {
    REQUIRE_DEVICE();
    const char* fixtures[] = {"tiny-llama-f16.gguf",   "tiny-llama-q8_0.gguf",    "tiny-llama3-f32.gguf", "tiny-mistral-q8_0.gguf",
                              "tiny-gemma3-q8_0.gguf", "tiny-llama256-q4_k.gguf", "tiny-qwen2-q8_0.gguf", "tiny-qwen3-q8_0.gguf"};
    std::vector<int32_t> prompt;
    for (int i = 0; i < 40; ++i) prompt.push_back(1 + (i * 37) % 500);
    for (const char* f : fixtures) {
        auto m = Model::load(kvmix_test::data_dir() + "/models/" + f);
        REQUIRE(m.ok());
        std::vector<KvProfile> profiles = {KvProfile{}};
        if ((*m)->hparams().head_dim >= 32) {
            KvProfile p = uniform_kv_profile((*m)->hparams().n_layer, 2, 4);
            p.window_min = 8;
            p.window_max = 16;
            profiles.push_back(p);
            const int64_t D = (*m)->hparams().head_dim, DV = (*m)->hparams().head_dim_v;
            if ((D & (D - 1)) == 0 && (DV & (DV - 1)) == 0) {  // the KV rotation on both sides
                p.name = "k2v4-rotated";
                p.rotate_keys = p.rotate_values = true;
                profiles.push_back(p);
            }
        }
        for (const KvProfile& prof : profiles) {
            auto cpu = session(*m, DeviceKind::cpu, prof, 16);
            auto gpu = session(*m, DeviceKind::cuda, prof, 16);
            REQUIRE(cpu && gpu);
            std::vector<float> lc, lg, all_c, all_g;
            REQUIRE_OK(cpu->eval(prompt, nullptr, &all_c));
            REQUIRE_OK(gpu->eval(prompt, nullptr, &all_g));
            const double e = nmse(all_g, all_c);
            std::printf("  %s (%s): prefill logits nmse %.3g\n", f, prof.name.c_str(), e);
            CHECK(e < 1e-6);
            const size_t V = (*m)->hparams().n_vocab;
            for (size_t t = 0; t < prompt.size(); ++t) CHECK_EQ(argmax(all_g, t * V, V), argmax(all_c, t * V, V));
            for (int i = 0; i < 40; ++i) {  // decode: the KVmix cache quantizes groups on the way
                const std::vector<int32_t> tok = {static_cast<int32_t>(3 + i * 11 % 400)};
                REQUIRE_OK(cpu->eval(tok, &lc));
                REQUIRE_OK(gpu->eval(tok, &lg));
                CHECK(nmse(lg, lc) < 1e-4);
            }
            CHECK_EQ(gpu->kv_memory().n_tokens, cpu->kv_memory().n_tokens);
        }
    }
}

TEST_CASE("cuda forward: truncate, erase, save and load on the GPU against the CPU") {
    REQUIRE_DEVICE();
    auto m = Model::load(kvmix_test::data_dir() + "/models/tiny-llama-q8_0.gguf");
    REQUIRE(m.ok());
    const size_t V = (*m)->hparams().n_vocab;
    std::vector<int32_t> text;
    for (int i = 0; i < 60; ++i) text.push_back(1 + (i * 53) % 500);
    const std::vector<int32_t> next = {7};
    KvProfile mixed = uniform_kv_profile((*m)->hparams().n_layer, 2, 4);
    mixed.window_min = 8;
    mixed.window_max = 16;
    for (const KvProfile& prof : {KvProfile{}, mixed}) {
        // Truncate then re-evaluate: as on the CPU, the same logits as before the cut.
        auto gpu = session(*m, DeviceKind::cuda, prof, 16);
        auto cpu = session(*m, DeviceKind::cpu, prof, 16);
        REQUIRE(gpu && cpu);
        std::vector<float> lg, lc, again;
        REQUIRE_OK(gpu->eval(text, &lg));
        gpu->truncate(30);
        CHECK(gpu->n_past() <= 30);
        REQUIRE_OK(gpu->eval(std::span<const int32_t>(text).subspan(static_cast<size_t>(gpu->n_past())), &again));
        CHECK(nmse(again, lg) < 1e-6);

        // Erase [10, 25): the GPU recomputes the moved tokens, so it equals a fresh CPU
        // evaluation of the remaining text (the CPU's re-rotation approximates the same).
        REQUIRE_OK(gpu->erase(10, 25));
        CHECK_EQ(gpu->n_past(), int64_t(45));
        std::vector<int32_t> kept(text.begin(), text.begin() + 10);
        kept.insert(kept.end(), text.begin() + 25, text.end());
        CHECK(gpu->tokens() == kept);
        REQUIRE_OK(cpu->eval(kept));
        REQUIRE_OK(gpu->eval(next, &lg));
        REQUIRE_OK(cpu->eval(next, &lc));
        std::printf("  %s: after erase, GPU vs fresh CPU nmse %.3g\n", prof.name.c_str(), nmse(lg, lc));
        CHECK(nmse(lg, lc) < 1e-4);
        CHECK_EQ(argmax(lg, 0, V), argmax(lc, 0, V));

        // Save on the GPU (tokens only), load into a GPU and a CPU session; load the CPU's
        // full snapshot into a GPU session: each continues like the original.
        const std::string pg = "kvmix-cuda-gpu-" + std::to_string(::getpid()) + ".session";
        const std::string pc = "kvmix-cuda-cpu-" + std::to_string(::getpid()) + ".session";
        REQUIRE_OK(gpu->save(pg));
        REQUIRE_OK(cpu->save(pc));
        std::vector<float> want;
        REQUIRE_OK(cpu->eval(next, &want));
        auto g2 = session(*m, DeviceKind::cuda, prof, 16);
        auto c2 = session(*m, DeviceKind::cpu, prof, 16);
        auto g3 = session(*m, DeviceKind::cuda, prof, 16);
        REQUIRE(g2 && c2 && g3);
        REQUIRE_OK(g2->load(pg));
        REQUIRE_OK(c2->load(pg));
        REQUIRE_OK(g3->load(pc));
        CHECK(g2->tokens() == gpu->tokens() && c2->tokens() == gpu->tokens() && g3->tokens() == cpu->tokens());
        for (Session* s : {g2.get(), c2.get(), g3.get()}) {
            std::vector<float> got;
            REQUIRE_OK(s->eval(next, &got));
            CHECK(nmse(got, want) < 1e-4);
            CHECK_EQ(argmax(got, 0, V), argmax(want, 0, V));
        }
        std::remove(pg.c_str());
        std::remove(pc.c_str());
    }
}

TEST_CASE("cuda forward: a batch of 3 sequences in one pass equals 3 separate GPU runs") {
    REQUIRE_DEVICE();
    auto m = Model::load(kvmix_test::data_dir() + "/models/tiny-llama256-q4_k.gguf");
    REQUIRE(m.ok());
    auto gm = upload_model_cuda(*m, GpuModelConfig{0, 64});
    REQUIRE(gm.ok());
    const int64_t V = (*m)->hparams().n_vocab;
    const std::vector<std::vector<int32_t>> prompts = {{1, 5, 9, 200, 3}, {1, 77}, {1, 8, 8, 8, 9, 10, 11, 300, 301}};
    std::vector<std::vector<float>> sep(prompts.size(), std::vector<float>(static_cast<size_t>(V)));
    for (size_t s = 0; s < prompts.size(); ++s) {
        auto seq = (*gm)->new_sequence(GpuSequenceConfig{64, KvProfile{}});
        REQUIRE(seq.ok());
        const GpuBatchItem it{seq->get(), prompts[s], 1, sep[s].data()};
        REQUIRE_OK((*gm)->forward(std::span<const GpuBatchItem>(&it, 1)));
    }
    std::vector<std::unique_ptr<GpuSequence>> seqs;
    std::vector<std::vector<float>> bat(prompts.size(), std::vector<float>(static_cast<size_t>(V)));
    std::vector<GpuBatchItem> items;
    for (size_t s = 0; s < prompts.size(); ++s) {
        auto seq = (*gm)->new_sequence(GpuSequenceConfig{64, KvProfile{}});
        REQUIRE(seq.ok());
        seqs.push_back(std::move(*seq));
        items.push_back({seqs.back().get(), prompts[s], 1, bat[s].data()});
    }
    REQUIRE_OK((*gm)->forward(items));
    for (size_t s = 0; s < prompts.size(); ++s) CHECK(nmse(bat[s], sep[s]) < 1e-10);
}

TEST_CASE("cuda forward: sessions given one DeviceWeights share one upload and each matches the CPU") {
    REQUIRE_DEVICE();
    auto m = Model::load(kvmix_test::data_dir() + "/models/tiny-qwen2-q8_0.gguf");
    REQUIRE(m.ok());
    auto shared = std::make_shared<DeviceWeights>(*m);
    std::vector<std::unique_ptr<Session>> gpu;
    for (int i = 0; i < 4; ++i) {
        gpu.push_back(session(*m, DeviceKind::cuda, KvProfile{}, 8 + 8 * i, shared));
        REQUIRE(gpu.back() != nullptr);
    }
    CHECK_EQ(shared->upload_count(), 1);
    for (const auto& s : gpu) CHECK(s->gpu_weights() == gpu[0]->gpu_weights());
    CHECK(gpu[0]->gpu_weights()->bytes() > 0);
    auto own = session(*m, DeviceKind::cuda, KvProfile{}, 16);  // no DeviceWeights: an upload of its own
    REQUIRE(own != nullptr);
    CHECK(own->gpu_weights() != gpu[0]->gpu_weights());
    CHECK_EQ(shared->upload_count(), 1);

    auto cpu = session(*m, DeviceKind::cpu, KvProfile{}, 16);
    REQUIRE(cpu != nullptr);
    std::vector<int32_t> prompt;
    for (int i = 0; i < 24; ++i) prompt.push_back(1 + (i * 53) % 500);
    std::vector<float> want, got;
    REQUIRE_OK(cpu->eval(prompt, &want));
    for (auto& s : gpu) {  // interleaved use of the one copy
        REQUIRE_OK(s->eval(prompt, &got));
        CHECK(nmse(got, want) < 1e-6);
    }
    gpu.clear();
    std::weak_ptr<const GpuWeights> copy = *shared->get(0);
    CHECK_EQ(shared->upload_count(), 1);
    shared.reset();  // the last holder: the copy is freed
    CHECK(copy.expired());
}

TEST_CASE("cuda forward: greedy 32 tokens on the default model are identical to the CPU's") {
    REQUIRE_DEVICE();
    auto path = resolve_model_argument("default");
    if (!path) SKIP("the default model is not installed");
    auto m = Model::load(*path);
    REQUIRE(m.ok());
    auto cpu = session(*m, DeviceKind::cpu, KvProfile{}, 64);
    auto gpu = session(*m, DeviceKind::cuda, KvProfile{}, 64);
    REQUIRE(cpu && gpu);
    const std::vector<int32_t> prompt = {2, 818, 5279, 529, 7001, 563, 236743};
    std::vector<float> lc, lg;
    REQUIRE_OK(cpu->eval(prompt, &lc));
    REQUIRE_OK(gpu->eval(prompt, &lg));
    const size_t V = lc.size();
    std::vector<int32_t> tc, tg;
    for (int i = 0; i < 32; ++i) {
        tc.push_back(static_cast<int32_t>(argmax(lc, 0, V)));
        tg.push_back(static_cast<int32_t>(argmax(lg, 0, V)));
        REQUIRE_OK(cpu->eval(std::vector<int32_t>{tc.back()}, &lc));
        REQUIRE_OK(gpu->eval(std::vector<int32_t>{tg.back()}, &lg));
    }
    CHECK(tc == tg);
}

KVMIX_TEST_MAIN()
