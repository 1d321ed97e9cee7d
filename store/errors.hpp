#pragma once
// Errors thrown by the storage layer.
//
// Infrastructure failures (the database is down, too slow, or the caller gave up) are
// exceptions derived from store_error. Their what() is safe to show to an end user: it never
// contains SQL, connection strings, credentials or server error texts. The full cause, for
// the log only, is in diagnostic() (server message and SQLSTATE; never credentials).
//
// Expected domain outcomes ("not found") are never exceptions: they are empty optionals or
// false. Invalid requests that the tool layer should have rejected (an over-long title, a
// limit above 100, a cursor that was tampered with) throw invalid_request, which is not a
// store_error: it is the caller's mistake, not the database's.

#include <stdexcept>
#include <string>

namespace bookmcp::store {

// The user-safe texts of the common failures, shared by both back-ends.
inline constexpr const char* unavailable_message = "the database is unavailable; try again";
inline constexpr const char* busy_message = "the database is busy; try again";

class store_error : public std::runtime_error {
 public:
  // `user_message` is shown to users; `diagnostic` is for logs only.
  store_error(const std::string& user_message, std::string diagnostic)
      : std::runtime_error(user_message), diagnostic_(std::move(diagnostic)) {}

  const std::string& diagnostic() const noexcept { return diagnostic_; }

 private:
  std::string diagnostic_;
};

// The database cannot be reached or the connection broke during the operation. When this is
// thrown by a write, the write may or may not have been applied (unless the operation was
// retried safely, e.g. an add with a client_request_id); the caller may retry.
class store_unavailable : public store_error {
 public:
  using store_error::store_error;
};

// The operation did not finish in time: no pooled connection became free within the acquire
// timeout, the statement timeout fired, or the database stayed locked (SQLite busy timeout).
// Nothing was committed.
class store_timeout : public store_error {
 public:
  using store_error::store_error;
};

// The caller's std::stop_token fired while the operation waited or ran; the running query
// was cancelled on the server and nothing was committed.
class cancelled : public store_error {
 public:
  using store_error::store_error;
};

// The database schema was written by a newer program (its recorded migration version is
// higher than the newest this program knows). The program must not use it.
class schema_too_new : public store_error {
 public:
  schema_too_new(int database_version, int program_version);
  int database_version() const noexcept { return database_version_; }
  int program_version() const noexcept { return program_version_; }

 private:
  int database_version_;
  int program_version_;
};

// Any other database failure (a constraint violation the validation should have caught,
// a corrupt file...). Not retryable.
class store_internal_error : public store_error {
 public:
  using store_error::store_error;
};

// The request itself is invalid (see the header comment). what() names the problem.
class invalid_request : public std::invalid_argument {
 public:
  using std::invalid_argument::invalid_argument;
};

}  // namespace bookmcp::store
