#pragma once
// Sets up spdlog to write to stderr only (stdout belongs to the stdio transport).

#include <string>

namespace bookmcp::app {

// level: trace..off; format: "text" (human-readable) or "json" (one JSON object per line).
void configure_logging(const std::string& level, const std::string& format);

}  // namespace bookmcp::app
