#pragma once
// Summaries of measured samples: percentiles of one scenario, medians across runs.
// Pure functions; any thread.

#include <cstdint>
#include <vector>

namespace bookmcp::bench {

struct latency_summary {
  double median_us = 0;
  double p90_us = 0;
  double p99_us = 0;
  double max_us = 0;
};

// Nearest-rank percentiles of round trips given in nanoseconds. Sorts `samples`; all zero
// when `samples` is empty.
latency_summary summarize(std::vector<std::int64_t>& samples);

// The median of `values` (the mean of the middle two for an even count); 0 when empty.
double median_of(std::vector<double> values);

}  // namespace bookmcp::bench
