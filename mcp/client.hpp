#pragma once
// A small MCP client: initialize, list, call, cancel, progress callbacks, and handlers for
// server-to-client requests. Used by tests, examples and benchmarks; transport-agnostic like
// the server (feed it inbound text, give it a sink).
//
// Thread-safety: every method may be called from any thread. Blocking methods wait for the
// answer and must not be called from the thread that delivers inbound messages.

#include <chrono>
#include <functional>
#include <future>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include "mcp/channel.hpp"
#include "mcp/json_rpc.hpp"

namespace bookmcp::mcp {

struct client_options {
  std::string name = "bookmcp-client";
  std::string version = "0.1.0";
  std::string protocol_version = std::string(latest_protocol_version);
  json capabilities = json::object();
  std::chrono::milliseconds timeout = std::chrono::seconds(30);
};

struct request_options {
  // Called with the params of each notifications/progress for this request.
  std::function<void(const json& progress)> on_progress;
  std::optional<std::chrono::milliseconds> timeout;
};

class client {
 public:
  client(std::shared_ptr<message_sink> sink, client_options options = {});
  ~client();

  // Transport side: one inbound message; and the end of the connection (fails pending calls).
  void handle_message(std::string_view text);
  void connection_closed();

  // Sends initialize and notifications/initialized; returns the initialize result.
  json initialize();
  void ping();

  // Every tool across all pages (follows nextCursor).
  std::vector<json> list_tools();

  // Sends a request and returns its id and a future for the result; the future throws
  // rpc_error for an error response, a timeout or a closed connection.
  struct pending {
    request_id id;
    std::future<json> result;
  };
  pending start_request(std::string_view method, json params, request_options options = {});
  json request(std::string_view method, json params, request_options options = {});
  json call_tool(std::string_view name, json arguments, request_options options = {});
  pending start_tool_call(std::string_view name, json arguments, request_options options = {});

  // Sends notifications/cancelled for `id`; the pending future fails with "cancelled".
  void cancel(const request_id& id, std::string reason = "cancelled by the client");
  void notify(std::string_view method, json params);

  // Handlers: server notifications (any method) and server-to-client requests by method.
  void on_notification(std::function<void(const std::string& method, const json& params)> handler);
  void on_request(std::string method, std::function<json(const json& params)> handler);

  const json& server_capabilities() const { return server_capabilities_; }

 private:
  struct waiter {
    std::promise<json> promise;
    std::function<void(const json&)> on_progress;
  };
  void fail_all(const rpc_error& error);

  std::shared_ptr<message_sink> sink_;
  client_options options_;
  json server_capabilities_ = json::object();
  std::mutex mutex_;
  std::int64_t next_id_ = 0;
  std::unordered_map<request_id, std::shared_ptr<waiter>, request_id::hash> waiting_;
  std::function<void(const std::string&, const json&)> notification_handler_;
  std::map<std::string, std::function<json(const json&)>> request_handlers_;
};

}  // namespace bookmcp::mcp
