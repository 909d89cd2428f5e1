// Chat prompts from GGUF chat templates (tokenizer.chat_template): the template is rendered
// by our Jinja-subset interpreter; when it is missing or uses something the interpreter
// does not support, a built-in template of the detected family is used instead and the
// result says so (used_builtin + note), so a wrong prompt is never produced silently.
// Thread-safety: free functions over their arguments only.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "kvmix/status.h"
#include "tokenizer/jinja-interpreter.h"
#include "tokenizer/jinja-value.h"

namespace kvmix {

struct ChatMessage {
    std::string role;  // "system", "user", "assistant"
    std::string content;
};

enum class ChatFamily { llama2, llama3, mistral, gemma, chatml, unknown };

const char* chat_family_name(ChatFamily family);

// From markers in the template text first, else from general.architecture.
ChatFamily detect_chat_family(std::string_view template_source, std::string_view architecture);

// Our own Jinja text for each family (ChatML for unknown).
std::string_view builtin_chat_template(ChatFamily family);

struct ChatRenderOptions {
    std::string bos_token;
    std::string eos_token;
    bool add_generation_prompt = true;
};

struct ChatRenderResult {
    std::string prompt;
    ChatFamily family = ChatFamily::unknown;  // family of the template that produced prompt
    bool used_builtin = false;
    std::string note;  // why the built-in template was used; empty otherwise
};

// Errors: invalid_argument when the template rejects the conversation via
// raise_exception (message included), out_of_memory when a template trips a limit,
// or the built-in template's own error.
Expected<ChatRenderResult> render_chat(std::string_view template_source, std::string_view architecture,
                                       const std::vector<ChatMessage>& messages, const ChatRenderOptions& options);

// The context chat templates see: messages, bos_token, eos_token, add_generation_prompt.
JinjaValue chat_context(const std::vector<ChatMessage>& messages, const ChatRenderOptions& options);

}  // namespace kvmix
