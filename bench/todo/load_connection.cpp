#include "bench/todo/load_connection.hpp"

#include <stdexcept>

#include "bench/common/json_scan.hpp"
#include "mcp/memory_connection.hpp"

namespace bookmcp::bench {

namespace {
constexpr std::int64_t kInitializeId = 0;
}

load_connection::load_connection(mcp::server& server, std::string identity,
                                 mcp::memory_delivery delivery)
    : pair_(mcp::make_memory_transport_pair(delivery)) {
  session_ = mcp::serve_memory_endpoint(
      server, pair_.server,
      {.identity = std::move(identity), .transport = "memory", .session_id = {}});
  // The receiver runs on the client end's delivery thread, which the endpoint's destructor
  // joins before this object's members go away.
  pair_.client->set_receiver([this](std::string message) { on_message(std::move(message)); },
                             [this] {
                               std::lock_guard lock(mutex_);
                               closed_ = true;
                               changed_.notify_all();
                             });
  pair_.client->send(initialize_request(kInitializeId), {});
  std::unique_lock lock(mutex_);
  if (!changed_.wait_for(lock, std::chrono::seconds(30), [&] { return initialized_ || closed_; }) ||
      !initialized_)
    throw std::runtime_error("the session did not answer initialize");
  lock.unlock();
  pair_.client->send(initialized_notification(), {});
}

load_connection::~load_connection() {
  pair_.client->close();
  // The close handler touches this object's members, which go before pair_ does (whose
  // destructor would only then join the delivery thread): wait for it here.
  {
    std::unique_lock lock(mutex_);
    changed_.wait_for(lock, std::chrono::seconds(30), [&] { return closed_; });
  }
  session_->wait_idle(std::chrono::seconds(30));
}

void load_connection::send(std::int64_t id) {
  std::string request;
  call_->build(id, request);
  pair_.client->send(std::move(request), {});
}

void load_connection::start(const call_builder& call, int pipeline,
                            std::chrono::steady_clock::time_point deadline) {
  {
    std::lock_guard lock(mutex_);
    call_ = &call;
    deadline_ = deadline;
    completed_ = 0;
    errors_ = 0;
    drained_ = false;
  }
  in_flight_ = pipeline;
  for (int i = 0; i < pipeline; ++i) send(next_id_++);
}

void load_connection::on_message(std::string message) {
  const message_facts facts = scan_message(message);
  if (!facts.id || facts.has_method) return;  // a notification or a request from the server
  if (*facts.id == kInitializeId) {
    std::lock_guard lock(mutex_);
    initialized_ = facts.has_result;
    closed_ = closed_ || !facts.has_result;
    changed_.notify_all();
    return;
  }
  if (std::chrono::steady_clock::now() < deadline_) {
    if (facts.has_error || facts.tool_error)
      ++errors_;
    else
      ++completed_;
    send(next_id_++);
    return;
  }
  if (--in_flight_ == 0) {
    std::lock_guard lock(mutex_);
    drained_ = true;
    changed_.notify_all();
  }
}

bool load_connection::wait(std::chrono::milliseconds timeout, outcome& out) {
  std::unique_lock lock(mutex_);
  const bool drained =
      changed_.wait_for(lock, timeout, [&] { return drained_ || closed_; }) && drained_;
  out = {completed_, errors_};
  return drained;
}

}  // namespace bookmcp::bench
