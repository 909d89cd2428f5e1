// GgufBuilder: writes small GGUF v3 files for tests (metadata + tensors with given bytes),
// so error paths can be exercised without checked-in binaries. Test-only.
#pragma once

#include <cstdint>
#include <cstdio>
#include <cstring>
#include <string>
#include <vector>

namespace kvmix_test {

class GgufBuilder {
public:
    GgufBuilder& kv_string(const std::string& key, const std::string& v) {
        key_header(key, 8);
        str(v);
        ++n_kv_;
        return *this;
    }
    GgufBuilder& kv_u32(const std::string& key, uint32_t v) {
        key_header(key, 4);
        pod(v);
        ++n_kv_;
        return *this;
    }
    GgufBuilder& kv_f32(const std::string& key, float v) {
        key_header(key, 6);
        pod(v);
        ++n_kv_;
        return *this;
    }
    GgufBuilder& kv_bool(const std::string& key, bool v) {
        key_header(key, 7);
        pod(static_cast<uint8_t>(v));
        ++n_kv_;
        return *this;
    }
    // A metadata entry with a raw GGUF value type id and its already-encoded value bytes.
    GgufBuilder& kv_raw(const std::string& key, uint32_t type, const std::vector<uint8_t>& value) {
        key_header(key, type);
        kv_.insert(kv_.end(), value.begin(), value.end());
        ++n_kv_;
        return *this;
    }
    // A tensor of `type` (GGUF id) with shape ne (innermost first) and its raw bytes.
    GgufBuilder& tensor(const std::string& name, uint32_t type, std::vector<uint64_t> ne, std::vector<uint8_t> bytes) {
        tensors_.push_back({name, type, std::move(ne), std::move(bytes)});
        return *this;
    }
    // An F32 tensor filled with `value`.
    GgufBuilder& tensor_f32(const std::string& name, std::vector<uint64_t> ne, float value = 0.5f) {
        uint64_t n = 1;
        for (uint64_t d : ne) n *= d;
        std::vector<uint8_t> bytes(n * 4);
        for (uint64_t i = 0; i < n; ++i) std::memcpy(bytes.data() + i * 4, &value, 4);
        return tensor(name, 0, std::move(ne), std::move(bytes));
    }

    std::vector<uint8_t> build() const {
        std::vector<uint8_t> out;
        auto put = [&](const void* p, size_t n) { out.insert(out.end(), (const uint8_t*)p, (const uint8_t*)p + n); };
        const uint32_t magic = 0x46554747, version = 3;
        const uint64_t n_tensors = tensors_.size();
        put(&magic, 4);
        put(&version, 4);
        put(&n_tensors, 8);
        put(&n_kv_, 8);
        out.insert(out.end(), kv_.begin(), kv_.end());
        uint64_t offset = 0;
        std::vector<uint64_t> offsets;
        for (const auto& t : tensors_) {
            const uint64_t len = t.name.size();
            put(&len, 8);
            put(t.name.data(), len);
            const uint32_t n_dims = static_cast<uint32_t>(t.ne.size());
            put(&n_dims, 4);
            for (uint64_t d : t.ne) put(&d, 8);
            put(&t.type, 4);
            put(&offset, 8);
            offsets.push_back(offset);
            offset += (t.bytes.size() + 31) / 32 * 32;
        }
        while (out.size() % 32) out.push_back(0);
        for (const auto& t : tensors_) {
            out.insert(out.end(), t.bytes.begin(), t.bytes.end());
            while (out.size() % 32) out.push_back(0);
        }
        return out;
    }

    bool write(const std::string& path) const {
        const auto bytes = build();
        FILE* f = std::fopen(path.c_str(), "wb");
        if (!f) return false;
        const bool ok = std::fwrite(bytes.data(), 1, bytes.size(), f) == bytes.size();
        return std::fclose(f) == 0 && ok;
    }

private:
    struct Tensor {
        std::string name;
        uint32_t type;
        std::vector<uint64_t> ne;
        std::vector<uint8_t> bytes;
    };
    template <class T>
    void pod(const T& v) {
        const auto* p = reinterpret_cast<const uint8_t*>(&v);
        kv_.insert(kv_.end(), p, p + sizeof(T));
    }
    void str(const std::string& s) {
        pod(static_cast<uint64_t>(s.size()));
        kv_.insert(kv_.end(), s.begin(), s.end());
    }
    void key_header(const std::string& key, uint32_t type) {
        str(key);
        pod(type);
    }

    std::vector<uint8_t> kv_;
    uint64_t n_kv_ = 0;
    std::vector<Tensor> tensors_;
};

}  // namespace kvmix_test
