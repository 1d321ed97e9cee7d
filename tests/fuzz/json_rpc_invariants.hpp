// What every harness that sees the server's outgoing JSON-RPC checks: each message is JSON-RPC
// 2.0 (an object, or for a batch a non-empty array of objects, with "jsonrpc": "2.0"); a
// response has an "id" and exactly one of "result" and "error"; an error has an integer code
// and a string message; anything else has a string method.
#pragma once

#include <cstdio>
#include <cstdlib>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>

namespace bookmcp::fuzzing {

[[noreturn]] inline void broken(const char* what, std::string_view message) {
  std::fprintf(stderr, "invariant broken: %s\nmessage: %.*s\n", what,
               static_cast<int>(message.size() > 2000 ? 2000 : message.size()), message.data());
  std::abort();
}

inline void check_json_rpc_object(const nlohmann::json& message, std::string_view text) {
  if (!message.is_object()) broken("a message that is not an object", text);
  const auto version = message.find("jsonrpc");
  if (version == message.end() || *version != "2.0") broken("no \"jsonrpc\": \"2.0\"", text);
  const bool result = message.contains("result"), error = message.contains("error");
  if (result || error) {
    if (result && error) broken("both result and error", text);
    if (!message.contains("id")) broken("a response without an id", text);
    if (error) {
      const auto& e = message["error"];
      if (!e.is_object() || !e.contains("code") || !e["code"].is_number_integer() ||
          !e.contains("message") || !e["message"].is_string())
        broken("an error without an integer code and a string message", text);
    }
  } else if (!message.contains("method") || !message["method"].is_string()) {
    broken("neither a response nor a message with a method", text);
  }
}

// `text` as the server sent it (one message or a batch answer); returns it parsed.
inline nlohmann::json check_json_rpc_text(std::string_view text) {
  nlohmann::json message = nlohmann::json::parse(text, nullptr, false);
  if (message.is_discarded()) broken("a message that is not JSON", text);
  if (message.is_array()) {
    if (message.empty()) broken("an empty batch answer", text);
    for (const auto& item : message) check_json_rpc_object(item, text);
  } else {
    check_json_rpc_object(message, text);
  }
  return message;
}

}  // namespace bookmcp::fuzzing
