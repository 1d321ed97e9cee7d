#pragma once
// Back-end factories for the store's parameterised test suites: every suite runs once per
// back-end (SQLite in a temporary directory; Postgres in a fresh database on the cluster of
// with_postgres.sh, skipped when that is not running).

#include <atomic>
#include <chrono>
#include <filesystem>
#include <functional>
#include <memory>
#include <ostream>
#include <string>
#include <vector>

#include "store/database.hpp"

namespace bookmcp::testing {

struct store_open_settings {
  bool apply_migrations = true;
  store::clock_function clock = store::system_now;
  std::chrono::milliseconds statement_timeout{30000};
  std::chrono::milliseconds acquire_timeout{5000};
  std::size_t max_connections = 20;   // Postgres pool; SQLite readers
  std::size_t min_connections = 2;
};

// One fresh, empty database of one back-end. Removed on destruction.
class store_backend {
 public:
  virtual ~store_backend() = default;
  virtual std::string kind() const = 0;  // "sqlite" or "postgres"
  // Opens the database (may be called several times, also concurrently).
  virtual std::unique_ptr<store::database> open(const store_open_settings& settings) = 0;
  // Runs test-only SQL directly on the database, bypassing the store.
  virtual void execute_sql(const std::string& sql) = 0;
  virtual std::int64_t query_integer(const std::string& sql) = 0;
};

struct store_backend_param {
  std::string name;                                        // "sqlite" / "postgres"
  std::function<std::unique_ptr<store_backend>()> make;    // nullptr: not available, skip
};

inline std::ostream& operator<<(std::ostream& out, const store_backend_param& param) {
  return out << param.name;
}

store_backend_param sqlite_backend();
store_backend_param postgres_backend();

// A deterministic clock: starts at 2025-01-01T00:00:00Z and advances 1 ms per reading.
class store_fake_clock {
 public:
  store::timestamp now() {
    return store::timestamp{std::chrono::milliseconds{start_ms_ + ticks_.fetch_add(1)}};
  }
  store::clock_function function() {
    return [this] { return now(); };
  }

 private:
  static constexpr std::int64_t start_ms_ = 1735689600000;
  std::atomic<std::int64_t> ticks_{0};
};

}  // namespace bookmcp::testing
