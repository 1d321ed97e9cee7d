// The Streamable HTTP transport on /mcp: POST (requests, answered as JSON or as an event
// stream), GET (the session's event stream), DELETE (ends the session), and the lookup of the
// session an Mcp-Session-Id names. The per-session router is in detail/http_impl.hpp.

#include <sys/socket.h>

#include <boost/asio/experimental/awaitable_operators.hpp>
#include <cerrno>
#include <variant>

#include "transport/detail/http_impl.hpp"

#include "mcp/base64.hpp"
#include "mcp/stateless.hpp"

namespace bookmcp::transport {

namespace {

constexpr auto kSseKeepAlive = std::chrono::seconds(15);

// The body of a text/event-stream answer: chunked for HTTP/1.1; for HTTP/1.0, which knows no
// Transfer-Encoding (RFC 9112 section 6.1), plain bytes ended by closing the connection.
// A write that the peer has not taken within `write_timeout` closes the connection (the
// stream's expiry): a client that stopped reading in the middle of an event, with nothing
// queued behind it to overflow the stream's outbox, would otherwise hold it for ever.
class event_stream_body {
 public:
  event_stream_body(beast::tcp_stream& stream, unsigned version,
                    std::chrono::steady_clock::duration write_timeout)
      : stream_(stream), chunked_(version >= 11), write_timeout_(write_timeout) {}
  // Sets the head's framing: chunked, or close-delimited.
  void frame(http::response<http::empty_body>& head, bool keep_alive) const {
    head.keep_alive(chunked_ && keep_alive);
    head.chunked(chunked_);
  }
  bool chunked() const { return chunked_; }
  net::awaitable<void> write(std::string_view data, boost::system::error_code& error) {
    if (chunked_) {
      co_await send(http::make_chunk(net::buffer(data)), error);
    } else {
      co_await send(net::buffer(data), error);
    }
  }
  net::awaitable<void> finish(boost::system::error_code& error) {
    if (chunked_) co_await send(http::make_chunk_last(), error);
  }

 private:
  template <class Buffers>
  net::awaitable<void> send(const Buffers& buffers, boost::system::error_code& error) {
    stream_.expires_after(write_timeout_);
    co_await net::async_write(stream_, buffers, net::redirect_error(net::use_awaitable, error));
    stream_.expires_never();
  }

  beast::tcp_stream& stream_;
  bool chunked_;
  std::chrono::steady_clock::duration write_timeout_;
};

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

}  // namespace

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

// The Base64 sentinel of an Mcp-Name header ("=?base64?...?="), decoded; the value as it is
// otherwise. Nullopt for a sentinel whose Base64 is not valid.
std::optional<std::string> decode_header_value(std::string_view value) {
  constexpr std::string_view prefix = "=?base64?";
  constexpr std::string_view suffix = "?=";
  if (value.size() < prefix.size() + suffix.size() || value.substr(0, prefix.size()) != prefix ||
      value.substr(value.size() - suffix.size()) != suffix) {
    return std::string(value);
  }
  return mcp::base64_decode(value.substr(prefix.size(), value.size() - prefix.size() - suffix.size()));
}

std::string_view header_or_empty(const http::request<http::string_body>& request, std::string_view name,
                                 bool& present) {
  const auto it = request.find(name);
  present = it != request.end();
  return present ? trim_spaces(it->value()) : std::string_view();
}

}  // namespace

mcp_request_headers read_mcp_headers(const http::request<http::string_body>& request) {
  mcp_request_headers out;
  for (const auto& field : request) {
    if (field.name() != http::field::unknown) continue;
    const auto name = field.name_string();
    const auto take = [&](std::optional<std::string_view>& slot) {
      if (!slot) slot = trim_spaces(field.value());
    };
    if (beast::iequals(name, "Mcp-Session-Id")) {
      out.session_id = true;
    } else if (beast::iequals(name, "MCP-Protocol-Version")) {
      take(out.version);
    } else if (beast::iequals(name, "Mcp-Method")) {
      take(out.method);
    } else if (beast::iequals(name, "Mcp-Name")) {
      take(out.name);
    }
  }
  return out;
}

bool http_server::impl::is_stateless_post(const mcp_request_headers& headers, const json& body) {
  if (!body.is_object() || headers.session_id) return false;
  return mcp::is_stateless_message(body) || headers.version == mcp::stateless_protocol_version;
}

std::optional<http_server::impl::response> http_server::impl::check_stateless_headers(
    const http::request<http::string_body>& request, const mcp_request_headers& headers, const json& body) {
  // Checked in the order the revision gives: the version header, then (once the body names
  // its version) that they agree, then the method and name headers. A body without its
  // version is refused by the session (-32602), after these.
  const auto id_field = body.find("id");
  const auto mismatch = [&](const std::string& message) {
    const auto id = id_field != body.end() ? mcp::request_id::from_json(*id_field) : std::nullopt;
    return make_response(request, http::status::bad_request,
                         mcp::make_error(id, mcp::rpc_error(mcp::error_code::header_mismatch,
                                                            "Header mismatch: " + message)));
  };
  if (!headers.version) return mismatch("the MCP-Protocol-Version header is missing");
  const std::string_view version = *headers.version;
  if (const auto meta_version = mcp::meta_protocol_version(body); meta_version && *meta_version != version) {
    return mismatch("MCP-Protocol-Version is \"" + mcp::printable_excerpt(version, 64) +
                    "\" but the body's _meta names \"" + mcp::printable_excerpt(*meta_version, 64) + "\"");
  }
  if (id_field == body.end()) return std::nullopt;  // a notification: no method headers defined
  std::string_view method;
  if (const auto field = body.find("method"); field != body.end() && field->is_string())
    method = field->get_ref<const std::string&>();
  if (!headers.method) return mismatch("the Mcp-Method header is missing");
  const std::string_view method_header = *headers.method;
  if (method_header != method) {
    return mismatch("Mcp-Method is \"" + mcp::printable_excerpt(method_header, 64) + "\" but the body's method is \"" +
                    mcp::printable_excerpt(method, 64) + "\"");
  }
  const char* name_field = method == "tools/call" || method == "prompts/get"  ? "name"
                           : method == "resources/read"                       ? "uri"
                           : method == "tasks/get" || method == "tasks/update" ||
                                   method == "tasks/cancel"
                               ? "taskId"
                               : nullptr;
  if (!name_field) return std::nullopt;
  if (!headers.name) return mismatch("the Mcp-Name header is missing");
  const auto decoded = decode_header_value(*headers.name);
  if (!decoded) return mismatch("the Mcp-Name header's Base64 value is not valid");
  const auto params = body.find("params");
  std::string_view expected;
  if (params != body.end() && params->is_object()) {
    if (const auto named = params->find(name_field); named != params->end() && named->is_string())
      expected = named->get_ref<const std::string&>();
  }
  if (*decoded != expected) {
    return mismatch("Mcp-Name is \"" + mcp::printable_excerpt(*decoded, 128) + "\" but the body's " + name_field +
                    " is \"" + mcp::printable_excerpt(expected, 128) + "\"");
  }
  if (method != "tools/call" || params == body.end() || !params->is_object()) return std::nullopt;
  // The arguments the tool's schema marks with x-mcp-header travel in Mcp-Param-<name> too.
  const json* arguments = nullptr;
  if (auto it = params->find("arguments"); it != params->end() && it->is_object()) arguments = &*it;
  for (const auto& parameter : server.header_parameters(expected)) {
    const json* value = arguments;
    for (const auto& step : parameter.path) {
      if (!value || !value->is_object()) {
        value = nullptr;
        break;
      }
      const auto next = value->find(step);
      value = next == value->end() ? nullptr : &*next;
    }
    if (!value || value->is_null()) continue;  // no value: no header expected
    const std::string header_name = "Mcp-Param-" + parameter.header;
    bool present = false;
    const std::string_view raw = header_or_empty(request, header_name, present);
    if (!present) return mismatch("the " + header_name + " header is missing (the argument is in the body)");
    const auto header_value = decode_header_value(raw);
    if (!header_value) return mismatch("the " + header_name + " header's Base64 value is not valid");
    bool same = false;
    if (value->is_string()) {
      same = *header_value == value->get_ref<const std::string&>();
    } else if (value->is_boolean()) {
      same = *header_value == (value->get<bool>() ? "true" : "false");
    } else if (value->is_number()) {
      const auto parsed = mcp::parse_json_text(*header_value);
      same = parsed && parsed->is_number() && parsed->get<double>() == value->get<double>();
    }
    if (!same) return mismatch("the " + header_name + " header does not match the argument in the body");
  }
  return std::nullopt;
}

http::status http_server::impl::stateless_status(std::string_view answer) {
  // Only errors change the status; a result is 200. The code sits near the start of an error.
  if (answer.find("\"error\"") == std::string_view::npos) return http::status::ok;
  const auto parsed = mcp::parse_json_text(answer);
  if (!parsed || !parsed->is_object() || !parsed->contains("error")) return http::status::ok;
  const auto& error = (*parsed)["error"];
  if (!error.is_object() || !error.contains("code") || !error["code"].is_number_integer()) return http::status::ok;
  return static_cast<http::status>(mcp::http_status_for_stateless_error(error["code"].get<int>()));
}

net::awaitable<std::optional<http_server::impl::response>> http_server::impl::handle_post(
    beast::tcp_stream& stream, http::request<http::string_body>& request, const std::string& identity,
    transient_session_slot& connection_session) {
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
  // A 2026-07-28 request: no session; a session of its own for this one request, closed with
  // its answer (its slot), its identity this request's own credentials.
  const mcp_request_headers headers = read_mcp_headers(request);
  const bool stateless = is_stateless_post(headers, body);
  transient_session_slot transient;  // this request's session, if stateless
  if (stateless) {
    if (auto refused = check_stateless_headers(request, headers, body)) {
      reject("header_mismatch");
      co_return refused;
    }
    if (ids.empty()) {
      // The revision defines no client notification over HTTP (closing a stream cancels).
      auto out = make_response(request, http::status::accepted, "");
      out.erase(http::field::content_type);
      co_return out;
    }
    // The connection's session of its previous request when it may serve this one (same
    // caller, nothing left running in it); else a new one. Either is closed with this
    // request's answer (its slot) unless that answer hands it back to the connection.
    transient.entry = std::move(connection_session.entry);
    if (transient.entry && (transient.entry->identity != identity || !transient.entry->session->reusable())) {
      transient.release();
    }
    if (!transient.entry) {
      entry = std::make_shared<http_session_entry>();
      entry->identity = identity;
      entry->router = std::make_shared<http_router>();
      entry->session = server.open_session(
          entry->router, {.identity = identity,
                          .transport = "http",
                          .session_id = "stateless-" + std::to_string(next_stateless.fetch_add(1)),
                          .transient = true});
      transient.entry = entry;
    }
    entry = transient.entry;
  } else if (is_initialize && !headers.session_id) {
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
  const auto slow_reader_guard = stream_box->disconnect_on_overflow(disconnect_slow_reader(stream));
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
    const auto status = stateless ? stateless_status(message->text) : http::status::ok;
    auto out = make_response(request, status, std::move(message->text));
    if (stateless && entry->session->reusable()) connection_session.entry = std::move(transient.entry);
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
  head.set("X-Accel-Buffering", "no");  // reverse proxies: deliver each event at once
  allow_cross_origin(request, head);
  if (!new_session_id.empty()) head.set("Mcp-Session-Id", new_session_id);
  event_stream_body body_out(stream, request.version(), options.idle_timeout);
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
  bool peer_gone = false;
  while (!error && message) {
    const bool last = message->type == mcp::outbound_route::kind::response;
    co_await body_out.write(sse_event(message->text), error);
    if (last || error) break;
    // A long answer (a subscriptions/listen stream is never answered) keeps the connection
    // with comments and notices a client that left at once: that cancels the request.
    stream.expires_never();
    for (;;) {
      bool idle = false;
      auto got = co_await (stream_box->pop(kSseKeepAlive, &idle) || wait_peer_closed(stream.socket()));
      if (got.index() == 1) {
        peer_gone = true;
        message.reset();
        break;
      }
      message = std::get<0>(std::move(got));
      if (message || !idle) break;
      co_await body_out.write(": keep-alive\n\n", error);
      if (error) break;
    }
  }
  entry->router->remove_stream(stream_box);
  if (error || peer_gone) {
    // A client that only half-closed still reads: its body ends well-formed (a write to one
    // that is gone fails, which is all right here).
    if (!error) co_await body_out.finish(error);
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
  const auto slow_reader_guard = stream_box->disconnect_on_overflow(disconnect_slow_reader(stream));
  if (!entry->router->set_get_stream(stream_box)) {
    co_return json_error(request, http::status::conflict, -32000, "Conflict: this session already has a GET stream");
  }
  http::response<http::empty_body> head{http::status::ok, request.version()};
  head.set(http::field::server, "bookmcp");
  head.set(http::field::content_type, "text/event-stream");
  head.set(http::field::cache_control, "no-cache");
  allow_cross_origin(request, head);
  event_stream_body body_out(stream, request.version(), options.idle_timeout);
  body_out.frame(head, request.keep_alive());
  http::response_serializer<http::empty_body> serializer{head};
  boost::system::error_code error;
  stream.expires_never();
  co_await http::async_write_header(stream, serializer, net::redirect_error(net::use_awaitable, error));
  using namespace net::experimental::awaitable_operators;
  while (!error) {
    bool idle = false;
    // Watching the socket too: a client that dropped the stream is noticed at once (it used
    // to be noticed by the next keep-alive write, up to 30 s later, its reconnects getting
    // 409 meanwhile).
    auto got =
        co_await (stream_box->pop(kSseKeepAlive, &idle) || wait_peer_closed(stream.socket()));
    if (got.index() == 1) break;  // the client left (or half-closed)
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
  if (!error) co_await body_out.finish(error);  // for a client that only half-closed, too
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
    beast::tcp_stream& stream, http::request<http::string_body>& request, const std::string& identity,
    transient_session_slot& connection_session) {
  switch (request.method()) {
    case http::verb::post:
      co_return co_await handle_post(stream, request, identity, connection_session);
    case http::verb::get:
    case http::verb::delete_:
      if (request.find("Mcp-Session-Id") == request.end() &&
          trim_spaces(request["MCP-Protocol-Version"]) == mcp::stateless_protocol_version) {
        // 2026-07-28 has no GET stream (subscriptions/listen replaces it) and no session to end.
        auto out = json_error(request, http::status::method_not_allowed, -32000,
                              "Method Not Allowed: protocol 2026-07-28 uses POST only "
                              "(subscriptions/listen for change notifications)");
        out.set(http::field::allow, "POST");
        co_return out;
      }
      if (request.method() == http::verb::get) co_return co_await handle_get(stream, request, identity);
      co_return handle_delete(request, identity);
    default: {
      auto out = json_error(request, http::status::method_not_allowed, -32000, "Method Not Allowed: use POST, GET or DELETE");
      out.set(http::field::allow, "GET, POST, DELETE");
      co_return out;
    }
  }
}

}  // namespace bookmcp::transport
