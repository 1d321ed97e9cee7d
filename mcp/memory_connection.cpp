#include "mcp/memory_connection.hpp"

#include <condition_variable>
#include <mutex>
#include <string>

namespace bookmcp::mcp {

struct memory_connection::close_state {
  std::mutex mutex;
  std::condition_variable changed;
  closed_ends ends;

  void mark(bool closed_ends::*end) {
    std::lock_guard lock(mutex);
    ends.*end = true;
    changed.notify_all();
  }
};

std::shared_ptr<server_session> serve_memory_endpoint(
    server& target, const std::shared_ptr<memory_endpoint>& endpoint, session_options session,
    std::function<void()> on_closed) {
  auto opened = target.open_session(endpoint, std::move(session));
  // Weak captures: the receiver lives inside the transport, which the session owns.
  std::weak_ptr<server_session> weak_session = opened;
  endpoint->set_receiver(
      [weak_session](std::string message) {
        if (auto live = weak_session.lock()) live->handle_message(message);
      },
      [weak_session, on_closed = std::move(on_closed)] {
        if (auto live = weak_session.lock()) live->close();
        if (on_closed) on_closed();
      });
  return opened;
}

memory_connection::memory_connection(server& target, session_options session,
                                     client_options options)
    : closed_(std::make_shared<close_state>()), pair_(make_memory_transport_pair()) {
  session_ = serve_memory_endpoint(target, pair_.server, std::move(session),
                                   [closed = closed_] { closed->mark(&closed_ends::server_side); });
  client_ = std::make_shared<mcp::client>(pair_.client, std::move(options));
  // A weak capture: the receiver lives inside the transport, which the client owns; a strong
  // capture would make a cycle.
  std::weak_ptr<mcp::client> weak_client = client_;
  pair_.client->set_receiver(
      [weak_client](std::string message) {
        if (auto live = weak_client.lock()) live->handle_message(message);
      },
      [weak_client, closed = closed_] {
        if (auto live = weak_client.lock()) live->connection_closed();
        closed->mark(&closed_ends::client_side);
      });
}

memory_connection::~memory_connection() { close(); }

memory_connection::closed_ends memory_connection::close(std::chrono::milliseconds wait) {
  pair_.client->close();
  std::unique_lock lock(closed_->mutex);
  closed_->changed.wait_for(lock, wait, [&] { return closed_->ends.server_side && closed_->ends.client_side; });
  return closed_->ends;
}

}  // namespace bookmcp::mcp
