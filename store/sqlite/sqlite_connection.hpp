#pragma once
// Thin RAII layer over one sqlite3 connection: prepared statement cache, typed binding, error
// mapping to store errors, and per-operation cancellation/deadline via the progress handler.
//
// Internal to store/. A connection is used by one thread at a time (the pools hand them out);
// only operation_scope's stop callback may touch it from another thread (sqlite3_interrupt,
// which SQLite documents as safe for that).

#include <sqlite3.h>

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <memory>
#include <optional>
#include <stop_token>
#include <string>
#include <unordered_map>

namespace bookmcp::store::sqlite {

class connection;

// `text` with every letter in lower case (Unicode simple case mapping, as Postgres's lower()
// in a UTF-8 locale); bytes that are not UTF-8 stay as they are. Every connection has it as the
// SQL function bookmcp_contains(text, needle), true when lower_case(text) contains `needle`.
std::string lower_case(std::string_view text);

// A cached prepared statement, reset and unbound when the scope ends.
class statement {
 public:
  statement(connection& owner, sqlite3_stmt* handle);
  statement(const statement&) = delete;
  statement& operator=(const statement&) = delete;
  ~statement();

  // Parameters are 1-based, as in "?1".
  statement& bind(int index, const std::string& value);
  statement& bind(int index, std::int64_t value);
  statement& bind(int index, double value);
  statement& bind(int index, std::nullptr_t);
  template <typename T>
  statement& bind(int index, const std::optional<T>& value) {
    return value ? bind(index, *value) : bind(index, nullptr);
  }

  // Advances to the next row; false when done. Throws store errors.
  bool step();
  // Runs a statement that returns no rows (or ignores them); returns sqlite3_changes().
  int run();

  bool is_null(int column) const;
  std::string text(int column) const;
  std::int64_t integer(int column) const;
  double real(int column) const;
  std::optional<std::string> optional_text(int column) const;
  std::optional<std::int64_t> optional_integer(int column) const;

 private:
  connection& owner_;
  sqlite3_stmt* handle_;
};

class connection {
 public:
  // Opens (creating when `create`) the file; throws store_unavailable on failure.
  connection(const std::filesystem::path& file, bool create,
             std::chrono::milliseconds busy_timeout);
  connection(const connection&) = delete;
  connection& operator=(const connection&) = delete;
  ~connection();

  // A statement from the cache (prepared on first use). `sql` must be a constant.
  statement prepare(const char* sql);
  // Runs constant SQL without parameters (pragmas, DDL, BEGIN/COMMIT).
  void execute(const char* sql);

  // Throws store_unavailable when the database file was deleted, renamed or replaced since it
  // was opened: writes would go to a file nobody will ever open again.
  void check_file_in_place();

  // Throws the store error for `code` (after an sqlite3 call failed).
  [[noreturn]] void fail(int code, const char* context);

  sqlite3* handle() const noexcept { return db_; }

  // The current operation, consulted by the progress handler; see operation_scope.
  struct operation_state {
    std::stop_token stop;
    std::chrono::steady_clock::time_point deadline;
    bool timed_out = false;
  };
  operation_state* current_operation = nullptr;

 private:
  sqlite3* db_ = nullptr;
  std::unordered_map<const char*, sqlite3_stmt*> cache_;
};

// While alive, the connection's queries stop (SQLITE_INTERRUPT, mapped to cancelled or
// store_timeout) when `stop` fires or `deadline` passes.
class operation_scope {
 public:
  operation_scope(connection& conn, std::stop_token stop,
                  std::chrono::steady_clock::time_point deadline);
  operation_scope(const operation_scope&) = delete;
  operation_scope& operator=(const operation_scope&) = delete;
  ~operation_scope();

 private:
  connection& conn_;
  connection::operation_state state_;
  std::stop_callback<std::function<void()>> on_stop_;
};

}  // namespace bookmcp::store::sqlite
