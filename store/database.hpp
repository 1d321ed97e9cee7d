#pragma once
// Opening a storage back-end: SQLite in a data directory (the embedded default) or Postgres
// (server profile, when a DATABASE_URL is configured). Both offer the same repositories.
//
// Only the composition root (app/) opens a database; everything else receives the
// repositories by reference. Heavy client headers (libpqxx, sqlite3) stay out of this header.

#include <chrono>
#include <cstddef>
#include <filesystem>
#include <functional>
#include <memory>
#include <optional>
#include <stop_token>
#include <string>
#include <string_view>
#include <vector>

#include "store/document_registry.hpp"
#include "store/todo.hpp"
#include "store/todo_repository.hpp"

namespace bookmcp::store {

// The clock used for created_at / updated_at / completed_at. Tests inject a fake one.
using clock_function = std::function<timestamp()>;
timestamp system_now();

struct sqlite_options {
  // The database file is data_dir / file_name; data_dir is created when missing.
  std::filesystem::path data_dir;
  std::string file_name = "bookmcp.sqlite3";
  std::size_t reader_connections = 4;                    // plus one serialised writer
  std::chrono::milliseconds busy_timeout{5000};          // wait for another process's lock
  std::chrono::milliseconds statement_timeout{30000};    // per operation, then store_timeout
  bool apply_migrations = true;                          // false: only check the version
  clock_function clock = system_now;
};

struct postgres_options {
  std::string database_url;  // libpq URL or key=value string; never logged or shown
  std::size_t min_connections = 5;   // opened at start and kept
  std::size_t max_connections = 20;
  // Connections of the todo repository's non-blocking path (add_async, list_async: the todo
  // tools' todo_add and todo_list), besides the pool above; 0 turns that path off.
  std::size_t async_connections = 8;
  std::chrono::milliseconds acquire_timeout{5000};    // wait for a free connection
  std::chrono::milliseconds connect_timeout{5000};    // TCP/handshake for a new connection
  std::chrono::milliseconds statement_timeout{30000}; // SET statement_timeout per connection
  bool apply_migrations = true;
  clock_function clock = system_now;
};

// A descriptor that becomes readable when the store has work for an event loop, and how to
// do that work (database::attach_event_loop).
struct event_source {
  int fd = -1;
  std::function<void()> run_ready;  // does what is ready, without blocking
  std::function<void()> detach;     // the store waits on its own thread again
};

// What migrate() did.
struct migration_report {
  int version_before = 0;
  int version_after = 0;
  std::vector<int> applied;  // versions applied by this call, ascending
};

// One open database with its repositories. The repositories live as long as the database.
// Thread-safety: all members may be called concurrently from any thread; all calls block.
class database {
 public:
  virtual ~database() = default;

  virtual std::string_view backend_name() const noexcept = 0;  // "sqlite" or "postgres"

  virtual todo_repository& todos() noexcept = 0;
  virtual document_registry& documents() noexcept = 0;

  // Applies pending migrations (each in its own transaction, recorded in schema_migrations;
  // on Postgres serialised across processes by an advisory lock). Idempotent. Throws
  // schema_too_new when the database is ahead of this program, store_unavailable etc.
  virtual migration_report migrate() = 0;

  // The version recorded in schema_migrations (0 for an empty database).
  virtual int schema_version() = 0;

  // A cheap round trip, for readiness checks. Throws like any operation when unhealthy.
  virtual void ping(std::stop_token stop) = 0;

  // Hands the replies of the non-blocking path (todo_repository::add_async, list_async) to an
  // event loop, so that their completions run on its threads (the network I/O threads, which
  // then write the answers where they are) instead of the store's own thread. The loop
  // watches `fd` and calls `run_ready` whenever `fd` may have become readable, arming its next
  // wait before each call, until it calls `detach` (before it stops running). nullopt when the
  // back-end has no such path (SQLite).
  virtual std::optional<event_source> attach_event_loop() { return std::nullopt; }
};

// The newest migration version each back-end knows.
int latest_schema_version_sqlite();
int latest_schema_version_postgres();

// Opens (creating when missing) the SQLite database. Applies migrations when
// options.apply_migrations, and in any case throws schema_too_new when the file is newer than
// this program. Throws store_unavailable when the file cannot be opened.
std::unique_ptr<database> open_sqlite(sqlite_options options);

// Connects to Postgres, opening min_connections. Applies migrations when
// options.apply_migrations; throws schema_too_new as above, store_unavailable when the server
// cannot be reached (the message never contains the URL or its credentials).
std::unique_ptr<database> open_postgres(postgres_options options);

}  // namespace bookmcp::store
