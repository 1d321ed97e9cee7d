#pragma once
// The two things bookmcp_chat_load measures. Each call blocks until its run ended; every phase is
// bounded (setup and the drain by options.timeout, the load by its window). Asio and Beast stay
// in the .cpp file.

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "bench/chat/chat_load_options.hpp"

namespace bookmcp::bench::chat {

// Nearest-rank percentiles of durations, in milliseconds.
struct percentiles_ms {
  double p50 = 0;
  double p95 = 0;
  double p99 = 0;
  double max = 0;
};
percentiles_ms percentiles_of(std::vector<double> samples_ms);

struct failure_counts {
  std::uint64_t status = 0;
  std::uint64_t error_event = 0;
  std::uint64_t no_end = 0;
  std::uint64_t transport = 0;
  std::uint64_t total() const { return status + error_event + no_end + transport; }
};

struct load_result {
  std::size_t readers_ready = 0;
  std::size_t readers_failed = 0;  // could not get a session or connect
  std::uint64_t turns = 0;         // complete turns that ended in the measured window
  double seconds = 0;
  double turns_per_second = 0;
  percentiles_ms first_event;     // from sending the request to the first SSE event
  percentiles_ms first_text;      // ... to the first piece of answer text
  percentiles_ms whole_turn;      // ... to the end marker
  failure_counts failures;        // over the whole run: warm-up, window and drain
  std::uint64_t tool_errors = 0;  // tool results marked as errors (in the window)
  double events_per_turn = 0;
  double text_events_per_turn = 0;  // pieces of answer text
  double text_bytes_per_turn = 0;
  double tool_calls_per_turn = 0;
  std::string first_failure;
  // With --pid / --mcp-pid: CPU time of those processes in the window, per measured turn.
  double backend_cpu_ms_per_turn = -1;
  double mcp_cpu_ms_per_turn = -1;
  double client_cpu_ms_per_turn = -1;  // this driver's own

  long backend_rss_kib = -1;  // at the end of the window
};

// options.readers readers, each a loop of turns, for options.warmup + options.duration.
load_result run_load(const chat_load_options& options);

struct hold_result {
  std::size_t requested = 0;
  std::size_t ready = 0;      // had a session and an open connection when the gate opened
  std::size_t completed = 0;  // answers read to their end marker
  failure_counts failures;
  std::string first_failure;
  bool all_open_at_once = false;      // every stream had its first event before any ended
  std::size_t peak_open_streams = 0;  // most streams open (headers read, end not yet) at once
  double all_open_after_ms = 0;       // from the gate to the last stream's first event
  percentiles_ms first_event;
  percentiles_ms whole_turn;
  long rss_before_kib = -1;    // the backend's VmRSS before the gate
  long rss_all_open_kib = -1;  // ... when every stream had its first event
  long rss_peak_kib = -1;      // ... the most seen while the streams ran
  long rss_after_kib = -1;     // ... after they all ended
};

// options.hold readers, one answer each, all sent at once.
hold_result run_hold(const chat_load_options& options);

}  // namespace bookmcp::bench::chat
