#include <atomic>
#include <future>
#include <set>
#include <stdexcept>
#include <thread>

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
