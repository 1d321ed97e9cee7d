#pragma once
// The chat backend's connections to bookmcp: one MCP session per active reader, over WebSocket
// (ws://…/mcp) or Streamable HTTP (http://…/mcp), each authenticated with a short-lived JWT
// whose subject is that reader, so bookmcp scopes the reader's todos itself and no tool ever
// takes a user id. A session unused for `idle` is closed; a session that died (bookmcp
// restarted) is replaced on next use, with a few attempts spaced by jittered backoff.
//
// Beast stays in mcp_pool.cpp.

#include <chrono>
#include <cstddef>
#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

#include "examples/chat/reader_tokens.hpp"
#include "mcp/client.hpp"

namespace bookmcp::chat {

class mcp_unavailable : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

struct mcp_pool_options {
  std::string url;                                          // ws://host:port/mcp or http://…
  std::chrono::milliseconds connect_timeout{5000};          // per attempt
  int attempts = 3;                                         // before mcp_unavailable
  std::chrono::milliseconds call_timeout{30000};            // default per MCP request
  std::chrono::seconds idle{300};                           // a reader's session unused this long closes
  std::size_t io_threads = 2;
};

class mcp_pool {
 public:
  // Throws std::invalid_argument for a URL that is not ws:// or http://.
  mcp_pool(mcp_pool_options options, mcp_token_minter minter);
  ~mcp_pool();
  mcp_pool(const mcp_pool&) = delete;
  mcp_pool& operator=(const mcp_pool&) = delete;

  // The reader's initialized MCP client, reusing a live session. Throws mcp_unavailable.
  std::shared_ptr<mcp::client> client_for(const std::string& reader_id);
  // The tools bookmcp lists (listed once on some reader's session, shared by all, listed again
  // after a list_changed).
  std::vector<nlohmann::json> tools_for(const std::string& reader_id);
  // "" when bookmcp answers a ping on a session, else why not (for /ready).
  std::string probe();

  void close_idle();            // called periodically
  std::size_t open_sessions() const;
  std::size_t sessions_opened() const;  // since start (reconnects included)

  struct link;

 private:
  struct impl;
  std::unique_ptr<impl> impl_;
};

}  // namespace bookmcp::chat
