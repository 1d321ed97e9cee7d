// The todo repository's calls without blocking (add_async, list_async): the same results as
// the blocking calls on both back-ends (Postgres runs them on its non-blocking connections,
// SQLite through the blocking defaults), and, on Postgres, concurrency, cancellation that
// reaches the server and a busy pool's timeout.

#include <gtest/gtest.h>
#include <poll.h>

#include <atomic>
#include <condition_variable>
#include <future>
#include <mutex>
#include <pqxx/pqxx>
#include <set>
#include <thread>

#include "store/errors.hpp"
#include "tests/store/store_test_fixture.hpp"
#include "tests/testing/eventually.hpp"
#include "tests/testing/postgres_database_test.hpp"

namespace bookmcp::store {
namespace {

using namespace std::chrono;

// Waits for one completion; the value or the store error it carried (rethrown).
template <typename T>
class awaited {
 public:
  todo_repository::completion<T> callback() {
    return [this](std::optional<T> value, std::exception_ptr failure) {
      ++calls_;
      if (failure)
        promise_.set_exception(failure);
      else
        promise_.set_value(std::move(*value));
    };
  }
  T get(milliseconds limit = bookmcp::testing::hang_guard) {
    auto future = promise_.get_future();
    if (future.wait_for(limit) != std::future_status::ready)
      throw std::runtime_error("the completion was not called");
    return future.get();
  }
  int calls() const { return calls_; }

 private:
  std::promise<T> promise_;
  std::atomic<int> calls_{0};
};

add_result add_async(todo_repository& todos, const std::string& owner, const new_todo& item,
                     std::stop_token stop = {}) {
  awaited<add_result> result;
  todos.add_async(owner, item, stop, result.callback());
  return result.get();
}

todo_page list_async(todo_repository& todos, const std::string& owner, const todo_query& query,
                     std::stop_token stop = {}) {
  awaited<todo_page> result;
  todos.list_async(owner, query, stop, result.callback());
  return result.get();
}

new_todo item(std::string title) {
  return {std::move(title), "", {}, todo_priority::medium, {}, {}};
}

using TodoAsyncTest = StoreTest;

TEST_P(TodoAsyncTest, AddAndListGiveWhatTheBlockingCallsGive) {
  EXPECT_EQ(todos().supports_async(), std::string(GetParam().name) == "postgres");
  new_todo first = item("Redo the kinematics exercises");
  first.notes = "chapter 3; \"quotes\" and 'SQL'); DROP TABLE todos; --";
  first.due = todo_due::parse("2026-11-27");
  first.priority = todo_priority::high;
  first.tags = {"physics", "exam"};
  const auto added = add_async(todos(), "alice", first);
  EXPECT_TRUE(added.created);
  const auto stored = todos().get("alice", added.item.id, {});
  ASSERT_TRUE(stored);
  EXPECT_EQ(stored->notes, first.notes);
  EXPECT_EQ(stored->tags, first.tags);
  EXPECT_EQ(stored->due, first.due);
  for (int i = 0; i < 4; ++i) {
    add_async(todos(), "alice", item("page " + std::to_string(i)));
  }
  add_async(todos(), "bob", item("not alice's"));

  todo_query query;
  query.sort = todo_sort::created;
  query.limit = 2;
  std::vector<std::string> blocking_ids, async_ids;
  for (bool use_async : {false, true}) {
    auto& ids = use_async ? async_ids : blocking_ids;
    todo_query page_query = query;
    for (;;) {
      const auto page = use_async ? list_async(todos(), "alice", page_query)
                                  : todos().list("alice", page_query, {});
      for (const auto& todo : page.items) ids.push_back(todo.id);
      if (!page.next_cursor) break;
      page_query.cursor = page.next_cursor;
    }
  }
  EXPECT_EQ(async_ids, blocking_ids);
  EXPECT_EQ(async_ids.size(), 5u);
}

TEST_P(TodoAsyncTest, ARetriedAddReturnsTheFirstTodo) {
  new_todo retried = item("once");
  retried.client_request_id = "request-1";
  const auto first = add_async(todos(), "alice", retried);
  const auto second = add_async(todos(), "alice", retried);
  EXPECT_TRUE(first.created);
  EXPECT_FALSE(second.created);
  EXPECT_EQ(second.item.id, first.item.id);
  // Another owner's request id is another request.
  EXPECT_TRUE(add_async(todos(), "bob", retried).created);
  EXPECT_EQ(todos().export_all("alice", {}).size(), 1u);
}

TEST_P(TodoAsyncTest, BadInputFailsAtOnceWithTheBlockingCallsErrors) {
  awaited<add_result> empty_title;
  todos().add_async("alice", item(""), {}, empty_title.callback());
  EXPECT_EQ(empty_title.calls(), 1);  // before add_async returned
  EXPECT_THROW(empty_title.get(), invalid_request);

  todo_query query;
  query.cursor = "not-a-cursor";
  awaited<todo_page> bad_cursor;
  todos().list_async("alice", query, {}, bad_cursor.callback());
  EXPECT_THROW(bad_cursor.get(), invalid_request);

  query.cursor.reset();
  query.limit = 1000;
  awaited<todo_page> too_many;
  todos().list_async("alice", query, {}, too_many.callback());
  EXPECT_THROW(too_many.get(), invalid_request);
}

TEST_P(TodoAsyncTest, AStopRequestedBeforehandCancels) {
  std::stop_source stop;
  stop.request_stop();
  EXPECT_THROW(add_async(todos(), "alice", item("never"), stop.get_token()), cancelled);
  EXPECT_TRUE(todos().export_all("alice", {}).empty());
}

BOOKMCP_INSTANTIATE_STORE_SUITE(TodoAsyncTest);

// --- Postgres only ---------------------------------------------------------------------------

class PostgresAsyncTest : public testing::postgres_database_test {
 protected:
  // A queued call waits up to acquire_timeout for a connection and then fails as "busy": the
  // hang guard by default, so that a loaded machine's slow queue never fails a test; only the
  // test of the "busy" answer itself sets a short one.
  std::unique_ptr<database> open(std::size_t async_connections = 4,
                                 milliseconds acquire_timeout = bookmcp::testing::hang_guard) {
    postgres_options options;
    options.database_url = database_->url();
    options.min_connections = 1;
    options.async_connections = async_connections;
    options.acquire_timeout = acquire_timeout;
    options.statement_timeout = milliseconds(20000);
    return open_postgres(options);
  }

  // Holds an exclusive lock on the todos table in an open transaction until released, so
  // that every statement on it waits on the server.
  class table_lock {
   public:
    explicit table_lock(const std::string& url) : conn_(url), txn_(conn_) {
      txn_.exec("LOCK TABLE todos IN ACCESS EXCLUSIVE MODE");
    }
    void release() { txn_.abort(); }

   private:
    pqxx::connection conn_;
    pqxx::work txn_;
  };

  std::int64_t waiting_on_locks() {
    return database_->query_integer(
        "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database()"
        " AND wait_event_type = 'Lock'");
  }
  bool wait_for_lock_waiters(std::int64_t count) {
    return bookmcp::testing::eventually([&] { return waiting_on_locks() >= count; });
  }
};

TEST_F(PostgresAsyncTest, ConcurrentAddsFromManyThreadsAreAllStored) {
  auto db = open(4);
  constexpr int threads = 8, per_thread = 200;
  std::mutex mutex;
  std::condition_variable all_done;
  std::set<std::string> ids;
  std::vector<std::string> failures;
  int completed = 0;
  std::vector<std::thread> callers;
  for (int t = 0; t < threads; ++t) {
    callers.emplace_back([&, t] {
      for (int i = 0; i < per_thread; ++i) {
        db->todos().add_async("owner-" + std::to_string(t % 2),
                              item(std::to_string(t) + "/" + std::to_string(i)), {},
                              [&](std::optional<add_result> added, std::exception_ptr failure) {
                                std::lock_guard lock(mutex);
                                if (added) {
                                  ids.insert(added->item.id);
                                } else {
                                  try {
                                    std::rethrow_exception(failure);
                                  } catch (const std::exception& e) {
                                    failures.push_back(e.what());
                                  }
                                }
                                if (++completed == threads * per_thread) all_done.notify_all();
                              });
      }
    });
  }
  for (auto& caller : callers) caller.join();
  std::unique_lock lock(mutex);
  ASSERT_TRUE(
      all_done.wait_for(lock, seconds(60), [&] { return completed == threads * per_thread; }));
  EXPECT_TRUE(failures.empty()) << failures.front();
  EXPECT_EQ(ids.size(), std::size_t{threads * per_thread});
  EXPECT_EQ(database_->query_integer("SELECT count(*) FROM todos"), threads * per_thread);
}

TEST_F(PostgresAsyncTest, CancellingARunningAddCancelsItOnTheServer) {
  auto db = open(1);
  table_lock lock(database_->url());
  std::stop_source stop;
  awaited<add_result> result;
  const auto started = steady_clock::now();
  db->todos().add_async("alice", item("blocked"), stop.get_token(), result.callback());
  ASSERT_TRUE(wait_for_lock_waiters(1));
  stop.request_stop();
  EXPECT_THROW(result.get(), cancelled);
  EXPECT_LT(steady_clock::now() - started, seconds(10));
  lock.release();
  EXPECT_EQ(waiting_on_locks(), 0);
  EXPECT_TRUE(db->todos().export_all("alice", {}).empty()) << "the cancelled add was committed";
  // The pool goes on (the cancelled connection is replaced).
  EXPECT_TRUE(add_async(db->todos(), "alice", item("after")).created);
}

TEST_F(PostgresAsyncTest, AQueuedCallTimesOutOrIsCancelledWithoutWaiting) {
  auto db = open(1, milliseconds(1500));
  table_lock lock(database_->url());
  awaited<add_result> running;
  db->todos().add_async("alice", item("holds the connection"), {}, running.callback());
  ASSERT_TRUE(wait_for_lock_waiters(1));

  // Waits in the queue for the only connection: past acquire_timeout, "busy".
  const auto started = steady_clock::now();
  todo_query query;
  EXPECT_THROW(
      {
        try {
          list_async(db->todos(), "alice", query);
        } catch (const store_timeout& e) {
          EXPECT_STREQ(e.what(), "the database is busy; try again");
          throw;
        }
      },
      store_timeout);
  const auto waited = steady_clock::now() - started;
  EXPECT_GE(waited, milliseconds(1400));
  EXPECT_LT(waited, seconds(5));

  // A queued call whose stop comes fails at once with cancelled.
  std::stop_source stop;
  awaited<todo_page> queued;
  db->todos().list_async("alice", query, stop.get_token(), queued.callback());
  stop.request_stop();
  // (Past acquire_timeout it would fail with store_timeout instead: no clock needed here.)
  EXPECT_THROW(queued.get(), cancelled);

  lock.release();
  EXPECT_TRUE(running.get().created);
}

// An event loop drives the replies (attach_event_loop): completions run on the thread calling
// run_ready when the descriptor is readable; after detach, on the store's own thread again.
TEST_F(PostgresAsyncTest, AnAttachedEventLoopRunsTheCompletions) {
  auto db = open(2);
  auto events = db->attach_event_loop();
  ASSERT_TRUE(events);
  std::atomic<bool> looping{true};
  std::thread::id loop_thread;
  std::thread loop([&] {
    loop_thread = std::this_thread::get_id();
    while (looping) {
      pollfd ready{events->fd, POLLIN, 0};
      if (::poll(&ready, 1, 20) > 0) events->run_ready();
    }
  });
  std::thread::id completed_on;
  awaited<add_result> first;
  auto callback = first.callback();
  db->todos().add_async("alice", item("driven"), {},
                        [&](std::optional<add_result> value, std::exception_ptr failure) {
                          completed_on = std::this_thread::get_id();
                          callback(std::move(value), failure);
                        });
  EXPECT_TRUE(first.get().created);
  EXPECT_EQ(completed_on, loop_thread);
  // A page read the same way.
  EXPECT_EQ(list_async(db->todos(), "alice", todo_query{}).items.size(), 1u);
  looping = false;
  loop.join();
  events->detach();
  EXPECT_TRUE(add_async(db->todos(), "alice", item("own thread again")).created);
}

// The completion holds the last reference to the database: the database is destroyed on the
// store's own thread, which must not try to join itself.
TEST_F(PostgresAsyncTest, ACompletionMayDropTheLastReferenceToTheDatabase) {
  std::shared_ptr<database> db = open(2);
  auto& todos = db->todos();
  std::promise<bool> added;
  auto future = added.get_future();
  todos.add_async(
      "alice", item("last"), {},
      [keep = std::move(db), &added](std::optional<add_result> value, std::exception_ptr) mutable {
        added.set_value(value.has_value());
      });
  ASSERT_EQ(future.wait_for(seconds(20)), std::future_status::ready);
  EXPECT_TRUE(future.get());
  // The database is gone once the completion was destroyed; its row stays.
  EXPECT_TRUE(bookmcp::testing::eventually(
      [&] { return database_->query_integer("SELECT count(*) FROM todos") != 0; }));
  EXPECT_EQ(database_->query_integer("SELECT count(*) FROM todos"), 1);
}

}  // namespace
}  // namespace bookmcp::store
