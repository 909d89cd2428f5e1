// GgufFile: a parsed GGUF v2/v3 file. Metadata is copied out of the file; tensor data
// stays in the memory map (TensorView::data points into it).
// Untrusted input: every length, count and offset is checked against the file size and
// caps below; parse errors name the key or tensor at fault.
// Thread-safety: immutable after open(); share freely across threads.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "common/tensor-types.h"
#include "io/mapped-file.h"
#include "io/tensor-view.h"
#include "kvmix/status.h"

namespace kvmix {

enum class GgufValueType : uint32_t {
    u8 = 0, i8 = 1, u16 = 2, i16 = 3, u32 = 4, i32 = 5, f32 = 6, boolean = 7,
    string = 8, array = 9, u64 = 10, i64 = 11, f64 = 12,
};

const char* gguf_value_type_name(GgufValueType type);

// One metadata value. Integers are widened to 64 bits (sign per `type`), floats to double.
struct GgufValue {
    GgufValueType type = GgufValueType::u8;
    uint64_t u = 0;   // u8/u16/u32/u64/bool
    int64_t i = 0;    // i8/i16/i32/i64
    double f = 0.0;   // f32/f64
    std::string s;    // string
    GgufValueType elem_type = GgufValueType::u8;  // array element type
    std::vector<GgufValue> items;                 // array elements (may nest arrays)

    bool is_integer() const;
    bool is_number() const { return is_integer() || type == GgufValueType::f32 || type == GgufValueType::f64; }
    // Value as an integer/double if it is a number (for a float: truncation is refused).
    bool to_int64(int64_t& out) const;
    bool to_double(double& out) const;
    // Compact human-readable form (arrays are abbreviated past `max_items`).
    std::string to_string(size_t max_items = 8) const;
};

struct GgufLimits {
    uint64_t max_string_bytes = 64ull << 20;   // one string
    uint64_t max_array_items = 1ull << 26;     // one array (vocabularies are ~262k)
    uint64_t max_kv = 1ull << 16;              // metadata entries
    uint64_t max_tensors = 1ull << 20;
    uint32_t max_dims = 4;
    uint32_t max_nesting = 4;                  // arrays of arrays
    uint64_t max_metadata_memory = 512ull << 20;  // parsed metadata (a 262k vocabulary needs ~60 MiB)
};

class GgufFile {
public:
    // Parses the file at `path` (memory-mapped).
    static Expected<std::shared_ptr<const GgufFile>> open(const std::string& path, const GgufLimits& limits = {});
    // Parses an in-memory image (fuzzing, tests); `bytes` must outlive the result.
    static Expected<std::shared_ptr<const GgufFile>> parse(std::shared_ptr<const MappedFile> file, const GgufLimits& limits = {});
    static Expected<std::shared_ptr<const GgufFile>> parse_bytes(const uint8_t* bytes, size_t size, const GgufLimits& limits = {});

    uint32_t version() const { return version_; }
    uint64_t alignment() const { return alignment_; }
    uint64_t data_offset() const { return data_offset_; }
    uint64_t file_size() const { return size_; }
    const std::string& path() const { return path_; }

    // Metadata in file order.
    const std::vector<std::pair<std::string, GgufValue>>& metadata() const { return kv_; }
    const GgufValue* find(const std::string& key) const;

    // Typed getters: error when missing or of an incompatible type; the message names the key.
    Expected<std::string> get_string(const std::string& key) const;
    Expected<int64_t> get_int(const std::string& key) const;
    Expected<double> get_float(const std::string& key) const;
    Expected<bool> get_bool(const std::string& key) const;
    Expected<std::vector<std::string>> get_string_array(const std::string& key) const;
    Expected<std::vector<double>> get_float_array(const std::string& key) const;
    Expected<std::vector<int64_t>> get_int_array(const std::string& key) const;

    // Tensors in file order; data pointers are into the map (nullptr for parse_bytes images
    // only if the image is empty).
    const std::vector<TensorView>& tensors() const { return tensors_; }
    const TensorView* find_tensor(const std::string& name) const;

private:
    GgufFile() = default;
    friend class GgufParser;

    std::shared_ptr<const MappedFile> file_;  // keeps tensor data alive; null for parse_bytes
    std::string path_;
    uint64_t size_ = 0;
    uint32_t version_ = 0;
    uint64_t alignment_ = 32;
    uint64_t data_offset_ = 0;
    std::vector<std::pair<std::string, GgufValue>> kv_;
    std::map<std::string, size_t> kv_index_;
    std::vector<TensorView> tensors_;
    std::map<std::string, size_t> tensor_index_;
};

}  // namespace kvmix
