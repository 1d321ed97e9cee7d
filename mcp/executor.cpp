#include "mcp/executor.hpp"

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <mutex>
#include <deque>
#include <queue>
#include <thread>
#include <vector>

#include <spdlog/spdlog.h>

namespace bookmcp::mcp {

namespace {

void run_guarded(const std::function<void()>& work) {
  try {
    work();
  } catch (const std::exception& error) {
    spdlog::error("unhandled exception in background work: {}", error.what());
  } catch (...) {
    spdlog::error("unhandled non-standard exception in background work");
  }
}

// Deadlines are armed on every tool call and almost always cancelled, so cancelling must be
// cheap: it only sets a flag. One thread sleeps until the earliest deadline; cancelled entries
// are dropped lazily (and compacted when they pile up).
class deadline_thread {
 public:
  struct entry {
    std::atomic<bool> cancelled{false};
    std::function<void()> work;
  };

  explicit deadline_thread(std::function<void(std::function<void()>)> dispatch)
      : core_(std::make_shared<core>()) {
    core_->dispatch = std::move(dispatch);
    thread_ = std::thread([state = core_] { state->run(); });
  }

  ~deadline_thread() {
    {
      std::lock_guard lock(core_->mutex);
      core_->stopping = true;
    }
    core_->changed.notify_all();
    // Deadline work may drop the last reference to the executor that owns this thread; the
    // thread cannot join itself, so it is detached and finishes on its own (it shares `core_`).
    if (thread_.get_id() == std::this_thread::get_id()) {
      thread_.detach();
    } else {
      thread_.join();
    }
  }

  std::shared_ptr<entry> schedule(std::chrono::steady_clock::time_point when, std::function<void()> work) {
    auto item = std::make_shared<entry>();
    item->work = std::move(work);
    bool earliest = false;
    {
      std::lock_guard lock(core_->mutex);
      auto& heap = core_->heap;
      earliest = heap.empty() || when < heap.top().when;
      heap.push({when, item});
      if (heap.size() > 4096 && heap.size() > 2 * core_->live_estimate) core_->compact();
      ++core_->live_estimate;
    }
    if (earliest) core_->changed.notify_one();
    return item;
  }

  void cancelled_one() {
    std::lock_guard lock(core_->mutex);
    if (core_->live_estimate) --core_->live_estimate;
  }

 private:
  struct slot {
    std::chrono::steady_clock::time_point when;
    std::shared_ptr<entry> item;
    bool operator>(const slot& other) const { return when > other.when; }
  };

  // Everything the thread touches, shared with it so that it outlives a detached thread's loop.
  struct core {
    std::function<void(std::function<void()>)> dispatch;
    std::mutex mutex;
    std::condition_variable changed;
    std::priority_queue<slot, std::vector<slot>, std::greater<>> heap;
    std::size_t live_estimate = 0;
    bool stopping = false;

    void compact() {
      std::vector<slot> kept;
      while (!heap.empty()) {
        if (!heap.top().item->cancelled) kept.push_back(heap.top());
        heap.pop();
      }
      for (auto& item : kept) heap.push(std::move(item));
      live_estimate = heap.size();
    }

    void run() {
      std::unique_lock lock(mutex);
      while (!stopping) {
        if (heap.empty()) {
          changed.wait(lock);
          continue;
        }
        const auto next = heap.top().when;
        if (std::chrono::steady_clock::now() < next) {
          changed.wait_until(lock, next);
          continue;
        }
        slot due = heap.top();
        heap.pop();
        if (due.item->cancelled) continue;
        if (live_estimate) --live_estimate;
        auto work = std::move(due.item->work);
        due = {};
        lock.unlock();
        dispatch(std::move(work));
        lock.lock();
      }
    }
  };

  std::shared_ptr<core> core_;
  std::thread thread_;
};

// The workers. Tool calls are mostly short, so the cost that matters is waking threads: a
// sleeping worker costs a futex wake and a context switch, tens of microseconds on a small VM.
// Hence, in the manner of Go's scheduler:
// - a post wakes a sleeper only when no idle worker is already "searching" for work, and the
//   woken worker counts as searching until it takes a task, so a burst of posts wakes one
//   thread, not one per post; a worker that takes a task while more are queued wakes the next
//   (the chain grows only as fast as the work needs it);
// - while work streams in, one idle worker at a time spins briefly before sleeping;
// - sleepers are woken last-in first-out: the most recently active thread has a warm cache.
class worker_pool {
 public:
  explicit worker_pool(std::size_t threads) : slots_(threads) {
    threads_.reserve(threads);
    for (std::size_t i = 0; i < threads; ++i) threads_.emplace_back([this, i] { run(slots_[i]); });
  }
  ~worker_pool() { stop_and_join(); }

  void post(std::function<void()> work) {
    slot* woken = nullptr;
    {
      std::lock_guard lock(mutex_);
      queue_.push_back(std::move(work));
      queued_.store(queue_.size(), std::memory_order_release);
      woken = claim_sleeper();
    }
    if (woken) woken->wake.notify_one();
  }

  // Runs what is queued, then stops the workers. Idempotent.
  void stop_and_join() {
    {
      std::lock_guard lock(mutex_);
      stopping_ = true;
    }
    for (auto& sleeper : slots_) sleeper.wake.notify_one();
    for (auto& thread : threads_) {
      if (thread.joinable()) thread.join();
    }
  }

 private:
  struct slot {
    std::condition_variable wake;
    bool woken = false;  // under mutex_: claimed by claim_sleeper()
  };

  // Under mutex_: when nobody searches and someone sleeps, claims the latest sleeper as the
  // searcher (the caller notifies it after unlocking).
  slot* claim_sleeper() {
    if (searching_.load(std::memory_order_acquire) != 0 || sleepers_.empty()) return nullptr;
    slot* sleeper = sleepers_.back();
    sleepers_.pop_back();
    sleeper->woken = true;
    searching_.fetch_add(1, std::memory_order_acq_rel);
    return sleeper;
  }

  // Spins up to a few tens of microseconds for queued work; true when some appeared.
  bool search() {
    // 40 µs: about one request's round trip; measured against 0, 5 and 20 µs on 2 cores,
    // it gave the best pipelined stdio and WebSocket throughput (bench/stdio, bench/network).
    const auto until = std::chrono::steady_clock::now() + std::chrono::microseconds(40);
    for (unsigned spins = 1;; ++spins) {
      if (queued_.load(std::memory_order_acquire) != 0) return true;
      if (spins % 64 == 0) {
        if (std::chrono::steady_clock::now() >= until) return false;
        std::this_thread::yield();
      }
#if defined(__x86_64__) || defined(__i386__)
      __builtin_ia32_pause();
#endif
    }
  }

  void run(slot& self) {
    bool searching = false;  // this thread holds one count of searching_
    // Short tasks are arriving in a stream (more was queued behind this thread's last task, or
    // its last search found some, and that task took little time): worth spinning for more.
    // Otherwise spinning would only steal a core that others need: the client and the reader
    // when calls come one at a time, the database when tasks wait on it.
    bool streaming = false;
    std::unique_lock lock(mutex_);
    for (;;) {
      if (!queue_.empty()) {
        auto work = std::move(queue_.front());
        queue_.pop_front();
        queued_.store(queue_.size(), std::memory_order_release);
        streaming = streaming || !queue_.empty();
        slot* next = nullptr;
        if (searching) {
          searching = false;
          searching_.fetch_sub(1, std::memory_order_acq_rel);
          if (!queue_.empty()) next = claim_sleeper();
        }
        lock.unlock();
        if (next) next->wake.notify_one();
        const auto started = std::chrono::steady_clock::now();
        run_guarded(work);
        work = nullptr;
        if (streaming && std::chrono::steady_clock::now() - started > std::chrono::microseconds(100)) {
          streaming = false;
        }
        lock.lock();
        continue;
      }
      if (stopping_) break;
      // Nothing queued: search for a moment (one searcher at a time), then sleep.
      if (!searching && streaming && searching_.load(std::memory_order_acquire) == 0) {
        searching = true;
        searching_.fetch_add(1, std::memory_order_acq_rel);
      }
      if (searching) {
        lock.unlock();
        streaming = search();
        lock.lock();
        if (streaming) continue;
        searching = false;
        searching_.fetch_sub(1, std::memory_order_acq_rel);
        // A post (or stop) that saw us searching woke nobody: look again before sleeping.
        if (!queue_.empty() || stopping_) continue;
      }
      sleepers_.push_back(&self);
      self.wake.wait(lock, [&] { return self.woken || stopping_; });
      if (self.woken) {
        // Claimed by claim_sleeper(), which counted this thread as searching.
        self.woken = false;
        searching = true;
      } else {
        std::erase(sleepers_, &self);
      }
    }
    if (searching) searching_.fetch_sub(1, std::memory_order_acq_rel);
  }

  std::mutex mutex_;
  std::deque<std::function<void()>> queue_;
  std::atomic<std::size_t> queued_{0};     // queue_.size(), readable without the mutex
  std::atomic<std::size_t> searching_{0};  // idle workers spinning for work, or woken to
  std::vector<slot*> sleepers_;            // idle workers waiting on their slot, latest last
  std::vector<slot> slots_;                // one per thread
  bool stopping_ = false;
  std::vector<std::thread> threads_;
};

}  // namespace

struct executor::impl {
  explicit impl(std::size_t threads)
      // Deadline work runs on the deadline thread itself: it must fire even when every worker
      // is busy with the very calls whose deadlines passed. It is short (claim, stop, answer).
      : pool(threads), deadlines([](std::function<void()> work) { run_guarded(work); }) {}

  worker_pool pool;
  std::once_flag joined;
  deadline_thread deadlines;
};

executor::executor(std::size_t worker_threads)
    : impl_(std::make_unique<impl>(std::max<std::size_t>(1, worker_threads))),
      threads_(std::max<std::size_t>(1, worker_threads)) {}

executor::~executor() { join(); }

void executor::post(std::function<void()> work) { impl_->pool.post(std::move(work)); }

timer_handle executor::run_after(std::chrono::steady_clock::duration delay, std::function<void()> work) {
  auto item = impl_->deadlines.schedule(std::chrono::steady_clock::now() + delay, std::move(work));
  timer_handle handle;
  handle.cancel_ = [weak = std::weak_ptr<deadline_thread::entry>(item), state = impl_.get()] {
    if (auto entry = weak.lock(); entry && !entry->cancelled.exchange(true)) state->deadlines.cancelled_one();
  };
  return handle;
}

void executor::join() {
  // Pending timers are abandoned: their owners were cancelled before shutdown.
  std::call_once(impl_->joined, [this] { impl_->pool.stop_and_join(); });
}

}  // namespace bookmcp::mcp
