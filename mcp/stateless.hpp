#pragma once
// The stateless protocol revision (2026-07-28) beside the handshake era: what marks a request
// as one, the metadata keys every such request carries, and how its errors map to HTTP.
//
// A request whose params._meta names a protocol version is served statelessly, on any
// transport and whether or not the connection also initialized a handshake-era session; an
// initialize request selects the handshake era (mcp/session.hpp).

#include <optional>
#include <string>
#include <string_view>

#include "mcp/json_rpc.hpp"

namespace bookmcp::mcp {

inline constexpr std::string_view stateless_protocol_version = "2026-07-28";

namespace meta_key {
inline constexpr std::string_view protocol_version = "io.modelcontextprotocol/protocolVersion";
inline constexpr std::string_view client_capabilities = "io.modelcontextprotocol/clientCapabilities";
inline constexpr std::string_view client_info = "io.modelcontextprotocol/clientInfo";
inline constexpr std::string_view log_level = "io.modelcontextprotocol/logLevel";
inline constexpr std::string_view server_info = "io.modelcontextprotocol/serverInfo";
inline constexpr std::string_view subscription_id = "io.modelcontextprotocol/subscriptionId";
}  // namespace meta_key

// The methods only the stateless revision has: a request for one is stateless even when its
// _meta is missing (and is then refused for that).
bool is_stateless_only_method(std::string_view method);

// True when `message` is a request (or notification) carrying stateless request metadata:
// params._meta with io.modelcontextprotocol/protocolVersion, or a stateless-only method.
bool is_stateless_message(const json& message);

// params._meta's protocol version when it is a string.
std::optional<std::string> meta_protocol_version(const json& message);

// The HTTP status of a stateless request answered with JSON-RPC error `code` (the revision
// asks for 400 on metadata, header, version and capability errors, 404 for an unknown method);
// 200 for the others (a tool's or a resource's failure is still an answer).
int http_status_for_stateless_error(int code);

}  // namespace bookmcp::mcp
