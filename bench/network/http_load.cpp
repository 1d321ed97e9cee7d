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
#include "bench/network/http_client.hpp"
#include "bench/network/load_run.hpp"
#include "bench/network/stateless_messages.hpp"

namespace bookmcp::bench {

namespace {

using namespace detail;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = net::ip::tcp;

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
      const message_facts facts = scan_message(answer_text(answer, id));
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
  http_connection connection(thread.io, options.url, "bookmcp_load");
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
  http_connection connection(thread.io, options.url, "bookmcp_load");
  {
    setup_guard guard(control);
    std::string problem = co_await connection.connect(options.timeout);
    std::string session_id;
    if (problem.empty()) session_id = co_await create_session(connection, options.timeout, problem);
    if (session_id.empty()) {
      thread.stats.note_error(problem);
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
