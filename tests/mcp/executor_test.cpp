#include <atomic>
#include <future>
#include <set>
#include <stdexcept>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include "mcp/executor.hpp"
#include "tests/testing/mcp_recording_sink.hpp"

namespace bookmcp::mcp {
namespace {

using mcp_testing::signal;
using mcp_testing::wait_limit;

TEST(Executor, PostRunsWorkOnWorkerThreads) {
  executor pool(2);
  EXPECT_EQ(pool.thread_count(), 2u);
  std::promise<std::thread::id> ran;
  auto future = ran.get_future();
  pool.post([&] { ran.set_value(std::this_thread::get_id()); });
  ASSERT_EQ(future.wait_for(wait_limit), std::future_status::ready);
  EXPECT_NE(future.get(), std::this_thread::get_id());
}

TEST(Executor, AtLeastOneThread) {
  executor pool(0);
  EXPECT_EQ(pool.thread_count(), 1u);
  signal ran;
  pool.post([&] { ran.set(); });
  EXPECT_TRUE(ran.wait());
}

TEST(Executor, ExceptionsFromWorkAreSwallowed) {
  executor pool(1);
  pool.post([] { throw std::runtime_error("boom"); });
  pool.post([] { throw 42; });
  signal ran;
  pool.post([&] { ran.set(); });
  EXPECT_TRUE(ran.wait()) << "the worker died with the exception";
}

TEST(Executor, JoinWaitsForQueuedWork) {
  std::atomic<int> done{0};
  {
    executor pool(2);
    for (int i = 0; i < 50; ++i) pool.post([&] { ++done; });
    pool.join();
    EXPECT_EQ(done.load(), 50);
    pool.join();  // idempotent
  }
  EXPECT_EQ(done.load(), 50);
}

TEST(Executor, BlockedWorkersDoNotHoldUpOthers) {
  // Three of four workers block; work posted afterwards still runs on the fourth.
  executor pool(4);
  std::promise<void> release;
  std::shared_future<void> released = release.get_future().share();
  std::atomic<int> blocked{0};
  for (int i = 0; i < 3; ++i) {
    pool.post([&, released] {
      ++blocked;
      released.wait();
    });
  }
  std::atomic<int> quick{0};
  signal all_quick;
  for (int i = 0; i < 100; ++i) {
    pool.post([&] {
      if (++quick == 100) all_quick.set();
    });
  }
  EXPECT_TRUE(all_quick.wait());
  release.set_value();
  pool.join();
  EXPECT_EQ(blocked.load(), 3);
}

TEST(Executor, NoPostIsLostUnderContention) {
  // Posters on several threads, in bursts and one at a time, with workers idling in between:
  // every piece of work runs (a lost wake-up would leave some queued until the limit).
  constexpr int posters = 4;
  constexpr int per_poster = 20000;
  executor pool(3);
  std::atomic<int> done{0};
  signal finished;
  std::vector<std::thread> threads;
  for (int t = 0; t < posters; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < per_poster; ++i) {
        pool.post([&] {
          if (++done == posters * per_poster) finished.set();
        });
        if ((i + t) % 512 == 0) std::this_thread::sleep_for(std::chrono::microseconds(200));
      }
    });
  }
  for (auto& thread : threads) thread.join();
  EXPECT_TRUE(finished.wait()) << done.load() << " of " << posters * per_poster << " ran";
}

TEST(Executor, RunAfterRunsOnce) {
  executor pool(2);
  std::atomic<int> runs{0};
  signal ran;
  const auto start = std::chrono::steady_clock::now();
  auto handle = pool.run_after(std::chrono::milliseconds(20), [&] {
    ++runs;
    ran.set();
  });
  EXPECT_TRUE(handle);
  ASSERT_TRUE(ran.wait());
  EXPECT_GE(std::chrono::steady_clock::now() - start, std::chrono::milliseconds(20));
  handle.cancel();  // after it fired: harmless
  EXPECT_EQ(runs.load(), 1);
}

TEST(Executor, CancelledTimerDoesNotRun) {
  executor pool(2);
  std::atomic<bool> cancelled_ran{false};
  signal later_ran;
  auto cancelled = pool.run_after(std::chrono::milliseconds(200), [&] { cancelled_ran = true; });
  cancelled.cancel();
  cancelled.cancel();  // idempotent
  // A timer due later than the cancelled one: once it ran, the cancelled one would have run.
  pool.run_after(std::chrono::milliseconds(400), [&] { later_ran.set(); });
  ASSERT_TRUE(later_ran.wait());
  EXPECT_FALSE(cancelled_ran.load());
}

TEST(Executor, EmptyHandleCancelIsHarmless) {
  timer_handle handle;
  EXPECT_FALSE(handle);
  handle.cancel();
}

TEST(Executor, DestroyingWithPendingTimersDoesNotRunThem) {
  std::atomic<bool> ran{false};
  {
    executor pool(1);
    pool.run_after(std::chrono::hours(1), [&] { ran = true; });
  }
  EXPECT_FALSE(ran.load());
}

}  // namespace
}  // namespace bookmcp::mcp
