#include "bench/network/stateless_messages.hpp"

namespace bookmcp::bench {

call_builder stateless_call_builder(const std::string& tool, const std::string& arguments_json) {
  const std::string meta = std::string(R"(,"_meta":{"io.modelcontextprotocol/protocolVersion":")") +
                           std::string(kStatelessProtocolVersion) +
                           R"(","io.modelcontextprotocol/clientCapabilities":{},)"
                           R"("io.modelcontextprotocol/clientInfo":{"name":"bookmcp_load","version":"0.1.0"}})";
  return call_builder(tool, arguments_json + meta);
}

std::string mcp_name_header_value(std::string_view name) {
  bool plain = !name.empty() && name.front() != ' ' && name.back() != ' ';
  for (const unsigned char c : name) plain = plain && c >= 0x20 && c < 0x7f;
  if (plain && !(name.starts_with("=?base64?") && name.ends_with("?="))) return std::string(name);
  static constexpr char alphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out = "=?base64?";
  std::size_t i = 0;
  for (; i + 3 <= name.size(); i += 3) {
    const unsigned v = (static_cast<unsigned char>(name[i]) << 16) | (static_cast<unsigned char>(name[i + 1]) << 8) |
                       static_cast<unsigned char>(name[i + 2]);
    for (int shift = 18; shift >= 0; shift -= 6) out.push_back(alphabet[(v >> shift) & 63]);
  }
  if (const std::size_t left = name.size() - i; left > 0) {
    unsigned v = static_cast<unsigned char>(name[i]) << 16;
    if (left == 2) v |= static_cast<unsigned char>(name[i + 1]) << 8;
    out.push_back(alphabet[(v >> 18) & 63]);
    out.push_back(alphabet[(v >> 12) & 63]);
    out.push_back(left == 2 ? alphabet[(v >> 6) & 63] : '=');
    out.push_back('=');
  }
  return out + "?=";
}

bool has_complete_result_type(std::string_view message) {
  constexpr std::string_view needle = R"("resultType":"complete")";
  for (auto at = message.find(needle); at != std::string_view::npos; at = message.find(needle, at + 1)) {
    if (at == 0 || message[at - 1] != '\\') return true;
  }
  return false;
}

}  // namespace bookmcp::bench
