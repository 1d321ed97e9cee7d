#pragma once
// The soak's clients: one "lane" per transport, each on its own io_context thread, fed by a
// pacer (open loop: a call per scheduled instant whatever became of the earlier ones, its
// latency taken from the instant it was due) or, for the capacity run, closed loop.
//
//   http      N Streamable HTTP sessions, one keep-alive connection each, one call at a time
//             per connection; due calls wait in a FIFO for the next free connection.
//   websocket N connections (subprotocol "mcp"), calls pipelined on each.
//   stdio     one `bookmcp --stdio` child process, calls pipelined over its stdin/stdout.
//
// A lost connection fails its outstanding calls and is reopened (a lost stdio child is not
// restarted: every later call fails). Calls unanswered after the call timeout fail.
// Threads: a lane's members are touched on its io thread only, except `outstanding` and pid().

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include <boost/asio/awaitable.hpp>
#include <boost/asio/io_context.hpp>

#include "bench/network/load_options.hpp"

namespace bookmcp::bench::soak {

namespace net = boost::asio;
using clock_type = std::chrono::steady_clock;

enum class transport_kind { http = 0, websocket = 1, stdio = 2, admin = 3 };
inline constexpr std::size_t kTransportCount = 4;
const char* transport_name(transport_kind via);

struct call_outcome {
  transport_kind via = transport_kind::http;
  std::string_view kind;  // a literal ("search_book", ...)
  clock_type::time_point scheduled{};
  clock_type::time_point done{};
  bool ok = false;
  std::string error;  // when !ok: what went wrong (the answer's start, or the transport's error)
};
// Called on the lanes' threads; must be thread-safe.
using outcome_sink = std::function<void(const call_outcome&)>;

struct lane_options {
  target_url url;                                 // http://... (the WebSocket lane uses its host and path)
  std::size_t connections = 16;
  std::chrono::milliseconds call_timeout{35000};  // past the server's own tool deadlines (30 s)
  std::chrono::milliseconds connect_timeout{10000};
  std::vector<std::string> uris;                  // for resources/read
  std::uint64_t seed = 1;
  std::string title_prefix = "soak";
  // stdio only: the child's command line and where its stderr goes.
  std::vector<std::string> command;
  std::string stderr_path;
};

class lane {
 public:
  virtual ~lane() = default;
  // On the lane's io thread: opens the connections (and sessions). Returns "" or the problem.
  virtual net::awaitable<std::string> open() = 0;
  // On the lane's io thread: one call due at `when`.
  virtual void submit(clock_type::time_point when) = 0;
  // The stdio child's pid (0 for the network lanes, -1 once it exited).
  virtual long pid() const { return 0; }
  // Ends the lane's work: no reconnecting; the stdio child's input is closed. Io thread.
  virtual void stop() = 0;

  std::atomic<std::int64_t> outstanding{0};  // calls submitted and not finished
};

std::unique_ptr<lane> make_http_lane(net::io_context& io, lane_options options, outcome_sink sink);
std::unique_ptr<lane> make_websocket_lane(net::io_context& io, lane_options options, outcome_sink sink);
std::unique_ptr<lane> make_stdio_lane(net::io_context& io, lane_options options, outcome_sink sink);

// Closed loop over HTTP (the capacity run): each connection sends its next call as soon as the
// previous one was answered, until `until`. Outcomes go to `sink` (scheduled = sent).
net::awaitable<std::string> run_closed_loop_http(net::io_context& io, lane_options options, outcome_sink sink,
                                                 clock_type::time_point until);

// Open-loop pacing: submits a call to `target` at `rate` per second, evenly spaced, from
// `start` until `end`. A pacer that falls behind submits the overdue calls at once, each with
// the instant it was due.
net::awaitable<void> pace(lane& target, double rate, clock_type::time_point start, clock_type::time_point end);

// One call over its own new HTTP connection in the session `session_id` (created when empty,
// and again when the server forgot it): for index_documents and for finding the book's
// sections before the load. Any io thread; `session_id` belongs to the caller's thread.
struct single_answer {
  bool ok = false;
  std::string body;   // the JSON-RPC answer
  std::string error;  // when !ok
};
net::awaitable<single_answer> single_call(net::io_context& io, const target_url& url, std::string& session_id,
                                          const std::string& method, const std::string& params_json,
                                          std::chrono::milliseconds timeout);

}  // namespace bookmcp::bench::soak
