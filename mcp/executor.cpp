#include "mcp/executor.hpp"

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <mutex>
#include <queue>
#include <thread>
#include <vector>

#include <boost/asio/post.hpp>
#include <boost/asio/thread_pool.hpp>
#include <spdlog/spdlog.h>

namespace bookmcp::mcp {

namespace asio = boost::asio;

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

}  // namespace

struct executor::impl {
  explicit impl(std::size_t threads)
      // Deadline work runs on the deadline thread itself: it must fire even when every worker
      // is busy with the very calls whose deadlines passed. It is short (claim, stop, answer).
      : pool(threads), deadlines([](std::function<void()> work) { run_guarded(work); }) {}

  void post(std::function<void()> work) {
    {
      std::lock_guard lock(mutex);
      ++outstanding;
    }
    asio::post(pool, [this, work = std::move(work)] {
      run_guarded(work);
      std::lock_guard lock(mutex);
      if (--outstanding == 0) idle.notify_all();
    });
  }

  asio::thread_pool pool;
  std::once_flag joined;
  // Posted work not yet finished; join() waits for it, but not for pending timers.
  std::mutex mutex;
  std::condition_variable idle;
  std::size_t outstanding = 0;
  deadline_thread deadlines;
};

executor::executor(std::size_t worker_threads)
    : impl_(std::make_unique<impl>(std::max<std::size_t>(1, worker_threads))),
      threads_(std::max<std::size_t>(1, worker_threads)) {}

executor::~executor() { join(); }

void executor::post(std::function<void()> work) { impl_->post(std::move(work)); }

timer_handle executor::run_after(std::chrono::steady_clock::duration delay, std::function<void()> work) {
  auto item = impl_->deadlines.schedule(std::chrono::steady_clock::now() + delay, std::move(work));
  timer_handle handle;
  handle.cancel_ = [weak = std::weak_ptr<deadline_thread::entry>(item), state = impl_.get()] {
    if (auto entry = weak.lock(); entry && !entry->cancelled.exchange(true)) state->deadlines.cancelled_one();
  };
  return handle;
}

void executor::join() {
  std::call_once(impl_->joined, [this] {
    {
      std::unique_lock lock(impl_->mutex);
      impl_->idle.wait(lock, [this] { return impl_->outstanding == 0; });
    }
    // Pending timers are abandoned: their owners were cancelled before shutdown.
    impl_->pool.stop();
    impl_->pool.join();
  });
}

}  // namespace bookmcp::mcp
