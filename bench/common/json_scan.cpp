#include "bench/common/json_scan.hpp"

#include <charconv>
#include <cstring>

namespace bookmcp::bench {

namespace {

std::size_t skip_blanks(std::string_view text, std::size_t at) {
  while (at < text.size() && (text[at] == ' ' || text[at] == '\t' || text[at] == '\n' || text[at] == '\r')) ++at;
  return at;
}

}  // namespace

message_facts scan_message(std::string_view text) {
  message_facts facts;
  int depth = 0;
  bool in_result = false;  // inside the top-level "result" object (depth 2 keys are its keys)
  const std::size_t size = text.size();
  for (std::size_t i = 0; i < size; ++i) {
    const char c = text[i];
    if (c == '{' || c == '[') {
      ++depth;
      continue;
    }
    if (c == '}' || c == ']') {
      if (--depth <= 1) in_result = false;
      continue;
    }
    if (c != '"') continue;
    const std::size_t start = i + 1;
    // The closing quote: the next '"' not escaped by an odd run of backslashes (memchr skips
    // the long strings of an answer, the text content above all, many bytes at a time).
    std::size_t end = start;
    for (;;) {
      const void* quote = std::memchr(text.data() + end, '"', size - end);
      if (!quote) return facts;
      end = static_cast<std::size_t>(static_cast<const char*>(quote) - text.data());
      std::size_t backslashes = 0;
      while (end - backslashes > start && text[end - backslashes - 1] == '\\') ++backslashes;
      if (backslashes % 2 == 0) break;
      ++end;
    }
    i = end;
    if (depth != 1 && !(depth == 2 && in_result)) continue;
    // A key is a string followed by ':'; string values are skipped the same way.
    const std::size_t colon = skip_blanks(text, end + 1);
    if (colon >= size || text[colon] != ':') continue;
    const std::string_view key = text.substr(start, end - start);
    const std::size_t value = skip_blanks(text, colon + 1);
    if (depth == 2) {
      if (key == "isError" && text.substr(value, 4) == "true") facts.tool_error = true;
      continue;
    }
    if (key == "id") {
      std::int64_t number = 0;
      const auto [rest, error] = std::from_chars(text.data() + value, text.data() + size, number);
      const bool integral = rest == text.data() + size || (*rest != '.' && *rest != 'e' && *rest != 'E');
      if (error == std::errc() && integral) facts.id = number;
      i = value - 1;
    } else if (key == "result") {
      facts.has_result = true;
      in_result = value < size && text[value] == '{';
    } else if (key == "error") {
      facts.has_error = true;
    } else if (key == "method") {
      facts.has_method = true;
    }
  }
  return facts;
}

}  // namespace bookmcp::bench
