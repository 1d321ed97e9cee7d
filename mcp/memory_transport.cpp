#include "mcp/memory_transport.hpp"

#include <condition_variable>
#include <deque>
#include <mutex>
#include <thread>

namespace bookmcp::mcp {

// Two inboxes, one per side, each drained by its own thread.
struct memory_endpoint::shared {
  struct inbox {
    std::mutex mutex;
    std::condition_variable ready;
    std::deque<std::string> messages;
    bool closed = false;
    receiver on_message;
    close_handler on_close;
    std::jthread thread;
  };
  inbox inboxes[2];

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
      std::lock_guard lock(box.mutex);
      box.closed = true;
      box.ready.notify_all();
    }
  }
};

memory_endpoint::memory_endpoint(std::shared_ptr<shared> link, int side)
    : link_(std::move(link)), side_(side) {}

memory_endpoint::~memory_endpoint() {
  link_->close_all();
  auto& box = link_->inboxes[side_];
  if (box.thread.joinable() && box.thread.get_id() != std::this_thread::get_id()) box.thread.join();
  if (box.thread.joinable()) box.thread.detach();
}

void memory_endpoint::set_receiver(receiver on_message, close_handler on_close) {
  auto& box = link_->inboxes[side_];
  std::lock_guard lock(box.mutex);
  box.on_message = std::move(on_message);
  box.on_close = std::move(on_close);
  box.ready.notify_all();
}

bool memory_endpoint::send(std::string message, const outbound_route&) {
  auto& box = link_->inboxes[1 - side_];
  {
    std::lock_guard lock(box.mutex);
    if (box.closed) return false;
    box.messages.push_back(std::move(message));
  }
  // Outside the lock, so that the woken thread does not block on it at once. The box lives
  // as long as the link, which this endpoint holds.
  box.ready.notify_one();
  return true;
}

void memory_endpoint::close() { link_->close_all(); }

memory_transport_pair make_memory_transport_pair() {
  auto link = std::make_shared<memory_endpoint::shared>();
  memory_transport_pair pair;
  pair.client.reset(new memory_endpoint(link, 0));
  pair.server.reset(new memory_endpoint(link, 1));
  // The threads hold the link alive through a raw pointer: the endpoints' destructors join
  // them before the link goes away.
  for (int side = 0; side < 2; ++side) {
    link->inboxes[side].thread = std::jthread([raw = link.get(), side] { raw->run(side); });
  }
  return pair;
}

}  // namespace bookmcp::mcp
