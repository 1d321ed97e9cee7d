#pragma once
// Hooks for the store's own tests (cancellation and timeouts need a query that runs long).
// Both back-end database classes implement this; tests reach it with dynamic_cast. Not for
// production code.

#include <chrono>
#include <stop_token>

namespace bookmcp::store::internal {

class todo_transaction_runner;

class testing_hooks {
 public:
  virtual ~testing_hooks() = default;
  // Runs one query that takes about `duration` (Postgres: pg_sleep; SQLite: a CPU-bound
  // recursive query) through the normal pool, timeout and cancellation path.
  virtual void slow_query_for_testing(std::chrono::milliseconds duration,
                                      std::stop_token stop) = 0;
  // The back-end's transaction runner, for repositories over a runner that wraps it.
  virtual todo_transaction_runner& transaction_runner_for_testing() = 0;
};

}  // namespace bookmcp::store::internal
