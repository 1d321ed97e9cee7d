#pragma once
// Preformatted JSON-RPC messages of the load (built as text, not as JSON trees, so that the
// client costs little next to the server). Any thread.

#include <cstdint>
#include <string>
#include <string_view>

namespace bookmcp::bench {

inline constexpr std::string_view kProtocolVersion = "2025-11-25";

// {"jsonrpc":"2.0","id":ID,"method":"initialize",...} naming this client.
std::string initialize_request(std::int64_t id);
std::string initialized_notification();

// Builds tools/call requests for one tool and argument object; the name is JSON-escaped once.
class call_builder {
 public:
  call_builder(const std::string& tool, const std::string& arguments_json);
  // Writes the request with `id` into `out` (replacing its contents; keeps its capacity).
  void build(std::int64_t id, std::string& out) const;

 private:
  std::string head_;  // up to and including "id":
  std::string tail_;  // from ,"method" to the end
};

}  // namespace bookmcp::bench
