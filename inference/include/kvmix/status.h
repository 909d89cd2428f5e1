// Status and Expected<T>: how the engine reports errors on untrusted input.
// Exceptions never cross the engine API; every fallible call returns one of these.
// Thread-safety: plain values, safe to copy and move between threads.
#pragma once

#include <cassert>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <utility>
#include <variant>

namespace kvmix {

enum class ErrorCode {
    ok = 0,
    invalid_argument,  // caller passed something that cannot work
    io,                // open/read/mmap/write failed
    format,            // file content is malformed, truncated or inconsistent
    unsupported,       // well-formed but not something we handle (type, architecture)
    out_of_memory,     // an allocation or budget does not fit
    cancelled,         // the caller asked to stop
    internal,          // a bug of ours surfaced as an error instead of an abort
};

inline const char* error_code_name(ErrorCode code) {
    switch (code) {
        case ErrorCode::ok: return "ok";
        case ErrorCode::invalid_argument: return "invalid argument";
        case ErrorCode::io: return "i/o error";
        case ErrorCode::format: return "format error";
        case ErrorCode::unsupported: return "unsupported";
        case ErrorCode::out_of_memory: return "out of memory";
        case ErrorCode::cancelled: return "cancelled";
        case ErrorCode::internal: return "internal error";
    }
    return "unknown";
}

class [[nodiscard]] Status {
public:
    Status() = default;
    Status(ErrorCode code, std::string message) : code_(code), message_(std::move(message)) {}

    static Status success() { return {}; }

    bool ok() const { return code_ == ErrorCode::ok; }
    explicit operator bool() const { return ok(); }
    ErrorCode code() const { return code_; }
    const std::string& message() const { return message_; }

    // Prepends context, e.g. "loading 'model.gguf': " + message.
    Status with_context(const std::string& context) const {
        if (ok()) return *this;
        return {code_, context + ": " + message_};
    }

private:
    ErrorCode code_ = ErrorCode::ok;
    std::string message_;
};

inline Status error(ErrorCode code, std::string message) { return {code, std::move(message)}; }
inline Status format_error(std::string message) { return {ErrorCode::format, std::move(message)}; }

// A value or a failed Status; a minimal std::expected for C++20.
template <class T>
class [[nodiscard]] Expected {
public:
    Expected(T value) : data_(std::in_place_index<0>, std::move(value)) {}
    Expected(Status status) : data_(std::in_place_index<1>, std::move(status)) {
        assert(!std::get<1>(data_).ok() && "Expected built from a success Status");
    }

    bool ok() const { return data_.index() == 0; }
    explicit operator bool() const { return ok(); }

    T& value() & { return std::get<0>(checked()); }
    const T& value() const& { return std::get<0>(checked()); }
    T&& value() && { return std::get<0>(std::move(checked())); }
    T* operator->() { return &value(); }
    const T* operator->() const { return &value(); }
    T& operator*() & { return value(); }
    const T& operator*() const& { return value(); }

    const Status& status() const {
        static const Status success_status;
        return ok() ? success_status : std::get<1>(data_);
    }

private:
    std::variant<T, Status>& checked() {
        if (!ok()) die();
        return data_;
    }
    const std::variant<T, Status>& checked() const {
        if (!ok()) die();
        return data_;
    }
    [[noreturn]] void die() const {
        std::fprintf(stderr, "%s:%d: value() on a failed Expected: %s\n", __FILE__, __LINE__,
                     std::get<1>(data_).message().c_str());
        std::abort();
    }

    std::variant<T, Status> data_;
};

inline const Status& status_of(const Status& s) { return s; }
template <class T>
const Status& status_of(const Expected<T>& e) { return e.status(); }

}  // namespace kvmix

// Return the failed Status of a Status/Expected expression from the current function.
#define KVMIX_TRY(expr)                                              \
    do {                                                             \
        const auto& kvmix_try_result_ = (expr);                      \
        if (!kvmix_try_result_.ok()) return ::kvmix::status_of(kvmix_try_result_); \
    } while (0)


#define KVMIX_STATUS_CAT2(a, b) a##b
#define KVMIX_STATUS_CAT(a, b) KVMIX_STATUS_CAT2(a, b)
// `lhs = value of expr`, or return its failed Status: KVMIX_ASSIGN(hp.n_layer, reader.u32("block_count"));
#define KVMIX_ASSIGN(lhs, expr) KVMIX_ASSIGN_IMPL(KVMIX_STATUS_CAT(kvmix_assign_, __LINE__), lhs, expr)
#define KVMIX_ASSIGN_IMPL(tmp, lhs, expr)          \
    auto tmp = (expr);                             \
    if (!tmp.ok()) return tmp.status();            \
    lhs = std::move(tmp).value()
