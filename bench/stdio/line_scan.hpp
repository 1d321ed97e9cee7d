#pragma once
// The little a benchmark client needs to know about a JSON-RPC response line, found without
// building a JSON tree: one pass that tracks strings and nesting and looks only at the
// top-level keys. Pure functions; any thread.

#include <cstdint>
#include <optional>
#include <string_view>

namespace bookmcp::bench {

struct line_facts {
  std::optional<std::int64_t> id;  // a top-level integer "id"; nullopt for none, a string or null
  bool has_result = false;         // top-level "result"
  bool has_error = false;          // top-level "error"
  bool has_method = false;         // top-level "method": a notification or a server request
};

// Scans one line (a JSON object). Malformed input gives partial facts, never a crash.
line_facts scan_line(std::string_view line);

}  // namespace bookmcp::bench
