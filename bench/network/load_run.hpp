#pragma once
// The three things bookmcp_load measures. Each call blocks until its run ended: every phase
// is bounded by options.timeout or by the measured duration, whichever applies. Asio and
// Beast stay in the .cpp files.

#include <cstdint>
#include <string>

#include "bench/common/latency_stats.hpp"
#include "bench/network/load_options.hpp"

namespace bookmcp::bench {

struct load_result {
  std::size_t connections_ready = 0;   // connected and, over WebSocket, initialized
  std::size_t connections_failed = 0;  // could not connect, handshake or initialize
  std::size_t sessions = 0;            // MCP sessions used
  std::uint64_t ok = 0;                // measured calls answered with a result
  std::uint64_t rpc_errors = 0;        // ... answered with a JSON-RPC error
  std::uint64_t tool_errors = 0;       // ... answered with a result that has isError: true
  std::uint64_t protocol_errors = 0;   // unexpected status, unknown id, unreadable answer
  std::uint64_t transport_errors = 0;  // connections lost while the load ran
  double seconds = 0;                  // length of the measured phase
  double calls_per_second = 0;         // answered measured calls / seconds
  latency_summary latency;             // of the measured calls that succeeded
  std::string first_error;             // the first failure, in words; empty when none
  // With --server-pid, by time only: the server's CPU and context switches in the measured phase.
  double server_cpu_seconds = 0;
  std::size_t server_context_switches = 0;

  std::uint64_t errors() const {
    return connections_failed + rpc_errors + tool_errors + protocol_errors + transport_errors;
  }
};

// N WebSocket connections (subprotocol "mcp"), each initialized, each with M calls in flight.
load_result run_websocket_load(const load_options& options);

// N Streamable HTTP sessions, each used by M keep-alive connections doing one call at a time.
load_result run_http_load(const load_options& options);

struct idle_result {
  std::size_t requested = 0;
  std::size_t held = 0;            // initialized and still open when VmRSS was read
  std::size_t failed = 0;
  long rss_before_kib = 0;         // the server's VmRSS before the first connection
  long rss_after_kib = 0;          // ... with all connections held, after the settle time
  long rss_after_close_kib = 0;    // ... after the client closed them all (0: not measured)
  long client_rss_kib = 0;         // this process's VmRSS while holding
  double open_seconds = 0;         // time to open and initialize them all
  double bytes_per_connection = 0; // (after - before) / held
  std::string first_error;
};

// Opens options.connections initialized WebSocket connections and holds them; reads the
// server's VmRSS (options.server_pid) before and after. Raises RLIMIT_NOFILE of this process.
idle_result run_idle_memory(const load_options& options);

}  // namespace bookmcp::bench
