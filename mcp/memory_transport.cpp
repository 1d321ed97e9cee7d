#include "mcp/memory_transport.hpp"

#include <condition_variable>
#include <deque>
#include <mutex>
#include <thread>

namespace bookmcp::mcp {

// Two inboxes, one per side, each drained by its own thread (threads) or by the thread that
// finds it idle (direct).
struct memory_endpoint::shared {
  struct inbox {
    std::mutex mutex;
    std::condition_variable ready;
    std::deque<std::string> messages;
    bool closed = false;
    bool delivering = false;  // direct: a thread is running the receiver or draining
    std::thread::id deliverer;  // direct: that thread
    bool close_ran = false;   // direct: on_close was taken to run
    receiver on_message;
    close_handler on_close;
    std::jthread thread;
  };
  inbox inboxes[2];
  memory_delivery delivery = memory_delivery::threads;

  // Direct delivery: with the lock held and nobody delivering, delivers what is queued on
  // this thread, then runs the close handler when the inbox is closed and drained. Returns
  // with the lock released.
  static void drain(inbox& box, std::unique_lock<std::mutex>& lock) {
    if (box.delivering || !box.on_message) return lock.unlock();
    box.delivering = true;
    box.deliverer = std::this_thread::get_id();
    while (!box.messages.empty()) {
      std::string message = std::move(box.messages.front());
      box.messages.pop_front();
      receiver on_message = box.on_message;
      lock.unlock();
      on_message(std::move(message));
      lock.lock();
    }
    box.delivering = false;
    close_handler on_close;
    if (box.closed && !box.close_ran) {
      box.close_ran = true;
      on_close = std::move(box.on_close);
    }
    box.ready.notify_all();
    lock.unlock();
    if (on_close) on_close();
  }

  void run(int side) {
    auto& box = inboxes[side];
    for (;;) {
      std::string message;
      receiver on_message;
      {
        std::unique_lock lock(box.mutex);
        box.ready.wait(lock, [&] { return box.closed || (!box.messages.empty() && box.on_message); });
        if (box.messages.empty() || !box.on_message) break;
        message = std::move(box.messages.front());
        box.messages.pop_front();
        on_message = box.on_message;
      }
      on_message(std::move(message));
    }
    close_handler on_close;
    {
      std::lock_guard lock(box.mutex);
      on_close = std::move(box.on_close);
    }
    if (on_close) on_close();
  }

  void close_all() {
    for (auto& box : inboxes) {
      std::unique_lock lock(box.mutex);
      box.closed = true;
      box.ready.notify_all();
      if (delivery == memory_delivery::direct) {
        // What is queued is still delivered, then the close handler runs.
        if (!box.on_message && !box.close_ran) {
          box.close_ran = true;
          auto on_close = std::move(box.on_close);
          lock.unlock();
          if (on_close) on_close();
        } else {
          drain(box, lock);
        }
      }
    }
  }
};

memory_endpoint::memory_endpoint(std::shared_ptr<shared> link, int side)
    : link_(std::move(link)), side_(side) {}

memory_endpoint::~memory_endpoint() {
  link_->close_all();
  auto& box = link_->inboxes[side_];
  if (link_->delivery == memory_delivery::direct) {
    // Another thread may be delivering to this endpoint's receiver, which must not outlive
    // it; unless this is that thread (the receiver let go of its own endpoint).
    std::unique_lock lock(box.mutex);
    box.ready.wait(lock, [&] {
      return !box.delivering || box.deliverer == std::this_thread::get_id();
    });
    return;
  }
  if (box.thread.joinable() && box.thread.get_id() != std::this_thread::get_id()) box.thread.join();
  if (box.thread.joinable()) box.thread.detach();
}

void memory_endpoint::set_receiver(receiver on_message, close_handler on_close) {
  auto& box = link_->inboxes[side_];
  std::unique_lock lock(box.mutex);
  box.on_message = std::move(on_message);
  box.on_close = std::move(on_close);
  box.ready.notify_all();
  if (link_->delivery == memory_delivery::direct) shared::drain(box, lock);
}

bool memory_endpoint::send(std::string message, const outbound_route&) {
  auto& box = link_->inboxes[1 - side_];
  std::unique_lock lock(box.mutex);
  if (box.closed) return false;
  box.messages.push_back(std::move(message));
  if (link_->delivery == memory_delivery::direct) {
    shared::drain(box, lock);
    return true;
  }
  // Outside the lock, so that the woken thread does not block on it at once. The box lives
  // as long as the link, which this endpoint holds.
  lock.unlock();
  box.ready.notify_one();
  return true;
}

void memory_endpoint::close() { link_->close_all(); }

memory_transport_pair make_memory_transport_pair(memory_delivery delivery) {
  auto link = std::make_shared<memory_endpoint::shared>();
  link->delivery = delivery;
  memory_transport_pair pair;
  pair.client.reset(new memory_endpoint(link, 0));
  pair.server.reset(new memory_endpoint(link, 1));
  if (delivery == memory_delivery::direct) return pair;
  // The threads hold the link alive through a raw pointer: the endpoints' destructors join
  // them before the link goes away.
  for (int side = 0; side < 2; ++side) {
    link->inboxes[side].thread = std::jthread([raw = link.get(), side] { raw->run(side); });
  }
  return pair;
}

}  // namespace bookmcp::mcp
