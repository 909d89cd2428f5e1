// JinjaValue: the dynamic value of the chat-template interpreter, with Python semantics
// where templates can observe them (str(), repr(), truthiness, equality, ordering).
// Strings, lists and dicts are shared (copies are cheap, as templates pass values around a
// lot); templates cannot mutate them except namespace attributes. The builders (push_back,
// set) mutate in place and are meant for constructing a context before rendering.
// Thread-safety: a value shared between threads must not be mutated.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <nlohmann/json_fwd.hpp>

#include "kvmix/status.h"

namespace kvmix {

class JinjaValue;
using JinjaList = std::vector<JinjaValue>;
// Insertion-ordered like a Python dict; templates hold a handful of keys, so lookup is linear.
using JinjaDict = std::vector<std::pair<std::string, JinjaValue>>;

class JinjaValue {
public:
    enum class Kind { undefined, none, boolean, integer, floating, string, list, dict, ns };

    JinjaValue() = default;  // undefined
    JinjaValue(bool b) : kind_(Kind::boolean), int_(b ? 1 : 0) {}
    JinjaValue(int i) : kind_(Kind::integer), int_(i) {}
    JinjaValue(std::int64_t i) : kind_(Kind::integer), int_(i) {}
    JinjaValue(double d) : kind_(Kind::floating), float_(d) {}
    JinjaValue(std::string s);
    JinjaValue(std::string_view s) : JinjaValue(std::string(s)) {}
    JinjaValue(const char* s) : JinjaValue(std::string(s)) {}

    static JinjaValue none();
    static JinjaValue list(JinjaList items = {});
    // A Python tuple: a list that prints as (a, b); dict.items() yields these.
    static JinjaValue tuple(JinjaList items);
    static JinjaValue dict(JinjaDict entries = {});
    // A jinja namespace(): the one object whose attributes a template may assign.
    static JinjaValue make_namespace(JinjaDict entries = {});
    // JSON objects keep their key order (ordered_json) or sorted order (json).
    static Expected<JinjaValue> from_json(const nlohmann::json& json);
    static Expected<JinjaValue> from_json(const nlohmann::ordered_json& json);

    Kind kind() const { return kind_; }
    bool is_undefined() const { return kind_ == Kind::undefined; }
    bool is_none() const { return kind_ == Kind::none; }
    bool is_string() const { return kind_ == Kind::string; }
    bool is_list() const { return kind_ == Kind::list; }
    bool is_tuple() const { return kind_ == Kind::list && tuple_; }
    bool is_dict() const { return kind_ == Kind::dict; }
    bool is_namespace() const { return kind_ == Kind::ns; }
    // bool counts as a number, as in Python.
    bool is_number() const { return kind_ == Kind::boolean || kind_ == Kind::integer || kind_ == Kind::floating; }
    bool is_integral() const { return kind_ == Kind::boolean || kind_ == Kind::integer; }

    std::int64_t as_int() const { return int_; }  // boolean or integer
    double as_double() const { return kind_ == Kind::floating ? float_ : static_cast<double>(int_); }
    const std::string& as_string() const;  // empty unless a string
    const JinjaList& as_list() const;      // empty unless a list
    const JinjaDict& as_dict() const;      // empty unless a dict or namespace

    // Builders; they mutate shared storage in place (see the header comment).
    void push_back(JinjaValue item);
    void set(std::string key, JinjaValue value);
    const JinjaValue* find(std::string_view key) const;

    // Nesting depth of lists/dicts (0 for scalars); the interpreter caps it so printing
    // and comparing, which recurse, stay shallow.
    std::uint32_t depth() const { return depth_; }

    bool truthy() const;
    std::string str() const;   // Python str(); undefined prints as ""
    std::string repr() const;  // Python repr(), used for items inside printed lists/dicts
    bool equals(const JinjaValue& other) const;
    std::size_t length() const;  // code points of a string, items of a list/dict

    // json.dumps(value, ensure_ascii=False, indent=indent or None); undefined is an error.
    Expected<std::string> to_json(int indent = -1) const;

private:
    Kind kind_ = Kind::undefined;
    std::int64_t int_ = 0;
    double float_ = 0.0;
    std::uint32_t depth_ = 0;
    bool tuple_ = false;
    std::shared_ptr<const std::string> str_;
    std::shared_ptr<JinjaList> list_;
    std::shared_ptr<JinjaDict> dict_;
};

// Text helpers with Python str semantics over UTF-8 (code points, Unicode whitespace).
namespace jinja_text {
// Byte offset of each code point plus a final s.size(); a malformed byte counts as one.
std::vector<std::size_t> code_point_offsets(std::string_view s);
// str.strip()/lstrip()/rstrip(); chars == nullptr strips Unicode whitespace.
std::string strip(std::string_view s, bool left, bool right, const std::string* chars);
// Length in bytes of the whitespace code point at s[pos], or 0.
std::size_t space_at(std::string_view s, std::size_t pos);
}  // namespace jinja_text

// Python float repr (shortest round-trip; "1.0", "1e+16", "1.5e-05", "inf").
std::string python_float_repr(double value);

}  // namespace kvmix
