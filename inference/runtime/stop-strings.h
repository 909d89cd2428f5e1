// StopStringMatcher: finds stop strings in streamed text and decides what may be shown.
//
// push() returns the text that can be emitted now. It holds back the longest tail that
// could still grow into a stop string, and an incomplete UTF-8 sequence at the very end
// (so a byte-fallback token never reaches the UI as half a character). When a stop string
// completes, the emitted text ends just before it and everything after is dropped.
//
// Several stops: the match that completes first in the stream wins (smallest end offset);
// among matches ending at the same byte, the one starting earliest (the longer) wins. So
// with stops "ab" and "abc", text "abc" stops at "ab"; with "abc" and "bc", text "xabc"
// emits "x". The result does not depend on how the text is split into pieces.
//
// Bytes in, bytes out: matching is exact byte comparison; empty stop strings are ignored.
// After a stop, push() returns nothing and flush() returns nothing until reset().
//
// Ownership / thread-safety: one matcher per generation; not thread-safe.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace kvmix {

struct StopPushResult {
    std::string text;          // safe to emit now (may be empty)
    bool stopped = false;      // a stop string has completed (now or earlier)
    int32_t stop_index = -1;   // index into the constructor's list of the stop that matched
};

class StopStringMatcher {
public:
    explicit StopStringMatcher(std::vector<std::string> stop_strings);

    StopPushResult push(std::string_view piece);
    // End of generation: returns the held-back text (empty after a stop).
    std::string flush();
    // Forgets held text and a previous stop, for the next generation.
    void reset();

    bool stopped() const { return stop_index_ >= 0; }
    int32_t stop_index() const { return stop_index_; }
    // Bytes currently held back.
    size_t held_bytes() const { return held_.size(); }
    const std::vector<std::string>& stop_strings() const { return stops_; }

private:
    size_t hold_length(std::string_view text) const;

    std::vector<std::string> stops_;  // as given (empty ones never match)
    std::string held_;
    int32_t stop_index_ = -1;
};

}  // namespace kvmix
