// The HTTP/1.1 server the test doubles (embeddings_double, qdrant_double, llm_double) run on: it
// listens, reads requests, holds, delays or drops them as a fault says, streams a body piece by
// piece when asked, and closes every connection promptly when it stops. What a request gets is up
// to the double (`double_http_handler`).
//
// Included by the doubles' sources only: their public headers stay free of Beast and Asio.
#pragma once

#include <boost/beast/http/message.hpp>
#include <boost/beast/http/string_body.hpp>
#include <boost/system/error_code.hpp>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace bookmcp::testing {

using double_request = boost::beast::http::request<boost::beast::http::string_body>;
using double_request_header = boost::beast::http::request_header<>;
using double_response = boost::beast::http::response<boost::beast::http::string_body>;

// How a streamed body (`double_stream`) is framed and how it ends.
enum class double_stream_ending {
  // Transfer-Encoding: chunked, one chunk per non-empty piece, then the last chunk; the
  // connection then stays open when the response is keep-alive.
  chunked,
  // Chunked, but the connection is closed after the last piece without the last chunk: the
  // client sees the body broken off (a stream cut by the server or a proxy).
  chunked_cut,
  // Neither Content-Length nor chunked, `Connection: close`: the body ends when the server
  // closes the connection after the last piece, which the client reads as a complete body.
  close_delimited,
};

// A body written piece by piece after the head, as a streaming server writes server-sent events.
struct double_stream {
  std::vector<std::string> pieces;
  // Waited before every piece but the first (the head and the first piece are written at once),
  // so that the pieces of a stream take at least (pieces - 1) * delay to arrive.
  std::chrono::milliseconds delay{0};
  // An HTTP/1.0 request gets `close_delimited` whatever this says (chunked is HTTP/1.1's).
  double_stream_ending ending = double_stream_ending::chunked;
};

// What the connection does with a request read whole: write `response` after `delay`, hold the
// request (`hang`), drop the connection (`drop`), or, with `stream`, write `response`'s head
// (its body and Content-Length ignored) followed by the stream's pieces.
struct double_reply {
  double_response response;
  std::chrono::milliseconds delay{0};
  // Never answered: the connection reads and discards whatever comes until the client closes it
  // or the server stops; the request counts in `open_requests()` until then.
  bool hang = false;
  // The connection is shut down and closed right away, without an answer.
  bool drop = false;
  // A streamed body (after `delay`, if any), counted in `open_streams()` while it is written.
  // A client that closed the connection is noticed when a write fails: at the next piece or the
  // one after.
  std::optional<double_stream> stream;
};

// What a double plugs into the server. Every member is called on a connection's strand, so
// concurrently for different connections; the handler must outlive the server.
class double_http_handler {
 public:
  virtual ~double_http_handler() = default;

  // The reply to a request read whole (after `Expect: 100-continue` was answered, if asked).
  // May throw: the server logs the exception and writes `answer_failed(request)` instead.
  virtual double_reply answer(const double_request& request) = 0;
  // The answer written when `answer` threw (the double's 500).
  virtual double_response answer_failed(const double_request& request) = 0;
  // The answer to a request whose body is over the server's limit; the connection closes after
  // it (the body is left unread). `declared`: its Content-Length said so, and `head` is the whole
  // header; otherwise the body (chunked) grew over the limit while it was read.
  virtual double_response refuse_too_large(const double_request_header& head, bool declared) = 0;
  // The answer to bytes that the HTTP parser refused (`error`, e.g. a bad method or a header
  // over the limit), written before the connection closes; nothing to close without one.
  virtual std::optional<double_response> refuse_malformed(
      const boost::system::error_code& error) = 0;
};

struct double_http_server_options {
  // Names the double in what the server logs to standard error ("qdrant double: ...").
  std::string name;
  // The port to listen on (on 127.0.0.1); 0 picks a free one.
  std::uint16_t port = 0;
  // A larger request body is refused (`double_http_handler::refuse_too_large`).
  std::uint64_t max_body_bytes = 8 * 1024 * 1024;
  // A larger request header is a parse error (`double_http_handler::refuse_malformed`); 8 KiB
  // is Beast's default.
  std::uint32_t max_header_bytes = 8 * 1024;
  // Both non-empty: HTTPS with this certificate chain and private key (PEM text).
  std::string tls_certificate_pem;
  std::string tls_private_key_pem;
};

// Listens on 127.0.0.1 and serves HTTP/1.1 on two threads of its own, each connection on its own
// strand (a coroutine per connection), so clients are served concurrently. Keep-alive:
// requests on one connection are answered one after another, and `Connection: close` (or
// HTTP/1.0 without keep-alive) ends the connection after the answer, gracefully (the answer is
// not reset away by unread input). With TLS, the handshake must end within 10 s.
//
// Every member may be called from any thread. The constructor starts serving at once, so the
// handler must be ready; it throws std::invalid_argument when only one of the TLS certificate
// and key is given, and boost::system::system_error (a std::runtime_error) when it cannot listen
// or the TLS certificate or key is unusable.
// What the OpenAI-compatible doubles (embeddings, LLM) answer alike: a whole answer with the
// double's Server header, and OpenAI's error object {"error": {"message", "type", "param",
// "code"}} (param and code null when empty) as JSON text.
double_response double_whole_response(boost::beast::http::status status, unsigned version,
                                      bool keep_alive, std::string body, std::string_view server,
                                      std::string_view content_type = "application/json");
std::string openai_error(std::string_view message, std::string_view type,
                         std::string_view code = {}, std::string_view param = {});

class double_http_server {
 public:
  double_http_server(double_http_server_options options, double_http_handler& handler);
  // Stops listening, closes every connection (held and delayed ones included, without answering
  // them) and joins its threads; returns promptly whatever the clients do. No handler member is
  // called after it returns.
  ~double_http_server();
  double_http_server(const double_http_server&) = delete;
  double_http_server& operator=(const double_http_server&) = delete;

  std::uint16_t port() const;
  bool tls() const;

  // TCP connections accepted.
  std::size_t connections() const;
  // Requests whose reply is made and not yet written: a delayed one while it waits, a held one
  // until its connection closes. A request is counted in once `answer` returned (so a double
  // that counts requests in `answer` has counted it already), and counted out just before its
  // answer is written (so a client that got its answer sees it counted out).
  std::size_t open_requests() const;
  // Waits until `open_requests() == count`, at most `timeout`; true when it got there.
  bool wait_for_open_requests(std::size_t count, std::chrono::milliseconds timeout) const;
  // Streamed replies being written: counted in before the head; counted out after the last
  // piece, just before the body's end is written (the last chunk, or the closing), so that a
  // client that saw the end sees it counted out; or when a write fails or the server closes the
  // connection.
  std::size_t open_streams() const;
  // Waits until `open_streams() == count`, at most `timeout`; true when it got there.
  bool wait_for_open_streams(std::size_t count, std::chrono::milliseconds timeout) const;

 private:
  struct impl;
  std::unique_ptr<impl> impl_;
};

}  // namespace bookmcp::testing
