#include "transport/rate_limiter.hpp"

#include <algorithm>
#include <cmath>

namespace bookmcp::transport {

rate_limiter::rate_limiter(double rate, double burst) : rate_(rate), burst_(std::max(burst, 1.0)) {}

rate_limiter::decision rate_limiter::acquire(const std::string& identity, double cost) {
  return acquire(identity, std::chrono::steady_clock::now(), cost);
}

rate_limiter::decision rate_limiter::acquire(const std::string& identity,
                                             std::chrono::steady_clock::time_point now,
                                             double cost) {
  if (rate_ <= 0) return {};
  if (cost > burst_) return {false, std::chrono::milliseconds(0)};
  std::lock_guard lock(mutex_);
  auto [it, inserted] = buckets_.try_emplace(identity, bucket{burst_, now});
  bucket& state = it->second;
  if (!inserted) {
    const double elapsed = std::chrono::duration<double>(now - state.updated).count();
    state.tokens = std::min(burst_, state.tokens + elapsed * rate_);
    state.updated = now;
  }
  if (state.tokens >= cost) {
    state.tokens -= cost;
    return {};
  }
  const double wait_seconds = (cost - state.tokens) / rate_;
  // Forget idle identities now and then so that the map does not grow without bound.
  if (buckets_.size() > 100000) {
    std::erase_if(buckets_, [&](const auto& item) {
      return std::chrono::duration<double>(now - item.second.updated).count() * rate_ > burst_;
    });
  }
  return {false, std::chrono::milliseconds(static_cast<long long>(std::ceil(wait_seconds * 1000)))};
}

}  // namespace bookmcp::transport
