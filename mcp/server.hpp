#pragma once
// An MCP server: what it offers (tools, resources, prompts) and the sessions it serves.
//
// Lifetime: create one server, register what it offers, then open a session per connection.
// Registration is allowed at any time; changes after the first session opened are announced
// with list_changed notifications. Thread-safety: every method may be called from any thread.

#include <chrono>
#include <cstddef>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "mcp/channel.hpp"
#include "mcp/resource.hpp"
#include "mcp/tool.hpp"

namespace bookmcp::mcp {

class server_session;
class executor;

// One finished request, for metrics and request logs.
struct request_event {
  std::string_view method;
  std::string_view tool;     // tools/call only
  std::string_view outcome;  // ok, error, invalid_arguments, tool_error, busy, timeout,
                             // cancelled, internal_error
  std::string_view session_id;
  std::string_view identity;
  std::string_view transport;
  const request_id* id = nullptr;
  std::chrono::steady_clock::duration duration{};
};

// Watches what the server does; implementations must be thread-safe and fast (they run on
// I/O and worker threads).
class server_observer {
 public:
  virtual ~server_observer() = default;
  virtual void request_finished(const request_event& event) = 0;
  virtual void session_opened(std::string_view transport) = 0;
  virtual void session_closed(std::string_view transport) = 0;
};

struct server_options {
  std::string name = "bookmcp";
  std::string title;
  std::string version = "0.0.0";
  std::string instructions;
  std::size_t page_size = 100;     // items per page of tools/resources/prompts lists
  std::size_t worker_threads = 0;  // 0: chosen from the hardware (at least 4)
  log_level default_log_level = log_level::info;
  std::shared_ptr<server_observer> observer;  // optional
  // Checks each structuredContent against the tool's outputSchema before it is sent (a bug
  // in the tool then answers "Internal error" and logs the mismatch). Costs a walk of the
  // result per call (~40 us of CPU for a page of 20 todos); bookmcp turns it off unless
  // --validate-output, and its tests run with it on (MCP clients such as the TypeScript SDK
  // check structuredContent against the outputSchema themselves).
  bool validate_output = true;
  // When set, the deadline of every tool call, whatever each tool declares (--tool-timeout).
  std::optional<std::chrono::milliseconds> tool_timeout;
  // The deadline of the other requests answered on the worker pool (resources/read,
  // prompts/get, completion/complete): past it the client gets an error and the answer that
  // comes later is dropped (the work is not interrupted: these are reads).
  std::chrono::milliseconds request_timeout{30000};
  // The key sealing the requestState of multi-round requests (2026-07-28): 64 hex digits or
  // base64 of 32 bytes. Replicas behind one load balancer share it, so that any of them can
  // take the next round; empty: a random key (states open only in this process).
  std::string request_state_key;
  // How long a requestState may be sent back.
  std::chrono::seconds request_state_ttl{600};
  // How long a finished task (tasks extension) can still be read with tasks/get.
  std::chrono::milliseconds task_ttl{std::chrono::hours(1)};
  // server/discover and list results: how long a client may cache them (ttlMs).
  std::chrono::milliseconds list_ttl{60000};
};

struct session_options {
  std::string identity = "anonymous";  // the caller: local user or authenticated subject
  std::string transport = "memory";    // for logs and metrics
  std::string session_id;              // empty: a random one is generated
  // One stateless request's (Streamable HTTP without a session): not listed among the
  // server's sessions unless it opens a subscriptions/listen stream, not counted as a session.
  bool transient = false;
};

// A tool argument that Streamable HTTP clients mirror into a header (2026-07-28: the
// "x-mcp-header" of a property in the tool's inputSchema): Mcp-Param-<header>.
struct header_parameter {
  std::string header;             // the name after "Mcp-Param-"
  std::vector<std::string> path;  // the chain of property names leading to the argument
  std::string type;               // "string", "integer" or "boolean"
};

// Counters for metrics and tests.
struct server_stats {
  std::size_t sessions = 0;
  std::size_t calls_in_flight = 0;
};

class server {
 public:
  explicit server(server_options options);
  // Closes every session and stops the worker pool (in-flight calls are cancelled).
  ~server();
  server(const server&) = delete;
  server& operator=(const server&) = delete;

  // Registers a tool. Throws schema_error (bad input/output schema) or std::invalid_argument
  // (bad or duplicate name, missing handler) with a message naming the tool.
  void add_tool(tool_definition tool);
  bool remove_tool(std::string_view name);

  // Registers resources and templates; a duplicate URI replaces the earlier one.
  void add_resource(resource_definition resource);
  bool remove_resource(std::string_view uri);
  void add_resource_template(resource_template_definition resource_template);

  void add_prompt(prompt_definition prompt);
  bool remove_prompt(std::string_view name);

  // Tells sessions subscribed to `uri`, or to a part of it ("uri#fragment": a page's section),
  // that it changed (notifications/resources/updated, with the URI each subscribed to).
  void notify_resource_updated(const std::string& uri);
  // Tells every session the resource list changed (also sent by add/remove_resource).
  void notify_resource_list_changed();

  // Opens a protocol session that writes to `sink`. The transport feeds it inbound messages
  // and calls close() when the connection ends.
  std::shared_ptr<server_session> open_session(std::shared_ptr<message_sink> sink,
                                               session_options options = {});

  // Graceful stop: refuses new calls, lets in-flight calls finish for up to `grace`, then
  // cancels the rest and closes every session. Idempotent.
  void shutdown(std::chrono::milliseconds grace);

  // The header parameters of a tool (empty for a tool without any, or an unknown tool).
  std::vector<header_parameter> header_parameters(std::string_view tool) const;

  server_stats stats() const;
  const server_options& options() const;

  struct state;  // shared with sessions; defined in mcp/detail

 private:
  std::shared_ptr<state> state_;
};

}  // namespace bookmcp::mcp
