#pragma once
// Internal to bench/network: opening an initialized MCP session over WebSocket. Includes Beast;
// only the .cpp files of this folder include it.

#include <string>

#include <boost/asio/awaitable.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/websocket/stream.hpp>

#include "bench/network/load_options.hpp"

namespace bookmcp::bench::detail {

using websocket_stream = boost::beast::websocket::stream<boost::beast::tcp_stream>;

// Connects `ws` (constructed on the caller's executor), does the WebSocket handshake offering
// the "mcp" subprotocol (which the server must accept), sends initialize, reads until its
// answer, and sends notifications/initialized. Returns an empty string on success, else what
// went wrong. Every step is bounded: connect and handshake by `timeout`, the initialize
// answer by `timeout` as well. On the connection's own strand/thread only. With `initialize_first`
// false (protocol 2026-07-28, whose requests carry their own _meta) it stops after the
// WebSocket handshake.
boost::asio::awaitable<std::string> open_mcp_websocket(websocket_stream& ws, const target_url& url,
                                                       boost::beast::flat_buffer& buffer,
                                                       std::chrono::milliseconds timeout, bool initialize_first = true);

}  // namespace bookmcp::bench::detail
