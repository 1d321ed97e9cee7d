// A test double of an OpenAI-compatible embeddings endpoint (POST /v1/embeddings, GET
// /v1/models), written from the published OpenAI API reference, for the embeddings client in
// rag/ and the benchmarks. No hosted embedding API can run on these machines, so this stands in
// for one: it is not a model, and its name says so everywhere.
//
// What it checks, as the real API does: the bearer key (when one is configured), the
// Content-Type, the JSON body (`model`, `input` as a string or an array of strings, `dimensions`,
// `encoding_format`, `user`; unknown fields are refused), the model name, the number of inputs
// and, optionally, their length (answered the way Hugging Face's text-embeddings-inference
// does: 413 with its flat error shape).
//
// What it computes: a deterministic, meaningful vector per input (`embed()`: hashed word and
// character-trigram features, L2-normalised), so that related phrases land near each other and
// tests can compute the expected answer themselves.
//
// What it can be told to do wrong: `inject()` queues faults (rate limits, server errors,
// wrong shapes, slow or hanging answers, broken JSON) for the next requests.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <span>
#include <string_view>
#include <vector>

namespace bookmcp::testing {

// How the next requests to POST /v1/embeddings misbehave (see `embeddings_double::inject`).
enum class embeddings_fault {
  none,  // answered normally (queue it to let requests through between faults)
  // 429, header Retry-After: the delay in seconds rounded up (0 when none), and retry-after-ms
  // (which the OpenAI clients read first); OpenAI's error JSON with code "rate_limit_exceeded".
  rate_limited,
  // 503 with OpenAI's error JSON (type "server_error"); Retry-After and retry-after-ms when the
  // delay is positive.
  server_error,
  // 413 with text-embeddings-inference's flat error shape
  // {"message": "...", "code": 413, "type": "validation"}.
  too_large,
  // 200, but every embedding has `dimensions + 1` floats (a 0 appended).
  wrong_dimensions,
  // 200, but one embedding fewer than inputs (the last one is missing).
  wrong_count,
  // 200, but every base64 embedding loses its last character (floats are answered intact).
  garbled_base64,
  // Answered normally (or with the request's error) after the delay.
  slow,
  // The request is read and never answered, until the client closes the connection or the
  // double is destroyed; it counts in `open_requests()` until then.
  hang,
  // 200 with Content-Type application/json and a body that is not JSON (cut off mid-array).
  malformed,
};

// What the double does with "encoding_format": "base64".
enum class base64_support {
  answered,  // base64 of little-endian float32 values, as OpenAI, TEI and vLLM answer
  ignored,   // floats all the same, as Ollama answers
  refused,   // 400 naming encoding_format, as Gemini's OpenAI-compatible endpoint answers
};

struct embeddings_double_options {
  // Length of the vectors; a request's "dimensions" field overrides it for that request.
  std::size_t dimensions = 64;
  // Non-empty: every request must send "Authorization: Bearer <api_key>", else 401 with OpenAI's
  // error JSON, code "invalid_api_key".
  std::string api_key;
  // More inputs than this in one request: 400 with OpenAI's error JSON naming the limit.
  std::size_t max_inputs = 2048;
  // Positive: an input longer than this many bytes gets 413 in text-embeddings-inference's flat
  // shape, its message naming the input's index. 0: no limit.
  std::size_t max_input_chars = 0;
  base64_support base64 = base64_support::answered;
  // The only model served; a request naming another gets 404, code "model_not_found".
  std::string model = "double-embed-1";
  // Both non-empty: HTTPS with this certificate chain and private key (PEM text).
  std::string tls_certificate_pem;
  std::string tls_private_key_pem;
  // The port to listen on (on 127.0.0.1); 0, the default, picks a free one (tests should).
  std::uint16_t port = 0;
};

// Listens on 127.0.0.1 and serves HTTP/1.1 (keep-alive, `Connection: close` honoured, request
// bodies up to 8 MiB: a larger Content-Length is refused with 413 before the body is read) on
// two threads of its own, each connection on its own strand, so clients are served concurrently.
//
// Fault rule: every POST /v1/embeddings (counted by `requests()`) takes the next fault off the
// queue filled by `inject()`, whatever it carries. `hang`, `rate_limited`, `server_error`,
// `too_large` and `malformed` answer before anything is checked (they stand for the serving
// infrastructure misbehaving); `slow` delays the answer the request would have had;
// `wrong_dimensions` and `wrong_count` distort a successful answer (an invalid request still gets
// its error).
//
// Every member may be called from any thread. The constructor throws std::invalid_argument for
// options out of range (dimensions 0 or above 4096, only one of the TLS certificate and key),
// and boost::system::system_error (a std::runtime_error) when it cannot listen or the TLS
// certificate or key is unusable.
class embeddings_double {
 public:
  explicit embeddings_double(embeddings_double_options options = {});
  // Stops listening, closes every connection (hanging and slow ones included, without answering
  // them) and joins its threads; returns promptly whatever the clients do.
  ~embeddings_double();
  embeddings_double(const embeddings_double&) = delete;
  embeddings_double& operator=(const embeddings_double&) = delete;

  std::uint16_t port() const;
  // "http://127.0.0.1:<port>/v1", or "https://..." with TLS.
  std::string base_url() const;

  // The next `count` requests to POST /v1/embeddings get `fault`, after the faults already
  // queued (calls append to one queue); later requests are answered normally.
  // `retry_after_or_delay` is the Retry-After of `rate_limited` and `server_error` and the delay
  // of `slow`; other faults ignore it.
  void inject(embeddings_fault fault, std::size_t count = 1,
              std::chrono::milliseconds retry_after_or_delay = std::chrono::milliseconds(0));

  // Computes the vectors of `inputs` (at the default dimensions) now and keeps them, so that
  // requests for these texts are answered without computing: an endpoint that answers at once,
  // for benchmarks that measure the client. The answers are the same `embed()` would give.
  void precompute(std::span<const std::string> inputs);

  // POST /v1/embeddings requests received (read whole), faulted and refused ones included.
  std::size_t requests() const;
  // Inputs of requests answered 200 with correct embeddings (normal and `slow` answers).
  std::size_t inputs_embedded() const;
  // Requests that asked for "encoding_format": "base64" (answered or not).
  std::size_t base64_requests() const;
  // TCP connections accepted (to check that a client reuses them).
  std::size_t connections() const;
  // Requests read and not yet answered (a `slow` one while it waits; a `hang` one until its
  // client closes the connection). A request is counted out just before its answer is written,
  // so a client that got its answer sees it counted out.
  std::size_t open_requests() const;
  // Waits until `open_requests() == count`, at most `timeout`; true when it got there. Lets a
  // test know that the double holds a request without sleeping.
  bool wait_for_open_requests(std::size_t count, std::chrono::milliseconds timeout) const;

  // The embedding the double answers for `text` with `dimensions` floats. Lower-cases ASCII;
  // words are runs of ASCII letters and digits and of non-ASCII bytes; each word gives itself
  // (weight 1.0) and its character trigrams, padded with one space on each side (" pid " gives
  // " pi", "pid", "id "; weight 0.5). Each feature is hashed (FNV-1a 64, then MurmurHash3's
  // fmix64 finaliser) to a bucket, hash % dimensions, with a sign from the hash's top bit; the
  // sum is L2-normalised. A text without words gives the zero vector. Throws
  // std::invalid_argument when `dimensions` is 0.
  static std::vector<float> embed(std::string_view text, std::size_t dimensions);

 private:
  struct impl;
  std::unique_ptr<impl> impl_;
};

}  // namespace bookmcp::testing
