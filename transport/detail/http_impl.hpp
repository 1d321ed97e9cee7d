#pragma once
// Internal: the listener's shared state (http_server::impl) and the types and helpers its files
// share: http_server.cpp (listener), http_admission.cpp, streamable_http.cpp,
// websocket_session.cpp and ops_routes.cpp. Only those include it: it brings in Beast and Asio.

#include <spdlog/fmt/fmt.h>

#include <atomic>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/posix/stream_descriptor.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <thread>
#include <unordered_map>
#include <vector>

#include "mcp/session.hpp"
#include "transport/detail/outbox.hpp"
#include "transport/http_server.hpp"
#include "transport/rate_limiter.hpp"

namespace bookmcp::transport {

namespace net = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = net::ip::tcp;
using mcp::json;
using detail::outbox;
using detail::queued_message;

// Helpers of more than one of the listener's files.

inline std::string batch_over_burst_message(double cost, double burst) {
  return "Rate limit: a batch of " + fmt::format("{}", cost) + " requests is more than the " +
         fmt::format("{}", burst) + " an identity may send at once; send smaller batches";
}

inline std::string_view path_of(std::string_view target) {
  const auto query = target.find('?');
  return query == std::string_view::npos ? target : target.substr(0, query);
}

// ---------------------------------------------------------------------------------------
// Shared state

// A message_sink for one Streamable HTTP session: messages that belong to a request go to
// that request's POST stream; others go to the GET stream when one is open.
class http_router final : public mcp::message_sink {
 public:
  bool send(std::string message, const mcp::outbound_route& route) override {
    std::shared_ptr<outbox> target;
    {
      std::lock_guard lock(mutex_);
      if (route.related_request) {
        if (auto it = streams_.find(*route.related_request); it != streams_.end()) {
          target = it->second;
          if (route.type == mcp::outbound_route::kind::response) forget_locked(target);
        }
      }
      if (!target && route.type != mcp::outbound_route::kind::response) target = get_stream_;
    }
    if (!target) return false;  // nobody listens: the spec lets the server drop it
    return target->push(std::move(message), route.type);
  }

  void close() override {
    std::vector<std::shared_ptr<outbox>> all;
    {
      std::lock_guard lock(mutex_);
      closed_ = true;
      for (auto& [id, stream] : streams_) all.push_back(stream);
      if (get_stream_) all.push_back(get_stream_);
      streams_.clear();
      get_stream_.reset();
    }
    for (auto& stream : all) stream->close();
  }

  // False when `id` already has a stream (a duplicate request id in flight).
  bool add_stream(const mcp::request_id& id, std::shared_ptr<outbox> stream) {
    std::lock_guard lock(mutex_);
    return streams_.emplace(id, std::move(stream)).second;
  }
  // A request that will get no response (the client cancelled it) no longer holds its stream:
  // the stream ends unless other requests of the same batch still wait on it.
  void end_stream(const mcp::request_id& id) {
    std::shared_ptr<outbox> stream;
    {
      std::lock_guard lock(mutex_);
      auto it = streams_.find(id);
      if (it == streams_.end()) return;
      stream = it->second;
      streams_.erase(it);
      for (const auto& [other, shared] : streams_) {
        if (shared == stream) return;
      }
    }
    stream->close();
  }
  void remove_stream(const std::shared_ptr<outbox>& stream) {
    std::lock_guard lock(mutex_);
    forget_locked(stream);
  }
  // The session ended (DELETE, eviction, shutdown): its POSTs still waiting get no answer.
  bool closed() const {
    std::lock_guard lock(mutex_);
    return closed_;
  }
  bool set_get_stream(std::shared_ptr<outbox> stream) {
    std::lock_guard lock(mutex_);
    if (get_stream_ && !get_stream_->closed()) return false;
    get_stream_ = std::move(stream);
    return true;
  }
  void clear_get_stream(const std::shared_ptr<outbox>& stream) {
    std::lock_guard lock(mutex_);
    if (get_stream_ == stream) get_stream_.reset();
  }
  bool busy() const {
    std::lock_guard lock(mutex_);
    return !streams_.empty() || get_stream_;
  }

 private:
  void forget_locked(const std::shared_ptr<outbox>& stream) {
    std::erase_if(streams_, [&](const auto& item) { return item.second == stream; });
  }
  mutable std::mutex mutex_;
  std::unordered_map<mcp::request_id, std::shared_ptr<outbox>, mcp::request_id::hash> streams_;
  std::shared_ptr<outbox> get_stream_;
  bool closed_ = false;
};

struct http_session_entry {
  std::string identity;
  std::shared_ptr<mcp::server_session> session;
  std::shared_ptr<http_router> router;
  std::chrono::steady_clock::time_point last_used;
};

// Ends a session and its streams.
inline void close_entry(const http_session_entry& entry) {
  entry.session->close();
  entry.router->close();
}

// The MCP headers of a request, found in one walk of its fields (a lookup by a name Beast does
// not know walks them again each time); the first of each, trimmed.
struct mcp_request_headers {
  bool session_id = false;
  std::optional<std::string_view> version;  // MCP-Protocol-Version
  std::optional<std::string_view> method;   // Mcp-Method
  std::optional<std::string_view> name;     // Mcp-Name
};
mcp_request_headers read_mcp_headers(const http::request<http::string_body>& request);

// Holds a transient (2026-07-28) session and closes it when it lets it go. A request's own
// is closed with its answer unless the answer hands it to its connection's, which keeps it for
// the next request of the same caller while it is reusable() (one request at a time per
// connection: HTTP/1.1 without pipelining) and closes it with the connection.
struct transient_session_slot {
  std::shared_ptr<http_session_entry> entry;
  transient_session_slot() = default;
  transient_session_slot(const transient_session_slot&) = delete;
  transient_session_slot& operator=(const transient_session_slot&) = delete;
  ~transient_session_slot() { release(); }
  void release() {
    if (entry) close_entry(*entry);
    entry.reset();
  }
};

// A live WebSocket connection, for the 1001 close at shutdown.
struct websocket_handle {
  std::function<void()> close_going_away;
};

struct http_server::impl : std::enable_shared_from_this<http_server::impl> {
  impl(mcp::server& server_ref, listen_options opts)
      : server(server_ref),
        options(std::move(opts)),
        limiter(options.rate_limit, options.rate_burst > 0 ? options.rate_burst : 2 * options.rate_limit),
        acceptor(io),
        reaper(io) {}

  mcp::server& server;
  listen_options options;
  rate_limiter limiter;
  net::io_context io;
  tcp::acceptor acceptor;
  net::steady_timer reaper;
  std::vector<std::thread> threads;

  // Descriptors of others watched on the I/O threads (http_server::watch_descriptor).
  struct watched_descriptor {
    net::posix::stream_descriptor descriptor;
    std::function<void()> on_readable;
    std::function<void()> on_stop;
  };
  std::vector<std::shared_ptr<watched_descriptor>> watched;

  // Arms the wait before calling on_readable, so that what arrives while it runs fires the
  // next wait (the wait reports edges: one missed before arming would never come again).
  void arm(const std::shared_ptr<watched_descriptor>& target) {
    target->descriptor.async_wait(net::posix::stream_descriptor::wait_read,
                                  [this, target](const boost::system::error_code& error) {
                                    if (error) return;
                                    arm(target);
                                    target->on_readable();
                                  });
  }
  std::atomic<std::size_t> connections{0};
  std::atomic<bool> stopping{false};
  std::once_flag shutdown_once;

  std::mutex sessions_mutex;
  std::unordered_map<std::string, std::shared_ptr<http_session_entry>> sessions;

  std::mutex websockets_mutex;
  std::map<std::uint64_t, websocket_handle> websockets;
  std::uint64_t next_websocket = 0;

  void reject(std::string_view reason) {
    if (options.metrics) options.metrics->rejected(reason);
  }
  // What an outbox's overflow does to its connection (outbox::disconnect_on_overflow): counts
  // it and resets `stream`, which must outlive the guard. A reset rather than a close: what the
  // peer has not read is dropped at once instead of being kept by the kernel for a peer that
  // does not read, and the peer learns of it (a FIN would wait behind that data).
  std::function<void()> disconnect_slow_reader(beast::tcp_stream& stream) {
    return [this, &stream] {
      reject("slow_reader");
      boost::system::error_code ignored;
      stream.socket().set_option(net::socket_base::linger(true, 0), ignored);
      stream.close();
    };
  }

  void start();
  void stop_io();
  void do_shutdown();
  net::awaitable<void> accept_loop();
  net::awaitable<void> reap_sessions();
  // options.public_url, or this listener's own URL (with the port it bound, when given 0).
  std::string public_url() const {
    if (!options.public_url.empty()) return options.public_url;
    boost::system::error_code error;
    const auto bound = acceptor.local_endpoint(error);
    const std::string host =
        options.host.find(':') != std::string::npos ? "[" + options.host + "]" : options.host;
    return "http://" + host + ":" + std::to_string(error ? options.port : bound.port()) + "/mcp";
  }
  // Below max_http_sessions, or ends the least recently used idle session; false when every
  // session is busy.
  bool make_room_for_a_session();
  net::awaitable<void> run_connection(tcp::socket socket);
  net::awaitable<void> run_websocket(beast::tcp_stream stream, http::request<http::string_body> request,
                                     std::string identity);

  // Route helpers return a response, or nullopt when they wrote the response themselves.
  using response = http::response<http::string_body>;
  net::awaitable<std::optional<response>> handle_mcp(beast::tcp_stream& stream,
                                                     http::request<http::string_body>& request,
                                                     const std::string& identity,
                                                     transient_session_slot& connection_session);
  net::awaitable<std::optional<response>> handle_post(beast::tcp_stream& stream,
                                                      http::request<http::string_body>& request,
                                                      const std::string& identity,
                                                      transient_session_slot& connection_session);
  net::awaitable<std::optional<response>> handle_get(beast::tcp_stream& stream,
                                                     http::request<http::string_body>& request,
                                                     const std::string& identity);
  response handle_delete(http::request<http::string_body>& request, const std::string& identity);
  // 2026-07-28 over Streamable HTTP (streamable_http.cpp): a POST without a session whose body
  // carries request _meta or whose MCP-Protocol-Version names that revision; its header checks
  // (a 400 -32020 answer when they fail); the HTTP status of its answer (400 or 404 for the
  // errors the revision names).
  static bool is_stateless_post(const mcp_request_headers& headers, const json& body);
  std::optional<response> check_stateless_headers(const http::request<http::string_body>& request,
                                                  const mcp_request_headers& headers, const json& body);
  static http::status stateless_status(std::string_view answer);
  std::atomic<std::uint64_t> next_stateless{0};
  response ops_route(const http::request<http::string_body>& request, bool& handled);

  // Security checks shared by WebSocket upgrades and HTTP requests on /mcp. Returns a
  // response when the request is refused; sets `identity` when it passes.
  std::optional<response> admit(const http::request<http::string_body>& request, std::string& identity);
  // Whether `origin` (an Origin header's value) may use /mcp: listed in allowed_origins, or a
  // loopback origin when none are listed.
  bool origin_allowed(const std::string& origin) const;
  // Whether `origin` is listed in allowed_origins (or "*" is): only those get CORS.
  bool origin_listed(std::string_view origin) const;
  // CORS: a browser page of an origin given with --allowed-origin may read the answer, and
  // the headers it needs (the session id to send back, the protocol version, the bearer
  // challenge). Only listed origins: the default (loopback origins accepted, for local tools)
  // does not let every page a local dev server serves drive the server from the user's browser.
  template <typename Fields>
  void allow_cross_origin(const http::request<http::string_body>& request, Fields& out) const {
    const auto origin = request.find(http::field::origin);
    if (origin == request.end() || !origin_listed(origin->value())) return;
    out.set(http::field::access_control_allow_origin, origin->value());
    out.set(http::field::vary, "Origin");
    out.set(http::field::access_control_expose_headers,
            "Mcp-Session-Id, MCP-Protocol-Version, WWW-Authenticate, Retry-After");
  }
  // A browser's preflight (OPTIONS /mcp): 204 with what the allowed origin may send, 403
  // otherwise. Needs no credentials (browsers send none with it).
  response preflight(const http::request<http::string_body>& request);
  // The per-identity rate limit; a response when over it.
  // The refusal names `id`, the refused request's, when there is one.
  std::optional<response> limit_rate(const http::request<http::string_body>& request,
                                     const std::string& identity, double cost = 1,
                                     const std::optional<mcp::request_id>& id = std::nullopt);

  // Writes a whole response (not a stream): directly when the socket takes it at once.
  net::awaitable<void> write_response(beast::tcp_stream& stream, const response& out,
                                      boost::system::error_code& error);

  response make_response(const http::request<http::string_body>& request, http::status status,
                         std::string body, std::string_view content_type = "application/json");
  response json_error(const http::request<http::string_body>& request, http::status status, int code,
                      const std::string& message);

  std::shared_ptr<http_session_entry> find_session(const http::request<http::string_body>& request,
                                                   const std::string& identity, std::optional<response>& failure);
  // Forgets a session and ends it: its calls are cancelled, its waiting POSTs and its GET
  // stream end.
  void end_session(const std::string& id, const std::shared_ptr<http_session_entry>& entry) {
    {
      std::lock_guard lock(sessions_mutex);
      sessions.erase(id);
    }
    close_entry(*entry);
  }
};

}  // namespace bookmcp::transport
