#include "io/gguf-file.h"

#include <algorithm>
#include <cstring>
#include <limits>
#include <set>
#include <sstream>

namespace kvmix {

namespace {

constexpr uint32_t kGgufMagic = 0x46554747;  // "GGUF" read as little-endian u32

bool mul_overflows(uint64_t a, uint64_t b, uint64_t& out) { return __builtin_mul_overflow(a, b, &out); }

std::string quoted(const std::string& s) {
    std::string out = "'";
    for (char c : s) {
        const auto u = static_cast<unsigned char>(c);
        if (u < 0x20 || u == 0x7f) {
            char buf[8];
            std::snprintf(buf, sizeof buf, "\\x%02x", u);
            out += buf;
        } else {
            out += c;
        }
        if (out.size() > 200) {
            out += "...";
            break;
        }
    }
    return out + "'";
}

}  // namespace

const char* gguf_value_type_name(GgufValueType type) {
    switch (type) {
        case GgufValueType::u8: return "u8";
        case GgufValueType::i8: return "i8";
        case GgufValueType::u16: return "u16";
        case GgufValueType::i16: return "i16";
        case GgufValueType::u32: return "u32";
        case GgufValueType::i32: return "i32";
        case GgufValueType::f32: return "f32";
        case GgufValueType::boolean: return "bool";
        case GgufValueType::string: return "string";
        case GgufValueType::array: return "array";
        case GgufValueType::u64: return "u64";
        case GgufValueType::i64: return "i64";
        case GgufValueType::f64: return "f64";
    }
    return "unknown";
}

bool GgufValue::is_integer() const {
    switch (type) {
        case GgufValueType::u8: case GgufValueType::i8: case GgufValueType::u16: case GgufValueType::i16:
        case GgufValueType::u32: case GgufValueType::i32: case GgufValueType::u64: case GgufValueType::i64:
            return true;
        default: return false;
    }
}

bool GgufValue::to_int64(int64_t& out) const {
    switch (type) {
        case GgufValueType::u8: case GgufValueType::u16: case GgufValueType::u32: case GgufValueType::u64:
            if (u > static_cast<uint64_t>(std::numeric_limits<int64_t>::max())) return false;
            out = static_cast<int64_t>(u);
            return true;
        case GgufValueType::i8: case GgufValueType::i16: case GgufValueType::i32: case GgufValueType::i64:
            out = i;
            return true;
        case GgufValueType::boolean:
            out = u ? 1 : 0;
            return true;
        default: return false;
    }
}

bool GgufValue::to_double(double& out) const {
    if (type == GgufValueType::f32 || type == GgufValueType::f64) {
        out = f;
        return true;
    }
    int64_t v = 0;
    if (type != GgufValueType::boolean && to_int64(v)) {
        out = static_cast<double>(v);
        return true;
    }
    if (type == GgufValueType::u64) {
        out = static_cast<double>(u);
        return true;
    }
    return false;
}

std::string GgufValue::to_string(size_t max_items) const {
    std::ostringstream os;
    switch (type) {
        case GgufValueType::u8: case GgufValueType::u16: case GgufValueType::u32: case GgufValueType::u64:
            os << u; break;
        case GgufValueType::i8: case GgufValueType::i16: case GgufValueType::i32: case GgufValueType::i64:
            os << i; break;
        case GgufValueType::f32: case GgufValueType::f64:
            os << f; break;
        case GgufValueType::boolean: os << (u ? "true" : "false"); break;
        case GgufValueType::string: os << quoted(s); break;
        case GgufValueType::array: {
            os << "[";
            for (size_t k = 0; k < items.size() && k < max_items; ++k) os << (k ? ", " : "") << items[k].to_string(max_items);
            if (items.size() > max_items) os << ", ... (" << items.size() << " items)";
            os << "]";
            break;
        }
    }
    return os.str();
}

// Reads the file front to back with every access bounds-checked.
class GgufParser {
public:
    GgufParser(const uint8_t* data, size_t size, const GgufLimits& limits)
        : data_(data), size_(size), limits_(limits) {}

    Status parse(GgufFile& out);

private:
    Status need(uint64_t n, const char* what) {
        if (n > size_ - pos_) {
            std::ostringstream os;
            os << "truncated file: " << what << " at offset " << pos_ << " needs " << n << " bytes but only "
               << (size_ - pos_) << " remain";
            return format_error(os.str());
        }
        return {};
    }
    template <class T>
    Status read(T& out, const char* what) {
        KVMIX_TRY(need(sizeof(T), what));
        std::memcpy(&out, data_ + pos_, sizeof(T));
        pos_ += sizeof(T);
        return {};
    }
    Status read_string(std::string& out, const char* what);
    Status read_value(GgufValueType type, GgufValue& out, const std::string& key, uint32_t depth);

    // Bytes a value of `type` occupies at least in the file.
    static uint64_t min_value_bytes(GgufValueType type) {
        switch (type) {
            case GgufValueType::u8: case GgufValueType::i8: case GgufValueType::boolean: return 1;
            case GgufValueType::u16: case GgufValueType::i16: return 2;
            case GgufValueType::u32: case GgufValueType::i32: case GgufValueType::f32: return 4;
            case GgufValueType::array: return 12;
            default: return 8;
        }
    }
    // Parsed metadata expands small file values into larger objects; a budget keeps a
    // hostile file from turning megabytes into gigabytes.
    Status charge(uint64_t bytes) {
        budget_used_ += bytes;
        if (budget_used_ > limits_.max_metadata_memory)
            return format_error("metadata needs more than " + std::to_string(limits_.max_metadata_memory >> 20) +
                                " MiB of memory once parsed");
        return {};
    }

    const uint8_t* data_;
    size_t size_;
    size_t pos_ = 0;
    uint64_t budget_used_ = 0;
    GgufLimits limits_;
    uint32_t version_ = 0;
};

Status GgufParser::read_string(std::string& out, const char* what) {
    uint64_t len = 0;
    const size_t at = pos_;
    KVMIX_TRY(read(len, what));
    if (len > limits_.max_string_bytes || len > size_ - pos_) {
        std::ostringstream os;
        os << what << " at offset " << at << " has length " << len;
        if (len > limits_.max_string_bytes) os << ", over the limit of " << limits_.max_string_bytes << " bytes";
        else os << " but only " << (size_ - pos_) << " bytes follow (truncated file)";
        return format_error(os.str());
    }
    KVMIX_TRY(charge(len));
    out.assign(reinterpret_cast<const char*>(data_ + pos_), len);
    pos_ += len;
    return {};
}

Status GgufParser::read_value(GgufValueType type, GgufValue& out, const std::string& key, uint32_t depth) {
    (void)key;
    out.type = type;
    switch (type) {
        case GgufValueType::u8: { uint8_t v{}; KVMIX_TRY(read(v, "u8 value")); out.u = v; return {}; }
        case GgufValueType::i8: { int8_t v{}; KVMIX_TRY(read(v, "i8 value")); out.i = v; return {}; }
        case GgufValueType::u16: { uint16_t v{}; KVMIX_TRY(read(v, "u16 value")); out.u = v; return {}; }
        case GgufValueType::i16: { int16_t v{}; KVMIX_TRY(read(v, "i16 value")); out.i = v; return {}; }
        case GgufValueType::u32: { uint32_t v{}; KVMIX_TRY(read(v, "u32 value")); out.u = v; return {}; }
        case GgufValueType::i32: { int32_t v{}; KVMIX_TRY(read(v, "i32 value")); out.i = v; return {}; }
        case GgufValueType::u64: { uint64_t v{}; KVMIX_TRY(read(v, "u64 value")); out.u = v; return {}; }
        case GgufValueType::i64: { int64_t v{}; KVMIX_TRY(read(v, "i64 value")); out.i = v; return {}; }
        case GgufValueType::f32: { float v{}; KVMIX_TRY(read(v, "f32 value")); out.f = v; return {}; }
        case GgufValueType::f64: { double v{}; KVMIX_TRY(read(v, "f64 value")); out.f = v; return {}; }
        case GgufValueType::boolean: {
            uint8_t v = 0;
            KVMIX_TRY(read(v, "bool value"));
            if (v > 1) return format_error("bool value " + std::to_string(v) + " is neither 0 nor 1");
            out.u = v;
            return {};
        }
        case GgufValueType::string: return read_string(out.s, "string value");
        case GgufValueType::array: {
            if (depth >= limits_.max_nesting)
                return format_error("arrays nested deeper than " + std::to_string(limits_.max_nesting) + " levels");
            uint32_t elem_raw = 0;
            KVMIX_TRY(read(elem_raw, "array element type"));
            if (elem_raw > static_cast<uint32_t>(GgufValueType::f64))
                return format_error("unknown array element type " + std::to_string(elem_raw));
            out.elem_type = static_cast<GgufValueType>(elem_raw);
            uint64_t count = 0;
            KVMIX_TRY(read(count, "array length"));
            if (count > limits_.max_array_items)
                return format_error("array of " + std::to_string(count) + " items is over the limit of " +
                                    std::to_string(limits_.max_array_items));
            // Refuse counts the rest of the file cannot hold before reserving memory for them,
            // and keep the parsed form within the metadata memory budget.
            uint64_t min_bytes = 0;
            if (__builtin_mul_overflow(count, min_value_bytes(out.elem_type), &min_bytes) || min_bytes > size_ - pos_)
                return format_error("array of " + std::to_string(count) + " items extends past the end of the file");
            KVMIX_TRY(charge(count * sizeof(GgufValue)));
            out.items.resize(count);
            for (uint64_t k = 0; k < count; ++k) {
                Status st = read_value(out.elem_type, out.items[k], key, depth + 1);
                if (!st.ok()) return st.with_context("item " + std::to_string(k));
            }
            return {};
        }
    }
    return format_error("unknown value type " + std::to_string(static_cast<uint32_t>(type)));
}

Status GgufParser::parse(GgufFile& out) {
    uint32_t magic = 0;
    KVMIX_TRY(read(magic, "magic"));
    if (magic != kGgufMagic) return format_error("not a GGUF file (bad magic)");
    KVMIX_TRY(read(version_, "version"));
    if (version_ != 2 && version_ != 3)
        return error(ErrorCode::unsupported, "unsupported GGUF version " + std::to_string(version_) + " (supported: 2, 3)");
    out.version_ = version_;

    uint64_t n_tensors = 0, n_kv = 0;
    KVMIX_TRY(read(n_tensors, "tensor count"));
    KVMIX_TRY(read(n_kv, "metadata count"));
    if (n_tensors > limits_.max_tensors)
        return format_error("tensor count " + std::to_string(n_tensors) + " is over the limit of " + std::to_string(limits_.max_tensors));
    if (n_kv > limits_.max_kv)
        return format_error("metadata count " + std::to_string(n_kv) + " is over the limit of " + std::to_string(limits_.max_kv));

    // The smallest metadata entry is 13 bytes and the smallest tensor info 33: refuse counts
    // the file cannot hold before reserving for them.
    if (n_kv > (size_ - pos_) / 13) return format_error("metadata count " + std::to_string(n_kv) + " is more than the file can hold");
    if (n_tensors > (size_ - pos_) / 33) return format_error("tensor count " + std::to_string(n_tensors) + " is more than the file can hold");
    out.kv_.reserve(n_kv);
    for (uint64_t k = 0; k < n_kv; ++k) {
        std::string key;
        Status st = read_string(key, "metadata key");
        if (!st.ok()) return st.with_context("metadata entry " + std::to_string(k));
        if (key.empty()) return format_error("metadata entry " + std::to_string(k) + " has an empty key");
        if (out.kv_index_.count(key)) return format_error("duplicate metadata key " + quoted(key));
        uint32_t type_raw = 0;
        st = read(type_raw, "metadata value type");
        if (!st.ok()) return st.with_context("metadata key " + quoted(key));
        if (type_raw > static_cast<uint32_t>(GgufValueType::f64))
            return format_error("metadata key " + quoted(key) + ": unknown value type " + std::to_string(type_raw));
        GgufValue value;
        st = read_value(static_cast<GgufValueType>(type_raw), value, key, 0);
        if (!st.ok()) return st.with_context("metadata key " + quoted(key));
        out.kv_index_[key] = out.kv_.size();
        out.kv_.emplace_back(std::move(key), std::move(value));
    }

    if (const GgufValue* a = out.find("general.alignment")) {
        int64_t align = 0;
        if (!a->is_integer() || !a->to_int64(align) || align <= 0 || (align & (align - 1)) != 0 || align > (1 << 20))
            return format_error("metadata key 'general.alignment' must be a power of two up to 1 MiB, got " + a->to_string());
        out.alignment_ = static_cast<uint64_t>(align);
    }

    struct Pending {
        TensorView view;
        uint64_t rel_offset;
    };
    std::vector<Pending> pending;
    pending.reserve(n_tensors);
    for (uint64_t t = 0; t < n_tensors; ++t) {
        Pending p;
        Status st = read_string(p.view.name, "tensor name");
        if (!st.ok()) return st.with_context("tensor info " + std::to_string(t));
        const std::string ctx = "tensor " + quoted(p.view.name);
        if (p.view.name.empty()) return format_error("tensor info " + std::to_string(t) + " has an empty name");
        if (out.tensor_index_.count(p.view.name)) return format_error("duplicate tensor name " + quoted(p.view.name));
        uint32_t n_dims = 0;
        st = read(n_dims, "tensor dimension count");
        if (!st.ok()) return st.with_context(ctx);
        if (n_dims == 0 || n_dims > limits_.max_dims)
            return format_error(ctx + ": " + std::to_string(n_dims) + " dimensions (supported: 1 to " + std::to_string(limits_.max_dims) + ")");
        p.view.n_dims = n_dims;
        uint64_t n_elem = 1;
        for (uint32_t d = 0; d < n_dims; ++d) {
            uint64_t ne = 0;
            st = read(ne, "tensor dimension");
            if (!st.ok()) return st.with_context(ctx);
            if (ne == 0) return format_error(ctx + ": dimension " + std::to_string(d) + " is zero");
            if (ne > static_cast<uint64_t>(std::numeric_limits<int64_t>::max()) || mul_overflows(n_elem, ne, n_elem))
                return format_error(ctx + ": element count overflows 64 bits");
            p.view.ne[d] = ne;
        }
        uint32_t type_raw = 0;
        st = read(type_raw, "tensor type");
        if (!st.ok()) return st.with_context(ctx);
        const TensorTypeTraits* traits = tensor_type_traits(type_raw);
        if (!traits) return format_error(ctx + ": unknown tensor type " + std::to_string(type_raw));
        p.view.type = traits->type;
        if (p.view.ne[0] % traits->block_elems != 0)
            return format_error(ctx + ": row length " + std::to_string(p.view.ne[0]) + " is not a multiple of the " +
                                traits->name + " block size " + std::to_string(traits->block_elems));
        uint64_t n_bytes = 0;
        if (mul_overflows(n_elem / traits->block_elems, traits->block_bytes, n_bytes))
            return format_error(ctx + ": byte size overflows 64 bits");
        p.view.n_bytes = n_bytes;
        st = read(p.rel_offset, "tensor data offset");
        if (!st.ok()) return st.with_context(ctx);
        if (p.rel_offset % out.alignment_ != 0)
            return format_error(ctx + ": data offset " + std::to_string(p.rel_offset) + " is not a multiple of the alignment " +
                                std::to_string(out.alignment_));
        out.tensor_index_[p.view.name] = pending.size();
        pending.push_back(std::move(p));
    }

    // Tensor data starts at the next multiple of the alignment after the header.
    uint64_t data_offset = pos_;
    if (data_offset % out.alignment_) data_offset += out.alignment_ - data_offset % out.alignment_;
    if (n_tensors > 0 && data_offset > size_)
        return format_error("truncated file: tensor data section would start at offset " + std::to_string(data_offset) +
                            " but the file has " + std::to_string(size_) + " bytes");
    out.data_offset_ = data_offset;

    // Check every tensor lies inside the file and no two overlap.
    std::vector<std::pair<uint64_t, size_t>> by_offset;
    by_offset.reserve(pending.size());
    for (size_t k = 0; k < pending.size(); ++k) {
        Pending& p = pending[k];
        const std::string ctx = "tensor " + quoted(p.view.name);
        uint64_t begin = 0, end = 0;
        if (__builtin_add_overflow(data_offset, p.rel_offset, &begin) || __builtin_add_overflow(begin, p.view.n_bytes, &end) ||
            end > size_) {
            std::ostringstream os;
            os << ctx << ": data range past end of file (offset " << p.rel_offset << " + " << p.view.n_bytes
               << " bytes, data section has " << (size_ > data_offset ? size_ - data_offset : 0) << " bytes)";
            return format_error(os.str());
        }
        p.view.offset = begin;
        p.view.data = data_ + begin;
        by_offset.emplace_back(begin, k);
    }
    std::sort(by_offset.begin(), by_offset.end());
    for (size_t k = 1; k < by_offset.size(); ++k) {
        const TensorView& prev = pending[by_offset[k - 1].second].view;
        const TensorView& cur = pending[by_offset[k].second].view;
        if (prev.offset + prev.n_bytes > cur.offset)
            return format_error("tensor " + quoted(cur.name) + ": data overlaps tensor " + quoted(prev.name));
    }

    out.tensors_.reserve(pending.size());
    for (auto& p : pending) out.tensors_.push_back(std::move(p.view));
    return {};
}

Expected<std::shared_ptr<const GgufFile>> GgufFile::open(const std::string& path, const GgufLimits& limits) {
    auto file = MappedFile::open(path);
    if (!file) return file.status();
    auto parsed = parse(*file, limits);
    if (!parsed) return parsed.status().with_context("'" + path + "'");
    return parsed;
}

Expected<std::shared_ptr<const GgufFile>> GgufFile::parse(std::shared_ptr<const MappedFile> file, const GgufLimits& limits) {
    auto parsed = parse_bytes(file->data(), file->size(), limits);
    if (!parsed) return parsed;
    auto* mutable_file = const_cast<GgufFile*>(parsed->get());
    mutable_file->file_ = std::move(file);
    mutable_file->path_ = mutable_file->file_->path();
    return parsed;
}

Expected<std::shared_ptr<const GgufFile>> GgufFile::parse_bytes(const uint8_t* bytes, size_t size, const GgufLimits& limits) {
    std::shared_ptr<GgufFile> out(new GgufFile());
    out->size_ = size;
    GgufParser parser(bytes, size, limits);
    Status st = parser.parse(*out);
    if (!st.ok()) return st;
    return std::shared_ptr<const GgufFile>(std::move(out));
}

const GgufValue* GgufFile::find(const std::string& key) const {
    auto it = kv_index_.find(key);
    return it == kv_index_.end() ? nullptr : &kv_[it->second].second;
}

const TensorView* GgufFile::find_tensor(const std::string& name) const {
    auto it = tensor_index_.find(name);
    return it == tensor_index_.end() ? nullptr : &tensors_[it->second];
}

namespace {

Status missing_key(const std::string& key) { return format_error("missing metadata key " + quoted(key)); }

Status wrong_type(const std::string& key, const GgufValue& v, const char* want) {
    std::string got = gguf_value_type_name(v.type);
    if (v.type == GgufValueType::array) got += std::string(" of ") + gguf_value_type_name(v.elem_type);
    return format_error("metadata key " + quoted(key) + " is " + got + ", expected " + want);
}

}  // namespace

Expected<std::string> GgufFile::get_string(const std::string& key) const {
    const GgufValue* v = find(key);
    if (!v) return missing_key(key);
    if (v->type != GgufValueType::string) return wrong_type(key, *v, "string");
    return v->s;
}

Expected<int64_t> GgufFile::get_int(const std::string& key) const {
    const GgufValue* v = find(key);
    if (!v) return missing_key(key);
    int64_t out = 0;
    if (!v->is_integer() || !v->to_int64(out)) return wrong_type(key, *v, "an integer");
    return out;
}

Expected<double> GgufFile::get_float(const std::string& key) const {
    const GgufValue* v = find(key);
    if (!v) return missing_key(key);
    double out = 0;
    if (!v->is_number() || !v->to_double(out)) return wrong_type(key, *v, "a number");
    return out;
}

Expected<bool> GgufFile::get_bool(const std::string& key) const {
    const GgufValue* v = find(key);
    if (!v) return missing_key(key);
    if (v->type != GgufValueType::boolean) return wrong_type(key, *v, "bool");
    return v->u != 0;
}

Expected<std::vector<std::string>> GgufFile::get_string_array(const std::string& key) const {
    const GgufValue* v = find(key);
    if (!v) return missing_key(key);
    if (v->type != GgufValueType::array || v->elem_type != GgufValueType::string) return wrong_type(key, *v, "array of string");
    std::vector<std::string> out;
    out.reserve(v->items.size());
    for (const auto& item : v->items) out.push_back(item.s);
    return out;
}

Expected<std::vector<double>> GgufFile::get_float_array(const std::string& key) const {
    const GgufValue* v = find(key);
    if (!v) return missing_key(key);
    if (v->type != GgufValueType::array) return wrong_type(key, *v, "array of numbers");
    std::vector<double> out(v->items.size());
    for (size_t k = 0; k < v->items.size(); ++k)
        if (!v->items[k].is_number() || !v->items[k].to_double(out[k])) return wrong_type(key, *v, "array of numbers");
    return out;
}

Expected<std::vector<int64_t>> GgufFile::get_int_array(const std::string& key) const {
    const GgufValue* v = find(key);
    if (!v) return missing_key(key);
    if (v->type != GgufValueType::array) return wrong_type(key, *v, "array of integers");
    std::vector<int64_t> out(v->items.size());
    for (size_t k = 0; k < v->items.size(); ++k)
        if (!v->items[k].is_integer() || !v->items[k].to_int64(out[k])) return wrong_type(key, *v, "array of integers");
    return out;
}

}  // namespace kvmix
