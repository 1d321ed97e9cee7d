#pragma once
// Test doubles for driving MCP sessions directly: a message_sink that records every outbound
// message (parsed, with its route) and lets a test wait for one without sleeping, and a
// one-shot signal for handing events between a tool handler and the test thread.

#include <chrono>
#include <condition_variable>
#include <functional>
#include <mutex>
#include <optional>
#include <stop_token>
#include <string>
#include <string_view>
#include <vector>

#include "mcp/channel.hpp"
#include "mcp/json_rpc.hpp"

namespace bookmcp::mcp_testing {

using json = nlohmann::json;

// How long a test waits for something that should happen "soon". Generous on purpose: the
// machines are shared and the sanitizer build is slow; a passing test never waits this long.
inline constexpr std::chrono::milliseconds wait_limit{15000};

// A one-shot event (set once, waited on by anyone).
class signal {
 public:
  void set() {
    std::lock_guard lock(mutex_);
    set_ = true;
    ready_.notify_all();
  }
  bool wait(std::chrono::milliseconds timeout = wait_limit) const {
    std::unique_lock lock(mutex_);
    return ready_.wait_for(lock, timeout, [this] { return set_; });
  }
  // Waits until set or until `stop` is requested; true when set.
  bool wait(std::stop_token stop, std::chrono::milliseconds timeout = wait_limit) const {
    std::unique_lock lock(mutex_);
    return ready_.wait_for(lock, stop, timeout, [this] { return set_; });
  }
  bool is_set() const {
    std::lock_guard lock(mutex_);
    return set_;
  }

 private:
  mutable std::mutex mutex_;
  mutable std::condition_variable_any ready_;
  bool set_ = false;
};

// Predicates over outbound messages.
inline bool is_response_to(const json& message, const json& id) {
  return message.is_object() && !message.contains("method") && message.contains("id") &&
         message["id"] == id && (message.contains("result") || message.contains("error"));
}
inline bool is_notification(const json& message, std::string_view method) {
  return message.is_object() && !message.contains("id") && message.value("method", "") == method;
}
inline bool is_request(const json& message, std::string_view method) {
  return message.is_object() && message.contains("id") && message.value("method", "") == method;
}

class recording_sink : public mcp::message_sink {
 public:
  struct entry {
    std::string text;
    mcp::outbound_route route;
    json body;  // the parsed text (discarded value when it was not JSON)
  };

  bool send(std::string message, const mcp::outbound_route& route) override {
    json body = json::parse(message, nullptr, /*allow_exceptions=*/false);
    std::lock_guard lock(mutex_);
    if (closed_) return false;
    entries_.push_back({std::move(message), route, std::move(body)});
    changed_.notify_all();
    return true;
  }

  void close() override {
    std::lock_guard lock(mutex_);
    closed_ = true;
    changed_.notify_all();
  }

  bool closed() const {
    std::lock_guard lock(mutex_);
    return closed_;
  }

  std::size_t size() const {
    std::lock_guard lock(mutex_);
    return entries_.size();
  }

  std::vector<entry> entries() const {
    std::lock_guard lock(mutex_);
    return entries_;
  }

  std::vector<json> messages() const {
    std::lock_guard lock(mutex_);
    std::vector<json> out;
    for (const auto& item : entries_) out.push_back(item.body);
    return out;
  }

  // Every recorded message (from index `from`) that satisfies `predicate`.
  std::vector<json> find(const std::function<bool(const json&)>& predicate, std::size_t from = 0) const {
    std::lock_guard lock(mutex_);
    std::vector<json> out;
    for (std::size_t i = from; i < entries_.size(); ++i) {
      if (predicate(entries_[i].body)) out.push_back(entries_[i].body);
    }
    return out;
  }

  // Waits for the first message (from index `from`) satisfying `predicate`.
  std::optional<json> wait_for(const std::function<bool(const json&)>& predicate,
                               std::chrono::milliseconds timeout = wait_limit,
                               std::size_t from = 0) const {
    std::unique_lock lock(mutex_);
    std::optional<json> found;
    changed_.wait_for(lock, timeout, [&] {
      for (std::size_t i = from; i < entries_.size(); ++i) {
        if (predicate(entries_[i].body)) {
          found = entries_[i].body;
          return true;
        }
      }
      return false;
    });
    return found;
  }

  std::optional<json> wait_for_response(const json& id, std::chrono::milliseconds timeout = wait_limit) const {
    return wait_for([&](const json& message) { return is_response_to(message, id); }, timeout);
  }

  std::optional<json> wait_for_notification(std::string_view method,
                                            std::chrono::milliseconds timeout = wait_limit,
                                            std::size_t from = 0) const {
    return wait_for([&](const json& message) { return is_notification(message, method); }, timeout, from);
  }

  // Waits until at least `count` messages were recorded.
  bool wait_for_count(std::size_t count, std::chrono::milliseconds timeout = wait_limit) const {
    std::unique_lock lock(mutex_);
    return changed_.wait_for(lock, timeout, [&] { return entries_.size() >= count; });
  }

  std::vector<json> responses_to(const json& id) const {
    return find([&](const json& message) { return is_response_to(message, id); });
  }

 private:
  mutable std::mutex mutex_;
  mutable std::condition_variable changed_;
  std::vector<entry> entries_;
  bool closed_ = false;
};

}  // namespace bookmcp::mcp_testing
