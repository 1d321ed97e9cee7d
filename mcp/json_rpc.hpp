#pragma once
// JSON-RPC 2.0 as MCP uses it: request ids, error codes, protocol errors, message shapes.
//
// Everything here is a value type or a pure function; safe to use from any thread.

#include <cstdint>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include <nlohmann/json.hpp>

namespace bookmcp::mcp {

using json = nlohmann::json;

// Standard JSON-RPC codes plus the MCP-specific ones we send.
namespace error_code {
inline constexpr int parse_error = -32700;
inline constexpr int invalid_request = -32600;
inline constexpr int method_not_found = -32601;
inline constexpr int invalid_params = -32602;
inline constexpr int internal_error = -32603;
inline constexpr int resource_not_found = -32002;  // MCP: resources/read of an unknown URI
inline constexpr int request_timeout = -32001;     // server-to-client request not answered
inline constexpr int connection_closed = -32000;   // pending request failed by a closed session
// 2026-07-28 (stateless requests): HTTP headers that disagree with the body, a capability the
// client did not declare, a protocol version the server does not speak.
inline constexpr int header_mismatch = -32020;
inline constexpr int missing_client_capability = -32021;
inline constexpr int unsupported_protocol_version = -32022;
}  // namespace error_code

// A request id: an integer (0 included) or a string. MCP forbids null ids on requests.
class request_id {
 public:
  request_id() = default;
  request_id(std::int64_t number) : value_(number) {}  // NOLINT: implicit on purpose
  request_id(std::string text) : value_(std::move(text)) {}  // NOLINT

  bool is_number() const { return std::holds_alternative<std::int64_t>(value_); }
  std::int64_t number() const { return std::get<std::int64_t>(value_); }
  const std::string& text() const { return std::get<std::string>(value_); }

  json to_json() const;
  // A readable form for logs: 7 or "abc".
  std::string to_string() const;

  // Reads an id from a JSON value; nullopt when it is not an integer or a string.
  static std::optional<request_id> from_json(const json& value);

  friend bool operator==(const request_id&, const request_id&) = default;

  struct hash {
    std::size_t operator()(const request_id& id) const noexcept;
  };

 private:
  std::variant<std::int64_t, std::string> value_;
};

// A protocol failure answered with a JSON-RPC error. Method handlers throw it; the dispatcher
// turns it into the error response. The message is sent to the peer: keep internals out.
class rpc_error : public std::runtime_error {
 public:
  rpc_error(int code, std::string message, json data = nullptr)
      : std::runtime_error(std::move(message)), code_(code), data_(std::move(data)) {}
  int code() const { return code_; }
  const json& data() const { return data_; }
  json to_json() const;

 private:
  int code_;
  json data_;
};

// What an inbound text turned out to be.
struct incoming_message {
  enum class kind { request, notification, response, error_response, batch, invalid };
  kind type = kind::invalid;
  json body;                       // the parsed object (or array for a batch)
  std::optional<request_id> id;    // requests and responses
  std::string method;              // requests and notifications
  // For kind::invalid: the error to answer (with id when it was readable).
  std::optional<rpc_error> error;
};

// How deeply arrays and objects may nest in a message. Deeper values are refused without being
// parsed that deep: parsing, copying or validating a tree of 100,000 levels overflows the
// stack, and no MCP message needs more than a few dozen.
inline constexpr std::size_t max_json_depth = 128;
// True when the JSON text's arrays and objects nest at most `limit` deep (a cheap scan of the
// text, strings skipped; says nothing about validity).
bool json_depth_within(std::string_view text, std::size_t limit = max_json_depth);

// True when `text` is well-formed UTF-8: no overlong forms, no surrogates (U+D800..U+DFFF),
// nothing past U+10FFFF (what nlohmann::json accepts in a string).
bool is_valid_utf8(std::string_view text) noexcept;

// Parses JSON text as a message is parsed: nullopt for invalid JSON, and for JSON nesting
// deeper than max_json_depth (`too_deep` tells which).
std::optional<json> parse_json_text(std::string_view text, bool* too_deep = nullptr);

// Parses and classifies one message. Never throws: unparsable text gives kind::invalid with a
// -32700 error (-32600 when it nests deeper than max_json_depth); a well-formed JSON that is
// not a JSON-RPC message gives kind::invalid with -32600 (and the id when one was readable).
// Arrays are returned as kind::batch unchecked.
incoming_message parse_message(std::string_view text);

// Classifies an already parsed value (used for the members of a batch).
incoming_message classify_message(json body);

// The kind::invalid answer for a value that is not a JSON-RPC message (see classify_message),
// or nullopt when it is one; reads the value without copying it.
std::optional<incoming_message> envelope_problem(const json& body);

// Serialisers for outbound messages. `id` may be absent only for errors whose id was unreadable.
std::string make_result(const request_id& id, const json& result);
// The same with the result already serialised (a JSON value's text, inserted as is).
std::string make_serialized_result(const request_id& id, std::string_view result_json);
// The start of that response, up to and including "result": (append the result's JSON and a
// closing '}'), with room reserved for `result_size` more bytes.
std::string serialized_result_head(const request_id& id, std::size_t result_size);
std::string make_error(const std::optional<request_id>& id, const rpc_error& error);
std::string make_request(const request_id& id, std::string_view method, const json& params);
std::string make_notification(std::string_view method, const json& params);

// Serialises a value as messages are serialised (invalid UTF-8 becomes U+FFFD).
std::string dump_json(const json& value);
// Appends `text` as a JSON string literal, quotes included (for writing JSON text directly).
void append_json_string(std::string& out, std::string_view text);

// Protocol revisions this server speaks with an initialize handshake, newest first (the
// stateless revision, 2026-07-28, is in mcp/stateless.hpp).
inline constexpr std::string_view latest_protocol_version = "2025-11-25";
inline constexpr std::string_view supported_protocol_versions[] = {"2025-11-25", "2025-06-18",
                                                                   "2025-03-26"};
bool is_supported_protocol_version(std::string_view version);
// True for revisions that allow JSON-RPC batches (only 2025-03-26 of the supported ones).
bool protocol_allows_batches(std::string_view version);

// The ids of the requests in a message or a batch (members with a "method" and a valid "id"):
// what expects an answer.
std::vector<request_id> request_ids(const json& message_or_batch);

// The JSON array answering a batch: the serialized answers, comma-separated, in brackets.
std::string join_batch(const std::vector<std::string>& responses);

// At most `max_bytes` of `text` (cut at a UTF-8 boundary), control characters replaced by '?':
// what a client sent, made fit for a log line.
std::string printable_excerpt(std::string_view text, std::size_t max_bytes);

}  // namespace bookmcp::mcp
