#include "transport/metrics.hpp"

#include <spdlog/spdlog.h>

#include "mcp/json_rpc.hpp"

namespace bookmcp::transport {

namespace {
// Label values are our own method/tool names, but escape anyway per the exposition format.
std::string escape_label(std::string_view value) {
  std::string out;
  for (char c : value) {
    if (c == '\\' || c == '"') out += '\\';
    if (c == '\n') {
      out += "\\n";
      continue;
    }
    out += c;
  }
  return out;
}
}  // namespace

void metrics::request_finished(const mcp::request_event& event) {
  const double seconds = std::chrono::duration<double>(event.duration).count();
  {
    std::lock_guard lock(mutex_);
    auto key = std::make_pair(std::string(event.method), std::string(event.outcome));
    ++requests_[key];
    if (!event.tool.empty()) {
      auto it = tool_durations_.find(event.tool);
      if (it == tool_durations_.end()) it = tool_durations_.emplace(std::string(event.tool), histogram{}).first;
      histogram& h = it->second;
      for (std::size_t i = 0; i < kBuckets.size(); ++i) {
        if (seconds <= kBuckets[i]) ++h.counts[i];
      }
      ++h.count;
      h.sum += seconds;
    }
  }
  // One record per request: info level in JSON log format (machine-readable request logs),
  // debug otherwise. The "requests" logger is set up by the composition root; without it the
  // default logger is used.
  const auto level = log_requests_ ? spdlog::level::info : spdlog::level::debug;
  auto logger = spdlog::get("requests");
  if (!logger) logger = spdlog::default_logger();
  if (!logger->should_log(level)) return;
  const long long micros = std::chrono::duration_cast<std::chrono::microseconds>(event.duration).count();
  const std::string id = event.id ? event.id->to_string() : "";
  if (log_requests_) {
    mcp::json fields = {{"request_id", event.id ? event.id->to_json() : mcp::json(nullptr)},
                        {"session_id", event.session_id},
                        {"identity", event.identity},
                        {"transport", event.transport},
                        {"method", event.method},
                        {"tool", event.tool.empty() ? mcp::json(nullptr) : mcp::json(event.tool)},
                        {"outcome", event.outcome},
                        {"duration_us", micros}};
    std::string members = fields.dump(-1, ' ', false, mcp::json::error_handler_t::replace);
    logger->log(level, "{}", std::string_view(members).substr(1, members.size() - 2));
  } else {
    // Request ids and identities come from clients: one line each, whatever they hold.
    logger->log(
        level,
        "id={} session={} identity={} transport={} method={} tool={} outcome={} duration_us={}",
        id.empty() ? "-" : mcp::printable_excerpt(id, 128), event.session_id,
        mcp::printable_excerpt(event.identity, 128), event.transport, event.method,
        event.tool.empty() ? "-" : event.tool, event.outcome, micros);
  }
}

void metrics::session_opened(std::string_view transport) {
  std::lock_guard lock(mutex_);
  auto it = sessions_.find(transport);
  if (it == sessions_.end()) it = sessions_.emplace(std::string(transport), 0).first;
  ++it->second;
}

void metrics::session_closed(std::string_view transport) {
  std::lock_guard lock(mutex_);
  if (auto it = sessions_.find(transport); it != sessions_.end()) --it->second;
}

void metrics::rejected(std::string_view reason) {
  std::lock_guard lock(mutex_);
  auto it = rejected_.find(reason);
  if (it == rejected_.end()) it = rejected_.emplace(std::string(reason), 0).first;
  ++it->second;
}

std::string metrics::render(std::size_t calls_in_flight) const {
  std::string out;
  std::lock_guard lock(mutex_);
  out += "# HELP bookmcp_requests_total MCP requests answered, by method and outcome.\n";
  out += "# TYPE bookmcp_requests_total counter\n";
  for (const auto& [key, count] : requests_) {
    out += "bookmcp_requests_total{method=\"" + escape_label(key.first) + "\",outcome=\"" + escape_label(key.second) +
           "\"} " + std::to_string(count) + "\n";
  }
  out += "# HELP bookmcp_tool_call_duration_seconds Time from accepting a tools/call to its answer.\n";
  out += "# TYPE bookmcp_tool_call_duration_seconds histogram\n";
  for (const auto& [tool, h] : tool_durations_) {
    const std::string label = "tool=\"" + escape_label(tool) + "\"";
    for (std::size_t i = 0; i < kBuckets.size(); ++i) {
      out += "bookmcp_tool_call_duration_seconds_bucket{" + label + ",le=\"" + fmt::format("{}", kBuckets[i]) + "\"} " +
             std::to_string(h.counts[i]) + "\n";
    }
    out += "bookmcp_tool_call_duration_seconds_bucket{" + label + ",le=\"+Inf\"} " + std::to_string(h.count) + "\n";
    out += "bookmcp_tool_call_duration_seconds_sum{" + label + "} " + fmt::format("{}", h.sum) + "\n";
    out += "bookmcp_tool_call_duration_seconds_count{" + label + "} " + std::to_string(h.count) + "\n";
  }
  out += "# HELP bookmcp_active_sessions Open MCP sessions, by transport.\n";
  out += "# TYPE bookmcp_active_sessions gauge\n";
  for (const auto& [transport, count] : sessions_) {
    out += "bookmcp_active_sessions{transport=\"" + escape_label(transport) + "\"} " + std::to_string(count) + "\n";
  }
  out += "# HELP bookmcp_calls_in_flight Requests being handled on the worker pool.\n";
  out += "# TYPE bookmcp_calls_in_flight gauge\n";
  out += "bookmcp_calls_in_flight " + std::to_string(calls_in_flight) + "\n";
  out += "# HELP bookmcp_rejected_requests_total Requests refused before reaching a session, by reason.\n";
  out += "# TYPE bookmcp_rejected_requests_total counter\n";
  for (const auto& [reason, count] : rejected_) {
    out += "bookmcp_rejected_requests_total{reason=\"" + escape_label(reason) + "\"} " + std::to_string(count) + "\n";
  }
  return out;
}

}  // namespace bookmcp::transport
