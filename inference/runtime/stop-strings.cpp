#include "runtime/stop-strings.h"

#include <algorithm>
#include <utility>

namespace kvmix {
namespace {

// Length of an incomplete UTF-8 sequence ending `text` (0 if the end is a complete
// character or not UTF-8 at all: stray bytes are passed through, not held forever).
size_t incomplete_utf8_tail(std::string_view text) {
    const size_t n = text.size();
    for (size_t back = 1; back <= std::min<size_t>(3, n); ++back) {
        const auto byte = static_cast<unsigned char>(text[n - back]);
        if ((byte & 0xC0) == 0x80) continue;  // continuation byte: keep looking for the lead
        size_t need = 0;
        if ((byte & 0xE0) == 0xC0) need = 2;
        else if ((byte & 0xF0) == 0xE0) need = 3;
        else if ((byte & 0xF8) == 0xF0) need = 4;
        return need > back ? back : 0;
    }
    return 0;
}

}  // namespace

StopStringMatcher::StopStringMatcher(std::vector<std::string> stop_strings) : stops_(std::move(stop_strings)) {}

void StopStringMatcher::reset() {
    held_.clear();
    stop_index_ = -1;
}

// Longest tail of `text` that is a proper prefix of some stop string, extended to cover
// an incomplete trailing UTF-8 character.
size_t StopStringMatcher::hold_length(std::string_view text) const {
    size_t hold = 0;
    for (const auto& stop : stops_) {
        const size_t longest = std::min(stop.empty() ? 0 : stop.size() - 1, text.size());
        for (size_t len = longest; len > hold; --len) {
            if (text.substr(text.size() - len) == std::string_view(stop).substr(0, len)) {
                hold = len;
                break;
            }
        }
    }
    return std::max(hold, incomplete_utf8_tail(text));
}

StopPushResult StopStringMatcher::push(std::string_view piece) {
    StopPushResult result;
    if (stopped()) {
        result.stopped = true;
        result.stop_index = stop_index_;
        return result;
    }
    held_.append(piece);
    const std::string_view text = held_;

    // Earliest-ending match; on equal ends the earlier start. Held text holds no complete
    // match, so any match found here ends in the new piece.
    size_t best_start = std::string_view::npos, best_end = std::string_view::npos;
    for (size_t i = 0; i < stops_.size(); ++i) {
        const std::string& stop = stops_[i];
        if (stop.empty()) continue;
        const size_t pos = text.find(stop);
        if (pos == std::string_view::npos) continue;
        const size_t end = pos + stop.size();
        if (end < best_end || (end == best_end && pos < best_start)) {
            best_start = pos;
            best_end = end;
            stop_index_ = static_cast<int32_t>(i);
        }
    }
    if (stopped()) {
        result.text.assign(text.substr(0, best_start));
        result.stopped = true;
        result.stop_index = stop_index_;
        held_.clear();
        return result;
    }

    const size_t emit = text.size() - hold_length(text);
    result.text.assign(text.substr(0, emit));
    held_.erase(0, emit);
    return result;
}

std::string StopStringMatcher::flush() {
    std::string out;
    out.swap(held_);
    return out;
}

}  // namespace kvmix
