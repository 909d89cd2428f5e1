// Whether a test may skip. Outside CI a skip is always a skip. Under CI (the environment
// variable CI is set to anything but "", "0" or "false") a skip hides a broken setup as a
// pass, so it counts as a failure unless tests/expected-skips.txt lists it:
//   <test name> | <substring of the skip message> | <why this skip is expected in CI>
// ('#' starts a comment line). The test name is the CTest name; KVMIX_EXPECTED_SKIPS in
// the environment overrides the file's path. Used by check.h's SKIP, the Qt tests'
// KVMIX_QSKIP (qt-skip.h) and, with the same rules, tests/cli/test-cli.py and
// tests/fuzz/run-fuzzers.sh. Header-only and Qt-free.
#pragma once

#include <cstdlib>
#include <cstring>
#include <fstream>
#include <string>
#include <vector>

namespace kvmix_test {

inline bool ci_mode() {
    const char* v = std::getenv("CI");
    return v != nullptr && *v != '\0' && std::strcmp(v, "0") != 0 && std::strcmp(v, "false") != 0;
}

inline std::string expected_skips_path() {
    const char* env = std::getenv("KVMIX_EXPECTED_SKIPS");
    if (env && *env) return env;
#ifdef KVMIX_EXPECTED_SKIPS_FILE
    return KVMIX_EXPECTED_SKIPS_FILE;
#else
    return "tests/expected-skips.txt";
#endif
}

struct SkipVerdict {
    bool allowed = true;
    std::string note;  // allowed under CI: the listed reason; refused: why, and the fix
};

namespace detail {

inline std::string trim(const std::string& s) {
    const size_t b = s.find_first_not_of(" \t\r");
    if (b == std::string::npos) return {};
    return s.substr(b, s.find_last_not_of(" \t\r") - b + 1);
}

}  // namespace detail

// The decision for a skip of `test` with `message`. A missing or malformed file refuses
// every skip under CI, naming the file (and line) at fault.
inline SkipVerdict judge_skip(const std::string& test, const std::string& message) {
    if (!ci_mode()) return {};
    const std::string path = expected_skips_path();
    std::ifstream in(path);
    if (!in) return {false, "CI is set and the expected-skips file '" + path + "' cannot be read"};
    std::string line;
    int number = 0;
    while (std::getline(in, line)) {
        ++number;
        const std::string t = detail::trim(line);
        if (t.empty() || t[0] == '#') continue;
        std::vector<std::string> fields;
        size_t start = 0;
        size_t bar = t.find('|');
        while (bar != std::string::npos) {
            fields.push_back(detail::trim(t.substr(start, bar - start)));
            start = bar + 1;
            bar = t.find('|', start);
        }
        fields.push_back(detail::trim(t.substr(start)));
        if (fields.size() != 3 || fields[0].empty() || fields[1].empty() || fields[2].empty())
            return {false,
                    path + ":" + std::to_string(number) +
                        ": expected '<test name> | <substring of the skip message> | <why it is expected in CI>'"};
        if (fields[0] == test && message.find(fields[1]) != std::string::npos)
            return {true, "expected in CI: " + fields[2]};
    }
    return {false, "a skip under CI counts as a failure: fix what the test needs, or list it in '" + path + "' as '" +
                       test + " | <part of the message> | <why it is expected in CI>'"};
}

}  // namespace kvmix_test
