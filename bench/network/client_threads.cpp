#include "bench/network/client_threads.hpp"

#include <boost/asio/post.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/use_awaitable.hpp>

#include "bench/network/process_info.hpp"

namespace bookmcp::bench::detail {

net::awaitable<void> client_thread::wait_for_start() {
  if (gate_open) co_return;
  boost::system::error_code ignored;  // the gate opens by cancelling the wait
  co_await gate.async_wait(net::redirect_error(net::use_awaitable, ignored));
}

client_pool::client_pool(std::size_t threads) {
  for (std::size_t i = 0; i < std::max<std::size_t>(1, threads); ++i) {
    threads_.push_back(std::make_unique<client_thread>());
  }
}

client_pool::~client_pool() { stop(); }

void client_pool::start() {
  for (auto& item : threads_) {
    item->thread = std::thread([&io = item->io] { io.run(); });
  }
}

bool client_pool::wait_until(const std::function<bool()>& done, clock_type::time_point deadline) {
  while (!done()) {
    if (clock_type::now() >= deadline) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  return true;
}

void client_pool::open_gates() {
  for (auto& item : threads_) {
    net::post(item->io, [thread = item.get()] {
      thread->gate_open = true;
      thread->gate.cancel();
    });
  }
}

void client_pool::stop() {
  if (stopped_) return;
  stopped_ = true;
  for (auto& item : threads_) item->io.stop();
  for (auto& item : threads_) {
    if (item->thread.joinable()) item->thread.join();
  }
}

std::function<void(std::exception_ptr)> count_finished(client_thread& thread, run_control& control) {
  return [&thread, &control](std::exception_ptr failure) {
    if (failure) {
      try {
        std::rethrow_exception(failure);
      } catch (const std::exception& error) {
        thread.stats.note_error(error.what());
      } catch (...) {
        thread.stats.note_error("a non-standard exception");
      }
      ++thread.stats.transport_errors;
    }
    ++control.finished;
  };
}

load_result drive_load(const load_options& options, client_pool& pool, run_control& control, std::size_t total) {
  load_result result;
  pool.start();
  const auto setup_deadline = clock_type::now() + options.timeout;
  client_pool::wait_until([&] { return control.ready + control.failed >= total; }, setup_deadline);
  result.connections_ready = control.ready;
  result.connections_failed = total - control.ready;

  const auto now = clock_type::now();
  control.measure_start = now + options.warmup;
  if (options.duration) {
    control.measure_end = control.measure_start + *options.duration;
  } else {
    control.by_count = true;
    control.budget = static_cast<std::int64_t>(*options.calls);
  }
  if (result.connections_ready > 0) {
    pool.open_gates();
    if (options.duration && options.server_pid > 0) {
      // The server's own cost over the measured phase: a figure a busy machine distorts less
      // than calls/s, which depends on the CPU share the server happened to get.
      client_pool::wait_until([] { return false; }, control.measure_start);
      const process_usage before = usage_of(options.server_pid);
      client_pool::wait_until([] { return false; }, control.measure_end);
      const process_usage after = usage_of(options.server_pid);
      if (before.valid && after.valid) {
        result.server_cpu_seconds = after.cpu_seconds - before.cpu_seconds;
        result.server_context_switches = after.context_switches - before.context_switches;
      }
    }
    // By time: the run ends at measure_end plus a drain; by count: bounded by the longest
    // duration the options accept.
    const auto end = options.duration ? control.measure_end + options.timeout
                                       : control.measure_start + std::chrono::seconds(600);
    client_pool::wait_until([&] { return control.finished >= total; }, end);
  }
  pool.stop();

  std::vector<std::int64_t> latencies;
  clock_type::time_point last{};
  for (auto& item : pool.threads()) {
    auto& stats = item->stats;
    latencies.insert(latencies.end(), stats.latencies_ns.begin(), stats.latencies_ns.end());
    result.ok += stats.ok;
    result.rpc_errors += stats.rpc_errors;
    result.tool_errors += stats.tool_errors;
    result.protocol_errors += stats.protocol_errors;
    result.transport_errors += stats.transport_errors;
    last = std::max(last, stats.last_completion);
    if (result.first_error.empty()) result.first_error = stats.first_error;
  }
  if (options.duration) {
    result.seconds = std::chrono::duration<double>(*options.duration).count();
  } else if (last > control.measure_start) {
    result.seconds = std::chrono::duration<double>(last - control.measure_start).count();
  }
  const auto answered = result.ok + result.rpc_errors + result.tool_errors;
  result.calls_per_second = result.seconds > 0 ? static_cast<double>(answered) / result.seconds : 0;
  result.latency = summarize(latencies);
  return result;
}

}  // namespace bookmcp::bench::detail
