// The queue behind the test doubles' `inject()`: faults queued by a test, taken one per request.
#pragma once

#include <chrono>
#include <cstddef>
#include <deque>
#include <mutex>

namespace bookmcp::testing {

// `Fault` is a double's fault enum; its value-initialised member (`none`) means no fault. Every
// member may be called from any thread.
template <class Fault>
class fault_queue {
 public:
  // The fault one request gets, with its amount (a delay or a Retry-After, as the fault reads it).
  struct taken {
    Fault fault{};
    std::chrono::milliseconds amount{0};
  };

  // The next `count` requests that take a fault get `fault`, after the faults already queued;
  // `count` 0 queues nothing.
  void push(Fault fault, std::size_t count, std::chrono::milliseconds amount) {
    if (count == 0) return;
    std::lock_guard lock(mutex_);
    queued_.push_back({fault, count, amount});
  }

  // The fault for the request taking it: the front of the queue, or none when it is empty.
  taken take() {
    std::lock_guard lock(mutex_);
    if (queued_.empty()) return {};
    queued& front = queued_.front();
    const taken next{front.fault, front.amount};
    if (--front.remaining == 0) queued_.pop_front();
    return next;
  }

 private:
  struct queued {
    Fault fault;
    std::size_t remaining;  // never 0 in the queue
    std::chrono::milliseconds amount;
  };

  std::mutex mutex_;
  std::deque<queued> queued_;
};

}  // namespace bookmcp::testing
