#include "tokenizer/chat-prompt.h"

namespace kvmix {

Expected<ChatPrompt> build_chat_prompt(const ModelFile& model, const Tokenizer& tokenizer,
                                       const std::vector<ChatMessage>& messages, bool add_generation_prompt) {
    ChatRenderOptions options;
    if (tokenizer.bos() >= 0) options.bos_token = std::string(tokenizer.piece(tokenizer.bos()));
    if (tokenizer.eos() >= 0) options.eos_token = std::string(tokenizer.piece(tokenizer.eos()));
    options.add_generation_prompt = add_generation_prompt;
    auto rendered = render_chat(model.chat_template(), model.hparams().architecture, messages, options);
    if (!rendered) return rendered.status();
    ChatPrompt out;
    out.text = rendered->prompt;
    out.family = rendered->family;
    out.used_builtin = rendered->used_builtin;
    out.note = rendered->note;
    auto ids = tokenizer.encode(out.text, /*add_special=*/false, /*parse_special=*/true);
    if (!ids) return ids.status();
    out.tokens = std::move(ids).value();
    // Templates usually spell {{ bos_token }} themselves; add it only when they did not.
    if (tokenizer.add_bos() && tokenizer.bos() >= 0 && (out.tokens.empty() || out.tokens.front() != tokenizer.bos()))
        out.tokens.insert(out.tokens.begin(), tokenizer.bos());
    return out;
}

}  // namespace kvmix
