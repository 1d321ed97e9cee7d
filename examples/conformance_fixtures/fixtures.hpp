#pragma once
// The fixture tools, resources and prompts that the official MCP conformance suite calls by
// name, plus a cancellable `wait` tool for runtime tests. Kept apart from the product.

#include "mcp/server.hpp"

namespace bookmcp::examples {

void register_conformance_fixtures(mcp::server& server);

}  // namespace bookmcp::examples
