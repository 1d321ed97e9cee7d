#pragma once
// The fixture tools, resources and prompts that the official MCP conformance suite calls by
// name, plus a cancellable `wait` tool for runtime tests. Kept apart from the product.

#include "mcp/server.hpp"

namespace bookmcp::examples {

void register_conformance_fixtures(mcp::server& server);
// Those of the 2026-07-28 requirement set (input_fixtures.cpp); called by the one above.
void register_input_fixtures(mcp::server& server);

}  // namespace bookmcp::examples
