// Tree-walking evaluator of the Jinja subset with Python value semantics (jinja2 runs on
// Python, so arithmetic, printing and comparisons follow Python's rules).
#include "tokenizer/jinja-interpreter.h"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstdlib>
#include <new>
#include <optional>

namespace kvmix {

namespace {

using Kind = JinjaValue::Kind;
using Kwargs = std::vector<std::pair<std::string, JinjaValue>>;

const char* type_name(const JinjaValue& v) {
    switch (v.kind()) {
        case Kind::undefined: return "undefined";
        case Kind::none: return "NoneType";
        case Kind::boolean: return "bool";
        case Kind::integer: return "int";
        case Kind::floating: return "float";
        case Kind::string: return "str";
        case Kind::list: return "list";
        case Kind::dict: return "dict";
        case Kind::ns: return "Namespace";
    }
    return "?";
}

bool contains_namespace(const JinjaValue& v) {
    if (v.is_namespace()) return true;
    for (const auto& item : v.as_list())
        if (contains_namespace(item)) return true;
    for (const auto& e : v.as_dict())
        if (contains_namespace(e.second)) return true;
    return false;
}

std::string ascii_map(std::string s, int (*fn)(int)) {
    for (char& c : s)
        if (static_cast<unsigned char>(c) < 0x80) c = static_cast<char>(fn(static_cast<unsigned char>(c)));
    return s;
}
int to_upper(int c) { return (c >= 'a' && c <= 'z') ? c - 32 : c; }
int to_lower(int c) { return (c >= 'A' && c <= 'Z') ? c + 32 : c; }
bool is_alpha(char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'); }

// str.title(): a letter is upper-cased after a non-letter, lower-cased after a letter.
std::string title_case(const std::string& s) {
    std::string out = s;
    bool prev_cased = false;
    for (char& c : out) {
        if (is_alpha(c)) {
            c = static_cast<char>(prev_cased ? to_lower(c) : to_upper(c));
            prev_cased = true;
        } else {
            prev_cased = static_cast<unsigned char>(c) >= 0x80 && prev_cased;
        }
    }
    return out;
}

std::string capitalize(const std::string& s) {
    std::string out = ascii_map(s, to_lower);
    if (!out.empty()) out[0] = static_cast<char>(to_upper(static_cast<unsigned char>(out[0])));
    return out;
}

std::string replace_all(const std::string& s, const std::string& from, const std::string& to, std::int64_t count) {
    std::string out;
    if (from.empty()) {
        // Python inserts `to` between every code point (and at both ends).
        const auto offs = jinja_text::code_point_offsets(s);
        std::int64_t done = 0;
        for (std::size_t i = 0; i + 1 < offs.size(); ++i) {
            if (count < 0 || done < count) { out += to; ++done; }
            out.append(s, offs[i], offs[i + 1] - offs[i]);
        }
        if (count < 0 || done < count) out += to;
        return out;
    }
    std::size_t pos = 0;
    std::int64_t done = 0;
    while (count < 0 || done < count) {
        const std::size_t hit = s.find(from, pos);
        if (hit == std::string::npos) break;
        out.append(s, pos, hit - pos);
        out += to;
        pos = hit + from.size();
        ++done;
    }
    out.append(s, pos, std::string::npos);
    return out;
}

// Python's slice.indices(): clamps start/stop for a sequence of length n.
struct SliceIndices {
    std::int64_t start, stop, step;
};
SliceIndices slice_indices(std::optional<std::int64_t> a, std::optional<std::int64_t> b, std::int64_t step, std::int64_t n) {
    auto clamp = [&](std::optional<std::int64_t> v, std::int64_t dflt) {
        if (!v) return dflt;
        std::int64_t x = *v;
        if (x < 0) x += n;
        if (step > 0) return std::clamp<std::int64_t>(x, 0, n);
        return std::clamp<std::int64_t>(x, -1, n - 1);
    };
    return {clamp(a, step > 0 ? 0 : n - 1), clamp(b, step > 0 ? n : -1), step};
}

class Renderer {
public:
    Renderer(const JinjaLimits& limits, const JinjaValue& context) : limits_(limits) {
        scopes_.push_back(context.as_dict());
    }

    Status run(const std::vector<JinjaNode>& nodes) {
        auto flow = exec_block(nodes);
        if (!flow) return flow.status();
        return {};
    }

    std::string take_output() { return std::move(out_); }

private:
    enum class Flow { normal, brk, cont };
    using Value = Expected<JinjaValue>;

    // --- errors and budgets -------------------------------------------------------------

    static std::string at(std::size_t line) { return "template line " + std::to_string(line) + ": "; }
    static Status fail(std::size_t line, const std::string& what) { return format_error(at(line) + what); }
    static Status unsupported(std::size_t line, const std::string& what) {
        return error(ErrorCode::unsupported, at(line) + what);
    }
    Status limit(std::size_t line, const std::string& what) const {
        return error(ErrorCode::out_of_memory, at(line) + "template exceeds the " + what + " limit");
    }
    Status step(std::size_t line) {
        if (++steps_ > limits_.max_steps) return limit(line, "evaluation step");
        return {};
    }
    // Charges what building a value costs; also caps single strings and nesting depth.
    Status charge(std::size_t line, const JinjaValue& v) {
        std::size_t bytes = 0;
        if (v.is_string()) {
            bytes = v.as_string().size();
            if (bytes > limits_.max_output_bytes) return limit(line, "string size");
        } else if (v.is_list() || v.is_dict()) {
            bytes = 16 * v.length();
            if (v.length() > limits_.max_loop_iterations) return limit(line, "list size");
            if (v.depth() > limits_.max_value_depth) return limit(line, "value nesting");
        }
        work_ += bytes;
        if (work_ > limits_.max_work_bytes) return limit(line, "work");
        return {};
    }

    // --- statements ---------------------------------------------------------------------

    Expected<Flow> exec_block(const std::vector<JinjaNode>& nodes) {
        for (const JinjaNode& node : nodes) {
            auto flow = exec(node);
            if (!flow) return flow;
            if (*flow != Flow::normal) return flow;
        }
        return Flow::normal;
    }

    Status emit(std::size_t line, const std::string& s) {
        if (out_.size() + s.size() > limits_.max_output_bytes) return limit(line, "output size");
        out_ += s;
        return {};
    }

    Expected<Flow> exec(const JinjaNode& node) {
        KVMIX_TRY(step(node.line));
        switch (node.kind) {
            case JinjaNode::Kind::text: KVMIX_TRY(emit(node.line, node.text)); return Flow::normal;
            case JinjaNode::Kind::output: {
                auto v = eval(*node.expr);
                if (!v) return v.status();
                KVMIX_TRY(emit(node.line, v->str()));
                return Flow::normal;
            }
            case JinjaNode::Kind::if_chain:
                for (std::size_t i = 0; i < node.bodies.size(); ++i) {
                    if (i < node.conds.size()) {
                        auto c = eval(*node.conds[i]);
                        if (!c) return c.status();
                        if (!c->truthy()) continue;
                    }
                    return exec_block(node.bodies[i]);
                }
                return Flow::normal;
            case JinjaNode::Kind::for_loop: KVMIX_TRY(exec_for(node)); return Flow::normal;
            case JinjaNode::Kind::set: {
                auto v = eval(*node.expr);
                if (!v) return v.status();
                KVMIX_TRY(bind(node.line, node.targets, *v, scopes_.back()));
                return Flow::normal;
            }
            case JinjaNode::Kind::set_attr: {
                JinjaValue target = lookup(node.targets[0]);
                if (!target.is_namespace())
                    return fail(node.line, "cannot assign attribute '" + node.text + "' on " + type_name(target) +
                                               " (only a namespace)");
                auto v = eval(*node.expr);
                if (!v) return v.status();
                // Storing a namespace inside a namespace could build a reference cycle.
                if (contains_namespace(*v)) return unsupported(node.line, "storing a namespace in a namespace");
                target.set(node.text, std::move(*v));
                return Flow::normal;
            }
            case JinjaNode::Kind::loop_break: return Flow::brk;
            case JinjaNode::Kind::loop_continue: return Flow::cont;
        }
        return Flow::normal;
    }

    Status bind(std::size_t line, const std::vector<std::string>& targets, const JinjaValue& v, JinjaDict& frame) {
        auto set = [&](const std::string& name, JinjaValue value) {
            for (auto& e : frame)
                if (e.first == name) {
                    e.second = std::move(value);
                    return;
                }
            frame.emplace_back(name, std::move(value));
        };
        if (targets.size() == 1) {
            set(targets[0], v);
            return {};
        }
        auto items = iterate(line, v);
        if (!items) return items.status();
        if (items->size() != targets.size())
            return fail(line, "cannot unpack " + std::to_string(items->size()) + " values into " +
                                  std::to_string(targets.size()) + " names");
        for (std::size_t i = 0; i < targets.size(); ++i) set(targets[i], (*items)[i]);
        return {};
    }

    // Each iteration runs in a fresh scope, so a plain {% set %} never leaks out of the loop
    // (nor into the next iteration); namespaces are how templates carry state, as in jinja2.
    Status exec_for(const JinjaNode& node) {
        auto iterable = eval(*node.expr);
        if (!iterable) return iterable.status();
        auto all = iterate(node.line, *iterable);
        if (!all) return all.status();
        JinjaList items;
        if (node.filter) {
            for (auto& item : *all) {
                scopes_.emplace_back();
                Status s = bind(node.line, node.targets, item, scopes_.back());
                Value keep = s.ok() ? eval(*node.filter) : Value(s);
                scopes_.pop_back();
                if (!keep) return keep.status();
                if (keep->truthy()) items.push_back(std::move(item));
            }
        } else {
            items = std::move(*all);
        }
        if (items.empty()) {
            scopes_.emplace_back();
            auto flow = exec_block(node.bodies[1]);
            scopes_.pop_back();
            return flow.status();
        }
        const auto n = static_cast<std::int64_t>(items.size());
        // One loop object updated in place, as jinja2's loop object is: cheap per iteration.
        JinjaValue loop = JinjaValue::dict({{"index", JinjaValue()}, {"index0", JinjaValue()}, {"revindex", JinjaValue()},
                                            {"revindex0", JinjaValue()}, {"first", JinjaValue()}, {"last", JinjaValue()},
                                            {"length", JinjaValue(n)}, {"previtem", JinjaValue()}, {"nextitem", JinjaValue()}});
        scopes_.emplace_back();
        for (std::int64_t i = 0; i < n; ++i) {
            if (++iterations_ > limits_.max_loop_iterations) {
                scopes_.pop_back();
                return limit(node.line, "loop iteration");
            }
            const auto idx = static_cast<std::size_t>(i);
            loop.set("index", JinjaValue(i + 1));
            loop.set("index0", JinjaValue(i));
            loop.set("revindex", JinjaValue(n - i));
            loop.set("revindex0", JinjaValue(n - i - 1));
            loop.set("first", JinjaValue(i == 0));
            loop.set("last", JinjaValue(i == n - 1));
            loop.set("previtem", i > 0 ? items[idx - 1] : JinjaValue());
            loop.set("nextitem", i + 1 < n ? items[idx + 1] : JinjaValue());
            JinjaDict& frame = scopes_.back();
            frame.clear();
            frame.emplace_back("loop", loop);
            Status s = bind(node.line, node.targets, items[idx], frame);
            Expected<Flow> flow = s.ok() ? exec_block(node.bodies[0]) : Expected<Flow>(s);
            if (!flow) {
                scopes_.pop_back();
                return flow.status();
            }
            if (*flow == Flow::brk) break;
        }
        scopes_.pop_back();
        return {};
    }

    JinjaValue lookup(const std::string& name) const {
        for (auto it = scopes_.rbegin(); it != scopes_.rend(); ++it)
            for (const auto& e : *it)
                if (e.first == name) return e.second;
        return {};
    }
    bool is_defined(const std::string& name) const {
        for (const auto& frame : scopes_)
            for (const auto& e : frame)
                if (e.first == name) return true;
        return false;
    }

    // --- expressions --------------------------------------------------------------------

    Value eval(const JinjaExpr& e) {
        KVMIX_TRY(step(e.line));
        auto v = eval_node(e);
        if (v && e.kind != JinjaExpr::Kind::literal && e.kind != JinjaExpr::Kind::name) KVMIX_TRY(charge(e.line, *v));
        return v;
    }

    Value eval_node(const JinjaExpr& e) {
        switch (e.kind) {
            case JinjaExpr::Kind::literal: return e.value;
            case JinjaExpr::Kind::name: return lookup(e.name);
            case JinjaExpr::Kind::list: {
                JinjaList items;
                for (const auto& a : e.args) {
                    auto v = eval(*a);
                    if (!v) return v;
                    items.push_back(std::move(*v));
                }
                if (e.name == "tuple") return JinjaValue::tuple(std::move(items));
                return JinjaValue::list(std::move(items));
            }
            case JinjaExpr::Kind::dict: {
                JinjaValue d = JinjaValue::dict();
                for (std::size_t i = 0; i + 1 < e.args.size(); i += 2) {
                    auto k = eval(*e.args[i]);
                    if (!k) return k;
                    if (!k->is_string()) return unsupported(e.line, "dict keys other than strings");
                    auto v = eval(*e.args[i + 1]);
                    if (!v) return v;
                    d.set(k->as_string(), std::move(*v));
                }
                return d;
            }
            case JinjaExpr::Kind::attr: {
                auto obj = eval(*e.args[0]);
                if (!obj) return obj;
                if (obj->is_undefined()) return fail(e.line, undefined_message(*e.args[0]));
                if (const JinjaValue* v = obj->find(e.name)) return *v;
                return JinjaValue();
            }
            case JinjaExpr::Kind::index: {
                auto obj = eval(*e.args[0]);
                if (!obj) return obj;
                auto key = eval(*e.args[1]);
                if (!key) return key;
                return get_item(e, *obj, *key);
            }
            case JinjaExpr::Kind::slice: return eval_slice(e);
            case JinjaExpr::Kind::call: return eval_call(e);
            case JinjaExpr::Kind::filter: return eval_filter(e);
            case JinjaExpr::Kind::test: return eval_test(e);
            case JinjaExpr::Kind::unary: return eval_unary(e);
            case JinjaExpr::Kind::binary: {
                auto a = eval(*e.args[0]);
                if (!a) return a;
                auto b = eval(*e.args[1]);
                if (!b) return b;
                return binary(e, e.name, *a, *b);
            }
            case JinjaExpr::Kind::compare: {
                auto left = eval(*e.args[0]);
                if (!left) return left;
                JinjaValue lhs = std::move(*left);
                for (std::size_t i = 0; i < e.ops.size(); ++i) {
                    auto rhs = eval(*e.args[i + 1]);
                    if (!rhs) return rhs;
                    auto r = compare(e, e.ops[i], lhs, *rhs);
                    if (!r) return r.status();
                    if (!*r) return JinjaValue(false);
                    lhs = std::move(*rhs);
                }
                return JinjaValue(true);
            }
            case JinjaExpr::Kind::logic_and:
            case JinjaExpr::Kind::logic_or: {
                auto a = eval(*e.args[0]);
                if (!a) return a;
                const bool short_circuit = e.kind == JinjaExpr::Kind::logic_and ? !a->truthy() : a->truthy();
                if (short_circuit) return a;
                return eval(*e.args[1]);
            }
            case JinjaExpr::Kind::cond: {
                auto c = eval(*e.args[1]);
                if (!c) return c;
                if (c->truthy()) return eval(*e.args[0]);
                if (e.args[2]) return eval(*e.args[2]);
                return JinjaValue();
            }
        }
        return fail(e.line, "unknown expression");
    }

    static std::string undefined_message(const JinjaExpr& e) {
        if (e.kind == JinjaExpr::Kind::name) return "'" + e.name + "' is undefined";
        if (e.kind == JinjaExpr::Kind::attr) return "attribute '" + e.name + "' is undefined";
        return "value is undefined";
    }

    Value get_item(const JinjaExpr& e, const JinjaValue& obj, const JinjaValue& key) {
        switch (obj.kind()) {
            case Kind::undefined: return fail(e.line, undefined_message(*e.args[0]));
            case Kind::list:
                if (key.is_integral()) {
                    const auto n = static_cast<std::int64_t>(obj.as_list().size());
                    std::int64_t i = key.as_int();
                    if (i < 0) i += n;
                    if (i >= 0 && i < n) return obj.as_list()[static_cast<std::size_t>(i)];
                }
                return JinjaValue();
            case Kind::string:
                if (key.is_integral()) {
                    const auto offs = jinja_text::code_point_offsets(obj.as_string());
                    const auto n = static_cast<std::int64_t>(offs.size()) - 1;
                    std::int64_t i = key.as_int();
                    if (i < 0) i += n;
                    if (i >= 0 && i < n) {
                        const auto u = static_cast<std::size_t>(i);
                        return JinjaValue(obj.as_string().substr(offs[u], offs[u + 1] - offs[u]));
                    }
                }
                return JinjaValue();
            case Kind::dict:
            case Kind::ns:
                if (key.is_string())
                    if (const JinjaValue* v = obj.find(key.as_string())) return *v;
                return JinjaValue();
            default: return JinjaValue();
        }
    }

    Expected<std::optional<std::int64_t>> slice_bound(const JinjaExpr* e) {
        if (!e) return std::optional<std::int64_t>();
        auto v = eval(*e);
        if (!v) return v.status();
        if (v->is_none()) return std::optional<std::int64_t>();
        if (!v->is_integral()) return fail(e->line, "slice indices must be integers or None");
        return std::optional<std::int64_t>(v->as_int());
    }

    Value eval_slice(const JinjaExpr& e) {
        auto obj = eval(*e.args[0]);
        if (!obj) return obj;
        auto a = slice_bound(e.args[1].get());
        if (!a) return a.status();
        auto b = slice_bound(e.args[2].get());
        if (!b) return b.status();
        auto c = slice_bound(e.args[3].get());
        if (!c) return c.status();
        const std::int64_t step_by = c->value_or(1);
        if (step_by == 0) return fail(e.line, "slice step cannot be zero");
        if (obj->is_undefined()) return fail(e.line, undefined_message(*e.args[0]));
        if (obj->is_list()) {
            const auto& items = obj->as_list();
            const auto s = slice_indices(*a, *b, step_by, static_cast<std::int64_t>(items.size()));
            JinjaList out;
            for (std::int64_t i = s.start; step_by > 0 ? i < s.stop : i > s.stop; i += step_by)
                out.push_back(items[static_cast<std::size_t>(i)]);
            return JinjaValue::list(std::move(out));
        }
        if (obj->is_string()) {
            const std::string& str = obj->as_string();
            const auto offs = jinja_text::code_point_offsets(str);
            const auto s = slice_indices(*a, *b, step_by, static_cast<std::int64_t>(offs.size()) - 1);
            std::string out;
            for (std::int64_t i = s.start; step_by > 0 ? i < s.stop : i > s.stop; i += step_by) {
                const auto u = static_cast<std::size_t>(i);
                out.append(str, offs[u], offs[u + 1] - offs[u]);
            }
            return JinjaValue(std::move(out));
        }
        return fail(e.line, std::string("cannot slice a ") + type_name(*obj));
    }

    Value eval_unary(const JinjaExpr& e) {
        auto v = eval(*e.args[0]);
        if (!v) return v;
        if (e.name == "not") return JinjaValue(!v->truthy());
        if (!v->is_number()) return fail(e.line, std::string("bad operand type for unary ") + e.name + ": " + type_name(*v));
        if (e.name == "+") return v->kind() == Kind::boolean ? JinjaValue(v->as_int()) : *v;
        if (v->kind() == Kind::floating) return JinjaValue(-v->as_double());
        if (v->as_int() == INT64_MIN) return fail(e.line, "integer overflow");
        return JinjaValue(-v->as_int());
    }

    // Python arithmetic on int64/double; integer overflow is an error (Python has bigints).
    Value binary(const JinjaExpr& e, const std::string& op, const JinjaValue& a, const JinjaValue& b) {
        if (op == "~") return JinjaValue(a.str() + b.str());
        if (a.is_undefined()) return fail(e.line, undefined_message(*e.args[0]));
        if (b.is_undefined()) return fail(e.line, undefined_message(*e.args[1]));
        const bool ints = a.is_integral() && b.is_integral();
        const bool nums = a.is_number() && b.is_number();
        std::int64_t r = 0;
        const auto overflow = [&] { return fail(e.line, "integer overflow"); };
        if (op == "+") {
            if (ints) return __builtin_add_overflow(a.as_int(), b.as_int(), &r) ? overflow() : Value(JinjaValue(r));
            if (nums) return JinjaValue(a.as_double() + b.as_double());
            if (a.is_string() && b.is_string()) {
                if (a.as_string().size() + b.as_string().size() > limits_.max_output_bytes) return limit(e.line, "string size");
                return JinjaValue(a.as_string() + b.as_string());
            }
            if (a.is_list() && b.is_list()) {
                JinjaList items = a.as_list();
                items.insert(items.end(), b.as_list().begin(), b.as_list().end());
                return JinjaValue::list(std::move(items));
            }
        } else if (op == "-") {
            if (ints) return __builtin_sub_overflow(a.as_int(), b.as_int(), &r) ? overflow() : Value(JinjaValue(r));
            if (nums) return JinjaValue(a.as_double() - b.as_double());
        } else if (op == "*") {
            if (ints) return __builtin_mul_overflow(a.as_int(), b.as_int(), &r) ? overflow() : Value(JinjaValue(r));
            if (nums) return JinjaValue(a.as_double() * b.as_double());
            const JinjaValue* seq = a.is_integral() ? &b : &a;
            const JinjaValue* count = a.is_integral() ? &a : &b;
            if (count->is_integral() && (seq->is_string() || seq->is_list())) {
                const std::size_t unit = seq->is_string() ? seq->as_string().size() : 16 * seq->as_list().size();
                // An empty sequence stays empty at once: a huge count must not loop ('' * 10 ** 18).
                const std::int64_t n = unit ? std::max<std::int64_t>(count->as_int(), 0) : 0;
                if (unit && static_cast<std::uint64_t>(n) > limits_.max_output_bytes / unit) return limit(e.line, "string size");
                if (seq->is_string()) {
                    std::string out;
                    for (std::int64_t i = 0; i < n; ++i) out += seq->as_string();
                    return JinjaValue(std::move(out));
                }
                JinjaList items;
                for (std::int64_t i = 0; i < n; ++i) items.insert(items.end(), seq->as_list().begin(), seq->as_list().end());
                return JinjaValue::list(std::move(items));
            }
        } else if (op == "/") {
            if (nums) {
                if (b.as_double() == 0.0) return fail(e.line, "division by zero");
                return JinjaValue(a.as_double() / b.as_double());
            }
        } else if (op == "//" || op == "%") {
            if (ints) {
                const std::int64_t x = a.as_int(), y = b.as_int();
                if (y == 0) return fail(e.line, "integer division or modulo by zero");
                if (x == INT64_MIN && y == -1) return overflow();
                std::int64_t q = x / y, m = x % y;
                if (m != 0 && ((m < 0) != (y < 0))) {
                    --q;
                    m += y;
                }
                return JinjaValue(op == "//" ? q : m);
            }
            if (nums) {
                const double x = a.as_double(), y = b.as_double();
                if (y == 0.0) return fail(e.line, "float division or modulo by zero");
                // Python's float divmod: the remainder takes the divisor's sign.
                double m = std::fmod(x, y);
                double div = (x - m) / y;
                if (m != 0.0 && ((m < 0) != (y < 0))) {
                    m += y;
                    div -= 1.0;
                }
                if (op == "%") return JinjaValue(m != 0.0 ? m : std::copysign(0.0, y));
                double fl = std::floor(div);
                if (div - fl > 0.5) fl += 1.0;
                return JinjaValue(div != 0.0 ? fl : std::copysign(0.0, x / y));
            }
            if (op == "%" && a.is_string()) return unsupported(e.line, "string formatting with '%'");
        } else if (op == "**") {
            if (ints && b.as_int() >= 0) {
                std::int64_t base = a.as_int(), result = 1;
                for (std::int64_t i = 0; i < b.as_int(); ++i) {
                    if (__builtin_mul_overflow(result, base, &result)) return overflow();
                    if (result == 0 || result == 1) break;
                }
                if (result == 1 && base == -1 && b.as_int() % 2) result = -1;
                return JinjaValue(result);
            }
            if (nums) return JinjaValue(std::pow(a.as_double(), b.as_double()));
        }
        return fail(e.line, "unsupported operand types for " + op + ": '" + type_name(a) + "' and '" + type_name(b) + "'");
    }

    // Ordering for < <= > >=: numbers, strings (code point order = UTF-8 byte order), lists.
    Expected<int> order(const JinjaExpr& e, const JinjaValue& a, const JinjaValue& b) {
        if (a.is_number() && b.is_number()) {
            if (a.is_integral() && b.is_integral()) return a.as_int() < b.as_int() ? -1 : a.as_int() > b.as_int();
            const double x = a.as_double(), y = b.as_double();
            if (std::isnan(x) || std::isnan(y)) return 2;  // every comparison false
            return x < y ? -1 : x > y;
        }
        if (a.is_string() && b.is_string()) {
            const int c = a.as_string().compare(b.as_string());
            return c < 0 ? -1 : c > 0;
        }
        if (a.is_list() && b.is_list()) {
            const auto& x = a.as_list();
            const auto& y = b.as_list();
            for (std::size_t i = 0; i < x.size() && i < y.size(); ++i) {
                if (x[i].equals(y[i])) continue;
                return order(e, x[i], y[i]);
            }
            return x.size() < y.size() ? -1 : x.size() > y.size();
        }
        if (a.is_undefined() || b.is_undefined()) return fail(e.line, "comparison with an undefined value");
        return fail(e.line, std::string("ordering not supported between '") + type_name(a) + "' and '" + type_name(b) + "'");
    }

    Expected<bool> contains(const JinjaExpr& e, const JinjaValue& container, const JinjaValue& item) {
        switch (container.kind()) {
            case Kind::undefined: return false;
            case Kind::string:
                if (!item.is_string()) return fail(e.line, std::string("'in <string>' requires a string, not ") + type_name(item));
                return container.as_string().find(item.as_string()) != std::string::npos;
            case Kind::list:
                for (const auto& x : container.as_list())
                    if (x.equals(item)) return true;
                return false;
            case Kind::dict: return item.is_string() && container.find(item.as_string()) != nullptr;
            default: return fail(e.line, std::string("argument of type '") + type_name(container) + "' is not iterable");
        }
    }

    Expected<bool> compare(const JinjaExpr& e, const std::string& op, const JinjaValue& a, const JinjaValue& b) {
        if (op == "==") return a.equals(b);
        if (op == "!=") return !a.equals(b);
        if (op == "in" || op == "notin") {
            auto r = contains(e, b, a);
            if (!r) return r;
            return op == "in" ? *r : !*r;
        }
        auto c = order(e, a, b);
        if (!c) return c.status();
        if (*c == 2) return false;
        if (op == "<") return *c < 0;
        if (op == "<=") return *c <= 0;
        if (op == ">") return *c > 0;
        return *c >= 0;
    }

    // Items a for loop or filter walks: list items, string code points, dict keys.
    Expected<JinjaList> iterate(std::size_t line, const JinjaValue& v) {
        switch (v.kind()) {
            case Kind::undefined: return JinjaList{};
            case Kind::list: return v.as_list();
            case Kind::string: {
                JinjaList out;
                const auto offs = jinja_text::code_point_offsets(v.as_string());
                for (std::size_t i = 0; i + 1 < offs.size(); ++i)
                    out.emplace_back(v.as_string().substr(offs[i], offs[i + 1] - offs[i]));
                return out;
            }
            case Kind::dict: {
                JinjaList out;
                for (const auto& e : v.as_dict()) out.emplace_back(e.first);
                return out;
            }
            default: return fail(line, std::string("'") + type_name(v) + "' object is not iterable");
        }
    }

    // --- calls, filters, tests ----------------------------------------------------------

    struct Args {
        std::vector<JinjaValue> positional;
        Kwargs named;
    };

    // Evaluates args[first..]; the trailing e.kwargs.size() of them are keyword arguments.
    Expected<Args> eval_args(const JinjaExpr& e, std::size_t first) {
        Args out;
        const std::size_t n_kw = e.kwargs.size();
        for (std::size_t i = first; i < e.args.size(); ++i) {
            auto v = eval(*e.args[i]);
            if (!v) return v.status();
            if (i + n_kw >= e.args.size()) out.named.emplace_back(e.kwargs[i + n_kw - e.args.size()], std::move(*v));
            else out.positional.push_back(std::move(*v));
        }
        return out;
    }

    // Binds arguments to parameter names; an absent one is undefined.
    Expected<std::vector<JinjaValue>> bind_params(const JinjaExpr& e, const std::string& what, const Args& args,
                                                  std::initializer_list<std::string_view> names) {
        if (args.positional.size() > names.size())
            return fail(e.line, what + " takes at most " + std::to_string(names.size()) + " arguments");
        std::vector<JinjaValue> out(args.positional.begin(), args.positional.end());
        out.resize(names.size());
        for (const auto& [name, value] : args.named) {
            const auto it = std::find(names.begin(), names.end(), name);
            if (it == names.end()) return unsupported(e.line, what + ": argument '" + name + "' is not supported");
            out[static_cast<std::size_t>(it - names.begin())] = value;
        }
        return out;
    }

    Value eval_call(const JinjaExpr& e) {
        const JinjaExpr& callee = *e.args[0];
        if (callee.kind == JinjaExpr::Kind::attr) {
            auto obj = eval(*callee.args[0]);
            if (!obj) return obj;
            if (obj->is_undefined()) return fail(e.line, undefined_message(*callee.args[0]));
            auto args = eval_args(e, 1);
            if (!args) return args.status();
            return call_method(e, *obj, callee.name, *args);
        }
        if (callee.kind != JinjaExpr::Kind::name) return unsupported(e.line, "calling a computed value");
        if (is_defined(callee.name)) return fail(e.line, "'" + callee.name + "' is not callable");
        auto args = eval_args(e, 1);
        if (!args) return args.status();
        const std::string& fn = callee.name;
        if (fn == "raise_exception") {
            // The template's own verdict on the input; returned verbatim to the caller (an error
            // never goes out without a message, so an empty or undefined one is named as such).
            const std::string msg = args->positional.empty() ? std::string() : args->positional[0].str();
            return error(ErrorCode::invalid_argument, msg.empty() ? "the chat template raised an error without a message" : msg);
        }
        if (fn == "range") {
            const auto& p = args->positional;
            if (p.empty() || p.size() > 3 || !args->named.empty()) return fail(e.line, "range() takes 1 to 3 integer arguments");
            for (const auto& v : p)
                if (!v.is_integral()) return fail(e.line, "range() arguments must be integers");
            std::int64_t start = 0, stop = 0, by = 1;
            if (p.size() == 1) stop = p[0].as_int();
            else { start = p[0].as_int(); stop = p[1].as_int(); }
            if (p.size() == 3) by = p[2].as_int();
            if (by == 0) return fail(e.line, "range() step must not be zero");
            const long double span = by > 0 ? static_cast<long double>(stop) - start : static_cast<long double>(start) - stop;
            const long double count = span <= 0 ? 0 : std::ceil(span / std::abs(static_cast<long double>(by)));
            if (count > static_cast<long double>(limits_.max_loop_iterations)) return limit(e.line, "range size");
            JinjaList items;
            items.reserve(static_cast<std::size_t>(count));
            for (std::int64_t i = 0, x = start; i < static_cast<std::int64_t>(count); ++i, x += by) items.emplace_back(x);
            return JinjaValue::list(std::move(items));
        }
        if (fn == "namespace" || fn == "dict") {
            JinjaDict entries;
            for (const auto& v : args->positional) {
                if (!v.is_dict()) return fail(e.line, fn + "() positional arguments must be dicts");
                entries.insert(entries.end(), v.as_dict().begin(), v.as_dict().end());
            }
            JinjaValue out = fn == "namespace" ? JinjaValue::make_namespace() : JinjaValue::dict();
            for (const auto& [k, v] : entries) out.set(k, v);
            for (const auto& [k, v] : args->named) {
                if (fn == "namespace" && contains_namespace(v)) return unsupported(e.line, "storing a namespace in a namespace");
                out.set(k, v);
            }
            return out;
        }
        return unsupported(e.line, "function '" + fn + "' is not supported");
    }

    Value call_method(const JinjaExpr& e, const JinjaValue& obj, const std::string& name, const Args& args) {
        const std::string what = std::string(type_name(obj)) + "." + name + "()";
        if (obj.is_string()) {
            const std::string& s = obj.as_string();
            if (name == "strip" || name == "lstrip" || name == "rstrip") {
                auto p = bind_params(e, what, args, {"chars"});
                if (!p) return p.status();
                const std::string* chars = (*p)[0].is_string() ? &(*p)[0].as_string() : nullptr;
                return JinjaValue(jinja_text::strip(s, name != "rstrip", name != "lstrip", chars));
            }
            if (name == "upper") return JinjaValue(ascii_map(s, to_upper));
            if (name == "lower") return JinjaValue(ascii_map(s, to_lower));
            if (name == "title") return JinjaValue(title_case(s));
            if (name == "capitalize") return JinjaValue(capitalize(s));
            if (name == "startswith" || name == "endswith") {
                auto p = bind_params(e, what, args, {"prefix"});
                if (!p) return p.status();
                JinjaList options = (*p)[0].is_list() ? (*p)[0].as_list() : JinjaList{(*p)[0]};
                for (const auto& o : options) {
                    if (!o.is_string()) return fail(e.line, what + " expects a string");
                    const std::string& x = o.as_string();
                    if (name == "startswith" ? s.starts_with(x) : s.ends_with(x)) return JinjaValue(true);
                }
                return JinjaValue(false);
            }
            if (name == "replace") {
                auto p = bind_params(e, what, args, {"old", "new", "count"});
                if (!p) return p.status();
                if (!(*p)[0].is_string() || !(*p)[1].is_string()) return fail(e.line, what + " expects strings");
                const std::int64_t count = (*p)[2].is_integral() ? (*p)[2].as_int() : -1;
                return JinjaValue(replace_all(s, (*p)[0].as_string(), (*p)[1].as_string(), count));
            }
            if (name == "split") return split(e, what, s, args);
            if (name == "join") {
                auto p = bind_params(e, what, args, {"iterable"});
                if (!p) return p.status();
                auto items = iterate(e.line, (*p)[0]);
                if (!items) return items.status();
                std::string out;
                for (std::size_t i = 0; i < items->size(); ++i) {
                    if (!(*items)[i].is_string()) return fail(e.line, what + " expects strings");
                    if (i) out += s;
                    out += (*items)[i].as_string();
                }
                return JinjaValue(std::move(out));
            }
        } else if (obj.is_dict()) {
            if (name == "items" || name == "keys" || name == "values") {
                if (!args.positional.empty() || !args.named.empty()) return fail(e.line, what + " takes no arguments");
                return dict_view(obj, name);
            }
            if (name == "get") {
                auto p = bind_params(e, what, args, {"key", "default"});
                if (!p) return p.status();
                if ((*p)[0].is_string())
                    if (const JinjaValue* v = obj.find((*p)[0].as_string())) return *v;
                return (*p)[1].is_undefined() ? JinjaValue::none() : (*p)[1];
            }
        }
        return unsupported(e.line, "method " + what + " is not supported");
    }

    static JinjaValue dict_view(const JinjaValue& obj, const std::string& which) {
        JinjaList out;
        for (const auto& [k, v] : obj.as_dict()) {
            if (which == "items") out.push_back(JinjaValue::tuple({JinjaValue(k), v}));
            else if (which == "keys") out.emplace_back(k);
            else out.push_back(v);
        }
        return JinjaValue::list(std::move(out));
    }

    Value split(const JinjaExpr& e, const std::string& what, const std::string& s, const Args& args) {
        auto p = bind_params(e, what, args, {"sep", "maxsplit"});
        if (!p) return p.status();
        std::int64_t max_split = (*p)[1].is_integral() ? (*p)[1].as_int() : -1;
        JinjaList out;
        if ((*p)[0].is_string()) {
            const std::string& sep = (*p)[0].as_string();
            if (sep.empty()) return fail(e.line, "empty separator");
            std::size_t pos = 0;
            while (max_split < 0 || static_cast<std::int64_t>(out.size()) < max_split) {
                const std::size_t hit = s.find(sep, pos);
                if (hit == std::string::npos) break;
                out.emplace_back(s.substr(pos, hit - pos));
                pos = hit + sep.size();
            }
            out.emplace_back(s.substr(pos));
            return JinjaValue::list(std::move(out));
        }
        // No separator: split on runs of whitespace, dropping empty pieces.
        std::size_t i = 0;
        while (i < s.size()) {
            while (i < s.size() && jinja_text::space_at(s, i)) i += jinja_text::space_at(s, i);
            if (i >= s.size()) break;
            if (max_split >= 0 && static_cast<std::int64_t>(out.size()) >= max_split) {
                out.emplace_back(jinja_text::strip(s.substr(i), false, true, nullptr));
                break;
            }
            const std::size_t begin = i;
            while (i < s.size() && !jinja_text::space_at(s, i)) ++i;
            out.emplace_back(s.substr(begin, i - begin));
        }
        return JinjaValue::list(std::move(out));
    }

    // Attribute used by selectattr/map/join(attribute=): dotted path of dict keys.
    static JinjaValue get_path(const JinjaValue& v, const std::string& path) {
        JinjaValue cur = v;
        std::size_t pos = 0;
        while (pos <= path.size()) {
            const std::size_t dot = path.find('.', pos);
            const std::string key = path.substr(pos, dot == std::string::npos ? std::string::npos : dot - pos);
            const JinjaValue* next = cur.find(key);
            if (!next) return {};
            cur = *next;
            if (dot == std::string::npos) break;
            pos = dot + 1;
        }
        return cur;
    }

    Value eval_filter(const JinjaExpr& e) {
        auto subject = eval(*e.args[0]);
        if (!subject) return subject;
        auto args = eval_args(e, 1);
        if (!args) return args.status();
        return apply_filter(e, e.name, *subject, *args);
    }

    Value apply_filter(const JinjaExpr& e, const std::string& name, const JinjaValue& v, const Args& args) {
        const std::string what = "filter '" + name + "'";
        auto params = [&](std::initializer_list<std::string_view> names) { return bind_params(e, what, args, names); };
        if (name == "trim") {
            auto p = params({"chars"});
            if (!p) return p.status();
            const std::string* chars = (*p)[0].is_string() ? &(*p)[0].as_string() : nullptr;
            return JinjaValue(jinja_text::strip(v.str(), true, true, chars));
        }
        if (name == "upper") return JinjaValue(ascii_map(v.str(), to_upper));
        if (name == "lower") return JinjaValue(ascii_map(v.str(), to_lower));
        if (name == "capitalize") return JinjaValue(capitalize(v.str()));
        if (name == "title") return JinjaValue(title_case(v.str()));
        if (name == "string" || name == "safe") return JinjaValue(v.str());
        if (name == "length" || name == "count") {
            if (v.is_undefined() || v.is_string() || v.is_list() || v.is_dict()) return JinjaValue(static_cast<std::int64_t>(v.length()));
            return fail(e.line, std::string("object of type '") + type_name(v) + "' has no len()");
        }
        if (name == "default" || name == "d") {
            auto p = params({"default_value", "boolean"});
            if (!p) return p.status();
            const bool use_default = v.is_undefined() || ((*p)[1].truthy() && !v.truthy());
            if (!use_default) return v;
            return (*p)[0].is_undefined() ? JinjaValue("") : (*p)[0];
        }
        if (name == "join") {
            auto p = params({"d", "attribute"});
            if (!p) return p.status();
            auto items = iterate(e.line, v);
            if (!items) return items.status();
            std::string out;
            const std::string sep = (*p)[0].str();
            for (std::size_t i = 0; i < items->size(); ++i) {
                if (i) out += sep;
                out += (*p)[1].is_undefined() ? (*items)[i].str() : get_path((*items)[i], (*p)[1].str()).str();
                if (out.size() > limits_.max_output_bytes) return limit(e.line, "string size");
            }
            return JinjaValue(std::move(out));
        }
        if (name == "first" || name == "last") {
            auto items = iterate(e.line, v);
            if (!items) return items.status();
            if (items->empty()) return JinjaValue();
            return name == "first" ? items->front() : items->back();
        }
        if (name == "list") {
            auto items = iterate(e.line, v);
            if (!items) return items.status();
            return JinjaValue::list(std::move(*items));
        }
        if (name == "reverse") {
            if (v.is_string()) {
                auto items = iterate(e.line, v);
                std::string out;
                for (auto it = items->rbegin(); it != items->rend(); ++it) out += it->as_string();
                return JinjaValue(std::move(out));
            }
            auto items = iterate(e.line, v);
            if (!items) return items.status();
            std::reverse(items->begin(), items->end());
            return JinjaValue::list(std::move(*items));
        }
        if (name == "items") {
            if (v.is_undefined()) return JinjaValue::list();
            if (!v.is_dict()) return fail(e.line, "filter 'items' expects a mapping");
            return dict_view(v, "items");
        }
        if (name == "unique") {
            auto items = iterate(e.line, v);
            if (!items) return items.status();
            JinjaList out;
            for (const auto& x : *items)
                if (std::none_of(out.begin(), out.end(), [&](const JinjaValue& y) { return y.equals(x); })) out.push_back(x);
            return JinjaValue::list(std::move(out));
        }
        if (name == "tojson") {
            auto p = params({"indent"});
            if (!p) return p.status();
            if (!(*p)[0].is_undefined() && !(*p)[0].is_none() && !(*p)[0].is_integral())
                return fail(e.line, "tojson indent must be an integer");
            const int indent = (*p)[0].is_integral() ? static_cast<int>(std::clamp<std::int64_t>((*p)[0].as_int(), 0, 64)) : -1;
            auto json = v.to_json(indent);
            if (!json) return fail(e.line, json.status().message());
            return JinjaValue(std::move(*json));
        }
        if (name == "int" || name == "float") return to_number(e, name, v, args);
        if (name == "abs") {
            if (!v.is_number()) return fail(e.line, std::string("bad operand type for abs(): ") + type_name(v));
            if (v.kind() == Kind::floating) return JinjaValue(std::fabs(v.as_double()));
            if (v.as_int() == INT64_MIN) return fail(e.line, "integer overflow");
            return JinjaValue(v.as_int() < 0 ? -v.as_int() : v.as_int());
        }
        if (name == "sum") {
            auto p = params({"attribute", "start"});
            if (!p) return p.status();
            auto items = iterate(e.line, v);
            if (!items) return items.status();
            JinjaValue total = (*p)[1].is_undefined() ? JinjaValue(0) : (*p)[1];
            for (const auto& x : *items) {
                auto t = binary(e, "+", total, (*p)[0].is_undefined() ? x : get_path(x, (*p)[0].str()));
                if (!t) return t;
                total = std::move(*t);
            }
            return total;
        }
        if (name == "replace") {
            auto p = params({"old", "new", "count"});
            if (!p) return p.status();
            const std::int64_t count = (*p)[2].is_integral() ? (*p)[2].as_int() : -1;
            return JinjaValue(replace_all(v.str(), (*p)[0].str(), (*p)[1].str(), count));
        }
        if (name == "selectattr" || name == "rejectattr") {
            if (args.positional.empty() || !args.named.empty()) return fail(e.line, what + " takes an attribute name and an optional test");
            auto items = iterate(e.line, v);
            if (!items) return items.status();
            const std::string attr = args.positional[0].str();
            JinjaList out;
            for (const auto& x : *items) {
                const JinjaValue field = get_path(x, attr);
                bool keep = field.truthy();
                if (args.positional.size() > 1) {
                    const std::vector<JinjaValue> test_args(args.positional.begin() + 2, args.positional.end());
                    auto r = apply_test(e, args.positional[1].str(), field, test_args);
                    if (!r) return r.status();
                    keep = *r;
                }
                if (keep == (name == "selectattr")) out.push_back(x);
            }
            return JinjaValue::list(std::move(out));
        }
        if (name == "map") {
            auto items = iterate(e.line, v);
            if (!items) return items.status();
            JinjaList out;
            if (args.positional.empty()) {
                auto p = params({"attribute", "default"});
                if (!p) return p.status();
                if ((*p)[0].is_undefined()) return fail(e.line, "map needs an attribute or a filter name");
                for (const auto& x : *items) {
                    JinjaValue field = get_path(x, (*p)[0].str());
                    out.push_back(field.is_undefined() && !(*p)[1].is_undefined() ? (*p)[1] : field);
                }
            } else {
                const std::string inner = args.positional[0].str();
                if (inner == "map" || inner == "selectattr" || inner == "rejectattr" || inner == "sum")
                    return unsupported(e.line, "map with filter '" + inner + "'");
                Args rest{{args.positional.begin() + 1, args.positional.end()}, args.named};
                for (const auto& x : *items) {
                    auto r = apply_filter(e, inner, x, rest);
                    if (!r) return r;
                    out.push_back(std::move(*r));
                }
            }
            return JinjaValue::list(std::move(out));
        }
        return unsupported(e.line, what + " is not supported");
    }

    Value to_number(const JinjaExpr& e, const std::string& name, const JinjaValue& v, const Args& args) {
        auto p = bind_params(e, "filter '" + name + "'", args, {"default"});
        if (!p) return p.status();
        const JinjaValue fallback = !(*p)[0].is_undefined() ? (*p)[0] : name == "int" ? JinjaValue(0) : JinjaValue(0.0);
        std::optional<double> d;
        std::optional<std::int64_t> i;
        if (v.is_integral()) i = v.as_int();
        else if (v.kind() == Kind::floating) d = v.as_double();
        else if (v.is_string()) {
            const std::string t = jinja_text::strip(v.as_string(), true, true, nullptr);
            std::int64_t x = 0;
            const auto r = std::from_chars(t.data() + (t.starts_with('+') ? 1 : 0), t.data() + t.size(), x);
            if (!t.empty() && r.ec == std::errc() && r.ptr == t.data() + t.size()) {
                i = x;
            } else if (!t.empty()) {
                char* end = nullptr;
                const double f = std::strtod(t.c_str(), &end);
                if (end == t.c_str() + t.size()) d = f;
            }
        }
        if (name == "int") {
            if (i) return JinjaValue(*i);
            if (d && std::isfinite(*d) && std::fabs(*d) < 9.2e18) return JinjaValue(static_cast<std::int64_t>(std::trunc(*d)));
            return fallback;
        }
        if (i) return JinjaValue(static_cast<double>(*i));
        if (d) return JinjaValue(*d);
        return fallback;
    }

    Value eval_test(const JinjaExpr& e) {
        auto subject = eval(*e.args[0]);
        if (!subject) return subject;
        auto args = eval_args(e, 1);
        if (!args) return args.status();
        if (!args->named.empty()) return unsupported(e.line, "keyword arguments to tests");
        auto r = apply_test(e, e.name, *subject, args->positional);
        if (!r) return r.status();
        return JinjaValue(e.negated ? !*r : *r);
    }

    Expected<bool> apply_test(const JinjaExpr& e, const std::string& name, const JinjaValue& v,
                              const std::vector<JinjaValue>& args) {
        auto arg = [&]() -> Expected<JinjaValue> {
            if (args.size() != 1) return fail(e.line, "test '" + name + "' takes one argument");
            return args[0];
        };
        if (name == "defined") return !v.is_undefined();
        if (name == "undefined") return v.is_undefined();
        if (name == "none") return v.is_none();
        if (name == "string") return v.is_string();
        if (name == "number") return v.is_number();
        if (name == "integer") return v.kind() == Kind::integer;
        if (name == "float") return v.kind() == Kind::floating;
        if (name == "boolean") return v.kind() == Kind::boolean;
        if (name == "true") return v.kind() == Kind::boolean && v.as_int() != 0;
        if (name == "false") return v.kind() == Kind::boolean && v.as_int() == 0;
        if (name == "mapping") return v.is_dict();
        if (name == "iterable") return v.is_undefined() || v.is_string() || v.is_list() || v.is_dict();
        if (name == "sequence") return v.is_string() || v.is_list() || v.is_dict();
        if (name == "lower" || name == "upper") {
            const std::string s = v.str();
            bool cased = false;
            for (char c : s) {
                if (!is_alpha(c)) continue;
                cased = true;
                if ((name == "lower") != (c >= 'a' && c <= 'z')) return false;
            }
            return cased;
        }
        if (name == "even" || name == "odd" || name == "divisibleby") {
            if (!v.is_integral()) return fail(e.line, "test '" + name + "' expects an integer");
            std::int64_t by = 2;
            if (name == "divisibleby") {
                auto a = arg();
                if (!a) return a.status();
                if (!a->is_integral() || a->as_int() == 0) return fail(e.line, "divisibleby expects a non-zero integer");
                by = a->as_int();
            }
            const bool divisible = by == -1 || v.as_int() % by == 0;
            return name == "odd" ? !divisible : divisible;
        }
        auto a = arg();
        if (!a) return a.status();
        if (name == "eq" || name == "equalto" || name == "==") return v.equals(*a);
        if (name == "ne" || name == "!=") return !v.equals(*a);
        if (name == "in") return contains(e, *a, v);
        static const std::pair<const char*, const char*> ordered[] = {{"lt", "<"}, {"gt", ">"}, {"le", "<="}, {"ge", ">="}};
        for (const auto& [test, op] : ordered)
            if (name == test) return compare(e, op, v, *a);
        return unsupported(e.line, "test '" + name + "' is not supported");
    }

    const JinjaLimits& limits_;
    std::vector<JinjaDict> scopes_;
    std::string out_;
    std::uint64_t steps_ = 0;
    std::uint64_t iterations_ = 0;
    std::uint64_t work_ = 0;
};

}  // namespace

Expected<JinjaTemplate> JinjaTemplate::parse(std::string_view source, const JinjaLimits& limits, const JinjaLexOptions& lex) {
    try {
        if (source.size() > limits.max_source_bytes)
            return error(ErrorCode::out_of_memory, "template is larger than " + std::to_string(limits.max_source_bytes) + " bytes");
        auto segments = jinja_lex(source, lex);
        if (!segments) return segments.status();
        auto nodes = jinja_parse(*segments, limits.max_depth);
        if (!nodes) return nodes.status();
        return JinjaTemplate(std::move(*nodes), limits);
    } catch (const std::bad_alloc&) {
        return error(ErrorCode::out_of_memory, "out of memory parsing the template");
    } catch (const std::exception& ex) {
        return error(ErrorCode::internal, std::string("parsing the template: ") + ex.what());
    }
}

Expected<std::string> JinjaTemplate::render(const JinjaValue& context) const {
    if (!context.is_dict()) return error(ErrorCode::invalid_argument, "template context must be a dict");
    try {
        Renderer renderer(limits_, context);
        KVMIX_TRY(renderer.run(nodes_));
        return renderer.take_output();
    } catch (const std::bad_alloc&) {
        return error(ErrorCode::out_of_memory, "out of memory rendering the template");
    } catch (const std::exception& ex) {
        return error(ErrorCode::internal, std::string("rendering the template: ") + ex.what());
    }
}

}  // namespace kvmix
