#pragma once
// Internal to bench/network and bench/soak: one keep-alive Streamable HTTP connection that
// POSTs preformatted MCP messages and reads whole answers. Includes Beast; only the .cpp files
// of those folders include it.

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

#include <boost/asio/awaitable.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/tcp_stream.hpp>

#include "bench/network/load_options.hpp"

namespace bookmcp::bench::detail {

struct http_answer {
  unsigned status = 0;
  bool keep_alive = false;
  bool event_stream = false;
  std::string session_id;
  std::string body;
};

// The JSON-RPC message answering `id` in an answer: its body, or the `data:` line of an event
// stream that answers `id`; empty when there is none.
std::string_view answer_text(const http_answer& answer, std::int64_t id);

class http_connection {
 public:
  // `user_agent` names the program in the requests' User-Agent.
  http_connection(boost::asio::io_context& io, const target_url& url, std::string user_agent);

  // (Re)connects; "" or what failed. Bounded by `timeout`.
  boost::asio::awaitable<std::string> connect(std::chrono::milliseconds timeout);

  // Requests of the handshake era, in the session `session_id` (none while initializing).
  void use_session(const std::string& session_id);
  // Requests of protocol 2026-07-28 calling `tool`: no session, the revision's headers.
  void use_stateless(const std::string& tool);

  // POSTs `body` and reads the whole answer, within `timeout` when it is not zero. "" or what
  // failed.
  boost::asio::awaitable<std::string> post(std::string_view body, http_answer& answer,
                                           std::chrono::milliseconds timeout = std::chrono::milliseconds(0));

  void close();

 private:
  boost::asio::io_context& io_;
  const target_url& url_;
  std::string user_agent_;
  std::unique_ptr<boost::beast::tcp_stream> stream_;
  boost::beast::flat_buffer buffer_;
  std::string head_;
  std::string request_;
};

// initialize + notifications/initialized on a connected `connection`; returns the session id,
// or "" and `problem`.
boost::asio::awaitable<std::string> create_session(http_connection& connection, std::chrono::milliseconds timeout,
                                                   std::string& problem);

}  // namespace bookmcp::bench::detail
