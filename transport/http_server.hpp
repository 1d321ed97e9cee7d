#pragma once
// The network listener: one port serving MCP over WebSocket and Streamable HTTP on /mcp, plus
// the ops routes /healthz, /readyz, /metrics and /.well-known/oauth-protected-resource.
//
// Beast and Asio stay inside the implementation; this header is cheap to include.

#include <chrono>
#include <cstddef>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "mcp/server.hpp"
#include "transport/auth.hpp"
#include "transport/metrics.hpp"

namespace bookmcp::transport {

// A dependency /readyz reports: probe() returns an empty string when healthy, else the reason.
// A dependency /readyz reports: `probe` returns "" when it is up, else why not. A required
// one that is down makes the server not ready (503); an optional one (the embeddings endpoint,
// Qdrant: search then answers from the local BM25 index) makes it "degraded", still 200.
struct dependency_check {
  std::string name;
  std::function<std::string()> probe;
  bool required = true;
};

struct listen_options {
  std::string host = "127.0.0.1";
  unsigned short port = 8765;  // 0: any free port (see http_server::port())
  std::size_t io_threads = 2;
  std::size_t max_message_bytes = 4 * 1024 * 1024;
  std::size_t max_connections = 20000;
  std::chrono::seconds idle_timeout{300};          // a connection with no traffic is closed
  // Once a request's first bytes have come, its head (request line and header fields) must be
  // whole within this, or the connection is closed: a client sending it a byte at a time
  // (slowloris) would otherwise hold a connection for the idle timeout.
  std::chrono::milliseconds header_timeout{30000};
  // Then its body must keep coming: it must be whole within header_timeout plus one second per
  // min_body_rate bytes of it received so far (a body sent a byte at a time would otherwise
  // hold the connection for the idle timeout). 8 KiB/s is a 64 kbit/s link.
  std::size_t min_body_rate = 8 * 1024;
  // What we send and the peer does not take for this long (a zero TCP window: a client that
  // stopped reading in the middle of an answer too large for the socket buffers; or data never
  // acknowledged) resets the connection (TCP_USER_TIMEOUT). 0: the kernel's default (about 15
  // minutes of retransmissions, and no limit at all on a zero window).
  std::chrono::milliseconds send_stall_timeout{30000};
  std::chrono::seconds http_session_idle{1800};    // Streamable HTTP sessions unused this long end
  // Streamable HTTP sessions at most: a new one ends the least recently used idle session
  // (its client gets 404 and initializes again), or is refused (503) when none is idle.
  std::size_t max_http_sessions = 10000;
  std::size_t write_queue_bytes = 8 * 1024 * 1024; // per connection or stream
  // A full queue this long (a peer that stopped reading) disconnects.
  std::chrono::milliseconds slow_reader_grace{5000};
  std::vector<std::string> allowed_origins;        // empty: loopback origins only
  std::shared_ptr<const authenticator> auth;       // null: no authentication
  std::string
      public_url;  // e.g. https://books.example/mcp, for metadata; empty: http://HOST:PORT/mcp
  std::string authorization_server;                // issuer for RFC 9728 metadata; empty: none
  double rate_limit = 0;                           // requests/s per identity; 0: unlimited
  double rate_burst = 0;                           // bucket size; 0: 2 x rate
  std::vector<dependency_check> readiness;
  std::shared_ptr<transport::metrics> metrics;     // required for /metrics
  std::chrono::milliseconds shutdown_grace{10000};
};

class http_server {
 public:
  http_server(mcp::server& server, listen_options options);
  ~http_server();
  http_server(const http_server&) = delete;
  http_server& operator=(const http_server&) = delete;

  // Binds and starts the I/O threads. Throws std::runtime_error when the address cannot be used.
  void start();
  // The bound port (useful with port 0).
  unsigned short port() const;

  // Blocks until SIGTERM or SIGINT, then shuts down gracefully.
  void run_until_signal();
  // Graceful stop: stops accepting, lets in-flight calls finish within shutdown_grace, then
  // cancels them; WebSocket peers get close code 1001. Blocks until done. Idempotent.
  void shutdown();

  // Lets the I/O threads serve another event source (the store's replies: see
  // store::database::attach_event_loop): calls `on_readable` on an I/O thread whenever `fd`
  // may have become readable (once at the start too), until the server stops; then calls
  // `on_stop` and gives the descriptor back (it is never closed here). `on_readable` must not
  // block and may run on two I/O threads at once. Call before start().
  void watch_descriptor(int fd, std::function<void()> on_readable,
                        std::function<void()> on_stop = {});

  struct impl;

 private:
  std::shared_ptr<impl> impl_;
};

// Parses "HOST:PORT" ("[::1]:8080" for IPv6). Throws std::invalid_argument.
std::pair<std::string, unsigned short> parse_listen_address(const std::string& text);
// True for 127.0.0.0/8, ::1 and "localhost".
bool is_loopback_host(const std::string& host);

}  // namespace bookmcp::transport
