// JinjaValue: Python-compatible printing, comparison and JSON for the chat-template interpreter.
#include "tokenizer/jinja-value.h"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstdio>

#include <nlohmann/json.hpp>

namespace kvmix {

namespace {

const std::string& empty_string() {
    static const std::string empty;
    return empty;
}

std::uint32_t child_depth(const JinjaValue& v) { return v.depth(); }

// Python repr of a str: single quotes unless the text holds ' and no ".
std::string python_str_repr(const std::string& s) {
    const bool has_single = s.find('\'') != std::string::npos;
    const bool has_double = s.find('"') != std::string::npos;
    const char quote = (has_single && !has_double) ? '"' : '\'';
    std::string out(1, quote);
    for (unsigned char c : s) {
        switch (c) {
            case '\\': out += "\\\\"; break;
            case '\n': out += "\\n"; break;
            case '\r': out += "\\r"; break;
            case '\t': out += "\\t"; break;
            default:
                if (c == static_cast<unsigned char>(quote)) {
                    out += '\\';
                    out += static_cast<char>(c);
                } else if (c < 0x20 || c == 0x7f) {
                    char buf[8];
                    std::snprintf(buf, sizeof buf, "\\x%02x", c);
                    out += buf;
                } else {
                    out += static_cast<char>(c);
                }
        }
    }
    out += quote;
    return out;
}

// json.dumps string escaping with ensure_ascii=False.
void json_escape(const std::string& s, std::string& out) {
    out += '"';
    for (unsigned char c : s) {
        switch (c) {
            case '"': out += "\\\""; break;
            case '\\': out += "\\\\"; break;
            case '\n': out += "\\n"; break;
            case '\r': out += "\\r"; break;
            case '\t': out += "\\t"; break;
            case '\b': out += "\\b"; break;
            case '\f': out += "\\f"; break;
            default:
                if (c < 0x20) {
                    char buf[8];
                    std::snprintf(buf, sizeof buf, "\\u%04x", c);
                    out += buf;
                } else {
                    out += static_cast<char>(c);
                }
        }
    }
    out += '"';
}

Status json_dump(const JinjaValue& v, int indent, int level, std::string& out) {
    auto newline = [&](int lvl) {
        out += '\n';
        out.append(static_cast<std::size_t>(indent) * static_cast<std::size_t>(lvl), ' ');
    };
    switch (v.kind()) {
        case JinjaValue::Kind::undefined: return format_error("tojson: value is undefined");
        case JinjaValue::Kind::none: out += "null"; return {};
        case JinjaValue::Kind::boolean: out += v.as_int() ? "true" : "false"; return {};
        case JinjaValue::Kind::integer: out += std::to_string(v.as_int()); return {};
        case JinjaValue::Kind::floating: {
            const double d = v.as_double();
            if (std::isnan(d)) out += "NaN";
            else if (std::isinf(d)) out += d > 0 ? "Infinity" : "-Infinity";
            else out += python_float_repr(d);
            return {};
        }
        case JinjaValue::Kind::string: json_escape(v.as_string(), out); return {};
        case JinjaValue::Kind::list: {
            const auto& items = v.as_list();
            if (items.empty()) { out += "[]"; return {}; }
            out += '[';
            for (std::size_t i = 0; i < items.size(); ++i) {
                if (i) out += indent >= 0 ? "," : ", ";
                if (indent >= 0) newline(level + 1);
                KVMIX_TRY(json_dump(items[i], indent, level + 1, out));
            }
            if (indent >= 0) newline(level);
            out += ']';
            return {};
        }
        case JinjaValue::Kind::dict:
        case JinjaValue::Kind::ns: {
            if (v.is_namespace()) return format_error("tojson: a namespace is not JSON serializable");
            const auto& entries = v.as_dict();
            if (entries.empty()) { out += "{}"; return {}; }
            out += '{';
            for (std::size_t i = 0; i < entries.size(); ++i) {
                if (i) out += indent >= 0 ? "," : ", ";
                if (indent >= 0) newline(level + 1);
                json_escape(entries[i].first, out);
                out += ": ";
                KVMIX_TRY(json_dump(entries[i].second, indent, level + 1, out));
            }
            if (indent >= 0) newline(level);
            out += '}';
            return {};
        }
    }
    return format_error("tojson: unknown value");
}

template <class Json>
Expected<JinjaValue> convert_json(const Json& j, int depth) {
    if (depth > 64) return format_error("JSON context nested deeper than 64 levels");
    switch (j.type()) {
        case nlohmann::json::value_t::null: return JinjaValue::none();
        case nlohmann::json::value_t::boolean: return JinjaValue(j.template get<bool>());
        case nlohmann::json::value_t::number_integer:
            return JinjaValue(static_cast<std::int64_t>(j.template get<std::int64_t>()));
        case nlohmann::json::value_t::number_unsigned: {
            const auto u = j.template get<std::uint64_t>();
            if (u > static_cast<std::uint64_t>(INT64_MAX)) return format_error("JSON integer out of range");
            return JinjaValue(static_cast<std::int64_t>(u));
        }
        case nlohmann::json::value_t::number_float: return JinjaValue(j.template get<double>());
        case nlohmann::json::value_t::string: return JinjaValue(j.template get<std::string>());
        case nlohmann::json::value_t::array: {
            JinjaList items;
            for (const auto& item : j) {
                auto v = convert_json(item, depth + 1);
                if (!v) return v.status();
                items.push_back(std::move(*v));
            }
            return JinjaValue::list(std::move(items));
        }
        case nlohmann::json::value_t::object: {
            JinjaDict entries;
            for (auto it = j.begin(); it != j.end(); ++it) {
                auto v = convert_json(it.value(), depth + 1);
                if (!v) return v.status();
                entries.emplace_back(it.key(), std::move(*v));
            }
            return JinjaValue::dict(std::move(entries));
        }
        default: return format_error("unsupported JSON value in template context");
    }
}

}  // namespace

std::string python_float_repr(double value) {
    if (std::isnan(value)) return "nan";
    if (std::isinf(value)) return value > 0 ? "inf" : "-inf";
    std::string out;
    if (std::signbit(value)) {
        out += '-';
        value = -value;
    }
    char buf[64];
    const auto res = std::to_chars(buf, buf + sizeof buf, value, std::chars_format::scientific);
    const std::string sci(buf, res.ptr);  // "d.ddde+XX"
    const std::size_t epos = sci.find('e');
    std::string digits;
    for (std::size_t i = 0; i < epos; ++i)
        if (sci[i] != '.') digits += sci[i];
    int exp = 0;
    std::from_chars(sci.data() + epos + (sci[epos + 1] == '+' ? 2 : 1), sci.data() + sci.size(), exp);
    while (digits.size() > 1 && digits.back() == '0') digits.pop_back();
    if (exp >= -4 && exp < 16) {
        if (exp < 0) {
            out += "0.";
            out.append(static_cast<std::size_t>(-exp - 1), '0');
            out += digits;
        } else if (static_cast<std::size_t>(exp) + 1 >= digits.size()) {
            out += digits;
            out.append(static_cast<std::size_t>(exp) + 1 - digits.size(), '0');
            out += ".0";
        } else {
            out.append(digits, 0, static_cast<std::size_t>(exp) + 1);
            out += '.';
            out.append(digits, static_cast<std::size_t>(exp) + 1);
        }
        return out;
    }
    out += digits.substr(0, 1);
    if (digits.size() > 1) {
        out += '.';
        out.append(digits, 1);
    }
    char ebuf[16];
    std::snprintf(ebuf, sizeof ebuf, "e%c%02d", exp < 0 ? '-' : '+', exp < 0 ? -exp : exp);
    return out + ebuf;
}

namespace jinja_text {

std::vector<std::size_t> code_point_offsets(std::string_view s) {
    std::vector<std::size_t> offsets;
    offsets.reserve(s.size() + 1);
    std::size_t i = 0;
    while (i < s.size()) {
        offsets.push_back(i);
        const auto c = static_cast<unsigned char>(s[i]);
        std::size_t len = c < 0x80 ? 1 : (c >> 5) == 0x6 ? 2 : (c >> 4) == 0xe ? 3 : (c >> 3) == 0x1e ? 4 : 1;
        if (i + len > s.size()) len = 1;
        for (std::size_t k = 1; k < len; ++k)
            if ((static_cast<unsigned char>(s[i + k]) & 0xc0) != 0x80) len = 1;
        i += len;
    }
    offsets.push_back(s.size());
    return offsets;
}

std::size_t space_at(std::string_view s, std::size_t pos) {
    const auto at = [&](std::size_t k) { return static_cast<unsigned char>(s[pos + k]); };
    const std::size_t left = s.size() - pos;
    const unsigned char c = at(0);
    if (c == ' ' || (c >= 0x09 && c <= 0x0d) || (c >= 0x1c && c <= 0x1f)) return 1;
    if (left >= 2 && c == 0xc2 && (at(1) == 0x85 || at(1) == 0xa0)) return 2;
    if (left >= 3) {
        const unsigned cp = ((c & 0x0fu) << 12) | ((at(1) & 0x3fu) << 6) | (at(2) & 0x3fu);
        if ((c >> 4) == 0xe && (cp == 0x1680 || (cp >= 0x2000 && cp <= 0x200a) || cp == 0x2028 ||
                                cp == 0x2029 || cp == 0x202f || cp == 0x205f || cp == 0x3000))
            return 3;
    }
    return 0;
}

std::string strip(std::string_view s, bool left, bool right, const std::string* chars) {
    const auto offsets = code_point_offsets(s);
    const std::size_t n = offsets.size() - 1;
    std::vector<std::string_view> set;
    if (chars) {
        const auto c_off = code_point_offsets(*chars);
        for (std::size_t i = 0; i + 1 < c_off.size(); ++i)
            set.push_back(std::string_view(*chars).substr(c_off[i], c_off[i + 1] - c_off[i]));
    }
    auto strippable = [&](std::size_t i) {
        const std::string_view cp = s.substr(offsets[i], offsets[i + 1] - offsets[i]);
        if (chars) return std::find(set.begin(), set.end(), cp) != set.end();
        return space_at(s, offsets[i]) == cp.size();
    };
    std::size_t b = 0, e = n;
    if (left)
        while (b < e && strippable(b)) ++b;
    if (right)
        while (e > b && strippable(e - 1)) --e;
    return std::string(s.substr(offsets[b], offsets[e] - offsets[b]));
}

}  // namespace jinja_text

JinjaValue::JinjaValue(std::string s)
    : kind_(Kind::string), str_(std::make_shared<const std::string>(std::move(s))) {}

JinjaValue JinjaValue::none() {
    JinjaValue v;
    v.kind_ = Kind::none;
    return v;
}

JinjaValue JinjaValue::list(JinjaList items) {
    JinjaValue v;
    v.kind_ = Kind::list;
    std::uint32_t d = 0;
    for (const auto& item : items) d = std::max(d, child_depth(item));
    v.depth_ = d + 1;
    v.list_ = std::make_shared<JinjaList>(std::move(items));
    return v;
}

JinjaValue JinjaValue::tuple(JinjaList items) {
    JinjaValue v = list(std::move(items));
    v.tuple_ = true;
    return v;
}

JinjaValue JinjaValue::dict(JinjaDict entries) {
    JinjaValue v;
    v.kind_ = Kind::dict;
    std::uint32_t d = 0;
    for (const auto& e : entries) d = std::max(d, child_depth(e.second));
    v.depth_ = d + 1;
    v.dict_ = std::make_shared<JinjaDict>(std::move(entries));
    return v;
}

JinjaValue JinjaValue::make_namespace(JinjaDict entries) {
    JinjaValue v = dict(std::move(entries));
    v.kind_ = Kind::ns;
    return v;
}

Expected<JinjaValue> JinjaValue::from_json(const nlohmann::json& json) { return convert_json(json, 0); }
Expected<JinjaValue> JinjaValue::from_json(const nlohmann::ordered_json& json) { return convert_json(json, 0); }

const std::string& JinjaValue::as_string() const { return str_ ? *str_ : empty_string(); }

const JinjaList& JinjaValue::as_list() const {
    static const JinjaList empty;
    return list_ ? *list_ : empty;
}

const JinjaDict& JinjaValue::as_dict() const {
    static const JinjaDict empty;
    return dict_ ? *dict_ : empty;
}

void JinjaValue::push_back(JinjaValue item) {
    if (kind_ != Kind::list) return;
    depth_ = std::max(depth_, item.depth() + 1);
    list_->push_back(std::move(item));
}

void JinjaValue::set(std::string key, JinjaValue value) {
    if (kind_ != Kind::dict && kind_ != Kind::ns) return;
    depth_ = std::max(depth_, value.depth() + 1);
    for (auto& e : *dict_) {
        if (e.first == key) {
            e.second = std::move(value);
            return;
        }
    }
    dict_->emplace_back(std::move(key), std::move(value));
}

const JinjaValue* JinjaValue::find(std::string_view key) const {
    if (!dict_) return nullptr;
    for (const auto& e : *dict_)
        if (e.first == key) return &e.second;
    return nullptr;
}

bool JinjaValue::truthy() const {
    switch (kind_) {
        case Kind::undefined:
        case Kind::none: return false;
        case Kind::boolean:
        case Kind::integer: return int_ != 0;
        case Kind::floating: return float_ != 0.0;
        case Kind::string: return !as_string().empty();
        case Kind::list: return !as_list().empty();
        case Kind::dict: return !as_dict().empty();
        case Kind::ns: return true;
    }
    return false;
}

std::string JinjaValue::str() const {
    switch (kind_) {
        case Kind::undefined: return {};
        case Kind::string: return as_string();
        default: return repr();
    }
}

std::string JinjaValue::repr() const {
    switch (kind_) {
        case Kind::undefined: return {};
        case Kind::none: return "None";
        case Kind::boolean: return int_ ? "True" : "False";
        case Kind::integer: return std::to_string(int_);
        case Kind::floating: return python_float_repr(float_);
        case Kind::string: return python_str_repr(as_string());
        case Kind::list: {
            std::string out = tuple_ ? "(" : "[";
            const auto& items = as_list();
            for (std::size_t i = 0; i < items.size(); ++i) {
                if (i) out += ", ";
                out += items[i].repr();
            }
            if (tuple_) return out + (items.size() == 1 ? ",)" : ")");
            return out + "]";
        }
        case Kind::dict: {
            std::string out = "{";
            const auto& entries = as_dict();
            for (std::size_t i = 0; i < entries.size(); ++i) {
                if (i) out += ", ";
                out += python_str_repr(entries[i].first);
                out += ": ";
                out += entries[i].second.repr();
            }
            return out + "}";
        }
        case Kind::ns: return "<Namespace>";
    }
    return {};
}

bool JinjaValue::equals(const JinjaValue& other) const {
    if (is_number() && other.is_number()) {
        if (is_integral() && other.is_integral()) return int_ == other.int_;
        return as_double() == other.as_double();
    }
    if (kind_ != other.kind_) return false;
    switch (kind_) {
        case Kind::undefined:
        case Kind::none: return true;
        case Kind::string: return as_string() == other.as_string();
        case Kind::list: {
            const auto& a = as_list();
            const auto& b = other.as_list();
            if (a.size() != b.size()) return false;
            for (std::size_t i = 0; i < a.size(); ++i)
                if (!a[i].equals(b[i])) return false;
            return true;
        }
        case Kind::dict: {
            const auto& a = as_dict();
            if (a.size() != other.as_dict().size()) return false;
            for (const auto& e : a) {
                const JinjaValue* o = other.find(e.first);
                if (!o || !e.second.equals(*o)) return false;
            }
            return true;
        }
        case Kind::ns: return dict_ == other.dict_;  // identity, like Python objects
        default: return false;
    }
}

std::size_t JinjaValue::length() const {
    switch (kind_) {
        case Kind::string: return jinja_text::code_point_offsets(as_string()).size() - 1;
        case Kind::list: return as_list().size();
        case Kind::dict:
        case Kind::ns: return as_dict().size();
        default: return 0;
    }
}

Expected<std::string> JinjaValue::to_json(int indent) const {
    std::string out;
    KVMIX_TRY(json_dump(*this, indent, 0, out));
    return out;
}

}  // namespace kvmix
