#pragma once
// Postgres connection pool and query canceller (libpqxx 6). Internal to store/.
//
// Pool: between min and max connections. acquire() hands out an idle connection (after a
// cheap liveness check: an idle connection whose socket is readable was closed by the server,
// e.g. after a restart, and is discarded) or opens a new one while below max; otherwise it
// waits for a release until the deadline (store_timeout) or the stop token (cancelled).
// A connection that broke is discarded by its lease, never returned. Thread-safe.
//
// Canceller: one background thread sends PQcancel for operations whose stop token fired.
// std::stop_callback runs on the thread that calls request_stop (possibly an I/O thread),
// so the callback only queues; the canceller thread does the blocking network round trip and
// re-sends every 100 ms until the operation ends (a cancel that reaches the server before
// the query starts is ignored by the server).

#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <functional>
#include <list>
#include <memory>
#include <mutex>
#include <pqxx/connection>
#include <stop_token>
#include <string>
#include <thread>
#include <vector>

namespace bookmcp::store::postgres {

struct pool_settings {
  std::string conninfo;  // includes connect_timeout and application_name
  std::size_t min_connections = 5;
  std::size_t max_connections = 20;
  std::chrono::milliseconds statement_timeout{30000};
  // Called once on each new connection (session settings, prepared statement definitions).
  std::function<void(pqxx::connection&)> setup;
};

class pool {
 public:
  class lease {
   public:
    lease(pool& owner, std::unique_ptr<pqxx::connection> conn)
        : pool_(&owner), conn_(std::move(conn)) {}
    lease(lease&&) noexcept = default;
    lease& operator=(lease&&) = delete;
    ~lease();
    pqxx::connection& operator*() const noexcept { return *conn_; }
    pqxx::connection* operator->() const noexcept { return conn_.get(); }
    // The connection is broken or in an unknown state: close it instead of returning it.
    void discard() noexcept { discard_ = true; }

   private:
    pool* pool_;
    std::unique_ptr<pqxx::connection> conn_;
    bool discard_ = false;
  };

  // Opens min_connections; throws store_unavailable when the server cannot be reached.
  explicit pool(pool_settings settings);
  ~pool();

  lease acquire(std::stop_token stop, std::chrono::steady_clock::time_point deadline);

  std::size_t open_connections();  // for tests and metrics

 private:
  std::unique_ptr<pqxx::connection> connect();
  void release(std::unique_ptr<pqxx::connection> conn, bool discard);

  pool_settings settings_;
  std::mutex mutex_;
  std::condition_variable_any changed_;
  std::vector<std::unique_ptr<pqxx::connection>> idle_;
  std::size_t total_ = 0;  // idle + leased + being opened
};

class canceller {
 private:
  struct entry;

 public:
  // Watches one operation on one connection, from before its first statement until it ends.
  class watch {
   public:
    watch(canceller& owner, pqxx::connection& conn);
    // `send` sends the cancel request (blocking; called on the canceller thread only).
    watch(canceller& owner, std::function<void()> send);
    watch(const watch&) = delete;
    watch& operator=(const watch&) = delete;
    ~watch();  // stops re-sending; waits for a cancel being sent right now
    // Thread-safe, non-blocking: asks the canceller thread to cancel the running query.
    void request() noexcept;
    bool requested() const noexcept;

   private:
    canceller& owner_;
    std::unique_ptr<entry> entry_;
  };

  canceller();
  ~canceller();

 private:
  struct entry {
    std::function<void()> send;
    bool requested = false;
    bool queued = false;
    bool sending = false;
    std::chrono::steady_clock::time_point next_send{};
  };
  void loop(std::stop_token stop);

  std::mutex mutex_;
  std::condition_variable_any changed_;
  std::list<entry*> queue_;
  std::jthread thread_;
};

// How a failed statement counts, by its SQLSTATE; shared by the blocking and asynchronous
// paths. `broken`: the connection must be discarded.
enum class failure_kind { cancelled, timeout, unavailable, transient, internal };
failure_kind classify_sqlstate(const std::string& state, bool stop_requested, bool& broken);
// Throws the store error (store/errors.hpp) for `kind`, with its user-safe message.
[[noreturn]] void throw_failure(failure_kind kind, const std::string& diagnostic);

// Sets a new session up as every pooled session is ($1: the statement timeout in ms). Why
// plan_cache_mode: see pg_pool.cpp.
inline constexpr const char* session_settings_sql =
    "SELECT set_config('statement_timeout', $1, false),"
    " set_config('plan_cache_mode', 'force_generic_plan', false)";

// The libpq conninfo for `url` with connect_timeout and application_name added unless present.
std::string make_conninfo(const std::string& url, std::chrono::milliseconds connect_timeout);

}  // namespace bookmcp::store::postgres
