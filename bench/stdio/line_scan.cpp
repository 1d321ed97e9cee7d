#include "bench/stdio/line_scan.hpp"

#include <charconv>

namespace bookmcp::bench {

line_facts scan_line(std::string_view line) {
  line_facts facts;
  int depth = 0;
  const std::size_t size = line.size();
  for (std::size_t i = 0; i < size; ++i) {
    const char c = line[i];
    if (c == '{' || c == '[') {
      ++depth;
    } else if (c == '}' || c == ']') {
      --depth;
    } else if (c == '"') {
      const std::size_t start = i + 1;
      std::size_t end = start;
      while (end < size && line[end] != '"') end += line[end] == '\\' ? 2 : 1;
      if (end >= size) return facts;
      i = end;
      if (depth != 1) continue;
      // A key is a string followed by ':'; values at depth 1 are skipped the same way.
      std::size_t after = end + 1;
      while (after < size && (line[after] == ' ' || line[after] == '\t')) ++after;
      if (after >= size || line[after] != ':') continue;
      const std::string_view key = line.substr(start, end - start);
      if (key == "id") {
        std::size_t value = after + 1;
        while (value < size && (line[value] == ' ' || line[value] == '\t')) ++value;
        std::int64_t number = 0;
        const auto [rest, error] = std::from_chars(line.data() + value, line.data() + size, number);
        if (error == std::errc() && rest < line.data() + size && *rest != '.' && *rest != 'e' &&
            *rest != 'E') {
          facts.id = number;
        }
        i = value - 1;
      } else if (key == "result") {
        facts.has_result = true;
      } else if (key == "error") {
        facts.has_error = true;
      } else if (key == "method") {
        facts.has_method = true;
      }
    }
  }
  return facts;
}

}  // namespace bookmcp::bench
