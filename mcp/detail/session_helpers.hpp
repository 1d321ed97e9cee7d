#pragma once
// Internal: small helpers shared by the session's files (session.cpp, session_methods.cpp,
// tool_calls.cpp, stateless.cpp).

#include <string>
#include <string_view>

#include "mcp/json_rpc.hpp"

namespace bookmcp::mcp::detail {

// A request whose id is that of a call still running (or of an earlier member of an open
// batch): refused, and answered outside that id's batch routing.
class id_in_use : public rpc_error {
 public:
  explicit id_in_use(const request_id& id)
      : rpc_error(error_code::invalid_request,
                  "Invalid Request: request id " + id.to_string() + " is already in use") {}
};

// `bytes` random bytes from the kernel, as lowercase hex.
std::string random_hex(std::size_t bytes);
// A message's params; an empty object when absent or null.
const json& params_of(const json& body);
// The params, which must be an object (else invalid_params).
const json& require_object_params(const json& body);
// params[key] as a string, else invalid_params naming `method`.
std::string require_string(const json& params, std::string_view key, std::string_view method);
// params.uri, a string of at most max_uri_length characters.
std::string require_uri(const json& params, std::string_view method);
// What binds a requestState to its request: SHA-256 of the method, the name and the arguments.
std::string request_digest(const std::string& method, const std::string& name, const json& arguments);
// The client capability a server-to-client method needs ("sampling", ...); empty for none.
std::string capability_for(std::string_view method);

}  // namespace bookmcp::mcp::detail
