#pragma once
// One protocol session: the lifecycle (initialize, version negotiation, capabilities), the
// dispatcher, in-flight calls and server-to-client requests of one connection.
//
// Threads: handle_message is called by the transport's reader (one message at a time, in
// order); everything else may be called from any thread.

#include <chrono>
#include <memory>
#include <optional>
#include <stop_token>
#include <string>
#include <string_view>

#include "mcp/json_rpc.hpp"

namespace bookmcp::mcp {

class server_session {
 public:
  virtual ~server_session() = default;

  // Handles one inbound message (request, notification, response or batch). Fast methods are
  // answered before it returns; tool calls and other handler work continue on the worker pool.
  virtual void handle_message(std::string_view text) = 0;

  // As handle_message, for a message the transport already parsed.
  virtual void handle_parsed(json message) = 0;

  // The connection ended: cancels in-flight calls (no responses are sent for them), fails
  // pending server-to-client requests, and forgets the sink. Idempotent.
  virtual void close() = 0;

  // Waits until no call of this session is running; false on timeout.
  virtual bool wait_idle(std::chrono::milliseconds timeout) = 0;

  virtual const std::string& id() const = 0;
  virtual const std::string& identity() const = 0;
  virtual bool initialized() const = 0;
  // The negotiated protocol version; empty before initialize.
  virtual std::string protocol_version() const = 0;
  virtual std::size_t calls_in_flight() const = 0;
  // A transient (2026-07-28) session that may serve the next request of its connection: open,
  // no call running, no listen stream, no task started from it (whose late messages could
  // otherwise reach a later request reusing an id). False for handshake-era sessions.
  virtual bool reusable() const = 0;

  // Sends a notification to the client (dropped when the session is closed).
  virtual void notify(std::string_view method, const json& params) = 0;

  // Sends a server-to-client request and waits for its result. Throws rpc_error with the
  // client's error, with request_timeout on timeout, with connection_closed when the session
  // closes, and with invalid_request when the client did not declare the capability the
  // method needs; cancelled_error when `stop` fires.
  virtual json request(std::string_view method, const json& params,
                       std::chrono::milliseconds timeout, std::stop_token stop = {}) = 0;
};

}  // namespace bookmcp::mcp
