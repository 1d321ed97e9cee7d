#pragma once
// The descriptor limit of a load driver, which holds one connection per simulated client.

#include <cstddef>

namespace bookmcp::bench {

// Raises this process's soft RLIMIT_NOFILE to its hard limit. Returns the soft limit now in
// force (unchanged when raising failed).
std::size_t raise_open_file_limit();

}  // namespace bookmcp::bench
