#include "bench/common/mcp_messages.hpp"

#include <charconv>
#include <nlohmann/json.hpp>

namespace bookmcp::bench {

std::string initialize_request(std::int64_t id) {
  const nlohmann::json message = {
      {"jsonrpc", "2.0"},
      {"id", id},
      {"method", "initialize"},
      {"params",
       {{"protocolVersion", kProtocolVersion},
        {"capabilities", nlohmann::json::object()},
        {"clientInfo", {{"name", "bookmcp_load"}, {"version", "0.1.0"}}}}}};
  return message.dump();
}

std::string initialized_notification() {
  return R"({"jsonrpc":"2.0","method":"notifications/initialized"})";
}

call_builder::call_builder(const std::string& tool, const std::string& arguments_json)
    : head_(R"({"jsonrpc":"2.0","id":)"),
      tail_(R"(,"method":"tools/call","params":{"name":)" + nlohmann::json(tool).dump() +
            R"(,"arguments":)" + arguments_json + "}}") {}

void call_builder::build(std::int64_t id, std::string& out) const {
  char digits[24];
  const auto end = std::to_chars(digits, digits + sizeof digits, id).ptr;
  out.clear();
  out.append(head_).append(digits, end).append(tail_);
}

}  // namespace bookmcp::bench
