// libFuzzer harness for the chat-template interpreter on hostile templates: the input is
// the template source, rendered with a small fixed chat context.
//  - Under tight time limits (steps, loop iterations, output and work bytes) every template
//    must render or fail with a message and one of the documented codes, within the
//    limits: that is what bounds a hostile template, so a hang here is a missing count.
//    The nesting limits stay at their defaults: they guard the stack, and the sanitizers'
//    larger frames make this the place a too-high limit would overflow it.
//  - A template that trips none of the tight limits must render identically under the
//    default limits, and render_chat (fallback to the built-in template included) must
//    succeed or fail with a message.
#include <cstddef>
#include <cstdint>
#include <initializer_list>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "tokenizer/chat-template.h"
#include "tokenizer/jinja-interpreter.h"
#include "tokenizer/jinja-value.h"

namespace {

using kvmix::ErrorCode;

const std::vector<kvmix::ChatMessage>& messages() {
    static const std::vector<kvmix::ChatMessage> m = {
        {"system", "You are terse."},
        {"user", "Hi <|im_start|> {{ x }} \xC3\xA9\xE2\x96\x81"},
        {"assistant", "Hello.\n"},
        {"user", "Bye"},
    };
    return m;
}

kvmix::ChatRenderOptions options() {
    kvmix::ChatRenderOptions o;
    o.bos_token = "<s>";
    o.eos_token = "</s>";
    return o;
}

// chat_context() plus a tool list, which tool-calling templates walk and print with tojson.
const kvmix::JinjaValue& context() {
    static const kvmix::JinjaValue ctx = [] {
        kvmix::JinjaValue c = kvmix::chat_context(messages(), options());
        const auto tools = kvmix::JinjaValue::from_json(nlohmann::ordered_json::parse(
            R"([{"type": "function", "function": {"name": "get_weather", "description": "Weather of a city",
                 "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}}}])"));
        if (!tools.ok()) __builtin_trap();
        c.set("tools", *tools);
        return c;
    }();
    return ctx;
}

kvmix::JinjaLimits tight_limits() {
    kvmix::JinjaLimits l;
    l.max_output_bytes = 64 << 10;
    l.max_loop_iterations = 20'000;
    l.max_steps = 200'000;
    l.max_work_bytes = 4 << 20;
    return l;
}

void check_failure(const kvmix::Status& st, std::initializer_list<ErrorCode> allowed) {
    if (st.message().empty()) __builtin_trap();
    for (const ErrorCode c : allowed)
        if (st.code() == c) return;
    __builtin_trap();  // a code the interpreter does not document
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    const std::string_view source(reinterpret_cast<const char*>(data), size);
    const kvmix::JinjaLimits limits = tight_limits();

    const auto tmpl = kvmix::JinjaTemplate::parse(source, limits);
    if (!tmpl.ok()) {
        check_failure(tmpl.status(), {ErrorCode::format, ErrorCode::unsupported, ErrorCode::out_of_memory});
        return 0;
    }
    const auto out = tmpl->render(context());
    if (!out.ok()) {
        check_failure(out.status(), {ErrorCode::invalid_argument, ErrorCode::format, ErrorCode::unsupported,
                                     ErrorCode::out_of_memory});
        if (out.status().code() == ErrorCode::out_of_memory) return 0;  // a limit tripped: done
    } else if (out->size() > limits.max_output_bytes) {
        __builtin_trap();
    }

    const auto full = kvmix::JinjaTemplate::parse(source);
    if (!full.ok()) __builtin_trap();  // parsed under the tight limits, whose parse limits are the defaults
    const auto again = full->render(context());
    if (again.ok() != out.ok()) __builtin_trap();
    if (out.ok() ? *again != *out : again.status().code() != out.status().code()) __builtin_trap();

    const auto chat = kvmix::render_chat(source, "llama", messages(), options());
    if (!chat.ok()) {
        check_failure(chat.status(), {ErrorCode::invalid_argument, ErrorCode::format, ErrorCode::unsupported,
                                      ErrorCode::out_of_memory});
    } else if (chat->used_builtin == chat->note.empty()) {
        __builtin_trap();  // the fallback is always explained, and only the fallback
    }
    return 0;
}
