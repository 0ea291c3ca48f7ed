// Result<T>: a value or an error, shaped like std::expected (absent from GCC 12's C++20).
// Used at module edges everywhere: the data plane never throws, the control plane converts
// exceptions into a Result before returning. An error has a code that callers act on and a
// message for people: no caller branches on a message's wording.
#pragma once

#include <string>
#include <utility>
#include <variant>

namespace anyedge {

// What kind of failure, where a caller acts differently on it. Most errors are kFailed.
enum class ErrorCode {
    kFailed,
    kTimedOut,  // a deadline passed (the peer may be wedged rather than gone)
    kNotFound,  // the thing asked for does not exist (HTTP 404, a missing file)
    kAborted,   // the caller's abort fd fired (e.g. the watched process died)
};

struct Error {
    std::string message;
    ErrorCode code = ErrorCode::kFailed;
};

inline Error make_error(std::string message, ErrorCode code = ErrorCode::kFailed) {
    return Error{std::move(message), code};
}

template <typename T>
class [[nodiscard]] Result {
  public:
    Result(T value) : v_(std::move(value)) {}
    Result(Error error) : v_(std::move(error)) {}

    bool ok() const { return v_.index() == 0; }
    explicit operator bool() const { return ok(); }

    T& value() & { return std::get<0>(v_); }
    const T& value() const& { return std::get<0>(v_); }
    T&& value() && { return std::get<0>(std::move(v_)); }
    T& operator*() & { return value(); }
    const T& operator*() const& { return value(); }
    T* operator->() { return &value(); }
    const T* operator->() const { return &value(); }

    const std::string& error() const { return std::get<1>(v_).message; }
    ErrorCode error_code() const { return std::get<1>(v_).code; }
    // The error, to pass up: `context` is put before its message, its code is kept.
    Error forward_error(const std::string& context = {}) const {
        return Error{context + error(), error_code()};
    }

  private:
    std::variant<T, Error> v_;
};

// Result<void>: success or an error message.
struct Ok {};
using Status = Result<Ok>;
inline Status ok_status() { return Ok{}; }

}  // namespace anyedge
