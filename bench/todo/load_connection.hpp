#pragma once
// A load client on one in-memory MCP connection, as lean as pgbench is beside Postgres:
// requests are preformatted text (bench::call_builder), answers are scanned for their id and
// outcome (bench::scan_message) rather than parsed into JSON trees, and the next call is sent
// from the thread that received the answer. What it measures is the server: the session, the
// tool runtime, the todo tools and the store.

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>

#include "bench/common/mcp_messages.hpp"
#include "mcp/memory_transport.hpp"
#include "mcp/server.hpp"
#include "mcp/session.hpp"

namespace bookmcp::bench {

class load_connection {
 public:
  // Opens a session of `server` for `identity` over an in-memory pair with `delivery` and
  // initializes it (throws if it cannot).
  load_connection(mcp::server& server, std::string identity,
                  mcp::memory_delivery delivery = mcp::memory_delivery::threads);
  // Closes the connection and waits for the session's calls to end.
  ~load_connection();
  load_connection(const load_connection&) = delete;
  load_connection& operator=(const load_connection&) = delete;

  // Sends `pipeline` calls and, for every answer received before `deadline`, one more; returns
  // at once. wait() blocks until every call sent has been answered.
  void start(const call_builder& call, int pipeline,
             std::chrono::steady_clock::time_point deadline);
  struct outcome {
    std::size_t completed = 0;  // answered before the deadline, without an error
    std::size_t errors = 0;     // answered before the deadline with a JSON-RPC error or isError
  };
  // False if the calls were not all answered within `timeout`.
  bool wait(std::chrono::milliseconds timeout, outcome& out);

 private:
  void on_message(std::string message);
  void send(std::int64_t id);

  mcp::memory_transport_pair pair_;
  std::shared_ptr<mcp::server_session> session_;
  const call_builder* call_ = nullptr;
  std::chrono::steady_clock::time_point deadline_;
  std::atomic<std::int64_t> next_id_{1};
  std::atomic<int> in_flight_{0};
  std::size_t completed_ = 0;  // written by the delivery thread only, read after wait()
  std::size_t errors_ = 0;
  std::mutex mutex_;
  std::condition_variable changed_;
  bool initialized_ = false;
  bool drained_ = true;
  bool closed_ = false;
};

}  // namespace bookmcp::bench
