#pragma once
// An mcp::client joined to a new session of a server over the in-memory transport pair: how
// tests and benchmarks talk to a server in-process, through the real client and session.

#include <chrono>
#include <functional>
#include <memory>

#include "mcp/client.hpp"
#include "mcp/memory_transport.hpp"
#include "mcp/server.hpp"
#include "mcp/session.hpp"

namespace bookmcp::mcp {

// Opens a session of `target` on the server end of an in-memory pair: what the client end
// sends is handled by the session; when the connection ends, the session is closed and then
// `on_closed` runs (on the server end's delivery thread). For load clients that speak
// JSON-RPC text themselves; memory_connection joins an mcp::client the same way.
std::shared_ptr<server_session> serve_memory_endpoint(
    server& target, const std::shared_ptr<memory_endpoint>& endpoint, session_options session,
    std::function<void()> on_closed = {});

class memory_connection {
 public:
  // Opens the session and the client; does not initialize (call client().initialize()).
  memory_connection(server& target, session_options session, client_options options = {});
  // Closes the connection (see close()); whatever the close handlers touch is alive until then.
  ~memory_connection();
  memory_connection(const memory_connection&) = delete;
  memory_connection& operator=(const memory_connection&) = delete;

  // Which ends saw the connection end (their close handlers ran) within the wait.
  struct closed_ends {
    bool server_side = false;
    bool client_side = false;
  };
  // Closes both directions and waits up to `wait` for both ends' close handlers, which run on
  // the transport's delivery threads (the session is closed, the client's pending calls fail).
  closed_ends close(std::chrono::milliseconds wait = std::chrono::seconds(30));

  mcp::client& client() { return *client_; }
  server_session& session() { return *session_; }

 private:
  struct close_state;
  std::shared_ptr<close_state> closed_;
  memory_transport_pair pair_;
  std::shared_ptr<server_session> session_;
  std::shared_ptr<mcp::client> client_;
};

}  // namespace bookmcp::mcp
