#include "bench/common/latency_stats.hpp"

#include <algorithm>
#include <cmath>

namespace bookmcp::bench {

namespace {

// Nearest rank: the smallest sample with at least `fraction` of the samples at or below it.
double percentile_us(const std::vector<std::int64_t>& sorted, double fraction) {
  const auto rank = static_cast<std::size_t>(std::ceil(fraction * static_cast<double>(sorted.size())));
  const std::size_t index = rank == 0 ? 0 : std::min(rank, sorted.size()) - 1;
  return static_cast<double>(sorted[index]) / 1000.0;
}

}  // namespace

latency_summary summarize(std::vector<std::int64_t>& samples) {
  latency_summary summary;
  if (samples.empty()) return summary;
  std::sort(samples.begin(), samples.end());
  summary.median_us = percentile_us(samples, 0.50);
  summary.p90_us = percentile_us(samples, 0.90);
  summary.p99_us = percentile_us(samples, 0.99);
  summary.max_us = static_cast<double>(samples.back()) / 1000.0;
  return summary;
}

double median_of(std::vector<double> values) {
  if (values.empty()) return 0;
  std::sort(values.begin(), values.end());
  const std::size_t middle = values.size() / 2;
  if (values.size() % 2 == 1) return values[middle];
  return (values[middle - 1] + values[middle]) / 2;
}

}  // namespace bookmcp::bench
