// MappedFile: a read-only memory map of a whole file (RAII: unmapped on destruction).
// Weights are views into this map and are never copied.
// Thread-safety: immutable after open(); share freely across threads.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>

#include "kvmix/status.h"

namespace kvmix {

class MappedFile {
public:
    // Maps `path` read-only. Errors name the path and the OS reason.
    static Expected<std::shared_ptr<const MappedFile>> open(const std::string& path);

    MappedFile(const MappedFile&) = delete;
    MappedFile& operator=(const MappedFile&) = delete;
    ~MappedFile();

    const uint8_t* data() const { return data_; }
    size_t size() const { return size_; }
    const std::string& path() const { return path_; }

private:
    MappedFile(std::string path, const uint8_t* data, size_t size)
        : path_(std::move(path)), data_(data), size_(size) {}

    std::string path_;
    const uint8_t* data_ = nullptr;
    size_t size_ = 0;
};

}  // namespace kvmix
