// JinjaTemplate: a small, safe interpreter for the Jinja subset that chat templates use.
// It has no file, import or code access; rendering is bounded by JinjaLimits so a hostile
// template (huge loops, string blow-ups, deep nesting) yields an error, never a hang or a
// stack overflow. Whitespace handling matches jinja2 with trim_blocks and lstrip_blocks
// (how Hugging Face renders chat templates).
// Errors from parse(): format (syntax), unsupported (outside the subset), out_of_memory
// (nesting limit). Errors from render(): invalid_argument (the template called
// raise_exception(msg); the message is msg verbatim), format (type errors, undefined
// access), unsupported (unknown function or method), out_of_memory (a limit tripped).
// Thread-safety: a parsed template is immutable; render() may run concurrently.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "kvmix/status.h"
#include "tokenizer/jinja-lexer.h"
#include "tokenizer/jinja-parser.h"
#include "tokenizer/jinja-value.h"

namespace kvmix {

struct JinjaLimits {
    std::size_t max_source_bytes = 1 << 20;
    std::size_t max_output_bytes = 8 << 20;      // rendered text, and any single string value
    std::uint64_t max_loop_iterations = 1'000'000;  // all loops together (range() length too)
    std::uint64_t max_steps = 50'000'000;        // expressions and statements evaluated
    std::uint64_t max_work_bytes = 256ull << 20;  // bytes of strings/lists built, cumulative
    std::size_t max_depth = 128;                 // statement and expression nesting
    std::uint32_t max_value_depth = 64;          // nesting of lists/dicts
};

class JinjaTemplate {
public:
    static Expected<JinjaTemplate> parse(std::string_view source, const JinjaLimits& limits = {},
                                         const JinjaLexOptions& lex = {});
    // context must be a dict (its keys become template variables).
    Expected<std::string> render(const JinjaValue& context) const;

private:
    JinjaTemplate(std::vector<JinjaNode> nodes, const JinjaLimits& limits)
        : nodes_(std::move(nodes)), limits_(limits) {}

    std::vector<JinjaNode> nodes_;
    JinjaLimits limits_;
};

}  // namespace kvmix
