// What the chat backend's tests run against: a real bookmcp in this process (the sample book
// indexed, the todo tools on SQLite, WebSocket and Streamable HTTP with HS256 JWTs, exactly as
// the bookmcp program wires them), the chat backend on a free port in front of it, and an HTTP
// client that reads the answer streams as a browser's fetch would.
#pragma once

#include <chrono>
#include <filesystem>
#include <functional>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "examples/chat/chat_server.hpp"
#include "mcp/server.hpp"

namespace bookmcp::chat::testing {

using json = nlohmann::json;

// A fresh folder under the system's temporary directory, removed at the end.
class temporary_folder {
 public:
  temporary_folder();
  ~temporary_folder();
  const std::filesystem::path& path() const { return path_; }

 private:
  std::filesystem::path path_;
};

inline constexpr const char* mcp_secret = "chat-tests-mcp-secret-0123456789abcdef";
inline constexpr const char* chat_secret = "chat-tests-reader-secret-0123456789abcdef";

// bookmcp, in this process. `extra_tools` may register more tools (or replace the book's
// search_book: a slow one, say) before the server starts listening.
class bookmcp_under_test {
 public:
  // `es256_public_key_pem`: trust JWTs signed by its private half (ES256) instead of HS256
  // ones signed with mcp_secret.
  explicit bookmcp_under_test(std::function<void(mcp::server&)> extra_tools = {},
                              bool with_book = true, std::string es256_public_key_pem = "");
  ~bookmcp_under_test();
  unsigned short port() const;
  std::string ws_url() const { return "ws://127.0.0.1:" + std::to_string(port()) + "/mcp"; }
  std::string http_url() const { return "http://127.0.0.1:" + std::to_string(port()) + "/mcp"; }
  const std::filesystem::path& secret_file() const;
  void stop();  // as if bookmcp went away

  // tools/call requests of `tool` that bookmcp finished with `outcome` (ok, cancelled, ...).
  std::size_t calls_finished(const std::string& tool, const std::string& outcome) const;

  // A tool call as `reader` (a JWT with that subject), over a session of its own.
  json call_as(const std::string& reader, const std::string& tool, const json& arguments);

  struct state;

 private:
  std::unique_ptr<state> state_;
};

struct chat_setup {
  std::string mcp_url;
  std::string secret_file;
  std::string private_key_file;  // when set, the MCP JWTs are ES256/RS256 signed with it
  std::string allowed_origin = "http://site.test";
  double chat_per_minute = 600;
  std::chrono::milliseconds orphan_grace{3000};
  std::size_t max_streams_per_answer = 8;
  std::string database_url;  // empty: SQLite in a temporary folder
  std::string llm_base_url;  // empty: no LLM (extractive)
  std::string llm_model = "double-model";
};

class chat_under_test {
 public:
  explicit chat_under_test(chat_setup setup);
  ~chat_under_test();
  unsigned short port() const;
  std::string url() const { return "http://127.0.0.1:" + std::to_string(port()); }

  struct state;

 private:
  std::unique_ptr<state> state_;
};

struct http_answer {
  int status = 0;
  json body;
  std::string text;
  std::string content_type;
  std::vector<std::pair<std::string, std::string>> headers;
  std::string header(const std::string& name) const;
};

struct sse_item {
  std::string id;
  std::string type;
  json data;
};

// A client of the chat backend at `base` (http://127.0.0.1:PORT).
class chat_client {
 public:
  explicit chat_client(std::string base) : base_(std::move(base)) {}

  http_answer send(const std::string& method, const std::string& target, const std::string& body = "",
                   std::vector<std::pair<std::string, std::string>> headers = {});
  http_answer send_json(const std::string& method, const std::string& target, const json& body,
                        const std::string& token = "");

  // A new reader's tokens.
  json open_session();

  // POSTs a chat message and reads the event stream to its end; `on_event` sees each event as
  // it comes and may return false to stop reading (the client goes away).
  std::vector<sse_item> chat(const std::string& token, const json& body,
                             const std::function<bool(const sse_item&)>& on_event = {},
                             int* status = nullptr);
  std::vector<sse_item> stream(const std::string& method, const std::string& target, const std::string& body,
                               std::vector<std::pair<std::string, std::string>> headers,
                               const std::function<bool(const sse_item&)>& on_event, int* status);

 private:
  std::string base_;
};

// {"message": {"id", "text"}, "context": {...}, "time_zone"} with an optional conversation.
json chat_body(const std::string& text, const std::string& conversation_id = "");

// The events of one type.
std::vector<sse_item> of_type(const std::vector<sse_item>& events, const std::string& type);
// The answer's text (its token events joined).
std::string answer_text(const std::vector<sse_item>& events);

}  // namespace bookmcp::chat::testing
