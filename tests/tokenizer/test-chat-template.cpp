// Chat templates: the Jinja-subset interpreter against jinja2 goldens
// (tests/tools/gen-chat-template-goldens.py), the built-in fallback policy, malformed
// templates and resource limits.
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "check.h"
#include "tokenizer/chat-template.h"
#include "tokenizer/jinja-interpreter.h"

using namespace kvmix;

namespace {

std::string template_dir() { return kvmix_test::data_dir() + "/chat-templates/"; }

std::string read_text(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    std::ostringstream ss;
    ss << in.rdbuf();
    return ss.str();
}

nlohmann::json load_goldens() {
    std::ifstream in(template_dir() + "goldens.json", std::ios::binary);
    return nlohmann::json::parse(in, nullptr, false);
}

Expected<std::string> render(std::string_view source, const JinjaValue& context, const JinjaLimits& limits = {}) {
    auto tmpl = JinjaTemplate::parse(source, limits);
    if (!tmpl) return tmpl.status();
    return tmpl->render(context);
}

Expected<std::string> render(std::string_view source) { return render(source, JinjaValue::dict()); }

ChatFamily family_from_name(const std::string& name) {
    for (ChatFamily f : {ChatFamily::llama2, ChatFamily::llama3, ChatFamily::mistral, ChatFamily::gemma, ChatFamily::chatml})
        if (name == chat_family_name(f)) return f;
    return ChatFamily::unknown;
}

std::vector<ChatMessage> messages_of(const nlohmann::json& context) {
    std::vector<ChatMessage> out;
    for (const auto& m : context["messages"]) out.push_back({m["role"].get<std::string>(), m["content"].get<std::string>()});
    return out;
}

ChatRenderOptions options_of(const nlohmann::json& context) {
    ChatRenderOptions o;
    o.bos_token = context["bos_token"].get<std::string>();
    o.eos_token = context["eos_token"].get<std::string>();
    o.add_generation_prompt = context["add_generation_prompt"].get<bool>();
    return o;
}

const std::vector<ChatMessage> k_conversation = {
    {"system", "Be brief."}, {"user", "Hi"}, {"assistant", "Hello!"}, {"user", "Bye"}};

}  // namespace

TEST_CASE("goldens: family and model templates match jinja2 byte for byte") {
    const auto goldens = load_goldens();
    REQUIRE(goldens.is_object());
    int checked = 0;
    for (const auto& c : goldens["families"]) {
        const std::string family = c["family"].get<std::string>();
        const std::string stem = c["template"].get<std::string>();
        const std::string label = stem + "/" + c["conversation"].get<std::string>() +
                                  (c["context"]["add_generation_prompt"].get<bool>() ? "" : " (no generation prompt)");
        const std::string source = read_text(template_dir() + stem + ".jinja");
        REQUIRE(!source.empty());
        auto context = JinjaValue::from_json(c["context"]);
        REQUIRE_OK(context);
        auto out = render(source, *context);
        // The same conversation through the public API: the model's own template is used.
        auto chat = render_chat(source, "", messages_of(c["context"]), options_of(c["context"]));
        if (c.contains("expected")) {
            const std::string expected = c["expected"].get<std::string>();
            if (!out.ok()) std::fprintf(stderr, "%s: %s\n", label.c_str(), out.status().message().c_str());
            REQUIRE_OK(out);
            if (*out != expected) std::fprintf(stderr, "mismatch in %s\n", label.c_str());
            CHECK_EQ(*out, expected);
            REQUIRE_OK(chat);
            CHECK(!chat->used_builtin);
            CHECK(chat->note.empty());
            CHECK_EQ(chat->prompt, expected);
            CHECK(chat->family == family_from_name(family));
        } else {
            REQUIRE(c.contains("raised"));
            const std::string raised = c["raised"].get<std::string>();
            REQUIRE(!out.ok());
            CHECK(out.status().code() == ErrorCode::invalid_argument);
            CHECK_EQ(out.status().message(), raised);
            REQUIRE(!chat.ok());
            CHECK(chat.status().code() == ErrorCode::invalid_argument);
            CHECK(chat.status().message().find(raised) != std::string::npos);
        }
        ++checked;
    }
    CHECK(checked >= 50);
}

TEST_CASE("goldens: inline constructs match jinja2") {
    const auto goldens = load_goldens();
    REQUIRE(goldens.is_object());
    int checked = 0;
    for (const auto& c : goldens["inline"]) {
        const std::string name = c["name"].get<std::string>();
        auto context = JinjaValue::from_json(c["context"]);
        REQUIRE_OK(context);
        auto out = render(c["source"].get<std::string>(), *context);
        if (c.contains("expected")) {
            if (!out.ok()) {
                std::fprintf(stderr, "%s: %s\n", name.c_str(), out.status().message().c_str());
                CHECK_OK(out);
                continue;
            }
            if (*out != c["expected"].get<std::string>()) std::fprintf(stderr, "mismatch in %s\n", name.c_str());
            CHECK_EQ(*out, c["expected"].get<std::string>());
        } else if (c.contains("raised")) {
            REQUIRE(!out.ok());
            CHECK(out.status().code() == ErrorCode::invalid_argument);
            CHECK_EQ(out.status().message(), c["raised"].get<std::string>());
        } else {
            if (out.ok()) std::fprintf(stderr, "%s: expected an error, got '%s'\n", name.c_str(), out->c_str());
            CHECK(!out.ok());
        }
        ++checked;
    }
    CHECK(checked >= 40);
}

TEST_CASE("built-in templates are the checked-in golden templates") {
    for (ChatFamily f : {ChatFamily::llama2, ChatFamily::llama3, ChatFamily::mistral, ChatFamily::gemma, ChatFamily::chatml})
        CHECK_EQ(std::string(builtin_chat_template(f)), read_text(template_dir() + chat_family_name(f) + ".jinja"));
    CHECK_EQ(std::string(builtin_chat_template(ChatFamily::unknown)), std::string(builtin_chat_template(ChatFamily::chatml)));
}

TEST_CASE("family detection: template markers first, then architecture") {
    CHECK(detect_chat_family("{{ '<|start_header_id|>' }}", "llama") == ChatFamily::llama3);
    CHECK(detect_chat_family("<start_of_turn>", "") == ChatFamily::gemma);
    CHECK(detect_chat_family("<|im_start|>", "llama") == ChatFamily::chatml);
    CHECK(detect_chat_family("[INST] <<SYS>>", "llama") == ChatFamily::llama2);
    CHECK(detect_chat_family("[INST]", "llama") == ChatFamily::mistral);
    CHECK(detect_chat_family("", "gemma3") == ChatFamily::gemma);
    CHECK(detect_chat_family("", "Gemma2") == ChatFamily::gemma);
    CHECK(detect_chat_family("", "llama") == ChatFamily::llama2);
    CHECK(detect_chat_family("", "qwen2") == ChatFamily::chatml);
    CHECK(detect_chat_family("", "mistral") == ChatFamily::mistral);
    CHECK(detect_chat_family("", "phi3") == ChatFamily::unknown);
}

TEST_CASE("fallback: no template uses the built-in template of the architecture") {
    ChatRenderOptions opts;
    opts.bos_token = "<bos>";
    auto r = render_chat("", "gemma3", k_conversation, opts);
    REQUIRE_OK(r);
    CHECK(r->used_builtin);
    CHECK(r->family == ChatFamily::gemma);
    CHECK(r->note.find("no chat template") != std::string::npos);
    CHECK_EQ(r->prompt, std::string("<bos><start_of_turn>user\nBe brief.\n\nHi<end_of_turn>\n<start_of_turn>model\nHello!"
                                    "<end_of_turn>\n<start_of_turn>user\nBye<end_of_turn>\n<start_of_turn>model\n"));

    auto unknown = render_chat("  \n", "phi3", {{"user", "Hi"}}, {});
    REQUIRE_OK(unknown);
    CHECK(unknown->used_builtin);
    CHECK(unknown->family == ChatFamily::chatml);
    CHECK(unknown->note.find("not recognized") != std::string::npos);
    CHECK_EQ(unknown->prompt, std::string("<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n"));
}

TEST_CASE("fallback: unsupported constructs are reported, never rendered wrongly") {
    ChatRenderOptions opts;
    opts.bos_token = "<s>";
    opts.eos_token = "</s>";
    const std::string expected_chatml =
        "<|im_start|>system\nBe brief.<|im_end|>\n<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\nHello!<|im_end|>\n"
        "<|im_start|>user\nBye<|im_end|>\n<|im_start|>assistant\n";
    struct Case {
        const char* source;
        const char* arch;
        ChatFamily family;
        const char* why;
    };
    const Case cases[] = {
        {"{% macro turn(m) %}<|im_start|>{{ m.role }}{% endmacro %}{% for m in messages %}{{ turn(m) }}{% endfor %}", "",
         ChatFamily::chatml, "macro"},
        {"{% for m in messages %}<start_of_turn>{{ m.content | indent(2) }}{% endfor %}", "", ChatFamily::gemma, "indent"},
        {"{{ '[INST]' }}{{ strftime_now('%d %b %Y') }}", "llama", ChatFamily::mistral, "strftime_now"},
        {"{% include 'other.jinja' %}<|start_header_id|>", "", ChatFamily::llama3, "include"},
        {"{{ messages[0].content.format(1) }}<|im_start|>", "", ChatFamily::chatml, "format"},
        {"{% for m in messages %}{{ m.content | wordcount }}{% endfor %}", "qwen2", ChatFamily::chatml, "wordcount"},
        {"{% if %}<<SYS>>", "llama", ChatFamily::llama2, "line 1"},  // malformed: also falls back
    };
    for (const auto& c : cases) {
        auto r = render_chat(c.source, c.arch, k_conversation, opts);
        REQUIRE_OK(r);
        CHECK(r->used_builtin);
        CHECK(r->family == c.family);
        if (r->note.find(c.why) == std::string::npos) std::fprintf(stderr, "note lacks '%s': %s\n", c.why, r->note.c_str());
        CHECK(r->note.find(c.why) != std::string::npos);
        CHECK(r->note.find(std::string("built-in ") + chat_family_name(c.family)) != std::string::npos);
        if (c.family == ChatFamily::chatml) CHECK_EQ(r->prompt, expected_chatml);
    }
    // The interpreter itself reports these as unsupported, so callers can tell them apart.
    auto macro = JinjaTemplate::parse("{% macro x() %}{% endmacro %}");
    REQUIRE(!macro.ok());
    CHECK(macro.status().code() == ErrorCode::unsupported);
    auto filter = JinjaTemplate::parse("{{ x | indent }}");
    REQUIRE(!filter.ok());
    CHECK(filter.status().code() == ErrorCode::unsupported);
    auto fn = render("{{ cycler(1) }}");
    REQUIRE(!fn.ok());
    CHECK(fn.status().code() == ErrorCode::unsupported);
}

TEST_CASE("raise_exception is returned to the caller, not a fallback") {
    const std::string source = read_text(template_dir() + "gemma.jinja");
    auto r = render_chat(source, "gemma3", {{"user", "a"}, {"user", "b"}}, {});
    REQUIRE(!r.ok());
    CHECK(r.status().code() == ErrorCode::invalid_argument);
    CHECK(r.status().message().find("alternate") != std::string::npos);
    // The built-in template enforces the same rule when it is the fallback.
    auto builtin = render_chat("", "llama", {{"assistant", "first"}}, {});
    REQUIRE(!builtin.ok());
    CHECK(builtin.status().code() == ErrorCode::invalid_argument);
}

TEST_CASE("raise_exception without a message still gives one") {
    // Found by fuzz-jinja: an empty or undefined argument made an error with no message.
    for (const char* source : {"{{ raise_exception('') }}", "{{ raise_exception(undefined_name) }}", "{{ raise_exception() }}"}) {
        auto r = render(source);
        REQUIRE(!r.ok());
        CHECK(r.status().code() == ErrorCode::invalid_argument);
        CHECK(!r.status().message().empty());
    }
    auto said = render("{{ raise_exception('turns must alternate') }}");
    REQUIRE(!said.ok());
    CHECK(said.status().message() == "turns must alternate");
}

TEST_CASE("malformed templates are errors, not crashes") {
    const char* bad[] = {
        "{{", "{{ x", "{%", "{% if x %}", "{% endif %}", "{% if x %}{% endfor %}", "{% else %}", "{{ 'abc }}",
        "{{ 1 + }}", "{% for %}{% endfor %}", "{% for x y %}{% endfor %}", "{{ a[ }}", "{{ a[] }}", "{% set %}",
        "{% set x %}{% endset %}", "{{ }}", "{# unterminated", "{{ ) }}", "{{ x | }}", "{{ 'a' 1 }}", "{% break %}",
        "{{ 99999999999999999999 }}", "{{ '\\x4' }}", "{{ x.  }}", "{{ f(a=1, 2) }}", "{{ [1, 2 }}", "{{ {'a' 1} }}",
        "{% raw %}x{% endraw %}", "{% for x in y %}", "{% if x %}{% elif %}{% endif %}", "{{ x is }}", "{{ 1 ! 2 }}",
        "{{ a[1:2:3:4] }}", "{% unknowntag %}", "{{ x is nosuchtest }}", "{% for x in y recursive %}{% endfor %}",
    };
    for (const char* source : bad) {
        auto r = render(source);
        if (r.ok()) std::fprintf(stderr, "accepted malformed template: %s\n", source);
        CHECK(!r.ok());
        CHECK(r.status().code() != ErrorCode::internal);
    }
    // Runtime type errors are errors too.
    const char* runtime_bad[] = {"{{ none + 1 }}", "{{ 'a' * 'b' }}", "{{ (1).x.y }}", "{{ x[0] }}", "{{ 5 % 0 }}",
                                 "{{ 9223372036854775807 + 1 }}", "{{ 'a'.nosuch() }}", "{{ range(1, 2, 0) }}",
                                 "{{ 1 is divisibleby 0 }}", "{{ [] | abs }}", "{{ (1)(2) }}", "{% set messages.x = 1 %}"};
    for (const char* source : runtime_bad) {
        auto r = render(source);
        if (r.ok()) std::fprintf(stderr, "rendered bad template: %s -> %s\n", source, r->c_str());
        CHECK(!r.ok());
    }
    auto not_dict = JinjaTemplate::parse("x");
    REQUIRE_OK(not_dict);
    CHECK(!not_dict->render(JinjaValue::list()).ok());
}

TEST_CASE("limits trip on hostile templates") {
    auto expect_limit = [](const std::string& source, const char* what) {
        auto r = render(source);
        if (r.ok() || r.status().code() != ErrorCode::out_of_memory)
            std::fprintf(stderr, "%s: %s\n", what, r.ok() ? "rendered" : r.status().message().c_str());
        CHECK(!r.ok());
        CHECK(r.status().code() == ErrorCode::out_of_memory);
    };
    expect_limit("{% for i in range(100000000) %}x{% endfor %}", "huge range");
    expect_limit("{% for i in range(1000) %}{% for j in range(1000) %}{% for k in range(1000) %}{% endfor %}{% endfor %}{% endfor %}",
                 "nested loops");
    expect_limit("{% for i in range(1000000) %}{{ 'abcdefghij' * 100 }}{% endfor %}", "output size");
    expect_limit("{{ 'x' * 100000000 }}", "string repetition");
    expect_limit("{% set ns = namespace(s='ab') %}{% for i in range(100) %}{% set ns.s = ns.s + ns.s %}{% endfor %}", "doubling");
    expect_limit("{% set ns = namespace(s='') %}{% for i in range(200000) %}{% set ns.s = ns.s ~ 'x' * 1000 %}{% endfor %}", "work");
    expect_limit("{% set ns = namespace(v=1) %}{% for i in range(1000) %}{% set ns.v = [ns.v] %}{% endfor %}", "value nesting");
    expect_limit("{{ " + std::string(20000, '(') + "1" + std::string(20000, ')') + " }}", "paren nesting");
    expect_limit("{{ " + std::string(20000, '[') + std::string(20000, ']') + " }}", "list nesting");
    std::string chain = "{{ 1";
    for (int i = 0; i < 100000; ++i) chain += " + 1";
    expect_limit(chain + " }}", "operator chain");
    std::string filters = "{{ 'a'";
    for (int i = 0; i < 100000; ++i) filters += " | trim";
    expect_limit(filters + " }}", "filter chain");
    std::string ifs;
    for (int i = 0; i < 5000; ++i) ifs += "{% if true %}";
    expect_limit(ifs, "statement nesting");
    expect_limit("{{ " + std::string(100000, '-') + "1 }}", "unary chain");
    std::string nots = "{{ ";
    for (int i = 0; i < 20000; ++i) nots += "not ";
    expect_limit(nots + "1 }}", "not chain");
}

TEST_CASE("limits are configurable and generous enough for real prompts") {
    JinjaLimits small;
    small.max_output_bytes = 16;
    auto big = render("{{ 'x' * 17 }}", JinjaValue::dict(), small);
    CHECK(!big.ok());
    auto fits = render("{{ 'x' * 16 }}", JinjaValue::dict(), small);
    REQUIRE_OK(fits);
    CHECK_EQ(fits->size(), std::size_t{16});
    // A long conversation with the built-in template renders under the default limits.
    std::vector<ChatMessage> many;
    for (int i = 0; i < 2000; ++i) many.push_back({i % 2 ? "assistant" : "user", std::string(1000, 'a' + i % 26)});
    auto r = render_chat(read_text(template_dir() + "llama3.jinja"), "llama", many, {});
    REQUIRE_OK(r);
    CHECK(r->prompt.size() > 2000u * 1000u);
}

TEST_CASE("python float repr") {
    CHECK_EQ(python_float_repr(1.0), std::string("1.0"));
    CHECK_EQ(python_float_repr(0.1 + 0.2), std::string("0.30000000000000004"));
    CHECK_EQ(python_float_repr(1e16), std::string("1e+16"));
    CHECK_EQ(python_float_repr(1.5e-5), std::string("1.5e-05"));
    CHECK_EQ(python_float_repr(123456789.0), std::string("123456789.0"));
    CHECK_EQ(python_float_repr(-0.0), std::string("-0.0"));
    CHECK_EQ(python_float_repr(0.0001), std::string("0.0001"));
    CHECK_EQ(python_float_repr(1e22), std::string("1e+22"));
    CHECK_EQ(python_float_repr(1.2345678901234568e+17), std::string("1.2345678901234568e+17"));
}

KVMIX_TEST_MAIN()
