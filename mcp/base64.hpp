#pragma once
// Standard base64 (RFC 4648, with padding) for cursors and binary resource contents.

#include <optional>
#include <string>
#include <string_view>

namespace bookmcp::mcp {

std::string base64_encode(std::string_view bytes);
// Returns nullopt for text that is not valid padded base64.
std::optional<std::string> base64_decode(std::string_view text);

}  // namespace bookmcp::mcp
