#pragma once
// Internal to bench/network: the client's I/O threads and the schedule every connection
// follows. Includes Asio; only the load .cpp files include it.
//
// Threads: each client_thread's members are touched only by its own thread once it runs,
// except where noted. run_control is shared; its time points are written by the main thread
// before it opens the gates (the post that opens a gate orders that write before the reads).

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <limits>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include <boost/asio/awaitable.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>

#include "bench/network/load_run.hpp"

namespace bookmcp::bench::detail {

namespace net = boost::asio;
using clock_type = std::chrono::steady_clock;

// Counters of one client thread; merged by the main thread after the threads stopped.
struct thread_stats {
  std::vector<std::int64_t> latencies_ns;
  std::uint64_t ok = 0;
  std::uint64_t rpc_errors = 0;
  std::uint64_t tool_errors = 0;
  std::uint64_t protocol_errors = 0;
  std::uint64_t transport_errors = 0;
  clock_type::time_point last_completion{};
  std::string first_error;

  void note_error(std::string what) {
    if (first_error.empty()) first_error = std::move(what);
  }
};

// Whether a connection may send another call, and whether that call is measured.
struct send_decision {
  bool send = false;
  bool measured = false;
};

struct run_control {
  std::atomic<std::size_t> ready{0};     // connections set up and waiting at the gate
  std::atomic<std::size_t> failed{0};    // connections that never got there
  std::atomic<std::size_t> finished{0};  // connection coroutines that returned
  clock_type::time_point measure_start = clock_type::time_point::max();
  clock_type::time_point measure_end = clock_type::time_point::max();
  bool by_count = false;
  std::atomic<std::int64_t> budget{0};   // by count: measured calls not yet sent

  send_decision next_send(clock_type::time_point now) {
    if (now >= measure_end) return {};
    if (now < measure_start) return {.send = true, .measured = false};
    if (!by_count) return {.send = true, .measured = true};
    if (budget.fetch_sub(1, std::memory_order_relaxed) > 0) return {.send = true, .measured = true};
    return {};
  }

  // Records a measured call that was answered at `done`.
  void record(thread_stats& stats, clock_type::time_point sent, clock_type::time_point done, bool success) const {
    if (done >= measure_end) return;
    stats.last_completion = std::max(stats.last_completion, done);
    if (success) {
      ++stats.ok;
      stats.latencies_ns.push_back(std::chrono::duration_cast<std::chrono::nanoseconds>(done - sent).count());
    }
  }
};

struct client_thread {
  net::io_context io{1};
  net::steady_timer gate{io, clock_type::time_point::max()};
  bool gate_open = false;
  thread_stats stats;
  std::thread thread;

  // Suspends until the main thread opens the gate (returns at once if it is open).
  net::awaitable<void> wait_for_start();
};

// T threads, each with its own io_context; connection coroutines are spread round-robin.
class client_pool {
 public:
  explicit client_pool(std::size_t threads);
  ~client_pool();  // stops and joins the threads

  client_thread& at(std::size_t connection) { return *threads_[connection % threads_.size()]; }
  std::vector<std::unique_ptr<client_thread>>& threads() { return threads_; }

  void start();
  // Waits until `done()` holds or `deadline` passes; polls every millisecond.
  static bool wait_until(const std::function<bool()>& done, clock_type::time_point deadline);
  // Opens every gate (posted to each thread).
  void open_gates();
  // Stops the io_contexts and joins the threads. Idempotent.
  void stop();

 private:
  std::vector<std::unique_ptr<client_thread>> threads_;
  bool stopped_ = false;
};

// Runs a load whose connections are already spawned on `pool`: waits for them to be ready
// (bounded by options.timeout), fixes the schedule, opens the gates, waits for the end and
// merges the counters. `total` is the number of connection coroutines.
load_result drive_load(const load_options& options, client_pool& pool, run_control& control, std::size_t total);

// Held by a connection coroutine while it sets up: ready() counts it as ready; leaving the
// scope (returning or throwing) before that counts it as failed.
class setup_guard {
 public:
  explicit setup_guard(run_control& control) : control_(control) {}
  ~setup_guard() {
    if (!ready_) ++control_.failed;
  }
  setup_guard(const setup_guard&) = delete;
  setup_guard& operator=(const setup_guard&) = delete;
  void ready() {
    if (!ready_) ++control_.ready;
    ready_ = true;
  }

 private:
  run_control& control_;
  bool ready_ = false;
};

// The completion handler of a connection coroutine: counts it finished and an escaped
// exception as a transport error, noting its message (never rethrows).
std::function<void(std::exception_ptr)> count_finished(client_thread& thread, run_control& control);

}  // namespace bookmcp::bench::detail
