// GgufImage: writes a tensor-less GGUF v3 image in memory, for tokenizer tests that need
// vocabularies of a few tokens (and malformed ones) without files on disk.
#pragma once

#include <cstdint>
#include <cstring>
#include <string>
#include <vector>

namespace kvmix_test {

class GgufImage {
public:
    void add_string(const std::string& key, const std::string& v) {
        begin(key, 8);
        put_str(v);
    }
    void add_u32(const std::string& key, uint32_t v) {
        begin(key, 4);
        put(v);
    }
    void add_i32(const std::string& key, int32_t v) {
        begin(key, 5);
        put(v);
    }
    void add_bool(const std::string& key, bool v) {
        begin(key, 7);
        put(static_cast<uint8_t>(v ? 1 : 0));
    }
    void add_strings(const std::string& key, const std::vector<std::string>& v) {
        begin(key, 9);
        put(uint32_t{8});
        put(static_cast<uint64_t>(v.size()));
        for (const auto& s : v) put_str(s);
    }
    void add_floats(const std::string& key, const std::vector<float>& v) {
        begin(key, 9);
        put(uint32_t{6});
        put(static_cast<uint64_t>(v.size()));
        for (float f : v) put(f);
    }
    void add_i32s(const std::string& key, const std::vector<int32_t>& v) {
        begin(key, 9);
        put(uint32_t{5});
        put(static_cast<uint64_t>(v.size()));
        for (int32_t x : v) put(x);
    }

    // The complete file: header, metadata, no tensors, padded to the 32-byte alignment.
    std::vector<uint8_t> bytes() const {
        std::string out("GGUF", 4);
        auto put_to = [&](auto v) { out.append(reinterpret_cast<const char*>(&v), sizeof v); };
        put_to(uint32_t{3});
        put_to(uint64_t{0});
        put_to(n_kv_);
        out += kv_;
        while (out.size() % 32) out.push_back('\0');
        return {out.begin(), out.end()};
    }

private:
    template <class T>
    void put(T v) {
        kv_.append(reinterpret_cast<const char*>(&v), sizeof v);
    }
    void put_str(const std::string& s) {
        put(static_cast<uint64_t>(s.size()));
        kv_ += s;
    }
    void begin(const std::string& key, uint32_t type) {
        put_str(key);
        put(type);
        ++n_kv_;
    }

    std::string kv_;
    uint64_t n_kv_ = 0;
};

}  // namespace kvmix_test
