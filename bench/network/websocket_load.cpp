// WebSocket load: every connection keeps `inflight` tools/call requests outstanding. Request
// ids encode a slot: id = 1 + slot + inflight * round, so an answer names the slot whose send
// time it matches, whatever order answers come back in. With --stateless (protocol
// 2026-07-28) connections are not initialized: each request carries params._meta, and each
// answer must be a result with "resultType":"complete".

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/websocket.hpp>

#include "bench/common/json_scan.hpp"
#include "bench/common/mcp_messages.hpp"
#include "bench/network/client_threads.hpp"
#include "bench/network/load_run.hpp"
#include "bench/network/stateless_messages.hpp"
#include "bench/network/websocket_client.hpp"

namespace bookmcp::bench {

namespace {

namespace beast = boost::beast;
namespace websocket = beast::websocket;
using namespace detail;

struct slot_state {
  clock_type::time_point sent{};
  bool busy = false;
  bool measured = false;
};

net::awaitable<void> run_connection(const load_options& options, const call_builder& calls, client_thread& thread,
                                    run_control& control) {
  auto& stats = thread.stats;
  websocket_stream ws(thread.io);
  beast::flat_buffer buffer;
  {
    setup_guard guard(control);
    const std::string problem = co_await open_mcp_websocket(ws, options.url, buffer, options.timeout, !options.stateless);
    if (!problem.empty()) {
      stats.note_error(problem);
      co_return;
    }
    guard.ready();
  }
  co_await thread.wait_for_start();

  const std::size_t inflight = options.inflight;
  std::vector<slot_state> slots(inflight);
  std::size_t outstanding = 0;
  std::string text;
  boost::system::error_code error;
  auto send = [&](std::int64_t id) -> net::awaitable<bool> {
    const auto decision = control.next_send(clock_type::now());
    if (!decision.send) co_return true;
    auto& slot = slots[static_cast<std::size_t>(id - 1) % inflight];
    calls.build(id, text);
    slot = {.sent = clock_type::now(), .busy = true, .measured = decision.measured};
    ++outstanding;
    co_await ws.async_write(net::buffer(text), net::redirect_error(net::use_awaitable, error));
    co_return !error;
  };

  bool alive = true;
  for (std::size_t slot = 0; slot < inflight && alive; ++slot) alive = co_await send(static_cast<std::int64_t>(slot + 1));
  while (alive && outstanding > 0) {
    co_await ws.async_read(buffer, net::redirect_error(net::use_awaitable, error));
    if (error) {
      alive = false;
      break;
    }
    const auto now = clock_type::now();
    const auto data = buffer.cdata();
    const std::string_view message(static_cast<const char*>(data.data()), data.size());
    const message_facts facts = scan_message(message);
    const bool complete = !options.stateless || !facts.has_result || has_complete_result_type(message);
    buffer.consume(buffer.size());
    if (facts.has_method) continue;  // a notification or a server request: not an answer
    if (!facts.id || *facts.id < 1) {
      ++stats.protocol_errors;
      stats.note_error("an answer without a known id");
      continue;
    }
    auto& slot = slots[static_cast<std::size_t>(*facts.id - 1) % inflight];
    if (!slot.busy) {
      ++stats.protocol_errors;
      stats.note_error("an answer to id " + std::to_string(*facts.id) + ", which is not outstanding");
      continue;
    }
    slot.busy = false;
    --outstanding;
    if (slot.measured && now < control.measure_end) {
      if (facts.has_error) {
        ++stats.rpc_errors;
        stats.note_error("a JSON-RPC error answer");
      } else if (!complete) {
        ++stats.protocol_errors;
        stats.note_error("a result without \"resultType\":\"complete\"");
      } else if (facts.tool_error) {
        ++stats.tool_errors;
        stats.note_error("a tool result with isError: true");
      }
      control.record(stats, slot.sent, now, facts.has_result && !facts.tool_error && complete);
    }
    alive = co_await send(*facts.id + static_cast<std::int64_t>(inflight));
  }
  if (!alive) {
    ++stats.transport_errors;
    stats.note_error("websocket: " + error.message());
    co_return;
  }
  co_await ws.async_close(websocket::close_code::normal, net::redirect_error(net::use_awaitable, error));
}

}  // namespace

load_result run_websocket_load(const load_options& options) {
  const call_builder calls = options.stateless ? stateless_call_builder(options.tool, options.arguments)
                                               : call_builder(options.tool, options.arguments);
  client_pool pool(options.threads);
  run_control control;
  for (std::size_t i = 0; i < options.connections; ++i) {
    auto& thread = pool.at(i);
    net::co_spawn(thread.io, run_connection(options, calls, thread, control), count_finished(thread, control));
  }
  load_result result = drive_load(options, pool, control, options.connections);
  result.sessions = result.connections_ready;
  return result;
}

}  // namespace bookmcp::bench
