// The test doubles' HTTP server: a small Beast server (coroutines, a strand per connection, two
// I/O threads), which also writes streamed bodies piece by piece. See the header for the contract.
#include "tests/testing/double_http_server.hpp"

#include <nlohmann/json.hpp>

#include <atomic>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl/ssl_stream.hpp>
#include <condition_variable>
#include <cstdio>
#include <exception>
#include <functional>
#include <map>
#include <mutex>
#include <stdexcept>
#include <string_view>
#include <thread>
#include <tuple>
#include <type_traits>
#include <utility>
#include <vector>

namespace bookmcp::testing {
namespace {

namespace net = boost::asio;
namespace ssl = net::ssl;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = net::ip::tcp;
using namespace std::chrono_literals;

constexpr auto use_tuple = net::as_tuple(net::use_awaitable);

// A request the parser refused (as opposed to a connection that ended or failed).
bool is_parse_error(const boost::system::error_code& error) {
  return error.category() == http::make_error_code(http::error::bad_method).category() &&
         error != http::error::end_of_stream && error != http::error::partial_message;
}

std::string_view trim(std::string_view text) {
  while (!text.empty() && (text.front() == ' ' || text.front() == '\t')) text.remove_prefix(1);
  while (!text.empty() && (text.back() == ' ' || text.back() == '\t')) text.remove_suffix(1);
  return text;
}

}  // namespace

struct double_http_server::impl {
  // One accepted connection; lives as long as its coroutine (and a pending close).
  template <class Stream>
  struct connection {
    connection(Stream stream_to_own, net::any_io_executor executor)
        : stream(std::move(stream_to_own)), timer(executor) {}
    Stream stream;
    net::steady_timer timer;  // a reply's delay
    bool closing = false;     // set by `close`, on the strand, so that no new wait starts

    // On the connection's strand.
    void close() {
      closing = true;
      timer.cancel();
      beast::get_lowest_layer(stream).close();
    }
  };

  // Counts a request in `open_requests` for the guard's lifetime.
  class open_request_guard {
   public:
    explicit open_request_guard(impl& owner) : owner_(&owner) { owner_->change_open_requests(+1); }
    ~open_request_guard() { release(); }
    open_request_guard(const open_request_guard&) = delete;
    open_request_guard& operator=(const open_request_guard&) = delete;
    void release() {
      if (owner_ != nullptr) owner_->change_open_requests(-1);
      owner_ = nullptr;
    }

   private:
    impl* owner_;
  };

  // Counts a streamed reply in `open_streams` for the guard's lifetime.
  class open_stream_guard {
   public:
    explicit open_stream_guard(impl& owner) : owner_(&owner) { owner_->change_open_streams(+1); }
    ~open_stream_guard() { release(); }
    open_stream_guard(const open_stream_guard&) = delete;
    open_stream_guard& operator=(const open_stream_guard&) = delete;
    void release() {
      if (owner_ != nullptr) owner_->change_open_streams(-1);
      owner_ = nullptr;
    }

   private:
    impl* owner_;
  };

  impl(double_http_server_options options_to_use, double_http_handler& handler_to_call)
      : options(std::move(options_to_use)), handler(handler_to_call) {
    if (options.tls_certificate_pem.empty() != options.tls_private_key_pem.empty())
      throw std::invalid_argument(options.name + ": TLS needs both a certificate and a key");
    if (!options.tls_certificate_pem.empty()) {
      tls.emplace(ssl::context::tls_server);
      tls->set_options(ssl::context::default_workarounds | ssl::context::no_sslv2 |
                       ssl::context::no_sslv3 | ssl::context::no_tlsv1 | ssl::context::no_tlsv1_1);
      tls->use_certificate_chain(net::buffer(options.tls_certificate_pem));
      tls->use_private_key(net::buffer(options.tls_private_key_pem), ssl::context::pem);
    }
    const tcp::endpoint endpoint(net::ip::make_address_v4("127.0.0.1"), options.port);
    acceptor.open(endpoint.protocol());
    acceptor.set_option(net::socket_base::reuse_address(true));
    acceptor.bind(endpoint);
    acceptor.listen(net::socket_base::max_listen_connections);
    port = acceptor.local_endpoint().port();

    accepting = true;
    net::co_spawn(acceptor.get_executor(), accept_loop(), [this](std::exception_ptr failure) {
      log_failure("accept loop", failure);
      std::lock_guard lock(state_mutex);
      accepting = false;
      state_changed.notify_all();
    });
    for (int i = 0; i < 2; ++i) threads.emplace_back([this] { io.run(); });
  }

  ~impl() { stop(); }

  void stop() {
    std::vector<std::function<void()>> to_close;
    {
      std::lock_guard lock(state_mutex);
      stopping = true;
      for (auto& [id, close] : closers) to_close.push_back(close);
    }
    net::post(acceptor.get_executor(), [this] {
      boost::system::error_code ignored;
      acceptor.close(ignored);
    });
    for (auto& close : to_close) close();
    {
      // Every session ends once its socket is closed; the bound only guards against a bug
      // turning into a hung test (the io_context then destroys what is left).
      std::unique_lock lock(state_mutex);
      state_changed.wait_for(lock, 10s, [this] { return sessions == 0 && !accepting; });
    }
    io.stop();
    for (auto& thread : threads)
      if (thread.joinable()) thread.join();
  }

  void log_failure(const char* what, const std::exception_ptr& failure) const {
    if (!failure) return;
    try {
      std::rethrow_exception(failure);
    } catch (const std::exception& error) {
      std::fprintf(stderr, "%s: %s failed: %s\n", options.name.c_str(), what, error.what());
    } catch (...) {
      std::fprintf(stderr, "%s: %s failed\n", options.name.c_str(), what);
    }
  }

  void change_open_requests(int delta) {
    std::lock_guard lock(state_mutex);
    open_requests += delta;
    state_changed.notify_all();
  }

  void change_open_streams(int delta) {
    std::lock_guard lock(state_mutex);
    open_streams += delta;
    state_changed.notify_all();
  }

  net::awaitable<void> accept_loop() {
    for (;;) {
      auto [error, socket] = co_await acceptor.async_accept(net::make_strand(io), use_tuple);
      if (error == net::error::operation_aborted || error == net::error::bad_descriptor ||
          !acceptor.is_open())
        co_return;
      if (error) continue;  // e.g. a connection reset before it was accepted
      connection_count.fetch_add(1);
      boost::system::error_code ignored;
      socket.set_option(tcp::no_delay(true), ignored);
      auto executor = socket.get_executor();
      if (tls) {
        using stream_type = beast::ssl_stream<beast::tcp_stream>;
        start_session(std::make_shared<connection<stream_type>>(
            stream_type(beast::tcp_stream(std::move(socket)), *tls), executor));
      } else {
        start_session(std::make_shared<connection<beast::tcp_stream>>(
            beast::tcp_stream(std::move(socket)), executor));
      }
    }
  }

  template <class Stream>
  void start_session(std::shared_ptr<connection<Stream>> state) {
    auto executor = beast::get_lowest_layer(state->stream).get_executor();
    std::uint64_t id = 0;
    {
      std::lock_guard lock(state_mutex);
      if (stopping) return;  // the socket closes with `state`
      id = next_session_id++;
      ++sessions;
      closers[id] = [weak = std::weak_ptr(state), executor] {
        if (auto alive = weak.lock()) net::post(executor, [alive] { alive->close(); });
      };
    }
    net::co_spawn(executor, serve(std::move(state)), [this, id](std::exception_ptr failure) {
      log_failure("connection", failure);
      std::lock_guard lock(state_mutex);
      closers.erase(id);
      --sessions;
      state_changed.notify_all();
    });
  }

  template <class Stream>
  static constexpr bool is_tls = !std::is_same_v<Stream, beast::tcp_stream>;

  // One connection: TLS handshake, then requests one after another (HTTP/1.1 keep-alive).
  template <class Stream>
  net::awaitable<void> serve(std::shared_ptr<connection<Stream>> state) {
    Stream& stream = state->stream;
    if constexpr (is_tls<Stream>) {
      beast::get_lowest_layer(stream).expires_after(10s);
      auto [error] = co_await stream.async_handshake(ssl::stream_base::server, use_tuple);
      if (error) co_return;  // e.g. a client that does not trust the certificate
      beast::get_lowest_layer(stream).expires_never();
    }
    beast::flat_buffer buffer;
    for (;;) {
      http::request_parser<http::string_body> parser;
      parser.body_limit(options.max_body_bytes);
      parser.header_limit(options.max_header_bytes);
      auto [header_error, header_bytes] =
          co_await http::async_read_header(stream, buffer, parser, use_tuple);
      // A Content-Length above the body limit fails the header read already, before the body.
      if (header_error == http::error::body_limit ||
          (!header_error && parser.content_length() &&
           *parser.content_length() > options.max_body_bytes)) {
        co_await refuse_and_close(state, handler.refuse_too_large(parser.get(), true));
        co_return;
      }
      if (header_error) {
        if (is_parse_error(header_error)) {
          if (auto refusal = handler.refuse_malformed(header_error))
            co_await refuse_and_close(state, std::move(*refusal));
        }
        co_return;  // the client closed, or sent something that is not HTTP
      }
      const auto& head = parser.get();
      if (beast::iequals(trim(head[http::field::expect]), "100-continue")) {
        http::response<http::empty_body> go_on{http::status::continue_, head.version()};
        if (auto [error, bytes] = co_await http::async_write(stream, go_on, use_tuple); error)
          co_return;
      }
      if (auto [error, bytes] = co_await http::async_read(stream, buffer, parser, use_tuple);
          error) {
        if (error == http::error::body_limit)
          co_await refuse_and_close(state, handler.refuse_too_large(parser.get(), false));
        co_return;
      }

      double_reply reply = answer_safely(parser.get());
      if (reply.drop) {
        auto& socket = beast::get_lowest_layer(stream).socket();
        boost::system::error_code ignored;
        socket.shutdown(tcp::socket::shutdown_both, ignored);
        socket.close(ignored);
        co_return;
      }
      // After the answer is made, so that a request seen open is already counted by the double.
      open_request_guard open(*this);
      if (reply.hang) {
        // Hold the request: read (and drop) whatever comes until the client closes or the
        // server closes the socket.
        char scratch[4096];
        for (;;) {
          auto [error, bytes] = co_await stream.async_read_some(net::buffer(scratch), use_tuple);
          if (error) co_return;
        }
      }
      if (reply.delay > 0ms) {
        if (state->closing) co_return;
        state->timer.expires_after(reply.delay);
        auto [error] = co_await state->timer.async_wait(use_tuple);
        if (error || state->closing) co_return;
      }
      if (reply.stream) {
        open.release();
        if (!co_await write_stream(state, reply)) co_return;
        continue;
      }
      const bool keep_alive = reply.response.keep_alive();
      // Counted out before the write, so that a client holding the answer sees it counted out.
      open.release();
      if (auto [error, bytes] = co_await http::async_write(stream, reply.response, use_tuple);
          error)
        co_return;
      if (!keep_alive) {
        co_await close_gracefully(state);
        co_return;
      }
    }
  }

  // Writes a streamed reply: the head, then the pieces `delay` apart, framed as the stream's
  // ending says. True when the connection may serve the next request.
  template <class Stream>
  net::awaitable<bool> write_stream(std::shared_ptr<connection<Stream>> state,
                                    double_reply& reply) {
    Stream& stream = state->stream;
    const double_stream& body = *reply.stream;
    const bool chunked =
        body.ending != double_stream_ending::close_delimited && reply.response.version() >= 11;
    http::response<http::empty_body> head{std::move(reply.response.base())};
    head.erase(http::field::content_length);
    head.erase(http::field::transfer_encoding);
    if (chunked) {
      head.chunked(true);
    } else {
      head.keep_alive(false);
    }
    const bool complete = chunked && body.ending == double_stream_ending::chunked;
    const bool keep_alive = complete && head.keep_alive();
    open_stream_guard streaming(*this);
    http::response_serializer<http::empty_body> serializer{head};
    if (auto [error, bytes] = co_await http::async_write_header(stream, serializer, use_tuple);
        error)
      co_return false;
    for (std::size_t i = 0; i < body.pieces.size(); ++i) {
      if (i > 0 && body.delay > 0ms) {
        if (state->closing) co_return false;
        state->timer.expires_after(body.delay);
        auto [error] = co_await state->timer.async_wait(use_tuple);
        if (error || state->closing) co_return false;
      }
      const std::string& piece = body.pieces[i];
      // An empty chunk would end a chunked body: nothing to write for an empty piece.
      if (piece.empty()) continue;
      boost::system::error_code error;
      if (chunked) {
        std::tie(error, std::ignore) =
            co_await net::async_write(stream, http::make_chunk(net::buffer(piece)), use_tuple);
      } else {
        std::tie(error, std::ignore) =
            co_await net::async_write(stream, net::buffer(piece), use_tuple);
      }
      if (error) co_return false;
    }
    // Counted out before the end is written, so that a client that saw the end sees it out.
    streaming.release();
    if (complete) {
      auto [error, bytes] = co_await net::async_write(stream, http::make_chunk_last(), use_tuple);
      if (error) co_return false;
      if (keep_alive) co_return true;
    }
    // Not kept alive, or a cut chunked body, or a close-delimited one (which the closing ends).
    co_await close_gracefully(state);
    co_return false;
  }

  double_reply answer_safely(const double_request& request) {
    try {
      return handler.answer(request);
    } catch (const std::exception& error) {
      std::fprintf(stderr, "%s: answering a request failed: %s\n", options.name.c_str(),
                   error.what());
      double_reply failed;
      failed.response = handler.answer_failed(request);
      return failed;
    }
  }

  // Answers a request the connection cannot go on after (its body is unread or unparsable),
  // then closes without resetting the answer away.
  template <class Stream>
  net::awaitable<void> refuse_and_close(std::shared_ptr<connection<Stream>> state,
                                        double_response response) {
    response.keep_alive(false);
    if (auto [error, bytes] = co_await http::async_write(state->stream, response, use_tuple); error)
      co_return;
    co_await close_gracefully(state);
  }

  template <class Stream>
  net::awaitable<void> close_gracefully(std::shared_ptr<connection<Stream>> state) {
    auto& lowest = beast::get_lowest_layer(state->stream);
    if constexpr (is_tls<Stream>) {
      lowest.expires_after(1s);
      co_await state->stream.async_shutdown(use_tuple);
    } else {
      // Closing with unread data in the socket would send a reset, which may reach the client
      // before it read the answer: shut down sending, then drain what the client still sends
      // (for a bounded time) until it closes.
      boost::system::error_code ignored;
      lowest.socket().shutdown(tcp::socket::shutdown_send, ignored);
      lowest.expires_after(2s);
      char scratch[16384];
      for (;;) {
        auto [error, bytes] = co_await lowest.async_read_some(net::buffer(scratch), use_tuple);
        if (error) break;
      }
    }
    lowest.close();
  }

  // Destroyed last to first: the io_context (whose leftover coroutines, if any, touch the state
  // above it) goes before the state, the acceptor before the io_context.
  const double_http_server_options options;
  double_http_handler& handler;
  std::optional<ssl::context> tls;
  std::uint16_t port = 0;

  std::atomic<std::size_t> connection_count{0};

  mutable std::mutex state_mutex;
  mutable std::condition_variable state_changed;
  std::size_t open_requests = 0;
  std::size_t open_streams = 0;
  std::size_t sessions = 0;
  bool accepting = false;
  bool stopping = false;
  std::uint64_t next_session_id = 0;
  std::map<std::uint64_t, std::function<void()>> closers;

  net::io_context io{2};
  tcp::acceptor acceptor{net::make_strand(io)};
  std::vector<std::thread> threads;
};

double_http_server::double_http_server(double_http_server_options options,
                                       double_http_handler& handler)
    : impl_(std::make_unique<impl>(std::move(options), handler)) {}

double_http_server::~double_http_server() = default;

std::uint16_t double_http_server::port() const {
  return impl_->port;
}

bool double_http_server::tls() const {
  return impl_->tls.has_value();
}

std::size_t double_http_server::connections() const {
  return impl_->connection_count.load();
}

std::size_t double_http_server::open_requests() const {
  std::lock_guard lock(impl_->state_mutex);
  return impl_->open_requests;
}

bool double_http_server::wait_for_open_requests(std::size_t count,
                                                std::chrono::milliseconds timeout) const {
  std::unique_lock lock(impl_->state_mutex);
  return impl_->state_changed.wait_for(lock, timeout,
                                       [&] { return impl_->open_requests == count; });
}

std::size_t double_http_server::open_streams() const {
  std::lock_guard lock(impl_->state_mutex);
  return impl_->open_streams;
}

bool double_http_server::wait_for_open_streams(std::size_t count,
                                               std::chrono::milliseconds timeout) const {
  std::unique_lock lock(impl_->state_mutex);
  return impl_->state_changed.wait_for(lock, timeout, [&] { return impl_->open_streams == count; });
}

double_response double_whole_response(http::status status, unsigned version, bool keep_alive,
                                      std::string body, std::string_view server,
                                      std::string_view content_type) {
  double_response response{status, version};
  response.set(http::field::server, server);
  response.set(http::field::content_type, content_type);
  response.keep_alive(keep_alive);
  response.body() = std::move(body);
  response.prepare_payload();
  return response;
}

std::string openai_error(std::string_view message, std::string_view type, std::string_view code,
                         std::string_view param) {
  using json = nlohmann::json;
  json error = {{"message", message},
                {"type", type},
                {"param", param.empty() ? json(nullptr) : json(param)},
                {"code", code.empty() ? json(nullptr) : json(code)}};
  // Text from the client may be invalid UTF-8; nlohmann would throw on it.
  return json{{"error", std::move(error)}}.dump(-1, ' ', false, json::error_handler_t::replace);
}

}  // namespace bookmcp::testing
