#pragma once
// What a tool is to the runtime: its declaration, its handler, what it returns, and the
// context a handler runs with (cancellation, deadline, progress, logging, client requests).

#include <chrono>
#include <cstddef>
#include <exception>
#include <functional>
#include <memory>
#include <optional>
#include <stdexcept>
#include <stop_token>
#include <string>
#include <utility>
#include <vector>

#include "mcp/json_rpc.hpp"

namespace bookmcp::mcp {

// A failure a tool reports to the model: becomes a result with isError: true and this
// message as text. Use it for expected failures ("no todo with id x"); anything else that
// escapes a handler is treated as an internal error and its details are not sent.
class tool_error : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// Thrown by tool_context::request_client and friends when the call was cancelled; handlers
// may let it escape (no response is sent for a cancelled request).
class cancelled_error : public std::runtime_error {
 public:
  cancelled_error() : std::runtime_error("cancelled") {}
};

struct tool_result {
  json content = json::array();           // MCP content blocks
  std::optional<json> structured_content;  // must match outputSchema when one is declared
  // Or the structured content already written as JSON text (an object), for results that are
  // large and frequent (a page of todos): sent as is, no tree is built. At most one is set.
  std::optional<std::string> structured_json;
  bool is_error = false;

  static tool_result text(std::string text);
  static tool_result error(std::string message);
  // Structured result with its readable rendering as text content.
  static tool_result structured(json value, std::string text);
  static tool_result structured_text(std::string object_json, std::string text);

  bool has_structured_content() const { return structured_content || structured_json; }
  // The structured content as a tree (parses structured_json; throws json::parse_error).
  json structured_value() const;

  json to_json() const&;
  json to_json() &&;  // moves the content into the result
  // The result's JSON text (what to_json() would give, without building it).
  std::string serialize(bool with_result_type = false) &&;
  // The whole JSON-RPC response carrying this result for request `id`, built in one buffer.
  std::string serialize_response(const request_id& id, bool with_result_type = false) &&;
};

enum class log_level { debug, info, notice, warning, error, critical, alert, emergency };
std::optional<log_level> parse_log_level(std::string_view name);
std::string_view to_string(log_level level);

// The running call as its handler sees it. Valid only during the handler; thread-safe.
class tool_context {
 public:
  class backend;  // implemented by the session
  explicit tool_context(std::shared_ptr<backend> backend);

  // Requested when the client cancels, the connection closes, the deadline passes or the
  // server shuts down. Long handlers check it (or wait on it) and return early.
  std::stop_token stop_token() const;
  bool cancelled() const { return stop_token().stop_requested(); }
  std::chrono::steady_clock::time_point deadline() const;

  // Who is calling: the authenticated subject, or the local user on stdio.
  const std::string& identity() const;
  const std::string& session_id() const;

  // Sends notifications/progress when the request carried a progressToken. Progress must
  // increase; a value not greater than the last one sent is dropped.
  void report_progress(double progress, std::optional<double> total = std::nullopt,
                       std::optional<std::string> message = std::nullopt) const;
  bool has_progress_token() const;

  // Sends notifications/message when `level` is at or above the session's level.
  void log(log_level level, const json& data, std::string_view logger = "") const;

  // Sends a server-to-client request (sampling/createMessage, elicitation/create, roots/list,
  // ping) and waits for the answer. Throws tool_error when the client lacks the capability,
  // answers with an error, or does not answer within `timeout`; cancelled_error on
  // cancellation.
  json request_client(std::string_view method, const json& params,
                      std::chrono::milliseconds timeout = std::chrono::seconds(60)) const;
  // Several requests to the client, answers in the same order; `key` names each (in a
  // 2026-07-28 request it is the inputRequests key the client answers under). In a 2026-07-28
  // request the ones not answered yet are asked for together, in one round.
  //
  // Both eras: in a handshake-era session the request is sent to the client and awaited; in a
  // 2026-07-28 request the call ends with an InputRequiredResult and the handler runs again
  // from the start when the client sends the request back with the answers (so work before
  // request_client must be safe to repeat). A capability the client did not declare fails the
  // request (-32021 in 2026-07-28; a tool_error before it): check client_supports first to
  // ask only for what the client can give.
  struct client_request {
    std::string key;
    std::string method;
    json params;
  };
  std::vector<json> request_client_all(const std::vector<client_request>& requests,
                                       std::chrono::milliseconds timeout = std::chrono::seconds(60)) const;
  // Whether the client declared `capability` ("sampling", "elicitation", "roots"): in its
  // initialize (handshake era) or in this request's _meta (2026-07-28).
  bool client_supports(std::string_view capability) const;

  // Sleeps until `duration` passes or the call is cancelled; returns false when cancelled.
  bool sleep_for(std::chrono::steady_clock::duration duration) const;

 private:
  std::shared_ptr<backend> backend_;
};

using tool_handler = std::function<tool_result(tool_context& context, const json& arguments)>;

// How a tool that does not block (tool_definition::async_handler) hands its outcome to the
// runtime: a result, or the exception a blocking handler would have thrown (tool_error,
// cancelled_error, or anything else as an internal error). Call it once, from any thread; a
// second call is ignored.
class tool_completion {
 public:
  using finish_function = std::function<void(std::optional<tool_result>, std::exception_ptr)>;
  explicit tool_completion(finish_function finish) : finish_(std::move(finish)) {}
  void operator()(tool_result result) const { finish_(std::move(result), nullptr); }
  void fail(std::exception_ptr failure) const { finish_(std::nullopt, std::move(failure)); }

 private:
  finish_function finish_;
};

// Starts the call and returns at once, without blocking; the call ends when `done` is
// called (from any thread). `context` stays valid until then. Returning false declines the
// call: it then runs `handler` on a worker, as a blocking tool's call does.
using async_tool_handler =
    std::function<bool(tool_context context, const json& arguments, tool_completion done)>;

struct tool_annotations {
  std::optional<std::string> title;
  std::optional<bool> read_only_hint;
  std::optional<bool> destructive_hint;
  std::optional<bool> idempotent_hint;
  std::optional<bool> open_world_hint;
  json to_json() const;
};

struct tool_definition {
  std::string name;         // 1-128 chars of [A-Za-z0-9_.-]
  std::string title;
  std::string description;
  json input_schema = json{{"type", "object"}};
  std::optional<json> output_schema;
  tool_annotations annotations;
  tool_handler handler;
  // Runtime limits: a call past its deadline is cancelled and answered with isError.
  std::chrono::milliseconds timeout = std::chrono::seconds(60);
  std::size_t max_concurrency = 16;  // calls running at once
  std::size_t max_queue = 256;       // calls waiting for a slot; beyond that: busy

  // For handlers that never block and return within microseconds (no I/O, no locks held for
  // long, no waiting): the call runs on the thread that received it (a network I/O thread, the
  // stdio reader) instead of being handed to a worker, as an event-loop server runs every
  // handler; the hand-off costs more than such a handler. Nothing can interrupt it, so it has
  // no deadline, and no concurrency limit (it runs to completion where it arrived);
  // request_client and sleep_for fail in it (they would stall the thread that must deliver
  // the answer).
  bool runs_inline = false;

  // For tools whose work waits on I/O that can be waited for without a thread (a database's
  // non-blocking API): the call starts on the thread that received it, as a runs_inline tool
  // does, and ends when the handler's completion is called, with the deadline, cancellation
  // and concurrency limit of a blocking tool; no worker is held while it waits. `handler` is
  // still required (for the calls this handler declines). request_client and sleep_for fail
  // in it.
  async_tool_handler async_handler;

  // Tasks (2026-07-28 extension io.modelcontextprotocol/tasks): whether a call may run as a
  // task that the client polls (tasks/get), answers (tasks/update) and cancels (tasks/cancel)
  // instead of waiting for its answer. optional: a task when the client declared the
  // extension, an ordinary call otherwise; required: a client without the extension is
  // refused (-32021). A task's handler asks for input with request_client_all as usual: the
  // task waits in "input_required" until tasks/update brings the answers.
  enum class task_mode { forbidden, optional, required };
  task_mode task_support = task_mode::forbidden;
  // Runs before a task is created, as an ordinary call: inputs it asks for (request_client_all)
  // come back by multi-round requests first, and the task's handler finds them answered.
  std::function<void(tool_context& context, const json& arguments)> before_task;
};

}  // namespace bookmcp::mcp
