#pragma once
// The worker pool that runs tool handlers and other blocking work, plus one-shot timers for
// deadlines. Asio lives behind this interface so that mcp headers stay light.
//
// Thread-safety: every method may be called from any thread.

#include <chrono>
#include <cstddef>
#include <functional>
#include <memory>

namespace bookmcp::mcp {

// A scheduled timer; cancel() is idempotent and safe after the timer fired.
class timer_handle {
 public:
  timer_handle() = default;
  void cancel() {
    if (cancel_) cancel_();
  }
  explicit operator bool() const { return static_cast<bool>(cancel_); }

 private:
  friend class executor;
  std::function<void()> cancel_;
};

class executor {
 public:
  // Starts `worker_threads` workers (at least 1).
  explicit executor(std::size_t worker_threads);
  // Stops accepting work and joins the workers after the queued work ran.
  ~executor();
  executor(const executor&) = delete;
  executor& operator=(const executor&) = delete;

  // Runs `work` on a worker thread. Exceptions escaping `work` are logged and swallowed.
  void post(std::function<void()> work);

  // Runs `work` on a worker thread after `delay`, unless cancelled first.
  timer_handle run_after(std::chrono::steady_clock::duration delay, std::function<void()> work);

  // Waits for queued work to finish and stops the workers. Idempotent.
  void join();

  std::size_t thread_count() const { return threads_; }

 private:
  struct impl;
  std::unique_ptr<impl> impl_;
  std::size_t threads_;
};

}  // namespace bookmcp::mcp
