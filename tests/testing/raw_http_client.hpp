// A raw HTTP/1.1 client for the test doubles' own tests: one connection to 127.0.0.1 (plain or
// TLS), every operation bounded by a deadline (beast::tcp_stream::expires_after), so that a broken
// double fails a test instead of hanging it. Each call runs its own operations on the client's
// own io_context until they complete or the deadline closes the socket; one thread at a time.
#pragma once

#include <gtest/gtest.h>

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl/ssl_stream.hpp>
#include <chrono>
#include <cstdint>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <type_traits>

namespace bookmcp::testing {

// A bound that only a broken double reaches.
inline constexpr std::chrono::seconds generous{10};

using raw_http_request = boost::beast::http::request<boost::beast::http::string_body>;
using raw_http_response = boost::beast::http::response<boost::beast::http::string_body>;

template <class Stream>
class basic_raw_http_client {
 public:
  using error_code = boost::system::error_code;
  static constexpr bool is_tls = !std::is_same_v<Stream, boost::beast::tcp_stream>;

  // Plain TCP; a failed connect fails the test (and is kept in `connect_error()`).
  explicit basic_raw_http_client(std::uint16_t port) requires(!is_tls) : stream_(io_) {
    connect(port);
  }
  // TLS to "localhost" at 127.0.0.1, verifying the server with `context`; a failed handshake is
  // kept in `handshake_error()` (tests expect some).
  basic_raw_http_client(std::uint16_t port, boost::asio::ssl::context& context) requires is_tls
      : stream_(io_, context) {
    connect(port);
    if (connect_error_) return;
    SSL_set_tlsext_host_name(stream_.native_handle(), "localhost");
    stream_.set_verify_callback(boost::asio::ssl::host_name_verification("127.0.0.1"));
    lowest().expires_after(generous);
    stream_.async_handshake(boost::asio::ssl::stream_base::client,
                            [this](error_code error) { handshake_error_ = error; });
    run();
  }

  error_code connect_error() const { return connect_error_; }
  error_code handshake_error() const { return handshake_error_; }

  error_code write(const raw_http_request& request,
                   std::chrono::steady_clock::duration timeout = generous) {
    error_code result = boost::asio::error::would_block;
    lowest().expires_after(timeout);
    boost::beast::http::async_write(stream_, request,
                                    [&](error_code error, std::size_t) { result = error; });
    run();
    return result;
  }

  // Bytes as they are (a request Beast would not write, or one in pieces).
  error_code write_raw(const std::string& bytes) {
    error_code result = boost::asio::error::would_block;
    lowest().expires_after(generous);
    boost::asio::async_write(stream_, boost::asio::buffer(bytes),
                             [&](error_code error, std::size_t) { result = error; });
    run();
    return result;
  }

  error_code read(raw_http_response& response,
                  std::chrono::steady_clock::duration timeout = generous) {
    error_code result = boost::asio::error::would_block;
    response = {};
    lowest().expires_after(timeout);
    boost::beast::http::async_read(stream_, buffer_, response,
                                   [&](error_code error, std::size_t) { result = error; });
    run();
    return result;
  }

  // Writes `request` and reads the answer; fails the test on a transport error.
  raw_http_response exchange(const raw_http_request& request) {
    raw_http_response response;
    EXPECT_FALSE(write(request));
    const error_code error = read(response);
    EXPECT_FALSE(error) << error.message();
    return response;
  }

  void close() {
    error_code ignored;
    lowest().socket().close(ignored);
  }

 private:
  auto& lowest() { return boost::beast::get_lowest_layer(stream_); }

  void connect(std::uint16_t port) {
    connect_error_ = boost::asio::error::would_block;
    lowest().expires_after(generous);
    lowest().async_connect(
        boost::asio::ip::tcp::endpoint(boost::asio::ip::make_address_v4("127.0.0.1"), port),
        [this](error_code error) { connect_error_ = error; });
    run();
    EXPECT_FALSE(connect_error_) << connect_error_.message();
  }

  void run() {
    io_.restart();
    io_.run();
  }

  boost::asio::io_context io_;
  Stream stream_;
  boost::beast::flat_buffer buffer_;
  error_code connect_error_;
  error_code handshake_error_;
};

using raw_http_client = basic_raw_http_client<boost::beast::tcp_stream>;
using raw_https_client = basic_raw_http_client<boost::beast::ssl_stream<boost::beast::tcp_stream>>;

// A request to `target` with Host 127.0.0.1; with a body, of `content_type` (none when empty)
// and its Content-Length.
inline raw_http_request make_request(boost::beast::http::verb method, std::string_view target,
                                     std::optional<std::string> body = std::nullopt,
                                     std::string_view content_type = "application/json") {
  raw_http_request request{method, target, 11};
  request.set(boost::beast::http::field::host, "127.0.0.1");
  if (body) {
    if (!content_type.empty()) request.set(boost::beast::http::field::content_type, content_type);
    request.body() = std::move(*body);
  }
  request.prepare_payload();
  return request;
}

// The response's body as JSON; one that is not JSON fails the test (and gives a discarded value).
inline nlohmann::json body_of(const raw_http_response& response) {
  nlohmann::json body = nlohmann::json::parse(response.body(), nullptr, false);
  EXPECT_FALSE(body.is_discarded()) << response.body();
  return body;
}

}  // namespace bookmcp::testing
