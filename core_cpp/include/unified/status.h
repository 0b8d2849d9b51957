// Status: how kernels, the executor and the runtime report failure (a code plus a message
// with the values involved). Never abort, never throw across a C boundary.
#pragma once
#include <sstream>
#include <string>
#include <utility>

namespace unified {

enum class StatusCode : int { kOk = 0, kInvalidArgument = 1, kTypeError = 2, kIndexError = 3, kInternal = 4 };

class Status {
 public:
  Status() = default;
  Status(StatusCode code, std::string message) : code_(code), message_(std::move(message)) {}
  static Status ok() { return Status(); }
  bool is_ok() const { return code_ == StatusCode::kOk; }
  StatusCode code() const { return code_; }
  const std::string& message() const { return message_; }

 private:
  StatusCode code_ = StatusCode::kOk;
  std::string message_;
};

namespace status_detail {
inline void append(std::ostringstream&) {}
template <class T, class... Rest>
void append(std::ostringstream& os, const T& value, const Rest&... rest) {
  os << value;
  append(os, rest...);
}
}  // namespace status_detail

// Builds a message from any streamable pieces: make_status(kIndexError, "gather: index ", i, " out of range").
template <class... Parts>
Status make_status(StatusCode code, const Parts&... parts) {
  std::ostringstream os;
  status_detail::append(os, parts...);
  return Status(code, os.str());
}

}  // namespace unified

// Return early with the failed Status of an expression.
#define UNIFIED_RETURN_IF_ERROR(expr)            \
  do {                                           \
    ::unified::Status unified_status_ = (expr);  \
    if (!unified_status_.is_ok()) return unified_status_; \
  } while (0)

// Check a condition that user input can break; the message names file:line and the values.
#define UNIFIED_ENSURE(cond, ...)                                                          \
  do {                                                                                     \
    if (!(cond))                                                                           \
      return ::unified::make_status(::unified::StatusCode::kInvalidArgument, __VA_ARGS__); \
  } while (0)

#define UNIFIED_ENSURE_EQ(a, b)                                                                  \
  do {                                                                                           \
    if (!((a) == (b)))                                                                           \
      return ::unified::make_status(::unified::StatusCode::kInvalidArgument, __FILE__, ":",      \
                                    __LINE__, ": expected " #a " == " #b " but ", (a), " != ", (b)); \
  } while (0)
