// The network listener. Reading guide:
//   listener (accept loop) -> run_connection (one coroutine per TCP connection, on its own
//   strand) -> either run_websocket (Upgrade on /mcp) or the HTTP routes; /mcp POST/GET/DELETE
//   are the Streamable HTTP transport, whose sessions live in the http_sessions table.
// Every connection writes through one bounded outbox (detail/outbox.hpp).
// Admission (Origin, CORS, authentication, rate limits) is in http_admission.cpp, the Streamable
// HTTP routes in streamable_http.cpp, WebSocket in websocket_session.cpp, the ops routes in
// ops_routes.cpp; the state they share (http_server::impl) in detail/http_impl.hpp.

#include "transport/http_server.hpp"

#include <spdlog/spdlog.h>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/strand.hpp>
#include <boost/beast/websocket.hpp>

#include <algorithm>
#include <csignal>
#include <cstdint>
#include <stdexcept>

#include "transport/detail/http_impl.hpp"
#include "transport/socket_options.hpp"

namespace bookmcp::transport {

namespace websocket = beast::websocket;

namespace {

constexpr std::string_view kMcpPath = "/mcp";
// What a keep-alive connection reads at once (see run_connection).
constexpr std::size_t kKeepAliveReadBytes = 4096;

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

// ---------------------------------------------------------------------------------------
// Connections

namespace {

// Feeds what `buffer` holds to `parser` without reading the socket: Beast's read operations,
// when the bytes are already there, post their completion through the scheduler (one more trip
// per request). need_more when the parser wants bytes that have not come yet.
boost::system::error_code parse_buffered(beast::flat_buffer& buffer,
                                         http::request_parser<http::string_body>& parser) {
  boost::system::error_code error;
  while (buffer.size() > 0 && !parser.is_done()) {
    const std::size_t used = parser.put(buffer.data(), error);
    buffer.consume(used);
    if (error) return error;
    if (used == 0) break;
  }
  if (!parser.is_done()) return http::error::need_more;
  return error;
}

// A HEAD answer has the header fields of the GET answer, Content-Length included, and no
// content (RFC 9110 section 9.3.2): a body would be read as the next response.
void without_body_for_head(http::verb method, http::response<http::string_body>& out) {
  if (method == http::verb::head) out.body().clear();
}

}  // namespace

net::awaitable<void> http_server::impl::run_connection(tcp::socket socket) {
  struct connection_count {
    std::atomic<std::size_t>& count;
    ~connection_count() { --count; }
  } counted{connections};
  beast::tcp_stream stream(std::move(socket));
  beast::flat_buffer buffer;
  transient_session_slot connection_session;  // see handle_post
  for (;;) {
    http::request_parser<http::string_body> parser;
    parser.body_limit(options.max_message_bytes);
    parser.header_limit(16 * 1024);
    boost::system::error_code error;
    // Between requests a connection may stay quiet for the idle timeout; once a request has
    // begun, its head must be whole within the (shorter) header timeout.
    if (buffer.size() == 0) {
      stream.expires_after(options.idle_timeout);
      const std::size_t got = co_await stream.async_read_some(
          buffer.prepare(beast::read_size(buffer, kKeepAliveReadBytes)),
          net::redirect_error(net::use_awaitable, error));
      buffer.commit(got);
      if (error) break;
    }
    stream.expires_after(options.header_timeout);
    // The head first: a client sending "Expect: 100-continue" (curl does for bodies over 1 KiB)
    // waits for "100 Continue" before it sends the body. What `buffer` holds (nearly always the
    // whole request) is parsed at once; the socket is read only for what has not come yet.
    error = parse_buffered(buffer, parser);
    if (error == http::error::need_more) {
      error = {};
      if (!parser.is_header_done())
        co_await http::async_read_header(stream, buffer, parser,
                                         net::redirect_error(net::use_awaitable, error));
    }
    // No 408 answer: the expiry has closed the socket.
    if (error == beast::error::timeout) reject("header_timeout");
    if (!error && !parser.is_done()) {
      const auto& head = parser.get();
      if (head.version() >= 11 && beast::iequals(head[http::field::expect], "100-continue")) {
        // A request that will be refused (origin, host, credentials) is refused now, before
        // its body is sent; the connection then closes (the body may still come).
        std::string identity;
        if (path_of(head.target()) == kMcpPath) {
          if (auto refusal = admit(head, identity)) {
            refusal->keep_alive(false);
            without_body_for_head(head.method(), *refusal);
            boost::system::error_code ignored;
            co_await write_response(stream, *refusal, ignored);
            stream.socket().shutdown(tcp::socket::shutdown_send, ignored);
            break;
          }
        }
        http::response<http::empty_body> proceed{http::status::continue_, 11};
        co_await http::async_write(stream, proceed, net::redirect_error(net::use_awaitable, error));
      }
      // The body's deadline moves on with what has come (see listen_options::min_body_rate).
      const auto body_started = std::chrono::steady_clock::now();
      const std::uint64_t rate = std::max<std::size_t>(1, options.min_body_rate);
      while (!error && !parser.is_done()) {
        const std::uint64_t received = parser.get().body().size();
        stream.expires_at(body_started + options.header_timeout +
                          std::chrono::milliseconds(received * 1000 / rate));
        co_await http::async_read_some(stream, buffer, parser,
                                       net::redirect_error(net::use_awaitable, error));
      }
      if (error == beast::error::timeout) reject("body_timeout");
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
      // A HEAD whose head was read whole and whose body is refused (malformed chunks) is still
      // a HEAD. One refused before its head was whole (a malformed field, a length over the
      // limit) is answered as a request of no known method; the connection closes either way.
      if (parser.is_header_done()) without_body_for_head(parser.get().method(), out);
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
        out = co_await handle_mcp(stream, request, identity, connection_session);
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
    without_body_for_head(request.method(), *out);
    co_await write_response(stream, *out, error);
    if (error || !keep_alive) break;
    // Beast reads at most max(512, free capacity) bytes at a time, and the parser moves a
    // body out of the buffer as it reads it, so the buffer never grows by itself: a request
    // over 512 bytes (any 2026-07-28 call with its _meta) would take two reads and a trip
    // through the reactor. A keep-alive connection gets room for a typical request (not
    // before its first: a WebSocket upgrade keeps this frame, and its buffer, for its life).
    if (buffer.capacity() < kKeepAliveReadBytes) buffer.reserve(kKeepAliveReadBytes);
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
    set_send_stall_timeout(socket.native_handle(), options.send_stall_timeout);
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
