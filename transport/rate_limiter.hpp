#pragma once
// A token bucket per identity: `rate` requests per second on average, bursts up to `burst`.
// Thread-safe. A rate of 0 disables limiting.

#include <chrono>
#include <mutex>
#include <string>
#include <unordered_map>

namespace bookmcp::transport {

class rate_limiter {
 public:
  rate_limiter(double rate, double burst);

  struct decision {
    bool allowed = true;
    std::chrono::milliseconds retry_after{0};  // when refused: until one token is back
  };
  // Takes `cost` tokens (a JSON-RPC batch costs one per request in it), or none when fewer are
  // left. A cost above the burst is never allowed (retry_after is then zero: retrying cannot help).
  decision acquire(const std::string& identity, double cost = 1);
  decision acquire(const std::string& identity, std::chrono::steady_clock::time_point now,
                   double cost = 1);

  double rate() const { return rate_; }
  double burst() const { return burst_; }

 private:
  struct bucket {
    double tokens;
    std::chrono::steady_clock::time_point updated;
  };
  double rate_;
  double burst_;
  std::mutex mutex_;
  std::unordered_map<std::string, bucket> buckets_;
};

}  // namespace bookmcp::transport
