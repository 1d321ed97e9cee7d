#pragma once
// A small blocking HTTP/1.1 client for the outside services rag/ talks to (an OpenAI-compatible
// embeddings endpoint; Qdrant): keep-alive connections reused from a pool, TLS with certificate
// and host name verification for https URLs, a deadline per request, and cancellation through a
// std::stop_token that closes the connection at once.
//
// Beast and Asio stay in http_client.cpp: this header is included by code that must not pay
// for them.
//
// Threads: send() may be called from any number of threads at once; each request runs on its
// own pooled connection (at most `max_idle_connections` are kept between requests, more may be
// open while requests run). Errors: transport failures (name resolution, refused connection,
// TLS, timeout, cancellation, a malformed response) throw http_error; any HTTP status, 4xx and
// 5xx included, is a response, not an exception.

#include <chrono>
#include <cstddef>
#include <functional>
#include <memory>
#include <optional>
#include <stdexcept>
#include <stop_token>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace bookmcp::rag {

class http_error : public std::runtime_error {
 public:
  enum class kind {
    bad_url,    // the configured URL cannot be used (scheme, host, port)
    connect,    // name resolution, connection refused or reset before a response
    tls,        // handshake or certificate verification failed
    timeout,    // no complete response within the request's deadline
    cancelled,  // the stop token fired
    protocol,   // the peer answered something that is not HTTP/1.1, or too large
  };
  http_error(kind what_kind, const std::string& message)
      : std::runtime_error(message), kind_(what_kind) {}
  kind error_kind() const noexcept { return kind_; }

 private:
  kind kind_;
};

struct http_client_options {
  std::chrono::milliseconds timeout{30'000};  // default deadline of a whole request
  std::size_t max_idle_connections = 8;
  std::size_t max_response_bytes = 64 * 1024 * 1024;
  // A PEM file of trusted CAs for https (empty: the system's trust store).
  std::string ca_file;
};

struct http_request {
  std::string method = "POST";
  std::string target;  // path and query, appended to the base URL's path ("/embeddings")
  std::string body;
  std::vector<std::pair<std::string, std::string>> headers;  // besides Host, Content-Length
  std::chrono::milliseconds timeout{0};                      // 0: the client's default
  // When set, the body of a 2xx text/event-stream response is handed over in pieces as they
  // arrive and http_response::body stays empty; other answers are read whole as usual. Called on the sending thread; an exception thrown here ends the request.
  std::function<void(std::string_view piece)> on_body;
};

struct http_response {
  int status = 0;
  std::string body;
  std::string content_type;
  std::string retry_after;     // the Retry-After header, verbatim ("" when absent)
  std::string retry_after_ms;  // retry-after-ms (OpenAI's, in milliseconds), verbatim
  std::vector<std::pair<std::string, std::string>> headers;  // every header, as received
  // The first header of that name (case-insensitive), or "".
  std::string header(std::string_view name) const;
};

// How long to wait before retrying an answer the server asked to be retried: its
// retry-after-ms (OpenAI's), else its Retry-After in seconds; nullopt when it gives neither
// (or an HTTP-date, or more than `at_most`).
std::optional<std::chrono::milliseconds> retry_hint(
    const http_response& response, std::chrono::milliseconds at_most = std::chrono::hours(1));

// Exponential backoff with full jitter: a random delay in [0, min(cap, base * 2^attempt)].
std::chrono::milliseconds backoff_delay(int attempt, std::chrono::milliseconds base,
                                        std::chrono::milliseconds cap);

class http_client {
 public:
  // `base_url`: http://host[:port][/path] or https://...; the path prefixes every target.
  // Throws http_error(bad_url) for anything else.
  explicit http_client(const std::string& base_url, http_client_options options = {});
  ~http_client();
  http_client(const http_client&) = delete;
  http_client& operator=(const http_client&) = delete;

  http_response send(const http_request& request, std::stop_token stop = {});

  // scheme://host:port, without path or credentials: safe to log and to fingerprint.
  const std::string& origin() const noexcept;
  // Connections opened so far (to check keep-alive reuse).
  std::size_t connections_opened() const noexcept;

  struct impl;

 private:
  std::unique_ptr<impl> impl_;
};

}  // namespace bookmcp::rag
