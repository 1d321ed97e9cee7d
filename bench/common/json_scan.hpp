#pragma once
// The little a benchmark client needs to know about one JSON-RPC message, found without
// building a JSON tree: a single pass that tracks strings and nesting and looks only at the
// keys that matter. Pure functions; any thread.

#include <cstdint>
#include <optional>
#include <string_view>

namespace bookmcp::bench {

struct message_facts {
  std::optional<std::int64_t> id;  // a top-level integer "id"; nullopt for none, a string or null
  bool has_result = false;         // top-level "result"
  bool has_error = false;          // top-level "error"
  bool has_method = false;         // top-level "method": a notification or a server request
  bool tool_error = false;         // "result":{"isError":true,...}: a tool that ran and failed
};

// Scans one message (a JSON object). Malformed input gives partial facts, never a crash.
message_facts scan_message(std::string_view text);

}  // namespace bookmcp::bench
