#pragma once
// Prometheus metrics for /metrics: requests by method and outcome, tool-call duration
// histograms by tool, active sessions by transport, in-flight calls, rejected requests by
// reason. Also writes one log line per finished request (debug level; info in JSON format).
// Thread-safe.

#include <array>
#include <atomic>
#include <functional>
#include <map>
#include <mutex>
#include <string>

#include "mcp/server.hpp"

namespace bookmcp::transport {

class metrics final : public mcp::server_observer {
 public:
  // `log_requests`: log every finished request at info level (JSON log format does this).
  explicit metrics(bool log_requests = false) : log_requests_(log_requests) {}

  void request_finished(const mcp::request_event& event) override;
  void session_opened(std::string_view transport) override;
  void session_closed(std::string_view transport) override;

  // A request refused before reaching a session (auth, origin, rate limit, size, ...).
  void rejected(std::string_view reason);

  // The exposition text; `calls_in_flight` comes from the server.
  std::string render(std::size_t calls_in_flight) const;

 private:
  static constexpr std::array<double, 15> kBuckets = {0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1,
                                                      0.25,   0.5,   1,      2.5,   5,     10,   60};
  struct histogram {
    std::array<std::uint64_t, kBuckets.size()> counts{};
    std::uint64_t count = 0;
    double sum = 0;
  };
  bool log_requests_;
  mutable std::mutex mutex_;
  std::map<std::pair<std::string, std::string>, std::uint64_t, std::less<>> requests_;
  std::map<std::string, histogram, std::less<>> tool_durations_;
  std::map<std::string, std::int64_t, std::less<>> sessions_;
  std::map<std::string, std::uint64_t, std::less<>> rejected_;
};

}  // namespace bookmcp::transport
