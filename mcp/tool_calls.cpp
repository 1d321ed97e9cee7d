// The tool runtime: calls on the worker pool, their deadlines and concurrency slots, tool
// calls from arguments to the one answer, and the tool_context handlers see.
// "Exactly once" is enforced by call_state::claim(): whoever claims first (the handler's
// completion, the deadline, a cancellation, the session closing) decides the outcome.

#include "mcp/detail/session_impl.hpp"

#include <cmath>
#include <limits>

#include <spdlog/spdlog.h>

#include "mcp/detail/session_helpers.hpp"

namespace bookmcp::mcp::detail {

namespace {

// The path of the first string in `value` holding a NUL character.
std::optional<std::string> path_of_nul(const json& value, const std::string& path) {
  if (value.is_string()) {
    if (value.get_ref<const std::string&>().find('\0') != std::string::npos)
      return path.empty() ? "/" : path;
  } else if (value.is_object()) {
    for (const auto& [key, item] : value.items()) {
      if (auto found = path_of_nul(item, path + "/" + key)) return found;
    }
  } else if (value.is_array()) {
    for (std::size_t i = 0; i < value.size(); ++i) {
      if (auto found = path_of_nul(value[i], path + "/" + std::to_string(i))) return found;
    }
  }
  return std::nullopt;
}

// Prepares tool arguments for validation, in one walk. JSON has one number type: 2.0 is the
// integer 2 (JSON Schema says so too), but the parser keeps it a float and the validator would
// refuse it where an integer is expected, so integral floats become integers. Returns whether
// a string holds a NUL character: the schema validator measures strings up to their first NUL
// ("\u0000" and 2,000 characters read as empty; a NUL before 30,000 passed a maxLength of
// 20,000).
bool prepare_arguments(json& value) {
  bool nul = false;
  if (value.is_number_float()) {
    const double number = value.get<double>();
    if (std::trunc(number) == number && std::fabs(number) < 9.2e18)
      value = static_cast<std::int64_t>(number);
  } else if (value.is_string()) {
    nul = value.get_ref<const std::string&>().find('\0') != std::string::npos;
  } else if (value.is_structured()) {
    for (auto& item : value) nul = prepare_arguments(item) || nul;
  }
  return nul;
}

// The slot of a call that ended: the next waiting call's job (which takes the slot over), or
// nothing when none waits (the slot is then freed).
std::function<bool()> next_in_slot(registered_tool& tool) {
  std::lock_guard lock(tool.slots_mutex);
  if (tool.waiting.empty()) {
    --tool.running;
    return {};
  }
  auto next = std::move(tool.waiting.front());
  tool.waiting.pop_front();
  return next;
}

// Runs `job` in one of the tool's concurrency slots, then the calls waiting for a slot, one
// after another on this thread, and frees the slot when none is left. Handing the slot on to
// the next call here, rather than posting it, saves a wake-up of another worker per call. A
// job whose call goes on without blocking (an async_handler's) keeps the slot: its
// completion calls free_slot().
void run_in_slot(registered_tool& tool, std::function<bool()> job) {
  while (job && job()) job = next_in_slot(tool);
}

// The call holding one of the tool's slots ended without blocking (an async_handler's): the
// slot goes to the next waiting call (run here), or is freed.
void free_slot(registered_tool& tool) {
  run_in_slot(tool, next_in_slot(tool));
}

}  // namespace

// ---------------------------------------------------------------------------------------
// call_state

bool call_state::claim() { return !finished.exchange(true); }

// ---------------------------------------------------------------------------------------
// calls on the worker pool

std::shared_ptr<call_state> session_impl::register_call(const request_id& id, const std::string& method,
                                                       const json& params) {
  auto call = std::make_shared<call_state>();
  call->id = id;
  call->method = method;
  if (auto meta = params.find("_meta"); meta != params.end() && meta->is_object()) {
    if (auto token = meta->find("progressToken");
        token != meta->end() && (token->is_string() || token->is_number_integer())) {
      call->progress_token = *token;
    }
  }
  std::lock_guard lock(mutex_);
  if (closed_) throw rpc_error(error_code::connection_closed, "the session is closed");
  if (server_->shutting_down) {
    throw rpc_error(error_code::internal_error, "The server is shutting down; retry on another instance");
  }
  auto [entry, inserted] = in_flight_.try_emplace(id, call);
  if (!inserted) {
    // Answered already (the client may have its answer): the id is free again.
    if (!entry->second->finished) throw id_in_use(id);
    entry->second = call;
  }
  call->counted = true;
  ++running_;
  ++server_->calls_in_flight;
  return call;
}

void session_impl::finish_call(const std::shared_ptr<call_state>& call) {
  call->disarm_deadline();
  {
    std::lock_guard lock(mutex_);
    if (!call->counted) return;
    call->counted = false;
    if (auto entry = in_flight_.find(call->id); entry != in_flight_.end() && entry->second == call)
      in_flight_.erase(entry);
    --running_;
    --server_->calls_in_flight;
    if (running_ == 0) idle_.notify_all();
  }
  observe(call->method, call->tool_name, call->outcome.load(), call->id, call->started);
}

void session_impl::arm_call_deadline(const std::shared_ptr<call_state>& call,
                                     std::chrono::milliseconds timeout, std::string what,
                                     std::function<void(session_impl&, call_state&)> answer) {
  call->deadline = std::chrono::steady_clock::now() + timeout;
  std::weak_ptr<session_impl> weak_self = shared_from_this();
  call->arm_deadline(server_->workers.run_after(
      timeout, [weak_self, call, timeout, what = std::move(what), answer = std::move(answer)] {
        if (!call->claim()) return;
        call->outcome = "timeout";
        call->stop.request_stop();
        if (auto self = weak_self.lock()) {
          spdlog::warn("session {}: {} passed its deadline of {} ms", self->options_.session_id,
                       what, timeout.count());
          answer(*self, *call);
        }
      }));
}

void session_impl::run_on_pool(const request_id& id, const std::string& method,
                               std::function<json(const tool_context&)> work,
                               std::shared_ptr<stateless_call> stateless) {
  auto call = register_call(id, method, json::object());
  call->stateless = std::move(stateless);
  const auto timeout = server_->options.request_timeout;
  arm_call_deadline(call, timeout, method, [method, timeout](session_impl& self, call_state& late) {
    self.send_error_now(late.id,
                        rpc_error(error_code::internal_error, method + " did not finish within " +
                                                                  std::to_string(timeout.count()) +
                                                                  " ms; try again later"));
  });
  server_->workers.post([self = shared_from_this(), call, method, work = std::move(work)] {
    std::optional<json> result;
    std::optional<rpc_error> error;
    try {
      result = work(tool_context(std::make_shared<context_backend>(self, call)));
    } catch (const input_required& ask) {
      // A prompt (or resource) that needs the client's input first (2026-07-28 only: the
      // context asks the client directly in the handshake era).
      result = json{{"resultType", "input_required"},
                    {"inputRequests", ask.requests},
                    {"requestState", self->seal_request_state(*call->stateless)}};
    } catch (const rpc_error& failure) {
      error = failure;
    } catch (const resource_not_found& failure) {
      // 2026-07-28 answers an unknown resource as invalid params, naming the URI.
      if (call->stateless) {
        error.emplace(error_code::invalid_params, failure.what(), json{{"uri", failure.uri()}});
      } else {
        error.emplace(error_code::resource_not_found, failure.what());
      }
    } catch (const std::exception& failure) {
      spdlog::error("session {}: {} failed: {}", self->options_.session_id, method, failure.what());
      error.emplace(error_code::internal_error, "Internal error");
    }
    if (call->claim()) {
      if (result) {
        if (call->stateless && !result->contains("resultType")) (*result)["resultType"] = "complete";
        self->send_result_now(call->id, *result);
      } else {
        call->outcome = error->code() == error_code::internal_error ? "internal_error" : "error";
        self->send_error_now(call->id, *error);
      }
    }
    self->finish_call(call);
  });
}

void session_impl::start_tool_call(const request_id& id, const json& params,
                                   std::shared_ptr<stateless_call> stateless) {
  const std::string name = require_string(params, "name", "tools/call");
  std::shared_ptr<registered_tool> tool;
  {
    std::shared_lock lock(server_->registry_mutex);
    if (auto it = server_->tools.find(name); it != server_->tools.end()) tool = it->second;
  }
  if (!tool) throw rpc_error(error_code::invalid_params, "Unknown tool: " + name);

  json arguments = json::object();
  if (auto it = params.find("arguments"); it != params.end() && !it->is_null()) {
    if (!it->is_object()) {
      throw rpc_error(error_code::invalid_params, "tools/call \"arguments\" must be an object");
    }
    arguments = *it;
  }
  std::vector<std::string> problems;
  if (prepare_arguments(arguments)) {
    problems.push_back(path_of_nul(arguments, "").value_or("/") +
                       ": a string must not contain the NUL character (U+0000)");
  } else {
    tool->input_schema->apply_defaults(arguments);
    problems = tool->input_schema->validate(arguments);
  }
  if (!problems.empty()) {
    std::string text = "Invalid arguments for tool " + name + ":";
    for (const auto& problem : problems) text += "\n- " + problem;
    text += "\nExpected input schema: " + tool->definition.input_schema.dump();
    json answer = tool_result::error(std::move(text)).to_json();
    if (stateless) answer["resultType"] = "complete";
    send_result_now(id, answer);
    observe("tools/call", name, "invalid_arguments", id, std::chrono::steady_clock::now());
    return;
  }

  // Tasks: a client that declared the extension gets one for a tool that supports them; a
  // tool that requires them refuses a client that did not.
  bool as_task = false;
  if (stateless && tool->definition.task_support != tool_definition::task_mode::forbidden) {
    as_task = declares_tasks(stateless->client_capabilities);
    if (!as_task && tool->definition.task_support == tool_definition::task_mode::required) {
      throw tasks_extension_required("Tool " + name + " runs only as a task: declare the " +
                                     std::string(tasks_extension) + " extension in the client capabilities");
    }
  }
  if (stateless && !stateless->state_digest.empty()) {
    // The state this request brings was issued for these arguments (prepared the same way).
    stateless->digest = request_digest("tools/call", name, arguments);
    if (stateless->digest != stateless->state_digest) {
      throw rpc_error(error_code::invalid_params,
                      "Invalid params: requestState belongs to another request; send the request again without it");
    }
  }
  auto call = register_call(id, "tools/call", params);
  call->tool_name = name;
  call->stateless = std::move(stateless);
  call->as_task = as_task;
  if (tool->definition.runs_inline && !as_task) {
    call->runs_inline = true;
    run_tool(call, tool, arguments);
    return;
  }
  const auto timeout = tool->definition.timeout;
  arm_call_deadline(call, timeout, "tool " + name, [timeout](session_impl& self, call_state& late) {
    json answer = tool_result::error("Tool " + late.tool_name + " did not finish within its time limit of " +
                                     std::to_string(timeout.count()) + " ms and was cancelled.")
                      .to_json();
    if (late.stateless) answer["resultType"] = "complete";
    self.send_result_now(late.id, answer);
  });

  const bool non_blocking = static_cast<bool>(tool->definition.async_handler) && !as_task;
  std::function<bool()> job;
  if (non_blocking) {
    job = [self = shared_from_this(), call, tool, arguments = std::move(arguments)] {
      return self->start_async_tool(call, tool, arguments);
    };
  } else {
    job = [self = shared_from_this(), call, tool, arguments = std::move(arguments)] {
      self->run_tool(call, tool, arguments);
      return true;
    };
  }
  bool busy = false;
  bool start_now = false;
  {
    std::lock_guard lock(tool->slots_mutex);
    if (tool->running < tool->definition.max_concurrency) {
      ++tool->running;
      start_now = true;
    } else if (tool->waiting.size() < tool->definition.max_queue) {
      tool->waiting.push_back(std::move(job));
    } else {
      busy = true;
    }
  }
  // Posting wakes a worker: do it outside the lock that every caller of this tool takes. A
  // call that does not block starts here, on the receiving thread.
  if (start_now && non_blocking) {
    run_in_slot(*tool, std::move(job));
  } else if (start_now) {
    server_->workers.post(
        [tool, job = std::move(job)]() mutable { run_in_slot(*tool, std::move(job)); });
  }
  if (busy) {
    if (call->claim()) {
      call->outcome = "busy";
      json answer = tool_result::error("Tool " + name + " is busy: " +
                                       std::to_string(tool->definition.max_concurrency) +
                                       " calls are running and " +
                                       std::to_string(tool->definition.max_queue) +
                                       " are waiting. Retry in a moment.")
                        .to_json();
      if (call->stateless) answer["resultType"] = "complete";
      send_result_now(id, answer);
    }
    finish_call(call);
  }
}

void session_impl::run_tool(const std::shared_ptr<call_state>& call,
                            const std::shared_ptr<registered_tool>& tool, const json& arguments) {
  if (!call->stop.stop_requested()) {
    execute_tool(call, *tool, arguments);
  }
  finish_call(call);
}

void session_impl::execute_tool(const std::shared_ptr<call_state>& call, registered_tool& tool,
                                const json& arguments) {
  if (call->as_task) {
    run_as_task(call, tool, arguments);
    return;
  }
  auto [outcome, failure] = run_handler(call, tool, arguments);
  conclude_tool(call, tool, std::move(outcome), failure, &arguments);
}

std::pair<std::optional<tool_result>, std::exception_ptr> session_impl::run_handler(
    const std::shared_ptr<call_state>& call, registered_tool& tool, const json& arguments) {
  tool_context context(std::make_shared<context_backend>(shared_from_this(), call));
  try {
    return {tool.definition.handler(context, arguments), nullptr};
  } catch (...) {
    return {std::nullopt, std::current_exception()};
  }
}

void session_impl::run_as_task(const std::shared_ptr<call_state>& call, registered_tool& tool,
                               const json& arguments) {
  std::shared_ptr<task_record> task;
  try {
    if (tool.definition.before_task) {
      tool_context context(std::make_shared<context_backend>(shared_from_this(), call));
      tool.definition.before_task(context, arguments);
    }
    task = server_->tasks.create(options_.identity, server_->options.task_ttl);
    std::weak_ptr<server::state> server = server_;
    task->on_change = [server, owner = options_.identity](const json& detailed) {
      if (auto state = server.lock()) {
        for (const auto& session : state->live_sessions()) session->task_changed(owner, detailed);
      }
    };
  } catch (...) {
    // Input still needed (an InputRequiredResult), or a refusal: the request is answered.
    conclude_tool(call, tool, std::nullopt, std::current_exception(), &arguments);
    return;
  }
  bool gone = false;
  {
    std::lock_guard lock(mutex_);
    gone = closed_;
    started_task_ = true;  // before the answer goes out: see reusable()
  }
  if (gone || !call->claim()) {
    task->cancel();  // the request was cancelled, timed out or lost its client: nobody knows the task
    return;
  }
  task->preset_answers(call->stateless->answers);
  send_result_now(call->id, task->created());
  finish_call(call);  // the request is over; the task goes on without it

  // The task's own call: the request's end (its HTTP stream, its session closing) must not
  // cancel it; tasks/cancel does.
  auto run = std::make_shared<call_state>();
  run->id = call->id;
  run->method = call->method;
  run->tool_name = call->tool_name;
  run->stateless = call->stateless;
  run->task = task;
  run->stop = task->stop;
  const auto limit = server_->options.tool_timeout.value_or(tool.definition.timeout);
  run->deadline = std::chrono::steady_clock::now() + limit;
  // The tool's time limit holds for its task too (a task waiting for input included).
  std::weak_ptr<task_record> watched = task;
  auto deadline = server_->workers.run_after(limit, [watched, limit, name = tool.definition.name] {
    if (auto late = watched.lock(); late && !late->terminal()) {
      late->fail(error_code::internal_error, "Tool " + name + " did not finish within its time limit of " +
                                                 std::to_string(limit.count()) + " ms and was cancelled");
      late->stop.request_stop();
    }
  });
  auto [outcome, failure] = run_handler(run, tool, arguments);
  deadline.cancel();
  conclude_tool(run, tool, std::move(outcome), failure);
}

bool session_impl::start_async_tool(const std::shared_ptr<call_state>& call,
                                    const std::shared_ptr<registered_tool>& tool,
                                    const json& arguments) {
  if (call->stop.stop_requested()) {
    finish_call(call);
    return true;
  }
  // Like an inline tool, it must not wait for the client (request_client, sleep_for).
  call->runs_inline = true;
  tool_completion done([self = shared_from_this(), call, tool](std::optional<tool_result> outcome,
                                                               std::exception_ptr failure) {
    if (call->async_completed.exchange(true)) return;
    self->conclude_tool(call, *tool, std::move(outcome), failure);
    self->finish_call(call);
    int starting = 0;
    // Completed while its start is still running: the starter frees the slot.
    if (call->async_phase.compare_exchange_strong(starting, 2)) return;
    free_slot(*tool);
  });
  bool accepted = true;
  try {
    accepted = tool->definition.async_handler(
        tool_context(std::make_shared<context_backend>(shared_from_this(), call)), arguments, done);
  } catch (...) {
    done.fail(std::current_exception());
  }
  if (!accepted) {
    // Declined: the blocking handler runs on a worker, in this call's slot.
    call->runs_inline = false;
    server_->workers.post([self = shared_from_this(), call, tool, arguments] {
      self->run_tool(call, tool, arguments);
      free_slot(*tool);
    });
    return false;
  }
  int starting = 0;
  return !call->async_phase.compare_exchange_strong(starting, 1);
}

void session_impl::conclude_tool(const std::shared_ptr<call_state>& call, registered_tool& tool,
                                 std::optional<tool_result> outcome, std::exception_ptr failure,
                                 const json* arguments) {
  const auto started = call->started;
  std::optional<tool_result> result;
  std::optional<rpc_error> error;
  std::optional<json> input_request;
  try {
    if (failure) std::rethrow_exception(failure);
    if (!outcome) throw std::logic_error("a tool completed with neither a result nor an error");
    if (tool.output_schema && !outcome->is_error) {
      if (!outcome->has_structured_content()) {
        spdlog::error("tool {} declares an outputSchema but returned no structuredContent", tool.definition.name);
        error.emplace(error_code::internal_error, "Internal error");
      } else if (server_->options.validate_output) {
        if (auto problems = tool.output_schema->validate(outcome->structured_value());
            !problems.empty()) {
          std::string joined;
          for (const auto& problem : problems) joined += "\n- " + problem;
          spdlog::error("tool {} returned structuredContent that does not match its outputSchema:{}",
                        tool.definition.name, joined);
          error.emplace(error_code::internal_error, "Internal error");
        }
      }
    }
    if (!error) result = std::move(*outcome);
  } catch (const input_required& ask) {
    if (call->stateless) {
      // The handler needs the client's input first: the client answers and sends the request
      // again, with the answers so far sealed in requestState.
      input_request = json{{"resultType", "input_required"},
                           {"inputRequests", ask.requests},
                           {"requestState", seal_request_state(*call->stateless, arguments)}};
    } else {
      spdlog::error("tool {} asked for input outside a 2026-07-28 request", tool.definition.name);
      error.emplace(error_code::internal_error, "Internal error");
    }
  } catch (const tool_error& failure) {
    result = tool_result::error(failure.what());
  } catch (const cancelled_error&) {
    // The handler noticed cancellation; whoever cancelled has decided the outcome. A handler
    // that throws it without being cancelled is a bug: answer rather than leave the call hanging.
    if (!call->stop.stop_requested()) {
      spdlog::error("tool {} threw cancelled_error without being cancelled", tool.definition.name);
      error.emplace(error_code::internal_error, "Internal error");
    }
  } catch (const rpc_error& failure) {
    error = failure;
  } catch (const std::exception& failure) {
    spdlog::error("tool {} (session {}, request {}) threw: {}", tool.definition.name,
                  options_.session_id, call->id.to_string(), failure.what());
    error.emplace(error_code::internal_error, "Internal error");
  } catch (...) {
    spdlog::error("tool {} (session {}, request {}) threw a non-standard exception",
                  tool.definition.name, options_.session_id, call->id.to_string());
    error.emplace(error_code::internal_error, "Internal error");
  }
  if (spdlog::should_log(spdlog::level::trace)) {
    spdlog::trace("tool {} finished in {} us", tool.definition.name,
                  std::chrono::duration_cast<std::chrono::microseconds>(std::chrono::steady_clock::now() - started)
                      .count());
  }
  if (call->task) {
    // A task's run: its outcome is kept for tasks/get (a cancelled task stays cancelled).
    if (result) {
      call->task->complete(json::parse(std::move(*result).serialize(true)));
    } else if (error) {
      call->task->fail(error->code(), error->what());
    } else if (call->stop.stop_requested()) {
      call->task->cancel();
    } else {
      call->task->fail(error_code::internal_error, "Internal error");
    }
    return;
  }
  if (!result && !error && !input_request) return;
  if (!call->claim()) return;
  if (input_request) {
    call->outcome = "input_required";
    send_result_now(call->id, *input_request);
  } else if (result) {
    if (result->is_error) call->outcome = "tool_error";
    send_response_text(call->id,
                       std::move(*result).serialize_response(call->id, call->stateless != nullptr));
  } else {
    call->outcome = error->code() == error_code::internal_error ? "internal_error" : "error";
    send_error_now(call->id, *error);
  }
}
}  // namespace bookmcp::mcp::detail

namespace bookmcp::mcp {

using detail::context_backend;

tool_context::tool_context(std::shared_ptr<backend> backend) : backend_(std::move(backend)) {}

std::stop_token tool_context::stop_token() const { return backend_->call_->stop.get_token(); }

std::chrono::steady_clock::time_point tool_context::deadline() const { return backend_->call_->deadline; }

const std::string& tool_context::identity() const { return backend_->session_->identity(); }

const std::string& tool_context::session_id() const { return backend_->session_->id(); }

bool tool_context::has_progress_token() const { return backend_->call_->progress_token.has_value(); }

void tool_context::report_progress(double progress, std::optional<double> total,
                                   std::optional<std::string> message) const {
  auto& call = *backend_->call_;
  if (!call.progress_token || call.finished) return;
  {
    std::lock_guard lock(call.progress_mutex);
    if (!(progress > call.last_progress)) return;
    call.last_progress = progress;
  }
  json params = {{"progressToken", *call.progress_token}, {"progress", progress}};
  if (total) params["total"] = *total;
  if (message) params["message"] = *message;
  backend_->session_->notify_related("notifications/progress", params, call.id);
}

void tool_context::log(log_level level, const json& data, std::string_view logger) const {
  const auto& call = *backend_->call_;
  if (call.stateless) {
    backend_->session_->send_request_log(*call.stateless, level, data, logger, call.id);
  } else {
    backend_->session_->send_log(level, data, logger, call.id);
  }
}

std::vector<json> tool_context::request_client_all(const std::vector<client_request>& requests,
                                                   std::chrono::milliseconds timeout) const {
  std::vector<json> answers;
  auto& call = *backend_->call_;
  if (!call.stateless) {
    for (const auto& item : requests) answers.push_back(request_client(item.method, item.params, timeout));
    return answers;
  }
  // 2026-07-28: every input this round lacks is asked for in one InputRequiredResult.
  auto& request = *call.stateless;
  json missing = json::object();
  for (const auto& item : requests) {
    const std::string capability = detail::capability_for(item.method);
    if (!capability.empty() && !request.client_capabilities.contains(capability)) {
      throw rpc_error(error_code::missing_client_capability,
                      "The client did not declare the \"" + capability + "\" capability, which " +
                          item.method + " needs",
                      {{"requiredCapabilities", {{capability, json::object()}}}});
    }
    if (auto it = request.answers.find(item.key); it != request.answers.end()) {
      answers.push_back(*it);
    } else {
      missing[item.key] = {{"method", item.method}, {"params", item.params}};
    }
  }
  if (call.task) return call.task->ask(requests, call.stop.get_token());  // waits for tasks/update
  if (!missing.empty()) throw detail::input_required{std::move(missing)};
  return answers;
}

bool tool_context::client_supports(std::string_view capability) const {
  const auto& call = *backend_->call_;
  if (call.stateless) return call.stateless->client_capabilities.contains(capability);
  return backend_->session_->client_supports(capability);
}

json tool_context::request_client(std::string_view method, const json& params,
                                  std::chrono::milliseconds timeout) const {
  if (auto* request = backend_->call_->stateless.get()) {
    // Keys by order of asking: the handler asks in the same order on every round.
    const std::string key = std::string(method.substr(0, method.find('/'))) + "-" +
                            std::to_string(++request->asked);
    return request_client_all({{key, std::string(method), params}}, timeout).front();
  }
  if (backend_->call_->runs_inline) {
    throw tool_error(std::string(method) + " cannot be sent from a tool that runs inline");
  }
  try {
    return backend_->session_->request_related(method, params, timeout, stop_token(),
                                               backend_->call_->id);
  } catch (const rpc_error& error) {
    throw tool_error(std::string(method) + " failed: " + error.what());
  }
}

bool tool_context::sleep_for(std::chrono::steady_clock::duration duration) const {
  if (backend_->call_->runs_inline) {
    throw tool_error("a tool that runs inline cannot sleep");
  }
  std::mutex mutex;
  std::condition_variable_any never;
  std::unique_lock lock(mutex);
  const auto token = stop_token();
  return !never.wait_for(lock, token, duration, [] { return false; }) && !token.stop_requested();
}

}  // namespace bookmcp::mcp
