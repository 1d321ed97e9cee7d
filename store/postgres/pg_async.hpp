#pragma once
// Postgres statements run without blocking a thread (libpq's asynchronous API). Internal to
// store/.
//
// A fixed set of non-blocking connections, each running one statement at a time. run()
// sends the statement at once on an idle connection, from the calling thread (a send of a few
// hundred bytes on a non-blocking socket), or queues it; one reactor thread waits on every
// connection's socket (epoll), reads the results and calls the completions, many per wake-up
// under load, as pgbench's threads do. Nothing here waits on a lock held across a network
// round trip, so run() may be called from an event loop's thread.
//
// Each statement runs alone (autocommit). Statements are prepared on a connection when first
// used there. A broken connection is closed and replaced by the connector thread (blocking
// connects happen there); the statement is re-run once on another connection when
// request::retry allows it or when nothing of it was sent. While no connection can be opened,
// statements fail at once with store_unavailable; waiting longer than acquire_timeout for a
// connection fails with store_timeout. A stop token cancels the statement on the server (via
// the canceller thread) or drops it from the queue; it then fails with store::cancelled.
//
// Thread-safety: run() may be called from any thread, also from a completion.

#include <libpq-fe.h>

#include <chrono>
#include <cstddef>
#include <exception>
#include <functional>
#include <memory>
#include <optional>
#include <stop_token>
#include <string>
#include <vector>

#include "store/database.hpp"
#include "store/postgres/pg_pool.hpp"

namespace bookmcp::store::postgres {

struct async_settings {
  std::string conninfo;  // as for the blocking pool (make_conninfo)
  std::size_t connections = 8;
  std::chrono::milliseconds statement_timeout{30000};
  std::chrono::milliseconds acquire_timeout{5000};  // longest wait in the queue
};

struct result_deleter {
  void operator()(PGresult* result) const noexcept { PQclear(result); }
};
using pg_result = std::unique_ptr<PGresult, result_deleter>;

class async_pool {
 public:
  struct request {
    // The statement's name and text; both must outlive the call (statements are made once).
    const std::string* name = nullptr;
    const std::string* sql = nullptr;
    std::vector<std::optional<std::string>> values;  // text, or NULL
    // Re-running it on a fresh connection after the connection broke mid-way cannot change
    // its outcome (reads, idempotent writes).
    bool retry = false;
  };
  // Exactly one of `result` (PGRES_TUPLES_OK or PGRES_COMMAND_OK) and `failure` (a store
  // error) is set. Runs on the reactor thread, or on run()'s caller for a failure found
  // before anything was sent; it must not block.
  using done_fn = std::function<void(pg_result result, std::exception_ptr failure)>;

  // Opens the connections; throws store_unavailable when none can be opened.
  async_pool(async_settings settings, canceller& cancel);
  // Fails what is queued or running with store_unavailable, then closes the connections.
  ~async_pool();
  async_pool(const async_pool&) = delete;
  async_pool& operator=(const async_pool&) = delete;

  void run(request what, std::stop_token stop, done_fn done);

  // Lets an event loop drive the pool (database::attach_event_loop): from now on the reactor
  // thread no longer waits on the sockets; the loop calls run_ready on its threads whenever
  // `fd` may have become readable (arming its wait before each call), until it calls detach.
  // Returns once the reactor thread stopped waiting; not to be called from a completion.
  event_source attach();

 private:
  struct state;
  std::shared_ptr<state> state_;
};

}  // namespace bookmcp::store::postgres
