#pragma once
// Internal: a connection's bounded write queue. Any thread pushes; one coroutine on the
// connection's strand pops. A producer on a worker thread that finds the queue full waits
// (throttling a slow reader); if the queue stays full past the grace period the connection is
// declared too slow: the outbox overflows, and its consumer disconnects the peer (see
// disconnect_on_overflow). Producers on I/O threads, or on other threads that must not
// block (mcp::non_blocking_scope), never wait (they would block the very strand that drains
// the queue, or an event loop); readers apply back-pressure instead (see wait_drained).

#include <chrono>
#include <condition_variable>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>

#include <boost/asio/awaitable.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>

#include "mcp/channel.hpp"

namespace bookmcp::transport::detail {

namespace net = boost::asio;

struct queued_message {
  std::string text;
  mcp::outbound_route::kind type = mcp::outbound_route::kind::notification;
};

class outbox : public std::enable_shared_from_this<outbox> {
 public:
  outbox(net::any_io_executor strand, std::size_t limit_bytes, std::chrono::milliseconds grace)
      : strand_(std::move(strand)), timer_(strand_), limit_(limit_bytes), grace_(grace) {}

  // Queues a message. Returns false when the outbox is closed, or when it stayed full past
  // the grace period (the outbox is then closed with overflowed() true).
  bool push(std::string text, mcp::outbound_route::kind type) {
    std::unique_lock lock(mutex_);
    if (closed_) return false;
    if (bytes_ + text.size() > limit_ && !queue_.empty()) {
      if (mcp::non_blocking_scope::active()) {
        // Cannot wait here; allow a bounded overshoot, then give up on the peer.
        if (bytes_ + text.size() > 2 * limit_) return overflow(lock);
      } else if (!space_.wait_for(lock, grace_,
                                  [&] { return closed_ || bytes_ + text.size() <= limit_; })) {
        return overflow(lock);
      }
      if (closed_) return false;
    }
    bytes_ += text.size();
    queue_.push_back({std::move(text), type});
    wake(lock);
    return true;
  }

  // Ends the outbox: pop() returns what is queued, then nullopt. Idempotent.
  void close() {
    std::unique_lock lock(mutex_);
    if (closed_) return;
    closed_ = true;
    space_.notify_all();
    wake(lock);
  }

  bool closed() const {
    std::lock_guard lock(mutex_);
    return closed_;
  }
  bool overflowed() const {
    std::lock_guard lock(mutex_);
    return overflowed_;
  }
  std::size_t bytes() const {
    std::lock_guard lock(mutex_);
    return bytes_;
  }
  std::size_t limit() const { return limit_; }
  // Messages queued behind the one being written.
  bool backlog() const {
    std::lock_guard lock(mutex_);
    return !queue_.empty();
  }

  // Until the guard is destroyed, an overflow calls `disconnect` on the strand. The consumer is
  // then most likely blocked writing to the very peer that stopped reading, and only closing
  // the connection ends that write (a closed outbox alone would wait for it). Make and destroy
  // the guard on the strand, before what `disconnect` refers to goes away.
  class overflow_guard {
   public:
    overflow_guard(std::shared_ptr<outbox> box, std::function<void()> disconnect)
        : box_(std::move(box)) {
      box_->disconnect_ = std::move(disconnect);
      if (box_->overflowed()) box_->post_disconnect();
    }
    ~overflow_guard() { box_->disconnect_ = nullptr; }
    overflow_guard(const overflow_guard&) = delete;
    overflow_guard& operator=(const overflow_guard&) = delete;

   private:
    std::shared_ptr<outbox> box_;
  };
  [[nodiscard]] overflow_guard disconnect_on_overflow(std::function<void()> disconnect) {
    return overflow_guard(shared_from_this(), std::move(disconnect));
  }

  // Whether a reader should stop taking requests (back-pressure): more than half the cap is
  // queued, and the outbox is open. Then it waits in wait_drained().
  bool backed_up() const {
    std::lock_guard lock(mutex_);
    return backed_up_locked();
  }

  // On the strand, for a reader applying back-pressure: returns once the queue is at most half
  // full, or closed. A queue that stays fuller than that for the grace period means that the
  // peer stopped reading; the outbox then overflows, as for a producer that waited that long.
  net::awaitable<void> wait_drained() {
    const auto deadline = std::chrono::steady_clock::now() + grace_;
    for (;;) {
      {
        std::unique_lock lock(mutex_);
        if (!backed_up_locked()) co_return;
        if (std::chrono::steady_clock::now() >= deadline) {
          overflow(lock);
          co_return;
        }
      }
      // Polled: the timer that wakes the consumer belongs to pop().
      net::steady_timer pause(strand_, std::chrono::milliseconds(5));
      boost::system::error_code ignored;
      co_await pause.async_wait(net::redirect_error(net::use_awaitable, ignored));
    }
  }

  // On the strand: the next message, or nullopt when closed and drained, or when `timeout`
  // passes first (then `timed_out` is set).
  net::awaitable<std::optional<queued_message>> pop(
      std::chrono::steady_clock::duration timeout = std::chrono::hours(24 * 365), bool* timed_out = nullptr) {
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    for (;;) {
      {
        std::unique_lock lock(mutex_);
        if (!queue_.empty()) {
          queued_message message = std::move(queue_.front());
          queue_.pop_front();
          bytes_ -= message.text.size();
          space_.notify_all();
          co_return message;
        }
        if (closed_) co_return std::nullopt;
        waiting_ = true;
      }
      if (std::chrono::steady_clock::now() >= deadline) {
        std::lock_guard lock(mutex_);
        waiting_ = false;
        if (timed_out) *timed_out = true;
        co_return std::nullopt;
      }
      timer_.expires_at(deadline);
      boost::system::error_code ignored;
      co_await timer_.async_wait(net::redirect_error(net::use_awaitable, ignored));
      std::lock_guard lock(mutex_);
      waiting_ = false;
    }
  }

 private:
  bool overflow(std::unique_lock<std::mutex>& lock) {
    overflowed_ = true;
    closed_ = true;
    queue_.clear();
    bytes_ = 0;
    space_.notify_all();
    wake(lock);
    post_disconnect();
    return false;
  }

  bool backed_up_locked() const { return !closed_ && bytes_ > limit_ / 2; }

  // `disconnect_` is read and written on the strand only (see overflow_guard).
  void post_disconnect() {
    net::post(strand_, [self = shared_from_this()] {
      if (self->disconnect_) self->disconnect_();
    });
  }

  // Called with the lock held: wakes the consumer if it waits. The cancel runs on the strand,
  // after the consumer has suspended in async_wait (the consumer runs on that strand too).
  void wake(std::unique_lock<std::mutex>&) {
    if (!waiting_) return;
    net::post(strand_, [self = shared_from_this()] { self->timer_.cancel(); });
  }

  net::any_io_executor strand_;
  net::steady_timer timer_;
  std::size_t limit_;
  std::chrono::milliseconds grace_;
  mutable std::mutex mutex_;
  std::condition_variable space_;
  std::deque<queued_message> queue_;
  std::size_t bytes_ = 0;
  bool waiting_ = false;
  bool closed_ = false;
  bool overflowed_ = false;
  std::function<void()> disconnect_;
};

}  // namespace bookmcp::transport::detail
