// Status and Result<T>: the one error vocabulary every module speaks.
//
//   Result<Document> doc = catalog.GetDocument(id);
//   if (!doc.ok()) return doc.status();          // propagate
//   Use(doc.value());
//
// Codes map to HTTP in exactly one place (web/): kInvalidArgument 400, kFailedPrecondition 422,
// kNotFound 404, kPermissionDenied 403, kUnavailable 503 with Retry-After, kDataLoss and
// kInternal 500.
// Messages say what is wrong, where, and how to fix it. Status is a cheap value type;
// an ok Status carries no allocation.
#pragma once

#include <cassert>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <variant>

namespace cloister {

enum class StatusCode {
  kOk,
  kInvalidArgument,     // the input itself is malformed
  kFailedPrecondition,  // well-formed, not processable now (encrypted, wrong dimension, newer schema)
  kNotFound,
  kPermissionDenied,    // the caller may not do this (write into a collection not granted to them)
  kUnavailable,         // busy or loading: retry later
  kDataLoss,            // stored data corrupt: rebuild
  kInternal,            // a bug or an unexpected third-party failure
};

// "invalid_argument", "failed_precondition", ...: the spelling used in JSON and logs.
std::string_view StatusCodeName(StatusCode code);

class [[nodiscard]] Status {
 public:
  Status() = default;
  Status(StatusCode code, std::string message) : code_(code), message_(std::move(message)) {}

  static Status Ok() { return {}; }
  bool ok() const { return code_ == StatusCode::kOk; }
  StatusCode code() const { return code_; }
  const std::string& message() const { return message_; }
  // "not_found: document 12 does not exist"
  std::string ToString() const;
  // Prefixes the message with context, keeping the code: "reading a.pdf: <message>".
  Status WithContext(std::string_view context) const;

  friend bool operator==(const Status& a, const Status& b) {
    return a.code_ == b.code_ && a.message_ == b.message_;
  }

 private:
  StatusCode code_ = StatusCode::kOk;
  std::string message_;
};

inline Status InvalidArgument(std::string m) { return {StatusCode::kInvalidArgument, std::move(m)}; }
inline Status FailedPrecondition(std::string m) {
  return {StatusCode::kFailedPrecondition, std::move(m)};
}
inline Status NotFound(std::string m) { return {StatusCode::kNotFound, std::move(m)}; }
inline Status PermissionDenied(std::string m) {
  return {StatusCode::kPermissionDenied, std::move(m)};
}
inline Status Unavailable(std::string m) { return {StatusCode::kUnavailable, std::move(m)}; }
inline Status DataLoss(std::string m) { return {StatusCode::kDataLoss, std::move(m)}; }
inline Status Internal(std::string m) { return {StatusCode::kInternal, std::move(m)}; }

// A value or the Status explaining why there is none. Accessing value() of an error Result is a
// programmer error (asserted), never a user-input path.
template <typename T>
class [[nodiscard]] Result {
 public:
  Result(T value) : data_(std::move(value)) {}  // NOLINT: implicit by design
  Result(Status status) : data_(std::move(status)) {  // NOLINT
    assert(!std::get<Status>(data_).ok() && "a Result needs a value or an error");
  }

  bool ok() const { return std::holds_alternative<T>(data_); }
  Status status() const { return ok() ? Status::Ok() : std::get<Status>(data_); }
  T& value() & { return std::get<T>(data_); }
  const T& value() const& { return std::get<T>(data_); }
  T&& value() && { return std::get<T>(std::move(data_)); }
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }
  T& operator*() & { return value(); }
  const T& operator*() const& { return value(); }

 private:
  std::variant<T, Status> data_;
};

}  // namespace cloister

// Returns from the enclosing function when `expr` (a Status) is an error.
#define CLOISTER_RETURN_IF_ERROR(expr)              \
  do {                                              \
    if (::cloister::Status _st = (expr); !_st.ok()) \
      return _st;                                   \
  } while (0)

#define CLOISTER_CONCAT_INNER(a, b) a##b
#define CLOISTER_CONCAT(a, b) CLOISTER_CONCAT_INNER(a, b)
// CLOISTER_ASSIGN_OR_RETURN(auto doc, LoadDocument(id));
#define CLOISTER_ASSIGN_OR_RETURN(lhs, expr)                              \
  auto CLOISTER_CONCAT(_res_, __LINE__) = (expr);                         \
  if (!CLOISTER_CONCAT(_res_, __LINE__).ok())                             \
    return CLOISTER_CONCAT(_res_, __LINE__).status();                     \
  lhs = std::move(CLOISTER_CONCAT(_res_, __LINE__)).value()
