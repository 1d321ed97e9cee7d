#include "bench/chat/http_stream.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http.hpp>
#include <optional>
#include <tuple>

namespace bookmcp::bench::chat {

namespace net = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = net::ip::tcp;

namespace {

constexpr auto as_values = net::as_tuple(net::use_awaitable);

std::string describe(const char* step, const boost::system::error_code& error) {
  return std::string(step) + ": " +
         (error == beast::error::timeout ? "timed out" : error.message());
}

}  // namespace

struct http_stream::impl {
  impl(net::any_io_executor executor, const http_endpoint& endpoint)
      : stream(std::move(executor)),
        target(net::ip::make_address(endpoint.address), endpoint.port) {}

  beast::tcp_stream stream;
  tcp::endpoint target;
  beast::flat_buffer buffer;
  bool open = false;
  // The body's pieces land here, then go to on_body; big enough for many events at once.
  char piece[16 * 1024];

  void close() {
    boost::system::error_code ignored;
    stream.socket().shutdown(tcp::socket::shutdown_both, ignored);
    stream.socket().close(ignored);
    buffer.clear();
    open = false;
  }
};

http_stream::http_stream(net::any_io_executor executor, const http_endpoint& endpoint)
    : impl_(std::make_unique<impl>(std::move(executor), endpoint)) {}

http_stream::~http_stream() = default;

bool http_stream::is_open() const {
  return impl_->open;
}

void http_stream::close() {
  impl_->close();
}

net::awaitable<std::string> http_stream::connect(std::chrono::milliseconds timeout) {
  if (impl_->open) co_return std::string();
  impl_->stream.expires_after(timeout);
  auto [error] = co_await impl_->stream.async_connect(impl_->target, as_values);
  impl_->stream.expires_never();
  if (error) {
    impl_->close();
    co_return describe("connect", error);
  }
  boost::system::error_code ignored;
  impl_->stream.socket().set_option(tcp::no_delay(true), ignored);
  impl_->open = true;
  co_return std::string();
}

net::awaitable<exchange_result> http_stream::exchange(
    std::string_view request, std::chrono::milliseconds timeout,
    const std::function<void(const exchange_result&)>& on_headers,
    const std::function<void(std::string_view)>& on_body) {
  exchange_result result;
  auto& self = *impl_;
  std::optional<http::response_parser<http::buffer_body>> parser;
  // A kept-alive connection the server closed while it lay idle fails before any answer byte:
  // then the request goes once more on a new connection.
  for (int attempt = 0;; ++attempt) {
    const bool reused = self.open;
    result.transport_error = co_await connect(timeout);
    if (!result.transport_error.empty()) co_return result;
    // One deadline for the whole exchange: tcp_stream keeps it until changed.
    self.stream.expires_after(timeout);
    auto [write_error, written] = co_await net::async_write(
        self.stream, net::buffer(request.data(), request.size()), as_values);
    boost::system::error_code head_error = write_error;
    if (!write_error) {
      parser.emplace();
      parser->body_limit(boost::none);
      std::tie(head_error, std::ignore) =
          co_await http::async_read_header(self.stream, self.buffer, *parser, as_values);
    }
    if (!head_error) break;
    self.close();
    const bool stale = reused && attempt == 0 && head_error != beast::error::timeout;
    if (!stale) {
      result.transport_error = describe(write_error ? "write" : "read", head_error);
      co_return result;
    }
  }
  auto& answer = *parser;
  result.status = answer.get().result_int();
  result.event_stream = answer.get()[http::field::content_type].starts_with("text/event-stream");
  result.session_id = std::string(answer.get()["Mcp-Session-Id"]);
  if (on_headers) on_headers(result);

  // read_some, not read: read would wait to fill the piece buffer before handing anything over.
  while (!answer.is_done()) {
    answer.get().body().data = self.piece;
    answer.get().body().size = sizeof self.piece;
    auto [error, bytes] =
        co_await http::async_read_some(self.stream, self.buffer, answer, as_values);
    if (error == http::error::need_buffer) error = {};
    const std::size_t got = sizeof self.piece - answer.get().body().size;
    if (got > 0 && on_body) on_body(std::string_view(self.piece, got));
    if (error) {
      result.transport_error = describe("read", error);
      break;
    }
  }
  result.complete = answer.is_done();
  self.stream.expires_never();
  if (!result.complete || !answer.get().keep_alive()) self.close();
  co_return result;
}

}  // namespace bookmcp::bench::chat
