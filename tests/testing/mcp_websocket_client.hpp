// An MCP client over WebSocket for the listener's tests, with Beast's synchronous client: the
// handshake on /mcp, a call (one message written, one read), the initialize exchange. Blocking
// calls: a test that may wait on a server that stops answering runs them off its main thread.
#pragma once

#include <gtest/gtest.h>

#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/websocket.hpp>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>

namespace bookmcp::testing {

using mcp_websocket = boost::beast::websocket::stream<boost::asio::ip::tcp::socket>;

// An initialize request (id 1) of protocol 2025-11-25.
inline const nlohmann::json initialize_request = {
    {"jsonrpc", "2.0"},
    {"id", 1},
    {"method", "initialize"},
    {"params",
     {{"protocolVersion", "2025-11-25"},
      {"capabilities", nlohmann::json::object()},
      {"clientInfo", {{"name", "t"}, {"version", "1"}}}}}};

// A WebSocket on /mcp over `socket` (connected to the listener), offering `protocols` (comma
// separated), handshake done; the server must have chosen "mcp".
inline std::unique_ptr<mcp_websocket> open_websocket(boost::asio::ip::tcp::socket socket,
                                                     const std::string& protocols = "mcp") {
  namespace http = boost::beast::http;
  namespace websocket = boost::beast::websocket;
  auto ws = std::make_unique<mcp_websocket>(std::move(socket));
  ws->set_option(websocket::stream_base::decorator([protocols](websocket::request_type& request) {
    request.set(http::field::sec_websocket_protocol, protocols);
  }));
  websocket::response_type response;
  ws->handshake(response, "127.0.0.1", "/mcp");
  EXPECT_EQ(response[http::field::sec_websocket_protocol], "mcp");
  return ws;
}

// Writes `message` and returns the next message read (the answer, when nothing else is due).
inline nlohmann::json websocket_call(mcp_websocket& ws, const nlohmann::json& message) {
  ws.text(true);
  ws.write(boost::asio::buffer(message.dump()));
  boost::beast::flat_buffer buffer;
  ws.read(buffer);
  return nlohmann::json::parse(boost::beast::buffers_to_string(buffer.data()));
}

// initialize, then notifications/initialized.
inline void websocket_initialize(mcp_websocket& ws) {
  ASSERT_TRUE(websocket_call(ws, initialize_request).contains("result"));
  ws.write(boost::asio::buffer(
      nlohmann::json{{"jsonrpc", "2.0"}, {"method", "notifications/initialized"}}.dump()));
}

}  // namespace bookmcp::testing
