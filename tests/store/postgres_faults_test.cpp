// Postgres-only behaviour under faults: server restarts and outages, cancellation that reaches
// the server, statement and pool timeouts, and error messages that leak nothing.

#include <gtest/gtest.h>

#include <atomic>
#include <condition_variable>
#include <future>
#include <iostream>
#include <mutex>
#include <thread>

#include "store/database.hpp"
#include "store/errors.hpp"
#include "store/internal/testing_hooks.hpp"
#include "tests/testing/postgres_database_test.hpp"

namespace bookmcp::store {
namespace {

using namespace std::chrono;

constexpr const char* unavailable_text = "the database is unavailable; try again";

class PostgresFaultTest : public testing::postgres_database_test {
 protected:
  std::unique_ptr<database> open(std::size_t max_connections = 20) {
    postgres_options options;
    options.database_url = database_->url();
    options.min_connections = 1;
    options.max_connections = max_connections;
    options.acquire_timeout = milliseconds(2000);
    options.connect_timeout = milliseconds(2000);
    options.statement_timeout = milliseconds(20000);
    return open_postgres(options);
  }

  // Polls the server until a pg_sleep query of ours is running (bounded).
  bool wait_for_sleeping_query() {
    const auto until = steady_clock::now() + seconds(10);
    while (steady_clock::now() < until) {
      if (active_sleeps() > 0) return true;
      std::this_thread::sleep_for(milliseconds(10));
    }
    return false;
  }

  std::int64_t active_sleeps() {
    return database_->query_integer(
        "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database()"
        " AND state = 'active' AND query LIKE '%pg_sleep%' AND pid <> pg_backend_pid()");
  }
};

TEST_F(PostgresFaultTest, CancellationStopsTheQueryOnTheServer) {
  auto db = open();
  auto& hooks = dynamic_cast<internal::testing_hooks&>(*db);
  std::stop_source stop;
  std::atomic<bool> was_cancelled{false};
  std::thread worker([&] {
    try {
      hooks.slow_query_for_testing(seconds(60), stop.get_token());
    } catch (const cancelled&) {
      was_cancelled = true;
    }
  });
  ASSERT_TRUE(wait_for_sleeping_query());
  const auto requested = steady_clock::now();
  stop.request_stop();
  worker.join();
  EXPECT_LT(steady_clock::now() - requested, seconds(30));  // the query was for 60
  EXPECT_TRUE(was_cancelled);
  EXPECT_EQ(active_sleeps(), 0);
  db->ping({});  // the pool is healthy afterwards
}

TEST_F(PostgresFaultTest, StatementTimeoutIsEnforcedByTheServer) {
  postgres_options options;
  options.database_url = database_->url();
  options.min_connections = 1;
  options.statement_timeout = milliseconds(300);
  auto db = open_postgres(options);
  auto& hooks = dynamic_cast<internal::testing_hooks&>(*db);
  const auto started = steady_clock::now();
  EXPECT_THROW(hooks.slow_query_for_testing(seconds(60), {}), store_timeout);
  EXPECT_LT(steady_clock::now() - started, seconds(30));
  db->ping({});
}

TEST_F(PostgresFaultTest, AFullPoolTimesOutAcquireWithAClearError) {
  auto db = open(/*max_connections=*/1);
  auto& hooks = dynamic_cast<internal::testing_hooks&>(*db);
  std::stop_source stop;
  std::thread holder([&] {
    try {
      hooks.slow_query_for_testing(seconds(60), stop.get_token());
    } catch (const cancelled&) {
    }
  });
  ASSERT_TRUE(wait_for_sleeping_query());
  const auto started = steady_clock::now();
  try {
    db->todos().add("alice", new_todo{"waits", "", {}, todo_priority::low, {}, {}}, {});
    ADD_FAILURE() << "acquired a connection from a full pool";
  } catch (const store_timeout& e) {
    EXPECT_STREQ(e.what(), "the database is busy; try again");
  }
  EXPECT_LT(steady_clock::now() - started, seconds(30));  // the holder keeps it for 60

  // A caller waiting for a connection can be cancelled too.
  std::stop_source waiting;
  std::thread canceller([&] { waiting.request_stop(); });
  EXPECT_THROW(db->ping(waiting.get_token()), cancelled);
  canceller.join();

  stop.request_stop();
  holder.join();
  db->ping({});
}

// Tests that stop or restart the shared cluster; ctest runs them alone (RUN_SERIAL).
using PostgresOutageTest = PostgresFaultTest;

TEST_F(PostgresOutageTest, OutageFailsFastAndThePoolRecoversByItself) {
  auto db = open();
  db->todos().add("alice", new_todo{"before", "", {}, todo_priority::low, {}, {}}, {});
  ASSERT_EQ(testing::postgres_ctl("stop -m fast"), 0);
  for (int i = 0; i < 3; ++i) {
    const auto started = steady_clock::now();
    try {
      db->todos().add("alice", new_todo{"during", "", {}, todo_priority::low, {}, {}}, {});
      ADD_FAILURE() << "added while the server was down";
    } catch (const store_unavailable& e) {
      EXPECT_STREQ(e.what(), unavailable_text);
    }
    EXPECT_LT(steady_clock::now() - started, seconds(5));
  }
  EXPECT_THROW(db->ping({}), store_unavailable);
  ASSERT_EQ(testing::postgres_ctl("start"), 0);
  const auto after = db->todos().add("alice", new_todo{"after", "", {}, {}, {}, {}}, {});
  EXPECT_TRUE(db->todos().get("alice", after.item.id, {}));
  EXPECT_EQ(db->todos().export_all("alice", {}).size(), 2u);
}

TEST_F(PostgresOutageTest, RestartWhileAddingKeepsEveryAcknowledgedAdd) {
  auto db = open();
  constexpr int threads = 4;
  std::mutex mutex;
  std::condition_variable progress;
  std::vector<std::string> acknowledged;
  std::vector<std::string> failures;
  std::atomic<int> successes{0};
  std::atomic<bool> done{false};
  nanoseconds slowest{0};

  std::vector<std::thread> workers;
  for (int t = 0; t < threads; ++t) {
    workers.emplace_back([&, t] {
      for (int i = 0; !done; ++i) {
        const auto started = steady_clock::now();
        std::string failure;
        std::optional<std::string> id;
        try {
          new_todo item{"t" + std::to_string(t) + "-" + std::to_string(i), "", {}, {}, {}, {}};
          if (i % 2 == 0) item.client_request_id = "r-" + std::to_string(t) + "-" + std::to_string(i);
          id = db->todos().add("alice", item, {}).item.id;
        } catch (const store_error& e) {
          failure = std::string(typeid(e).name()) + ": " + e.what();
        }
        std::lock_guard lock(mutex);
        slowest = std::max<nanoseconds>(slowest, steady_clock::now() - started);
        if (id) {
          acknowledged.push_back(*id);
          ++successes;
        } else {
          failures.push_back(failure);
        }
        progress.notify_all();
      }
    });
  }
  const auto wait_for_successes = [&](int count) {
    std::unique_lock lock(mutex);
    return progress.wait_for(lock, seconds(30), [&] { return successes >= count; });
  };
  ASSERT_TRUE(wait_for_successes(100));
  ASSERT_EQ(testing::postgres_ctl("restart -m fast"), 0);
  const int at_restart = successes;
  const bool recovered = wait_for_successes(at_restart + 100);
  done = true;
  for (auto& worker : workers) worker.join();
  EXPECT_TRUE(recovered) << "no progress after the restart";

  EXPECT_LT(slowest, seconds(10));
  for (const auto& failure : failures) {
    EXPECT_NE(failure.find(unavailable_text), std::string::npos) << failure;
  }
  for (const auto& id : acknowledged) ASSERT_TRUE(db->todos().get("alice", id, {})) << id;
  std::cout << "[          ] " << acknowledged.size() << " acknowledged adds, " << failures.size()
            << " failed during the restart\n";
}

// The non-blocking path (add_async, list_async: todo_add and todo_list) on its own
// connections: fails fast while the server is down, and its connector reconnects by itself.
TEST_F(PostgresOutageTest, AsyncCallsFailFastDuringAnOutageAndRecover) {
  auto db = open();
  ASSERT_TRUE(db->todos().supports_async());
  const auto add = [&](const std::string& title) {
    std::promise<add_result> result;
    db->todos().add_async("alice", new_todo{title, "", {}, {}, {}, {}}, {},
                          [&](std::optional<add_result> value, std::exception_ptr failure) {
                            if (failure)
                              result.set_exception(failure);
                            else
                              result.set_value(std::move(*value));
                          });
    auto future = result.get_future();
    if (future.wait_for(seconds(20)) != std::future_status::ready)
      throw std::runtime_error("no completion within 20 s");
    return future.get();
  };
  add("before");
  ASSERT_EQ(testing::postgres_ctl("stop -m fast"), 0);
  for (int i = 0; i < 3; ++i) {
    const auto started = steady_clock::now();
    try {
      add("during");
      ADD_FAILURE() << "added while the server was down";
    } catch (const store_unavailable& e) {
      EXPECT_STREQ(e.what(), unavailable_text);
    }
    EXPECT_LT(steady_clock::now() - started, seconds(5));
  }
  ASSERT_EQ(testing::postgres_ctl("start"), 0);
  // The connector reconnects in the background: the first calls may still fail.
  std::optional<add_result> after;
  for (const auto until = steady_clock::now() + seconds(20);
       !after && steady_clock::now() < until;) {
    try {
      after = add("after");
    } catch (const store_unavailable&) {
      std::this_thread::sleep_for(milliseconds(100));
    }
  }
  ASSERT_TRUE(after) << "the non-blocking path did not recover";
  EXPECT_TRUE(db->todos().get("alice", after->item.id, {}));
  EXPECT_EQ(db->todos().export_all("alice", {}).size(), 2u);
}

TEST_F(PostgresFaultTest, ConnectionErrorsLeakNoCredentials) {
  postgres_options options;
  options.database_url = "postgresql://bookmcp:s3cret-pa55@127.0.0.1:1/nowhere";
  options.connect_timeout = milliseconds(2000);
  try {
    open_postgres(options);
    ADD_FAILURE() << "connected to port 1";
  } catch (const store_unavailable& e) {
    EXPECT_STREQ(e.what(), unavailable_text);
    EXPECT_EQ(e.diagnostic().find("s3cret"), std::string::npos) << e.diagnostic();
  }
}

}  // namespace
}  // namespace bookmcp::store
