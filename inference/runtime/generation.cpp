#include "runtime/generation.h"

#include <algorithm>
#include <chrono>

#include "runtime/stop-strings.h"
#include "tokenizer/tokenizer.h"
#include "tokenizer/utf8-stream.h"

namespace kvmix {

namespace {

using Clock = std::chrono::steady_clock;

double seconds_since(Clock::time_point t0) { return std::chrono::duration<double>(Clock::now() - t0).count(); }

}  // namespace

const char* context_policy_name(ContextPolicy policy) {
    switch (policy) {
        case ContextPolicy::error: return "error";
        case ContextPolicy::truncate_middle: return "truncate-middle";
        case ContextPolicy::rolling_window: return "rolling-window";
    }
    return "unknown";
}

const char* stop_reason_name(StopReason reason) {
    switch (reason) {
        case StopReason::eog: return "eos";
        case StopReason::max_tokens: return "max-tokens";
        case StopReason::stop_string: return "stop-string";
        case StopReason::cancelled: return "cancelled";
        case StopReason::context_full: return "context-full";
    }
    return "unknown";
}

Expected<GenerationResult> generate(Session& session, const Tokenizer& tokenizer, std::span<const int32_t> prompt_in,
                                    const GenerationParams& params, const TextCallback& on_text, const std::atomic<bool>* stop) {
    const auto t_start = Clock::now();
    KVMIX_TRY(validate(params.sampling));
    if (prompt_in.empty()) return error(ErrorCode::invalid_argument, "the prompt is empty");
    const int64_t n_ctx = session.n_ctx();
    const int64_t keep = std::clamp<int64_t>(params.keep_prefix, 0, static_cast<int64_t>(prompt_in.size()));
    GenerationResult result;

    // Context policy: the prompt plus what we reserve for the answer must fit.
    std::vector<int32_t> prompt(prompt_in.begin(), prompt_in.end());
    const int64_t reserve = params.max_tokens < 0 ? 1 : std::max<int64_t>(1, params.max_tokens);
    const int64_t need = static_cast<int64_t>(prompt.size()) + (params.context_policy == ContextPolicy::rolling_window ? 1 : reserve);
    if (need > n_ctx) {
        if (params.context_policy == ContextPolicy::error)
            return error(ErrorCode::out_of_memory, "the prompt (" + std::to_string(prompt.size()) + " tokens) plus " +
                                                       std::to_string(reserve) + " tokens to generate exceed the context of " +
                                                       std::to_string(n_ctx) + " tokens");
        const int64_t budget = n_ctx - (params.context_policy == ContextPolicy::rolling_window ? 1 : reserve);
        if (budget <= keep)
            return error(ErrorCode::out_of_memory, "the kept prefix (" + std::to_string(keep) + " tokens) leaves no room in the context of " +
                                                       std::to_string(n_ctx) + " tokens");
        const int64_t drop = static_cast<int64_t>(prompt.size()) - budget;
        prompt.erase(prompt.begin() + keep, prompt.begin() + keep + drop);
        result.context.truncated = true;
        result.context.tokens_dropped = drop;
        result.context.description = "dropped " + std::to_string(drop) + " prompt tokens after the first " + std::to_string(keep) +
                                     " to fit the context of " + std::to_string(n_ctx) + " tokens (" +
                                     context_policy_name(params.context_policy) + ")";
    }

    // Reuse the cached prefix: only the part of the prompt the session has not seen runs.
    const auto& cached = session.tokens();
    size_t common = 0;
    while (common < cached.size() && common < prompt.size() && cached[common] == prompt[common]) ++common;
    if (common == prompt.size()) --common;  // the last prompt token must run to get logits
    session.truncate(static_cast<int64_t>(common));
    common = static_cast<size_t>(session.n_past());  // a quantized cache may cut earlier
    result.stats.prompt_tokens = static_cast<int64_t>(prompt.size());
    result.stats.prompt_evaluated = static_cast<int64_t>(prompt.size() - common);

    std::vector<float> logits;
    const auto t_prefill = Clock::now();
    Status st = session.eval(std::span<const int32_t>(prompt).subspan(common), &logits, nullptr, stop);
    result.stats.prefill_seconds = seconds_since(t_prefill);
    if (st.code() == ErrorCode::cancelled) {
        result.reason = StopReason::cancelled;
        return result;
    }
    KVMIX_TRY(st);

    Sampler sampler(params.sampling, static_cast<int32_t>(logits.size()));
    StreamingDecoder decoder(tokenizer);
    StopStringMatcher matcher(params.stop_strings);
    const auto emit = [&](const std::string& text) {
        if (text.empty()) return true;
        result.text += text;
        return on_text ? on_text(text) : true;
    };

    const auto t_decode = Clock::now();
    bool stopped = false;
    for (int64_t i = 0; !stopped; ++i) {
        if (params.max_tokens >= 0 && i >= params.max_tokens) {
            result.reason = StopReason::max_tokens;
            break;
        }
        if (stop && stop->load(std::memory_order_relaxed)) {
            result.reason = StopReason::cancelled;
            break;
        }
        auto token = sampler.sample(logits, session.tokens());
        if (!token) return token.status();
        if (i == 0) result.stats.time_to_first_token = seconds_since(t_start);
        if (params.stop_at_eog && tokenizer.is_eog(*token)) {
            result.reason = StopReason::eog;
            break;
        }
        result.tokens.push_back(*token);
        ++result.stats.generated;
        StopPushResult pushed = matcher.push(decoder.push(*token));
        if (!emit(pushed.text)) {
            result.reason = StopReason::cancelled;
            break;
        }
        if (pushed.stopped) {
            result.reason = StopReason::stop_string;
            break;
        }
        if (params.max_tokens >= 0 && i + 1 >= params.max_tokens) {
            result.reason = StopReason::max_tokens;
            break;
        }
        if (session.n_past() + 1 > n_ctx) {
            if (params.context_policy != ContextPolicy::rolling_window) {
                result.reason = StopReason::context_full;
                break;
            }
            // Drop half of what follows the kept prefix; later keys are re-rotated.
            const int64_t n_discard = std::max<int64_t>(1, (session.n_past() - keep) / 2);
            if (!session.erase(keep, keep + n_discard).ok()) {
                result.reason = StopReason::context_full;
                result.context.description = "the context is full and this KV cache cannot drop old tokens while generating";
                break;
            }
            result.context.truncated = true;
            result.context.tokens_dropped += n_discard;
            result.context.description = "rolling window: dropped " + std::to_string(result.context.tokens_dropped) +
                                         " old tokens after the first " + std::to_string(keep);
        }
        const int32_t next[1] = {*token};
        st = session.eval(next, &logits);
        if (!st.ok()) return st;
    }
    if (result.reason != StopReason::stop_string) emit(matcher.push(decoder.flush()).text + matcher.flush());
    result.stats.decode_seconds = seconds_since(t_decode);
    return result;
}

}  // namespace kvmix
