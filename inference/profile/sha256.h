// SHA-256 (FIPS 180-4), incremental. Used to identify a model by its K/V projection
// weights so an importance profile is never applied to another model. Plain value type.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <string>

namespace kvmix {

class Sha256 {
public:
    Sha256();
    void update(const void* data, size_t n);
    std::array<uint8_t, 32> finish();  // call once
    std::string finish_hex();          // lower-case hex of finish()

private:
    void block(const uint8_t* p);
    std::array<uint32_t, 8> h_;
    std::array<uint8_t, 64> buf_{};
    size_t buf_len_ = 0;
    uint64_t total_ = 0;
};

}  // namespace kvmix
