// GgufFile: every metadata value type, nested arrays, typed getters and their errors,
// tensor views into the map, and the fixture models written by the gguf Python package.
#include <cstring>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "check.h"
#include "gguf-builder.h"
#include "io/gguf-file.h"

using kvmix::GgufFile;
using kvmix::GgufValueType;
using kvmix_test::GgufBuilder;

namespace {

template <class T>
std::vector<uint8_t> le(T v) {
    std::vector<uint8_t> out(sizeof(T));
    std::memcpy(out.data(), &v, sizeof(T));
    return out;
}

std::vector<uint8_t> cat(std::initializer_list<std::vector<uint8_t>> parts) {
    std::vector<uint8_t> out;
    for (const auto& p : parts) out.insert(out.end(), p.begin(), p.end());
    return out;
}

std::shared_ptr<const GgufFile> parse(const std::vector<uint8_t>& bytes, std::string* err = nullptr) {
    auto r = GgufFile::parse_bytes(bytes.data(), bytes.size());
    if (!r) {
        if (err) *err = r.status().message();
        return nullptr;
    }
    return *r;
}

}  // namespace

TEST_CASE("gguf: every scalar value type reads back") {
    GgufBuilder b;
    b.kv_raw("u8", 0, le<uint8_t>(250)).kv_raw("i8", 1, le<int8_t>(-7)).kv_raw("u16", 2, le<uint16_t>(65000))
        .kv_raw("i16", 3, le<int16_t>(-30000)).kv_raw("u32", 4, le<uint32_t>(4000000000u)).kv_raw("i32", 5, le<int32_t>(-2000000000))
        .kv_raw("f32", 6, le<float>(1.5f)).kv_raw("bool", 7, le<uint8_t>(1)).kv_string("str", "héllo")
        .kv_raw("u64", 10, le<uint64_t>(1ull << 40)).kv_raw("i64", 11, le<int64_t>(-(1ll << 40))).kv_raw("f64", 12, le<double>(-2.25));
    std::string err;
    auto f = parse(b.build(), &err);
    REQUIRE(f != nullptr);
    CHECK_EQ(f->metadata().size(), size_t(12));
    CHECK_EQ(f->get_int("u8").value(), 250);
    CHECK_EQ(f->get_int("i8").value(), -7);
    CHECK_EQ(f->get_int("u16").value(), 65000);
    CHECK_EQ(f->get_int("i16").value(), -30000);
    CHECK_EQ(f->get_int("u32").value(), 4000000000ll);
    CHECK_EQ(f->get_int("i32").value(), -2000000000);
    CHECK_EQ(f->get_float("f32").value(), 1.5);
    CHECK_EQ(f->get_bool("bool").value(), true);
    CHECK_EQ(f->get_string("str").value(), std::string("héllo"));
    CHECK_EQ(f->get_int("u64").value(), int64_t(1) << 40);
    CHECK_EQ(f->get_int("i64").value(), -(int64_t(1) << 40));
    CHECK_EQ(f->get_float("f64").value(), -2.25);
    CHECK_EQ(f->get_float("i32").value(), -2000000000.0);  // integers widen to numbers
}

TEST_CASE("gguf: nested arrays and typed array getters") {
    // [[1, 2], [3]] as an array of arrays of u32
    auto inner = [](std::vector<uint32_t> v) {
        std::vector<uint8_t> out = cat({le<uint32_t>(4), le<uint64_t>(v.size())});
        for (uint32_t x : v) out = cat({out, le<uint32_t>(x)});
        return out;
    };
    std::vector<uint8_t> nested = cat({le<uint32_t>(9), le<uint64_t>(2), inner({1, 2}), inner({3})});
    std::vector<uint8_t> strings = cat({le<uint32_t>(8), le<uint64_t>(2), le<uint64_t>(1), {'a'}, le<uint64_t>(0)});
    std::vector<uint8_t> floats = cat({le<uint32_t>(6), le<uint64_t>(2), le<float>(0.5f), le<float>(-1.0f)});
    GgufBuilder b;
    b.kv_raw("nested", 9, nested).kv_raw("strings", 9, strings).kv_raw("floats", 9, floats);
    auto f = parse(b.build());
    REQUIRE(f != nullptr);
    const auto* v = f->find("nested");
    REQUIRE(v != nullptr);
    CHECK(v->type == GgufValueType::array && v->elem_type == GgufValueType::array);
    REQUIRE(v->items.size() == 2);
    CHECK_EQ(v->items[0].items.size(), size_t(2));
    CHECK_EQ(v->items[1].items[0].u, uint64_t(3));
    auto s = f->get_string_array("strings");
    REQUIRE_OK(s);
    CHECK(*s == (std::vector<std::string>{"a", ""}));
    auto fl = f->get_float_array("floats");
    REQUIRE_OK(fl);
    CHECK(*fl == (std::vector<double>{0.5, -1.0}));
    auto wrong = f->get_string_array("floats");
    REQUIRE(!wrong.ok());
    CHECK_EQ(wrong.status().message(), std::string("metadata key 'floats' is array of f32, expected array of string"));
    auto missing = f->get_int("nope");
    CHECK_EQ(missing.status().message(), std::string("missing metadata key 'nope'"));
}

TEST_CASE("gguf: tensor views point at their bytes") {
    std::vector<uint8_t> a(4 * 6), c(2 * 32);
    for (size_t i = 0; i < a.size(); ++i) a[i] = uint8_t(i);
    for (size_t i = 0; i < c.size(); ++i) c[i] = uint8_t(200 - i);
    GgufBuilder b;
    b.kv_string("general.architecture", "llama").tensor("a", 0, {3, 2}, a).tensor("c", 1, {32}, c);
    const auto bytes = b.build();
    auto f = parse(bytes);
    REQUIRE(f != nullptr);
    REQUIRE(f->tensors().size() == 2);
    const auto* ta = f->find_tensor("a");
    const auto* tc = f->find_tensor("c");
    REQUIRE(ta && tc);
    CHECK_EQ(ta->n_bytes, uint64_t(24));
    CHECK_EQ(ta->ne[0], uint64_t(3));
    CHECK_EQ(ta->ne[1], uint64_t(2));
    CHECK_EQ(ta->shape_string(), std::string("[3, 2]"));
    CHECK(std::memcmp(ta->data, a.data(), a.size()) == 0);
    CHECK(std::memcmp(tc->data, c.data(), c.size()) == 0);
    CHECK_EQ(ta->offset % 32, uint64_t(0));
    CHECK_EQ(tc->data - bytes.data(), static_cast<std::ptrdiff_t>(tc->offset));
}

TEST_CASE("gguf: errors name what is wrong") {
    std::string err;
    std::vector<uint8_t> bad_magic = {'G', 'G', 'U', 'X', 3, 0, 0, 0};
    CHECK(parse(bad_magic, &err) == nullptr);
    CHECK_EQ(err, std::string("not a GGUF file (bad magic)"));

    auto v1 = GgufBuilder().build();
    v1[4] = 1;
    CHECK(parse(v1, &err) == nullptr);
    CHECK_EQ(err, std::string("unsupported GGUF version 1 (supported: 2, 3)"));

    auto truncated = GgufBuilder().kv_string("general.name", "abcdef").build();
    truncated.resize(truncated.size() - 3);
    CHECK(parse(truncated, &err) == nullptr);
    CHECK(err.find("metadata key 'general.name'") != std::string::npos);
    CHECK(err.find("truncated file") != std::string::npos);

    auto past_end = GgufBuilder().tensor_f32("w", {4}).build();
    past_end.resize(past_end.size() - 32);  // drop the tensor's data
    CHECK(parse(past_end, &err) == nullptr);
    CHECK(err.find("tensor 'w': data range past end of file") != std::string::npos);

    auto dup = GgufBuilder().kv_u32("k", 1).kv_u32("k", 2).build();
    CHECK(parse(dup, &err) == nullptr);
    CHECK_EQ(err, std::string("duplicate metadata key 'k'"));

    auto bad_type = GgufBuilder().tensor("t", 77, {32}, std::vector<uint8_t>(64)).build();
    CHECK(parse(bad_type, &err) == nullptr);
    CHECK_EQ(err, std::string("tensor 't': unknown tensor type 77"));

    auto bad_row = GgufBuilder().tensor("q", 8, {33}, std::vector<uint8_t>(68)).build();
    CHECK(parse(bad_row, &err) == nullptr);
    CHECK_EQ(err, std::string("tensor 'q': row length 33 is not a multiple of the Q8_0 block size 32"));

    auto huge_array = GgufBuilder().kv_raw("a", 9, cat({le<uint32_t>(0), le<uint64_t>(1ull << 40)})).build();
    CHECK(parse(huge_array, &err) == nullptr);
    CHECK(err.find("over the limit") != std::string::npos);

    auto bad_align = GgufBuilder().kv_u32("general.alignment", 48).build();
    CHECK(parse(bad_align, &err) == nullptr);
    CHECK(err.find("'general.alignment' must be a power of two") != std::string::npos);
}

TEST_CASE("gguf: fixture models match the generator's manifest") {
    const std::string dir = kvmix_test::data_dir() + "/models";
    std::ifstream in(dir + "/MANIFEST.json");
    REQUIRE(in.good());
    const auto manifest = nlohmann::json::parse(in);
    int checked = 0;
    for (const auto& fx : manifest["fixtures"]) {
        if (fx["format"] != "gguf") continue;
        auto f = GgufFile::open(dir + "/" + fx["path"].get<std::string>());
        REQUIRE_OK(f);
        CHECK_EQ((*f)->version(), fx["gguf_version"].get<uint32_t>());
        CHECK_EQ((*f)->tensors().size(), fx["tensor_count"].get<size_t>());
        CHECK_EQ((*f)->metadata().size(), fx["kv_count"].get<size_t>());
        CHECK_EQ((*f)->get_string("general.architecture").value(), fx["architecture"].get<std::string>());
        const auto* embd = (*f)->find_tensor("token_embd.weight");
        REQUIRE(embd != nullptr);
        const auto shape = fx["token_embd_shape"].get<std::vector<uint64_t>>();
        CHECK_EQ(embd->ne[0], shape[0]);
        CHECK_EQ(embd->ne[1], shape[1]);
        for (const auto& t : (*f)->tensors()) CHECK(t.offset + t.n_bytes <= (*f)->file_size());
        ++checked;
    }
    CHECK(checked >= 5);
}

KVMIX_TEST_MAIN()
