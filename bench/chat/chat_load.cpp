// bookmcp_chat_load: drives a chat backend on a loopback address with readers that each ask a
// question and read the streamed answer to its end, again and again, and reports turns/s, the
// time to the first event and to the whole answer, and failures; or (--hold N) opens N answers
// at once and checks that all are open together and all complete. Also times the LLM double's
// own two requests of a turn (--target llm-double), to subtract from a backend's turn.
//
//   bookmcp_chat_load --target bookmcp-chat --url http://127.0.0.1:8080 --readers 50 --duration 10
//   bookmcp_chat_load --target ai-sdk --url http://127.0.0.1:3000 --readers 50 --json
//   bookmcp_chat_load --target bookmcp-chat --url http://127.0.0.1:8080 --hold 1000 --pid 1234
//   bookmcp_chat_load --target llm-double --url http://127.0.0.1:9000/v1
//       --mcp-url http://127.0.0.1:8765/mcp --mcp-token "$JWT"

#include <csignal>
#include <cstdio>
#include <iostream>
#include <nlohmann/json.hpp>

#include "bench/chat/chat_load_options.hpp"
#include "bench/chat/chat_runs.hpp"

namespace bookmcp::bench::chat {
namespace {

using json = nlohmann::json;

json to_json(const percentiles_ms& p) {
  return {{"p50", p.p50}, {"p95", p.p95}, {"p99", p.p99}, {"max", p.max}};
}

json to_json(const failure_counts& f) {
  return {{"status", f.status},
          {"error_event", f.error_event},
          {"no_end", f.no_end},
          {"transport", f.transport}};
}

void print_percentiles(const char* what, const percentiles_ms& p) {
  std::printf("  %-22s p50 %8.1f   p95 %8.1f   p99 %8.1f   max %8.1f  ms\n", what, p.p50, p.p95,
              p.p99, p.max);
}

void print_failures(const failure_counts& f, const std::string& first) {
  std::printf(
      "  failures %llu (HTTP status %llu, error events %llu, no end marker %llu, transport %llu)\n",
      static_cast<unsigned long long>(f.total()), static_cast<unsigned long long>(f.status),
      static_cast<unsigned long long>(f.error_event), static_cast<unsigned long long>(f.no_end),
      static_cast<unsigned long long>(f.transport));
  if (!first.empty()) std::printf("  first failure: %s\n", first.c_str());
}

int report_load(const chat_load_options& options, const load_result& r) {
  if (options.json_output) {
    json out = {{"mode", "load"},
                {"target", target_name(options.target)},
                {"label", options.label},
                {"readers", options.readers},
                {"readers_ready", r.readers_ready},
                {"seconds", r.seconds},
                {"turns", r.turns},
                {"turns_per_second", r.turns_per_second},
                {"first_event_ms", to_json(r.first_event)},
                {"first_text_ms", to_json(r.first_text)},
                {"turn_ms", to_json(r.whole_turn)},
                {"failures", r.failures.total()},
                {"failure_kinds", to_json(r.failures)},
                {"first_failure", r.first_failure},
                {"tool_errors", r.tool_errors},
                {"events_per_turn", r.events_per_turn},
                {"text_pieces_per_turn", r.text_events_per_turn},
                {"text_bytes_per_turn", r.text_bytes_per_turn},
                {"tool_calls_per_turn", r.tool_calls_per_turn}};
    if (r.backend_cpu_ms_per_turn >= 0) out["backend_cpu_ms_per_turn"] = r.backend_cpu_ms_per_turn;
    if (r.mcp_cpu_ms_per_turn >= 0) out["mcp_cpu_ms_per_turn"] = r.mcp_cpu_ms_per_turn;
    if (r.client_cpu_ms_per_turn >= 0) out["client_cpu_ms_per_turn"] = r.client_cpu_ms_per_turn;
    if (r.backend_rss_kib >= 0) out["backend_rss_kib"] = r.backend_rss_kib;
    std::cout << out.dump() << std::endl;
  } else {
    std::printf("%s %s: %zu readers (%zu ready), %.1f s measured\n", target_name(options.target),
                options.url.host_header().c_str(), options.readers, r.readers_ready, r.seconds);
    std::printf(
        "  turns/s %8.1f   (%llu turns; per turn %.1f events, %.1f pieces and %.0f bytes of text, "
        "%.1f tool calls)\n",
        r.turns_per_second, static_cast<unsigned long long>(r.turns), r.events_per_turn,
        r.text_events_per_turn, r.text_bytes_per_turn, r.tool_calls_per_turn);
    print_percentiles("first event", r.first_event);
    print_percentiles("first text", r.first_text);
    print_percentiles("whole turn", r.whole_turn);
    std::printf("  CPU per turn: this driver %.2f ms", r.client_cpu_ms_per_turn);
    if (r.backend_cpu_ms_per_turn >= 0)
      std::printf(", backend %.2f ms (VmRSS %ld KiB)", r.backend_cpu_ms_per_turn,
                  r.backend_rss_kib);
    if (r.mcp_cpu_ms_per_turn >= 0) std::printf(", bookmcp %.2f ms", r.mcp_cpu_ms_per_turn);
    std::printf("\n");
    if (r.tool_errors > 0)
      std::printf("  tool results marked as errors: %llu\n",
                  static_cast<unsigned long long>(r.tool_errors));
    print_failures(r.failures, r.first_failure);
  }
  return r.failures.total() == 0 && r.turns > 0 ? 0 : 1;
}

int report_hold(const chat_load_options& options, const hold_result& r) {
  const bool passed = r.all_open_at_once && r.completed == r.requested && r.failures.total() == 0;
  if (options.json_output) {
    json out = {{"mode", "hold"},
                {"target", target_name(options.target)},
                {"label", options.label},
                {"requested", r.requested},
                {"ready", r.ready},
                {"completed", r.completed},
                {"all_open_at_once", r.all_open_at_once},
                {"peak_open_streams", r.peak_open_streams},
                {"all_open_after_ms", r.all_open_after_ms},
                {"first_event_ms", to_json(r.first_event)},
                {"turn_ms", to_json(r.whole_turn)},
                {"failures", r.failures.total()},
                {"failure_kinds", to_json(r.failures)},
                {"first_failure", r.first_failure},
                {"rss_before_kib", r.rss_before_kib},
                {"rss_all_open_kib", r.rss_all_open_kib},
                {"rss_peak_kib", r.rss_peak_kib},
                {"rss_after_kib", r.rss_after_kib},
                {"passed", passed}};
    std::cout << out.dump() << std::endl;
  } else {
    std::printf("%s %s: hold %zu answers at once (%zu readers ready)\n",
                target_name(options.target), options.url.host_header().c_str(), r.requested,
                r.ready);
    std::printf(
        "  completed %zu; all open at once: %s; peak open streams %zu; all open %.0f ms after the "
        "start\n",
        r.completed, r.all_open_at_once ? "yes" : "no", r.peak_open_streams, r.all_open_after_ms);
    print_percentiles("first event", r.first_event);
    print_percentiles("whole turn", r.whole_turn);
    if (r.rss_before_kib >= 0) {
      std::printf(
          "  backend VmRSS: %ld KiB before, %ld KiB with all open, %ld KiB peak, %ld KiB after\n",
          r.rss_before_kib, r.rss_all_open_kib, r.rss_peak_kib, r.rss_after_kib);
    }
    print_failures(r.failures, r.first_failure);
  }
  return passed ? 0 : 1;
}

}  // namespace
}  // namespace bookmcp::bench::chat

int main(int argc, char** argv) {
  using namespace bookmcp::bench::chat;
  std::signal(SIGPIPE, SIG_IGN);
  chat_load_options options;
  try {
    options = parse_chat_load_options(argc - 1, argv + 1);
  } catch (const bookmcp::bench::usage_error& error) {
    if (*error.what()) std::cerr << "bookmcp_chat_load: " << error.what() << "\n\n";
    std::cerr << chat_load_usage;
    return 2;
  }
  try {
    if (options.hold > 0) return report_hold(options, run_hold(options));
    return report_load(options, run_load(options));
  } catch (const std::exception& error) {
    std::cerr << "bookmcp_chat_load: " << error.what() << "\n";
    return 1;
  }
}
