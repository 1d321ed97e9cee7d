#include "examples/chat/chat_metrics.hpp"

#include <array>
#include <sstream>

namespace bookmcp::chat {

namespace {

constexpr std::array<double, 12> bounds = {0.005, 0.01, 0.025, 0.05, 0.1, 0.25,
                                           0.5,   1,    2.5,   5,    10,  30};

std::string label(const std::string& value) {
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

void chat_metrics::observe(histogram& h, double seconds) {
  if (h.buckets.empty()) h.buckets.assign(bounds.size(), 0);
  for (std::size_t i = 0; i < bounds.size(); ++i) {
    if (seconds <= bounds[i]) {
      ++h.buckets[i];
      break;
    }
  }
  h.sum += seconds;
  ++h.count;
}

void chat_metrics::request(const std::string& route, int status) {
  std::lock_guard lock(mutex_);
  ++requests_[{route, status}];
}

void chat_metrics::turn(const std::string& mode, std::chrono::duration<double> total,
                        std::chrono::duration<double> first_token) {
  std::lock_guard lock(mutex_);
  observe(turns_[mode], total.count());
  observe(first_tokens_[mode], first_token.count());
}

void chat_metrics::tool_call(const std::string& tool, const std::string& outcome) {
  std::lock_guard lock(mutex_);
  ++tool_calls_[{tool, outcome}];
}

void chat_metrics::llm_tokens(std::int64_t prompt, std::int64_t completion) {
  std::lock_guard lock(mutex_);
  prompt_tokens_ += static_cast<std::uint64_t>(std::max<std::int64_t>(prompt, 0));
  completion_tokens_ += static_cast<std::uint64_t>(std::max<std::int64_t>(completion, 0));
}

void chat_metrics::error(const std::string& code) {
  std::lock_guard lock(mutex_);
  ++errors_[code];
}

std::string chat_metrics::render(std::size_t sessions) const {
  std::ostringstream out;
  std::lock_guard lock(mutex_);
  out << "# HELP chat_requests_total HTTP requests by route and status.\n"
         "# TYPE chat_requests_total counter\n";
  for (const auto& [key, n] : requests_) {
    out << "chat_requests_total{route=\"" << label(key.first) << "\",status=\"" << key.second
        << "\"} " << n << "\n";
  }
  auto histograms = [&](const char* name, const char* help,
                        const std::map<std::string, histogram>& series) {
    out << "# HELP " << name << " " << help << "\n# TYPE " << name << " histogram\n";
    for (const auto& [mode, h] : series) {
      std::uint64_t cumulative = 0;
      for (std::size_t i = 0; i < bounds.size(); ++i) {
        cumulative += h.buckets[i];
        out << name << "_bucket{mode=\"" << label(mode) << "\",le=\"" << bounds[i] << "\"} "
            << cumulative << "\n";
      }
      out << name << "_bucket{mode=\"" << label(mode) << "\",le=\"+Inf\"} " << h.count << "\n";
      out << name << "_sum{mode=\"" << label(mode) << "\"} " << h.sum << "\n";
      out << name << "_count{mode=\"" << label(mode) << "\"} " << h.count << "\n";
    }
  };
  histograms("chat_turn_seconds", "Whole turns, question to done.", turns_);
  histograms("chat_first_token_seconds", "Question to the first token of the answer.", first_tokens_);
  out << "# HELP chat_active_streams Answer streams open now.\n# TYPE chat_active_streams gauge\n"
      << "chat_active_streams " << active_streams_.load() << "\n";
  out << "# HELP chat_mcp_sessions MCP sessions open to bookmcp.\n# TYPE chat_mcp_sessions gauge\n"
      << "chat_mcp_sessions " << sessions << "\n";
  out << "# HELP chat_tool_calls_total MCP tool calls by tool and outcome.\n"
         "# TYPE chat_tool_calls_total counter\n";
  for (const auto& [key, n] : tool_calls_) {
    out << "chat_tool_calls_total{tool=\"" << label(key.first) << "\",outcome=\""
        << label(key.second) << "\"} " << n << "\n";
  }
  out << "# HELP chat_llm_tokens_total Tokens the LLM reported, by kind.\n"
         "# TYPE chat_llm_tokens_total counter\n"
      << "chat_llm_tokens_total{kind=\"prompt\"} " << prompt_tokens_ << "\n"
      << "chat_llm_tokens_total{kind=\"completion\"} " << completion_tokens_ << "\n";
  out << "# HELP chat_errors_total Answers that ended in an error, by code.\n"
         "# TYPE chat_errors_total counter\n";
  for (const auto& [code, n] : errors_) {
    out << "chat_errors_total{code=\"" << label(code) << "\"} " << n << "\n";
  }
  return out.str();
}

}  // namespace bookmcp::chat
