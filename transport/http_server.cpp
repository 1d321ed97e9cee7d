// The network listener. Reading guide:
//   listener (accept loop) -> run_connection (one coroutine per TCP connection, on its own
//   strand) -> either run_websocket (Upgrade on /mcp) or the HTTP routes; /mcp POST/GET/DELETE
//   are the Streamable HTTP transport, whose sessions live in the http_sessions table.
// Every connection writes through one bounded outbox (detail/outbox.hpp).

#include "transport/http_server.hpp"

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <spdlog/spdlog.h>
#include <sys/socket.h>

#include <atomic>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/experimental/awaitable_operators.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/posix/stream_descriptor.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/strand.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/websocket.hpp>
#include <csignal>
#include <future>
#include <map>
#include <set>
#include <thread>
#include <unordered_map>
#include <variant>

#include "mcp/session.hpp"
#include "transport/detail/outbox.hpp"
#include "transport/rate_limiter.hpp"

namespace bookmcp::transport {

namespace net = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
namespace websocket = beast::websocket;
using tcp = net::ip::tcp;
using mcp::json;
using detail::outbox;
using detail::queued_message;

namespace {

constexpr std::string_view kMcpPath = "/mcp";
constexpr auto kSseKeepAlive = std::chrono::seconds(15);

// Whether a WebSocket message is a JSON-RPC batch (an array), by its first character.
bool starts_a_batch(std::string_view text) {
  const auto first = text.find_first_not_of(" \t\r\n");
  return first != std::string_view::npos && text[first] == '[';
}

// The ids of the requests in a batch; none when the text is not a JSON array.
std::vector<mcp::request_id> request_ids_in_batch(std::string_view text) {
  const auto batch = mcp::parse_json_text(text);
  if (!batch || !batch->is_array()) return {};
  return mcp::request_ids(*batch);
}

std::string batch_over_burst_message(double cost, double burst) {
  return "Rate limit: a batch of " + fmt::format("{}", cost) + " requests is more than the " +
         fmt::format("{}", burst) + " an identity may send at once; send smaller batches";
}

// The body of a text/event-stream answer: chunked for HTTP/1.1; for HTTP/1.0, which knows no
// Transfer-Encoding (RFC 9112 section 6.1), plain bytes ended by closing the connection.
class event_stream_body {
 public:
  event_stream_body(beast::tcp_stream& stream, unsigned version)
      : stream_(stream), chunked_(version >= 11) {}
  // Sets the head's framing: chunked, or close-delimited.
  void frame(http::response<http::empty_body>& head, bool keep_alive) const {
    head.keep_alive(chunked_ && keep_alive);
    head.chunked(chunked_);
  }
  bool chunked() const { return chunked_; }
  net::awaitable<void> write(std::string_view data, boost::system::error_code& error) {
    if (chunked_) {
      co_await net::async_write(stream_, http::make_chunk(net::buffer(data)),
                                net::redirect_error(net::use_awaitable, error));
    } else {
      co_await net::async_write(stream_, net::buffer(data),
                                net::redirect_error(net::use_awaitable, error));
    }
  }
  net::awaitable<void> finish(boost::system::error_code& error) {
    if (chunked_)
      co_await net::async_write(stream_, http::make_chunk_last(),
                                net::redirect_error(net::use_awaitable, error));
  }

 private:
  beast::tcp_stream& stream_;
  bool chunked_;
};

std::string jsonrpc_error_body(int code, const std::string& message) {
  return mcp::make_error(std::nullopt, mcp::rpc_error(code, message));
}

std::string_view path_of(std::string_view target) {
  const auto query = target.find('?');
  return query == std::string_view::npos ? target : target.substr(0, query);
}

std::string_view trim_spaces(std::string_view text) {
  while (!text.empty() && (text.front() == ' ' || text.front() == '\t')) text.remove_prefix(1);
  while (!text.empty() && (text.back() == ' ' || text.back() == '\t')) text.remove_suffix(1);
  return text;
}

// Whether a comma-separated list of media types (Accept) names `media_type` exactly (case
// aside; parameters such as q=0.9 ignored).
bool header_lists(std::string_view header, std::string_view media_type) {
  while (!header.empty()) {
    const auto comma = header.find(',');
    std::string_view item = header.substr(0, comma);
    header = comma == std::string_view::npos ? std::string_view() : header.substr(comma + 1);
    if (beast::iequals(trim_spaces(item.substr(0, item.find(';'))), media_type)) return true;
  }
  return false;
}

// Whether a Content-Type is JSON: application/json (case aside), without a charset other
// than UTF-8 (RFC 8259 section 8.1).
bool is_json_content_type(std::string_view header) {
  const auto semicolon = header.find(';');
  if (!beast::iequals(trim_spaces(header.substr(0, semicolon)), "application/json")) return false;
  for (auto rest = semicolon == std::string_view::npos ? std::string_view()
                                                       : header.substr(semicolon + 1);
       !rest.empty();) {
    const auto next = rest.find(';');
    const std::string_view parameter = trim_spaces(rest.substr(0, next));
    rest = next == std::string_view::npos ? std::string_view() : rest.substr(next + 1);
    const auto equals = parameter.find('=');
    if (equals == std::string_view::npos ||
        !beast::iequals(trim_spaces(parameter.substr(0, equals)), "charset"))
      continue;
    std::string_view charset = trim_spaces(parameter.substr(equals + 1));
    if (charset.size() >= 2 && charset.front() == '"' && charset.back() == '"')
      charset = charset.substr(1, charset.size() - 2);
    if (!beast::iequals(charset, "utf-8") && !beast::iequals(charset, "utf8")) return false;
  }
  return true;
}

// The host part of an Origin ("http://host:port") or Host ("host:port") value.
std::string host_of(std::string_view value) {
  if (const auto scheme = value.find("://"); scheme != std::string_view::npos) value.remove_prefix(scheme + 3);
  if (const auto slash = value.find('/'); slash != std::string_view::npos) value = value.substr(0, slash);
  if (!value.empty() && value.front() == '[') {
    const auto close = value.find(']');
    return std::string(value.substr(0, close == std::string_view::npos ? value.size() : close + 1));
  }
  if (const auto colon = value.rfind(':'); colon != std::string_view::npos) value = value.substr(0, colon);
  return std::string(value);
}

}  // namespace

std::pair<std::string, unsigned short> parse_listen_address(const std::string& text) {
  const auto colon = text.rfind(':');
  if (colon == std::string::npos || colon == 0 || colon + 1 >= text.size()) {
    throw std::invalid_argument("listen address \"" + text + "\" is not HOST:PORT");
  }
  std::string host = text.substr(0, colon);
  if (host.size() >= 2 && host.front() == '[' && host.back() == ']') host = host.substr(1, host.size() - 2);
  const std::string port_text = text.substr(colon + 1);
  unsigned long port = 0;
  try {
    std::size_t used = 0;
    port = std::stoul(port_text, &used);
    if (used != port_text.size() || port > 65535) throw std::out_of_range("port");
  } catch (const std::exception&) {
    throw std::invalid_argument("listen address \"" + text + "\": \"" + port_text + "\" is not a port number");
  }
  return {host, static_cast<unsigned short>(port)};
}

bool is_loopback_host(const std::string& host) {
  std::string bare = host;
  if (bare.size() >= 2 && bare.front() == '[' && bare.back() == ']') bare = bare.substr(1, bare.size() - 2);
  if (bare == "localhost" || bare == "::1") return true;
  boost::system::error_code error;
  const auto address = net::ip::make_address(bare, error);
  return !error && address.is_loopback();
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
                                                     const std::string& identity);
  net::awaitable<std::optional<response>> handle_post(beast::tcp_stream& stream,
                                                      http::request<http::string_body>& request,
                                                      const std::string& identity);
  net::awaitable<std::optional<response>> handle_get(beast::tcp_stream& stream,
                                                     http::request<http::string_body>& request,
                                                     const std::string& identity);
  response handle_delete(http::request<http::string_body>& request, const std::string& identity);
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
  static void close_entry(const http_session_entry& entry) {
    entry.session->close();
    entry.router->close();
  }
};

// ---------------------------------------------------------------------------------------
// Responses and admission

http_server::impl::response http_server::impl::make_response(const http::request<http::string_body>& request,
                                                             http::status status, std::string body,
                                                             std::string_view content_type) {
  response out{status, request.version()};
  out.set(http::field::server, "bookmcp");
  out.set(http::field::content_type, content_type);
  out.keep_alive(request.keep_alive());
  out.body() = std::move(body);
  out.prepare_payload();
  return out;
}

http_server::impl::response http_server::impl::json_error(const http::request<http::string_body>& request,
                                                          http::status status, int code,
                                                          const std::string& message) {
  return make_response(request, status, jsonrpc_error_body(code, message));
}

bool http_server::impl::origin_allowed(const std::string& origin) const {
  if (options.allowed_origins.empty()) return is_loopback_host(host_of(origin));
  return origin_listed(origin);
}

bool http_server::impl::origin_listed(std::string_view origin) const {
  return std::any_of(options.allowed_origins.begin(), options.allowed_origins.end(),
                     [&](const std::string& item) { return item == origin || item == "*"; });
}

http_server::impl::response http_server::impl::preflight(
    const http::request<http::string_body>& request) {
  const auto origin = request.find(http::field::origin);
  if (origin != request.end() && !origin_listed(origin->value())) {
    reject("origin");
    spdlog::info("refused a request from origin {}", origin->value());
    return json_error(request, http::status::forbidden, -32000,
                      "Forbidden: origin " + std::string(origin->value()) +
                          " is not allowed; browsers may call /mcp only from the origins given "
                          "with --allowed-origin");
  }
  auto out = make_response(request, http::status::no_content, "");
  out.erase(http::field::content_type);
  out.set(http::field::allow, "GET, POST, DELETE, OPTIONS");
  if (origin != request.end()) {
    allow_cross_origin(request, out);
    out.set(http::field::access_control_allow_methods, "GET, POST, DELETE");
    out.set(http::field::access_control_allow_headers,
            "Authorization, Content-Type, Accept, Mcp-Session-Id, MCP-Protocol-Version, "
            "Last-Event-ID");
    out.set(http::field::access_control_max_age, "600");
  }
  return out;
}

std::optional<http_server::impl::response> http_server::impl::admit(
    const http::request<http::string_body>& request, std::string& identity) {
  // Origin: absent passes (non-browser clients); otherwise it must be allowed.
  if (auto origin = request.find(http::field::origin); origin != request.end()) {
    const std::string value(origin->value());
    if (!origin_allowed(value)) {
      reject("origin");
      spdlog::info("refused a request from origin {}", value);
      return json_error(request, http::status::forbidden, -32000, "Forbidden: origin " + value + " is not allowed");
    }
  }
  // DNS rebinding: a server bound to loopback only answers requests addressed to loopback.
  if (is_loopback_host(options.host)) {
    auto host = request.find(http::field::host);
    if (host == request.end() || !is_loopback_host(host_of(host->value()))) {
      reject("host");
      return json_error(request, http::status::forbidden, -32000, "Forbidden: invalid Host header");
    }
  }
  identity = "anonymous";
  if (options.auth) {
    std::string_view header;
    if (auto field = request.find(http::field::authorization); field != request.end()) header = field->value();
    std::optional<std::string> subject;
    std::string problem = "missing bearer token";
    bool presented = false;
    if (header.size() > 7 && beast::iequals(header.substr(0, 7), "Bearer ")) {
      subject = options.auth->authenticate(header.substr(7));
      problem = "invalid or expired bearer token";
      presented = true;
    }
    if (!subject) {
      reject("unauthorized");
      auto out = json_error(request, http::status::unauthorized, -32001, "Unauthorized: " + problem);
      // RFC 6750 section 3.1: no error code when the request carried no credentials.
      std::string challenge = "Bearer realm=\"bookmcp\"";
      if (presented) challenge += ", error=\"invalid_token\"";
      if (!options.authorization_server.empty()) {
        std::string base = public_url();
        if (const auto path = base.find("/mcp"); path != std::string::npos) base.resize(path);
        challenge += ", resource_metadata=\"" + base + "/.well-known/oauth-protected-resource\"";
      }
      out.set(http::field::www_authenticate, challenge);
      return out;
    }
    identity = *subject;
  }
  return std::nullopt;
}

std::optional<http_server::impl::response> http_server::impl::limit_rate(
    const http::request<http::string_body>& request, const std::string& identity, double cost,
    const std::optional<mcp::request_id>& id) {
  if (auto decision = limiter.acquire(identity, cost); !decision.allowed) {
    reject("rate_limited");
    if (decision.retry_after.count() == 0) {
      return json_error(request, http::status::too_many_requests, -32000,
                        batch_over_burst_message(cost, limiter.burst()));
    }
    auto out = make_response(
        request, http::status::too_many_requests,
        mcp::make_error(
            id, mcp::rpc_error(-32000, "Rate limit exceeded: at most " +
                                           fmt::format("{}", limiter.rate()) +
                                           " requests per second per identity; retry later")));
    out.set(http::field::retry_after, std::to_string(std::max<long long>(1, (decision.retry_after.count() + 999) / 1000)));
    return out;
  }
  return std::nullopt;
}

http_server::impl::response http_server::impl::ops_route(const http::request<http::string_body>& request,
                                                         bool& handled) {
  handled = true;
  const std::string_view path = path_of(request.target());
  if (path == "/healthz") return make_response(request, http::status::ok, R"({"status":"ok"})");
  if (path == "/readyz") {
    json report = {{"status", "ready"}, {"dependencies", json::object()}};
    bool ready = !stopping;
    bool degraded = false;  // an optional dependency is down: ready, with less to offer
    for (const auto& check : options.readiness) {
      std::string problem;
      try {
        problem = check.probe();
      } catch (const std::exception& error) {
        problem = error.what();
      }
      report["dependencies"][check.name] =
          problem.empty() ? json{{"status", "up"}}
                          : json{{"status", "down"}, {"reason", problem}, {"required", check.required}};
      if (check.required) {
        ready = ready && problem.empty();
      } else if (!problem.empty()) {
        degraded = true;
      }
    }
    if (stopping) report["reason"] = "shutting down";
    if (degraded) report["status"] = "degraded";
    if (!ready) report["status"] = "not ready";
    return make_response(request, ready ? http::status::ok : http::status::service_unavailable, report.dump());
  }
  if (path == "/metrics" && options.metrics) {
    return make_response(request, http::status::ok, options.metrics->render(server.stats().calls_in_flight),
                         "text/plain; version=0.0.4; charset=utf-8");
  }
  if ((path == "/.well-known/oauth-protected-resource" || path == "/.well-known/oauth-protected-resource/mcp") &&
      !options.authorization_server.empty()) {
    json metadata = {{"resource", public_url()},
                     {"authorization_servers", {options.authorization_server}},
                     {"bearer_methods_supported", {"header"}}};
    return make_response(request, http::status::ok, metadata.dump());
  }
  handled = false;
  return make_response(request, http::status::not_found, R"({"error":"not found"})");
}

// ---------------------------------------------------------------------------------------
// Streamable HTTP

std::shared_ptr<http_session_entry> http_server::impl::find_session(const http::request<http::string_body>& request,
                                                                    const std::string& identity,
                                                                    std::optional<response>& failure) {
  auto header = request.find("Mcp-Session-Id");
  if (header == request.end()) {
    reject("missing_session");
    failure = json_error(request, http::status::bad_request, -32000, "Bad Request: Mcp-Session-Id header is required");
    return nullptr;
  }
  std::shared_ptr<http_session_entry> entry;
  {
    std::lock_guard lock(sessions_mutex);
    if (auto it = sessions.find(std::string(header->value())); it != sessions.end()) entry = it->second;
  }
  // Another identity's session is indistinguishable from one that does not exist.
  if (!entry || entry->identity != identity) {
    reject("unknown_session");
    failure = json_error(request, http::status::not_found, -32001, "Session not found: initialize a new session");
    return nullptr;
  }
  if (auto version = request.find("MCP-Protocol-Version"); version != request.end()) {
    const std::string value(version->value());
    if (!mcp::is_supported_protocol_version(value) && value != "2024-11-05") {
      reject("bad_protocol_version");
      failure = json_error(request, http::status::bad_request, -32000,
                           "Bad Request: unsupported MCP-Protocol-Version " + value);
      return nullptr;
    }
  }
  entry->last_used = std::chrono::steady_clock::now();
  return entry;
}

namespace {

std::string sse_event(const std::string& data) { return "event: message\ndata: " + data + "\n\n"; }

// Waits until the peer closes the connection (without consuming pipelined bytes).
// Returns when the peer closed or reset the connection: true for an end of stream, which may
// be a half-close (the client shut down its sending side after the request and still reads).
net::awaitable<bool> wait_peer_closed(tcp::socket& socket) {
  for (;;) {
    boost::system::error_code error;
    co_await socket.async_wait(tcp::socket::wait_read, net::redirect_error(net::use_awaitable, error));
    if (error) co_return false;
    char probe;
    const ssize_t got = ::recv(socket.native_handle(), &probe, 1, MSG_PEEK | MSG_DONTWAIT);
    if (got == 0) co_return true;
    if (got < 0 && errno != EAGAIN && errno != EWOULDBLOCK) co_return false;
    // Bytes of a pipelined request: stop watching; the request will be read later.
    co_await net::steady_timer(socket.get_executor(), std::chrono::hours(24 * 365)).async_wait(
        net::redirect_error(net::use_awaitable, error));
    co_return false;
  }
}

}  // namespace

net::awaitable<std::optional<http_server::impl::response>> http_server::impl::handle_post(
    beast::tcp_stream& stream, http::request<http::string_body>& request, const std::string& identity) {
  const std::string_view accept = request[http::field::accept];
  if (!header_lists(accept, "application/json") || !header_lists(accept, "text/event-stream")) {
    reject("not_acceptable");
    co_return json_error(request, http::status::not_acceptable, -32000,
                         "Not Acceptable: Accept must list application/json and text/event-stream");
  }
  if (!is_json_content_type(request[http::field::content_type])) {
    reject("unsupported_media_type");
    co_return json_error(request, http::status::unsupported_media_type, -32000,
                         "Unsupported Media Type: send application/json");
  }
  bool too_deep = false;
  std::optional<json> parsed = mcp::parse_json_text(request.body(), &too_deep);
  if (!parsed) {
    reject("parse_error");
    if (too_deep) {
      co_return json_error(request, http::status::bad_request, mcp::error_code::invalid_request,
                           "Invalid Request: the body nests arrays and objects more than " +
                               std::to_string(mcp::max_json_depth) + " levels deep");
    }
    co_return json_error(request, http::status::bad_request, mcp::error_code::parse_error,
                         "Parse error: the body is not valid JSON");
  }
  json body = std::move(*parsed);
  // What is not a JSON-RPC message gets its error here: on a POST without a request to answer,
  // the session's answer would have no stream to go to.
  if (body.is_array() && body.empty()) {
    reject("invalid_request");
    co_return json_error(request, http::status::bad_request, mcp::error_code::invalid_request,
                         "Invalid Request: an empty batch");
  }
  if (!body.is_array()) {
    if (auto problem = mcp::envelope_problem(body)) {
      reject("invalid_request");
      co_return make_response(request, http::status::bad_request,
                              mcp::make_error(problem->id, *problem->error));
    }
  }

  const bool is_initialize = body.is_object() && body.value("method", json()) == "initialize" && body.contains("id");
  // The request ids in this POST: they expect an answer on this POST's stream.
  const std::vector<mcp::request_id> ids = mcp::request_ids(body);
  // Only requests are rate limited (dropping a cancellation or an answer to a server request
  // would leave work hanging); a batch costs one token per request in it.
  if (!ids.empty()) {
    const auto single = body.is_array() ? std::nullopt : std::optional(ids.front());
    if (auto refused = limit_rate(request, identity, static_cast<double>(ids.size()), single))
      co_return refused;
  }
  std::shared_ptr<http_session_entry> entry;
  std::string new_session_id;
  if (is_initialize && request.find("Mcp-Session-Id") == request.end()) {
    if (!make_room_for_a_session()) {
      reject("too_many_sessions");
      co_return json_error(request, http::status::service_unavailable, -32000,
                           "Service Unavailable: " + std::to_string(options.max_http_sessions) +
                               " sessions are open and busy; retry later");
    }
    entry = std::make_shared<http_session_entry>();
    entry->identity = identity;
    entry->router = std::make_shared<http_router>();
    entry->session = server.open_session(entry->router, {.identity = identity, .transport = "http", .session_id = {}});
    entry->last_used = std::chrono::steady_clock::now();
    new_session_id = entry->session->id();
    std::lock_guard lock(sessions_mutex);
    sessions[new_session_id] = entry;
  } else {
    std::optional<response> failure;
    entry = find_session(request, identity, failure);
    if (!entry) co_return failure;
    if (is_initialize) {
      co_return make_response(
          request, http::status::bad_request,
          mcp::make_error(mcp::request_id::from_json(body["id"]),
                          mcp::rpc_error(mcp::error_code::invalid_request,
                                         "Invalid Request: the session is already initialized")));
    }
  }

  if (body.is_array()) {
    const std::string version = entry->session->protocol_version();
    if (!mcp::protocol_allows_batches(version)) {
      co_return json_error(request, http::status::bad_request, mcp::error_code::invalid_request,
                           "Invalid Request: JSON-RPC batches are not supported in protocol version " + version);
    }
  }
  if (ids.empty() && body.is_array()) {
    // A batch without requests: its invalid members are answered here, in an array (JSON-RPC
    // 2.0 section 6); the session's answer to them would have no POST to go to.
    std::vector<std::string> errors;
    json rest = json::array();
    for (const auto& member : body) {
      if (auto problem = mcp::envelope_problem(member)) {
        errors.push_back(mcp::make_error(problem->id, *problem->error));
      } else {
        rest.push_back(member);
      }
    }
    if (!errors.empty()) {
      reject("invalid_request");
      if (!rest.empty()) entry->session->handle_parsed(std::move(rest));
      co_return make_response(request, http::status::ok, mcp::join_batch(errors));
    }
  }
  if (ids.empty()) {
    const auto params = body.is_object() ? body.find("params") : body.end();
    if (body.is_object() && body.value("method", json()) == "notifications/cancelled" &&
        params != body.end() && params->is_object()) {
      if (auto id = mcp::request_id::from_json(params->value("requestId", json()))) {
        entry->session->handle_parsed(std::move(body));
        entry->router->end_stream(*id);  // the cancelled request gets no response: end its stream
        body = nullptr;
      }
    }
    if (!body.is_null()) entry->session->handle_parsed(std::move(body));
    auto out = make_response(request, http::status::accepted, "");
    out.erase(http::field::content_type);
    co_return out;
  }

  auto executor = co_await net::this_coro::executor;
  auto stream_box = std::make_shared<outbox>(executor, options.write_queue_bytes, options.slow_reader_grace);
  for (std::size_t i = 0; i < ids.size(); ++i) {
    if (!entry->router->add_stream(ids[i], stream_box)) {
      entry->router->remove_stream(stream_box);
      co_return make_response(request, http::status::ok,
                              mcp::make_error(ids[i], mcp::rpc_error(mcp::error_code::invalid_request,
                                                                     "Invalid Request: request id " + ids[i].to_string() +
                                                                         " is already in use")));
    }
  }
  entry->session->handle_parsed(std::move(body));

  // Wait for the first message; if the client disconnects first, cancel the request(s).
  // Most answers come within a millisecond: only then is it worth watching the socket.
  using namespace net::experimental::awaitable_operators;
  bool slow = false;
  std::variant<std::optional<queued_message>, bool> first =
      co_await stream_box->pop(std::chrono::milliseconds(1), &slow);
  if (slow) first = co_await (stream_box->pop() || wait_peer_closed(stream.socket()));
  // An end of stream may be a half-close: the client still reads. The answer then comes as an
  // event stream, started now, whose periodic comments find out whether anyone reads it (a
  // write to a closed connection fails): only a client that is gone cancels its calls.
  // (Not for an initialize: whether its session is kept is known only from its answer.)
  const bool half_closed = first.index() == 1 && std::get<1>(first) && new_session_id.empty();
  if (first.index() == 1 && !half_closed) {
    entry->router->remove_stream(stream_box);
    for (const auto& id : ids) {
      entry->session->handle_parsed({{"jsonrpc", "2.0"},
                                     {"method", "notifications/cancelled"},
                                     {"params", {{"requestId", id.to_json()}, {"reason", "HTTP connection closed"}}}});
    }
    stream.socket().close();
    co_return std::nullopt;
  }
  std::optional<queued_message> message;
  if (!half_closed) message = std::get<0>(std::move(first));
  if (!message && !half_closed) {
    if (entry->router->closed()) {
      // The session ended first (DELETE, eviction, shutdown): as for any request of an ended
      // session, 404 (a 202 would tell the client that no answer is due).
      co_return json_error(request, http::status::not_found, -32001,
                           "Not Found: the session ended before this request was answered; "
                           "initialize a new session");
    }
    // Cancelled by the client: no response is due.
    auto out = make_response(request, http::status::accepted, "");
    out.erase(http::field::content_type);
    co_return out;
  }
  if (message && message->type == mcp::outbound_route::kind::response) {
    entry->router->remove_stream(stream_box);
    auto out = make_response(request, http::status::ok, std::move(message->text));
    if (!new_session_id.empty()) {
      if (entry->session->initialized()) {
        out.set("Mcp-Session-Id", new_session_id);
      } else {
        // initialize failed: no session comes of it (it would hold a slot, uninitializable).
        end_session(new_session_id, entry);
      }
    }
    co_return out;
  }

  // Notifications or server-to-client requests come first: answer with an SSE stream.
  http::response<http::empty_body> head{http::status::ok, request.version()};
  head.set(http::field::server, "bookmcp");
  head.set(http::field::content_type, "text/event-stream");
  head.set(http::field::cache_control, "no-cache");
  allow_cross_origin(request, head);
  if (!new_session_id.empty()) head.set("Mcp-Session-Id", new_session_id);
  event_stream_body body_out(stream, request.version());
  body_out.frame(head, request.keep_alive());
  http::response_serializer<http::empty_body> serializer{head};
  boost::system::error_code error;
  co_await http::async_write_header(stream, serializer, net::redirect_error(net::use_awaitable, error));
  if (half_closed && !error) {
    // The first comment goes out at once: a closed connection answers it with a reset, so the
    // next write, 100 ms later (a round trip on most networks), fails; then one per second.
    co_await body_out.write(": request received; the answer follows\n\n", error);
    for (auto pause = std::chrono::milliseconds(100); !error; pause = std::chrono::seconds(1)) {
      bool quiet = false;
      message = co_await stream_box->pop(pause, &quiet);
      if (!quiet) break;
      co_await body_out.write(": waiting\n\n", error);
    }
  }
  while (!error && message) {
    const bool last = message->type == mcp::outbound_route::kind::response;
    co_await body_out.write(sse_event(message->text), error);
    if (last || error) break;
    message = co_await stream_box->pop();
  }
  entry->router->remove_stream(stream_box);
  if (error) {
    for (const auto& id : ids) {
      entry->session->handle_parsed({{"jsonrpc", "2.0"},
                                     {"method", "notifications/cancelled"},
                                     {"params", {{"requestId", id.to_json()}, {"reason", "HTTP stream closed"}}}});
    }
    stream.socket().close();
    co_return std::nullopt;
  }
  co_await body_out.finish(error);
  if (error || !request.keep_alive() || !body_out.chunked()) stream.socket().close();
  co_return std::nullopt;
}

net::awaitable<std::optional<http_server::impl::response>> http_server::impl::handle_get(
    beast::tcp_stream& stream, http::request<http::string_body>& request, const std::string& identity) {
  if (!header_lists(request[http::field::accept], "text/event-stream")) {
    reject("not_acceptable");
    co_return json_error(request, http::status::not_acceptable, -32000, "Not Acceptable: Accept must list text/event-stream");
  }
  std::optional<response> failure;
  auto entry = find_session(request, identity, failure);
  if (!entry) co_return failure;
  if (auto refused = limit_rate(request, identity)) co_return refused;
  auto executor = co_await net::this_coro::executor;
  auto stream_box = std::make_shared<outbox>(executor, options.write_queue_bytes, options.slow_reader_grace);
  if (!entry->router->set_get_stream(stream_box)) {
    co_return json_error(request, http::status::conflict, -32000, "Conflict: this session already has a GET stream");
  }
  http::response<http::empty_body> head{http::status::ok, request.version()};
  head.set(http::field::server, "bookmcp");
  head.set(http::field::content_type, "text/event-stream");
  head.set(http::field::cache_control, "no-cache");
  allow_cross_origin(request, head);
  event_stream_body body_out(stream, request.version());
  body_out.frame(head, request.keep_alive());
  http::response_serializer<http::empty_body> serializer{head};
  boost::system::error_code error;
  stream.expires_never();
  co_await http::async_write_header(stream, serializer, net::redirect_error(net::use_awaitable, error));
  using namespace net::experimental::awaitable_operators;
  bool peer_gone = false;
  while (!error) {
    bool idle = false;
    // Watching the socket too: a client that dropped the stream is noticed at once (it used
    // to be noticed by the next keep-alive write, up to 30 s later, its reconnects getting
    // 409 meanwhile).
    auto got =
        co_await (stream_box->pop(kSseKeepAlive, &idle) || wait_peer_closed(stream.socket()));
    if (got.index() == 1) {
      peer_gone = true;
      break;
    }
    auto message = std::get<0>(std::move(got));
    std::string chunk;
    if (message) {
      chunk = sse_event(message->text);
    } else if (idle) {
      chunk = ": keep-alive\n\n";  // a comment; also detects a vanished peer
    } else {
      break;  // session ended
    }
    co_await body_out.write(chunk, error);
    entry->last_used = std::chrono::steady_clock::now();
  }
  entry->router->clear_get_stream(stream_box);
  if (!error && !peer_gone) co_await body_out.finish(error);
  stream.socket().close();
  co_return std::nullopt;
}

http_server::impl::response http_server::impl::handle_delete(http::request<http::string_body>& request,
                                                             const std::string& identity) {
  std::optional<response> failure;
  auto entry = find_session(request, identity, failure);
  if (!entry) return *failure;
  end_session(entry->session->id(), entry);
  auto out = make_response(request, http::status::ok, "");
  out.erase(http::field::content_type);
  return out;
}

net::awaitable<std::optional<http_server::impl::response>> http_server::impl::handle_mcp(
    beast::tcp_stream& stream, http::request<http::string_body>& request, const std::string& identity) {
  switch (request.method()) {
    case http::verb::post:
      co_return co_await handle_post(stream, request, identity);
    case http::verb::get:
      co_return co_await handle_get(stream, request, identity);
    case http::verb::delete_:
      co_return handle_delete(request, identity);
    default: {
      auto out = json_error(request, http::status::method_not_allowed, -32000, "Method Not Allowed: use POST, GET or DELETE");
      out.set(http::field::allow, "GET, POST, DELETE");
      co_return out;
    }
  }
}

// ---------------------------------------------------------------------------------------
// WebSocket

namespace {

// The sink of one WebSocket connection: every message goes to the connection's outbox.
class websocket_sink final : public mcp::message_sink {
 public:
  explicit websocket_sink(std::shared_ptr<outbox> box) : box_(std::move(box)) {}
  bool send(std::string message, const mcp::outbound_route& route) override {
    return box_->push(std::move(message), route.type);
  }
  void close() override { box_->close(); }

 private:
  std::shared_ptr<outbox> box_;
};

}  // namespace

net::awaitable<void> http_server::impl::run_websocket(beast::tcp_stream stream,
                                                      http::request<http::string_body> request,
                                                      std::string identity) {
  // The client must offer the "mcp" subprotocol; we answer with it.
  const std::string_view offered = request[http::field::sec_websocket_protocol];
  bool offers_mcp = false;
  for (std::string_view rest = offered; !rest.empty();) {
    const auto comma = rest.find(',');
    std::string_view item = rest.substr(0, comma);
    while (!item.empty() && item.front() == ' ') item.remove_prefix(1);
    while (!item.empty() && item.back() == ' ') item.remove_suffix(1);
    offers_mcp = offers_mcp || item == "mcp";
    rest = comma == std::string_view::npos ? std::string_view() : rest.substr(comma + 1);
  }
  if (!offered.empty() && !offers_mcp) {
    reject("subprotocol");
    auto out = json_error(request, http::status::bad_request, -32000,
                          "Bad Request: the WebSocket subprotocol \"mcp\" is required");
    boost::system::error_code error;
    co_await http::async_write(stream, out, net::redirect_error(net::use_awaitable, error));
    co_return;
  }

  websocket::stream<beast::tcp_stream> ws(std::move(stream));
  beast::get_lowest_layer(ws).expires_never();
  websocket::stream_base::timeout timeouts{};
  timeouts.handshake_timeout = std::chrono::seconds(30);
  timeouts.idle_timeout = options.idle_timeout;
  timeouts.keep_alive_pings = true;
  ws.set_option(timeouts);
  ws.read_message_max(options.max_message_bytes);
  ws.set_option(websocket::stream_base::decorator([offers_mcp](websocket::response_type& response) {
    response.set(http::field::server, "bookmcp");
    if (offers_mcp) response.set(http::field::sec_websocket_protocol, "mcp");
  }));
  boost::system::error_code error;
  co_await ws.async_accept(request, net::redirect_error(net::use_awaitable, error));
  if (error) co_return;

  auto executor = co_await net::this_coro::executor;
  auto box = std::make_shared<outbox>(executor, options.write_queue_bytes, options.slow_reader_grace);
  auto session = server.open_session(std::make_shared<websocket_sink>(box),
                                     {.identity = identity, .transport = "websocket", .session_id = {}});
  // Set by whoever decides to close; shared with the shutdown hook, which may outlive us.
  auto close_reason = std::make_shared<std::optional<websocket::close_reason>>();
  std::uint64_t handle_id;
  {
    std::lock_guard lock(websockets_mutex);
    handle_id = next_websocket++;
    websockets[handle_id].close_going_away = [executor, box, close_reason] {
      net::post(executor, [box, close_reason] {
        if (!*close_reason) *close_reason = websocket::close_reason(websocket::close_code::going_away, "server shutting down");
        box->close();
      });
    };
  }

  // Writer: drains the outbox; a closed outbox ends the connection with the chosen reason.
  // While answers queue up behind the one being written the socket is corked, so that a
  // backlog leaves in full segments rather than one packet (and one ACK) per message.
  auto writer = [&]() -> net::awaitable<void> {
    bool corked = false;
    const auto cork = [&](bool on) {
      const int value = on ? 1 : 0;
      ::setsockopt(beast::get_lowest_layer(ws).socket().native_handle(), IPPROTO_TCP, TCP_CORK, &value,
                   sizeof value);
      corked = on;
    };
    for (;;) {
      auto message = co_await box->pop();
      if (!message) break;
      if (!corked && box->backlog()) cork(true);
      ws.text(true);
      boost::system::error_code write_error;
      co_await ws.async_write(net::buffer(message->text), net::redirect_error(net::use_awaitable, write_error));
      if (write_error) {
        box->close();
        co_return;
      }
      if (corked && !box->backlog()) cork(false);
    }
    if (corked) cork(false);
    if (box->overflowed() && !*close_reason) {
      reject("slow_reader");
      *close_reason = websocket::close_reason(websocket::close_code::policy_error, "client reads too slowly");
    }
    if (!*close_reason) *close_reason = websocket::close_reason(websocket::close_code::normal);
    boost::system::error_code close_error;
    co_await ws.async_close(**close_reason, net::redirect_error(net::use_awaitable, close_error));
  };

  auto reader = [&]() -> net::awaitable<void> {
    beast::flat_buffer buffer;
    for (;;) {
      // Back-pressure: do not take new work while the peer is not reading our answers.
      while (box->bytes() > box->limit() / 2 && !box->closed()) {
        net::steady_timer pause(executor, std::chrono::milliseconds(5));
        co_await pause.async_wait(net::use_awaitable);
      }
      boost::system::error_code read_error;
      co_await ws.async_read(buffer, net::redirect_error(net::use_awaitable, read_error));
      if (read_error) {
        if (read_error == websocket::error::message_too_big) {
          reject("message_too_big");
          *close_reason = websocket::close_reason(websocket::close_code::too_big, "message exceeds the size limit");
        }
        break;
      }
      if (!ws.got_text()) {
        reject("binary_frame");
        *close_reason = websocket::close_reason(websocket::close_code::unknown_data, "binary frames are not supported; send JSON text");
        break;
      }
      std::string text = beast::buffers_to_string(buffer.data());
      buffer.consume(buffer.size());
      if (options.rate_limit > 0) {
        // A batch costs one token per request in it, and is refused whole.
        std::vector<mcp::request_id> batch_requests;
        const bool batch = starts_a_batch(text);
        if (batch) batch_requests = request_ids_in_batch(text);
        const double cost =
            batch ? static_cast<double>(std::max<std::size_t>(1, batch_requests.size())) : 1.0;
        if (auto decision = limiter.acquire(identity, cost); !decision.allowed) {
          // Only requests count: notifications (cancellations) and responses always pass.
          std::optional<mcp::request_id> single;
          if (!batch) {
            mcp::incoming_message parsed = mcp::parse_message(text);
            if (parsed.type != mcp::incoming_message::kind::request) {
              session->handle_message(text);
              continue;
            }
            single = parsed.id;
          } else if (batch_requests.empty()) {
            session->handle_message(text);
            continue;
          }
          reject("rate_limited");
          const mcp::rpc_error refusal =
              decision.retry_after.count() == 0
                  ? mcp::rpc_error(-32000, batch_over_burst_message(cost, limiter.burst()))
                  : mcp::rpc_error(-32000,
                                   "Rate limit exceeded: at most " +
                                       fmt::format("{}", limiter.rate()) +
                                       " requests per second per identity; retry after " +
                                       std::to_string(decision.retry_after.count()) + " ms",
                                   {{"retryAfterMs", decision.retry_after.count()}});
          if (!batch) {
            box->push(mcp::make_error(single, refusal), mcp::outbound_route::kind::response);
          } else {
            std::vector<std::string> answers;
            for (const auto& id : batch_requests) answers.push_back(mcp::make_error(id, refusal));
            box->push(mcp::join_batch(answers), mcp::outbound_route::kind::response);
          }
          continue;
        }
      }
      session->handle_message(text);
    }
    box->close();
  };

  using namespace net::experimental::awaitable_operators;
  co_await (reader() && writer());
  // The connection is gone: cancel everything in flight for it.
  session->close();
  std::lock_guard lock(websockets_mutex);
  websockets.erase(handle_id);
}

// ---------------------------------------------------------------------------------------
// Connections

net::awaitable<void> http_server::impl::run_connection(tcp::socket socket) {
  struct connection_count {
    std::atomic<std::size_t>& count;
    ~connection_count() { --count; }
  } counted{connections};
  beast::tcp_stream stream(std::move(socket));
  beast::flat_buffer buffer;
  for (;;) {
    http::request_parser<http::string_body> parser;
    parser.body_limit(options.max_message_bytes);
    parser.header_limit(16 * 1024);
    stream.expires_after(options.idle_timeout);
    boost::system::error_code error;
    // The head first: a client sending "Expect: 100-continue" (curl does for bodies over 1 KiB)
    // waits for "100 Continue" before it sends the body. A body that is already in `buffer`
    // (nearly always) is then parsed without another read from the socket.
    co_await http::async_read_header(stream, buffer, parser,
                                     net::redirect_error(net::use_awaitable, error));
    if (!error && !parser.is_done()) {
      const auto& head = parser.get();
      if (head.version() >= 11 && beast::iequals(head[http::field::expect], "100-continue")) {
        // A request that will be refused (origin, host, credentials) is refused now, before
        // its body is sent; the connection then closes (the body may still come).
        std::string identity;
        if (path_of(head.target()) == kMcpPath) {
          if (auto refusal = admit(head, identity)) {
            refusal->keep_alive(false);
            boost::system::error_code ignored;
            co_await write_response(stream, *refusal, ignored);
            stream.socket().shutdown(tcp::socket::shutdown_send, ignored);
            break;
          }
        }
        http::response<http::empty_body> proceed{http::status::continue_, 11};
        co_await http::async_write(stream, proceed, net::redirect_error(net::use_awaitable, error));
      }
      if (!error)
        co_await http::async_read(stream, buffer, parser,
                                  net::redirect_error(net::use_awaitable, error));
    }
    // A request refused before it was read whole is answered, then the connection closes: too
    // big (413), or not HTTP (a bad request line, conflicting or malformed lengths: 400; too
    // many header bytes: 431). Other read errors (the peer left) just close it.
    if (error && error.category() == http::make_error_code(http::error::body_limit).category() &&
        error != http::error::end_of_stream && error != http::error::partial_message) {
      const bool too_big = error == http::error::body_limit;
      const bool long_headers = error == http::error::header_limit;
      reject(too_big ? "message_too_big" : "malformed_http");
      http::request<http::string_body> head;
      head.version(11);
      auto out =
          too_big
              ? json_error(head, http::status::payload_too_large, mcp::error_code::invalid_request,
                           "Payload Too Large: the message exceeds the " +
                               std::to_string(options.max_message_bytes / 1024) + " KiB limit")
          : long_headers
              ? json_error(head, http::status::request_header_fields_too_large, -32000,
                           "Request Header Fields Too Large: the headers exceed 16 KiB")
              : json_error(head, http::status::bad_request, -32000,
                           "Bad Request: malformed HTTP request (" + error.message() + ")");
      out.keep_alive(false);
      boost::system::error_code ignored;
      co_await write_response(stream, out, ignored);
      stream.socket().shutdown(tcp::socket::shutdown_send, ignored);
      if (too_big) {
        // Lingering close: the client may still be sending the oversized body. Closing now
        // would reset the connection and lose the 413; discard what arrives for a bounded
        // time and amount first.
        stream.expires_after(std::chrono::seconds(2));
        std::vector<char> discard(64 * 1024);
        for (std::size_t drained = 0; drained < 64 * 1024 * 1024;) {
          const std::size_t got = co_await stream.async_read_some(
              net::buffer(discard), net::redirect_error(net::use_awaitable, ignored));
          if (ignored || got == 0) break;
          drained += got;
        }
      }
      break;
    }
    if (error) break;
    http::request<http::string_body> request = parser.release();
    stream.expires_never();
    const std::string_view path = path_of(request.target());

    std::optional<response> out;
    if (path == kMcpPath && request.method() == http::verb::options) {
      out = preflight(request);
    } else if (path == kMcpPath) {
      std::string identity;
      out = admit(request, identity);
      if (!out) {
        if (websocket::is_upgrade(request)) {
          co_await run_websocket(std::move(stream), std::move(request), std::move(identity));
          co_return;
        }
        out = co_await handle_mcp(stream, request, identity);
        if (!out) {
          if (!stream.socket().is_open()) co_return;
          continue;  // the handler wrote its own (streamed) response
        }
      }
    } else {
      bool handled = false;
      out = ops_route(request, handled);
      if (!handled) reject("not_found");
    }
    // Refusals too: a page of an allowed origin may read why (401 and its challenge, 429);
    // a 403 is for an origin or host that is not allowed.
    if (path == kMcpPath && out->result() != http::status::forbidden &&
        out->find(http::field::access_control_allow_origin) == out->end())
      allow_cross_origin(request, *out);
    const bool keep_alive = out->keep_alive() && !stopping;
    out->keep_alive(keep_alive);
    co_await write_response(stream, *out, error);
    if (error || !keep_alive) break;
  }
  boost::system::error_code ignored;
  stream.socket().shutdown(tcp::socket::shutdown_send, ignored);
}

namespace {

// The response's bytes: status line, fields, body (what beast's serializer writes, in one
// buffer).
std::string serialize(const http::response<http::string_body>& out) {
  std::string bytes;
  bytes.reserve(128 + out.body().size());
  bytes += "HTTP/";
  bytes += static_cast<char>('0' + out.version() / 10);
  bytes += '.';
  bytes += static_cast<char>('0' + out.version() % 10);
  bytes += ' ';
  bytes += std::to_string(out.result_int());
  bytes += ' ';
  const auto reason = out.reason();
  bytes.append(reason.data(), reason.size());
  bytes += "\r\n";
  for (const auto& field : out) {
    const auto name = field.name_string();
    const auto value = field.value();
    bytes.append(name.data(), name.size());
    bytes += ": ";
    bytes.append(value.data(), value.size());
    bytes += "\r\n";
  }
  bytes += "\r\n";
  bytes += out.body();
  return bytes;
}

}  // namespace

net::awaitable<void> http_server::impl::write_response(beast::tcp_stream& stream,
                                                       const http::response<http::string_body>& out,
                                                       boost::system::error_code& error) {
  const std::string bytes = serialize(out);
  // Most answers fit in the socket's buffer: written at once, without an asynchronous write
  // and its timer. What the socket does not take now is written asynchronously, within 30 s.
  auto& socket = stream.socket();
  std::size_t written = 0;
  if (!socket.non_blocking()) socket.non_blocking(true, error);
  if (!error) {
    written = socket.write_some(net::buffer(bytes), error);
    if (error == net::error::would_block || error == net::error::try_again) error = {};
    if (error) co_return;
  }
  error = {};
  if (written == bytes.size()) co_return;
  stream.expires_after(std::chrono::seconds(30));
  co_await net::async_write(stream, net::buffer(bytes.data() + written, bytes.size() - written),
                            net::redirect_error(net::use_awaitable, error));
  stream.expires_never();
}

net::awaitable<void> http_server::impl::accept_loop() {
  for (;;) {
    boost::system::error_code error;
    tcp::socket socket(net::make_strand(io));
    co_await acceptor.async_accept(socket, net::redirect_error(net::use_awaitable, error));
    if (error) {
      if (!acceptor.is_open() || stopping) co_return;
      spdlog::warn("accept failed: {}", error.message());
      if (error == net::error::no_descriptors) {
        net::steady_timer pause(io, std::chrono::milliseconds(50));
        co_await pause.async_wait(net::redirect_error(net::use_awaitable, error));
      }
      continue;
    }
    if (connections.load() >= options.max_connections) {
      reject("too_many_connections");
      socket.close(error);
      continue;
    }
    ++connections;
    socket.set_option(tcp::no_delay(true), error);
    auto executor = socket.get_executor();
    net::co_spawn(executor, run_connection(std::move(socket)), [](std::exception_ptr failure) {
      if (!failure) return;
      try {
        std::rethrow_exception(failure);
      } catch (const std::exception& exception) {
        spdlog::error("connection failed: {}", exception.what());
      }
    });
  }
}

bool http_server::impl::make_room_for_a_session() {
  std::shared_ptr<http_session_entry> evicted;
  {
    std::lock_guard lock(sessions_mutex);
    if (sessions.size() < options.max_http_sessions) return true;
    auto oldest = sessions.end();
    for (auto it = sessions.begin(); it != sessions.end(); ++it) {
      if (it->second->router->busy()) continue;
      if (oldest == sessions.end() || it->second->last_used < oldest->second->last_used)
        oldest = it;
    }
    if (oldest == sessions.end()) return false;
    evicted = oldest->second;
    sessions.erase(oldest);
  }
  spdlog::info("session {} ended to make room: {} sessions are open", evicted->session->id(),
               options.max_http_sessions);
  close_entry(*evicted);
  return true;
}

net::awaitable<void> http_server::impl::reap_sessions() {
  for (;;) {
    reaper.expires_after(std::chrono::seconds(30));
    boost::system::error_code error;
    co_await reaper.async_wait(net::redirect_error(net::use_awaitable, error));
    if (error || stopping) co_return;
    const auto cutoff = std::chrono::steady_clock::now() - options.http_session_idle;
    std::vector<std::shared_ptr<http_session_entry>> expired;
    {
      std::lock_guard lock(sessions_mutex);
      std::erase_if(sessions, [&](const auto& item) {
        const bool idle = item.second->last_used < cutoff && !item.second->router->busy();
        if (idle) expired.push_back(item.second);
        return idle;
      });
    }
    for (const auto& entry : expired) {
      spdlog::info("session {} expired after {} s without use", entry->session->id(), options.http_session_idle.count());
      close_entry(*entry);
    }
  }
}

void http_server::impl::start() {
  const auto address = net::ip::make_address(options.host == "localhost" ? "127.0.0.1" : options.host);
  const tcp::endpoint endpoint(address, options.port);
  try {
    acceptor.open(endpoint.protocol());
    acceptor.set_option(net::socket_base::reuse_address(true));
    acceptor.bind(endpoint);
    acceptor.listen(net::socket_base::max_listen_connections);
  } catch (const boost::system::system_error& error) {
    throw std::runtime_error("cannot listen on " + options.host + ":" + std::to_string(options.port) + ": " +
                             error.code().message());
  }
  auto log_failure = [](const char* what) {
    return [what](std::exception_ptr failure) {
      if (!failure) return;
      try {
        std::rethrow_exception(failure);
      } catch (const std::exception& exception) {
        spdlog::critical("{} stopped: {}", what, exception.what());
      }
    };
  };
  net::co_spawn(io, accept_loop(), log_failure("accept loop"));
  net::co_spawn(io, reap_sessions(), log_failure("session reaper"));
  for (std::size_t i = 0; i < std::max<std::size_t>(1, options.io_threads); ++i) {
    threads.emplace_back([this] {
      const mcp::non_blocking_scope io_thread;
      io.run();
    });
  }
}

void http_server::impl::do_shutdown() {
  std::call_once(shutdown_once, [this] {
    stopping = true;
    net::post(io, [this] {
      boost::system::error_code ignored;
      acceptor.close(ignored);
      reaper.cancel();
    });
    // Let in-flight calls finish within the grace period, then cancel them.
    server.shutdown(options.shutdown_grace);
    {
      std::lock_guard lock(websockets_mutex);
      for (auto& [id, handle] : websockets) handle.close_going_away();
    }
    std::vector<std::shared_ptr<http_session_entry>> all;
    {
      std::lock_guard lock(sessions_mutex);
      for (auto& [id, entry] : sessions) all.push_back(entry);
      sessions.clear();
    }
    for (auto& entry : all) entry->router->close();
    // Give the close frames and final chunks a moment to leave, then stop.
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(2);
    while (std::chrono::steady_clock::now() < deadline) {
      {
        std::lock_guard lock(websockets_mutex);
        if (websockets.empty()) break;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    stop_io();
  });
}

void http_server::impl::stop_io() {
  io.stop();
  for (auto& thread : threads) {
    if (thread.joinable()) thread.join();
  }
  // The watched descriptors belong to others: given back, not closed.
  for (auto& target : watched) {
    target->descriptor.release();
    if (target->on_stop) target->on_stop();
  }
  watched.clear();
}

// ---------------------------------------------------------------------------------------

http_server::http_server(mcp::server& server, listen_options options)
    : impl_(std::make_shared<impl>(server, std::move(options))) {}

http_server::~http_server() { shutdown(); }

void http_server::start() { impl_->start(); }

unsigned short http_server::port() const {
  boost::system::error_code error;
  return impl_->acceptor.local_endpoint(error).port();
}

void http_server::run_until_signal() {
  net::io_context signals_io;
  net::signal_set signals(signals_io, SIGINT, SIGTERM);
  signals.async_wait([](const boost::system::error_code&, int number) {
    spdlog::info("received signal {}; shutting down", number);
  });
  signals_io.run();
  shutdown();
}

void http_server::shutdown() { impl_->do_shutdown(); }

void http_server::watch_descriptor(int fd, std::function<void()> on_readable,
                                   std::function<void()> on_stop) {
  auto target = std::make_shared<impl::watched_descriptor>(impl::watched_descriptor{
      net::posix::stream_descriptor(impl_->io, fd), std::move(on_readable), std::move(on_stop)});
  impl_->watched.push_back(target);
  impl_->arm(target);
  // Whatever was ready before the wait was armed.
  net::post(impl_->io, [target] { target->on_readable(); });
}

}  // namespace bookmcp::transport
