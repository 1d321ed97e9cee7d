#pragma once
// The chat backend's Prometheus metrics: requests by route and status, turn latency and first
// token latency histograms by mode, active streams, tool calls by tool and outcome, LLM tokens,
// errors by code. Thread-safe.

#include <atomic>
#include <chrono>
#include <cstdint>
#include <map>
#include <mutex>
#include <string>
#include <utility>
#include <vector>

namespace bookmcp::chat {

class chat_metrics {
 public:
  void request(const std::string& route, int status);
  void turn(const std::string& mode, std::chrono::duration<double> total,
            std::chrono::duration<double> first_token);
  void tool_call(const std::string& tool, const std::string& outcome);  // ok, error, cancelled, timeout
  void llm_tokens(std::int64_t prompt, std::int64_t completion);
  void error(const std::string& code);
  void stream_opened() { ++active_streams_; }
  void stream_closed() { --active_streams_; }
  std::int64_t active_streams() const { return active_streams_.load(); }

  // The text exposition format; `sessions` is the number of open MCP sessions.
  std::string render(std::size_t sessions) const;

 private:
  struct histogram {
    std::vector<std::uint64_t> buckets;  // cumulative counts come out at render time
    double sum = 0;
    std::uint64_t count = 0;
  };
  static void observe(histogram& h, double seconds);

  mutable std::mutex mutex_;
  std::map<std::pair<std::string, int>, std::uint64_t> requests_;
  std::map<std::string, histogram> turns_;
  std::map<std::string, histogram> first_tokens_;
  std::map<std::pair<std::string, std::string>, std::uint64_t> tool_calls_;
  std::map<std::string, std::uint64_t> errors_;
  std::uint64_t prompt_tokens_ = 0;
  std::uint64_t completion_tokens_ = 0;
  std::atomic<std::int64_t> active_streams_{0};
};

}  // namespace bookmcp::chat
