#include "io/safetensors-file.h"

#include <sys/stat.h>

#include <algorithm>
#include <exception>
#include <new>
#include <sstream>
#include <utility>

namespace kvmix {

namespace {

using nlohmann::json;

// Names come from the file: control bytes are escaped and long names cut so messages stay printable.
std::string quote_name(const std::string& s) {
    std::string out = "'";
    for (const char c : s) {
        const auto u = static_cast<unsigned char>(c);
        if (u < 0x20 || u == 0x7f) {
            static const char kHex[] = "0123456789abcdef";
            out += "\\x";
            out += kHex[u >> 4];
            out += kHex[u & 15];
        } else {
            out += c;
        }
        if (out.size() > 200) {
            out += "...";
            break;
        }
    }
    out += "'";
    return out;
}

const char* json_kind(const json& j) {
    switch (j.type()) {
        case json::value_t::null: return "null";
        case json::value_t::object: return "an object";
        case json::value_t::array: return "an array";
        case json::value_t::string: return "a string";
        case json::value_t::boolean: return "a boolean";
        case json::value_t::number_integer:
        case json::value_t::number_unsigned:
        case json::value_t::number_float: return "a number";
        default: return "an unexpected value";
    }
}

// Builds a DOM from SAX events so that we can refuse what nlohmann's own parser accepts
// silently: duplicate keys (it keeps the last) and unbounded nesting. Returning false
// from any event stops the parse without an exception.
class StrictDomBuilder {
public:
    using number_integer_t = json::number_integer_t;
    using number_unsigned_t = json::number_unsigned_t;
    using number_float_t = json::number_float_t;
    using string_t = json::string_t;
    using binary_t = json::binary_t;

    explicit StrictDomBuilder(uint32_t max_depth) : max_depth_(max_depth) {}

    bool null() { return put(json(nullptr)) != nullptr; }
    bool boolean(bool v) { return put(json(v)) != nullptr; }
    bool number_integer(number_integer_t v) { return put(json(v)) != nullptr; }
    bool number_unsigned(number_unsigned_t v) { return put(json(v)) != nullptr; }
    bool number_float(number_float_t v, const string_t&) { return put(json(v)) != nullptr; }
    bool string(string_t& v) { return put(json(std::move(v))) != nullptr; }
    bool binary(binary_t&) { return fail("binary values are not JSON"); }

    bool start_object(std::size_t) { return open(json::object()); }
    bool start_array(std::size_t) { return open(json::array()); }
    bool end_object() { return close(); }
    bool end_array() { return close(); }

    bool key(string_t& k) {
        json& obj = *stack_.back();
        if (obj.contains(k)) {
            has_duplicate_ = true;
            duplicate_key_ = k;
            duplicate_depth_ = stack_.size();
            duplicate_parent_ = keys_.empty() ? std::string() : keys_.back();
            return fail("duplicate key " + quote_name(k));
        }
        slot_ = &obj[k];
        current_key_ = k;
        return true;
    }

    bool parse_error(std::size_t, const std::string&, const json::exception& ex) { return fail(ex.what()); }

    json& root() { return root_; }
    const std::string& error() const { return error_; }
    // Set when the failure is a duplicate key: the key, the depth of its object (1 = top
    // level) and the key under which that object sits in its parent.
    bool too_deep() const { return too_deep_; }
    bool has_duplicate() const { return has_duplicate_; }
    const std::string& duplicate_key() const { return duplicate_key_; }
    size_t duplicate_depth() const { return duplicate_depth_; }
    const std::string& duplicate_parent() const { return duplicate_parent_; }

private:
    bool fail(std::string message) {
        if (error_.empty()) error_ = std::move(message);
        return false;
    }

    json* put(json&& v) {
        if (stack_.empty()) {
            root_ = std::move(v);
            return &root_;
        }
        json& top = *stack_.back();
        if (top.is_array()) {
            top.push_back(std::move(v));
            return &top.back();
        }
        *slot_ = std::move(v);
        return slot_;
    }

    // Containers on the stack stay put while open: a parent only grows after its child closes.
    bool open(json&& container) {
        if (stack_.size() >= max_depth_) {
            too_deep_ = true;
            return fail("nesting deeper than " + std::to_string(max_depth_) + " levels");
        }
        const bool in_object = !stack_.empty() && stack_.back()->is_object();
        json* p = put(std::move(container));
        keys_.push_back(in_object ? current_key_ : std::string());
        stack_.push_back(p);
        return true;
    }

    bool close() {
        stack_.pop_back();
        keys_.pop_back();
        return true;
    }

    uint32_t max_depth_;
    json root_;
    std::vector<json*> stack_;
    std::vector<std::string> keys_;  // per open container: its key in the parent object
    json* slot_ = nullptr;           // value slot of the last key in the innermost object
    std::string current_key_;
    std::string error_;
    bool too_deep_ = false;
    bool has_duplicate_ = false;
    std::string duplicate_key_;
    size_t duplicate_depth_ = 0;
    std::string duplicate_parent_;
};

// Shared by parse_json_strict and the header parser, which words duplicates itself.
Status parse_json_into(std::string_view text, const std::string& what, json& out, StrictDomBuilder& builder) {
    bool ok = false;
    try {
        ok = json::sax_parse(text.begin(), text.end(), &builder, json::input_format_t::json, true);
    } catch (const std::bad_alloc&) {
        return error(ErrorCode::out_of_memory, what + ": out of memory while parsing JSON");
    } catch (const std::exception& e) {
        return format_error(what + ": invalid JSON: " + e.what());
    }
    if (!ok) {
        if (builder.has_duplicate()) {
            std::string msg = what + ": duplicate key " + quote_name(builder.duplicate_key());
            if (!builder.duplicate_parent().empty()) msg += " in " + quote_name(builder.duplicate_parent());
            return format_error(msg);
        }
        if (builder.too_deep()) return format_error(what + ": JSON " + builder.error());
        return format_error(what + ": invalid JSON: " + builder.error());
    }
    out = std::move(builder.root());
    return Status::success();
}

// A JSON integer >= 0. nlohmann keeps non-negative literals unsigned, but "-0" arrives signed.
bool as_u64(const json& j, uint64_t& out) {
    if (j.is_number_unsigned()) {
        out = j.get<uint64_t>();
        return true;
    }
    if (j.is_number_integer() && j.get<int64_t>() >= 0) {
        out = static_cast<uint64_t>(j.get<int64_t>());
        return true;
    }
    return false;
}

struct DtypeInfo {
    const char* name;
    TensorType type;
    uint32_t bytes;
    bool supported;
};

// Every dtype the safetensors format defines; `type` is meaningful only where `supported`.
constexpr DtypeInfo kDtypes[] = {
    {"F32", TensorType::f32, 4, true},      {"F16", TensorType::f16, 2, true},
    {"BF16", TensorType::bf16, 2, true},    {"F64", TensorType::f64, 8, false},
    {"I64", TensorType::i64, 8, false},     {"I32", TensorType::i32, 4, false},
    {"I16", TensorType::i16, 2, false},     {"I8", TensorType::i8, 1, false},
    {"U64", TensorType::f32, 8, false},     {"U32", TensorType::f32, 4, false},
    {"U16", TensorType::f32, 2, false},     {"U8", TensorType::f32, 1, false},
    {"BOOL", TensorType::f32, 1, false},    {"F8_E4M3", TensorType::f32, 1, false},
    {"F8_E5M2", TensorType::f32, 1, false}, {"F8_E8M0", TensorType::f32, 1, false},
    {"F6_E2M3", TensorType::f32, 1, false}, {"F6_E3M2", TensorType::f32, 1, false},
    {"F4", TensorType::f32, 1, false},      {"C64", TensorType::f32, 8, false},
};

const DtypeInfo* find_dtype(const std::string& name) {
    for (const auto& d : kDtypes)
        if (name == d.name) return &d;
    return nullptr;
}

std::string shape_text(const std::vector<uint64_t>& shape) {
    std::string s = "[";
    for (size_t i = 0; i < shape.size(); ++i) s += (i ? ", " : "") + std::to_string(shape[i]);
    return s + "]";
}

std::string range_text(uint64_t begin, uint64_t end) {
    // Appended piecewise: g++ 12 raises a false -Wrestrict on "[" + std::to_string(...).
    std::string s = "[";
    s += std::to_string(begin);
    s += ", ";
    s += std::to_string(end);
    s += ")";
    return s;
}

uint64_t read_le64(const uint8_t* p) {
    uint64_t v = 0;
    for (int i = 7; i >= 0; --i) v = (v << 8) | p[i];
    return v;
}

bool is_regular_file(const std::string& path) {
    struct stat st {};
    return ::stat(path.c_str(), &st) == 0 && S_ISREG(st.st_mode);
}

std::string join_path(const std::string& dir, const std::string& name) {
    if (dir.empty()) return name;
    return dir.back() == '/' ? dir + name : dir + "/" + name;
}

// Reads a whole (small) JSON file through a memory map and parses it strictly.
Expected<json> read_json_file(const std::string& path, const std::string& what, const SafetensorsLimits& limits) {
    auto file = MappedFile::open(path);
    if (!file.ok()) return file.status();
    const auto& f = *file.value();
    if (f.size() > limits.max_json_file_bytes)
        return format_error(what + ": " + std::to_string(f.size()) + " bytes is over the limit of " +
                            std::to_string(limits.max_json_file_bytes));
    const std::string_view text(reinterpret_cast<const char*>(f.data()), f.size());
    return parse_json_strict(text, what, limits.max_json_depth);
}

}  // namespace

Expected<json> parse_json_strict(std::string_view text, const std::string& what, uint32_t max_depth) {
    StrictDomBuilder builder(max_depth);
    json out;
    KVMIX_TRY(parse_json_into(text, what, out, builder));
    return out;
}

// ---------------------------------------------------------------------------------------
// SafetensorsFile

class SafetensorsParser {
public:
    SafetensorsParser(const uint8_t* data, uint64_t size, const SafetensorsLimits& limits)
        : data_(data), size_(size), limits_(limits) {}

    Status parse(SafetensorsFile& out);

private:
    struct Entry {
        TensorView view;
        uint64_t begin = 0;  // relative to the data section
        uint64_t end = 0;
    };

    Status parse_tensor(const std::string& name, const json& entry, uint64_t data_size, Entry& out) const;
    static Status parse_metadata(const json& meta, std::map<std::string, std::string>& out);

    const uint8_t* data_;
    uint64_t size_;
    const SafetensorsLimits& limits_;
};

Status SafetensorsParser::parse_metadata(const json& meta, std::map<std::string, std::string>& out) {
    if (!meta.is_object())
        return format_error(std::string("'__metadata__' must be an object of strings, got ") + json_kind(meta));
    for (const auto& [key, value] : meta.items()) {
        if (!value.is_string())
            return format_error("'__metadata__' key " + quote_name(key) + " must be a string, got " + json_kind(value));
        out.emplace(key, value.get_ref<const std::string&>());
    }
    return Status::success();
}

Status SafetensorsParser::parse_tensor(const std::string& name, const json& entry, uint64_t data_size,
                                       Entry& out) const {
    const std::string ctx = "tensor " + quote_name(name);
    if (name.empty()) return format_error("header has a tensor with an empty name");
    if (!entry.is_object()) return format_error(ctx + ": entry must be an object, got " + json_kind(entry));

    // dtype
    const auto dt = entry.find("dtype");
    if (dt == entry.end()) return format_error(ctx + ": missing 'dtype'");
    if (!dt->is_string()) return format_error(ctx + ": 'dtype' must be a string, got " + json_kind(*dt));
    const std::string& dtype = dt->get_ref<const std::string&>();
    const DtypeInfo* info = find_dtype(dtype);
    if (!info) return format_error(ctx + ": unknown dtype " + quote_name(dtype));
    if (!info->supported)
        return error(ErrorCode::unsupported, ctx + ": unsupported dtype " + quote_name(dtype) + " (supported: F32, F16, BF16)");

    // shape (outermost first)
    const auto sh = entry.find("shape");
    if (sh == entry.end()) return format_error(ctx + ": missing 'shape'");
    if (!sh->is_array()) return format_error(ctx + ": 'shape' must be an array, got " + json_kind(*sh));
    if (sh->size() > 4)
        return error(ErrorCode::unsupported, ctx + ": " + std::to_string(sh->size()) + " dimensions (supported: at most 4)");
    std::vector<uint64_t> shape;
    uint64_t n_elements = 1;
    for (size_t d = 0; d < sh->size(); ++d) {
        const json& dim = (*sh)[d];
        uint64_t ne = 0;
        if (!as_u64(dim, ne)) {
            if (dim.is_number_integer())
                return format_error(ctx + ": shape[" + std::to_string(d) + "] is negative (" +
                                    std::to_string(dim.get<int64_t>()) + ")");
            return format_error(ctx + ": shape[" + std::to_string(d) + "] is not a non-negative integer");
        }
        shape.push_back(ne);
    }
    for (uint64_t ne : shape)
        if (__builtin_mul_overflow(n_elements, ne, &n_elements))
            return format_error(ctx + ": shape " + shape_text(shape) + " element count overflows 64 bits");
    uint64_t n_bytes = 0;
    if (__builtin_mul_overflow(n_elements, uint64_t{info->bytes}, &n_bytes))
        return format_error(ctx + ": shape " + shape_text(shape) + " byte size overflows 64 bits");

    // data_offsets [begin, end), relative to the start of the data section
    const auto off = entry.find("data_offsets");
    if (off == entry.end()) return format_error(ctx + ": missing 'data_offsets'");
    uint64_t begin = 0, end = 0;
    if (!off->is_array() || off->size() != 2 || !as_u64((*off)[0], begin) || !as_u64((*off)[1], end))
        return format_error(ctx + ": 'data_offsets' must be [begin, end] with non-negative integers");
    if (begin > end)
        return format_error(ctx + ": data_offsets begin " + std::to_string(begin) + " is after end " + std::to_string(end));
    if (end > data_size)
        return format_error(ctx + ": data range " + range_text(begin, end) + " past end of file (data section has " +
                            std::to_string(data_size) + " bytes)");
    if (end - begin != n_bytes)
        return format_error(ctx + ": shape " + shape_text(shape) + " of " + dtype + " needs " + std::to_string(n_bytes) +
                            " bytes but data_offsets span " + std::to_string(end - begin));

    TensorView& v = out.view;
    v.name = name;
    v.type = info->type;
    v.n_dims = shape.empty() ? 1 : static_cast<uint32_t>(shape.size());  // a scalar is one element, as in GGUF
    for (size_t d = 0; d < shape.size(); ++d) v.ne[d] = shape[shape.size() - 1 - d];
    v.n_bytes = n_bytes;
    out.begin = begin;
    out.end = end;
    return Status::success();
}

Status SafetensorsParser::parse(SafetensorsFile& out) {
    out.size_ = size_;
    if (size_ < 8)
        return format_error("truncated header length: file has " + std::to_string(size_) + " bytes, need at least 8");
    const uint64_t header_len = read_le64(data_);
    if (header_len > limits_.max_header_bytes)
        return format_error("header length " + std::to_string(header_len) + " is over the limit of " +
                            std::to_string(limits_.max_header_bytes) + " bytes");
    if (header_len > size_ - 8)
        return format_error("header length " + std::to_string(header_len) + " runs past end of file (" +
                            std::to_string(size_ - 8) + " bytes follow the length)");
    out.header_bytes_ = header_len;
    const uint64_t data_start = 8 + header_len;
    const uint64_t data_size = size_ - data_start;

    const std::string_view text(reinterpret_cast<const char*>(data_ + 8), header_len);
    StrictDomBuilder builder(limits_.max_json_depth);
    json header;
    if (Status st = parse_json_into(text, "header", header, builder); !st.ok()) {
        // A duplicate key directly in the header object is a duplicate tensor name.
        if (builder.has_duplicate() && builder.duplicate_depth() == 1 && builder.duplicate_key() != "__metadata__")
            return format_error("duplicate tensor name " + quote_name(builder.duplicate_key()));
        return st;
    }
    if (!header.is_object()) return format_error(std::string("header must be a JSON object, got ") + json_kind(header));
    const size_t n_tensors = header.size() - (header.contains("__metadata__") ? 1 : 0);
    if (n_tensors > limits_.max_tensors)
        return format_error("header lists " + std::to_string(n_tensors) + " tensors, over the limit of " +
                            std::to_string(limits_.max_tensors));

    std::vector<Entry> entries;
    entries.reserve(header.size());
    for (const auto& [name, entry] : header.items()) {
        if (name == "__metadata__") {
            KVMIX_TRY(parse_metadata(entry, out.metadata_));
            continue;
        }
        Entry e;
        KVMIX_TRY(parse_tensor(name, entry, data_size, e));
        entries.push_back(std::move(e));
    }

    // Data order; zero-sized tensors first at equal begin so they never count as overlapping.
    std::sort(entries.begin(), entries.end(), [](const Entry& a, const Entry& b) {
        return a.begin != b.begin ? a.begin < b.begin : a.end < b.end;
    });
    // Compare with the furthest end so far, not just the neighbour: [0,100) [10,20) [50,60).
    const Entry* reach = nullptr;
    for (const Entry& e : entries) {
        if (reach && e.begin < reach->end && e.end > e.begin)
            return format_error("tensors " + quote_name(reach->view.name) + " and " + quote_name(e.view.name) +
                                " overlap (bytes " + range_text(reach->begin, reach->end) + " and " +
                                range_text(e.begin, e.end) + " of the data section)");
        if (!reach || e.end > reach->end) reach = &e;
    }

    out.tensors_.reserve(entries.size());
    for (Entry& e : entries) {
        e.view.offset = data_start + e.begin;
        e.view.data = data_ + data_start + e.begin;
        out.tensor_index_.emplace(e.view.name, out.tensors_.size());
        out.tensors_.push_back(std::move(e.view));
    }
    return Status::success();
}

Expected<std::shared_ptr<const SafetensorsFile>> SafetensorsFile::parse_bytes(const uint8_t* bytes, size_t size,
                                                                              const SafetensorsLimits& limits) {
    std::shared_ptr<SafetensorsFile> out(new SafetensorsFile());
    static const uint8_t kEmpty[1] = {0};
    SafetensorsParser parser(bytes ? bytes : kEmpty, bytes ? size : 0, limits);
    KVMIX_TRY(parser.parse(*out));
    return std::shared_ptr<const SafetensorsFile>(std::move(out));
}

Expected<std::shared_ptr<const SafetensorsFile>> SafetensorsFile::parse(std::shared_ptr<const MappedFile> file,
                                                                        const SafetensorsLimits& limits) {
    if (!file) return error(ErrorCode::invalid_argument, "SafetensorsFile::parse: no file");
    std::shared_ptr<SafetensorsFile> out(new SafetensorsFile());
    out->path_ = file->path();
    static const uint8_t kEmpty[1] = {0};
    SafetensorsParser parser(file->data() ? file->data() : kEmpty, file->size(), limits);
    if (Status st = parser.parse(*out); !st.ok()) return st.with_context(quote_name(file->path()));
    out->file_ = std::move(file);
    return std::shared_ptr<const SafetensorsFile>(std::move(out));
}

Expected<std::shared_ptr<const SafetensorsFile>> SafetensorsFile::open(const std::string& path,
                                                                       const SafetensorsLimits& limits) {
    auto file = MappedFile::open(path);
    if (!file.ok()) return file.status();
    return parse(std::move(file.value()), limits);
}

const TensorView* SafetensorsFile::find_tensor(const std::string& name) const {
    const auto it = tensor_index_.find(name);
    return it == tensor_index_.end() ? nullptr : &tensors_[it->second];
}

// ---------------------------------------------------------------------------------------
// SafetensorsModel

Expected<std::map<std::string, std::string>> parse_safetensors_index(std::string_view text,
                                                                     const SafetensorsLimits& limits) {
    const std::string what = "model.safetensors.index.json";
    auto parsed = parse_json_strict(text, what, limits.max_json_depth);
    if (!parsed.ok()) return parsed.status();
    const json& index = parsed.value();
    if (!index.is_object()) return format_error(what + ": must be a JSON object, got " + json_kind(index));
    const auto wm = index.find("weight_map");
    if (wm == index.end()) return format_error(what + ": missing 'weight_map'");
    if (!wm->is_object()) return format_error(what + ": 'weight_map' must be an object, got " + json_kind(*wm));
    if (wm->size() > limits.max_tensors)
        return format_error(what + ": 'weight_map' lists " + std::to_string(wm->size()) + " tensors, over the limit of " +
                            std::to_string(limits.max_tensors));
    std::map<std::string, std::string> out;
    for (const auto& [name, file] : wm->items()) {
        if (name.empty()) return format_error(what + ": 'weight_map' has an empty tensor name");
        if (!file.is_string())
            return format_error(what + ": tensor " + quote_name(name) + ": shard must be a file name string, got " + json_kind(file));
        const std::string& f = file.get_ref<const std::string&>();
        // Shards live beside the index; anything else could point outside the model folder.
        if (f.empty() || f == "." || f == ".." || f.find('/') != std::string::npos || f.find('\\') != std::string::npos ||
            f.find('\0') != std::string::npos)
            return format_error(what + ": tensor " + quote_name(name) + ": shard " + quote_name(f) + " is not a plain file name");
        out.emplace(name, f);
    }
    return out;
}

Expected<std::shared_ptr<const SafetensorsModel>> SafetensorsModel::open(const std::string& dir,
                                                                         const SafetensorsLimits& limits) {
    std::shared_ptr<SafetensorsModel> out(new SafetensorsModel());
    out->dir_ = dir;
    const std::string ctx = "model folder " + quote_name(dir);

    const std::string config_path = join_path(dir, "config.json");
    if (!is_regular_file(config_path)) return format_error(ctx + ": missing config.json");
    auto config = read_json_file(config_path, "config.json", limits);
    if (!config.ok()) return config.status().with_context(ctx);
    if (!config->is_object())
        return format_error(ctx + ": config.json must be a JSON object, got " + json_kind(config.value()));
    out->config_ = std::move(config.value());

    const std::string tok_path = join_path(dir, "tokenizer.model");
    if (is_regular_file(tok_path)) out->tokenizer_model_path_ = tok_path;

    const std::string single = join_path(dir, "model.safetensors");
    const std::string index_path = join_path(dir, "model.safetensors.index.json");
    std::vector<std::string> shard_names;
    std::map<std::string, std::string> weight_map;
    if (is_regular_file(single)) {
        shard_names.push_back("model.safetensors");
    } else if (is_regular_file(index_path)) {
        out->sharded_ = true;
        auto file = MappedFile::open(index_path);
        if (!file.ok()) return file.status().with_context(ctx);
        const auto& f = *file.value();
        if (f.size() > limits.max_json_file_bytes)
            return format_error(ctx + ": model.safetensors.index.json: " + std::to_string(f.size()) +
                                " bytes is over the limit of " + std::to_string(limits.max_json_file_bytes));
        auto wm = parse_safetensors_index(std::string_view(reinterpret_cast<const char*>(f.data()), f.size()), limits);
        if (!wm.ok()) return wm.status().with_context(ctx);
        weight_map = std::move(wm.value());
        for (const auto& [name, shard] : weight_map)
            if (std::find(shard_names.begin(), shard_names.end(), shard) == shard_names.end()) shard_names.push_back(shard);
        std::sort(shard_names.begin(), shard_names.end());
        if (shard_names.empty()) return format_error(ctx + ": model.safetensors.index.json: 'weight_map' is empty");
    } else {
        return format_error(ctx + ": no model.safetensors or model.safetensors.index.json");
    }

    for (const std::string& shard_name : shard_names) {
        const std::string shard_path = join_path(dir, shard_name);
        if (!is_regular_file(shard_path))
            return format_error(ctx + ": shard " + quote_name(shard_name) + " listed in model.safetensors.index.json is missing");
        auto shard = SafetensorsFile::open(shard_path, limits);
        if (!shard.ok()) return shard.status();
        const size_t shard_idx = out->shards_.size();
        for (const TensorView& t : shard.value()->tensors()) {
            const auto prev = out->tensor_index_.find(t.name);
            if (prev != out->tensor_index_.end())
                return format_error(ctx + ": tensor " + quote_name(t.name) + " is in both " +
                                    quote_name(shard_names[prev->second.first]) + " and " + quote_name(shard_name));
            out->tensor_index_.emplace(t.name, std::make_pair(shard_idx, out->tensors_.size()));
            out->tensors_.push_back(t);
        }
        out->shards_.push_back(std::move(shard.value()));
    }
    // Index consistency after all shards are read, so a tensor in two shards is reported as such.
    if (out->sharded_) {
        for (const auto& [name, where] : out->tensor_index_) {
            const std::string& shard_name = shard_names[where.first];
            const auto listed = weight_map.find(name);
            if (listed == weight_map.end())
                return format_error(ctx + ": tensor " + quote_name(name) + " in " + quote_name(shard_name) +
                                    " is not listed in model.safetensors.index.json");
            if (listed->second != shard_name)
                return format_error(ctx + ": tensor " + quote_name(name) + " is in " + quote_name(shard_name) +
                                    " but model.safetensors.index.json places it in " + quote_name(listed->second));
        }
    }
    for (const auto& [name, shard] : weight_map)
        if (!out->tensor_index_.count(name))
            return format_error(ctx + ": tensor " + quote_name(name) + " is listed in model.safetensors.index.json for " +
                                quote_name(shard) + " but missing from that shard");
    return std::shared_ptr<const SafetensorsModel>(std::move(out));
}

const TensorView* SafetensorsModel::find_tensor(const std::string& name) const {
    const auto it = tensor_index_.find(name);
    return it == tensor_index_.end() ? nullptr : &tensors_[it->second.second];
}

const SafetensorsFile* SafetensorsModel::shard_of(const std::string& name) const {
    const auto it = tensor_index_.find(name);
    return it == tensor_index_.end() ? nullptr : shards_[it->second.first].get();
}

}  // namespace kvmix
