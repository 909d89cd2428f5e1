// Bit allocation (rounding rule, exact average bits, separate K/V ranking, custom presets)
// and importance profile files (round trip, KvProfile compatibility, and a precise error
// for malformed, truncated, mismatched and future-version files, never a partial result).
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>
#include <unistd.h>

#include <nlohmann/json.hpp>

#include "check.h"
#include "model/model-file.h"
#include "profile/bit-allocation.h"
#include "profile/importance-profile.h"
#include "profile/sha256.h"

using namespace kvmix;

namespace {

std::vector<double> scores(uint32_t n, uint64_t seed) {
    std::vector<double> s(n);
    uint64_t x = seed * 2654435761u + 1;
    for (auto& v : s) {
        x = x * 6364136223846793005ull + 1442695040888963407ull;
        v = static_cast<double>(x >> 11) * 0x1.0p-53;
    }
    return s;
}

ImportanceProfile sample_profile(uint32_t n_layer) {
    ImportanceProfile p;
    p.model = {"llama", "test", n_layer, std::string(64, 'a')};
    p.calibration.sources = {"self-generated"};
    p.calibration.n_sequences = 2;
    p.calibration.n_tokens = 64;
    p.calibration.seq_len = 32;
    p.calibration.seed = 7;
    p.calibration.seconds = 1.5;
    p.calibration.mean_loss = 3.25;
    p.k_scores = scores(n_layer, 1);
    p.v_scores = scores(n_layer, 2);
    return p;
}

bool message_has(const Status& st, const std::string& what) { return st.message().find(what) != std::string::npos; }

}  // namespace

TEST_CASE("sha256 known answers") {
    Sha256 a;
    a.update("abc", 3);
    CHECK_EQ(a.finish_hex(), std::string("ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"));
    Sha256 b;
    const std::string s = "abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq";
    b.update(s.data(), 10);
    b.update(s.data() + 10, s.size() - 10);
    CHECK_EQ(b.finish_hex(), std::string("248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1"));
}

TEST_CASE("high-layer count: round half up") {
    CHECK_EQ(high_layer_count(0.2, 32), 6u);   // 6.4
    CHECK_EQ(high_layer_count(0.3, 32), 10u);  // 9.6
    CHECK_EQ(high_layer_count(0.1, 32), 3u);   // 3.2
    CHECK_EQ(high_layer_count(0.25, 2), 1u);   // 0.5 -> 1
    CHECK_EQ(high_layer_count(0.2, 18), 4u);   // 3.6
    CHECK_EQ(high_layer_count(0.0, 18), 0u);
    CHECK_EQ(high_layer_count(1.0, 18), 18u);
}

TEST_CASE("compact on 32 layers is exactly K2.3125 / V2; balanced K3.09375 / V2") {
    // compact: top 30% -> n_hi = floor(9.6 + 0.5) = 10 of 32 layers K3, the rest K2, all V2:
    // K (10·3 + 22·2)/32 = 2.3125.
    const KvPreset p = parse_preset("compact").value();
    const KvProfile kp = allocate(p, scores(32, 3), scores(32, 4));
    CHECK_EQ(kp.avg_k_bits(), 2.3125);
    CHECK_EQ(kp.avg_v_bits(), 2.0);
    int hi_k = 0;
    for (const KvLayerBits& l : kp.layers) {
        hi_k += l.k_bits == 3;
        CHECK_EQ(l.v_bits, 2);
        // The presets' storage: a fixed 64-token window (ratio 0), both sides rotated.
        CHECK(l.k_window_ratio == 0.0f && l.v_window_ratio == 0.0f);
    }
    CHECK_EQ(hi_k, 10);
    CHECK(kp.window_min == 64 && kp.rotate_keys && kp.rotate_values && kp.group_size == 64 && kp.sinks == 4);
    CHECK_EQ(kp.k_window(0, 8192), int64_t(64));
    CHECK_OK(validate(kp, 32));
    // balanced: top 10% -> n_hi = floor(3.2 + 0.5) = 3 of 32 layers K4, the rest K3, all V2:
    // K (3·4 + 29·3)/32 = 3.09375.
    const KvProfile bp = allocate(parse_preset("balanced").value(), scores(32, 3), scores(32, 4));
    CHECK_EQ(bp.avg_k_bits(), 3.09375);
    CHECK_EQ(bp.avg_v_bits(), 2.0);
    CHECK(bp.group_size == 64 && bp.window_min == 64 && bp.rotate_keys && bp.rotate_values);
    // apply_preset_storage gives per-layer bits from elsewhere the same storage.
    KvProfile other = uniform_kv_profile(32, 2, 2);
    apply_preset_storage(p, other);
    CHECK(other.window_min == 64 && other.rotate_keys && other.rotate_values && other.layers[5].k_window_ratio == 0.0f);
    // The paper's rule: n_hi = floor(6.4 + 0.5) = 6 -> K (6·3 + 26·2)/32 = 2.1875, V (6·4 + 26·2)/32 = 2.375.
    const KvProfile hp = allocate(parse_preset("custom:0.2:k3v4:k2v2").value(), scores(32, 3), scores(32, 4));
    CHECK_EQ(hp.avg_k_bits(), 2.1875);
    CHECK_EQ(hp.avg_v_bits(), 2.375);
}

TEST_CASE("K and V are ranked separately, ties to the lower layer") {
    const std::vector<double> k{0.1, 0.9, 0.5, 0.9, 0.2}, v{0.8, 0.1, 0.1, 0.1, 0.7};
    const auto rk = rank_layers(k);
    CHECK_EQ(rk[0], 1u);
    CHECK_EQ(rk[1], 3u);
    CHECK_EQ(rk[2], 2u);
    const KvProfile p = allocate(parse_preset("custom:0.4:k4v8:k2v2").value(), k, v);  // n_hi = 2
    CHECK_EQ(p.layers[1].k_bits, 4);
    CHECK_EQ(p.layers[3].k_bits, 4);
    CHECK_EQ(p.layers[0].k_bits, 2);
    CHECK_EQ(p.layers[0].v_bits, 8);
    CHECK_EQ(p.layers[4].v_bits, 8);
    CHECK_EQ(p.layers[1].v_bits, 2);
}

TEST_CASE("preset names and custom specs") {
    for (const char* n : {"fp16", "high", "balanced", "compact", "custom:0.25:k4v4:k2v2"}) {
        CHECK(is_preset_name(n));
        CHECK_OK(parse_preset(n).status());
    }
    CHECK(!is_preset_name("k2v2"));
    for (const char* bad : {"custom", "custom:", "custom:x:k4v4:k2v2", "custom:1.5:k4v4:k2v2", "custom:0.2:k5v4:k2v2",
                            "custom:0.2:k4v4", "custom:0.2:k4v4:k2", "bogus"})
        CHECK(!parse_preset(bad).ok());
    const KvPreset fp = parse_preset("fp16").value();
    CHECK(!fp.needs_scores());
}

TEST_CASE("profile JSON round trip; the file is also a KvProfile (balanced)") {
    const ImportanceProfile p = sample_profile(8);
    const std::string text = to_json(p);
    auto back = parse_importance_profile(text, "t");
    REQUIRE_OK(back);
    CHECK_EQ(back->model.kv_weights_sha256, p.model.kv_weights_sha256);
    CHECK_EQ(back->calibration.seed, uint64_t{7});
    CHECK_EQ(back->calibration.sources.size(), size_t{1});
    for (size_t i = 0; i < 8; ++i) {
        CHECK_EQ(back->k_scores[i], p.k_scores[i]);
        CHECK_EQ(back->v_scores[i], p.v_scores[i]);
    }
    auto kp = parse_kv_profile_json(text, 8, "t");
    REQUIRE_OK(kp);
    const KvProfile want = allocate(parse_preset("balanced").value(), p.k_scores, p.v_scores);
    for (size_t i = 0; i < 8; ++i) {
        CHECK_EQ(kp->layers[i].k_bits, want.layers[i].k_bits);
        CHECK_EQ(kp->layers[i].v_bits, want.layers[i].v_bits);
    }
    const auto j = nlohmann::json::parse(text);
    CHECK(j["presets"].contains("high") && j["presets"].contains("compact"));
}

TEST_CASE("malformed, truncated, future and inconsistent profiles are precise errors") {
    const std::string good = to_json(sample_profile(4));
    auto err = [](const std::string& text) { return parse_importance_profile(text, "x").status(); };
    Status st = err(good.substr(0, good.size() / 2));
    CHECK(!st.ok() && message_has(st, "truncated"));
    CHECK(message_has(err("[1, 2]"), "must be an object"));
    auto edit = [&](auto&& fn) {
        auto j = nlohmann::json::parse(good);
        fn(j);
        return err(j.dump());
    };
    st = edit([](auto& j) { j["schema_version"] = 2; });
    CHECK(st.code() == ErrorCode::unsupported && message_has(st, "newer"));
    CHECK(message_has(edit([](auto& j) { j["format"] = "other"; }), "not an importance profile"));
    CHECK(message_has(edit([](auto& j) { j.erase("model"); }), "missing 'model'"));
    CHECK(message_has(edit([](auto& j) { j["model"].erase("kv_weights_sha256"); }), "model.kv_weights_sha256"));
    CHECK(message_has(edit([](auto& j) { j["model"]["kv_weights_sha256"] = "xyz"; }), "64 lower-case hex"));
    CHECK(message_has(edit([](auto& j) { j["scores"].erase(0); }), "3 entries for 4 layers"));
    CHECK(message_has(edit([](auto& j) { j["scores"][2]["k"] = -1.0; }), "scores[2].k"));
    CHECK(message_has(edit([](auto& j) { j["scores"][1]["layer"] = 5; }), "scores[1].layer"));
    CHECK(message_has(edit([](auto& j) { j["calibration"]["seed"] = "s"; }), "calibration.seed"));
    CHECK(!edit([](auto& j) { j["layers"][0]["k_bits"] = 5; }).ok());
    CHECK(!edit([](auto& j) { j["layers"].erase(0); }).ok());
}

TEST_CASE("--kv presets: stored profile lookup, missing and mismatched profiles") {
    namespace fs = std::filesystem;
    const fs::path dir = fs::temp_directory_path() / ("kvmix-test-profile-" + std::to_string(::getpid()));
    fs::remove_all(dir);
    fs::create_directories(dir);
    ::setenv("XDG_DATA_HOME", dir.c_str(), 1);
    auto file = ModelFile::open(kvmix_test::data_dir() + "/models/tiny-gemma3-q8_0.gguf");
    REQUIRE_OK(file);
    auto other = ModelFile::open(kvmix_test::data_dir() + "/models/tiny-llama-q8_0.gguf");
    REQUIRE_OK(other);
    const ModelIdentity id = model_identity(**file);
    CHECK_EQ(id.kv_weights_sha256, model_identity(**file).kv_weights_sha256);
    CHECK(id.kv_weights_sha256 != model_identity(**other).kv_weights_sha256);
    CHECK_EQ(id.n_layer, 6u);

    auto fp = preset_kv_profile("fp16", **file);  // needs no profile
    REQUIRE_OK(fp);
    CHECK(fp->is_fp16());
    auto missing = preset_kv_profile("balanced", **file);
    CHECK(!missing.ok() && message_has(missing.status(), "no importance profile for this model; run `kvmix profile -m"));

    ImportanceProfile p = sample_profile(6);
    p.model = id;
    REQUIRE_OK(save_importance_profile(p, stored_profile_path(id)));
    auto bal = preset_kv_profile("balanced", **file);
    REQUIRE_OK(bal);
    CHECK_EQ(bal->avg_k_bits(), (1 * 4 + 5 * 3) / 6.0);  // n_hi = round(0.6) = 1
    auto custom = preset_kv_profile("custom:0.5:k4v8:k2v4", **file);
    REQUIRE_OK(custom);
    CHECK_EQ(custom->avg_v_bits(), 6.0);

    // A profile of another model at this model's path, or a corrupt one, is refused whole.
    ImportanceProfile q = sample_profile(6);
    q.model = model_identity(**other);
    q.model.n_layer = 6;
    REQUIRE_OK(save_importance_profile(q, stored_profile_path(id)));
    auto mism = preset_kv_profile("balanced", **file);
    CHECK(!mism.ok() && message_has(mism.status(), "is for another model"));
    {
        std::ofstream out(stored_profile_path(id), std::ios::trunc);
        out << to_json(p).substr(0, 100);
    }
    auto trunc = preset_kv_profile("balanced", **file);
    CHECK(!trunc.ok() && message_has(trunc.status(), "truncated"));
    auto bad_path = preset_kv_profile("balanced", **file, (dir / "nope.json").string());
    CHECK(!bad_path.ok() && message_has(bad_path.status(), "cannot open"));
    fs::remove_all(dir);
}

KVMIX_TEST_MAIN()
