#include "bench/network/http_client.hpp"

#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/http.hpp>

#include "bench/common/json_scan.hpp"
#include "bench/common/mcp_messages.hpp"
#include "bench/network/stateless_messages.hpp"

namespace bookmcp::bench::detail {

namespace net = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = net::ip::tcp;

std::string_view answer_text(const http_answer& answer, std::int64_t id) {
  if (!answer.event_stream) return answer.body;
  std::string_view rest = answer.body;
  while (!rest.empty()) {
    const auto end = rest.find('\n');
    std::string_view line = rest.substr(0, end);
    rest = end == std::string_view::npos ? std::string_view() : rest.substr(end + 1);
    if (line.rfind("data:", 0) != 0) continue;
    line.remove_prefix(5);
    while (!line.empty() && line.front() == ' ') line.remove_prefix(1);
    while (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    const message_facts facts = scan_message(line);
    if (facts.id == id && !facts.has_method) return line;
  }
  return {};
}

http_connection::http_connection(net::io_context& io, const target_url& url, std::string user_agent)
    : io_(io), url_(url), user_agent_(std::move(user_agent)) {}

net::awaitable<std::string> http_connection::connect(std::chrono::milliseconds timeout) {
  stream_ = std::make_unique<beast::tcp_stream>(io_);
  buffer_.clear();
  boost::system::error_code error;
  stream_->expires_after(timeout);
  co_await stream_->async_connect(tcp::endpoint(net::ip::make_address(url_.address), url_.port),
                                  net::redirect_error(net::use_awaitable, error));
  stream_->expires_never();
  if (error) co_return "connect: " + error.message();
  stream_->socket().set_option(tcp::no_delay(true), error);
  co_return std::string();
}

void http_connection::use_session(const std::string& session_id) {
  head_ = "POST " + url_.path + " HTTP/1.1\r\nHost: " + url_.host_header() + "\r\nUser-Agent: " + user_agent_ +
          "\r\nContent-Type: application/json\r\nAccept: application/json, text/event-stream\r\n"
          "MCP-Protocol-Version: " +
          std::string(kProtocolVersion) + "\r\n";
  if (!session_id.empty()) head_ += "Mcp-Session-Id: " + session_id + "\r\n";
  head_ += "Content-Length: ";
}

void http_connection::use_stateless(const std::string& tool) {
  head_ = "POST " + url_.path + " HTTP/1.1\r\nHost: " + url_.host_header() + "\r\nUser-Agent: " + user_agent_ +
          "\r\nContent-Type: application/json\r\nAccept: application/json, text/event-stream\r\n"
          "MCP-Protocol-Version: " +
          std::string(kStatelessProtocolVersion) + "\r\nMcp-Method: tools/call\r\nMcp-Name: " +
          mcp_name_header_value(tool) + "\r\nContent-Length: ";
}

net::awaitable<std::string> http_connection::post(std::string_view body, http_answer& answer,
                                                  std::chrono::milliseconds timeout) {
  request_.clear();
  request_.append(head_).append(std::to_string(body.size())).append("\r\n\r\n").append(body);
  boost::system::error_code error;
  // A deadline costs a timer operation per call: only when one is asked for.
  if (timeout.count() > 0) stream_->expires_after(timeout);
  co_await net::async_write(stream_->socket(), net::buffer(request_), net::redirect_error(net::use_awaitable, error));
  if (error) co_return "write: " + error.message();
  http::response_parser<http::string_body> parser;
  parser.body_limit(64 * 1024 * 1024);
  co_await http::async_read(*stream_, buffer_, parser, net::redirect_error(net::use_awaitable, error));
  if (timeout.count() > 0) stream_->expires_never();
  if (error) co_return "read: " + error.message();
  auto& response = parser.get();
  answer.status = response.result_int();
  answer.keep_alive = response.keep_alive();
  answer.event_stream = response[http::field::content_type].starts_with("text/event-stream");
  answer.session_id = std::string(response["Mcp-Session-Id"]);
  answer.body = std::move(response.body());
  co_return std::string();
}

void http_connection::close() {
  if (!stream_) return;
  boost::system::error_code ignored;
  stream_->socket().shutdown(tcp::socket::shutdown_both, ignored);
  stream_->socket().close(ignored);
}

net::awaitable<std::string> create_session(http_connection& connection, std::chrono::milliseconds timeout,
                                           std::string& problem) {
  http_answer answer;
  connection.use_session({});
  problem = co_await connection.post(initialize_request(0), answer, timeout);
  if (!problem.empty()) {
    problem = "initialize: " + problem;
    co_return std::string();
  }
  if (answer.status != 200 || !scan_message(answer_text(answer, 0)).has_result || answer.session_id.empty()) {
    problem = "initialize: HTTP " + std::to_string(answer.status) + ": " + answer.body.substr(0, 200) +
              (answer.session_id.empty() ? " (no Mcp-Session-Id)" : "");
    co_return std::string();
  }
  const std::string session_id = answer.session_id;
  connection.use_session(session_id);
  problem = co_await connection.post(initialized_notification(), answer, timeout);
  if (!problem.empty()) {
    problem = "notifications/initialized: " + problem;
    co_return std::string();
  }
  if (answer.status != 202 && answer.status != 200) {
    problem = "notifications/initialized: HTTP " + std::to_string(answer.status);
    co_return std::string();
  }
  co_return session_id;
}

}  // namespace bookmcp::bench::detail
