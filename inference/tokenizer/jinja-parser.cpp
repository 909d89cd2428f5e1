// Recursive-descent parser with jinja2's operator precedence (lowest first):
// if-else, or, and, not, comparisons/in, + -, ~, * / // %, **, unary - +, then primary
// with postfix (. [] ()) and filters/tests (| is), which bind tighter than unary minus.
#include "tokenizer/jinja-parser.h"

#include <algorithm>
#include <array>
#include <initializer_list>

namespace kvmix {

namespace {

constexpr std::array<std::string_view, 27> kFilters = {
    "trim", "length", "count", "upper", "lower", "default", "d", "join", "first",
    "last", "tojson", "string", "int", "float", "capitalize", "title", "replace", "list",
    "selectattr", "rejectattr", "map", "abs", "reverse", "safe", "items", "unique", "sum"};
constexpr std::array<std::string_view, 28> kTests = {
    "defined", "undefined", "none", "string", "number", "integer", "float", "boolean",
    "mapping", "iterable", "sequence", "true", "false", "even", "odd", "divisibleby",
    "eq", "equalto", "==", "ne", "!=", "lt", "gt", "le", "ge", "in", "lower", "upper"};
constexpr std::array<std::string_view, 14> kUnsupportedTags = {
    "macro", "call", "filter", "block", "extends", "include", "import", "from", "with",
    "autoescape", "do", "generation", "endgeneration", "endmacro"};

template <std::size_t N>
bool contains(const std::array<std::string_view, N>& set, std::string_view s) {
    return std::find(set.begin(), set.end(), s) != set.end();
}

class Parser {
public:
    Parser(const std::vector<JinjaSegment>& segments, std::size_t max_depth)
        : segments_(segments), max_depth_(max_depth) {}

    Expected<std::vector<JinjaNode>> parse_all() {
        std::vector<JinjaNode> nodes;
        std::string end;
        KVMIX_TRY(parse_block(nodes, {}, end));
        return nodes;
    }

private:
    // --- statements -------------------------------------------------------------------

    // Parses nodes until a stmt whose keyword is in end_tags (returned in end, with the
    // token cursor after the keyword) or the end of input when end_tags is empty.
    Status parse_block(std::vector<JinjaNode>& out, std::initializer_list<std::string_view> end_tags,
                       std::string& end) {
        if (++block_depth_ > max_depth_) return depth_error();
        while (seg_ < segments_.size()) {
            const JinjaSegment& seg = segments_[seg_++];
            line_ = seg.line;
            if (seg.kind == JinjaSegment::Kind::text) {
                JinjaNode n;
                n.kind = JinjaNode::Kind::text;
                n.line = seg.line;
                n.text = seg.text;
                out.push_back(std::move(n));
                continue;
            }
            tokens_ = &seg.tokens;
            tok_ = 0;
            if (seg.kind == JinjaSegment::Kind::expr) {
                JinjaNode n;
                n.kind = JinjaNode::Kind::output;
                n.line = seg.line;
                auto e = parse_expr(true);
                if (!e) return e.status();
                n.expr = std::move(*e);
                KVMIX_TRY(expect_end());
                out.push_back(std::move(n));
                continue;
            }
            if (tokens_->empty() || peek().kind != JinjaToken::Kind::name) return fail("expected a statement name");
            const std::string keyword = next().text;
            if (std::find(end_tags.begin(), end_tags.end(), keyword) != end_tags.end()) {
                end = keyword;
                --block_depth_;
                return {};
            }
            if (keyword == "if") {
                KVMIX_TRY(parse_if(out));
            } else if (keyword == "for") {
                KVMIX_TRY(parse_for(out));
            } else if (keyword == "set") {
                KVMIX_TRY(parse_set(out));
            } else if (keyword == "break" || keyword == "continue") {
                if (loop_depth_ == 0) return fail("'" + keyword + "' outside a loop");
                KVMIX_TRY(expect_end());
                JinjaNode n;
                n.kind = keyword == "break" ? JinjaNode::Kind::loop_break : JinjaNode::Kind::loop_continue;
                n.line = seg.line;
                out.push_back(std::move(n));
            } else if (contains(kUnsupportedTags, keyword)) {
                return error(ErrorCode::unsupported, where() + "'{% " + keyword + " %}' is not supported");
            } else {
                return fail("unexpected '{% " + keyword + " %}'");
            }
        }
        if (end_tags.size() != 0)
            return format_error(where() + "missing '{% " + std::string(*(end_tags.end() - 1)) + " %}'");
        --block_depth_;
        return {};
    }

    Status parse_if(std::vector<JinjaNode>& out) {
        JinjaNode n;
        n.kind = JinjaNode::Kind::if_chain;
        n.line = line_;
        std::string end = "elif";
        while (end == "elif") {
            auto cond = parse_expr(true);
            if (!cond) return cond.status();
            KVMIX_TRY(expect_end());
            n.conds.push_back(std::move(*cond));
            n.bodies.emplace_back();
            KVMIX_TRY(parse_block(n.bodies.back(), {"elif", "else", "endif"}, end));
        }
        if (end == "else") {
            KVMIX_TRY(expect_end());
            n.bodies.emplace_back();
            KVMIX_TRY(parse_block(n.bodies.back(), {"endif"}, end));
        }
        KVMIX_TRY(expect_end());
        out.push_back(std::move(n));
        return {};
    }

    Status parse_targets(std::vector<std::string>& targets) {
        const bool paren = accept_op("(");
        do {
            if (at_end() || peek().kind != JinjaToken::Kind::name) return fail("expected a variable name");
            targets.push_back(next().text);
        } while (accept_op(","));
        if (paren && !accept_op(")")) return fail("expected ')'");
        return {};
    }

    Status parse_for(std::vector<JinjaNode>& out) {
        JinjaNode n;
        n.kind = JinjaNode::Kind::for_loop;
        n.line = line_;
        KVMIX_TRY(parse_targets(n.targets));
        if (!accept_name("in")) return fail("expected 'in' in for loop");
        auto iter = parse_expr(false);
        if (!iter) return iter.status();
        n.expr = std::move(*iter);
        if (accept_name("if")) {
            auto filter = parse_expr(true);
            if (!filter) return filter.status();
            n.filter = std::move(*filter);
        }
        if (accept_name("recursive"))
            return error(ErrorCode::unsupported, where() + "recursive loops are not supported");
        KVMIX_TRY(expect_end());
        ++loop_depth_;
        std::string end;
        n.bodies.emplace_back();
        KVMIX_TRY(parse_block(n.bodies.back(), {"else", "endfor"}, end));
        --loop_depth_;
        n.bodies.emplace_back();
        if (end == "else") {
            KVMIX_TRY(expect_end());
            KVMIX_TRY(parse_block(n.bodies.back(), {"endfor"}, end));
        }
        KVMIX_TRY(expect_end());
        out.push_back(std::move(n));
        return {};
    }

    Status parse_set(std::vector<JinjaNode>& out) {
        JinjaNode n;
        n.kind = JinjaNode::Kind::set;
        n.line = line_;
        if (at_end() || peek().kind != JinjaToken::Kind::name) return fail("expected a variable name after 'set'");
        n.targets.push_back(next().text);
        if (accept_op(".")) {
            if (at_end() || peek().kind != JinjaToken::Kind::name) return fail("expected an attribute name");
            n.kind = JinjaNode::Kind::set_attr;
            n.text = next().text;
        } else {
            while (accept_op(",")) {
                if (at_end() || peek().kind != JinjaToken::Kind::name) return fail("expected a variable name");
                n.targets.push_back(next().text);
            }
        }
        if (at_end()) return error(ErrorCode::unsupported, where() + "block '{% set %}' is not supported");
        if (!accept_op("=")) return fail("expected '=' in set");
        auto value = parse_expr(true);
        if (!value) return value.status();
        n.expr = std::move(*value);
        KVMIX_TRY(expect_end());
        out.push_back(std::move(n));
        return {};
    }

    // --- expressions ------------------------------------------------------------------

    using Result = Expected<JinjaExprPtr>;

    JinjaExprPtr make(JinjaExpr::Kind kind, std::string name = {}) {
        auto e = std::make_unique<JinjaExpr>();
        e->kind = kind;
        e->line = line_;
        e->name = std::move(name);
        return e;
    }

    struct DepthGuard {
        std::size_t& depth;
        explicit DepthGuard(std::size_t& d) : depth(d) { ++depth; }
        ~DepthGuard() { --depth; }
        DepthGuard(const DepthGuard&) = delete;
        DepthGuard& operator=(const DepthGuard&) = delete;
    };

    Result parse_expr(bool allow_cond) {
        DepthGuard guard(expr_depth_);
        if (expr_depth_ > max_depth_) return depth_error();
        auto e = parse_or();
        if (!e) return e;
        JinjaExprPtr node = std::move(*e);
        while (allow_cond && accept_name("if")) {
            auto cond = parse_or();
            if (!cond) return cond;
            auto c = make(JinjaExpr::Kind::cond);
            add(*c, std::move(node));
            add(*c, std::move(*cond));
            if (accept_name("else")) {
                auto other = parse_expr(true);
                if (!other) return other;
                add(*c, std::move(*other));
            } else {
                add(*c, nullptr);
            }
            node = std::move(c);
            if (too_deep_) return depth_error();
        }
        if (too_deep_) return depth_error();
        return node;
    }

    Result parse_or() {
        auto e = parse_and();
        if (!e) return e;
        JinjaExprPtr node = std::move(*e);
        while (accept_name("or")) {
            auto rhs = parse_and();
            if (!rhs) return rhs;
            node = binary(JinjaExpr::Kind::logic_or, "or", std::move(node), std::move(*rhs));
            if (too_deep_) return depth_error();
        }
        return node;
    }

    Result parse_and() {
        auto e = parse_not();
        if (!e) return e;
        JinjaExprPtr node = std::move(*e);
        while (accept_name("and")) {
            auto rhs = parse_not();
            if (!rhs) return rhs;
            node = binary(JinjaExpr::Kind::logic_and, "and", std::move(node), std::move(*rhs));
            if (too_deep_) return depth_error();
        }
        return node;
    }

    Result parse_not() {
        DepthGuard guard(expr_depth_);
        if (expr_depth_ > max_depth_) return depth_error();
        if (accept_name("not")) {
            auto operand = parse_not();
            if (!operand) return operand;
            auto n = make(JinjaExpr::Kind::unary, "not");
            add(*n, std::move(*operand));
            return n;
        }
        return parse_compare();
    }

    Result parse_compare() {
        auto e = parse_math1();
        if (!e) return e;
        JinjaExprPtr cmp;
        while (!at_end()) {
            std::string op;
            const JinjaToken& t = peek();
            if (t.kind == JinjaToken::Kind::op &&
                (t.text == "==" || t.text == "!=" || t.text == "<" || t.text == "<=" || t.text == ">" || t.text == ">=")) {
                op = t.text;
                ++tok_;
            } else if (accept_name("in")) {
                op = "in";
            } else if (t.kind == JinjaToken::Kind::name && t.text == "not" && tok_ + 1 < tokens_->size() &&
                       (*tokens_)[tok_ + 1].kind == JinjaToken::Kind::name && (*tokens_)[tok_ + 1].text == "in") {
                tok_ += 2;
                op = "notin";
            } else {
                break;
            }
            auto rhs = parse_math1();
            if (!rhs) return rhs;
            if (!cmp) {
                cmp = make(JinjaExpr::Kind::compare);
                add(*cmp, std::move(*e));
            }
            cmp->ops.push_back(op);
            add(*cmp, std::move(*rhs));
            if (too_deep_) return depth_error();
        }
        if (cmp) return cmp;
        return e;
    }

    template <class Next>
    Result parse_binary_level(std::initializer_list<std::string_view> ops, Next next_level) {
        auto e = (this->*next_level)();
        if (!e) return e;
        JinjaExprPtr node = std::move(*e);
        while (!at_end() && peek().kind == JinjaToken::Kind::op &&
               std::find(ops.begin(), ops.end(), peek().text) != ops.end()) {
            const std::string op = next().text;
            auto rhs = (this->*next_level)();
            if (!rhs) return rhs;
            node = binary(JinjaExpr::Kind::binary, op, std::move(node), std::move(*rhs));
            if (too_deep_) return depth_error();
        }
        return node;
    }

    Result parse_math1() { return parse_binary_level({"+", "-"}, &Parser::parse_concat); }
    Result parse_concat() { return parse_binary_level({"~"}, &Parser::parse_math2); }
    Result parse_math2() { return parse_binary_level({"*", "/", "//", "%"}, &Parser::parse_pow); }
    Result parse_pow() { return parse_binary_level({"**"}, &Parser::parse_unary_filtered); }
    Result parse_unary_filtered() { return parse_unary(true); }

    Result parse_unary(bool with_filter) {
        DepthGuard guard(expr_depth_);
        if (expr_depth_ > max_depth_) return depth_error();
        JinjaExprPtr node;
        if (!at_end() && peek().kind == JinjaToken::Kind::op && (peek().text == "-" || peek().text == "+")) {
            auto n = make(JinjaExpr::Kind::unary, next().text);
            auto operand = parse_unary(false);
            if (!operand) return operand;
            add(*n, std::move(*operand));
            node = std::move(n);
        } else {
            auto p = parse_primary();
            if (!p) return p;
            node = std::move(*p);
        }
        auto post = parse_postfix(std::move(node));
        if (!post || !with_filter) return post;
        return parse_filters(std::move(*post));
    }

    Result parse_primary() {
        if (at_end()) return fail("unexpected end of expression");
        const JinjaToken& t = next();
        switch (t.kind) {
            case JinjaToken::Kind::name: {
                auto lit = make(JinjaExpr::Kind::literal);
                if (t.text == "true" || t.text == "True") lit->value = JinjaValue(true);
                else if (t.text == "false" || t.text == "False") lit->value = JinjaValue(false);
                else if (t.text == "none" || t.text == "None") lit->value = JinjaValue::none();
                else return make(JinjaExpr::Kind::name, t.text);
                return lit;
            }
            case JinjaToken::Kind::string: {
                std::string s = t.text;
                while (!at_end() && peek().kind == JinjaToken::Kind::string) s += next().text;
                auto lit = make(JinjaExpr::Kind::literal);
                lit->value = JinjaValue(std::move(s));
                return lit;
            }
            case JinjaToken::Kind::integer: {
                auto lit = make(JinjaExpr::Kind::literal);
                lit->value = JinjaValue(t.int_value);
                return lit;
            }
            case JinjaToken::Kind::floating: {
                auto lit = make(JinjaExpr::Kind::literal);
                lit->value = JinjaValue(t.float_value);
                return lit;
            }
            case JinjaToken::Kind::op: break;
        }
        if (t.text == "(") {
            // Parenthesized expression or tuple (a tuple behaves as a list here).
            if (accept_op(")")) return make(JinjaExpr::Kind::list, "tuple");
            auto first = parse_expr(true);
            if (!first) return first;
            if (accept_op(")")) return first;
            auto list = make(JinjaExpr::Kind::list, "tuple");
            add(*list, std::move(*first));
            while (accept_op(",")) {
                if (accept_op(")")) return list;
                auto item = parse_expr(true);
                if (!item) return item;
                add(*list, std::move(*item));
            }
            if (!accept_op(")")) return fail("expected ')'");
            return list;
        }
        if (t.text == "[") {
            auto list = make(JinjaExpr::Kind::list);
            while (!accept_op("]")) {
                if (!list->args.empty() && !accept_op(",")) return fail("expected ',' or ']'");
                if (accept_op("]")) break;
                auto item = parse_expr(true);
                if (!item) return item;
                add(*list, std::move(*item));
            }
            return list;
        }
        if (t.text == "{") {
            auto dict = make(JinjaExpr::Kind::dict);
            while (!accept_op("}")) {
                if (!dict->args.empty() && !accept_op(",")) return fail("expected ',' or '}'");
                if (accept_op("}")) break;
                auto key = parse_expr(true);
                if (!key) return key;
                if (!accept_op(":")) return fail("expected ':' in dict literal");
                auto value = parse_expr(true);
                if (!value) return value;
                add(*dict, std::move(*key));
                add(*dict, std::move(*value));
            }
            return dict;
        }
        return fail("unexpected '" + t.text + "'");
    }

    Result parse_postfix(JinjaExprPtr node) {
        while (!at_end() && peek().kind == JinjaToken::Kind::op) {
            if (accept_op(".")) {
                if (at_end()) return fail("expected an attribute name");
                const JinjaToken& t = next();
                if (t.kind == JinjaToken::Kind::name) {
                    auto a = make(JinjaExpr::Kind::attr, t.text);
                    add(*a, std::move(node));
                    node = std::move(a);
                } else if (t.kind == JinjaToken::Kind::integer) {
                    auto idx = make(JinjaExpr::Kind::index);
                    auto lit = make(JinjaExpr::Kind::literal);
                    lit->value = JinjaValue(t.int_value);
                    add(*idx, std::move(node));
                    add(*idx, std::move(lit));
                    node = std::move(idx);
                } else {
                    return fail("expected an attribute name");
                }
            } else if (accept_op("[")) {
                auto sub = parse_subscript(std::move(node));
                if (!sub) return sub;
                node = std::move(*sub);
            } else if (peek().text == "(") {
                ++tok_;
                auto call = make(JinjaExpr::Kind::call);
                add(*call, std::move(node));
                KVMIX_TRY(parse_call_args(*call));
                node = std::move(call);
            } else {
                break;
            }
            if (too_deep_) return depth_error();
        }
        return node;
    }

    Result parse_subscript(JinjaExprPtr object) {
        std::array<JinjaExprPtr, 3> parts;
        int colons = 0;
        for (;;) {
            if (accept_op("]")) break;
            if (accept_op(":")) {
                if (++colons > 2) return fail("too many ':' in slice");
                continue;
            }
            if (parts[static_cast<std::size_t>(colons)]) return fail("expected ':' or ']'");
            auto e = parse_expr(true);
            if (!e) return e;
            parts[static_cast<std::size_t>(colons)] = std::move(*e);
        }
        if (colons == 0) {
            if (!parts[0]) return fail("empty subscript");
            auto idx = make(JinjaExpr::Kind::index);
            add(*idx, std::move(object));
            add(*idx, std::move(parts[0]));
            return idx;
        }
        auto s = make(JinjaExpr::Kind::slice);
        add(*s, std::move(object));
        for (auto& p : parts) add(*s, std::move(p));
        return s;
    }

    // After '(' : positional then keyword arguments, then ')'.
    Status parse_call_args(JinjaExpr& call) {
        bool first = true;
        while (!accept_op(")")) {
            if (!first && !accept_op(",")) return fail("expected ',' or ')'");
            first = false;
            if (accept_op(")")) break;
            if (!at_end() && peek().kind == JinjaToken::Kind::name && tok_ + 1 < tokens_->size() &&
                (*tokens_)[tok_ + 1].kind == JinjaToken::Kind::op && (*tokens_)[tok_ + 1].text == "=") {
                call.kwargs.push_back(next().text);
                ++tok_;
            } else if (!call.kwargs.empty()) {
                return fail("positional argument after keyword argument");
            }
            auto arg = parse_expr(true);
            if (!arg) return arg.status();
            add(call, std::move(*arg));
        }
        return {};
    }

    Result parse_filters(JinjaExprPtr node) {
        while (!at_end()) {
            if (accept_op("|")) {
                if (at_end() || peek().kind != JinjaToken::Kind::name) return fail("expected a filter name");
                const std::string name = next().text;
                if (!contains(kFilters, name))
                    return error(ErrorCode::unsupported, where() + "filter '" + name + "' is not supported");
                auto f = make(JinjaExpr::Kind::filter, name);
                add(*f, std::move(node));
                if (accept_op("(")) KVMIX_TRY(parse_call_args(*f));
                node = std::move(f);
            } else if (accept_name("is")) {
                auto t = make(JinjaExpr::Kind::test);
                t->negated = accept_name("not");
                if (at_end()) return fail("expected a test name");
                const JinjaToken& name_tok = next();
                if (name_tok.kind != JinjaToken::Kind::name && name_tok.kind != JinjaToken::Kind::op)
                    return fail("expected a test name");
                t->name = name_tok.text;
                if (!contains(kTests, t->name))
                    return error(ErrorCode::unsupported, where() + "test '" + t->name + "' is not supported");
                add(*t, std::move(node));
                if (accept_op("(")) {
                    KVMIX_TRY(parse_call_args(*t));
                } else if (!at_end() && starts_test_argument(peek())) {
                    auto arg = parse_primary();
                    if (!arg) return arg;
                    auto post = parse_postfix(std::move(*arg));
                    if (!post) return post;
                    add(*t, std::move(*post));
                }
                node = std::move(t);
            } else if (!at_end() && peek().kind == JinjaToken::Kind::op && peek().text == "(") {
                ++tok_;
                auto call = make(JinjaExpr::Kind::call);
                add(*call, std::move(node));
                KVMIX_TRY(parse_call_args(*call));
                node = std::move(call);
            } else {
                break;
            }
            if (too_deep_) return depth_error();
        }
        return node;
    }

    static bool starts_test_argument(const JinjaToken& t) {
        if (t.kind == JinjaToken::Kind::name)
            return t.text != "else" && t.text != "or" && t.text != "and" && t.text != "if" && t.text != "is";
        if (t.kind == JinjaToken::Kind::op) return t.text == "[" || t.text == "{";
        return true;  // string or number
    }

    // --- tokens -----------------------------------------------------------------------

    // Tracks tree height as children are attached, so left-deep chains (a+a+a+...) cannot
    // build a tree whose evaluation or destruction would overflow the stack.
    void add(JinjaExpr& parent, JinjaExprPtr child) {
        if (child && child->depth + 1 > parent.depth) parent.depth = child->depth + 1;
        if (parent.depth > 2 * max_depth_) too_deep_ = true;
        parent.args.push_back(std::move(child));
    }

    JinjaExprPtr binary(JinjaExpr::Kind kind, const std::string& op, JinjaExprPtr a, JinjaExprPtr b) {
        auto n = make(kind, op);
        add(*n, std::move(a));
        add(*n, std::move(b));
        return n;
    }
    bool at_end() const { return tok_ >= tokens_->size(); }
    const JinjaToken& peek() const { return (*tokens_)[tok_]; }
    const JinjaToken& next() {
        line_ = (*tokens_)[tok_].line;
        return (*tokens_)[tok_++];
    }
    bool accept_op(std::string_view op) {
        if (at_end() || peek().kind != JinjaToken::Kind::op || peek().text != op) return false;
        ++tok_;
        return true;
    }
    bool accept_name(std::string_view name) {
        if (at_end() || peek().kind != JinjaToken::Kind::name || peek().text != name) return false;
        ++tok_;
        return true;
    }
    Status expect_end() {
        if (!at_end()) return fail("unexpected '" + peek().text + "'");
        return {};
    }
    std::string where() const { return "template line " + std::to_string(line_) + ": "; }
    Status fail(const std::string& what) const { return format_error(where() + what); }
    Status depth_error() const {
        return error(ErrorCode::out_of_memory, where() + "template nested deeper than " + std::to_string(max_depth_) + " levels");
    }

    const std::vector<JinjaSegment>& segments_;
    std::size_t max_depth_;
    std::size_t seg_ = 0;
    const std::vector<JinjaToken>* tokens_ = nullptr;
    std::size_t tok_ = 0;
    std::size_t line_ = 1;
    std::size_t block_depth_ = 0;
    std::size_t expr_depth_ = 0;
    std::size_t loop_depth_ = 0;
    bool too_deep_ = false;
};

}  // namespace

Expected<std::vector<JinjaNode>> jinja_parse(const std::vector<JinjaSegment>& segments, std::size_t max_depth) {
    Parser parser(segments, max_depth);
    return parser.parse_all();
}

}  // namespace kvmix
