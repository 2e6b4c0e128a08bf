// Errors as values at the API boundary.
//
// Internally wick throws wick::Error (a std::runtime_error carrying a code and a message that
// already names the file / tensor / expected-vs-actual values). Every public entry point
// catches it and returns a Result<T>, so callers never see an exception escape the library.
#pragma once

#include <stdexcept>
#include <string>
#include <utility>
#include <variant>

namespace wick {

enum class ErrorCode {
  kInvalidArgument,    // bad user input (flags, prompt too long, ...)
  kNotFound,           // missing file or tensor
  kCorruptFile,        // malformed header, offsets out of range, truncated data
  kUnsupported,        // unknown model_type, dtype, tokenizer component
  kShapeMismatch,      // tensor shape or dtype differs from what the config implies
  kIo,                 // read / mmap failure
  kResourceExhausted,  // a queue or pool is full: retry later
  kCancelled,          // the request was cancelled (client gone, server stopping)
  kInternal,
};

const char* error_code_name(ErrorCode code);

class Error : public std::runtime_error {
 public:
  Error(ErrorCode code, std::string message) : std::runtime_error(std::move(message)), code_(code) {}
  ErrorCode code() const { return code_; }

 private:
  ErrorCode code_;
};

// A minimal expected<T, Error>: either a value or an Error.
template <typename T>
class Result {
 public:
  Result(T value) : v_(std::move(value)) {}      // NOLINT(implicit)
  Result(Error error) : v_(std::move(error)) {}  // NOLINT(implicit)

  bool ok() const { return v_.index() == 0; }
  explicit operator bool() const { return ok(); }

  T& value() & {
    check();
    return std::get<0>(v_);
  }
  const T& value() const& {
    check();
    return std::get<0>(v_);
  }
  T&& value() && {
    check();
    return std::get<0>(std::move(v_));
  }
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }
  T& operator*() & { return value(); }

  const Error& error() const { return std::get<1>(v_); }

 private:
  void check() const {
    if (!ok()) throw std::get<1>(v_);  // using a failed Result is a programming error
  }
  std::variant<T, Error> v_;
};

// Runs fn() and turns a thrown wick::Error (or any std::exception) into a failed Result.
template <typename Fn>
auto capture_errors(Fn&& fn) -> Result<decltype(fn())> {
  try {
    return fn();
  } catch (const Error& e) {
    return e;
  } catch (const std::bad_alloc&) {
    return Error(ErrorCode::kInternal, "out of memory");
  } catch (const std::exception& e) {
    return Error(ErrorCode::kInternal, e.what());
  }
}

}  // namespace wick
