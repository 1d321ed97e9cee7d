#pragma once
// Reading the values of the benchmark programs' command-line options, with errors a user can
// act on ("--duration wants seconds from 0 to 600, not \"ten\"").

#include <chrono>
#include <cstddef>
#include <stdexcept>
#include <string_view>

namespace bookmcp::bench {

// A command line that cannot be run; its message says what to change.
struct usage_error : std::runtime_error {
  using std::runtime_error::runtime_error;
};

// The longest duration any option takes: a mistyped value must not run for hours.
inline constexpr double kMaxOptionSeconds = 600;

// A whole number from low to high; `flag` names the option in the error (e.g. "--connections").
std::size_t parse_count(std::string_view flag, std::string_view text, std::size_t low, std::size_t high);

// Seconds (a decimal such as 0.5) from 0 to kMaxOptionSeconds.
std::chrono::milliseconds parse_seconds(std::string_view flag, std::string_view text);

}  // namespace bookmcp::bench
