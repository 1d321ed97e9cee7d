#pragma once
// Internal: the session implementation shared by session.cpp and server.cpp.

#include <atomic>
#include <condition_variable>
#include <limits>
#include <mutex>
#include <optional>
#include <set>
#include <stop_token>
#include <unordered_map>

#include "mcp/detail/server_state.hpp"
#include "mcp/detail/tasks.hpp"
#include "mcp/session.hpp"

namespace bookmcp::mcp::detail {

// A 2026-07-28 request: its own metadata (there is no session to hold it), and for a
// multi-round request the answers the client gave so far (see stateless.cpp).
struct stateless_call {
  std::string protocol_version;
  json client_capabilities = json::object();
  std::optional<mcp::log_level> log_level;  // none: the request gets no log messages
  // What a requestState must name to be used with this request: the method, the tool's or
  // prompt's name or the URI, a digest of the arguments, and the caller.
  std::string method;
  std::string name;
  std::string digest;        // computed when a state is sealed or checked (it costs ~2 us)
  std::string state_digest;  // the digest an incoming requestState names (tools/call: checked
                             // against the prepared arguments in start_tool_call)
  // Answers by input key (the requestState's, then this round's inputResponses).
  json answers = json::object();
  // The input keys the handler has asked for so far in this round, in order.
  std::size_t asked = 0;
};

// Thrown through a handler when a 2026-07-28 request needs input the client has not given
// yet: the request is answered with an InputRequiredResult. Deliberately not a
// std::exception, so that handlers' catch (const std::exception&) lets it pass.
struct input_required {
  json requests;  // key -> {method, params}
};

// One request being handled on the worker pool.
struct call_state {
  request_id id;
  std::string method;
  std::string tool_name;
  // Set by whoever claims (a string literal); read in finish_call, maybe on another thread.
  std::atomic<const char*> outcome{"ok"};
  std::chrono::steady_clock::time_point started = std::chrono::steady_clock::now();
  std::stop_source stop;
  std::atomic<bool> finished{false};
  bool counted = false;  // under the session's mutex: counted in running_ until finish_call
  std::optional<json> progress_token;
  std::shared_ptr<stateless_call> stateless;  // set for a 2026-07-28 request
  bool as_task = false;               // the request asked to run as a task (it will create one)
  std::shared_ptr<task_record> task;  // set for the run of a task (not the request's call)
  std::mutex progress_mutex;
  double last_progress = -std::numeric_limits<double>::infinity();
  std::chrono::steady_clock::time_point deadline = std::chrono::steady_clock::time_point::max();
  // The deadline's timer: armed once the call is published, cancelled from any thread.
  void arm_deadline(timer_handle timer) {
    std::lock_guard lock(timer_mutex);
    deadline_timer = std::move(timer);
    if (disarmed) deadline_timer.cancel();
  }
  void disarm_deadline() {
    timer_handle timer;
    {
      std::lock_guard lock(timer_mutex);
      disarmed = true;
      timer = deadline_timer;
    }
    timer.cancel();
  }
  bool runs_inline = false;  // the tool runs on the receiving thread (tool_definition::runs_inline)
  // An async_handler's call: 0 while it is being started, 1 once started, 2 when it was
  // completed before its start returned (whoever moves it from 0 decides who frees the slot).
  std::atomic<int> async_phase{0};
  std::atomic<bool> async_completed{false};

  // True for exactly one caller: the one that decides how (or whether) the request is answered.
  bool claim();

 private:
  std::mutex timer_mutex;
  timer_handle deadline_timer;
  bool disarmed = false;
};

// A server-to-client request waiting for the client's answer.
struct pending_client_request {
  std::mutex mutex;
  std::condition_variable_any ready;
  bool done = false;
  std::optional<json> result;
  std::optional<rpc_error> error;
  void complete(json value);
  void fail(rpc_error failure);
};

// Collects the responses of a JSON-RPC batch (2025-03-26 only) into one array.
struct batch_collector {
  std::mutex mutex;
  std::size_t remaining = 0;
  bool flushed = false;
  std::vector<std::string> responses;
  // The member answered last (at first, the first member to be answered), for routing the
  // combined answer when what completes the batch has no id of its own, or its request was
  // cancelled: Streamable HTTP answers on the POST of a request it knows.
  std::optional<request_id> route;
};

class session_impl final : public server_session, public std::enable_shared_from_this<session_impl> {
 public:
  session_impl(std::shared_ptr<server::state> server, std::shared_ptr<message_sink> sink,
               session_options options);
  ~session_impl() override;

  void handle_message(std::string_view text) override;
  void handle_parsed(json message) override;
  void close() override;
  bool wait_idle(std::chrono::milliseconds timeout) override;
  const std::string& id() const override { return options_.session_id; }
  const std::string& identity() const override { return options_.identity; }
  bool initialized() const override;
  std::string protocol_version() const override;
  std::size_t calls_in_flight() const override;
  bool reusable() const override;
  void notify(std::string_view method, const json& params) override;
  json request(std::string_view method, const json& params, std::chrono::milliseconds timeout,
               std::stop_token stop) override;

  // For the server and the tool context.
  json request_related(std::string_view method, const json& params, std::chrono::milliseconds timeout,
                       std::stop_token stop, const std::optional<request_id>& related);
  void notify_related(std::string_view method, const json& params, const request_id& related);
  void send_log(log_level level, const json& data, std::string_view logger,
                const std::optional<request_id>& related);
  // A log message of a 2026-07-28 request: sent only at or above the level its _meta asked for.
  void send_request_log(const stateless_call& request, log_level level, const json& data,
                        std::string_view logger, const request_id& related);
  // The server's list changed (`method` is its list_changed notification): told to a
  // handshake-era session, and to each subscriptions/listen stream that asked for it.
  void list_changed(std::string_view method);
  // A resource changed: notifications/resources/updated to handshake-era subscriptions and to
  // listen streams that named it (or a part of it).
  void resource_updated(const std::string& uri);
  bool client_supports(std::string_view capability) const {
    std::lock_guard lock(mutex_);
    return client_capabilities_.contains(capability);
  }
  // A task of `owner` changed status: notifications/tasks to this connection's listen streams
  // that asked for them, when the connection is the owner's.
  void task_changed(const std::string& owner, const json& detailed);
  // Seals a multi-round request's state (the answers so far) for its InputRequiredResult.
  // `arguments`: the tool's prepared arguments (their digest binds the state to the request).
  std::string seal_request_state(stateless_call& request, const json* arguments = nullptr) const;
  // The subscribed URIs that `uri` (a resource that changed) covers: itself, and its parts
  // (the URI followed by '#' and a fragment: a page's sections).
  std::vector<std::string> subscriptions_within(const std::string& uri) const;
  // Answers every in-flight call with an error and cancels it (server shutdown).
  void cancel_all(std::string_view reason);

 private:
  void dispatch(incoming_message message);
  void handle_batch(json body);
  void handle_request(incoming_message& message);
  // A 2026-07-28 request (stateless.cpp): checks its _meta and answers it without the
  // session's handshake state.
  void handle_stateless_request(incoming_message& message);
  // Reads and checks a 2026-07-28 request's _meta and multi-round fields (throws rpc_error).
  std::shared_ptr<stateless_call> read_stateless_call(const std::string& method, const json& params);
  void start_listening(const request_id& id, const json& params);
  void send_stateless_result(const request_id& id, json result);
  void handle_notification(const incoming_message& message);
  void handle_response(const incoming_message& message);
  json on_initialize(const json& params);
  // A page of tools/list, resources/list, resources/templates/list or prompts/list (the same
  // in both eras); nullopt for another method.
  std::optional<json> list_page(std::string_view method, const json& params);
  // Checks a prompts/get request; the work that answers it.
  std::function<json(const tool_context&)> prepare_prompt(const json& params);
  json read_resource(const std::string& uri);
  json complete(const json& params);

  std::shared_ptr<call_state> register_call(const request_id& id, const std::string& method,
                                            const json& params);
  void finish_call(const std::shared_ptr<call_state>& call);
  // Arms `call`'s deadline: past `timeout`, unless it was answered first, the call is stopped
  // and `answer` answers it (the late result is dropped); `what` names it in the log.
  void arm_call_deadline(const std::shared_ptr<call_state>& call, std::chrono::milliseconds timeout,
                         std::string what, std::function<void(session_impl&, call_state&)> answer);
  // `stateless`: a 2026-07-28 request's (its result gets resultType, its unknown resource is
  // invalid_params).
  void run_on_pool(const request_id& id, const std::string& method,
                   std::function<json(const tool_context&)> work,
                   std::shared_ptr<stateless_call> stateless = nullptr);
  void start_tool_call(const request_id& id, const json& params,
                       std::shared_ptr<stateless_call> stateless = nullptr);
  void run_tool(const std::shared_ptr<call_state>& call, const std::shared_ptr<registered_tool>& tool,
                const json& arguments);
  void execute_tool(const std::shared_ptr<call_state>& call, registered_tool& tool, const json& arguments);
  // Runs a blocking handler with its context: its result, or what it threw.
  std::pair<std::optional<tool_result>, std::exception_ptr> run_handler(const std::shared_ptr<call_state>& call,
                                                                        registered_tool& tool, const json& arguments);
  // A call that runs as a task: its before_task step, then a task created and announced in
  // the answer, then the handler on a call of the task's own (the request has ended).
  void run_as_task(const std::shared_ptr<call_state>& call, registered_tool& tool, const json& arguments);
  // tasks/get, tasks/update, tasks/cancel (stateless.cpp).
  void handle_task_method(const request_id& id, const std::string& method, const json& params,
                          const stateless_call& request);
  // Starts an async_handler's call; true when the call already ended (see registered_tool).
  bool start_async_tool(const std::shared_ptr<call_state>& call,
                        const std::shared_ptr<registered_tool>& tool, const json& arguments);
  // Answers a tool call from its handler's outcome: a result, or the exception it threw.
  void conclude_tool(const std::shared_ptr<call_state>& call, registered_tool& tool,
                     std::optional<tool_result> outcome, std::exception_ptr failure,
                     const json* arguments = nullptr);

  void observe(std::string_view method, std::string_view tool, std::string_view outcome,
               const request_id& id, std::chrono::steady_clock::time_point started);
  void send(std::string text, const outbound_route& route);
  void send_response_text(const request_id& id, std::string text);
  void send_result_now(const request_id& id, const json& result);
  // A request that will get no response (cancelled): releases its place in a batch.
  void drop_response(const request_id& id);
  void send_error_now(const std::optional<request_id>& id, const rpc_error& error);

  std::shared_ptr<server::state> server_;
  std::mutex sink_mutex_;
  std::shared_ptr<message_sink> sink_;
  session_options options_;

  mutable std::mutex mutex_;  // guards everything below
  bool closed_ = false;
  bool client_ready_ = false;
  std::string protocol_version_;
  std::atomic<bool> initialized_{false};    // protocol_version_ is set (read without the lock)
  std::atomic<std::size_t> open_batches_{0};  // batch_of_ is not empty (skip the lookup)
  json client_capabilities_ = json::object();
  log_level log_level_ = log_level::info;
  std::set<std::string> subscriptions_;
  static constexpr std::size_t max_subscriptions = 1000;
  // subscriptions/listen streams (2026-07-28) open on this connection.
  struct listener {
    request_id id;
    std::string subscription_id;
    bool tools = false;
    bool prompts = false;
    bool resources = false;
    bool tasks = false;  // notifications/tasks for the caller's tasks (tasks extension)
    std::set<std::string> uris;
  };
  std::vector<listener> listeners_;
  std::atomic<bool> listed_{false};  // a transient session registered among the server's
  bool started_task_ = false;        // a task was created from this session (under mutex_)
  static constexpr std::size_t max_listeners = 64;
  // Calls by id, for cancellation and to refuse an id still in use. An answered call gives its
  // id up at once (a client may reuse it as soon as it has the answer), while its bookkeeping
  // (running_, the observer) ends in finish_call.
  std::unordered_map<request_id, std::shared_ptr<call_state>, request_id::hash> in_flight_;
  std::size_t running_ = 0;  // calls registered and not finished
  std::condition_variable idle_;
  // Server-to-client ids start at 1: some clients treat id 0 as "no id" when cancelling.
  std::int64_t next_request_id_ = 1;
  std::unordered_map<request_id, std::shared_ptr<pending_client_request>, request_id::hash> pending_;
  std::unordered_map<request_id, std::shared_ptr<batch_collector>, request_id::hash> batch_of_;
};

}  // namespace bookmcp::mcp::detail

namespace bookmcp::mcp {
class tool_context::backend {
 public:
  backend(std::shared_ptr<detail::session_impl> session, std::shared_ptr<detail::call_state> call)
      : session_(std::move(session)), call_(std::move(call)) {}
  std::shared_ptr<detail::session_impl> session_;
  std::shared_ptr<detail::call_state> call_;
};
}  // namespace bookmcp::mcp

namespace bookmcp::mcp::detail {
using context_backend = tool_context::backend;
}
