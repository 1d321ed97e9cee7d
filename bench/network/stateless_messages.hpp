#pragma once
// Requests and answer checks of protocol revision 2026-07-28 (stateless: no initialize, no
// session; each request names its version and client capabilities in params._meta, and over
// Streamable HTTP in headers too). Preformatted text like ../common/mcp_messages.hpp. Any thread.

#include <string>
#include <string_view>

#include "bench/common/mcp_messages.hpp"

namespace bookmcp::bench {

inline constexpr std::string_view kStatelessProtocolVersion = "2026-07-28";

// tools/call requests for one tool and argument object whose params end with
// "_meta":{"io.modelcontextprotocol/protocolVersion":"2026-07-28",
//          "io.modelcontextprotocol/clientCapabilities":{},
//          "io.modelcontextprotocol/clientInfo":{"name":"bookmcp_load","version":"0.1.0"}}.
// (A call_builder whose argument text is followed by the _meta member.)
call_builder stateless_call_builder(const std::string& tool, const std::string& arguments_json);

// The Mcp-Name header value for `name`: the name itself when it is printable ASCII without
// leading or trailing spaces, else the revision's Base64 sentinel "=?base64?...?=".
std::string mcp_name_header_value(std::string_view name);

// Whether a JSON-RPC answer carries "resultType":"complete" (the member of a 2026-07-28
// result; found as text outside strings, without building a tree: an escaped quote inside a
// string cannot match).
bool has_complete_result_type(std::string_view message);

}  // namespace bookmcp::bench
