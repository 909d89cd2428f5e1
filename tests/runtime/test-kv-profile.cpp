// KvProfile: --kv spec parsing, profile JSON errors, windows, and the memory formulas of
// ../shared/KVMIX.md §3 checked against the numbers stated there.
#include "check.h"
#include "runtime/kv-profile.h"

using namespace kvmix;

TEST_CASE("kv profile: specs") {
    auto p = parse_kv_spec("k2v4", 32);
    REQUIRE_OK(p);
    CHECK_EQ(p->layers.size(), size_t(32));
    CHECK_EQ(p->layers[7].k_bits, 2);
    CHECK_EQ(p->layers[7].v_bits, 4);
    CHECK_CLOSE(p->layers[7].k_window_ratio, 0.1, 1e-7);
    CHECK_CLOSE(p->layers[7].v_window_ratio, 0.2, 1e-7);
    CHECK(parse_kv_spec("fp16", 4)->is_fp16());
    CHECK(!parse_kv_spec("k8v8", 4)->is_fp16());
    auto bad = parse_kv_spec("k5v2", 4);
    REQUIRE(!bad.ok());
    CHECK(bad.status().message().find("unknown --kv 'k5v2'") != std::string::npos);
    auto missing = parse_kv_spec("profile:/nonexistent/p.json", 4);
    CHECK(!missing.ok() && missing.status().message().find("cannot open KV profile") != std::string::npos);
}

TEST_CASE("kv profile: JSON with precise errors, never half-applied") {
    auto p = parse_kv_profile_json(R"({"name":"mix","group_size":64,"layers":[{"k_bits":3,"v_bits":4},{"k_bits":2,"v_bits":2}]})", 2, "test");
    REQUIRE_OK(p);
    CHECK_EQ(p->name, std::string("mix"));
    CHECK_EQ(p->group_size, 64);
    CHECK_CLOSE(p->avg_k_bits(), 2.5, 1e-12);
    CHECK_CLOSE(p->avg_v_bits(), 3.0, 1e-12);
    auto wrong_layers = parse_kv_profile_json(R"({"layers":[{"k_bits":3,"v_bits":4}]})", 2, "test");
    CHECK(!wrong_layers.ok() && wrong_layers.status().message().find("has 1 layers, the model has 2") != std::string::npos);
    auto bad_bits = parse_kv_profile_json(R"({"layers":[{"k_bits":5},{"k_bits":2}]})", 2, "test");
    CHECK(!bad_bits.ok() && bad_bits.status().message().find("layer 0: key bits must be 2, 3, 4, 8 or 16, got 5") != std::string::npos);
    auto not_json = parse_kv_profile_json("{", 2, "test");
    CHECK(!not_json.ok() && not_json.status().message().find("not valid JSON") != std::string::npos);
    auto bad_group = parse_kv_profile_json(R"({"group_size":48,"layers":[{},{}]})", 2, "test");
    CHECK(!bad_group.ok() && bad_group.status().message().find("group size must be 32, 64 or 128") != std::string::npos);
    CHECK(!p->rotate_keys && !p->rotate_values);
    auto rot = parse_kv_profile_json(R"({"rotation":"keys","layers":[{},{}]})", 2, "test");
    REQUIRE_OK(rot);
    CHECK(rot->rotate_keys && !rot->rotate_values && rotation_name(*rot) == "keys");
    auto bad_rot = parse_kv_profile_json(R"({"rotation":"diagonal","layers":[{},{}]})", 2, "test");
    CHECK(!bad_rot.ok() && bad_rot.status().message() == "KV profile test: KV rotation must be none, keys, values or both, got 'diagonal'");
    auto rot_type = parse_kv_profile_json(R"({"rotation":true,"layers":[{},{}]})", 2, "test");
    CHECK(!rot_type.ok() && rot_type.status().message() == "KV profile test: 'rotation' must be a string");
}

TEST_CASE("kv profile: windows are clamped and rounded to whole groups") {
    KvProfile p = uniform_kv_profile(1, 2, 2);  // ratio 0.1
    p.window_min = 32;
    p.window_max = 1024;
    CHECK_EQ(p.k_window(0, 100), int64_t(32));     // 10 -> min 32
    CHECK_EQ(p.k_window(0, 1000), int64_t(128));   // 100 -> rounded up to 128
    CHECK_EQ(p.k_window(0, 100000), int64_t(1024));
    p.group_size = 128;
    CHECK_EQ(p.v_window(0, 1000), int64_t(128));
}

TEST_CASE("kv profile: memory formulas agree with KVMIX.md section 3") {
    // Llama-2-7B: 32 layers x 32 KV heads x 128 dims.
    const double fp16 = 32 * kv_fp16_bytes_per_token(32, 128, 128);
    CHECK_EQ(fp16, 512.0 * 1024);  // 512 KiB per token
    // Balanced K2.19/V2.38: 6 of 32 layers K3 V4, the rest K2 V2.
    auto per_token = [&](int group) {
        double total = 0;
        for (int i = 0; i < 32; ++i) {
            const bool hi = i < 6;
            total += kv_quantized_bytes_per_token(hi ? 3 : 2, hi ? 4 : 2, group, 32, 128, 128);
        }
        return total;
    };
    // KVMIX.md: ~105 KiB (4.87x) at G = 32, ~89 KiB (5.75x) at G = 64, ~81 KiB (6.3x) at G = 128.
    CHECK_CLOSE(per_token(32) / 1024, 105.0, 1.0);
    CHECK_CLOSE(fp16 / per_token(32), 4.87, 0.02);
    CHECK_CLOSE(per_token(64) / 1024, 89.0, 1.0);
    CHECK_CLOSE(fp16 / per_token(64), 5.75, 0.02);
    CHECK_CLOSE(per_token(128) / 1024, 81.0, 1.0);
    CHECK_CLOSE(fp16 / per_token(128), 6.3, 0.05);
    // Payload only: K 2.1875 / V 2.375 bits -> ~73 KiB (7.0x).
    const double payload = 32 * 32 * 128 * (2.1875 + 2.375) / 8.0;
    CHECK_CLOSE(payload / 1024, 73.0, 0.5);
    CHECK_CLOSE(fp16 / payload, 7.0, 0.02);
}

KVMIX_TEST_MAIN()
