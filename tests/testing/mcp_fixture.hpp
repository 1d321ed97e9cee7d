#pragma once
// Fixtures for MCP tests:
//   session_harness  a server and one session that writes to a recording_sink; the test
//                    feeds raw JSON text and inspects exactly what the session sent.
//   client_harness   a server, a session and an mcp::client joined by the in-memory
//                    transport pair, for end-to-end tests through the real client.

#include <atomic>
#include <memory>
#include <string>
#include <string_view>

#include <gtest/gtest.h>

#include "mcp/client.hpp"
#include "mcp/memory_connection.hpp"
#include "mcp/server.hpp"
#include "mcp/session.hpp"
#include "tests/testing/mcp_recording_sink.hpp"

namespace bookmcp::mcp_testing {

// The `echo` tool most transport tests call: returns its required "text" argument.
inline mcp::tool_definition echo_tool() {
  mcp::tool_definition echo;
  echo.name = "echo";
  echo.description = "Returns the text.";
  echo.input_schema = {{"type", "object"},
                       {"properties", {{"text", {{"type", "string"}}}}},
                       {"required", {"text"}}};
  echo.handler = [](mcp::tool_context&, const mcp::json& arguments) {
    return mcp::tool_result::text(arguments.at("text").get<std::string>());
  };
  return echo;
}

// A small fixed pool so that tests behave the same on every machine.
inline mcp::server_options test_server_options() {
  mcp::server_options options;
  options.name = "bookmcp-test";
  options.version = "9.9.9";
  options.worker_threads = 4;
  return options;
}

inline json request_message(const json& id, std::string_view method, json params = json::object()) {
  json message = {{"jsonrpc", "2.0"}, {"id", id}, {"method", method}};
  if (!params.is_null()) message["params"] = std::move(params);
  return message;
}

inline json notification_message(std::string_view method, json params = json::object()) {
  json message = {{"jsonrpc", "2.0"}, {"method", method}};
  if (!params.is_null()) message["params"] = std::move(params);
  return message;
}

class session_harness {
 public:
  explicit session_harness(mcp::server_options options = test_server_options(),
                           mcp::session_options session = {})
      : server(std::move(options)),
        sink(std::make_shared<recording_sink>()),
        session(server.open_session(sink, std::move(session))) {}

  ~session_harness() { session->close(); }

  void send_text(std::string_view text) { session->handle_message(text); }
  void send(const json& message) { session->handle_message(message.dump()); }

  // Sends a request with a fresh integer id and waits for its response (the whole message).
  json request(std::string_view method, json params = json::object()) {
    const json id = next_id_++;
    send(request_message(id, method, std::move(params)));
    auto response = sink->wait_for_response(id);
    if (!response) {
      ADD_FAILURE() << "no response to " << method << " (id " << id << ")";
      return json::object();
    }
    return *response;
  }

  // initialize + notifications/initialized; returns the initialize response message.
  json initialize(std::string_view version = mcp::latest_protocol_version,
                  json capabilities = json::object()) {
    json response = request("initialize", {{"protocolVersion", version},
                                           {"capabilities", std::move(capabilities)},
                                           {"clientInfo", {{"name", "harness"}, {"version", "1"}}}});
    send(notification_message("notifications/initialized"));
    return response;
  }

  // Sends a tools/call with id `id` (optionally with extra params such as _meta) without waiting.
  void start_call(const json& id, std::string_view tool, json arguments = json::object(),
                  json extra_params = json::object()) {
    json params = std::move(extra_params);
    params["name"] = tool;
    params["arguments"] = std::move(arguments);
    send(request_message(id, "tools/call", std::move(params)));
  }

  void cancel(const json& id, std::string_view reason = "test cancels") {
    send(notification_message("notifications/cancelled", {{"requestId", id}, {"reason", reason}}));
  }

  mcp::server server;
  std::shared_ptr<recording_sink> sink;
  std::shared_ptr<mcp::server_session> session;

 private:
  std::int64_t next_id_ = 1000;
};

class client_harness {
 public:
  explicit client_harness(mcp::server_options options = test_server_options(),
                          mcp::client_options client_options = {})
      : server(std::move(options)),
        connection(std::make_unique<mcp::memory_connection>(
            server, mcp::session_options{.identity = "tester", .transport = "memory", .session_id = {}},
            std::move(client_options))),
        client(&connection->client()),
        session(&connection->session()) {}

  ~client_harness() { disconnect(); }

  // Ends the connection and waits until both sides saw it end.
  void disconnect() {
    const auto ended = connection->close(wait_limit);
    EXPECT_TRUE(ended.server_side) << "the server side never saw the connection close";
    EXPECT_TRUE(ended.client_side) << "the client side never saw the connection close";
  }

  mcp::server server;
  std::unique_ptr<mcp::memory_connection> connection;
  mcp::client* client;             // owned by the connection
  mcp::server_session* session;
};

}  // namespace bookmcp::mcp_testing
