// The tasks extension's records and registry (see detail/tasks.hpp); the methods tasks/get,
// tasks/update and tasks/cancel are answered in stateless.cpp, tasks are started in
// tool_calls.cpp.

#include "mcp/detail/tasks.hpp"

#include <ctime>

#include "mcp/detail/session_helpers.hpp"

namespace bookmcp::mcp::detail {

namespace {

std::string iso8601(std::chrono::system_clock::time_point at) {
  const auto millis =
      std::chrono::duration_cast<std::chrono::milliseconds>(at.time_since_epoch()).count() % 1000;
  const std::time_t seconds = std::chrono::system_clock::to_time_t(at);
  std::tm utc{};
  gmtime_r(&seconds, &utc);
  char text[40];
  const std::size_t size = std::strftime(text, sizeof text, "%Y-%m-%dT%H:%M:%S", &utc);
  char out[48];
  std::snprintf(out, sizeof out, "%.*s.%03dZ", static_cast<int>(size), text, static_cast<int>(millis));
  return out;
}

}  // namespace

json task_record::summary_locked(std::string_view result_type) const {
  return {{"resultType", result_type},
          {"taskId", id},
          {"status", status_},
          {"createdAt", iso8601(created_at_)},
          {"lastUpdatedAt", iso8601(updated_at_)},
          {"ttlMs", ttl.count()},
          {"pollIntervalMs", poll_interval.count()}};
}

json task_record::created() const {
  std::lock_guard lock(mutex_);
  return summary_locked("task");
}

json task_record::detailed() const {
  std::lock_guard lock(mutex_);
  json out = summary_locked("complete");
  if (status_ == "input_required") out["inputRequests"] = waiting_for_;
  if (status_ == "completed") out["result"] = result_;
  if (status_ == "failed") out["error"] = error_;
  return out;
}

bool task_record::terminal() const {
  std::lock_guard lock(mutex_);
  return ended_locked();
}

bool task_record::expired(std::chrono::system_clock::time_point now) const {
  std::lock_guard lock(mutex_);
  return ended_locked() && now - updated_at_ > ttl;
}

void task_record::complete(json call_tool_result) {
  {
    std::lock_guard lock(mutex_);
    if (ended_locked()) return;
    status_ = "completed";
    result_ = std::move(call_tool_result);
    waiting_for_ = json::object();
    touch_locked();
    changed_.notify_all();
  }
  announce();
}

void task_record::fail(int code, std::string message) {
  {
    std::lock_guard lock(mutex_);
    if (ended_locked()) return;
    status_ = "failed";
    error_ = {{"code", code}, {"message", std::move(message)}};
    waiting_for_ = json::object();
    touch_locked();
    changed_.notify_all();
  }
  announce();
}

void task_record::cancel() {
  bool changed = false;
  {
    std::lock_guard lock(mutex_);
    if (!ended_locked()) {
      status_ = "cancelled";
      waiting_for_ = json::object();
      touch_locked();
      changed = true;
    }
    changed_.notify_all();
  }
  stop.request_stop();
  if (changed) announce();
}

void task_record::announce() const {
  if (on_change) on_change(detailed());
}

void task_record::answer(const json& responses) {
  bool resumed = false;
  {
    std::lock_guard lock(mutex_);
    for (const auto& [key, value] : responses.items()) {
      if (!waiting_for_.contains(key)) continue;  // unknown or already answered: ignored
      answers_[key] = value;
      waiting_for_.erase(key);
    }
    if (waiting_for_.empty() && status_ == "input_required") {
      status_ = "working";
      touch_locked();
      resumed = true;
    }
    changed_.notify_all();
  }
  if (resumed) announce();
}

void task_record::preset_answers(const json& answers) {
  std::lock_guard lock(mutex_);
  for (const auto& [key, value] : answers.items()) answers_[key] = value;
}

std::vector<json> task_record::ask(const std::vector<tool_context::client_request>& requests,
                                   std::stop_token stop_token) {
  std::unique_lock lock(mutex_);
  bool missing = false;
  for (const auto& item : requests) {
    if (!answers_.contains(item.key)) {
      waiting_for_[item.key] = {{"method", item.method}, {"params", item.params}};
      missing = true;
    }
  }
  if (missing) {
    status_ = "input_required";
    touch_locked();
    changed_.notify_all();
    lock.unlock();
    announce();
    lock.lock();
    const bool ready = changed_.wait(lock, stop_token, [&] {
      if (status_ == "cancelled") return true;
      for (const auto& item : requests) {
        if (!answers_.contains(item.key)) return false;
      }
      return true;
    });
    if (!ready || status_ == "cancelled") throw cancelled_error();
  }
  std::vector<json> out;
  out.reserve(requests.size());
  for (const auto& item : requests) out.push_back(answers_[item.key]);
  return out;
}

std::shared_ptr<task_record> task_registry::create(const std::string& owner, std::chrono::milliseconds ttl) {
  const auto now = std::chrono::system_clock::now();
  auto task = std::make_shared<task_record>();
  task->id = "task-" + random_hex(16);
  task->owner = owner;
  task->ttl = ttl;
  task->poll_interval = std::chrono::milliseconds(250);
  std::lock_guard lock(mutex_);
  std::size_t live = 0;
  for (auto it = tasks_.begin(); it != tasks_.end();) {
    if (it->second->expired(now)) {
      it = tasks_.erase(it);
      continue;
    }
    if (it->second->owner == owner && !it->second->terminal()) ++live;
    ++it;
  }
  if (live >= max_live_tasks_per_owner) {
    throw rpc_error(error_code::invalid_request,
                    "Invalid Request: " + std::to_string(max_live_tasks_per_owner) +
                        " tasks of yours are still running; cancel some or wait for them");
  }
  tasks_.emplace(task->id, task);
  return task;
}

std::shared_ptr<task_record> task_registry::find(const std::string& id, const std::string& owner) {
  std::lock_guard lock(mutex_);
  const auto it = tasks_.find(id);
  if (it == tasks_.end() || it->second->owner != owner) return nullptr;
  if (it->second->expired(std::chrono::system_clock::now())) {
    tasks_.erase(it);
    return nullptr;
  }
  return it->second;
}

void task_registry::cancel_all() {
  std::vector<std::shared_ptr<task_record>> all;
  {
    std::lock_guard lock(mutex_);
    for (const auto& [id, task] : tasks_) all.push_back(task);
  }
  for (const auto& task : all) task->cancel();
}

}  // namespace bookmcp::mcp::detail
