#include "mcp/tool.hpp"

#include <array>

namespace bookmcp::mcp {

tool_result tool_result::text(std::string text) {
  tool_result result;
  result.content.push_back({{"type", "text"}, {"text", std::move(text)}});
  return result;
}

tool_result tool_result::error(std::string message) {
  tool_result result = text(std::move(message));
  result.is_error = true;
  return result;
}

tool_result tool_result::structured(json value, std::string text) {
  tool_result result = tool_result::text(std::move(text));
  result.structured_content = std::move(value);
  return result;
}

tool_result tool_result::structured_text(std::string object_json, std::string text) {
  tool_result result = tool_result::text(std::move(text));
  result.structured_json = std::move(object_json);
  return result;
}

json tool_result::structured_value() const {
  if (structured_json) return json::parse(*structured_json);
  return structured_content.value_or(json());
}

json tool_result::to_json() const& { return tool_result(*this).to_json(); }

json tool_result::to_json() && {
  json out(json::value_t::object);
  out["content"] = std::move(content);
  if (structured_content) out["structuredContent"] = std::move(*structured_content);
  if (structured_json) out["structuredContent"] = json::parse(*structured_json);
  if (is_error) out["isError"] = true;
  return out;
}

namespace {

// Appends `result`'s JSON to `out` (members in the order nlohmann's sorted objects give, as
// to_json().dump() would).
// `with_result_type`: a 2026-07-28 answer, which names its result's type.
void append_result(std::string& out, const tool_result& result, bool with_result_type) {
  std::size_t size = 48;
  for (const auto& block : result.content) {
    const auto text = block.find("text");
    if (text != block.end() && text->is_string())
      size += text->get_ref<const std::string&>().size() + 32;
  }
  if (result.structured_json) size += result.structured_json->size() + 24;
  out.reserve(out.size() + size + size / 16);
  out += with_result_type ? R"({"resultType":"complete","content":[)" : R"({"content":[)";
  for (const auto& block : result.content) {
    if (out.back() != '[') out += ',';
    // Text blocks (nearly all) are written here: append_json_string escapes a long text
    // faster than the library does.
    const auto text = block.find("text");
    const auto type = block.find("type");
    if (block.size() == 2 && text != block.end() && text->is_string() && type != block.end() &&
        type->is_string() && type->get_ref<const std::string&>() == "text") {
      out += R"({"text":)";
      append_json_string(out, text->get_ref<const std::string&>());
      out += R"(,"type":"text"})";
    } else {
      out += dump_json(block);
    }
  }
  out += ']';
  if (result.is_error) out += R"(,"isError":true)";
  if (result.structured_json) {
    out += R"(,"structuredContent":)";
    out += *result.structured_json;
  } else if (result.structured_content) {
    out += R"(,"structuredContent":)";
    out += dump_json(*result.structured_content);
  }
  out += '}';
}

}  // namespace

std::string tool_result::serialize(bool with_result_type) && {
  std::string out;
  append_result(out, *this, with_result_type);
  return out;
}

std::string tool_result::serialize_response(const request_id& id, bool with_result_type) && {
  std::string out = serialized_result_head(id, 0);
  append_result(out, *this, with_result_type);
  out += '}';
  return out;
}

namespace {
constexpr std::array<std::string_view, 8> kLevelNames = {
    "debug", "info", "notice", "warning", "error", "critical", "alert", "emergency"};
}

std::optional<log_level> parse_log_level(std::string_view name) {
  for (std::size_t i = 0; i < kLevelNames.size(); ++i) {
    if (kLevelNames[i] == name) return static_cast<log_level>(i);
  }
  return std::nullopt;
}

std::string_view to_string(log_level level) { return kLevelNames[static_cast<std::size_t>(level)]; }

json tool_annotations::to_json() const {
  json out = json::object();
  if (title) out["title"] = *title;
  if (read_only_hint) out["readOnlyHint"] = *read_only_hint;
  if (destructive_hint) out["destructiveHint"] = *destructive_hint;
  if (idempotent_hint) out["idempotentHint"] = *idempotent_hint;
  if (open_world_hint) out["openWorldHint"] = *open_world_hint;
  return out;
}

}  // namespace bookmcp::mcp
