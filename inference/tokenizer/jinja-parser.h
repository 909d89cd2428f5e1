// Parser of the chat-template Jinja subset: turns lexer segments into a small AST.
// Anything outside the subset (macros, includes, unknown filters or tests, ...) is an
// ErrorCode::unsupported error, so callers can fall back instead of rendering wrongly.
#pragma once

#include <cstddef>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "kvmix/status.h"
#include "tokenizer/jinja-lexer.h"
#include "tokenizer/jinja-value.h"

namespace kvmix {

struct JinjaExpr;
using JinjaExprPtr = std::unique_ptr<JinjaExpr>;

struct JinjaExpr {
    enum class Kind {
        literal,    // value
        name,       // name
        list,       // args = items; name "tuple" for a parenthesized tuple
        dict,       // args = key0, value0, key1, value1, ...
        attr,       // args[0].name
        index,      // args[0][args[1]]
        slice,      // args[0][args[1]:args[2]:args[3]] (null where omitted)
        call,       // args[0](args[1..]); the last kwargs.size() args are keyword arguments
        filter,     // args[0]|name(args[1..]), kwargs as for call
        test,       // args[0] is [not] name(args[1..])
        unary,      // name is "-", "+" or "not"; args[0]
        binary,     // args[0] name args[1]; name is + - * / // % ** ~
        compare,    // args[0] ops[0] args[1] ops[1] args[2] ... (chained as in Python)
        logic_and,  // args[0] and args[1]
        logic_or,   // args[0] or args[1]
        cond,       // args[0] if args[1] else args[2] (args[2] null: undefined)
    };
    Kind kind = Kind::literal;
    std::size_t line = 1;
    JinjaValue value;
    std::string name;
    std::vector<JinjaExprPtr> args;
    std::vector<std::string> kwargs;
    std::vector<std::string> ops;  // compare: == != < <= > >= in notin
    bool negated = false;          // test: "is not"
    std::size_t depth = 1;         // height of this subtree (bounded by the parser)
};

struct JinjaNode {
    enum class Kind { text, output, if_chain, for_loop, set, set_attr, loop_break, loop_continue };
    Kind kind = Kind::text;
    std::size_t line = 1;
    std::string text;                  // text; set_attr: the attribute name
    std::vector<std::string> targets;  // for/set: names bound (several: unpacking)
    JinjaExprPtr expr;                 // output value, for iterable, set value
    JinjaExprPtr filter;               // for ... if filter (may be null)
    std::vector<JinjaExprPtr> conds;   // if/elif conditions
    // if_chain: one body per cond, then the else body if any; for_loop: body, else body.
    std::vector<std::vector<JinjaNode>> bodies;
};

// Errors: format (syntax), unsupported (outside the subset), out_of_memory (nesting limit).
Expected<std::vector<JinjaNode>> jinja_parse(const std::vector<JinjaSegment>& segments, std::size_t max_depth);

}  // namespace kvmix
