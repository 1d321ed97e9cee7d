#include "bench/common/option_values.hpp"

#include <charconv>
#include <string>

namespace bookmcp::bench {

std::size_t parse_count(std::string_view flag, std::string_view text, std::size_t low, std::size_t high) {
  std::size_t value = 0;
  const auto [rest, error] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (error != std::errc() || rest != text.data() + text.size() || value < low || value > high) {
    throw usage_error(std::string(flag) + " wants a whole number from " + std::to_string(low) + " to " +
                      std::to_string(high) + ", not \"" + std::string(text) + "\"");
  }
  return value;
}

std::chrono::milliseconds parse_seconds(std::string_view flag, std::string_view text) {
  double seconds = -1;
  const auto [rest, error] = std::from_chars(text.data(), text.data() + text.size(), seconds);
  if (error != std::errc() || rest != text.data() + text.size()) seconds = -1;
  if (!(seconds >= 0) || seconds > kMaxOptionSeconds) {
    throw usage_error(std::string(flag) + " wants seconds from 0 to " +
                      std::to_string(static_cast<int>(kMaxOptionSeconds)) + ", not \"" + std::string(text) + "\"");
  }
  return std::chrono::milliseconds(static_cast<long long>(seconds * 1000));
}

}  // namespace bookmcp::bench
