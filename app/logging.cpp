#include "app/logging.hpp"

#include <spdlog/pattern_formatter.h>
#include <spdlog/sinks/stdout_sinks.h>
#include <spdlog/spdlog.h>

namespace bookmcp::app {

namespace {

// %Q: the message as a JSON string value, quotes included (messages can carry user input).
class json_string_flag final : public spdlog::custom_flag_formatter {
 public:
  void format(const spdlog::details::log_msg& message, const std::tm&, spdlog::memory_buf_t& out) override {
    out.push_back('"');
    for (const char c : message.payload) {
      switch (c) {
        case '"': out.append(std::string_view("\\\"")); break;
        case '\\': out.append(std::string_view("\\\\")); break;
        case '\n': out.append(std::string_view("\\n")); break;
        case '\r': out.append(std::string_view("\\r")); break;
        case '\t': out.append(std::string_view("\\t")); break;
        default:
          if (static_cast<unsigned char>(c) < 0x20) {
            fmt::format_to(std::back_inserter(out), "\\u{:04x}", static_cast<unsigned>(static_cast<unsigned char>(c)));
          } else {
            out.push_back(c);
          }
      }
    }
    out.push_back('"');
  }
  std::unique_ptr<custom_flag_formatter> clone() const override { return std::make_unique<json_string_flag>(); }
};

std::shared_ptr<spdlog::logger> make_logger(const std::string& name, spdlog::sink_ptr sink, const std::string& format,
                                            const std::string& json_pattern, const std::string& text_pattern) {
  auto logger = std::make_shared<spdlog::logger>(name, sink);
  auto formatter = std::make_unique<spdlog::pattern_formatter>();
  formatter->add_flag<json_string_flag>('Q');
  formatter->set_pattern(format == "json" ? json_pattern : text_pattern);
  logger->set_formatter(std::move(formatter));
  return logger;
}

}  // namespace

void configure_logging(const std::string& level, const std::string& format) {
  // A formatter belongs to a sink, so each logger gets its own stderr sink.
  auto logger = make_logger("bookmcp", std::make_shared<spdlog::sinks::stderr_sink_mt>(), format,
                            R"({"time":"%Y-%m-%dT%H:%M:%S.%e%z","level":"%l","thread":%t,"message":%Q})",
                            "%Y-%m-%d %H:%M:%S.%e %^%l%$ [%t] %v");
  // Request records: their payload is already JSON members in json format (see
  // transport::metrics), key=value text otherwise.
  auto requests = make_logger("requests", std::make_shared<spdlog::sinks::stderr_sink_mt>(), format, R"({"time":"%Y-%m-%dT%H:%M:%S.%e%z","level":"%l","event":"request",%v})",
                              "%Y-%m-%d %H:%M:%S.%e %^%l%$ [%t] request %v");
  for (const auto& item : {logger, requests}) {
    item->set_level(spdlog::level::from_str(level));
    item->flush_on(spdlog::level::warn);
  }
  spdlog::set_default_logger(logger);
  spdlog::register_logger(requests);
}

}  // namespace bookmcp::app
