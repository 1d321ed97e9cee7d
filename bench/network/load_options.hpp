#pragma once
// Command-line options of bookmcp_load and the target URL they name. Pure parsing; any thread.

#include <chrono>
#include <cstddef>
#include <optional>
#include <stdexcept>
#include <string>

#include "bench/common/option_values.hpp"

namespace bookmcp::bench {

enum class load_transport { websocket, http };
enum class load_mode { load, idle };

// A loopback MCP endpoint: ws://HOST:PORT/PATH or http://HOST:PORT/PATH.
struct target_url {
  std::string host;        // as written, without brackets ("127.0.0.1", "::1", "localhost")
  std::string address;     // the address to connect to ("localhost" becomes "127.0.0.1")
  unsigned short port = 0;
  std::string path = "/mcp";
  std::string host_header() const;  // HOST:PORT, IPv6 in brackets
};

struct load_options {
  load_mode mode = load_mode::load;
  target_url url;
  load_transport transport = load_transport::websocket;
  std::size_t connections = 64;  // WebSocket connections, or Streamable HTTP sessions
  std::size_t inflight = 1;      // calls in flight per WebSocket connection / connections per HTTP session
  std::optional<std::chrono::milliseconds> duration;  // measured phase by time ...
  std::optional<std::size_t> calls;                   // ... or by count (default: 5 s)
  std::chrono::milliseconds warmup{1000};              // unmeasured calls first
  std::chrono::milliseconds timeout{30000};            // connecting, draining, each idle phase
  std::string tool = "echo";
  std::string arguments = R"({"text":"hi"})";          // a JSON object
  std::size_t threads = 1;                             // client I/O threads
  // Protocol revision 2026-07-28: no initialize and no session; every request carries
  // params._meta (version, client capabilities, client info) and, over HTTP, the
  // MCP-Protocol-Version, Mcp-Method and Mcp-Name headers. Answers must be results with
  // "resultType":"complete".
  bool stateless = false;
  bool json_output = false;
  // idle mode
  long server_pid = 0;                     // also in load mode: report the server's CPU per call
  std::chrono::milliseconds settle{2000};  // after the last connection opened, before measuring
  std::chrono::milliseconds hold{0};       // keep the connections this long after measuring
  std::size_t open_concurrency = 128;      // handshakes under way at once
};

extern const char* const load_usage;

// Parses argv (without argv[0]). Throws usage_error with a message a user can act on, e.g.
// for a target that is not a loopback address or for a count beyond the built-in bounds.
load_options parse_load_options(int argc, char** argv);

// Parses ws://, http:// URLs on a loopback host. Throws usage_error.
target_url parse_target_url(const std::string& text);

}  // namespace bookmcp::bench
