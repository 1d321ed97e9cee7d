#include "mcp/json_rpc.hpp"

#include <algorithm>
#include <functional>
#include <limits>

namespace bookmcp::mcp {

json request_id::to_json() const {
  if (is_number()) return number();
  return text();
}

std::string request_id::to_string() const {
  if (is_number()) return std::to_string(number());
  return json(text()).dump();
}

std::optional<request_id> request_id::from_json(const json& value) {
  if (value.is_number_unsigned()) {
    // Beyond int64: refuse rather than echo a different number.
    const auto number = value.get<std::uint64_t>();
    if (number > static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max())) return std::nullopt;
    return request_id(static_cast<std::int64_t>(number));
  }
  if (value.is_number_integer()) return request_id(value.get<std::int64_t>());
  // A float that holds an integer (e.g. 1.0) is not an integer id: JSON-RPC recommends
  // against fractional ids and MCP requires integers or strings.
  if (value.is_string()) return request_id(value.get<std::string>());
  return std::nullopt;
}

std::size_t request_id::hash::operator()(const request_id& id) const noexcept {
  if (id.is_number()) return std::hash<std::int64_t>{}(id.number());
  return std::hash<std::string>{}(id.text()) ^ 0x9e3779b97f4a7c15ULL;
}

json rpc_error::to_json() const {
  json error = {{"code", code_}, {"message", what()}};
  if (!data_.is_null()) error["data"] = data_;
  return error;
}

namespace {

incoming_message invalid(std::optional<request_id> id, std::string message) {
  incoming_message out;
  out.type = incoming_message::kind::invalid;
  out.id = std::move(id);
  out.error.emplace(error_code::invalid_request, std::move(message));
  return out;
}

}  // namespace

namespace {
// An error response with a null id answers something of ours that was unreadable: it is a
// response, and responses are never answered.
bool is_null_id_error_response(const json& body) {
  const auto id = body.find("id");
  return id != body.end() && id->is_null() && !body.contains("method") && body.contains("error") &&
         !body.contains("result");
}
}  // namespace

std::optional<incoming_message> envelope_problem(const json& body) {
  if (!body.is_object()) {
    return invalid(std::nullopt, "Invalid Request: a JSON-RPC message must be an object");
  }
  std::optional<request_id> id;
  const auto id_it = body.find("id");
  const bool has_id = id_it != body.end();
  if (has_id) id = request_id::from_json(*id_it);

  const auto version = body.find("jsonrpc");
  if (version == body.end() || !version->is_string() || version->get_ref<const std::string&>() != "2.0") {
    return invalid(id, "Invalid Request: \"jsonrpc\" must be \"2.0\"");
  }
  if (has_id && !id && !is_null_id_error_response(body)) {
    return invalid(std::nullopt, "Invalid Request: \"id\" must be an integer or a string");
  }
  const auto method = body.find("method");
  if (method != body.end()) {
    if (!method->is_string()) return invalid(id, "Invalid Request: \"method\" must be a string");
    const auto params = body.find("params");
    if (params != body.end() && !params->is_object() && !params->is_array()) {
      return invalid(id, "Invalid Request: \"params\" must be an object");
    }
    return std::nullopt;
  }
  const bool has_result = body.contains("result");
  const bool has_error = body.contains("error");
  if (has_id && (has_result != has_error)) {
    if (has_error && !body["error"].is_object()) {
      return invalid(id, "Invalid Request: \"error\" must be an object");
    }
    return std::nullopt;
  }
  return invalid(
      id, "Invalid Request: a message needs \"method\", or \"id\" with \"result\" or \"error\"");
}

incoming_message classify_message(json body) {
  if (auto problem = envelope_problem(body)) return std::move(*problem);
  if (is_null_id_error_response(body)) {
    incoming_message out;
    out.type = incoming_message::kind::error_response;
    out.body = std::move(body);
    return out;
  }
  std::optional<request_id> id;
  if (const auto id_it = body.find("id"); id_it != body.end()) id = request_id::from_json(*id_it);
  const auto method = body.find("method");
  if (method != body.end()) {
    incoming_message out;
    out.method = method->get<std::string>();
    out.type = id ? incoming_message::kind::request : incoming_message::kind::notification;
    out.id = std::move(id);
    out.body = std::move(body);
    return out;
  }

  incoming_message out;
  out.type = body.contains("result") ? incoming_message::kind::response
                                     : incoming_message::kind::error_response;
  out.id = std::move(id);
  out.body = std::move(body);
  return out;
}

incoming_message parse_message(std::string_view text) {
  bool too_deep = false;
  auto parsed = parse_json_text(text, &too_deep);
  if (!parsed) {
    incoming_message out;
    if (too_deep) {
      out.error.emplace(error_code::invalid_request,
                        "Invalid Request: the message nests arrays and objects more than " +
                            std::to_string(max_json_depth) + " levels deep");
    } else {
      out.error.emplace(error_code::parse_error, "Parse error: the message is not valid JSON");
    }
    return out;
  }
  json body = std::move(*parsed);
  if (body.is_array()) {
    incoming_message out;
    out.type = incoming_message::kind::batch;
    out.body = std::move(body);
    return out;
  }
  return classify_message(std::move(body));
}

namespace {
constexpr auto kDumpHandler = json::error_handler_t::replace;

// The envelope is written around the serialised payload instead of building a JSON object
// that deep-copies the payload: responses are the hottest path of the server.
void append_id(std::string& out, const request_id& id) {
  if (id.is_number()) {
    out += std::to_string(id.number());
  } else {
    append_json_string(out, id.text());
  }
}
}  // namespace

std::string make_result(const request_id& id, const json& result) {
  return make_serialized_result(id, dump_json(result));
}

std::string serialized_result_head(const request_id& id, std::size_t result_size) {
  std::string out = R"({"jsonrpc":"2.0","id":)";
  out.reserve(out.size() + 24 + result_size);
  append_id(out, id);
  out += R"(,"result":)";
  return out;
}

std::string make_serialized_result(const request_id& id, std::string_view result_json) {
  std::string out = serialized_result_head(id, result_json.size());
  out += result_json;
  out += '}';
  return out;
}

std::string dump_json(const json& value) { return value.dump(-1, ' ', false, kDumpHandler); }

void append_json_string(std::string& out, std::string_view text) {
  // Plain ASCII (the common case) is escaped here, runs of characters that need no escape
  // appended at once; anything else goes through the library, which also checks the UTF-8.
  static constexpr char hex[] = "0123456789abcdef";
  const auto start = out.size();
  out.reserve(start + text.size() + 2);
  out += '"';
  std::size_t run = 0;  // start of the pending run of plain characters
  for (std::size_t i = 0; i < text.size(); ++i) {
    const auto byte = static_cast<unsigned char>(text[i]);
    if (byte >= 0x20 && byte < 0x80 && byte != '"' && byte != '\\') continue;
    if (byte >= 0x80) {
      out.resize(start);
      out += dump_json(json(text));
      return;
    }
    out.append(text.data() + run, i - run);
    run = i + 1;
    switch (byte) {
      case '"': out += "\\\""; break;
      case '\\': out += "\\\\"; break;
      case '\n': out += "\\n"; break;
      case '\r': out += "\\r"; break;
      case '\t': out += "\\t"; break;
      case '\b': out += "\\b"; break;
      case '\f': out += "\\f"; break;
      default:
        out += "\\u00";
        out += hex[byte >> 4];
        out += hex[byte & 0xf];
    }
  }
  out.append(text.data() + run, text.size() - run);
  out += '"';
}

std::string make_error(const std::optional<request_id>& id, const rpc_error& error) {
  json message = {{"jsonrpc", "2.0"},
                  {"id", id ? id->to_json() : json(nullptr)},
                  {"error", error.to_json()}};
  return dump_json(message);
}

std::string make_request(const request_id& id, std::string_view method, const json& params) {
  json message = {{"jsonrpc", "2.0"}, {"id", id.to_json()}, {"method", method}};
  if (!params.is_null()) message["params"] = params;
  return dump_json(message);
}

std::string make_notification(std::string_view method, const json& params) {
  json message = {{"jsonrpc", "2.0"}, {"method", method}};
  if (!params.is_null()) message["params"] = params;
  return dump_json(message);
}

bool is_supported_protocol_version(std::string_view version) {
  return std::ranges::find(supported_protocol_versions, version) !=
         std::end(supported_protocol_versions);
}

bool protocol_allows_batches(std::string_view version) { return version == "2025-03-26"; }

// At most `max_bytes` of `text` (cut at a UTF-8 boundary), control characters replaced by '?'.
std::string printable_excerpt(std::string_view text, std::size_t max_bytes) {
  if (text.size() > max_bytes) {
    std::size_t cut = max_bytes;
    while (cut > 0 && (static_cast<unsigned char>(text[cut]) & 0xC0) == 0x80) --cut;
    text = text.substr(0, cut);
  }
  std::string out(text);
  for (char& c : out) {
    if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f) c = '?';
  }
  return out;
}

std::vector<request_id> request_ids(const json& message_or_batch) {
  std::vector<request_id> ids;
  const auto collect = [&](const json& message) {
    if (!message.is_object() || !message.contains("method")) return;
    if (const auto id = message.find("id"); id != message.end()) {
      if (auto valid = request_id::from_json(*id)) ids.push_back(std::move(*valid));
    }
  };
  if (message_or_batch.is_array()) {
    for (const auto& member : message_or_batch) collect(member);
  } else {
    collect(message_or_batch);
  }
  return ids;
}

// The JSON array answering a batch.
std::string join_batch(const std::vector<std::string>& responses) {
  std::string out = "[";
  for (std::size_t i = 0; i < responses.size(); ++i) {
    if (i) out += ',';
    out += responses[i];
  }
  out += ']';
  return out;
}

}  // namespace bookmcp::mcp
