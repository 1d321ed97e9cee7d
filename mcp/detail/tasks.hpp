#pragma once
// Internal: the tasks of the 2026-07-28 tasks extension (io.modelcontextprotocol/tasks): a
// tool call the client polls instead of waiting for. Each task belongs to the caller that
// created it; the registry keeps it until its time to live has passed after it ended.

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <stop_token>
#include <string>
#include <unordered_map>
#include <vector>

#include "mcp/json_rpc.hpp"
#include "mcp/tool.hpp"

namespace bookmcp::mcp::detail {

inline constexpr std::string_view tasks_extension = "io.modelcontextprotocol/tasks";

// Whether client capabilities declare the tasks extension.
inline bool declares_tasks(const json& client_capabilities) {
  const auto extensions = client_capabilities.find("extensions");
  return extensions != client_capabilities.end() && extensions->is_object() &&
         extensions->contains(tasks_extension);
}

// The -32021 refusal of a client without the tasks extension.
inline rpc_error tasks_extension_required(const std::string& message) {
  return rpc_error(error_code::missing_client_capability, message,
                   {{"requiredCapabilities", {{"extensions", {{tasks_extension, json::object()}}}}}});
}

struct task_record {
  std::string id;
  std::string owner;
  std::chrono::milliseconds ttl{0};
  std::chrono::milliseconds poll_interval{0};
  std::stop_source stop;  // tasks/cancel, server shutdown
  // Told the task's new state (its DetailedTask) after each change of status: the
  // notifications/tasks of listen streams. Set before the task is shared.
  std::function<void(const json& detailed)> on_change;

  // The CreateTaskResult answering the tools/call that created the task.
  json created() const;
  // The tasks/get answer (a DetailedTask).
  json detailed() const;
  bool terminal() const;
  bool expired(std::chrono::system_clock::time_point now) const;

  // The handler's outcome; ignored once the task is terminal (a cancelled task stays so).
  void complete(json call_tool_result);
  void fail(int code, std::string message);
  // tasks/cancel: the task is cancelled now; its handler is asked to stop.
  void cancel();
  // tasks/update: answers for the input requests the task waits on (others are ignored).
  void answer(const json& responses);
  // Called by the handler's request_client_all: the answers for `requests` (key -> {method,
  // params}), waiting in "input_required" for those not given yet. Throws cancelled_error
  // when the task is cancelled while it waits.
  std::vector<json> ask(const std::vector<tool_context::client_request>& requests, std::stop_token stop);
  // Answers the task starts with (those gathered before it was created).
  void preset_answers(const json& answers);

 private:
  mutable std::mutex mutex_;
  std::condition_variable_any changed_;
  std::string status_ = "working";
  std::chrono::system_clock::time_point created_at_ = std::chrono::system_clock::now();
  std::chrono::system_clock::time_point updated_at_ = created_at_;
  json result_;
  json error_;
  json waiting_for_ = json::object();  // key -> input request not answered yet
  json answers_ = json::object();
  void touch_locked() { updated_at_ = std::chrono::system_clock::now(); }
  bool ended_locked() const { return status_ == "completed" || status_ == "failed" || status_ == "cancelled"; }
  // The fields a CreateTaskResult and a DetailedTask share.
  json summary_locked(std::string_view result_type) const;
  void announce() const;
};

class task_registry {
 public:
  static constexpr std::size_t max_live_tasks_per_owner = 100;

  // A new task of `owner`; throws rpc_error when the owner has too many unfinished ones.
  std::shared_ptr<task_record> create(const std::string& owner, std::chrono::milliseconds ttl);
  // The task, when it exists, is `owner`'s and has not expired; else nullptr.
  std::shared_ptr<task_record> find(const std::string& id, const std::string& owner);
  // Server shutdown: every task is cancelled.
  void cancel_all();

 private:
  std::mutex mutex_;
  std::unordered_map<std::string, std::shared_ptr<task_record>> tasks_;
};

}  // namespace bookmcp::mcp::detail
