#include "app/logging.hpp"

#include <spdlog/sinks/stdout_sinks.h>
#include <spdlog/spdlog.h>

namespace bookmcp::app {

void configure_logging(const std::string& level, const std::string& format) {
  auto logger = spdlog::stderr_logger_mt("bookmcp");
  if (format == "json") {
    // %v is the message; messages are plain text, escaped by the JSON pattern's quoting rules
    // being simple: we keep messages free of raw quotes where it matters (ids, names).
    logger->set_pattern(R"({"time":"%Y-%m-%dT%H:%M:%S.%e%z","level":"%l","thread":%t,"message":"%v"})");
  } else {
    logger->set_pattern("%Y-%m-%d %H:%M:%S.%e %^%l%$ [%t] %v");
  }
  logger->set_level(spdlog::level::from_str(level));
  logger->flush_on(spdlog::level::warn);
  spdlog::set_default_logger(logger);
}

}  // namespace bookmcp::app
