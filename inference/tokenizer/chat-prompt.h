// Chat turns -> prompt tokens for a model: renders the model's chat template (or the
// built-in template of its family, reported) and tokenizes the result with special tokens
// parsed, adding BOS only when the template did not. Shared by the CLI and the app.
#pragma once

#include <string>
#include <vector>

#include "kvmix/status.h"
#include "model/model-file.h"
#include "tokenizer/chat-template.h"
#include "tokenizer/tokenizer.h"

namespace kvmix {

struct ChatPrompt {
    std::vector<int32_t> tokens;
    std::string text;        // the rendered template
    ChatFamily family = ChatFamily::unknown;
    bool used_builtin = false;
    std::string note;        // why the built-in template was used
};

Expected<ChatPrompt> build_chat_prompt(const ModelFile& model, const Tokenizer& tokenizer,
                                       const std::vector<ChatMessage>& messages, bool add_generation_prompt = true);

}  // namespace kvmix
