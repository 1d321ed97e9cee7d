#pragma once
// A fixed set of resources handed out one caller at a time, waiting with a deadline and a
// stop token. Used for SQLite's writer (one slot) and readers (n slots).
//
// Internal to store/. Thread-safe.

#include <chrono>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <stop_token>
#include <vector>

#include "store/errors.hpp"

namespace bookmcp::store::internal {

template <typename T>
class slot_pool {
 public:
  class lease {
   public:
    lease(slot_pool& pool, std::unique_ptr<T> item) : pool_(&pool), item_(std::move(item)) {}
    lease(lease&& other) noexcept = default;
    lease& operator=(lease&&) = delete;
    ~lease() {
      if (item_) pool_->give_back(std::move(item_));
    }
    T& operator*() const noexcept { return *item_; }
    T* operator->() const noexcept { return item_.get(); }

   private:
    slot_pool* pool_;
    std::unique_ptr<T> item_;
  };

  void add(std::unique_ptr<T> item) {
    std::lock_guard lock(mutex_);
    free_.push_back(std::move(item));
    available_.notify_one();
  }

  // Waits until a slot is free. Throws cancelled when `stop` fires first and store_timeout
  // when `deadline` passes first.
  lease acquire(std::stop_token stop, std::chrono::steady_clock::time_point deadline) {
    std::unique_lock lock(mutex_);
    const bool ready =
        available_.wait_until(lock, stop, deadline, [&] { return !free_.empty(); });
    if (!ready) {
      if (stop.stop_requested())
        throw cancelled("the operation was cancelled", "stop requested while waiting");
      throw store_timeout(busy_message, "no connection became free before the deadline");
    }
    auto item = std::move(free_.back());
    free_.pop_back();
    return lease(*this, std::move(item));
  }

 private:
  void give_back(std::unique_ptr<T> item) {
    std::lock_guard lock(mutex_);
    free_.push_back(std::move(item));
    available_.notify_one();
  }

  std::mutex mutex_;
  std::condition_variable_any available_;
  std::vector<std::unique_ptr<T>> free_;
};

}  // namespace bookmcp::store::internal
