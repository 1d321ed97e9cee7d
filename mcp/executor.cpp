#include "mcp/executor.hpp"

#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/thread_pool.hpp>
#include <boost/asio/strand.hpp>
#include <spdlog/spdlog.h>

#include <condition_variable>
#include <mutex>

namespace bookmcp::mcp {

namespace asio = boost::asio;

struct executor::impl {
  explicit impl(std::size_t threads) : pool(threads) {}
  asio::thread_pool pool;
  std::once_flag joined;
  // Posted work not yet finished; join() waits for it, but not for pending timers.
  std::mutex mutex;
  std::condition_variable idle;
  std::size_t outstanding = 0;

  void finished_one() {
    std::lock_guard lock(mutex);
    if (--outstanding == 0) idle.notify_all();
  }
};

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
}  // namespace

executor::executor(std::size_t worker_threads)
    : impl_(std::make_unique<impl>(std::max<std::size_t>(1, worker_threads))),
      threads_(std::max<std::size_t>(1, worker_threads)) {}

executor::~executor() { join(); }

void executor::post(std::function<void()> work) {
  {
    std::lock_guard lock(impl_->mutex);
    ++impl_->outstanding;
  }
  asio::post(impl_->pool, [state = impl_.get(), work = std::move(work)] {
    run_guarded(work);
    state->finished_one();
  });
}

timer_handle executor::run_after(std::chrono::steady_clock::duration delay,
                                 std::function<void()> work) {
  // Each timer lives on its own strand so that cancel() from any thread is serialised with
  // the wait's completion (an Asio timer object is not safe for concurrent use).
  auto timer = std::make_shared<asio::steady_timer>(asio::make_strand(impl_->pool), delay);
  timer->async_wait([timer, work = std::move(work)](const boost::system::error_code& error) {
    if (!error) run_guarded(work);
  });
  timer_handle handle;
  handle.cancel_ = [weak = std::weak_ptr<asio::steady_timer>(timer)] {
    if (auto timer = weak.lock()) asio::post(timer->get_executor(), [timer] { timer->cancel(); });
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
