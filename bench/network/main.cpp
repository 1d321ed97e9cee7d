// bookmcp_load: drives an MCP server on a loopback address over WebSocket or Streamable HTTP
// with tools/call requests and reports calls/s, latency percentiles and errors; or (--idle)
// measures the server's resident memory per idle initialized WebSocket connection.
//
//   bookmcp_load --url ws://127.0.0.1:8765/mcp --connections 64 --inflight 4 --duration 5
//   bookmcp_load --url http://127.0.0.1:8765/mcp --connections 64 --calls 100000 --json
//   bookmcp_load --url ws://127.0.0.1:8765/mcp --idle 10000 --server-pid 1234

#include <csignal>
#include <cstdio>
#include <iostream>

#include <nlohmann/json.hpp>

#include "bench/network/load_options.hpp"
#include "bench/network/load_run.hpp"
#include "bench/network/process_info.hpp"

namespace bookmcp::bench {
namespace {

using json = nlohmann::json;

const char* transport_name(load_transport transport) {
  return transport == load_transport::websocket ? "websocket" : "http";
}

int report_load(const load_options& options, const load_result& result) {
  const auto answered = result.ok + result.rpc_errors + result.tool_errors;
  if (options.json_output) {
    json out = {{"mode", "load"},
                {"transport", transport_name(options.transport)},
                {"protocol_version", options.stateless ? "2026-07-28" : "2025-11-25"},
                {"url", options.url.host_header() + options.url.path},
                {"tool", options.tool},
                {"connections", options.connections},
                {"inflight", options.inflight},
                {"sessions", result.sessions},
                {"threads", options.threads},
                {"connections_ready", result.connections_ready},
                {"seconds", result.seconds},
                {"calls", answered},
                {"calls_per_second", result.calls_per_second},
                {"median_us", result.latency.median_us},
                {"p90_us", result.latency.p90_us},
                {"p99_us", result.latency.p99_us},
                {"max_us", result.latency.max_us},
                {"errors", result.errors()},
                {"error_kinds",
                 {{"connections_failed", result.connections_failed},
                  {"rpc", result.rpc_errors},
                  {"tool", result.tool_errors},
                  {"protocol", result.protocol_errors},
                  {"transport", result.transport_errors}}},
                {"first_error", result.first_error}};
    if (options.server_pid > 0 && answered > 0) {
      out["server_cpu_us_per_call"] = result.server_cpu_seconds * 1e6 / static_cast<double>(answered);
      out["server_context_switches_per_call"] =
          static_cast<double>(result.server_context_switches) / static_cast<double>(answered);
    }
    std::cout << out.dump() << std::endl;
  } else {
    const bool over_http = options.transport == load_transport::http;
    const std::string where = options.url.host_header() + options.url.path;
    const std::size_t sockets = over_http ? options.connections * options.inflight : options.connections;
    std::printf("%s %s, protocol %s: %zu sessions, %zu connections%s, %zu calls in flight; %.1f s measured\n",
                transport_name(options.transport), where.c_str(), options.stateless ? "2026-07-28" : "2025-11-25",
                result.sessions, sockets,
                over_http ? " (one call at a time each)" : "", over_http ? sockets : sockets * options.inflight,
                result.seconds);
    std::printf("  calls/s %10.0f   median %8.1f us   p90 %8.1f us   p99 %8.1f us   max %9.1f us\n",
                result.calls_per_second, result.latency.median_us, result.latency.p90_us, result.latency.p99_us,
                result.latency.max_us);
    std::printf("  errors %llu (connections failed %zu, JSON-RPC %llu, tool %llu, protocol %llu, transport %llu)\n",
                static_cast<unsigned long long>(result.errors()), result.connections_failed,
                static_cast<unsigned long long>(result.rpc_errors), static_cast<unsigned long long>(result.tool_errors),
                static_cast<unsigned long long>(result.protocol_errors),
                static_cast<unsigned long long>(result.transport_errors));
    if (options.server_pid > 0 && answered > 0) {
      std::printf("  server: %.1f us CPU and %.2f context switches per call\n",
                  result.server_cpu_seconds * 1e6 / static_cast<double>(answered),
                  static_cast<double>(result.server_context_switches) / static_cast<double>(answered));
    }
    std::fflush(stdout);
    if (!result.first_error.empty()) std::cout << "  first error: " << result.first_error << "\n";
  }
  return result.errors() == 0 && result.connections_ready > 0 ? 0 : 1;
}

int report_idle(const load_options& options, const idle_result& result) {
  const std::size_t server_files = open_file_limit_of(options.server_pid);
  if (options.json_output) {
    json out = {{"mode", "idle"},
                {"url", options.url.host_header() + options.url.path},
                {"requested", result.requested},
                {"held", result.held},
                {"failed", result.failed},
                {"open_seconds", result.open_seconds},
                {"server_rss_before_kib", result.rss_before_kib},
                {"server_rss_after_kib", result.rss_after_kib},
                {"server_rss_after_close_kib", result.rss_after_close_kib},
                {"bytes_per_connection", result.bytes_per_connection},
                {"client_rss_kib", result.client_rss_kib},
                {"server_open_file_limit", server_files},
                {"first_error", result.first_error}};
    std::cout << out.dump() << std::endl;
  } else {
    const std::string where = options.url.host_header() + options.url.path;
    std::printf("idle websocket %s: %zu of %zu connections held (opened in %.1f s), %zu failed\n", where.c_str(),
                result.held, result.requested, result.open_seconds, result.failed);
    std::printf("  server VmRSS %ld KiB -> %ld KiB: %.0f bytes (%.1f KiB) per connection; %ld KiB after closing them\n",
                result.rss_before_kib, result.rss_after_kib, result.bytes_per_connection,
                result.bytes_per_connection / 1024, result.rss_after_close_kib);
    std::printf("  client VmRSS %ld KiB; server open-file limit %zu\n", result.client_rss_kib, server_files);
    std::fflush(stdout);
    if (!result.first_error.empty()) std::cout << "  first error: " << result.first_error << "\n";
  }
  return result.failed == 0 && result.held > 0 ? 0 : 1;
}

}  // namespace
}  // namespace bookmcp::bench

int main(int argc, char** argv) {
  using namespace bookmcp::bench;
  std::signal(SIGPIPE, SIG_IGN);  // a vanished server shows as EPIPE, counted as a transport error
  load_options options;
  try {
    options = parse_load_options(argc - 1, argv + 1);
  } catch (const usage_error& error) {
    const bool help = std::string_view(error.what()).empty();
    if (!help) std::cerr << "bookmcp_load: " << error.what() << "\n\n";
    (help ? std::cout : std::cerr) << load_usage;
    return help ? 0 : 2;
  }
  try {
    if (options.mode == load_mode::idle) return report_idle(options, run_idle_memory(options));
    // Room for N x M sockets and then some.
    raise_open_file_limit();
    const load_result result = options.transport == load_transport::websocket ? run_websocket_load(options)
                                                                              : run_http_load(options);
    return report_load(options, result);
  } catch (const std::exception& error) {
    std::cerr << "bookmcp_load: " << error.what() << "\n";
    return 1;
  }
}
