#pragma once
// What /proc and getrlimit tell about a process on this machine. Any thread.

#include <cstddef>

#include "bench/common/open_files.hpp"

namespace bookmcp::bench::chat {

// VmRSS of process `pid` in KiB; -1 when it cannot be read (no such process).
long resident_kib(long pid);

// User + system CPU time of process `pid` (all its threads) so far, in seconds; -1 when it
// cannot be read.
double cpu_seconds(long pid);

// User + system CPU time of this process (all its threads) so far, in seconds.
double own_cpu_seconds();


}  // namespace bookmcp::bench::chat
