// libFuzzer harness for session snapshots (Session::load), on the tiny llama fixture: the
// input is the snapshot file, loaded into a session with each kind of cache (dense fp16,
// dense fp32, KVmix with mixed widths). A refused snapshot must say why and leave the
// session empty; an accepted one must hold valid tokens within the context, save and load
// again to the same tokens, and let the session go on evaluating.
//
// With KVMIX_FUZZ_WRITE_SEEDS=<dir> in the environment the harness writes a real snapshot
// of each session kind into <dir> instead (run-fuzzers.sh seeds the corpus with them, and
// tests/fuzz/seeds/session holds a copy).
#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <string>
#include <vector>

#include "model/model.h"
#include "runtime/kv-profile.h"
#include "runtime/session.h"

namespace {

using kvmix::Session;

struct Target {
    const char* name;
    std::unique_ptr<Session> session;
};

std::string temp_path(const char* what) {
    const char* dir = std::getenv("TMPDIR");
    return std::string(dir && *dir ? dir : "/tmp") + "/kvmix-fuzz-session-" + std::to_string(getpid()) + what;
}

std::vector<Target>& targets() {
    static std::vector<Target> t = [] {
        auto model = kvmix::Model::load(KVMIX_FUZZ_MODEL);
        if (!model.ok()) {
            std::fprintf(stderr, "fuzz-session: %s\n", model.status().message().c_str());
            std::abort();
        }
        const uint32_t n_layer = (*model)->hparams().n_layer;
        kvmix::SessionConfig base;
        base.n_ctx = 128;
        base.n_batch = 32;
        base.n_threads = 1;
        kvmix::SessionConfig f32 = base;
        f32.kv_cache = kvmix::KvCacheType::f32;
        // Small windows so a seed of ~100 tokens has quantized groups in every layer.
        kvmix::SessionConfig mixed = base;
        mixed.kv_profile = kvmix::uniform_kv_profile(n_layer, 2, 4);
        mixed.kv_profile.layers.back() = {8, 3, 0.1f, 0.2f};
        mixed.kv_profile.window_min = 8;
        mixed.kv_profile.window_max = 32;
        mixed.kv_profile.sinks = 2;
        std::vector<Target> out;
        for (auto [name, cfg] : {std::pair{"f16", base}, std::pair{"f32", f32}, std::pair{"kvmix", mixed}}) {
            auto s = Session::create(*model, cfg);
            if (!s.ok()) {
                std::fprintf(stderr, "fuzz-session: %s session: %s\n", name, s.status().message().c_str());
                std::abort();
            }
            out.push_back({name, std::move(s).value()});
        }
        return out;
    }();
    return t;
}

std::vector<int32_t> some_tokens(int n, int32_t n_vocab) {
    std::vector<int32_t> t(static_cast<size_t>(n));
    for (int i = 0; i < n; ++i) t[static_cast<size_t>(i)] = (i * 7919 + 13) % n_vocab;
    return t;
}

void write_seeds(const std::string& dir) {
    for (Target& t : targets()) {
        Session& s = *t.session;
        s.truncate(0);
        const auto n_vocab = static_cast<int32_t>(s.model().hparams().n_vocab);
        if (!s.eval(some_tokens(100, n_vocab)).ok()) std::abort();
        const auto st = s.save(dir + "/" + t.name + ".session");
        if (!st.ok()) {
            std::fprintf(stderr, "fuzz-session: %s\n", st.message().c_str());
            std::abort();
        }
        s.truncate(0);
    }
}

bool write_file(const std::string& path, const uint8_t* data, size_t size) {
    FILE* f = std::fopen(path.c_str(), "wb");
    if (!f) return false;
    const bool ok = std::fwrite(data, 1, size, f) == size;
    return std::fclose(f) == 0 && ok;
}

void exercise(Session& s, const std::string& input, const std::string& resaved) {
    const auto st = s.load(input);
    if (!st.ok()) {
        if (st.message().empty()) __builtin_trap();
        if (s.n_past() != 0 || s.cache().size() != 0) __builtin_trap();  // refused: nothing kept
        return;
    }
    const int64_t n = s.n_past();
    if (n > s.n_ctx() || s.cache().size() != n) __builtin_trap();
    const auto n_vocab = static_cast<int32_t>(s.model().hparams().n_vocab);
    for (const int32_t id : s.tokens())
        if (id < 0 || id >= n_vocab) __builtin_trap();
    const std::vector<int32_t> tokens = s.tokens();
    if (!s.save(resaved).ok() || !s.load(resaved).ok() || s.tokens() != tokens) __builtin_trap();
    if (n < s.n_ctx()) {
        const int32_t next = 1;
        std::vector<float> logits;
        if (!s.eval({&next, 1}, &logits).ok() || s.n_past() != n + 1) __builtin_trap();
    }
    s.truncate(0);
}

}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
    if (const char* dir = std::getenv("KVMIX_FUZZ_WRITE_SEEDS"); dir && *dir) {
        write_seeds(dir);
        std::exit(0);
    }
    return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    static const std::string input = temp_path(".in"), resaved = temp_path(".out");
    if (!write_file(input, data, size)) __builtin_trap();
    for (Target& t : targets()) exercise(*t.session, input, resaved);
    std::remove(input.c_str());
    std::remove(resaved.c_str());
    return 0;
}
