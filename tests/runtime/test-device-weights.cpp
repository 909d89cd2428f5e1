// Sharing one model's device weights between sessions, without a GPU: DeviceWeights runs
// with a fake uploader whose weights hand out fake execution contexts, so Session::create's
// GPU path (one upload per model and device, one context per session, no CPU cache) is
// exercised on any machine. tests/cuda/test-cuda-forward.cpp counts real uploads on a GPU.
#include <algorithm>
#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <new>
#include <string>
#include <vector>

#include "backend/device-weights.h"
#include "check.h"
#include "model/model.h"
#include "runtime/session.h"

using namespace kvmix;

// Bytes requested from operator new since the start: shows that a GPU session allocates no
// CPU cache (the only allocation big enough to see).
namespace {
std::atomic<uint64_t> g_new_bytes{0};
}

// Not inlined: GCC would otherwise see malloc() paired with operator delete (or operator new
// with free()) in the callers and warn about a mismatched deallocation.
[[gnu::noinline]] void* operator new(std::size_t n) {
    g_new_bytes.fetch_add(n, std::memory_order_relaxed);
    if (void* p = std::malloc(n ? n : 1)) return p;
    throw std::bad_alloc();
}
[[gnu::noinline]] void* operator new[](std::size_t n) { return ::operator new(n); }
[[gnu::noinline]] void operator delete(void* p) noexcept { std::free(p); }
[[gnu::noinline]] void operator delete[](void* p) noexcept { std::free(p); }
[[gnu::noinline]] void operator delete(void* p, std::size_t) noexcept { std::free(p); }
[[gnu::noinline]] void operator delete[](void* p, std::size_t) noexcept { std::free(p); }

namespace {

class FakeSequence final : public GpuSequence {
public:
    explicit FakeSequence(int64_t capacity) : capacity_(capacity) {}
    int64_t size() const override { return size_; }
    int64_t capacity() const override { return capacity_; }
    void truncate(int64_t n) override { size_ = std::min(size_, n); }
    uint64_t allocated_bytes() const override { return 0; }
    KvMemoryReport memory() const override {
        KvMemoryReport r;
        r.n_tokens = size_;
        r.capacity = capacity_;
        return r;
    }
    Status fill_for_benchmark(int64_t n_tokens) override {
        size_ = n_tokens;
        return {};
    }
    void advance(int64_t n) { size_ += n; }

private:
    int64_t capacity_;
    int64_t size_ = 0;
};

class FakeWeights;

// Commits the tokens and writes zero logits: enough to drive Session::eval.
class FakeModel final : public GpuModel {
public:
    FakeModel(std::shared_ptr<const FakeWeights> weights, int64_t max_batch, int64_t n_vocab)
        : weights_(std::move(weights)), max_batch_(max_batch), n_vocab_(n_vocab) {}
    const GpuWeights& weights() const override;
    Expected<std::unique_ptr<GpuSequence>> new_sequence(const GpuSequenceConfig& config) override {
        return std::unique_ptr<GpuSequence>(std::make_unique<FakeSequence>(config.n_ctx));
    }
    Status forward(std::span<const GpuBatchItem> items) override {
        for (const GpuBatchItem& it : items) {
            if (it.logits) std::fill(it.logits, it.logits + it.n_logits * n_vocab_, 0.0f);
            static_cast<FakeSequence*>(it.seq)->advance(static_cast<int64_t>(it.tokens.size()));
        }
        return {};
    }
    int64_t max_batch_tokens() const override { return max_batch_; }

private:
    std::shared_ptr<const FakeWeights> weights_;
    int64_t max_batch_, n_vocab_;
};

class FakeWeights final : public GpuWeights {
public:
    FakeWeights(int device, int64_t n_vocab) : n_vocab_(n_vocab) { info_.index = device; }
    const GpuDeviceInfo& device() const override { return info_; }
    uint64_t bytes() const override { return 1000; }
    Expected<std::unique_ptr<GpuModel>> new_model(int64_t max_batch_tokens) const override {
        ++contexts;
        return std::unique_ptr<GpuModel>(std::make_unique<FakeModel>(
            std::static_pointer_cast<const FakeWeights>(shared_from_this()), max_batch_tokens, n_vocab_));
    }
    mutable int contexts = 0;  // execution contexts made from these weights

private:
    GpuDeviceInfo info_;
    int64_t n_vocab_;
};

const GpuWeights& FakeModel::weights() const { return *weights_; }

// An uploader that counts its calls and fails while `fail` is set.
struct FakeUploader {
    int calls = 0;
    bool fail = false;
    DeviceWeights::Uploader fn() {
        return [this](std::shared_ptr<const Model> model, int device) -> Expected<std::shared_ptr<const GpuWeights>> {
            ++calls;
            if (fail) return error(ErrorCode::out_of_memory, "fake device is full");
            return std::shared_ptr<const GpuWeights>(std::make_shared<FakeWeights>(device, model->hparams().n_vocab));
        };
    }
};

std::shared_ptr<const Model> tiny() {
    auto m = Model::load(kvmix_test::data_dir() + "/models/tiny-llama-q8_0.gguf");
    if (!m) {
        std::fprintf(stderr, "%s\n", m.status().message().c_str());
        return nullptr;
    }
    return *m;
}

SessionConfig gpu_config(std::shared_ptr<DeviceWeights> weights, int gpu = 0) {
    SessionConfig cfg;
    cfg.n_ctx = 64;
    cfg.n_batch = 16;
    cfg.n_threads = 1;
    cfg.device = DeviceKind::cuda;
    cfg.gpu_index = gpu;
    cfg.gpu_weights = std::move(weights);
    return cfg;
}

}  // namespace

TEST_CASE("device weights: one upload per model and device, whatever the number of sessions") {
    auto model = tiny();
    REQUIRE(model != nullptr);
    FakeUploader up;
    auto shared = std::make_shared<DeviceWeights>(model, up.fn());
    std::vector<std::unique_ptr<Session>> sessions;
    for (int i = 0; i < 5; ++i) {
        auto s = Session::create(model, gpu_config(shared));
        REQUIRE_OK(s);
        CHECK((*s)->on_gpu());
        sessions.push_back(std::move(*s));
    }
    CHECK_EQ(shared->upload_count(), 1);
    CHECK_EQ(up.calls, 1);
    const GpuWeights* first = sessions[0]->gpu_weights();
    REQUIRE(first != nullptr);
    for (const auto& s : sessions) CHECK(s->gpu_weights() == first);
    // Each session has an execution context of its own over the one copy.
    CHECK_EQ(static_cast<const FakeWeights*>(first)->contexts, 5);

    // The sessions run on it: tokens go through the (fake) device forward.
    const std::vector<int32_t> prompt = {1, 2, 3, 4, 5};
    std::vector<float> logits;
    REQUIRE_OK(sessions[2]->eval(prompt, &logits));
    CHECK_EQ(sessions[2]->n_past(), 5);
    CHECK_EQ(sessions[2]->kv_memory().n_tokens, 5);
    CHECK_EQ(sessions[2]->n_ctx(), 64);

    // Another device is another upload; asking again for either uploads nothing.
    auto other = Session::create(model, gpu_config(shared, 1));
    REQUIRE_OK(other);
    CHECK((*other)->gpu_weights() != first);
    CHECK_EQ((*other)->gpu_weights()->device().index, 1);
    REQUIRE_OK(shared->get(0));
    REQUIRE_OK(shared->get(1));
    CHECK_EQ(shared->upload_count(), 2);
    CHECK(*shared->get(0) == *shared->get(0));
}

TEST_CASE("device weights: sessions keep their copy alive after the holder is gone") {
    auto model = tiny();
    REQUIRE(model != nullptr);
    FakeUploader up;
    auto shared = std::make_shared<DeviceWeights>(model, up.fn());
    auto s = Session::create(model, gpu_config(shared));
    REQUIRE_OK(s);
    std::unique_ptr<Session> session = std::move(*s);
    std::weak_ptr<const GpuWeights> copy = *shared->get(0);
    std::weak_ptr<DeviceWeights> holder = shared;
    shared.reset();
    CHECK(holder.expired());  // sessions do not keep the holder (nor its other copies)
    CHECK(!copy.expired());
    std::vector<float> logits;
    REQUIRE_OK(session->eval(std::vector<int32_t>{7, 8}, &logits));
    session.reset();
    CHECK(copy.expired());
}

TEST_CASE("device weights: a failed upload is reported with its reason and retried later") {
    auto model = tiny();
    REQUIRE(model != nullptr);
    FakeUploader up;
    up.fail = true;
    auto shared = std::make_shared<DeviceWeights>(model, up.fn());
    auto s = Session::create(model, gpu_config(shared));
    REQUIRE(!s.ok());
    CHECK(s.status().code() == ErrorCode::out_of_memory);
    CHECK(s.status().message().find("cannot run on the CUDA device") != std::string::npos);
    CHECK(s.status().message().find("fake device is full") != std::string::npos);
    up.fail = false;
    auto again = Session::create(model, gpu_config(shared));
    REQUIRE_OK(again);
    CHECK_EQ(shared->upload_count(), 2);
    CHECK(!shared->get(-1).ok());
    CHECK_EQ(shared->upload_count(), 2);
}

TEST_CASE("device weights: weights of another model are refused") {
    auto a = tiny(), b = tiny();
    REQUIRE(a != nullptr && b != nullptr);
    FakeUploader up;
    auto shared = std::make_shared<DeviceWeights>(a, up.fn());
    auto s = Session::create(b, gpu_config(shared));
    REQUIRE(!s.ok());
    CHECK(s.status().code() == ErrorCode::invalid_argument);
    CHECK(s.status().message().find("another model") != std::string::npos);
    CHECK_EQ(up.calls, 0);
}

TEST_CASE("device weights: a GPU session allocates no CPU KV cache or scratch") {
    auto model = tiny();
    REQUIRE(model != nullptr);
    const int64_t n_ctx = model->hparams().context_length;
    SessionConfig cpu_cfg = gpu_config(nullptr);
    cpu_cfg.device = DeviceKind::cpu;
    cpu_cfg.n_ctx = n_ctx;
    uint64_t before = g_new_bytes.load();
    auto cpu = Session::create(model, cpu_cfg);
    REQUIRE_OK(cpu);
    const uint64_t cpu_bytes = g_new_bytes.load() - before;
    const uint64_t cache_bytes = (*cpu)->kv_memory().allocated_bytes;
    CHECK(cache_bytes > 0);
    CHECK(cpu_bytes >= cache_bytes);

    FakeUploader up;
    auto shared = std::make_shared<DeviceWeights>(model, up.fn());
    REQUIRE_OK(shared->get(0));  // the upload itself is not the session's allocation
    SessionConfig gpu_cfg = gpu_config(shared);
    gpu_cfg.n_ctx = n_ctx;
    before = g_new_bytes.load();
    auto gpu = Session::create(model, gpu_cfg);
    REQUIRE_OK(gpu);
    const uint64_t gpu_bytes = g_new_bytes.load() - before;
    std::printf("  CPU session: %llu bytes allocated (cache %llu); GPU session: %llu bytes\n",
                static_cast<unsigned long long>(cpu_bytes), static_cast<unsigned long long>(cache_bytes),
                static_cast<unsigned long long>(gpu_bytes));
    CHECK(gpu_bytes < cache_bytes / 8);
}

KVMIX_TEST_MAIN()
