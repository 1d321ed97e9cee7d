#pragma once
// One keep-alive HTTP/1.1 client connection that hands an answer's body over piece by piece as
// it arrives (for event streams), connecting again when the server closed it. Used by one
// coroutine at a time on one executor; not thread-safe. Beast stays in the .cpp file.

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>
#include <chrono>
#include <functional>
#include <memory>
#include <string>
#include <string_view>

#include "bench/chat/chat_load_options.hpp"

namespace bookmcp::bench::chat {

struct exchange_result {
  std::string transport_error;  // non-empty: connecting, writing or reading failed (or timed out)
  unsigned status = 0;
  bool event_stream = false;  // Content-Type text/event-stream
  bool complete = false;      // the body was read to its end
  std::string session_id;     // the Mcp-Session-Id header, when there is one
};

class http_stream {
 public:
  http_stream(boost::asio::any_io_executor executor, const http_endpoint& endpoint);
  ~http_stream();
  http_stream(const http_stream&) = delete;
  http_stream& operator=(const http_stream&) = delete;

  // Connects unless a connection is open. Returns "" or what failed.
  boost::asio::awaitable<std::string> connect(std::chrono::milliseconds timeout);

  // Sends `request` (a whole request: head and body), connecting first when needed, and reads
  // the answer within `timeout` (all of it): calls on_headers once the head is read, then
  // on_body for every piece of the body as it arrives. Closes the connection afterwards when
  // the server asked for it, on any failure, and when the body was not read to its end.
  boost::asio::awaitable<exchange_result> exchange(
      std::string_view request, std::chrono::milliseconds timeout,
      const std::function<void(const exchange_result&)>& on_headers,
      const std::function<void(std::string_view)>& on_body);

  bool is_open() const;
  void close();

 private:
  struct impl;
  std::unique_ptr<impl> impl_;
};

}  // namespace bookmcp::bench::chat
