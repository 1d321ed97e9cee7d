#pragma once
// Command-line options of bookmcp_chat_load. Pure parsing; any thread.

#include <chrono>
#include <cstddef>
#include <stdexcept>
#include <string>

#include "bench/common/option_values.hpp"

namespace bookmcp::bench::chat {

// What is on the other end of --url.
enum class chat_target {
  // bookmcp-chat (docs/chat-api.md): POST /api/session once per reader, then POST /api/chat,
  // an SSE stream of meta, token, ..., done (or error).
  bookmcp_chat,
  // A chat backend on the Vercel AI SDK (bench/chat/peer): POST /api/chat with useChat's body,
  // a UI message stream (SSE of JSON chunks, ended by "data: [DONE]").
  ai_sdk,
  // The LLM double itself (POST {base}/chat/completions): each turn is the two requests the
  // chat backend sends for one answer (a reader's message with tools, then the tool result),
  // so that the double's own time per turn can be subtracted from a backend's.
  llm_double,
};

// A loopback HTTP endpoint: http://HOST:PORT[/BASE].
struct http_endpoint {
  std::string address;  // an IP literal to connect to ("localhost" becomes "127.0.0.1")
  unsigned short port = 0;
  std::string base;  // path prefix without a trailing slash: "" or "/v1"
  std::string host_header() const;
};

struct chat_load_options {
  chat_target target = chat_target::bookmcp_chat;
  http_endpoint url;
  std::size_t readers = 50;                   // concurrent readers, one turn at a time each
  std::chrono::milliseconds warmup{2000};     // unmeasured turns first
  std::chrono::milliseconds duration{10000};  // then the measured window
  std::chrono::milliseconds timeout{30000};   // setup, one turn, the drain at the end
  std::size_t hold = 0;                       // > 0: the hold test with this many streams
  std::size_t open_concurrency = 64;          // sessions/connections being set up at once
  std::size_t threads = 1;                    // client I/O threads
  long pid = 0;                               // the backend's pid: CPU per turn, RSS
  long mcp_pid = 0;                           // bookmcp's pid: its CPU per turn
  std::string question = "What does the book say about getting started?";
  std::string label;  // copied into the JSON report
  bool json_output = false;
  // --target llm-double: the model name, and bookmcp (Streamable HTTP) with a bearer token, to
  // get the real tool list and the real search result the double's second request carries.
  std::string model = "double";
  std::string mcp_url;
  std::string mcp_token;
};

extern const char* const chat_load_usage;

// Parses argv (without argv[0]). Throws usage_error with a message a user can act on.
chat_load_options parse_chat_load_options(int argc, char** argv);

// Parses http://HOST:PORT[/BASE] on a loopback host. Throws usage_error.
http_endpoint parse_http_endpoint(const std::string& text);

const char* target_name(chat_target target);

}  // namespace bookmcp::bench::chat
