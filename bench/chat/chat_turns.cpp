#include "bench/chat/chat_turns.hpp"

#include <nlohmann/json.hpp>

namespace bookmcp::bench::chat {

namespace {

using json = nlohmann::json;

constexpr std::size_t kFailureTextBytes = 300;

// The string value of `"key":"` in a compact JSON object, up to the next unescaped quote; empty
// when absent. A cheap look that is enough for the flat chunks judged here.
std::string_view string_field(std::string_view data, std::string_view key) {
  std::string pattern;
  pattern.reserve(key.size() + 4);
  pattern.append("\"").append(key).append("\":\"");
  const auto at = data.find(pattern);
  if (at == std::string_view::npos) return {};
  const std::size_t begin = at + pattern.size();
  std::size_t end = begin;
  while (end < data.size() && data[end] != '"') end += data[end] == '\\' ? 2 : 1;
  return data.substr(begin, std::min(end, data.size()) - begin);
}

void fail(turn_record& record, failure_kind kind, std::string_view text,
          clock_type::time_point now) {
  if (record.failure != failure_kind::none) return;
  record.failure = kind;
  record.failure_text = std::string(text.substr(0, kFailureTextBytes));
  record.end = now;
}

void first_text(turn_record& record, std::size_t bytes, clock_type::time_point now) {
  if (bytes == 0) return;
  if (record.first_text == clock_type::time_point{}) record.first_text = now;
  ++record.text_events;
  record.text_bytes += bytes;
}

void judge_bookmcp_chat(std::string_view name, std::string_view data, clock_type::time_point now,
                        turn_record& record) {
  if (name == "token") {
    first_text(record, string_field(data, "text").size(), now);
  } else if (name == "tool_call") {
    ++record.tool_calls;
  } else if (name == "tool_result") {
    if (data.find("\"is_error\":true") != std::string_view::npos) ++record.tool_errors;
  } else if (name == "done") {
    record.ended = true;
    if (record.failure == failure_kind::none) record.end = now;
  } else if (name == "error") {
    fail(record, failure_kind::error_event, data, now);
  }
}

void judge_ai_sdk(std::string_view data, clock_type::time_point now, turn_record& record) {
  if (data == "[DONE]") {
    record.ended = true;
    if (record.failure == failure_kind::none) record.end = now;
    return;
  }
  const std::string_view type = string_field(data, "type");
  if (type == "text-delta") {
    first_text(record, string_field(data, "delta").size(), now);
  } else if (type == "tool-input-available") {
    ++record.tool_calls;
  } else if (type == "tool-output-error" || type == "tool-input-error") {
    ++record.tool_errors;
  } else if (type == "tool-output-available") {
    if (data.find("\"isError\":true") != std::string_view::npos) ++record.tool_errors;
  } else if (type == "error" || type == "abort") {
    fail(record, failure_kind::error_event, data, now);
  }
}

void judge_llm_double(std::string_view data, clock_type::time_point now, turn_record& record) {
  if (data == "[DONE]") {
    record.ended = true;
    if (record.failure == failure_kind::none) record.end = now;
    return;
  }
  if (data.starts_with("{\"error\"")) {
    fail(record, failure_kind::error_event, data, now);
    return;
  }
  if (data.find("\"tool_calls\"") != std::string_view::npos &&
      data.find("\"name\"") != std::string_view::npos) {
    ++record.tool_calls;
  }
  first_text(record, string_field(data, "content").size(), now);
}

}  // namespace

const char* failure_name(failure_kind kind) {
  switch (kind) {
    case failure_kind::none:
      return "none";
    case failure_kind::status:
      return "status";
    case failure_kind::error_event:
      return "error_event";
    case failure_kind::no_end:
      return "no_end";
    case failure_kind::transport:
      return "transport";
  }
  return "?";
}

void judge_event(chat_target target, std::string_view name, std::string_view data,
                 clock_type::time_point now, turn_record& record) {
  ++record.events;
  if (record.first_event == clock_type::time_point{}) record.first_event = now;
  switch (target) {
    case chat_target::bookmcp_chat:
      judge_bookmcp_chat(name, data, now, record);
      break;
    case chat_target::ai_sdk:
      judge_ai_sdk(data, now, record);
      break;
    case chat_target::llm_double:
      judge_llm_double(data, now, record);
      break;
  }
}

std::string json_post(const http_endpoint& url, std::string_view path, std::string_view body,
                      std::string_view bearer, std::string_view extra_headers) {
  std::string request;
  request.reserve(256 + body.size());
  request.append("POST ")
      .append(url.base)
      .append(path)
      .append(" HTTP/1.1\r\nHost: ")
      .append(url.host_header());
  request.append("\r\nUser-Agent: bookmcp_chat_load\r\n");
  if (!bearer.empty()) request.append("Authorization: Bearer ").append(bearer).append("\r\n");
  request.append(extra_headers);
  if (!body.empty()) request.append("Content-Type: application/json\r\n");
  request.append("Content-Length: ")
      .append(std::to_string(body.size()))
      .append("\r\n\r\n")
      .append(body);
  return request;
}

std::string chat_request(chat_target target, const http_endpoint& url, std::string_view question,
                         std::string_view reader_id, std::string_view access_token,
                         std::size_t turn) {
  const std::string message_id = std::string(reader_id) + "-" + std::to_string(turn);
  if (target == chat_target::ai_sdk) {
    const json body = {
        {"id", reader_id},
        {"messages",
         json::array({{{"id", message_id},
                       {"role", "user"},
                       {"parts", json::array({{{"type", "text"}, {"text", question}}})}}})},
        {"trigger", "submit-message"}};
    return json_post(url, "/api/chat", body.dump(), {}, "Accept: text/event-stream\r\n");
  }
  const json body = {{"conversation_id", nullptr},
                     {"message", {{"id", message_id}, {"text", question}}},
                     {"context", {{"url", "/docs/intro"}, {"title", "Introduction"}}},
                     {"time_zone", "Europe/Berlin"}};
  return json_post(url, "/api/chat", body.dump(), access_token, "Accept: text/event-stream\r\n");
}

}  // namespace bookmcp::bench::chat
