#pragma once
// Facts about processes on this machine, from /proc and getrlimit. Any thread.

#include <cstddef>

#include "bench/common/open_files.hpp"

namespace bookmcp::bench {

// VmRSS of process `pid` (0: this process) in KiB; -1 when it cannot be read.
long resident_kib(long pid);

// CPU time and context switches of every thread of process `pid`, so far.
struct process_usage {
  double cpu_seconds = 0;             // user + system
  std::size_t context_switches = 0;   // voluntary + involuntary, summed over the threads
  bool valid = false;
};
process_usage usage_of(long pid);


// The soft RLIMIT_NOFILE of process `pid` from /proc/PID/limits; 0 when it cannot be read.
std::size_t open_file_limit_of(long pid);

}  // namespace bookmcp::bench
