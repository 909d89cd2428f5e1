// kvmix generate (one prompt) and kvmix chat (interactive, multi-turn).
#include <csignal>
#include <cstdio>
#include <iostream>
#include <string>

#include "cli/cli-common.h"
#include "cli/commands.h"
#include "tokenizer/chat-prompt.h"
#include "tokenizer/tokenizer-loader.h"

namespace kvmix::cli {

namespace {

// Ctrl-C stops the current answer; the handler only sets the flag it is given.
std::atomic<bool>* g_interrupt_flag = nullptr;
extern "C" void on_sigint(int) {
    if (g_interrupt_flag) g_interrupt_flag->store(true);
}

class SigintScope {
public:
    explicit SigintScope(std::atomic<bool>& flag) {
        g_interrupt_flag = &flag;
        struct sigaction sa {};
        sa.sa_handler = on_sigint;
        sigemptyset(&sa.sa_mask);
        sigaction(SIGINT, &sa, &old_);
    }
    ~SigintScope() {
        sigaction(SIGINT, &old_, nullptr);
        g_interrupt_flag = nullptr;
    }

private:
    struct sigaction old_ {};
};

void print_stats(const GenerationResult& r) {
    std::fprintf(stderr,
                 "\n[%s] prompt %lld tokens (%lld evaluated) %.1f tok/s | generated %lld tokens %.1f tok/s | "
                 "first token %.0f ms\n",
                 stop_reason_name(r.reason), static_cast<long long>(r.stats.prompt_tokens),
                 static_cast<long long>(r.stats.prompt_evaluated), r.stats.prefill_tps(), static_cast<long long>(r.stats.generated),
                 r.stats.decode_tps(), r.stats.time_to_first_token * 1000);
    if (r.context.truncated) std::fprintf(stderr, "[context] %s\n", r.context.description.c_str());
}

std::set<std::string> with(std::set<std::string> a, const std::set<std::string>& b) {
    a.insert(b.begin(), b.end());
    return a;
}

const std::map<std::string, std::string> kAliases = {
    {"-m", "--model"}, {"-p", "--prompt"}, {"-f", "--file"}, {"-n", "--n-predict"}, {"-t", "--threads"}, {"-c", "--ctx"}};

}  // namespace

int cmd_generate(int argc, char** argv) {
    const char* usage =
        "usage: kvmix generate -m MODEL (-p PROMPT | -f FILE) [-n N] [--temp T] [--top-k K] [--top-p P] [--min-p P]\n"
        "         [--repeat-penalty R] [--repeat-window N] [--seed S] [--stop TEXT]... [--chat] [--system TEXT]\n"
        "         [--threads N] [--ctx N] [--batch N] [--kv SPEC] [--kv-cache f16|f32] [--context-policy error|truncate|rolling] [--keep N] [--verbose-prompt]";
    Args args(with(with(model_options(), sampling_options()), {"--prompt", "--file", "--system"}), {"--chat", "--verbose-prompt"}, kAliases);
    args.parse(argc, argv, 2);
    if (int rc = args.usage_exit("generate", usage,
                                    args.has("--model") && (args.has("--prompt") != args.has("--file")) && args.positional().empty());
        rc >= 0)
        return rc;
    std::string prompt_text = args.get("--prompt");
    if (args.has("--file")) {
        auto text = read_text_file(args.get("--file"), "prompt file");
        if (!text) return fail("generate", text.status());
        prompt_text = std::move(*text);
    }
    auto params = generation_params(args);
    if (!params) return fail("generate", params.status());
    auto cfg = session_config(args, 4096);
    if (!cfg) return fail("generate", cfg.status());
    auto model = load_model(args);
    if (!model) return fail("generate", model.status());
    auto tokenizer = load_tokenizer((*model)->file());
    if (!tokenizer) return fail("generate", tokenizer.status());
    const Tokenizer& tok = **tokenizer;

    std::vector<int32_t> prompt;
    if (args.has("--chat")) {
        std::vector<ChatMessage> messages;
        if (args.has("--system")) messages.push_back({"system", args.get("--system")});
        messages.push_back({"user", prompt_text});
        auto chat = build_chat_prompt((*model)->file(), tok, messages);
        if (!chat) return fail("generate", chat.status());
        if (chat->used_builtin) std::fprintf(stderr, "[template] %s\n", chat->note.c_str());
        prompt = chat->tokens;
        params->keep_prefix = std::max<int64_t>(params->keep_prefix, 1);
    } else {
        auto ids = tok.encode(prompt_text, true, false);
        if (!ids) return fail("generate", ids.status());
        prompt = *ids;
    }
    if (args.has("--verbose-prompt")) {
        std::fprintf(stderr, "[prompt] %zu tokens:", prompt.size());
        for (int32_t id : prompt) std::fprintf(stderr, " %d:'%s'", id, std::string(tok.piece(id)).c_str());
        std::fputc('\n', stderr);
    }
    if (Status st = apply_kv_options(args, (*model)->hparams(), *cfg); !st.ok()) return fail("generate", st);
    auto session = Session::create(*model, *cfg);
    if (!session) return fail("generate", session.status());

    std::atomic<bool> stop{false};
    SigintScope sigint(stop);
    auto result = generate(**session, tok, prompt, *params, [](std::string_view text) {
        std::fwrite(text.data(), 1, text.size(), stdout);
        std::fflush(stdout);
        return true;
    }, &stop);
    std::fputc('\n', stdout);
    if (!result) return fail("generate", result.status());
    print_stats(*result);
    return 0;
}

int cmd_chat(int argc, char** argv) {
    const char* usage =
        "usage: kvmix chat -m MODEL [--system TEXT] [sampling options as for generate] [--threads N] [--ctx N]\n"
        "  in the chat: /reset starts over, /exit (or Ctrl-D) quits, Ctrl-C stops the current answer";
    Args args(with(with(model_options(), sampling_options()), {"--system"}), {}, kAliases);
    args.parse(argc, argv, 2);
    if (int rc = args.usage_exit("chat", usage, args.has("--model") && args.positional().empty()); rc >= 0) return rc;
    auto params = generation_params(args);
    if (!params) return fail("chat", params.status());
    if (!args.has("--n-predict")) params->max_tokens = -1;
    // A long chat keeps going: drop old turns (never the system prompt's first token).
    if (!args.has("--context-policy")) params->context_policy = ContextPolicy::truncate_middle;
    auto cfg = session_config(args, 4096);
    if (!cfg) return fail("chat", cfg.status());
    auto model = load_model(args);
    if (!model) return fail("chat", model.status());
    auto tokenizer = load_tokenizer((*model)->file());
    if (!tokenizer) return fail("chat", tokenizer.status());
    const Tokenizer& tok = **tokenizer;
    if (Status st = apply_kv_options(args, (*model)->hparams(), *cfg); !st.ok()) return fail("chat", st);
    auto session = Session::create(*model, *cfg);
    if (!session) return fail("chat", session.status());

    std::vector<ChatMessage> history;
    if (args.has("--system")) history.push_back({"system", args.get("--system")});
    const size_t base = history.size();
    std::atomic<bool> stop{false};
    SigintScope sigint(stop);
    std::fprintf(stderr, "kvmix chat: %s (%u layers, context %lld). /reset, /exit, Ctrl-C stops an answer.\n",
                 (*model)->hparams().name.c_str(), (*model)->hparams().n_layer, static_cast<long long>((*session)->n_ctx()));
    std::string line;
    for (;;) {
        std::fputs("\n> ", stdout);
        std::fflush(stdout);
        stop.store(false);
        if (!std::getline(std::cin, line)) {
            if (stop.load() && !std::cin.eof()) {  // Ctrl-C at the prompt: clear and ask again
                std::cin.clear();
                continue;
            }
            break;
        }
        if (line == "/exit" || line == "/quit") break;
        if (line == "/reset") {
            history.resize(base);
            (*session)->truncate(0);
            std::fputs("(conversation reset)\n", stdout);
            continue;
        }
        if (line.empty()) continue;
        history.push_back({"user", line});
        auto chat = build_chat_prompt((*model)->file(), tok, history);
        if (!chat) {
            history.pop_back();
            fail("chat", chat.status());
            continue;
        }
        params->keep_prefix = 1;
        auto result = generate(**session, tok, chat->tokens, *params, [](std::string_view text) {
            std::fwrite(text.data(), 1, text.size(), stdout);
            std::fflush(stdout);
            return true;
        }, &stop);
        if (!result) {
            history.pop_back();
            fail("chat", result.status());
            continue;
        }
        std::fputc('\n', stdout);
        if (result->reason == StopReason::cancelled) std::fputs("[stopped]\n", stderr);
        print_stats(*result);
        history.push_back({"assistant", result->text});
    }
    return 0;
}

}  // namespace kvmix::cli
