// Streamable HTTP load: `connections` sessions, each used by `inflight` keep-alive connections
// that each have one tools/call outstanding at a time. Each session is created by its first
// connection (initialize, then notifications/initialized), which then joins the load.
// With --stateless (protocol 2026-07-28) there is no session: the same `connections` x
// `inflight` keep-alive connections each send tools/call requests that carry params._meta and
// the MCP-Protocol-Version, Mcp-Method and Mcp-Name headers, and no Mcp-Session-Id.

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http.hpp>
#include <optional>
#include <string>

#include "bench/common/json_scan.hpp"
#include "bench/common/mcp_messages.hpp"
#include "bench/network/client_threads.hpp"
#include "bench/network/load_run.hpp"
#include "bench/network/stateless_messages.hpp"

namespace bookmcp::bench {

namespace {

using namespace detail;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = net::ip::tcp;

struct http_answer {
  unsigned status = 0;
  bool keep_alive = false;
  bool event_stream = false;
  std::string session_id;
  std::string body;
};

// Finds the JSON-RPC message answering `id` in a body: the body itself, or one `data:` line
// of a text/event-stream body.
message_facts answer_in(const http_answer& answer, std::int64_t id) {
  if (!answer.event_stream) return scan_message(answer.body);
  std::string_view rest = answer.body;
  while (!rest.empty()) {
    const auto end = rest.find('\n');
    std::string_view line = rest.substr(0, end);
    rest = end == std::string_view::npos ? std::string_view() : rest.substr(end + 1);
    if (line.rfind("data:", 0) != 0) continue;
    line.remove_prefix(5);
    const message_facts facts = scan_message(line);
    if (facts.id == id && !facts.has_method) return facts;
  }
  return {};
}

class http_connection {
 public:
  http_connection(net::io_context& io, const target_url& url) : stream_(io), url_(url) {}

  net::awaitable<std::string> connect(std::chrono::milliseconds timeout) {
    boost::system::error_code error;
    stream_.expires_after(timeout);
    co_await stream_.async_connect(tcp::endpoint(net::ip::make_address(url_.address), url_.port),
                                   net::redirect_error(net::use_awaitable, error));
    stream_.expires_never();
    if (error) co_return "connect: " + error.message();
    stream_.socket().set_option(tcp::no_delay(true), error);
    co_return std::string();
  }

  void use_session(const std::string& session_id) {
    head_ = "POST " + url_.path + " HTTP/1.1\r\nHost: " + url_.host_header() +
            "\r\nUser-Agent: bookmcp_load\r\nContent-Type: application/json\r\n"
            "Accept: application/json, text/event-stream\r\nMCP-Protocol-Version: " +
            std::string(kProtocolVersion) + "\r\n";
    if (!session_id.empty()) head_ += "Mcp-Session-Id: " + session_id + "\r\n";
    head_ += "Content-Length: ";
  }

  // Requests of protocol 2026-07-28 calling `tool`: no session, the revision's headers.
  void use_stateless(const std::string& tool) {
    head_ = "POST " + url_.path + " HTTP/1.1\r\nHost: " + url_.host_header() +
            "\r\nUser-Agent: bookmcp_load\r\nContent-Type: application/json\r\n"
            "Accept: application/json, text/event-stream\r\nMCP-Protocol-Version: " +
            std::string(kStatelessProtocolVersion) + "\r\nMcp-Method: tools/call\r\nMcp-Name: " +
            mcp_name_header_value(tool) + "\r\nContent-Length: ";
  }

  // POSTs `body` and reads the whole answer. Returns an empty string, or what failed.
  net::awaitable<std::string> post(std::string_view body, http_answer& answer) {
    request_.clear();
    request_.append(head_).append(std::to_string(body.size())).append("\r\n\r\n").append(body);
    boost::system::error_code error;
    co_await net::async_write(stream_.socket(), net::buffer(request_), net::redirect_error(net::use_awaitable, error));
    if (error) co_return "write: " + error.message();
    http::response_parser<http::string_body> parser;
    parser.body_limit(64 * 1024 * 1024);
    co_await http::async_read(stream_, buffer_, parser, net::redirect_error(net::use_awaitable, error));
    if (error) co_return "read: " + error.message();
    auto& response = parser.get();
    answer.status = response.result_int();
    answer.keep_alive = response.keep_alive();
    answer.event_stream = response[http::field::content_type].starts_with("text/event-stream");
    answer.session_id = std::string(response["Mcp-Session-Id"]);
    answer.body = std::move(response.body());
    co_return std::string();
  }

  void close() {
    boost::system::error_code ignored;
    stream_.socket().shutdown(tcp::socket::shutdown_both, ignored);
    stream_.socket().close(ignored);
  }

 private:
  beast::tcp_stream stream_;
  const target_url& url_;
  beast::flat_buffer buffer_;
  std::string head_;
  std::string request_;
};

// Creates a session on `connection`; returns its id, or throws std::runtime_error.
net::awaitable<std::string> create_session(http_connection& connection) {
  http_answer answer;
  connection.use_session({});
  std::string problem = co_await connection.post(initialize_request(0), answer);
  if (!problem.empty()) throw std::runtime_error("initialize: " + problem);
  if (answer.status != 200 || !answer_in(answer, 0).has_result) {
    throw std::runtime_error("initialize: HTTP " + std::to_string(answer.status) + ": " + answer.body.substr(0, 200));
  }
  if (answer.session_id.empty()) throw std::runtime_error("initialize: no Mcp-Session-Id in the answer");
  const std::string session_id = answer.session_id;
  connection.use_session(session_id);
  problem = co_await connection.post(initialized_notification(), answer);
  if (!problem.empty()) throw std::runtime_error("notifications/initialized: " + problem);
  if (answer.status != 202 && answer.status != 200) {
    throw std::runtime_error("notifications/initialized: HTTP " + std::to_string(answer.status));
  }
  co_return session_id;
}

// One call at a time until the schedule says stop.
// Stateless: each answer must also be a result with "resultType":"complete".
net::awaitable<void> run_calls(http_connection& connection, const call_builder& calls, client_thread& thread,
                               run_control& control, bool stateless) {
  auto& stats = thread.stats;
  std::string body;
  http_answer answer;
  for (std::int64_t id = 1;; ++id) {
    const auto decision = control.next_send(clock_type::now());
    if (!decision.send) break;
    calls.build(id, body);
    const auto sent = clock_type::now();
    const std::string problem = co_await connection.post(body, answer);
    const auto now = clock_type::now();
    if (!problem.empty()) {
      ++stats.transport_errors;
      stats.note_error(problem);
      co_return;
    }
    if (decision.measured && now < control.measure_end) {
      const message_facts facts = answer_in(answer, id);
      bool complete = true;
      if (answer.status != 200 || facts.id != id) {
        ++stats.protocol_errors;
        stats.note_error("HTTP " + std::to_string(answer.status) + ": " + answer.body.substr(0, 200));
      } else if (stateless && facts.has_result && !(complete = has_complete_result_type(answer.body))) {
        ++stats.protocol_errors;
        stats.note_error("a result without \"resultType\":\"complete\": " + answer.body.substr(0, 200));
      } else if (facts.has_error) {
        ++stats.rpc_errors;
        stats.note_error("a JSON-RPC error answer: " + answer.body.substr(0, 200));
      } else if (facts.tool_error) {
        ++stats.tool_errors;
        stats.note_error("a tool result with isError: true");
      }
      control.record(stats, sent, now,
                     answer.status == 200 && facts.id == id && facts.has_result && !facts.tool_error && complete);
    }
    if (!answer.keep_alive) {
      ++stats.transport_errors;
      stats.note_error("the server closed a keep-alive connection");
      co_return;
    }
  }
  connection.close();
}

// One keep-alive connection joining the load, one call at a time: a connection of the session
// `session_id`, or (none) of protocol 2026-07-28, without a session.
net::awaitable<void> run_joined(const load_options& options, const call_builder& calls, client_thread& thread,
                                run_control& control, std::optional<std::string> session_id) {
  http_connection connection(thread.io, options.url);
  {
    setup_guard guard(control);
    const std::string problem = co_await connection.connect(options.timeout);
    if (!problem.empty()) {
      thread.stats.note_error(problem);
      co_return;
    }
    if (session_id) {
      connection.use_session(*session_id);
    } else {
      connection.use_stateless(options.tool);
    }
    guard.ready();
  }
  co_await thread.wait_for_start();
  co_await run_calls(connection, calls, thread, control, !session_id);
}

// Creates a session, starts its other `inflight - 1` connections, and joins the load itself.
net::awaitable<void> run_session(const load_options& options, const call_builder& calls, client_thread& thread,
                                 run_control& control) {
  http_connection connection(thread.io, options.url);
  {
    setup_guard guard(control);
    std::string session_id;
    try {
      const std::string problem = co_await connection.connect(options.timeout);
      if (!problem.empty()) throw std::runtime_error(problem);
      session_id = co_await create_session(connection);
    } catch (const std::runtime_error& error) {
      thread.stats.note_error(error.what());
      // The connections this session would have had never start.
      control.failed += options.inflight - 1;
      control.finished += options.inflight - 1;
      co_return;
    }
    for (std::size_t i = 1; i < options.inflight; ++i) {
      net::co_spawn(thread.io, run_joined(options, calls, thread, control, session_id), count_finished(thread, control));
    }
    guard.ready();
  }
  co_await thread.wait_for_start();
  co_await run_calls(connection, calls, thread, control, false);
}

}  // namespace

load_result run_http_load(const load_options& options) {
  client_pool pool(options.threads);
  run_control control;
  const std::size_t total = options.connections * options.inflight;
  if (options.stateless) {
    const call_builder calls = stateless_call_builder(options.tool, options.arguments);
    // The same connections as with sessions, in the same order over the client threads.
    for (std::size_t i = 0; i < total; ++i) {
      auto& thread = pool.at(i / options.inflight);
      net::co_spawn(thread.io, run_joined(options, calls, thread, control, std::nullopt), count_finished(thread, control));
    }
    load_result result = drive_load(options, pool, control, total);
    result.sessions = 0;
    return result;
  }
  const call_builder calls(options.tool, options.arguments);
  for (std::size_t i = 0; i < options.connections; ++i) {
    auto& thread = pool.at(i);
    net::co_spawn(thread.io, run_session(options, calls, thread, control), count_finished(thread, control));
  }
  load_result result = drive_load(options, pool, control, total);
  result.sessions = options.connections;
  return result;
}

}  // namespace bookmcp::bench
