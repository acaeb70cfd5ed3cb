// Status: the result of an operation that can fail, LevelDB-style.
// A Status is either ok() or carries a Code (mapped to an HTTP status by the API server) and a
// human-readable message that names the problem. Cheap to copy; no exceptions cross module seams.
#pragma once

#include <string>
#include <utility>

namespace tide {

class Status {
 public:
  enum class Code {
    kOk = 0,
    kInvalid,       // 400: bad input (manifest, JSON, flag value)
    kUnauthorized,  // 401
    kForbidden,     // 403
    kNotFound,      // 404
    kConflict,      // 409
    kTooLarge,      // 413
    kUnavailable,   // 503
    kTimeout,       // 504
    kInternal,      // 500
  };

  Status() = default;
  static Status Ok() { return Status(); }
  static Status Invalid(std::string m) { return Status(Code::kInvalid, std::move(m)); }
  static Status Unauthorized(std::string m) { return Status(Code::kUnauthorized, std::move(m)); }
  static Status Forbidden(std::string m) { return Status(Code::kForbidden, std::move(m)); }
  static Status NotFound(std::string m) { return Status(Code::kNotFound, std::move(m)); }
  static Status Conflict(std::string m) { return Status(Code::kConflict, std::move(m)); }
  static Status TooLarge(std::string m) { return Status(Code::kTooLarge, std::move(m)); }
  static Status Unavailable(std::string m) { return Status(Code::kUnavailable, std::move(m)); }
  static Status Timeout(std::string m) { return Status(Code::kTimeout, std::move(m)); }
  static Status Internal(std::string m) { return Status(Code::kInternal, std::move(m)); }

  bool ok() const { return code_ == Code::kOk; }
  Code code() const { return code_; }
  const std::string& message() const { return message_; }
  std::string ToString() const { return ok() ? "OK" : message_; }

 private:
  Status(Code c, std::string m) : code_(c), message_(std::move(m)) {}
  Code code_ = Code::kOk;
  std::string message_;
};

}  // namespace tide
