// Lexer of the chat-template Jinja subset: splits source into text, {{ expr }} and
// {% stmt %} segments (comments dropped), applying whitespace control exactly as jinja2
// does with trim_blocks/lstrip_blocks, and tokenizes the inside of each tag.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "kvmix/status.h"

namespace kvmix {

struct JinjaToken {
    enum class Kind { name, string, integer, floating, op };
    Kind kind = Kind::op;
    std::string text;  // name, operator, or the decoded string literal
    std::int64_t int_value = 0;
    double float_value = 0.0;
    std::size_t line = 1;
};

struct JinjaSegment {
    enum class Kind { text, expr, stmt };
    Kind kind = Kind::text;
    std::string text;  // text segments only
    std::vector<JinjaToken> tokens;
    std::size_t line = 1;
};

// Hugging Face renders chat templates with trim_blocks and lstrip_blocks on.
struct JinjaLexOptions {
    bool trim_blocks = true;
    bool lstrip_blocks = true;
    bool keep_trailing_newline = false;
};

// Errors: format (malformed tag, string, number), unsupported ({% raw %}).
Expected<std::vector<JinjaSegment>> jinja_lex(std::string_view source, const JinjaLexOptions& options);

}  // namespace kvmix
