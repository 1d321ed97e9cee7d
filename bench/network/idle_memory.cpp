// Idle-connection memory: open many initialized WebSocket connections, hold them (a read stays
// pending on each so that pings are answered and a close is noticed), and read the server's
// VmRSS before and after.

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/websocket.hpp>

#include "bench/network/client_threads.hpp"
#include "bench/network/load_run.hpp"
#include "bench/network/process_info.hpp"
#include "bench/network/websocket_client.hpp"

namespace bookmcp::bench {

namespace {

namespace beast = boost::beast;
using namespace detail;

struct held_connection {
  explicit held_connection(net::io_context& io) : ws(io) {}
  websocket_stream ws;
  beast::flat_buffer buffer;
};

// Per client thread: the connections it holds (touched only on that thread).
struct holder_list {
  std::vector<std::shared_ptr<held_connection>> held;
};

net::awaitable<void> hold(std::shared_ptr<held_connection> connection) {
  boost::system::error_code error;
  while (!error) {
    co_await connection->ws.async_read(connection->buffer, net::redirect_error(net::use_awaitable, error));
    connection->buffer.consume(connection->buffer.size());
  }
}

// Opens connections numbered from a shared counter until `total` have been tried.
net::awaitable<void> open_connections(const load_options& options, client_thread& thread, holder_list& holders,
                                      run_control& control, std::atomic<std::size_t>& next) {
  while (next.fetch_add(1) < options.connections) {
    auto connection = std::make_shared<held_connection>(thread.io);
    const std::string problem =
        co_await open_mcp_websocket(connection->ws, options.url, connection->buffer, options.timeout);
    if (!problem.empty()) {
      thread.stats.note_error(problem);
      ++control.failed;
      continue;
    }
    holders.held.push_back(connection);
    net::co_spawn(thread.io, hold(connection), [&thread](std::exception_ptr failure) {
      if (!failure) return;
      try {
        std::rethrow_exception(failure);
      } catch (const std::exception& error) {
        thread.stats.note_error(std::string("holding a connection: ") + error.what());
      }
    });
    ++control.ready;
  }
}

}  // namespace

idle_result run_idle_memory(const load_options& options) {
  idle_result result;
  result.requested = options.connections;
  raise_open_file_limit();
  client_pool pool(options.threads);
  std::vector<holder_list> holders(pool.threads().size());
  run_control control;
  std::atomic<std::size_t> next{0};

  result.rss_before_kib = resident_kib(options.server_pid);
  const auto opening = clock_type::now();
  const std::size_t openers = std::min(options.open_concurrency, options.connections);
  for (std::size_t i = 0; i < openers; ++i) {
    const std::size_t index = i % pool.threads().size();
    auto& thread = *pool.threads()[index];
    net::co_spawn(thread.io, open_connections(options, thread, holders[index], control, next),
                  count_finished(thread, control));
  }
  pool.start();
  // Opening 10,000 connections takes seconds; the bound grows with the count.
  const auto deadline = opening + options.timeout + std::chrono::milliseconds(5) * options.connections;
  client_pool::wait_until([&] { return control.finished >= openers; }, deadline);
  result.open_seconds = std::chrono::duration<double>(clock_type::now() - opening).count();

  std::this_thread::sleep_for(options.settle);
  result.rss_after_kib = resident_kib(options.server_pid);
  result.client_rss_kib = resident_kib(0);
  result.held = control.ready;
  result.failed = result.requested - result.held;
  if (result.held > 0 && result.rss_before_kib >= 0 && result.rss_after_kib >= 0) {
    result.bytes_per_connection =
        static_cast<double>(result.rss_after_kib - result.rss_before_kib) * 1024.0 / static_cast<double>(result.held);
  }
  std::this_thread::sleep_for(options.hold);

  // Close them all from their own threads, then see what the server gave back.
  for (std::size_t i = 0; i < holders.size(); ++i) {
    net::post(pool.threads()[i]->io, [&list = holders[i]] {
      for (auto& connection : list.held) {
        boost::system::error_code ignored;
        beast::get_lowest_layer(connection->ws).socket().close(ignored);
      }
      list.held.clear();
    });
  }
  std::this_thread::sleep_for(options.settle);
  result.rss_after_close_kib = resident_kib(options.server_pid);
  pool.stop();
  for (auto& item : pool.threads()) {
    if (result.first_error.empty()) result.first_error = item->stats.first_error;
  }
  return result;
}

}  // namespace bookmcp::bench
