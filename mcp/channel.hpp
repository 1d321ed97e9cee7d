#pragma once
// The seam between a transport and a protocol session: a transport feeds inbound text to a
// session and gives it a message_sink to write to. A transport is only a message channel.

#include <optional>
#include <string>

#include "mcp/json_rpc.hpp"

namespace bookmcp::mcp {

// Describes an outbound message so that transports that route per request (Streamable HTTP
// answers a POST on that POST's stream) can do so; stream transports ignore it.
struct outbound_route {
  enum class kind { response, notification, request };
  kind type = kind::notification;
  // The client request this message belongs to: the request being answered, or the request
  // whose handling produced this notification or server-to-client request. Empty for
  // messages that belong to no request (list_changed, resource updates).
  std::optional<request_id> related_request;
};

// Marks the current thread, while alive, as one that must never wait: an event loop (the
// network I/O threads) or a thread running an event loop's completions (the store's reactor,
// whose completions answer tool calls). message_sink::send does not wait for queue space
// there.
class non_blocking_scope {
 public:
  non_blocking_scope() : previous_(flag()) { flag() = true; }
  ~non_blocking_scope() { flag() = previous_; }
  non_blocking_scope(const non_blocking_scope&) = delete;
  non_blocking_scope& operator=(const non_blocking_scope&) = delete;
  static bool active() noexcept { return flag(); }

 private:
  static bool& flag() noexcept {
    thread_local bool value = false;
    return value;
  }
  bool previous_;
};

class message_sink {
 public:
  virtual ~message_sink() = default;

  // Queues one serialised JSON-RPC message for the peer. Thread-safe. May block briefly when
  // the connection's bounded queue is full (back-pressure), except on a thread in a
  // non_blocking_scope; returns false when the channel is closed and the message was dropped.
  virtual bool send(std::string message, const outbound_route& route) = 0;

  // Closes the channel; idempotent; messages queued before are still flushed when possible.
  virtual void close() = 0;
};

}  // namespace bookmcp::mcp
