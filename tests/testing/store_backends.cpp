#include "tests/testing/store_backends.hpp"

#include <sqlite3.h>
#include <unistd.h>

#include <random>
#include <stdexcept>

#include "tests/testing/postgres_test_cluster.hpp"

namespace bookmcp::testing {

namespace {

class sqlite_test_backend final : public store_backend {
 public:
  sqlite_test_backend() {
    std::random_device random;
    dir_ = std::filesystem::temp_directory_path() /
           ("bookmcp-store-test-" + std::to_string(::getpid()) + "-" +
            std::to_string(random()));
    std::filesystem::create_directories(dir_);
  }
  ~sqlite_test_backend() override {
    std::error_code ignored;
    std::filesystem::remove_all(dir_, ignored);
  }

  std::string kind() const override { return "sqlite"; }

  std::unique_ptr<store::database> open(const store_open_settings& settings) override {
    store::sqlite_options options;
    options.data_dir = dir_;
    options.apply_migrations = settings.apply_migrations;
    options.clock = settings.clock;
    options.statement_timeout = settings.statement_timeout;
    options.reader_connections = std::min<std::size_t>(settings.max_connections, 4);
    return store::open_sqlite(std::move(options));
  }

  void execute_sql(const std::string& sql) override {
    with_connection([&](sqlite3* db) {
      char* message = nullptr;
      if (sqlite3_exec(db, sql.c_str(), nullptr, nullptr, &message) != SQLITE_OK) {
        std::string text = message ? message : "sqlite error";
        sqlite3_free(message);
        throw std::runtime_error(text);
      }
    });
  }

  std::int64_t query_integer(const std::string& sql) override {
    std::int64_t value = 0;
    with_connection([&](sqlite3* db) {
      sqlite3_stmt* stmt = nullptr;
      if (sqlite3_prepare_v2(db, sql.c_str(), -1, &stmt, nullptr) != SQLITE_OK)
        throw std::runtime_error(sqlite3_errmsg(db));
      if (sqlite3_step(stmt) == SQLITE_ROW) value = sqlite3_column_int64(stmt, 0);
      sqlite3_finalize(stmt);
    });
    return value;
  }

 private:
  template <typename F>
  void with_connection(F&& f) {
    sqlite3* db = nullptr;
    const auto file = dir_ / "bookmcp.sqlite3";
    if (sqlite3_open(file.c_str(), &db) != SQLITE_OK) {
      sqlite3_close(db);
      throw std::runtime_error("cannot open " + file.string());
    }
    sqlite3_busy_timeout(db, 5000);
    try {
      f(db);
    } catch (...) {
      sqlite3_close(db);
      throw;
    }
    sqlite3_close(db);
  }

  std::filesystem::path dir_;
};

class postgres_test_backend final : public store_backend {
 public:
  explicit postgres_test_backend(const std::string& cluster_url) : database_(cluster_url) {}

  std::string kind() const override { return "postgres"; }

  std::unique_ptr<store::database> open(const store_open_settings& settings) override {
    store::postgres_options options;
    options.database_url = database_.url();
    options.apply_migrations = settings.apply_migrations;
    options.clock = settings.clock;
    options.statement_timeout = settings.statement_timeout;
    options.acquire_timeout = settings.acquire_timeout;
    options.max_connections = settings.max_connections;
    options.min_connections = settings.min_connections;
    return store::open_postgres(std::move(options));
  }

  void execute_sql(const std::string& sql) override { database_.execute(sql); }
  std::int64_t query_integer(const std::string& sql) override {
    return database_.query_integer(sql);
  }

  const postgres_test_database& database() const { return database_; }

 private:
  postgres_test_database database_;
};

}  // namespace

store_backend_param sqlite_backend() {
  return {"sqlite", [] { return std::make_unique<sqlite_test_backend>(); }};
}

store_backend_param postgres_backend() {
  return {"postgres", []() -> std::unique_ptr<store_backend> {
            auto url = postgres_test_url();
            if (!url) return nullptr;
            return std::make_unique<postgres_test_backend>(*url);
          }};
}

}  // namespace bookmcp::testing
