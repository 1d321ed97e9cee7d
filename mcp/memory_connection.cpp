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

memory_connection::memory_connection(server& target, session_options session, client_options options)
    : closed_(std::make_shared<close_state>()), pair_(make_memory_transport_pair()) {
  session_ = target.open_session(pair_.server, std::move(session));
  client_ = std::make_shared<mcp::client>(pair_.client, std::move(options));
  // Weak captures: the receivers live inside the transport, which the client and the session
  // own; strong captures would make a cycle.
  std::weak_ptr<server_session> weak_session = session_;
  pair_.server->set_receiver(
      [weak_session](std::string message) {
        if (auto live = weak_session.lock()) live->handle_message(message);
      },
      [weak_session, closed = closed_] {
        if (auto live = weak_session.lock()) live->close();
        closed->mark(&closed_ends::server_side);
      });
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
