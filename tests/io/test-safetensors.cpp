// SafetensorsFile / SafetensorsModel: views onto the right bytes, and every error path
// gives a precise message instead of a crash. Files are built in memory by the test.
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <string>
#include <vector>

#include "check.h"
#include "io/safetensors-file.h"
#include "st-builder.h"

using namespace kvmix;
using kvmix_test::make_safetensors;
namespace fs = std::filesystem;

namespace {

Expected<std::shared_ptr<const SafetensorsFile>> parse(const std::vector<uint8_t>& bytes,
                                                       const SafetensorsLimits& limits = {}) {
    return SafetensorsFile::parse_bytes(bytes.data(), bytes.size(), limits);
}

// Parses `header` (+ `data`) and checks it fails with a message containing `want`.
void expect_error(const std::string& header, const std::vector<uint8_t>& data, const std::string& want,
                  ErrorCode code = ErrorCode::format) {
    const auto r = parse(make_safetensors(header, data));
    if (r.ok()) {
        kvmix_test::report_failure(__FILE__, __LINE__, "expected failure '" + want + "' for header " + header);
        return;
    }
    if (r.status().message().find(want) == std::string::npos)
        kvmix_test::report_failure(__FILE__, __LINE__,
                                   "message '" + r.status().message() + "' lacks '" + want + "' (header " + header + ")");
    if (r.status().code() != code)
        kvmix_test::report_failure(__FILE__, __LINE__,
                                   std::string("wrong code ") + error_code_name(r.status().code()) + " for " + want);
}

bool contains(const Status& s, const std::string& want) { return s.message().find(want) != std::string::npos; }

const std::vector<uint8_t> k24(24, 0);  // room for a [2, 3] F32 tensor

}  // namespace

TEST_CASE("safetensors: F32/F16/BF16 views point at the right bytes with innermost-first shapes") {
    const std::vector<float> w = {1, 2, 3, 4, 5, 6};
    const std::vector<uint16_t> h = {0x3c00, 0x4000, 0x4200, 0x4400};  // f16 1, 2, 3, 4
    const std::vector<uint16_t> b = {0x3f80, 0x4000};                   // bf16 1, 2
    std::vector<uint8_t> data = kvmix_test::f32_bytes(w);
    const auto hb = kvmix_test::u16_bytes(h), bb = kvmix_test::u16_bytes(b);
    data.insert(data.end(), hb.begin(), hb.end());
    data.insert(data.end(), bb.begin(), bb.end());
    // Header order differs from data order on purpose.
    const std::string header =
        R"({"b.bf16":{"dtype":"BF16","shape":[1,2,1],"data_offsets":[32,36]},)"
        R"("__metadata__":{"format":"pt"},)"
        R"("w.f32":{"dtype":"F32","shape":[2,3],"data_offsets":[0,24]},)"
        R"("h.f16":{"dtype":"F16","shape":[4],"data_offsets":[24,32]}})";
    const auto bytes = make_safetensors(header, data);
    const auto r = parse(bytes);
    REQUIRE_OK(r);
    const SafetensorsFile& f = *r.value();
    CHECK_EQ(f.header_bytes(), header.size());
    CHECK_EQ(f.data_offset(), 8 + header.size());
    CHECK_EQ(f.metadata().at("format"), std::string("pt"));
    REQUIRE(f.tensors().size() == 3);
    CHECK_EQ(f.tensors()[0].name, std::string("w.f32"));  // data order
    CHECK_EQ(f.tensors()[1].name, std::string("h.f16"));
    CHECK_EQ(f.tensors()[2].name, std::string("b.bf16"));

    const TensorView* tw = f.find_tensor("w.f32");
    REQUIRE(tw);
    CHECK(tw->type == TensorType::f32);
    CHECK_EQ(tw->n_dims, 2u);
    CHECK_EQ(tw->ne[0], 3u);  // [2, 3] outermost-first -> ne = {3, 2}
    CHECK_EQ(tw->ne[1], 2u);
    CHECK_EQ(tw->ne[2], 1u);
    CHECK_EQ(tw->n_bytes, 24u);
    CHECK_EQ(tw->offset, 8 + header.size());
    CHECK(tw->data == bytes.data() + 8 + header.size());
    float row1[3];
    std::memcpy(row1, tw->data + 3 * 4, sizeof row1);  // row 1 = w[3..5]
    CHECK_EQ(row1[0], 4.0f);
    CHECK_EQ(row1[2], 6.0f);

    const TensorView* th = f.find_tensor("h.f16");
    REQUIRE(th);
    CHECK(th->type == TensorType::f16);
    CHECK_EQ(th->n_dims, 1u);
    CHECK_EQ(th->ne[0], 4u);
    CHECK_EQ(th->offset, 8 + header.size() + 24);
    uint16_t h2 = 0;
    std::memcpy(&h2, th->data + 2 * 2, 2);
    CHECK_EQ(h2, 0x4200);

    const TensorView* tb = f.find_tensor("b.bf16");
    REQUIRE(tb);
    CHECK(tb->type == TensorType::bf16);
    CHECK_EQ(tb->n_dims, 3u);
    CHECK_EQ(tb->ne[0], 1u);
    CHECK_EQ(tb->ne[1], 2u);
    CHECK_EQ(tb->ne[2], 1u);
    CHECK_EQ(tb->n_elements(), 2u);
    uint16_t b1 = 0;
    std::memcpy(&b1, tb->data + 2, 2);
    CHECK_EQ(b1, 0x4000);
    CHECK(f.find_tensor("nope") == nullptr);
}

TEST_CASE("safetensors: scalars, zero-sized tensors, 4 dims, padding and empty header") {
    const std::string header =
        R"({"s":{"dtype":"F32","shape":[],"data_offsets":[0,4]},)"
        R"("z":{"dtype":"F16","shape":[0,7],"data_offsets":[4,4]},)"
        R"("z2":{"dtype":"F16","shape":[3,0],"data_offsets":[4,4]},)"
        R"("d4":{"dtype":"BF16","shape":[1,2,1,3],"data_offsets":[4,16]}}        )";  // trailing pad
    const auto r = parse(make_safetensors(header, std::vector<uint8_t>(16, 0)));
    REQUIRE_OK(r);
    const TensorView* s = r.value()->find_tensor("s");
    REQUIRE(s);
    CHECK_EQ(s->n_dims, 1u);
    CHECK_EQ(s->n_elements(), 1u);
    const TensorView* z = r.value()->find_tensor("z");
    REQUIRE(z);
    CHECK_EQ(z->n_elements(), 0u);
    CHECK_EQ(z->ne[0], 7u);
    const TensorView* d4 = r.value()->find_tensor("d4");
    REQUIRE(d4);
    CHECK_EQ(d4->n_dims, 4u);
    CHECK_EQ(d4->ne[0], 3u);
    CHECK_EQ(d4->ne[3], 1u);
    CHECK_EQ(d4->ne[2], 2u);

    const auto neg_zero = parse(make_safetensors(R"({"n":{"dtype":"F32","shape":[-0],"data_offsets":[-0,0]}})"));
    REQUIRE_OK(neg_zero);
    CHECK_EQ(neg_zero.value()->tensors()[0].n_elements(), 0u);

    const auto empty = parse(make_safetensors("{}"));
    REQUIRE_OK(empty);
    CHECK(empty.value()->tensors().empty());
}

TEST_CASE("safetensors: header length errors") {
    for (size_t n = 0; n < 8; ++n) {
        const std::vector<uint8_t> bytes(n, 0);
        const auto r = SafetensorsFile::parse_bytes(n ? bytes.data() : nullptr, n);
        REQUIRE(!r.ok());
        CHECK(contains(r.status(), "truncated header length"));
    }
    const uint64_t past = 1000;
    auto r = parse(make_safetensors("{}", {}, &past));
    REQUIRE(!r.ok());
    CHECK(contains(r.status(), "header length 1000 runs past end of file (2 bytes follow the length)"));

    const uint64_t huge = ~uint64_t{0};
    r = parse(make_safetensors("{}", {}, &huge));
    REQUIRE(!r.ok());
    CHECK(contains(r.status(), "is over the limit of 104857600 bytes"));

    SafetensorsLimits small;
    small.max_header_bytes = 4;
    r = parse(make_safetensors(R"({"a":1}  )"), small);
    REQUIRE(!r.ok());
    CHECK(contains(r.status(), "header length 9 is over the limit of 4 bytes"));
}

TEST_CASE("safetensors: JSON-level errors") {
    expect_error("", {}, "header: invalid JSON");
    expect_error("{\"a\":", {}, "header: invalid JSON");
    expect_error("{\"a\":1} x", {}, "header: invalid JSON");
    expect_error("\xff\xfe", {}, "header: invalid JSON");
    expect_error("[1,2]", {}, "header must be a JSON object, got an array");
    expect_error("42", {}, "header must be a JSON object, got a number");
    expect_error(std::string(100, '[') + std::string(100, ']'), {}, "header: JSON nesting deeper than 64 levels");
    expect_error(R"({"a":{"dtype":"F32","shape":[2,3],"data_offsets":[0,24]},"a":{"dtype":"F32","shape":[2,3],"data_offsets":[0,24]}})",
                 k24, "duplicate tensor name 'a'");
    expect_error(R"({"a":{"dtype":"F32","dtype":"F16","shape":[2,3],"data_offsets":[0,24]}})", k24,
                 "header: duplicate key 'dtype' in 'a'");
    expect_error(R"({"__metadata__":{},"__metadata__":{}})", {}, "header: duplicate key '__metadata__'");
    expect_error(R"({"__metadata__":{"k":"1","k":"2"}})", {}, "header: duplicate key 'k' in '__metadata__'");
    expect_error(R"({"__metadata__":[]})", {}, "'__metadata__' must be an object of strings, got an array");
    expect_error(R"({"__metadata__":{"n":3}})", {}, "'__metadata__' key 'n' must be a string, got a number");
}

TEST_CASE("safetensors: per-tensor errors name the tensor") {
    expect_error(R"({"":{"dtype":"F32","shape":[2,3],"data_offsets":[0,24]}})", k24, "empty name");
    expect_error(R"({"t":[1]})", k24, "tensor 't': entry must be an object, got an array");
    expect_error(R"({"t":{"shape":[2,3],"data_offsets":[0,24]}})", k24, "tensor 't': missing 'dtype'");
    expect_error(R"({"t":{"dtype":4,"shape":[2,3],"data_offsets":[0,24]}})", k24, "tensor 't': 'dtype' must be a string");
    expect_error(R"({"t":{"dtype":"Q9","shape":[2,3],"data_offsets":[0,24]}})", k24, "tensor 't': unknown dtype 'Q9'");
    expect_error(R"({"t":{"dtype":"I64","shape":[3],"data_offsets":[0,24]}})", k24,
                 "tensor 't': unsupported dtype 'I64' (supported: F32, F16, BF16)", ErrorCode::unsupported);
    expect_error(R"({"t":{"dtype":"F8_E4M3","shape":[24],"data_offsets":[0,24]}})", k24,
                 "tensor 't': unsupported dtype 'F8_E4M3'", ErrorCode::unsupported);
    expect_error(R"({"t":{"dtype":"F32","data_offsets":[0,24]}})", k24, "tensor 't': missing 'shape'");
    expect_error(R"({"t":{"dtype":"F32","shape":6,"data_offsets":[0,24]}})", k24, "tensor 't': 'shape' must be an array");
    expect_error(R"({"t":{"dtype":"F32","shape":[1,1,1,2,3],"data_offsets":[0,24]}})", k24,
                 "tensor 't': 5 dimensions (supported: at most 4)", ErrorCode::unsupported);
    expect_error(R"({"t":{"dtype":"F32","shape":[2,-3],"data_offsets":[0,24]}})", k24, "tensor 't': shape[1] is negative (-3)");
    expect_error(R"({"t":{"dtype":"F32","shape":[2.0,3],"data_offsets":[0,24]}})", k24,
                 "tensor 't': shape[0] is not a non-negative integer");
    expect_error(R"({"t":{"dtype":"F32","shape":["2",3],"data_offsets":[0,24]}})", k24,
                 "tensor 't': shape[0] is not a non-negative integer");
    expect_error(R"({"t":{"dtype":"F32","shape":[1e30,3],"data_offsets":[0,24]}})", k24,
                 "tensor 't': shape[0] is not a non-negative integer");
    expect_error(R"({"t":{"dtype":"F32","shape":[99999999999999999999],"data_offsets":[0,24]}})", k24,
                 "tensor 't': shape[0] is not a non-negative integer");  // past uint64: parsed as a float
    expect_error(R"({"t":{"dtype":"F32","shape":[4294967296,4294967296],"data_offsets":[0,24]}})", k24,
                 "tensor 't': shape [4294967296, 4294967296] element count overflows 64 bits");
    expect_error(R"({"t":{"dtype":"F32","shape":[4611686018427387904],"data_offsets":[0,24]}})", k24,
                 "tensor 't': shape [4611686018427387904] byte size overflows 64 bits");
    expect_error(R"({"t":{"dtype":"F32","shape":[2,3]}})", k24, "tensor 't': missing 'data_offsets'");
    expect_error(R"({"t":{"dtype":"F32","shape":[2,3],"data_offsets":[0]}})", k24,
                 "tensor 't': 'data_offsets' must be [begin, end] with non-negative integers");
    expect_error(R"({"t":{"dtype":"F32","shape":[2,3],"data_offsets":[-1,23]}})", k24,
                 "tensor 't': 'data_offsets' must be [begin, end]");
    expect_error(R"({"t":{"dtype":"F32","shape":[2,3],"data_offsets":{"a":0}}})", k24,
                 "tensor 't': 'data_offsets' must be [begin, end]");
    expect_error(R"({"t":{"dtype":"F32","shape":[0],"data_offsets":[8,4]}})", k24,
                 "tensor 't': data_offsets begin 8 is after end 4");
    expect_error(R"({"t":{"dtype":"F32","shape":[2,3],"data_offsets":[8,32]}})", k24,
                 "tensor 't': data range [8, 32) past end of file (data section has 24 bytes)");
    expect_error(R"({"t":{"dtype":"F32","shape":[2],"data_offsets":[18446744073709551615,18446744073709551615]}})", k24,
                 "past end of file");
    expect_error(R"({"t":{"dtype":"F32","shape":[2,3],"data_offsets":[0,20]}})", k24,
                 "tensor 't': shape [2, 3] of F32 needs 24 bytes but data_offsets span 20");
    expect_error(R"({"t":{"dtype":"BF16","shape":[2,3],"data_offsets":[0,24]}})", k24,
                 "tensor 't': shape [2, 3] of BF16 needs 12 bytes but data_offsets span 24");
}

TEST_CASE("safetensors: overlapping tensors are rejected, touching ones are fine") {
    expect_error(R"({"a":{"dtype":"F32","shape":[4],"data_offsets":[0,16]},"b":{"dtype":"F32","shape":[2],"data_offsets":[12,20]}})",
                 k24, "tensors 'a' and 'b' overlap (bytes [0, 16) and [12, 20) of the data section)");
    // b overlaps a although its neighbour in offset order (the empty e) overlaps nothing.
    expect_error(R"({"a":{"dtype":"F32","shape":[4],"data_offsets":[0,16]},"e":{"dtype":"F32","shape":[0],"data_offsets":[4,4]},)"
                 R"("b":{"dtype":"F32","shape":[1],"data_offsets":[8,12]}})",
                 k24, "tensors 'a' and 'b' overlap");
    expect_error(R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"b":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}})",
                 k24, "tensors 'a' and 'b' overlap");
    const auto ok = parse(make_safetensors(
        R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"b":{"dtype":"F32","shape":[4],"data_offsets":[8,24]},)"
        R"("e":{"dtype":"F32","shape":[0],"data_offsets":[4,4]}})",
        k24));
    CHECK_OK(ok);
}

TEST_CASE("safetensors: limits on tensor count") {
    SafetensorsLimits lim;
    lim.max_tensors = 1;
    const auto r = parse(make_safetensors(
        R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"b":{"dtype":"F32","shape":[2],"data_offsets":[8,16]}})", k24),
        lim);
    REQUIRE(!r.ok());
    CHECK(contains(r.status(), "header lists 2 tensors, over the limit of 1"));
}

TEST_CASE("safetensors: open() maps the file and prefixes errors with the path") {
    kvmix_test::TempDir dir;
    REQUIRE(!dir.str().empty());
    const fs::path good = dir.path() / "good.safetensors";
    kvmix_test::write_file(good, make_safetensors(R"({"w":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}})",
                                                  kvmix_test::f32_bytes({7.5f, -1.0f})));
    const auto r = SafetensorsFile::open(good.string());
    REQUIRE_OK(r);
    CHECK_EQ(r.value()->path(), good.string());
    const TensorView* w = r.value()->find_tensor("w");
    REQUIRE(w);
    float v = 0;
    std::memcpy(&v, w->data, 4);
    CHECK_EQ(v, 7.5f);

    const fs::path bad = dir.path() / "bad.safetensors";
    kvmix_test::write_file(bad, make_safetensors(R"({"w":{"dtype":"I64","shape":[1],"data_offsets":[0,8]}})",
                                                 std::vector<uint8_t>(8, 0)));
    const auto e = SafetensorsFile::open(bad.string());
    REQUIRE(!e.ok());
    std::string want = "'";
    want += bad.string();
    want += "': tensor 'w': unsupported dtype 'I64' (supported: F32, F16, BF16)";
    CHECK_EQ(e.status().message(), want);

    const fs::path empty = dir.path() / "empty.safetensors";
    kvmix_test::write_file(empty, {});
    const auto e2 = SafetensorsFile::open(empty.string());
    REQUIRE(!e2.ok());
    CHECK(contains(e2.status(), "truncated header length: file has 0 bytes"));

    const auto missing = SafetensorsFile::open((dir.path() / "missing.safetensors").string());
    REQUIRE(!missing.ok());
    CHECK(missing.status().code() == ErrorCode::io);
}

TEST_CASE("parse_json_strict and parse_safetensors_index") {
    CHECK_OK(parse_json_strict(R"({"a":{"b":[1,{"c":2}]}})", "x"));
    auto r = parse_json_strict(R"({"a":{"b":1,"b":2}})", "cfg.json");
    REQUIRE(!r.ok());
    CHECK_EQ(r.status().message(), std::string("cfg.json: duplicate key 'b' in 'a'"));
    r = parse_json_strict(R"([[[[1]]]])", "x", 3);
    REQUIRE(!r.ok());
    CHECK(contains(r.status(), "x: JSON nesting deeper than 3 levels"));
    r = parse_json_strict("{\"a\":\"\xc3\x28\"}", "x");
    REQUIRE(!r.ok());
    CHECK(contains(r.status(), "x: invalid JSON"));

    auto idx = parse_safetensors_index(R"({"metadata":{"total_size":8},"weight_map":{"a":"s1.safetensors","b":"s2.safetensors"}})");
    REQUIRE_OK(idx);
    CHECK_EQ(idx.value().at("b"), std::string("s2.safetensors"));
    idx = parse_safetensors_index(R"({"metadata":{}})");
    REQUIRE(!idx.ok());
    CHECK(contains(idx.status(), "model.safetensors.index.json: missing 'weight_map'"));
    idx = parse_safetensors_index(R"({"weight_map":[]})");
    REQUIRE(!idx.ok());
    CHECK(contains(idx.status(), "'weight_map' must be an object, got an array"));
    idx = parse_safetensors_index(R"({"weight_map":{"a":3}})");
    REQUIRE(!idx.ok());
    CHECK(contains(idx.status(), "tensor 'a': shard must be a file name string, got a number"));
    idx = parse_safetensors_index(R"({"weight_map":{"a":"../../etc/passwd"}})");
    REQUIRE(!idx.ok());
    CHECK(contains(idx.status(), "tensor 'a': shard '../../etc/passwd' is not a plain file name"));
    idx = parse_safetensors_index(R"({"weight_map":{"a":"x.safetensors","a":"y.safetensors"}})");
    REQUIRE(!idx.ok());
    CHECK(contains(idx.status(), "duplicate key 'a' in 'weight_map'"));
}

namespace {

const char* kConfig = R"({"architectures":["LlamaForCausalLM"],"hidden_size":4})";

std::vector<uint8_t> shard_bytes(const std::vector<std::string>& names) {
    std::string header = "{";
    for (size_t i = 0; i < names.size(); ++i) {
        if (i) header += ",";
        header += "\"";
        header += names[i];
        header += "\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[";
        header += std::to_string(8 * i);
        header += ",";
        header += std::to_string(8 * i + 8);
        header += "]}";
    }
    header += "}";
    std::vector<float> values;
    for (size_t i = 0; i < names.size(); ++i) {
        values.push_back(static_cast<float>(i));
        values.push_back(static_cast<float>(i) + 0.5f);
    }
    return make_safetensors(header, kvmix_test::f32_bytes(values));
}

std::string index_json(const std::vector<std::pair<std::string, std::string>>& map) {
    std::string s = R"({"metadata":{"total_size":0},"weight_map":{)";
    for (size_t i = 0; i < map.size(); ++i) {
        if (i) s += ",";
        s += "\"";
        s += map[i].first;
        s += "\":\"";
        s += map[i].second;
        s += "\"";
    }
    return s + "}}";
}

Status open_model_error(const kvmix_test::TempDir& dir) {
    const auto r = SafetensorsModel::open(dir.str());
    return r.ok() ? Status::success() : r.status();
}

}  // namespace

TEST_CASE("safetensors model: single file with config.json and tokenizer.model") {
    kvmix_test::TempDir dir;
    kvmix_test::write_text(dir.path() / "config.json", kConfig);
    kvmix_test::write_file(dir.path() / "model.safetensors", shard_bytes({"x.weight", "y.weight"}));
    auto r = SafetensorsModel::open(dir.str());
    REQUIRE_OK(r);
    const SafetensorsModel& m = *r.value();
    CHECK(!m.sharded());
    CHECK_EQ(m.shards().size(), 1u);
    CHECK_EQ(m.tensors().size(), 2u);
    CHECK_EQ(m.config().at("hidden_size").get<int>(), 4);
    CHECK(m.tokenizer_model_path().empty());
    const TensorView* y = m.find_tensor("y.weight");
    REQUIRE(y);
    float v = 0;
    std::memcpy(&v, y->data + 4, 4);
    CHECK_EQ(v, 1.5f);
    CHECK(m.shard_of("y.weight") == m.shards()[0].get());
    CHECK(m.find_tensor("z") == nullptr);

    kvmix_test::write_text(dir.path() / "tokenizer.model", "sp");
    r = SafetensorsModel::open(dir.str());
    REQUIRE_OK(r);
    CHECK_EQ(r.value()->tokenizer_model_path(), (dir.path() / "tokenizer.model").string());
}

TEST_CASE("safetensors model: sharded folder") {
    kvmix_test::TempDir dir;
    kvmix_test::write_text(dir.path() / "config.json", kConfig);
    kvmix_test::write_file(dir.path() / "model-00001-of-00002.safetensors", shard_bytes({"a", "b"}));
    kvmix_test::write_file(dir.path() / "model-00002-of-00002.safetensors", shard_bytes({"c"}));
    kvmix_test::write_text(dir.path() / "model.safetensors.index.json",
                           index_json({{"a", "model-00001-of-00002.safetensors"},
                                       {"b", "model-00001-of-00002.safetensors"},
                                       {"c", "model-00002-of-00002.safetensors"}}));
    const auto r = SafetensorsModel::open(dir.str());
    REQUIRE_OK(r);
    const SafetensorsModel& m = *r.value();
    CHECK(m.sharded());
    REQUIRE(m.shards().size() == 2);
    CHECK_EQ(m.tensors().size(), 3u);
    const TensorView* c = m.find_tensor("c");
    REQUIRE(c);
    CHECK(m.shard_of("c") == m.shards()[1].get());
    CHECK(c->data == m.shards()[1]->tensors()[0].data);
    float v = 0;
    std::memcpy(&v, c->data + 4, 4);
    CHECK_EQ(v, 0.5f);
}

TEST_CASE("safetensors model: folder errors") {
    {
        kvmix_test::TempDir dir;
        kvmix_test::write_file(dir.path() / "model.safetensors", shard_bytes({"a"}));
        const Status s = open_model_error(dir);
        CHECK(contains(s, "missing config.json"));
        CHECK(contains(s, dir.str()));
    }
    {
        kvmix_test::TempDir dir;
        kvmix_test::write_text(dir.path() / "config.json", R"({"a":1,"a":2})");
        kvmix_test::write_file(dir.path() / "model.safetensors", shard_bytes({"a"}));
        CHECK(contains(open_model_error(dir), "config.json: duplicate key 'a'"));
        kvmix_test::write_text(dir.path() / "config.json", R"({"a":)");
        CHECK(contains(open_model_error(dir), "config.json: invalid JSON"));
        kvmix_test::write_text(dir.path() / "config.json", R"([])");
        CHECK(contains(open_model_error(dir), "config.json must be a JSON object"));
    }
    {
        kvmix_test::TempDir dir;
        kvmix_test::write_text(dir.path() / "config.json", kConfig);
        CHECK(contains(open_model_error(dir), "no model.safetensors or model.safetensors.index.json"));
        kvmix_test::write_file(dir.path() / "model.safetensors", make_safetensors("{\"a\":"));
        const Status s = open_model_error(dir);
        CHECK(contains(s, "model.safetensors': header: invalid JSON"));
    }
    const std::string s1 = "model-00001-of-00002.safetensors", s2 = "model-00002-of-00002.safetensors";
    {
        kvmix_test::TempDir dir;  // shard listed but absent
        kvmix_test::write_text(dir.path() / "config.json", kConfig);
        kvmix_test::write_file(dir.path() / s1, shard_bytes({"a"}));
        kvmix_test::write_text(dir.path() / "model.safetensors.index.json", index_json({{"a", s1}, {"b", s2}}));
        CHECK(contains(open_model_error(dir), "shard '" + s2 + "' listed in model.safetensors.index.json is missing"));
    }
    {
        kvmix_test::TempDir dir;  // index claims a tensor the shard lacks
        kvmix_test::write_text(dir.path() / "config.json", kConfig);
        kvmix_test::write_file(dir.path() / s1, shard_bytes({"a"}));
        kvmix_test::write_file(dir.path() / s2, shard_bytes({"c"}));
        kvmix_test::write_text(dir.path() / "model.safetensors.index.json",
                               index_json({{"a", s1}, {"b", s1}, {"c", s2}}));
        CHECK(contains(open_model_error(dir),
                       "tensor 'b' is listed in model.safetensors.index.json for '" + s1 + "' but missing from that shard"));
    }
    {
        kvmix_test::TempDir dir;  // a tensor in two shards
        kvmix_test::write_text(dir.path() / "config.json", kConfig);
        kvmix_test::write_file(dir.path() / s1, shard_bytes({"a", "b"}));
        kvmix_test::write_file(dir.path() / s2, shard_bytes({"b"}));
        kvmix_test::write_text(dir.path() / "model.safetensors.index.json", index_json({{"a", s1}, {"b", s2}}));
        CHECK(contains(open_model_error(dir), "tensor 'b' is in both '" + s1 + "' and '" + s2 + "'"));
    }
    {
        kvmix_test::TempDir dir;  // a shard tensor the index does not list / places elsewhere
        kvmix_test::write_text(dir.path() / "config.json", kConfig);
        kvmix_test::write_file(dir.path() / s1, shard_bytes({"a", "x"}));
        kvmix_test::write_file(dir.path() / s2, shard_bytes({"b"}));
        kvmix_test::write_text(dir.path() / "model.safetensors.index.json", index_json({{"a", s1}, {"b", s2}}));
        CHECK(contains(open_model_error(dir), "tensor 'x' in '" + s1 + "' is not listed in model.safetensors.index.json"));
        kvmix_test::write_text(dir.path() / "model.safetensors.index.json", index_json({{"a", s1}, {"b", s2}, {"x", s2}}));
        CHECK(contains(open_model_error(dir),
                       "tensor 'x' is in '" + s1 + "' but model.safetensors.index.json places it in '" + s2 + "'"));
    }
    {
        kvmix_test::TempDir dir;
        kvmix_test::write_text(dir.path() / "config.json", kConfig);
        kvmix_test::write_text(dir.path() / "model.safetensors.index.json", index_json({}));
        CHECK(contains(open_model_error(dir), "'weight_map' is empty"));
        kvmix_test::write_text(dir.path() / "model.safetensors.index.json", index_json({{"a", "../model.safetensors"}}));
        CHECK(contains(open_model_error(dir), "is not a plain file name"));
    }
}

TEST_CASE("safetensors model: fixture models under tests/data/models open") {
    const fs::path root = fs::path(kvmix_test::data_dir()) / "models";
    std::error_code ec;
    if (!fs::is_directory(root, ec)) SKIP("no fixture models in " + root.string());
    int opened = 0;
    for (const auto& entry : fs::directory_iterator(root, ec)) {
        if (!entry.is_directory()) continue;
        const fs::path d = entry.path();
        if (!fs::exists(d / "model.safetensors") && !fs::exists(d / "model.safetensors.index.json")) continue;
        const auto r = SafetensorsModel::open(d.string());
        CHECK_OK(r);
        if (!r.ok()) continue;
        CHECK(!r.value()->tensors().empty());
        CHECK(r.value()->config().is_object());
        for (const TensorView& t : r.value()->tensors()) CHECK(t.n_bytes == 0 || t.data != nullptr);
        std::printf("opened %s: %zu tensors in %zu shard(s)\n", d.filename().c_str(), r.value()->tensors().size(),
                    r.value()->shards().size());
        ++opened;
    }
    if (opened == 0) SKIP("no safetensors fixture model folders in " + root.string());
}

KVMIX_TEST_MAIN()
