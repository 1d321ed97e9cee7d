#pragma once
// Internal: the state a server shares with its sessions. Not part of the public API.

#include <atomic>
#include <condition_variable>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <shared_mutex>
#include <string>
#include <vector>

#include "mcp/executor.hpp"
#include "mcp/json_schema.hpp"
#include "mcp/request_state.hpp"
#include "mcp/detail/tasks.hpp"
#include "mcp/resource.hpp"
#include "mcp/server.hpp"
#include "mcp/tool.hpp"

namespace bookmcp::mcp::detail {

class session_impl;

// A registered tool with its compiled schemas and its concurrency slots.
struct registered_tool {
  tool_definition definition;
  std::unique_ptr<compiled_schema> input_schema;
  std::unique_ptr<compiled_schema> output_schema;
  json listing;  // the tools/list entry, built once
  std::vector<header_parameter> header_parameters;  // its x-mcp-header arguments

  // Concurrency: at most max_concurrency running; waiting work queued up to max_queue. Each
  // job starts one call in a slot and returns true when the call ended (its slot is then
  // free), false when the call goes on without blocking (its completion frees the slot).
  std::mutex slots_mutex;
  std::size_t running = 0;
  std::deque<std::function<bool()>> waiting;
};

}  // namespace bookmcp::mcp::detail

namespace bookmcp::mcp {

struct server::state {
  explicit state(server_options opts);

  server_options options;
  executor workers;
  request_state_codec state_codec;  // requestState of multi-round requests
  detail::task_registry tasks;      // the tasks extension's tasks
  // Tools with x-mcp-header arguments: none (the usual case) spares HTTP the lookup.
  std::atomic<std::size_t> tools_with_header_parameters{0};

  mutable std::shared_mutex registry_mutex;
  std::map<std::string, std::shared_ptr<detail::registered_tool>, std::less<>> tools;
  std::map<std::string, std::shared_ptr<const resource_definition>, std::less<>> resources;
  std::vector<std::shared_ptr<const resource_template_definition>> templates;
  std::map<std::string, std::shared_ptr<const prompt_definition>, std::less<>> prompts;

  mutable std::mutex sessions_mutex;
  std::map<std::string, std::weak_ptr<detail::session_impl>> sessions;
  std::atomic<bool> shutting_down{false};
  std::atomic<std::size_t> calls_in_flight{0};

  // Sends `method` to every initialized session (list_changed notifications).
  void broadcast(std::string_view method);
  std::vector<std::shared_ptr<detail::session_impl>> live_sessions() const;
};

}  // namespace bookmcp::mcp
