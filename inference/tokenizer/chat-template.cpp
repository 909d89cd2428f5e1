// Chat templates: family detection, built-in templates and the fallback policy.
#include "tokenizer/chat-template.h"

#include <algorithm>
#include <new>

namespace kvmix {

namespace {

// Built-in templates: our own Jinja text, kept byte-identical to
// tests/data/chat-templates/<family>.jinja, whose renderings are checked against jinja2.
constexpr std::string_view k_llama2_template = R"jinja({#- Llama 2 chat: [INST] turns, the system prompt in <<SYS>> inside the first user turn. -#}
{% if messages and messages[0]['role'] == 'system' %}
    {% set sys_block = '<<SYS>>\n' ~ messages[0]['content'] | trim ~ '\n<</SYS>>\n\n' %}
    {% set turns = messages[1:] %}
{% else %}
    {% set sys_block = '' %}
    {% set turns = messages %}
{% endif %}
{% for turn in turns %}
    {% if (turn['role'] == 'user') != (loop.index0 % 2 == 0) %}
        {{- raise_exception('Llama 2 chat expects user and assistant turns to alternate, starting with user') -}}
    {% endif %}
    {% if turn['role'] == 'user' %}
        {{- bos_token ~ '[INST] ' ~ (sys_block if loop.first else '') ~ turn['content'] | trim ~ ' [/INST]' -}}
    {% else %}
        {{- ' ' ~ turn['content'] | trim ~ ' ' ~ eos_token -}}
    {% endif %}
{% endfor %}
)jinja";

constexpr std::string_view k_llama3_template = R"jinja({#- Llama 3 instruct: a header per turn, the trimmed content, then <|eot_id|>. -#}
{{- bos_token -}}
{% for message in messages %}
    {% set content = message['content'] | trim %}
    {{- '<|start_header_id|>' ~ message['role'] ~ '<|end_header_id|>\n\n' ~ content ~ '<|eot_id|>' -}}
{% endfor %}
{% if add_generation_prompt %}
    {{- '<|start_header_id|>assistant<|end_header_id|>\n\n' -}}
{% endif %}
)jinja";

constexpr std::string_view k_mistral_template = R"jinja({#- Mistral instruct: [INST] user [/INST]answer</s>; a system prompt leads the first user turn. -#}
{% set ns = namespace(system='', turn=0) %}
{{- bos_token -}}
{% for message in messages %}
    {% if message['role'] == 'system' %}
        {% if not loop.first %}
            {{- raise_exception('Mistral accepts a system message only at the start') -}}
        {% endif %}
        {% set ns.system = message['content'] | trim %}
    {% else %}
        {% if (message['role'] == 'user') != (ns.turn % 2 == 0) %}
            {{- raise_exception('Mistral expects user and assistant turns to alternate, starting with user') -}}
        {% endif %}
        {% if message['role'] == 'user' %}
            {% set text = message['content'] | trim %}
            {% if ns.turn == 0 and ns.system %}
                {% set text = ns.system ~ '\n\n' ~ text %}
            {% endif %}
            {{- '[INST] ' ~ text ~ ' [/INST]' -}}
        {% else %}
            {{- message['content'] | trim ~ eos_token -}}
        {% endif %}
        {% set ns.turn = ns.turn + 1 %}
    {% endif %}
{% endfor %}
)jinja";

constexpr std::string_view k_gemma_template = R"jinja({#- Gemma 3: <start_of_turn>role ... <end_of_turn>; the assistant is 'model' and a system prompt is folded into the first user turn. -#}
{{- bos_token -}}
{% if messages and messages[0]['role'] == 'system' %}
    {% set prefix = messages[0]['content'] | trim ~ '\n\n' %}
    {% set turns = messages[1:] %}
{% else %}
    {% set prefix = '' %}
    {% set turns = messages %}
{% endif %}
{% for message in turns %}
    {% if (message['role'] == 'user') != (loop.index0 % 2 == 0) %}
        {{- raise_exception('Gemma expects user and assistant turns to alternate, starting with user') -}}
    {% endif %}
    {% set role = 'model' if message['role'] == 'assistant' else message['role'] %}
    {{- '<start_of_turn>' ~ role ~ '\n' ~ (prefix if loop.first else '') ~ message['content'] | trim ~ '<end_of_turn>\n' -}}
{% endfor %}
{% if add_generation_prompt %}
    {{- '<start_of_turn>model\n' -}}
{% endif %}
)jinja";

constexpr std::string_view k_chatml_template = R"jinja({#- ChatML: <|im_start|>role, a newline, the content, <|im_end|>. -#}
{% for message in messages %}
{{ '<|im_start|>' ~ message.role ~ '\n' ~ message.content ~ '<|im_end|>\n' }}
{%- endfor %}
{% if add_generation_prompt is defined and add_generation_prompt %}
{{- '<|im_start|>assistant\n' }}
{%- endif %}
)jinja";

bool contains(std::string_view haystack, std::string_view needle) {
    return haystack.find(needle) != std::string_view::npos;
}

std::string lower(std::string_view s) {
    std::string out(s);
    for (char& c : out)
        if (c >= 'A' && c <= 'Z') c = static_cast<char>(c + 32);
    return out;
}

bool blank(std::string_view s) {
    return std::all_of(s.begin(), s.end(), [](char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r'; });
}

Expected<std::string> render_source(std::string_view source, const JinjaValue& context) {
    auto tmpl = JinjaTemplate::parse(source);
    if (!tmpl) return tmpl.status();
    return tmpl->render(context);
}

}  // namespace

const char* chat_family_name(ChatFamily family) {
    switch (family) {
        case ChatFamily::llama2: return "llama2";
        case ChatFamily::llama3: return "llama3";
        case ChatFamily::mistral: return "mistral";
        case ChatFamily::gemma: return "gemma";
        case ChatFamily::chatml: return "chatml";
        case ChatFamily::unknown: return "unknown";
    }
    return "unknown";
}

ChatFamily detect_chat_family(std::string_view template_source, std::string_view architecture) {
    // Turn markers are unambiguous; check them before the architecture, which several
    // families share (Llama 2, Llama 3 and Mistral GGUFs all say "llama").
    if (contains(template_source, "<|start_header_id|>")) return ChatFamily::llama3;
    if (contains(template_source, "<start_of_turn>")) return ChatFamily::gemma;
    if (contains(template_source, "<|im_start|>")) return ChatFamily::chatml;
    if (contains(template_source, "<<SYS>>")) return ChatFamily::llama2;
    if (contains(template_source, "[INST]")) return ChatFamily::mistral;
    const std::string arch = lower(architecture);
    if (arch.starts_with("gemma")) return ChatFamily::gemma;
    if (arch.starts_with("mistral") || arch.starts_with("mixtral")) return ChatFamily::mistral;
    // A "llama" GGUF without a recognizable template is most likely an older Llama 2
    // conversion: Llama 3 GGUFs always ship their template.
    if (arch == "llama") return ChatFamily::llama2;
    if (arch.starts_with("qwen") || arch.starts_with("yi") || arch.starts_with("internlm")) return ChatFamily::chatml;
    return ChatFamily::unknown;
}

std::string_view builtin_chat_template(ChatFamily family) {
    switch (family) {
        case ChatFamily::llama2: return k_llama2_template;
        case ChatFamily::llama3: return k_llama3_template;
        case ChatFamily::mistral: return k_mistral_template;
        case ChatFamily::gemma: return k_gemma_template;
        case ChatFamily::chatml:
        case ChatFamily::unknown: return k_chatml_template;
    }
    return k_chatml_template;
}

JinjaValue chat_context(const std::vector<ChatMessage>& messages, const ChatRenderOptions& options) {
    JinjaValue list = JinjaValue::list();
    for (const auto& m : messages) list.push_back(JinjaValue::dict({{"role", JinjaValue(m.role)}, {"content", JinjaValue(m.content)}}));
    return JinjaValue::dict({{"messages", list},
                             {"bos_token", JinjaValue(options.bos_token)},
                             {"eos_token", JinjaValue(options.eos_token)},
                             {"add_generation_prompt", JinjaValue(options.add_generation_prompt)}});
}

Expected<ChatRenderResult> render_chat(std::string_view template_source, std::string_view architecture,
                                       const std::vector<ChatMessage>& messages, const ChatRenderOptions& options) {
    try {
        const JinjaValue context = chat_context(messages, options);
        ChatRenderResult result;
        result.family = detect_chat_family(template_source, architecture);
        if (blank(template_source)) {
            result.note = "the model has no chat template";
        } else {
            auto prompt = render_source(template_source, context);
            if (prompt) {
                result.prompt = std::move(*prompt);
                return result;
            }
            const Status& s = prompt.status();
            // The template's own rejection of the conversation and a tripped limit are
            // answers about this input; only "cannot interpret this template" falls back.
            if (s.code() == ErrorCode::invalid_argument)
                return error(ErrorCode::invalid_argument, "chat template rejected the conversation: " + s.message());
            if (s.code() != ErrorCode::unsupported && s.code() != ErrorCode::format)
                return s.with_context("chat template");
            result.note = "the model's chat template cannot be used (" + s.message() + ")";
        }
        result.used_builtin = true;
        if (result.family == ChatFamily::unknown) {
            result.family = ChatFamily::chatml;
            result.note += "; chat family not recognized, using the built-in ChatML template";
        } else {
            result.note += std::string("; using the built-in ") + chat_family_name(result.family) + " template";
        }
        auto prompt = render_source(builtin_chat_template(result.family), context);
        if (!prompt) {
            const Status& s = prompt.status();
            if (s.code() == ErrorCode::invalid_argument)
                return error(ErrorCode::invalid_argument, "chat template rejected the conversation: " + s.message());
            return s.with_context(std::string("built-in ") + chat_family_name(result.family) + " chat template");
        }
        result.prompt = std::move(*prompt);
        return result;
    } catch (const std::bad_alloc&) {
        return error(ErrorCode::out_of_memory, "out of memory rendering the chat template");
    }
}

}  // namespace kvmix
