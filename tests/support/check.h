// A minimal test framework for engine and kernel tests (no Qt, no external library),
// so the same tests build on the GPU machine. Usage:
//   TEST_CASE("gguf rejects truncated header") { CHECK(x == 1); CHECK_CLOSE(a, b, 1e-6); }
// Run the executable with no arguments for every case, or with substrings to filter.
// A case may call SKIP("reason") to report itself skipped; under CI a skip that
// tests/expected-skips.txt does not list fails the case instead (skip-policy.h).
#pragma once

#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <sstream>
#include <string>
#include <vector>

#include "skip-policy.h"

namespace kvmix_test {

struct Case {
    const char* name;
    std::function<void()> fn;
};

inline std::vector<Case>& registry() {
    static std::vector<Case> cases;
    return cases;
}

struct State {
    int failures = 0;
    bool skipped = false;
    std::string skip_reason;
};

inline State& state() {
    static State s;
    return s;
}

struct Registrar {
    Registrar(const char* name, std::function<void()> fn) { registry().push_back({name, std::move(fn)}); }
};

struct SkipCase {};

inline void report_failure(const char* file, int line, const std::string& what) {
    ++state().failures;
    std::fprintf(stderr, "%s:%d: FAILED: %s\n", file, line, what.c_str());
}

template <class A, class B>
std::string describe_pair(const A& a, const B& b) {
    std::ostringstream os;
    os << "  left: " << a << "\n  right: " << b;
    return os.str();
}

// Source directory of the data the tests read; set by CMake.
inline std::string data_dir() {
#ifdef KVMIX_TEST_DATA_DIR
    return KVMIX_TEST_DATA_DIR;
#else
    return "tests/data";
#endif
}

// ../shared/data beside the checkout; empty when absent (as on a user's machine).
inline std::string shared_data_dir() {
    const char* env = std::getenv("KVMIX_SHARED_DATA");
    if (env && *env) return env;
#ifdef KVMIX_SHARED_DATA_DIR
    return KVMIX_SHARED_DATA_DIR;
#else
    return "";
#endif
}

// The CTest name (kvmix_add_test defines KVMIX_TEST_NAME), else the executable's name.
inline std::string test_name(const char* argv0) {
#ifdef KVMIX_TEST_NAME
    (void)argv0;
    return KVMIX_TEST_NAME;
#else
    const std::string path = argv0 ? argv0 : "";
    return path.substr(path.find_last_of('/') + 1);
#endif
}

inline int run_all(int argc, char** argv) {
    int failed_cases = 0, passed = 0, skipped = 0;
    const std::string test = test_name(argc > 0 ? argv[0] : nullptr);
    for (const auto& c : registry()) {
        if (argc > 1) {
            bool match = false;
            for (int i = 1; i < argc; ++i) match |= std::string(c.name).find(argv[i]) != std::string::npos;
            if (!match) continue;
        }
        state() = State{};
        try {
            c.fn();
        } catch (const SkipCase&) {
        } catch (const std::exception& e) {
            report_failure(__FILE__, __LINE__, std::string("uncaught exception: ") + e.what());
        }
        if (state().skipped && state().failures == 0) {
            const SkipVerdict verdict = judge_skip(test, state().skip_reason);
            if (verdict.allowed) {
                ++skipped;
                std::printf("[ SKIP ] %s: %s%s%s\n", c.name, state().skip_reason.c_str(), verdict.note.empty() ? "" : " -- ",
                            verdict.note.c_str());
            } else {
                ++failed_cases;
                std::printf("[ FAIL ] %s: skipped (%s) -- %s\n", c.name, state().skip_reason.c_str(), verdict.note.c_str());
            }
        } else if (state().failures) {
            ++failed_cases;
            std::printf("[ FAIL ] %s (%d checks failed)\n", c.name, state().failures);
        } else {
            ++passed;
            std::printf("[  OK  ] %s\n", c.name);
        }
    }
    std::printf("%d passed, %d failed, %d skipped\n", passed, failed_cases, skipped);
    if (failed_cases) return 1;
    // Every selected case skipped: let CTest report the test as skipped (SKIP_RETURN_CODE 77).
    if (passed == 0 && skipped > 0) return 77;
    return 0;
}

}  // namespace kvmix_test

#define KVMIX_TEST_CAT2(a, b) a##b
#define KVMIX_TEST_CAT(a, b) KVMIX_TEST_CAT2(a, b)
#define TEST_CASE(name)                                                                       \
    static void KVMIX_TEST_CAT(kvmix_test_fn_, __LINE__)();                                   \
    static ::kvmix_test::Registrar KVMIX_TEST_CAT(kvmix_test_reg_, __LINE__)(                 \
        name, &KVMIX_TEST_CAT(kvmix_test_fn_, __LINE__));                                     \
    static void KVMIX_TEST_CAT(kvmix_test_fn_, __LINE__)()

#define CHECK(cond)                                                                    \
    do {                                                                               \
        if (!(cond)) ::kvmix_test::report_failure(__FILE__, __LINE__, #cond);          \
    } while (0)

#define REQUIRE(cond)                                                                  \
    do {                                                                               \
        if (!(cond)) {                                                                 \
            ::kvmix_test::report_failure(__FILE__, __LINE__, #cond);                   \
            return;                                                                    \
        }                                                                              \
    } while (0)

#define CHECK_EQ(a, b)                                                                        \
    do {                                                                                      \
        /* copies: `a` may be a reference into a temporary (e.g. f().value()) */              \
        const auto kvmix_a_ = (a);                                                            \
        const auto kvmix_b_ = (b);                                                            \
        if (!(kvmix_a_ == kvmix_b_))                                                          \
            ::kvmix_test::report_failure(__FILE__, __LINE__,                                  \
                std::string(#a " == " #b "\n") + ::kvmix_test::describe_pair(kvmix_a_, kvmix_b_)); \
    } while (0)

#define CHECK_CLOSE(a, b, tol)                                                                \
    do {                                                                                      \
        const double kvmix_a_ = (a), kvmix_b_ = (b);                                          \
        if (!(std::fabs(kvmix_a_ - kvmix_b_) <= (tol)))                                       \
            ::kvmix_test::report_failure(__FILE__, __LINE__,                                  \
                std::string(#a " ~= " #b "\n") + ::kvmix_test::describe_pair(kvmix_a_, kvmix_b_)); \
    } while (0)

// Checks that a Status/Expected is ok, printing its message otherwise.
#define CHECK_OK(expr)                                                                        \
    do {                                                                                      \
        const auto& kvmix_s_ = (expr);                                                        \
        if (!kvmix_s_.ok())                                                                   \
            ::kvmix_test::report_failure(__FILE__, __LINE__,                                  \
                std::string(#expr " is ok; got: ") + ::kvmix::status_of(kvmix_s_).message()); \
    } while (0)

#define REQUIRE_OK(expr)                                                                      \
    do {                                                                                      \
        const auto& kvmix_s_ = (expr);                                                        \
        if (!kvmix_s_.ok()) {                                                                 \
            ::kvmix_test::report_failure(__FILE__, __LINE__,                                  \
                std::string(#expr " is ok; got: ") + ::kvmix::status_of(kvmix_s_).message()); \
            return;                                                                           \
        }                                                                                     \
    } while (0)

#define SKIP(reason)                                                                          \
    do {                                                                                      \
        ::kvmix_test::state().skipped = true;                                                 \
        ::kvmix_test::state().skip_reason = (reason);                                         \
        throw ::kvmix_test::SkipCase{};                                                       \
    } while (0)

#define KVMIX_TEST_MAIN() \
    int main(int argc, char** argv) { return ::kvmix_test::run_all(argc, argv); }
