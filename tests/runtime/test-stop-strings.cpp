// StopStringMatcher: every split of the text into pieces must give the same output as a
// whole-text reference; held text is released by flush(); UTF-8 characters are not split.
#include <string>
#include <string_view>
#include <vector>

#include "check.h"
#include "runtime/sampler.h"
#include "runtime/stop-strings.h"

using kvmix::StopStringMatcher;

namespace {

struct Outcome {
    std::string text;
    bool stopped = false;
    int32_t stop_index = -1;
    bool operator==(const Outcome&) const = default;
};

std::ostream& operator<<(std::ostream& os, const Outcome& o) {
    return os << "{\"" << o.text << "\", stopped=" << o.stopped << ", index=" << o.stop_index << "}";
}

// Whole-text reference: the stop occurrence ending first (then starting first) cuts the text.
Outcome reference(const std::string& text, const std::vector<std::string>& stops) {
    for (size_t end = 1; end <= text.size(); ++end) {
        for (size_t start = 0; start < end; ++start) {
            for (size_t i = 0; i < stops.size(); ++i) {
                if (!stops[i].empty() && text.compare(start, end - start, stops[i]) == 0)
                    return {text.substr(0, start), true, static_cast<int32_t>(i)};
            }
        }
    }
    return {text, false, -1};
}

// Feeds `text` cut at `cuts` (ascending offsets) and checks the streaming invariants.
Outcome stream(const std::string& text, const std::vector<size_t>& cuts, const std::vector<std::string>& stops) {
    StopStringMatcher m(stops);
    Outcome out;
    size_t prev = 0;
    std::vector<size_t> bounds = cuts;
    bounds.push_back(text.size());
    for (size_t b : bounds) {
        auto r = m.push(std::string_view(text).substr(prev, b - prev));
        prev = b;
        out.text += r.text;
        if (r.stopped) {
            out.stopped = true;
            out.stop_index = r.stop_index;
            CHECK(m.stopped());
            CHECK_EQ(m.held_bytes(), size_t{0});
        } else {
            // Nothing is lost: emitted + held == everything pushed so far.
            CHECK_EQ(out.text.size() + m.held_bytes(), b);
        }
    }
    if (!out.stopped) out.text += m.flush();
    else CHECK_EQ(m.flush(), std::string());
    return out;
}

void check_all_splits(const std::string& text, const std::vector<std::string>& stops) {
    const Outcome want = reference(text, stops);
    CHECK_EQ(stream(text, {}, stops), want);
    std::vector<size_t> bytes;
    for (size_t i = 1; i < text.size(); ++i) bytes.push_back(i);
    CHECK_EQ(stream(text, bytes, stops), want);
    for (size_t a = 0; a <= text.size(); ++a) {
        CHECK_EQ(stream(text, {a}, stops), want);
        for (size_t b = a; b <= text.size(); ++b) CHECK_EQ(stream(text, {a, b}, stops), want);
    }
}

bool valid_utf8(std::string_view s) {
    size_t i = 0;
    while (i < s.size()) {
        const auto c = static_cast<unsigned char>(s[i]);
        size_t len = c < 0x80 ? 1 : (c & 0xE0) == 0xC0 ? 2 : (c & 0xF0) == 0xE0 ? 3 : (c & 0xF8) == 0xF0 ? 4 : 0;
        if (len == 0 || i + len > s.size()) return false;
        for (size_t j = 1; j < len; ++j)
            if ((static_cast<unsigned char>(s[i + j]) & 0xC0) != 0x80) return false;
        i += len;
    }
    return true;
}

}  // namespace

TEST_CASE("emits immediately what cannot start a stop string") {
    StopStringMatcher m({"</s>", "User:"});
    auto r = m.push("Hello <");
    CHECK_EQ(r.text, std::string("Hello "));
    CHECK(!r.stopped);
    CHECK_EQ(m.held_bytes(), size_t{1});
    r = m.push("b>bold");  // "<b" is no stop prefix: released
    CHECK_EQ(r.text, std::string("<b>bold"));
    r = m.push(" Us");
    CHECK_EQ(r.text, std::string(" "));
    r = m.push("e");
    CHECK_EQ(r.text, std::string());
    r = m.push("d to");
    CHECK_EQ(r.text, std::string("Used to"));
    r = m.push(" </");
    CHECK_EQ(r.text, std::string(" "));
    r = m.push("s> trailing");
    CHECK(r.stopped);
    CHECK_EQ(r.stop_index, 0);
    CHECK_EQ(r.text, std::string());
    // Finished: further pushes yield nothing, flush is empty.
    r = m.push("more");
    CHECK(r.stopped);
    CHECK_EQ(r.text, std::string());
    CHECK_EQ(m.flush(), std::string());
    m.reset();
    CHECK(!m.stopped());
    CHECK_EQ(m.push("again</s").text, std::string("again"));
    CHECK_EQ(m.flush(), std::string("</s"));
}

TEST_CASE("every split position gives the whole-text result") {
    const std::vector<std::vector<std::string>> stop_sets = {
        {"</s>"},
        {"ab", "abc"},
        {"abc", "bc"},
        {"aab"},
        {"abab"},
        {"\n\nUser:", "\n\n"},
        {"x", "yy", "zzz"},
        {"", "stop"},
    };
    const std::vector<std::string> texts = {
        "",
        "hello world",
        "abc",
        "xabcd",
        "aaab",
        "aabaab",
        "abababab",
        "ab ab abc",
        "text</s>more</s>",
        "<</s</s>",
        "a\n\nUser: hi",
        "line\n\nnext",
        "zzyyx",
        "no stop here: a b c </ s>",
        "please stop now",
        "st sto stop",
    };
    for (const auto& stops : stop_sets)
        for (const auto& text : texts) check_all_splits(text, stops);
}

TEST_CASE("overlapping stops: the first completed match wins") {
    CHECK_EQ(stream("abc", {}, {"abc", "ab"}), (Outcome{"", true, 1}));
    CHECK_EQ(stream("xabcd", {}, {"abcd", "bc"}), (Outcome{"xa", true, 1}));
    // Equal ends: the earlier start (the longer stop) wins.
    CHECK_EQ(stream("xabc", {}, {"bc", "abc"}), (Outcome{"x", true, 1}));
    // A self-overlapping stop found after a false start.
    CHECK_EQ(stream("aaab!", {1, 2}, {"aab"}), (Outcome{"a", true, 0}));
    CHECK_EQ(stream("ababab", {3}, {"abab"}), (Outcome{"", true, 0}));
}

TEST_CASE("no false positives; flush returns held text") {
    StopStringMatcher m({"<|im_end|>"});
    CHECK_EQ(m.push("a <|im").text, std::string("a "));
    CHECK_EQ(m.held_bytes(), size_t{4});  // "<|im"
    CHECK_EQ(m.push("_start|>").text, std::string("<|im_start|>"));
    CHECK_EQ(m.push("<|im_end").text, std::string());
    CHECK_EQ(m.flush(), std::string("<|im_end"));
    CHECK(!m.stopped());
    CHECK_EQ(m.flush(), std::string());

    StopStringMatcher none({});
    CHECK_EQ(none.push("anything at all").text, std::string("anything at all"));
    StopStringMatcher empty({""});
    CHECK_EQ(empty.push("abc").text, std::string("abc"));
    CHECK(!empty.stopped());
}

TEST_CASE("UTF-8: multi-byte stops and characters split across pieces") {
    const std::string text = "日本語のテキスト。次の文";
    const std::vector<std::string> stops = {"。", "テキ\xE3\x82\xB9"};  // "テキス"
    check_all_splits(text, stops);
    CHECK_EQ(reference(text, stops).text, std::string("日本語の"));

    // Byte-by-byte without a stop: every emitted chunk is whole characters.
    const std::string plain = "naïve café — 😀 done";
    StopStringMatcher m({"STOP"});
    std::string all;
    for (char c : plain) {
        auto r = m.push(std::string_view(&c, 1));
        CHECK(valid_utf8(r.text));
        all += r.text;
    }
    all += m.flush();
    CHECK_EQ(all, plain);

    // An incomplete character is held, then released whole.
    StopStringMatcher h({});
    CHECK_EQ(h.push("a\xF0\x9F").text, std::string("a"));
    CHECK_EQ(h.push("\x98").text, std::string());
    CHECK_EQ(h.push("\x80z").text, std::string("\xF0\x9F\x98\x80z"));
    // Stray continuation bytes are not held forever.
    CHECK_EQ(h.push("\x80\x80").text, std::string("\x80\x80"));
    // A truncated character at the very end comes out of flush.
    CHECK_EQ(h.push("\xE2\x82").text, std::string());
    CHECK_EQ(h.flush(), std::string("\xE2\x82"));
}

TEST_CASE("random texts and chunkings against the reference") {
    kvmix::SamplerRng gen(77);
    const std::vector<std::string> stops = {"aba", "bb", "abc", "cab"};
    for (int trial = 0; trial < 3000; ++trial) {
        std::string text;
        const size_t len = gen.next_u64() % 14;
        for (size_t i = 0; i < len; ++i) text += static_cast<char>('a' + gen.next_u64() % 3);
        std::vector<size_t> cuts;
        for (size_t i = 1; i < len; ++i)
            if (gen.next_u64() % 3 == 0) cuts.push_back(i);
        CHECK_EQ(stream(text, cuts, stops), reference(text, stops));
    }
}

KVMIX_TEST_MAIN()
