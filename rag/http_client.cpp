#include "rag/http_client.hpp"

#include <atomic>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/ssl/context.hpp>
#include <boost/asio/ssl/error.hpp>
#include <boost/asio/ssl/host_name_verification.hpp>
#include <boost/asio/ssl/stream.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/string.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/string_body.hpp>
#include <boost/beast/http/write.hpp>
#include <boost/beast/ssl/ssl_stream.hpp>
#include <cmath>
#include <mutex>
#include <optional>
#include <random>

namespace bookmcp::rag {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;

namespace {

struct parsed_url {
  bool tls = false;
  std::string host;
  std::string port;
  std::string path;  // without a trailing '/'
};

parsed_url parse_url(const std::string& url) {
  parsed_url out;
  std::string_view rest = url;
  if (rest.starts_with("https://")) {
    out.tls = true;
    rest.remove_prefix(8);
  } else if (rest.starts_with("http://")) {
    rest.remove_prefix(7);
  } else {
    throw http_error(http_error::kind::bad_url,
                     "the URL " + url + " must start with http:// or https://");
  }
  const auto slash = rest.find('/');
  std::string_view authority = rest.substr(0, slash);
  std::string_view path = slash == std::string_view::npos ? std::string_view() : rest.substr(slash);
  if (authority.find('@') != std::string_view::npos) {
    throw http_error(http_error::kind::bad_url,
                     "the URL must not carry credentials; give the key through its own setting");
  }
  if (authority.starts_with('[')) {  // [v6]:port
    const auto close = authority.find(']');
    if (close == std::string_view::npos)
      throw http_error(http_error::kind::bad_url, "bad IPv6 host");
    out.host = std::string(authority.substr(1, close - 1));
    if (close + 1 < authority.size() && authority[close + 1] == ':')
      out.port = std::string(authority.substr(close + 2));
  } else {
    const auto colon = authority.rfind(':');
    out.host = std::string(authority.substr(0, colon));
    if (colon != std::string_view::npos) out.port = std::string(authority.substr(colon + 1));
  }
  if (out.host.empty()) {
    throw http_error(http_error::kind::bad_url, "the URL " + url + " has no host");
  }
  if (out.port.empty()) out.port = out.tls ? "443" : "80";
  for (char c : out.port) {
    if (c < '0' || c > '9') throw http_error(http_error::kind::bad_url, "bad port in " + url);
  }
  while (path.ends_with('/')) path.remove_suffix(1);
  out.path = std::string(path);
  return out;
}

// One keep-alive connection with the io_context its operations run on (a request runs that
// context on the calling thread until the request is done).
struct connection {
  asio::io_context context{1};
  std::optional<beast::tcp_stream> plain;
  std::optional<beast::ssl_stream<beast::tcp_stream>> secure;
  beast::flat_buffer buffer;
  bool used = false;  // connected and has served a request (a failure may be a stale socket)

  beast::tcp_stream& lowest() { return secure ? beast::get_lowest_layer(*secure) : *plain; }
  void close() {
    beast::error_code ignored;
    if (plain || secure) lowest().socket().close(ignored);
  }
  ~connection() { close(); }
};

bool is_stale_socket_error(const beast::error_code& error) {
  return error == http::error::end_of_stream || error == asio::error::eof ||
         error == asio::error::connection_reset || error == asio::error::broken_pipe ||
         error == http::error::partial_message;
}

}  // namespace

struct http_client::impl {
  parsed_url url;
  std::string origin;
  http_client_options options;
  std::optional<asio::ssl::context> tls_context;
  std::mutex mutex;
  std::vector<std::unique_ptr<connection>> idle;
  std::atomic<std::size_t> opened{0};

  std::unique_ptr<connection> take() {
    {
      std::lock_guard lock(mutex);
      if (!idle.empty()) {
        auto c = std::move(idle.back());
        idle.pop_back();
        return c;
      }
    }
    return std::make_unique<connection>();
  }

  void give_back(std::unique_ptr<connection> c) {
    std::lock_guard lock(mutex);
    if (idle.size() < options.max_idle_connections) idle.push_back(std::move(c));
  }

  // Creates the stream (so that the deadline also bounds connecting), then connects and, for
  // https, verifies the certificate and the host name.
  void prepare(connection& c) {
    if (tls_context) {
      c.secure.emplace(c.context, *tls_context);
      if (!SSL_set_tlsext_host_name(c.secure->native_handle(), url.host.c_str())) {
        throw http_error(http_error::kind::tls, "cannot set the TLS server name");
      }
      c.secure->set_verify_callback(asio::ssl::host_name_verification(url.host));
    } else {
      c.plain.emplace(c.context);
    }
  }

  template <typename Stream>
  static asio::awaitable<void> exchange(Stream& stream, connection& c,
                                        http::request<http::string_body>& request,
                                        http::response_parser<http::string_body>& parser,
                                        const std::function<void(std::string_view)>& on_body) {
    co_await http::async_write(stream, request, asio::use_awaitable);
    if (!on_body) {
      co_await http::async_read(stream, c.buffer, parser, asio::use_awaitable);
      co_return;
    }
    co_await http::async_read_header(stream, c.buffer, parser, asio::use_awaitable);
    const bool streamed = parser.get().result_int() / 100 == 2 &&
                          beast::iequals(parser.get()[http::field::content_type].substr(0, 17),
                                         "text/event-stream");
    while (!parser.is_done()) {
      co_await http::async_read_some(stream, c.buffer, parser, asio::use_awaitable);
      // string_body appends after what the body holds, so taking it piece by piece is safe.
      if (streamed && !parser.get().body().empty()) {
        on_body(parser.get().body());
        parser.get().body().clear();
      }
    }
  }

  asio::awaitable<void> perform(connection& c, http::request<http::string_body>& request,
                                http::response_parser<http::string_body>& parser,
                                const std::function<void(std::string_view)>& on_body) {
    if (!c.used) {
      tcp::resolver resolver(c.context);
      auto endpoints = co_await resolver.async_resolve(url.host, url.port, asio::use_awaitable);
      co_await c.lowest().async_connect(endpoints, asio::use_awaitable);
      ++opened;
      if (c.secure) {
        co_await c.secure->async_handshake(asio::ssl::stream_base::client, asio::use_awaitable);
      }
    }
    if (c.secure) {
      co_await exchange(*c.secure, c, request, parser, on_body);
    } else {
      co_await exchange(*c.plain, c, request, parser, on_body);
    }
  }
};

namespace {

std::optional<std::chrono::milliseconds> parse_delay(const std::string& value, double unit_ms,
                                                     std::chrono::milliseconds at_most) {
  if (value.empty()) return std::nullopt;
  char* end = nullptr;
  const double ms = std::strtod(value.c_str(), &end) * unit_ms;
  if (end == value.c_str() || *end != '\0' || !(ms >= 0) ||
      ms > static_cast<double>(at_most.count()))
    return std::nullopt;
  return std::chrono::milliseconds(static_cast<long long>(std::ceil(ms)));
}

}  // namespace

std::string http_response::header(std::string_view name) const {
  for (const auto& [key, value] : headers) {
    if (beast::iequals(key, name)) return value;
  }
  return {};
}

std::optional<std::chrono::milliseconds> retry_hint(const http_response& response,
                                                    std::chrono::milliseconds at_most) {
  if (auto hint = parse_delay(response.retry_after_ms, 1, at_most)) return hint;
  return parse_delay(response.retry_after, 1000, at_most);
}

std::chrono::milliseconds backoff_delay(int attempt, std::chrono::milliseconds base,
                                        std::chrono::milliseconds cap) {
  const long long ceiling = std::min<long long>(cap.count(), base.count() << std::min(attempt, 20));
  thread_local std::mt19937_64 random{std::random_device{}()};
  return std::chrono::milliseconds(
      std::uniform_int_distribution<long long>(0, std::max<long long>(ceiling, 1))(random));
}

http_client::http_client(const std::string& base_url, http_client_options options)
    : impl_(std::make_unique<impl>()) {
  impl_->url = parse_url(base_url);
  impl_->options = std::move(options);
  impl_->origin = std::string(impl_->url.tls ? "https://" : "http://") + impl_->url.host + ":" +
                  impl_->url.port;
  if (impl_->url.tls) {
    impl_->tls_context.emplace(asio::ssl::context::tls_client);
    auto& context = *impl_->tls_context;
    context.set_options(asio::ssl::context::default_workarounds | asio::ssl::context::no_sslv2 |
                        asio::ssl::context::no_sslv3 | asio::ssl::context::no_tlsv1 |
                        asio::ssl::context::no_tlsv1_1);
    context.set_verify_mode(asio::ssl::verify_peer);
    beast::error_code error;
    if (impl_->options.ca_file.empty()) {
      context.set_default_verify_paths(error);
    } else {
      context.load_verify_file(impl_->options.ca_file, error);
    }
    if (error) {
      throw http_error(
          http_error::kind::tls,
          "cannot load the trusted certificates" +
              (impl_->options.ca_file.empty() ? std::string() : " from " + impl_->options.ca_file) +
              ": " + error.message());
    }
  }
}

http_client::~http_client() = default;

const std::string& http_client::origin() const noexcept {
  return impl_->origin;
}

std::size_t http_client::connections_opened() const noexcept {
  return impl_->opened.load();
}

http_response http_client::send(const http_request& request, std::stop_token stop) {
  impl& state = *impl_;
  const auto timeout = request.timeout.count() > 0 ? request.timeout : state.options.timeout;
  const auto deadline = std::chrono::steady_clock::now() + timeout;

  http::request<http::string_body> message;
  message.method_string(request.method);
  message.target(state.url.path + request.target);
  message.version(11);
  message.set(http::field::host, state.url.host);
  message.set(http::field::user_agent, "bookmcp/" BOOKMCP_VERSION);
  for (const auto& [name, value] : request.headers) message.set(name, value);
  message.keep_alive(true);
  message.body() = request.body;
  message.prepare_payload();

  for (int attempt = 0;; ++attempt) {
    if (stop.stop_requested()) throw http_error(http_error::kind::cancelled, "request cancelled");
    std::unique_ptr<connection> c = state.take();
    const bool reused = c->used;
    if (!reused) state.prepare(*c);
    c->lowest().expires_at(deadline);
    http::response_parser<http::string_body> parser;
    parser.body_limit(state.options.max_response_bytes);
    std::exception_ptr failure;
    {
      connection& target = *c;
      // Closing the socket from the loop's own thread ends the pending operation at once.
      std::stop_callback on_stop(
          stop, [&target] { asio::post(target.context, [&target] { target.close(); }); });
      c->context.restart();
      asio::co_spawn(c->context, state.perform(*c, message, parser, request.on_body),
                     [&failure](std::exception_ptr e) { failure = e; });
      c->context.run();
    }
    if (!failure) {
      c->used = true;
      auto& response = parser.get();
      http_response out;
      out.status = static_cast<int>(response.result_int());
      out.content_type = std::string(response[http::field::content_type]);
      out.retry_after = std::string(response[http::field::retry_after]);
      out.retry_after_ms = std::string(response["retry-after-ms"]);
      out.body = std::move(response.body());
      for (const auto& field : response) {
        out.headers.emplace_back(std::string(field.name_string()), std::string(field.value()));
      }
      if (!stop.stop_requested() && response.keep_alive()) {
        c->buffer.clear();
        state.give_back(std::move(c));
      }
      return out;
    }
    if (stop.stop_requested()) throw http_error(http_error::kind::cancelled, "request cancelled");
    try {
      std::rethrow_exception(failure);
    } catch (const boost::system::system_error& e) {
      const auto code = e.code();
      // A kept-alive connection the server closed while idle: the request never reached it.
      if (reused && attempt == 0 && !parser.got_some() && is_stale_socket_error(code)) continue;
      if (code == beast::error::timeout) {
        throw http_error(http_error::kind::timeout, state.origin + " did not answer within " +
                                                        std::to_string(timeout.count()) + " ms");
      }
      if (code.category() == asio::error::get_ssl_category() ||
          code == asio::ssl::error::stream_truncated) {
        throw http_error(http_error::kind::tls,
                         "TLS with " + state.origin + " failed: " + code.message());
      }
      if (std::string_view(code.category().name()) == "beast.http") {
        throw http_error(http_error::kind::protocol,
                         state.origin + " sent an unreadable HTTP response: " + code.message());
      }
      throw http_error(http_error::kind::connect,
                       "cannot reach " + state.origin + ": " + code.message());
    }
  }
}

}  // namespace bookmcp::rag
