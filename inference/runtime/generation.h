// The generation loop: prompt -> (cache reuse, context policy, chunked prefill) -> sample
// -> stream UTF-8-safe text -> stop on EOS / stop string / max tokens / the stop flag.
// Runs on the caller's thread against one Session; the stop flag may be set from any
// thread and is checked before every token (stop latency: one token).
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "kvmix/status.h"
#include "runtime/sampler.h"
#include "runtime/session.h"

namespace kvmix {

class Tokenizer;

// What to do when the prompt plus the tokens to generate would not fit the context.
enum class ContextPolicy {
    error,            // refuse with ErrorCode::out_of_memory
    truncate_middle,  // keep the first keep_prefix tokens (system prompt) and the latest ones
    rolling_window,   // generate on; when full, drop the oldest tokens after keep_prefix
};

const char* context_policy_name(ContextPolicy policy);

struct GenerationParams {
    SamplerParams sampling;
    int32_t max_tokens = 256;            // < 0: until EOS or the context policy stops it
    std::vector<std::string> stop_strings;
    bool stop_at_eog = true;             // end on EOS / end-of-turn tokens
    ContextPolicy context_policy = ContextPolicy::error;
    int64_t keep_prefix = 0;             // prompt tokens the policies never drop
};

enum class StopReason { eog, max_tokens, stop_string, cancelled, context_full };
const char* stop_reason_name(StopReason reason);

struct GenerationStats {
    int64_t prompt_tokens = 0;     // prompt length after any truncation
    int64_t prompt_evaluated = 0;  // prompt tokens actually run (the rest came from the cache)
    int64_t generated = 0;
    double prefill_seconds = 0;
    double decode_seconds = 0;
    double time_to_first_token = 0;  // from the call to the first sampled token
    double prefill_tps() const { return prefill_seconds > 0 ? prompt_evaluated / prefill_seconds : 0; }
    double decode_tps() const { return decode_seconds > 0 && generated > 1 ? (generated - 1) / decode_seconds : 0; }
};

// Whether and how the context policy changed the conversation (never silent).
struct ContextEvent {
    bool truncated = false;
    int64_t tokens_dropped = 0;
    std::string description;
};

struct GenerationResult {
    std::string text;              // the generated text, stop string excluded
    std::vector<int32_t> tokens;   // the generated tokens
    StopReason reason = StopReason::max_tokens;
    GenerationStats stats;
    ContextEvent context;
};

// Receives text as it becomes safe to show (complete UTF-8, stop strings held back).
// Returning false stops generation like the stop flag.
using TextCallback = std::function<bool(std::string_view text)>;

// Evaluates `prompt` (reusing the session's cached prefix when the prompt extends it) and
// generates. The generated tokens stay in the session (a chat continues from them).
Expected<GenerationResult> generate(Session& session, const Tokenizer& tokenizer, std::span<const int32_t> prompt,
                                    const GenerationParams& params, const TextCallback& on_text = {},
                                    const std::atomic<bool>* stop = nullptr);

}  // namespace kvmix
