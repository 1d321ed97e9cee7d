// A test double of a Qdrant 1.19 server's REST API, written from Qdrant's published OpenAPI
// description (../shared/data/qdrant-openapi.json) and its server code at v1.19.0, for the
// Qdrant client in rag/. No Qdrant server can run on these machines, so this stands in for one:
// an in-memory, single-shard, exact (brute-force) Qdrant, and its name says so everywhere.
// /work/shared/design/qdrant.md is its specification (§1, §2 and the checklist in §7).
//
// What it checks, as Qdrant does: the api-key (when one is configured; read-only keys too), the
// Content-Type and size of request bodies, every request body against its OpenAPI schema (after
// rewriting the schema's `{"nullable": true}` artifacts and checking `format: uuid`), then
// Qdrant's own validation (422) and collection-aware checks (400), with Qdrant's status codes
// and error texts.
//
// What it adds, on purpose: a request body that fails its schema, carries a key that no schema
// declares (Qdrant ignores those silently, which hides client typos such as `with_payloads`),
// is not JSON, or is over 32 MiB is recorded in `violations()`. A test of the client asserts that
// the list stays empty. Every JSON answer the double writes is checked against its response
// schema in turn, and a mismatch lands in `response_violations()`.
//
// What it computes: cosine normalisation at write and query time, f32 dot products, sparse dot
// products with Qdrant's IDF modifier, RRF fusion with prefetches, filters, scroll and count,
// whole-point replacement, operation ids and point versions (see qdrant_double.cpp for the
// exact rules and the choices made where Qdrant leaves an order unspecified).
//
// What it can be told to do wrong: `inject()` queues faults (rate limits, unavailability, slow
// or hanging answers, dropped connections) for the next requests.
//
// What it does not do: HNSW and quantization (configs are accepted and echoed), snapshots,
// shards and cluster calls, recommend/discover/context/order_by/formula/MMR/DBSF/sample queries,
// groups, facets, inference objects, multivectors, geo and datetime filters, JWT. Such requests
// get 501 with a JSON error naming the feature ("... not supported by the Qdrant double"); a
// path that Qdrant does not have gets Qdrant's empty 404.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace bookmcp::testing {

// How the next requests misbehave (see `qdrant_double::inject`).
enum class qdrant_fault {
  none,  // answered normally (queue it to let requests through between faults)
  // 429 with header Retry-After (the delay in whole seconds, rounded up) and Qdrant's JSON error
  // "Rate limiting exceeded: ...", as Qdrant's strict-mode rate limiter answers.
  rate_limited,
  // 503 with Qdrant's JSON error "Shard temporarily unavailable: ...".
  unavailable,
  // Answered normally (or with the request's error) after the delay.
  slow,
  // The request is read and never answered, until the client closes the connection or the
  // double is destroyed; it counts in `open_requests()` until then.
  hang,
  // The connection is closed (a TCP reset) right after the request is read, without an answer.
  drop_connection,
};

struct qdrant_double_options {
  // Non-empty: every request except the unauthenticated ones (exactly "/" and "/healthz", and
  // any path starting with "/readyz" or "/livez") must carry the key in header `api-key` or as
  // `Authorization: Bearer <key>`; else 401 with a plain-text body, as Qdrant answers.
  std::string api_key;
  // Non-empty: this key reads, and any write with it gets 403
  // {"status":{"error":"Forbidden: Global manage access is required"}}.
  std::string read_only_api_key;
  // The version GET / reports (the official clients compare it with their own).
  std::string version = "1.19.0";
  // The OpenAPI description the requests are validated against. Empty: the file named by the
  // BOOKMCP_QDRANT_OPENAPI compile definition (the repository's
  // ../shared/data/qdrant-openapi.json).
  std::string openapi_file;
  // The port to listen on (on 127.0.0.1); 0, the default, picks a free one (tests should).
  std::uint16_t port = 0;
};

// Listens on 127.0.0.1 and serves HTTP/1.1 (keep-alive, `Connection: close` honoured, trailing
// slashes trimmed, request bodies up to Qdrant's 32 MiB) on two threads of its own, each
// connection on its own strand, so clients are served concurrently. The collections live in
// memory, behind one mutex: requests are applied one at a time, and an update is applied before
// it is answered whatever `wait` says (only the reported status differs).
//
// Fault rule: every request except those to / and /healthz takes the next fault off the queue
// filled by `inject()`, before anything else is checked (they stand for the serving
// infrastructure misbehaving); `slow` delays the answer the request would have had.
//
// Every member may be called from any thread. The constructor throws std::runtime_error when it
// cannot read or compile the OpenAPI description, or cannot listen.
class qdrant_double {
 public:
  explicit qdrant_double(qdrant_double_options options = {});
  // Stops listening, closes every connection (hanging and slow ones included, without answering
  // them) and joins its threads; returns promptly whatever the clients do.
  ~qdrant_double();
  qdrant_double(const qdrant_double&) = delete;
  qdrant_double& operator=(const qdrant_double&) = delete;

  std::uint16_t port() const;
  // "http://127.0.0.1:<port>".
  std::string url() const;

  // The next `count` requests (to any path except / and /healthz) get `fault`, after the
  // faults already queued (calls append to one queue); later requests are answered normally.
  // `retry_after_or_delay` is the Retry-After of `rate_limited` and the delay of `slow`; other
  // faults ignore it.
  void inject(qdrant_fault fault, std::size_t count = 1,
              std::chrono::milliseconds retry_after_or_delay = std::chrono::milliseconds(0));

  // HTTP requests received (read whole, or refused from their header as over 32 MiB), whatever
  // their path or answer, faulted ones included.
  std::size_t requests() const;
  // Those of them with this method (e.g. "PUT") whose path (query string excluded, trailing
  // slashes trimmed) ends with `path_suffix`: ("PUT", "/points") counts upserts.
  std::size_t requests_to(std::string_view method, std::string_view path_suffix) const;
  // TCP connections accepted (to check that a client reuses them).
  std::size_t connections() const;
  // Requests read and not yet answered (a `slow` one while it waits; a `hang` one until its
  // client closes the connection).
  std::size_t open_requests() const;
  // Waits until `open_requests() == count`, at most `timeout`; true when it got there. Lets a
  // test know that the double holds a request without sleeping.
  bool wait_for_open_requests(std::size_t count, std::chrono::milliseconds timeout) const;

  // What was wrong with the requests, in arrival order, one line each:
  // "<METHOD> <path>: <what>" (a schema violation with its JSON pointer, an unknown key, a body
  // that is not JSON or too large, a wrong Content-Type, an unknown query parameter). A client
  // that follows the published API leaves it empty.
  std::vector<std::string> violations() const;
  // Answers of the double that do not match their OpenAPI response schema (a bug of the double).
  std::vector<std::string> response_violations() const;

  // Points stored in the collection (or the collection an alias names); 0 when it does not
  // exist.
  std::size_t point_count(const std::string& collection) const;

 private:
  struct impl;
  std::unique_ptr<impl> impl_;
};

}  // namespace bookmcp::testing
