// The dispatcher and runtime of one session. Reading guide:
//   dispatch()        classifies a message and routes it;
//   handle_request()  answers the protocol methods (fast ones inline on the reader thread);
//   start_tool_call() validates, takes a concurrency slot, arms the deadline, posts the work
//                     (or, for a tool that runs inline, runs it at once on this thread);
//   run_tool()        runs a handler on a worker thread and answers exactly once.
// "Exactly once" is enforced by call_state::claim(): whoever claims first (the handler's
// completion, the deadline, a cancellation, the session closing) decides the outcome.

#include "mcp/detail/session_impl.hpp"

#include <sys/random.h>

#include <algorithm>
#include <cmath>
#include <limits>

#include <spdlog/spdlog.h>

#include "mcp/base64.hpp"

namespace bookmcp::mcp::detail {

namespace {
// A request whose id is that of a call still running (or of an earlier member of an open
// batch): refused, and answered outside that id's batch routing.
class id_in_use : public rpc_error {
 public:
  explicit id_in_use(const request_id& id)
      : rpc_error(error_code::invalid_request,
                  "Invalid Request: request id " + id.to_string() + " is already in use") {}
};
}  // namespace

namespace {

std::string random_hex(std::size_t bytes) {
  std::string raw(bytes, '\0');
  std::size_t filled = 0;
  while (filled < bytes) {
    const ssize_t got = getrandom(raw.data() + filled, bytes - filled, 0);
    if (got > 0) filled += static_cast<std::size_t>(got);
  }
  static constexpr char digits[] = "0123456789abcdef";
  std::string out;
  out.reserve(bytes * 2);
  for (unsigned char byte : raw) {
    out.push_back(digits[byte >> 4]);
    out.push_back(digits[byte & 15]);
  }
  return out;
}

const json& params_of(const json& body) {
  static const json empty = json::object();
  const auto it = body.find("params");
  if (it == body.end() || it->is_null()) return empty;
  return *it;
}

const json& require_object_params(const json& body) {
  const json& params = params_of(body);
  if (!params.is_object()) throw rpc_error(error_code::invalid_params, "params must be an object");
  return params;
}

std::string require_string(const json& params, std::string_view key, std::string_view method) {
  const auto it = params.find(key);
  if (it == params.end() || !it->is_string()) {
    throw rpc_error(error_code::invalid_params,
                    std::string(method) + " needs \"" + std::string(key) + "\" (a string)");
  }
  return it->get<std::string>();
}

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

std::string require_uri(const json& params, std::string_view method) {
  std::string uri = require_string(params, "uri", method);
  if (uri.size() > max_uri_length) {
    throw rpc_error(error_code::invalid_params, std::string(method) + ": \"uri\" is longer than " +
                                                    std::to_string(max_uri_length) + " characters");
  }
  return uri;
}

// Cursor: base64 of the last name/URI returned, so that pages stay correct when items are
// added or removed between calls.
std::string make_cursor(const std::string& last_key) { return base64_encode("after:" + last_key); }

std::optional<std::string> read_cursor(const json& params) {
  const auto it = params.find("cursor");
  if (it == params.end() || it->is_null()) return std::nullopt;
  if (!it->is_string()) throw rpc_error(error_code::invalid_params, "cursor must be a string");
  auto decoded = base64_decode(it->get<std::string>());
  if (!decoded || decoded->rfind("after:", 0) != 0) {
    throw rpc_error(error_code::invalid_params, "Invalid cursor: pass back a nextCursor unchanged");
  }
  return decoded->substr(6);
}

template <typename Map, typename Render>
json paginate(const Map& items, const json& params, std::size_t page_size, const char* key,
              Render render) {
  const auto after = read_cursor(params);
  auto it = after ? items.upper_bound(*after) : items.begin();
  json page = json::array();
  std::string last;
  for (; it != items.end() && page.size() < page_size; ++it) {
    page.push_back(render(*it->second));
    last = it->first;
  }
  json result = {{key, std::move(page)}};
  if (it != items.end()) result["nextCursor"] = make_cursor(last);
  return result;
}

json complete_values(std::vector<std::string> values) {
  const std::size_t total = values.size();
  if (values.size() > 100) values.resize(100);
  return {{"completion", {{"values", values}, {"total", total}, {"hasMore", total > 100}}}};
}

std::map<std::string, std::string> string_map(const json& object, std::string_view what) {
  std::map<std::string, std::string> out;
  if (object.is_null()) return out;
  if (!object.is_object()) throw rpc_error(error_code::invalid_params, std::string(what) + " must be an object");
  for (const auto& [key, value] : object.items()) {
    if (!value.is_string()) {
      throw rpc_error(error_code::invalid_params,
                      std::string(what) + "." + key + " must be a string");
    }
    out[key] = value.get<std::string>();
  }
  return out;
}

std::string capability_for(std::string_view method) {
  if (method == "sampling/createMessage") return "sampling";
  if (method == "elicitation/create") return "elicitation";
  if (method == "roots/list") return "roots";
  return {};
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
// session_impl: lifecycle

session_impl::session_impl(std::shared_ptr<server::state> server,
                           std::shared_ptr<message_sink> sink, session_options options)
    : server_(std::move(server)), sink_(std::move(sink)), options_(std::move(options)) {
  if (options_.session_id.empty()) options_.session_id = random_hex(16);
  log_level_ = server_->options.default_log_level;
  if (server_->options.observer) server_->options.observer->session_opened(options_.transport);
}

session_impl::~session_impl() = default;

void session_impl::close() {
  std::vector<std::shared_ptr<call_state>> calls;
  std::vector<std::shared_ptr<pending_client_request>> pending;
  {
    std::lock_guard lock(mutex_);
    if (closed_) return;
    closed_ = true;
    for (auto& [id, call] : in_flight_) calls.push_back(call);
    for (auto& [id, request] : pending_) pending.push_back(request);
    pending_.clear();
  }
  for (auto& call : calls) {
    if (call->claim()) call->outcome = "cancelled";  // the peer is gone: no response for these
    call->stop.request_stop();
    call->disarm_deadline();
  }
  for (auto& request : pending) {
    request->fail(rpc_error(error_code::connection_closed, "the session closed"));
  }
  {
    std::lock_guard lock(sink_mutex_);
    sink_.reset();
  }
  if (server_->options.observer) server_->options.observer->session_closed(options_.transport);
  std::lock_guard lock(server_->sessions_mutex);
  server_->sessions.erase(options_.session_id);
}

bool session_impl::wait_idle(std::chrono::milliseconds timeout) {
  std::unique_lock lock(mutex_);
  return idle_.wait_for(lock, timeout, [this] { return running_ == 0; });
}

void session_impl::cancel_all(std::string_view reason) {
  std::vector<std::shared_ptr<call_state>> calls;
  {
    std::lock_guard lock(mutex_);
    for (auto& [id, call] : in_flight_) calls.push_back(call);
  }
  for (auto& call : calls) {
    if (call->claim()) {
      call->outcome = "cancelled";
      send_error_now(call->id, rpc_error(error_code::internal_error, std::string(reason)));
    }
    call->stop.request_stop();
  }
}

bool session_impl::initialized() const { return initialized_.load(std::memory_order_acquire); }

std::string session_impl::protocol_version() const {
  std::lock_guard lock(mutex_);
  return protocol_version_;
}

std::size_t session_impl::calls_in_flight() const {
  std::lock_guard lock(mutex_);
  return running_;
}

std::vector<std::string> session_impl::subscriptions_within(const std::string& uri) const {
  std::vector<std::string> found;
  std::lock_guard lock(mutex_);
  // The set is ordered: the parts "uri#..." follow one another from uri + '#'.
  if (subscriptions_.contains(uri)) found.push_back(uri);
  const std::string parts = uri + '#';
  for (auto it = subscriptions_.lower_bound(parts);
       it != subscriptions_.end() && it->compare(0, parts.size(), parts) == 0; ++it)
    found.push_back(*it);
  return found;
}

// ---------------------------------------------------------------------------------------
// sending

void session_impl::send(std::string text, const outbound_route& route) {
  std::shared_ptr<message_sink> sink;
  {
    std::lock_guard lock(sink_mutex_);
    sink = sink_;
  }
  if (sink) sink->send(std::move(text), route);
}

void session_impl::send_response_text(const request_id& id, std::string text) {
  // A member of a JSON-RPC batch is answered inside the batch's array.
  std::shared_ptr<batch_collector> batch;
  if (open_batches_.load(std::memory_order_acquire) != 0) {
    std::lock_guard lock(mutex_);
    if (auto it = batch_of_.find(id); it != batch_of_.end()) {
      batch = it->second;
      batch_of_.erase(it);
      if (batch_of_.empty()) open_batches_.store(0, std::memory_order_release);
    }
  }
  if (batch) {
    std::string combined;
    {
      std::lock_guard lock(batch->mutex);
      batch->responses.push_back(std::move(text));
      batch->route = id;
      if (--batch->remaining != 0 || batch->flushed) return;
      batch->flushed = true;
      combined = join_batch(batch->responses);
    }
    send(std::move(combined), {outbound_route::kind::response, id});
    return;
  }
  send(std::move(text), {outbound_route::kind::response, id});
}

void session_impl::drop_response(const request_id& id) {
  if (open_batches_.load(std::memory_order_acquire) == 0) return;
  std::shared_ptr<batch_collector> batch;
  {
    std::lock_guard lock(mutex_);
    auto it = batch_of_.find(id);
    if (it == batch_of_.end()) return;
    batch = it->second;
    batch_of_.erase(it);
    if (batch_of_.empty()) open_batches_.store(0, std::memory_order_release);
  }
  std::string combined;
  std::optional<request_id> route;
  {
    std::lock_guard lock(batch->mutex);
    if (--batch->remaining != 0 || batch->flushed || batch->responses.empty()) return;
    batch->flushed = true;
    combined = join_batch(batch->responses);
    route = batch->route;
  }
  // Routed by a member that was answered: the dropped one's stream is gone on HTTP.
  send(std::move(combined), {outbound_route::kind::response, route});
}

void session_impl::send_result_now(const request_id& id, const json& result) {
  send_response_text(id, make_result(id, result));
}

void session_impl::send_error_now(const std::optional<request_id>& id, const rpc_error& error) {
  if (id) {
    send_response_text(*id, make_error(id, error));
  } else {
    send(make_error(id, error), {outbound_route::kind::response, std::nullopt});
  }
}

void session_impl::notify(std::string_view method, const json& params) {
  send(make_notification(method, params), {outbound_route::kind::notification, std::nullopt});
}

void session_impl::notify_related(std::string_view method, const json& params,
                                  const request_id& related) {
  send(make_notification(method, params), {outbound_route::kind::notification, related});
}

void session_impl::send_log(log_level level, const json& data, std::string_view logger,
                            const std::optional<request_id>& related) {
  {
    std::lock_guard lock(mutex_);
    if (level < log_level_) return;
  }
  json params = {{"level", to_string(level)}, {"data", data}};
  if (!logger.empty()) params["logger"] = logger;
  send(make_notification("notifications/message", params),
       {outbound_route::kind::notification, related});
}

// ---------------------------------------------------------------------------------------
// inbound

void session_impl::handle_message(std::string_view text) { dispatch(parse_message(text)); }

void session_impl::handle_parsed(json message) {
  if (message.is_array()) {
    incoming_message batch;
    batch.type = incoming_message::kind::batch;
    batch.body = std::move(message);
    dispatch(std::move(batch));
  } else {
    dispatch(classify_message(std::move(message)));
  }
}

void session_impl::dispatch(incoming_message message) {
  using kind = incoming_message::kind;
  switch (message.type) {
    case kind::invalid:
      send_error_now(message.id, *message.error);
      return;
    case kind::batch:
      handle_batch(std::move(message.body));
      return;
    case kind::notification:
      handle_notification(message);
      return;
    case kind::response:
    case kind::error_response:
      handle_response(message);
      return;
    case kind::request:
      break;
  }
  const request_id id = *message.id;
  const auto started = std::chrono::steady_clock::now();
  // Methods answered on the worker pool report themselves when they finish.
  const bool deferred = message.method == "tools/call" || message.method == "resources/read" ||
                        message.method == "prompts/get" || message.method == "completion/complete";
  std::string_view outcome = "ok";
  bool unknown_method = false;
  try {
    handle_request(message);
  } catch (const id_in_use& error) {
    // Sent as it is: the id's answer routing (an open batch) belongs to the call using it.
    outcome = "error";
    send(make_error(id, error), {outbound_route::kind::response, id});
  } catch (const rpc_error& error) {
    outcome = "error";
    unknown_method = error.code() == error_code::method_not_found;
    send_error_now(id, error);
  } catch (const std::exception& error) {
    outcome = "internal_error";
    spdlog::error("session {}: {} failed: {}", options_.session_id, message.method, error.what());
    send_error_now(id, rpc_error(error_code::internal_error, "Internal error"));
  }
  if (!deferred || outcome != "ok") {
    // Methods the server does not have are counted under one name: metrics labels must not
    // grow with whatever names clients make up.
    observe(unknown_method ? std::string_view("unknown") : std::string_view(message.method), "",
            outcome, id, started);
  }
}

void session_impl::observe(std::string_view method, std::string_view tool, std::string_view outcome,
                           const request_id& id, std::chrono::steady_clock::time_point started) {
  const auto& observer = server_->options.observer;
  if (!observer) return;
  request_event event;
  event.method = method;
  event.tool = tool;
  event.outcome = outcome;
  event.session_id = options_.session_id;
  event.identity = options_.identity;
  event.transport = options_.transport;
  event.id = &id;
  event.duration = std::chrono::steady_clock::now() - started;
  observer->request_finished(event);
}

void session_impl::handle_batch(json body) {
  const std::string version = protocol_version();
  if (version.empty() || !protocol_allows_batches(version)) {
    send_error_now(std::nullopt,
                   rpc_error(error_code::invalid_request,
                             "Invalid Request: JSON-RPC batches are not supported" +
                                 (version.empty() ? std::string(" before initialize")
                                                  : " in protocol version " + version)));
    return;
  }
  if (body.empty()) {
    send_error_now(std::nullopt, rpc_error(error_code::invalid_request, "Invalid Request: empty batch"));
    return;
  }
  std::vector<incoming_message> members;
  std::vector<bool> answered_here;  // refused before dispatch: answered in the array below
  auto batch = std::make_shared<batch_collector>();
  for (auto& element : body) {
    incoming_message member = classify_message(std::move(element));
    const bool answered = member.type == incoming_message::kind::request ||
                          (member.type == incoming_message::kind::invalid && member.id);
    bool here = false;
    if (answered) {
      std::lock_guard lock(mutex_);
      // An id still in use (a call in flight, or an earlier member of an open batch): its
      // answer must not be taken for this member's, so the member is refused in the array.
      const auto running = in_flight_.find(*member.id);
      if ((running != in_flight_.end() && !running->second->finished) ||
          batch_of_.contains(*member.id)) {
        here = true;
        member.type = incoming_message::kind::invalid;
        member.error = id_in_use(*member.id);
        ++batch->remaining;
      } else {
        batch_of_.emplace(*member.id, batch);
        ++batch->remaining;
      }
      std::lock_guard batch_lock(batch->mutex);
      if (!batch->route) batch->route = member.id;
      open_batches_.store(1, std::memory_order_release);
    } else if (member.type == incoming_message::kind::invalid) {
      here = true;  // answered with a null id; counted here, sent below
      ++batch->remaining;
    }
    members.push_back(std::move(member));
    answered_here.push_back(here);
  }
  for (std::size_t i = 0; i < members.size(); ++i) {
    auto& member = members[i];
    if (answered_here[i]) {
      std::lock_guard lock(batch->mutex);
      batch->responses.push_back(make_error(member.id, *member.error));
      --batch->remaining;
      continue;
    }
    if (member.type == incoming_message::kind::request && member.method == "initialize") {
      send_error_now(member.id, rpc_error(error_code::invalid_request,
                                          "Invalid Request: initialize must not be part of a batch"));
      continue;
    }
    dispatch(std::move(member));
  }
  // A batch of notifications only gets no reply; one whose answers were all immediate and
  // null-id errors flushes here.
  std::string combined;
  std::optional<request_id> route;
  {
    std::lock_guard lock(batch->mutex);
    if (batch->remaining != 0 || batch->responses.empty() || batch->flushed) return;
    batch->flushed = true;
    combined = join_batch(batch->responses);
    route = batch->route;
  }
  send(std::move(combined), {outbound_route::kind::response, route});
}

void session_impl::handle_notification(const incoming_message& message) {
  const json& params = params_of(message.body);
  if (message.method == "notifications/initialized") {
    std::lock_guard lock(mutex_);
    client_ready_ = true;
    return;
  }
  if (message.method == "notifications/cancelled") {
    if (!params.is_object()) return;
    const auto id_it = params.find("requestId");
    if (id_it == params.end()) return;
    const auto id = request_id::from_json(*id_it);
    if (!id) return;
    std::shared_ptr<call_state> call;
    {
      std::lock_guard lock(mutex_);
      if (auto it = in_flight_.find(*id); it != in_flight_.end()) call = it->second;
    }
    // Unknown or finished requests are ignored, as the spec asks.
    if (!call) return;
    if (call->claim()) {
      call->outcome = "cancelled";  // a cancelled request gets no response
      drop_response(call->id);      // (inside a batch, the others are still delivered)
    }
    call->stop.request_stop();
    call->disarm_deadline();
    spdlog::debug("session {}: request {} cancelled by the client", options_.session_id,
                  id->to_string());
    return;
  }
  // notifications/progress and notifications/roots/list_changed need no action here; unknown
  // notifications are ignored.
}

void session_impl::handle_response(const incoming_message& message) {
  if (!message.id) {
    // Shortened: a client could otherwise fill the log with megabytes per message.
    spdlog::warn("session {}: the client reported an error without an id: {}", options_.session_id,
                 printable_excerpt(message.body.value("error", json::object())
                                       .dump(-1, ' ', false, json::error_handler_t::replace),
                                   256));
    return;
  }
  std::shared_ptr<pending_client_request> request;
  {
    std::lock_guard lock(mutex_);
    if (auto it = pending_.find(*message.id); it != pending_.end()) {
      request = it->second;
      pending_.erase(it);
    }
  }
  if (!request) {
    spdlog::debug("session {}: response to unknown request {}", options_.session_id,
                  message.id->to_string());
    return;
  }
  if (message.type == incoming_message::kind::response) {
    request->complete(message.body["result"]);
  } else {
    const json& error = message.body["error"];
    request->fail(rpc_error(error.value("code", error_code::internal_error),
                            error.value("message", std::string("error")),
                            error.value("data", json(nullptr))));
  }
}

void session_impl::handle_request(incoming_message& message) {
  const std::string& method = message.method;
  const request_id& id = *message.id;

  if (method == "initialize") {
    send_result_now(id, on_initialize(require_object_params(message.body)));
    return;
  }
  if (method == "ping") {
    send_result_now(id, json::object());
    return;
  }
  if (!initialized()) {
    throw rpc_error(error_code::invalid_request,
                    "Invalid Request: the session is not initialized; send initialize first");
  }
  if (method == "tools/call") {
    start_tool_call(id, require_object_params(message.body));
    return;
  }
  const json& params = require_object_params(message.body);
  auto& state = *server_;
  if (method == "tools/list") {
    std::shared_lock lock(state.registry_mutex);
    send_result_now(id, paginate(state.tools, params, state.options.page_size, "tools",
                                 [](const registered_tool& tool) { return tool.listing; }));
    return;
  }
  if (method == "resources/list") {
    std::shared_lock lock(state.registry_mutex);
    send_result_now(id, paginate(state.resources, params, state.options.page_size, "resources",
                                 [](const resource_definition& resource) {
                                   json entry = {{"uri", resource.uri}, {"name", resource.name}};
                                   if (!resource.title.empty()) entry["title"] = resource.title;
                                   if (!resource.description.empty()) entry["description"] = resource.description;
                                   if (!resource.mime_type.empty()) entry["mimeType"] = resource.mime_type;
                                   if (resource.size) entry["size"] = *resource.size;
                                   return entry;
                                 }));
    return;
  }
  if (method == "resources/templates/list") {
    std::map<std::string, std::shared_ptr<const resource_template_definition>> by_template;
    {
      std::shared_lock lock(state.registry_mutex);
      for (const auto& item : state.templates) by_template[item->uri_template] = item;
    }
    send_result_now(id, paginate(by_template, params, state.options.page_size, "resourceTemplates",
                                 [](const resource_template_definition& item) {
                                   json entry = {{"uriTemplate", item.uri_template}, {"name", item.name}};
                                   if (!item.title.empty()) entry["title"] = item.title;
                                   if (!item.description.empty()) entry["description"] = item.description;
                                   if (!item.mime_type.empty()) entry["mimeType"] = item.mime_type;
                                   return entry;
                                 }));
    return;
  }
  if (method == "resources/read") {
    const std::string uri = require_uri(params, method);
    run_on_pool(id, method, [this, uri] { return read_resource(uri); });
    return;
  }
  if (method == "resources/subscribe" || method == "resources/unsubscribe") {
    const std::string uri = require_uri(params, method);
    {
      std::lock_guard lock(mutex_);
      if (method == "resources/subscribe") {
        // Bounded: each one is kept for the session's life (60,000 took half a gigabyte).
        if (subscriptions_.size() >= max_subscriptions && !subscriptions_.contains(uri)) {
          throw rpc_error(error_code::invalid_params,
                          "Too many subscriptions: at most " + std::to_string(max_subscriptions) +
                              " per session; unsubscribe from some first");
        }
        subscriptions_.insert(uri);
      } else {
        subscriptions_.erase(uri);
      }
    }
    send_result_now(id, json::object());
    return;
  }
  if (method == "prompts/list") {
    std::shared_lock lock(state.registry_mutex);
    send_result_now(id, paginate(state.prompts, params, state.options.page_size, "prompts",
                                 [](const prompt_definition& prompt) {
                                   json entry = {{"name", prompt.name}};
                                   if (!prompt.title.empty()) entry["title"] = prompt.title;
                                   if (!prompt.description.empty()) entry["description"] = prompt.description;
                                   json arguments = json::array();
                                   for (const auto& argument : prompt.arguments) {
                                     json arg = {{"name", argument.name}, {"required", argument.required}};
                                     if (!argument.title.empty()) arg["title"] = argument.title;
                                     if (!argument.description.empty()) arg["description"] = argument.description;
                                     arguments.push_back(std::move(arg));
                                   }
                                   if (!arguments.empty()) entry["arguments"] = std::move(arguments);
                                   return entry;
                                 }));
    return;
  }
  if (method == "prompts/get") {
    const std::string name = require_string(params, "name", method);
    std::shared_ptr<const prompt_definition> prompt;
    {
      std::shared_lock lock(state.registry_mutex);
      if (auto it = state.prompts.find(name); it != state.prompts.end()) prompt = it->second;
    }
    if (!prompt) throw rpc_error(error_code::invalid_params, "Unknown prompt: " + name);
    auto arguments = string_map(params.value("arguments", json::object()), "arguments");
    for (const auto& argument : prompt->arguments) {
      if (argument.required && !arguments.contains(argument.name)) {
        throw rpc_error(error_code::invalid_params, "Prompt " + name + " needs the argument \"" +
                                                        argument.name + "\"");
      }
    }
    run_on_pool(id, method, [prompt, arguments = std::move(arguments)] { return prompt->get(arguments); });
    return;
  }
  if (method == "completion/complete") {
    run_on_pool(id, method, [this, params] { return complete(params); });
    return;
  }
  if (method == "logging/setLevel") {
    const std::string name = require_string(params, "level", method);
    const auto level = parse_log_level(name);
    if (!level) {
      throw rpc_error(error_code::invalid_params,
                      "Unknown log level \"" + name +
                          "\"; use debug, info, notice, warning, error, critical, alert or emergency");
    }
    {
      std::lock_guard lock(mutex_);
      log_level_ = *level;
    }
    send_result_now(id, json::object());
    return;
  }
  throw rpc_error(error_code::method_not_found, "Method not found: " + method);
}

json session_impl::on_initialize(const json& params) {
  if (initialized()) {
    throw rpc_error(error_code::invalid_request, "Invalid Request: the session is already initialized");
  }
  const auto version = params.find("protocolVersion");
  if (version == params.end() || !version->is_string()) {
    throw rpc_error(error_code::invalid_params, "initialize needs \"protocolVersion\" (a string)");
  }
  // clientInfo is only logged: checked, and kept as a short printable name (a client's name
  // must neither forge log lines nor hold megabytes for the session's life).
  std::string client_name = "unknown";
  if (const auto info = params.find("clientInfo"); info != params.end()) {
    if (!info->is_object())
      throw rpc_error(error_code::invalid_params, "initialize: \"clientInfo\" must be an object");
    for (const char* key : {"name", "version", "title"}) {
      const auto field = info->find(key);
      if (field != info->end() && !field->is_string()) {
        throw rpc_error(error_code::invalid_params,
                        std::string("initialize: \"clientInfo.") + key + "\" must be a string");
      }
    }
    if (const auto name = info->find("name"); name != info->end()) {
      client_name = printable_excerpt(name->get_ref<const std::string&>(), 128);
    }
  }
  const std::string requested = version->get<std::string>();
  const std::string negotiated =
      is_supported_protocol_version(requested) ? requested : std::string(latest_protocol_version);
  {
    std::lock_guard lock(mutex_);
    if (!protocol_version_.empty()) {
      throw rpc_error(error_code::invalid_request, "Invalid Request: the session is already initialized");
    }
    protocol_version_ = negotiated;
    initialized_.store(true, std::memory_order_release);
    client_capabilities_ = params.value("capabilities", json::object());
    if (!client_capabilities_.is_object()) client_capabilities_ = json::object();
  }
  const auto& options = server_->options;
  json server_info = {{"name", options.name}, {"version", options.version}};
  if (!options.title.empty()) server_info["title"] = options.title;
  json result = {
      {"protocolVersion", negotiated},
      {"capabilities",
       {{"tools", {{"listChanged", true}}},
        {"resources", {{"subscribe", true}, {"listChanged", true}}},
        {"prompts", {{"listChanged", true}}},
        {"logging", json::object()},
        {"completions", json::object()}}},
      {"serverInfo", std::move(server_info)}};
  if (!options.instructions.empty()) result["instructions"] = options.instructions;
  spdlog::info("session {} initialized ({} via {}, protocol {}, client {})", options_.session_id,
               options_.identity, options_.transport, negotiated, client_name);
  return result;
}

json session_impl::read_resource(const std::string& uri) {
  std::shared_ptr<const resource_definition> resource;
  std::vector<std::shared_ptr<const resource_template_definition>> templates;
  {
    std::shared_lock lock(server_->registry_mutex);
    if (auto it = server_->resources.find(uri); it != server_->resources.end()) resource = it->second;
    templates = server_->templates;
  }
  std::vector<resource_contents> contents;
  if (resource) {
    contents = resource->read(uri);
  } else {
    bool matched = false;
    for (const auto& item : templates) {
      if (auto vars = match_uri_template(item->uri_template, uri)) {
        contents = item->read(uri, *vars);
        matched = true;
        break;
      }
    }
    if (!matched) throw resource_not_found(uri);
  }
  json out = json::array();
  for (const auto& item : contents) out.push_back(item.to_json());
  return {{"contents", std::move(out)}};
}

json session_impl::complete(const json& params) {
  const auto ref_it = params.find("ref");
  const auto arg_it = params.find("argument");
  if (ref_it == params.end() || !ref_it->is_object() || arg_it == params.end() || !arg_it->is_object()) {
    throw rpc_error(error_code::invalid_params, "completion/complete needs \"ref\" and \"argument\" objects");
  }
  const std::string type = require_string(*ref_it, "type", "completion/complete ref");
  const std::string argument = require_string(*arg_it, "name", "completion/complete argument");
  std::string value;
  if (auto value_it = arg_it->find("value"); value_it != arg_it->end()) {
    if (!value_it->is_string()) {
      throw rpc_error(error_code::invalid_params,
                      "completion/complete argument.value must be a string");
    }
    value = value_it->get<std::string>();
  }
  std::map<std::string, std::string> context;
  if (auto ctx = params.find("context"); ctx != params.end() && ctx->is_object()) {
    context = string_map(ctx->value("arguments", json::object()), "context.arguments");
  }
  if (type == "ref/prompt") {
    const std::string name = require_string(*ref_it, "name", "completion/complete ref");
    std::shared_ptr<const prompt_definition> prompt;
    {
      std::shared_lock lock(server_->registry_mutex);
      if (auto it = server_->prompts.find(name); it != server_->prompts.end()) prompt = it->second;
    }
    if (!prompt) throw rpc_error(error_code::invalid_params, "Unknown prompt: " + name);
    if (!prompt->complete) return complete_values({});
    return complete_values(prompt->complete(argument, value, context));
  }
  if (type == "ref/resource") {
    const std::string uri = require_string(*ref_it, "uri", "completion/complete ref");
    std::shared_ptr<const resource_template_definition> found;
    {
      std::shared_lock lock(server_->registry_mutex);
      for (const auto& item : server_->templates) {
        if (item->uri_template == uri) found = item;
      }
    }
    if (!found) throw rpc_error(error_code::invalid_params, "Unknown resource template: " + uri);
    if (!found->complete) return complete_values({});
    return complete_values(found->complete(argument, value, context));
  }
  throw rpc_error(error_code::invalid_params, "Unknown ref type \"" + type + "\"; use ref/prompt or ref/resource");
}

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
                               std::function<json()> work) {
  auto call = register_call(id, method, json::object());
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
      result = work();
    } catch (const rpc_error& failure) {
      error = failure;
    } catch (const resource_not_found& failure) {
      error.emplace(error_code::resource_not_found, failure.what());
    } catch (const std::exception& failure) {
      spdlog::error("session {}: {} failed: {}", self->options_.session_id, method, failure.what());
      error.emplace(error_code::internal_error, "Internal error");
    }
    if (call->claim()) {
      if (result) {
        self->send_result_now(call->id, *result);
      } else {
        call->outcome = error->code() == error_code::internal_error ? "internal_error" : "error";
        self->send_error_now(call->id, *error);
      }
    }
    self->finish_call(call);
  });
}

void session_impl::start_tool_call(const request_id& id, const json& params) {
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
    send_result_now(id, tool_result::error(std::move(text)).to_json());
    observe("tools/call", name, "invalid_arguments", id, std::chrono::steady_clock::now());
    return;
  }

  auto call = register_call(id, "tools/call", params);
  call->tool_name = name;
  if (tool->definition.runs_inline) {
    call->runs_inline = true;
    run_tool(call, tool, arguments);
    return;
  }
  const auto timeout = tool->definition.timeout;
  arm_call_deadline(call, timeout, "tool " + name, [timeout](session_impl& self, call_state& late) {
    self.send_result_now(
        late.id,
        tool_result::error("Tool " + late.tool_name + " did not finish within its time limit of " +
                           std::to_string(timeout.count()) + " ms and was cancelled.")
            .to_json());
  });

  const bool non_blocking = static_cast<bool>(tool->definition.async_handler);
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
      send_result_now(id, tool_result::error("Tool " + name + " is busy: " +
                                             std::to_string(tool->definition.max_concurrency) +
                                             " calls are running and " +
                                             std::to_string(tool->definition.max_queue) +
                                             " are waiting. Retry in a moment.")
                              .to_json());
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
  auto backend = std::make_shared<context_backend>(shared_from_this(), call);
  tool_context context(backend);
  std::optional<tool_result> outcome;
  std::exception_ptr failure;
  try {
    outcome = tool.definition.handler(context, arguments);
  } catch (...) {
    failure = std::current_exception();
  }
  conclude_tool(call, tool, std::move(outcome), failure);
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
                                 std::optional<tool_result> outcome, std::exception_ptr failure) {
  const auto started = call->started;
  std::optional<tool_result> result;
  std::optional<rpc_error> error;
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
  if (!result && !error) return;
  if (!call->claim()) return;
  if (result) {
    if (result->is_error) call->outcome = "tool_error";
    send_response_text(call->id, std::move(*result).serialize_response(call->id));
  } else {
    call->outcome = error->code() == error_code::internal_error ? "internal_error" : "error";
    send_error_now(call->id, *error);
  }
}

// ---------------------------------------------------------------------------------------
// server-to-client requests

void pending_client_request::complete(json value) {
  std::lock_guard lock(mutex);
  if (done) return;
  result = std::move(value);
  done = true;
  ready.notify_all();
}

void pending_client_request::fail(rpc_error failure) {
  std::lock_guard lock(mutex);
  if (done) return;
  error = std::move(failure);
  done = true;
  ready.notify_all();
}

json session_impl::request(std::string_view method, const json& params,
                           std::chrono::milliseconds timeout, std::stop_token stop) {
  return request_related(method, params, timeout, std::move(stop), std::nullopt);
}

json session_impl::request_related(std::string_view method, const json& params,
                                   std::chrono::milliseconds timeout, std::stop_token stop,
                                   const std::optional<request_id>& related) {
  auto pending = std::make_shared<pending_client_request>();
  request_id id;
  {
    std::lock_guard lock(mutex_);
    if (closed_) throw rpc_error(error_code::connection_closed, "the session is closed");
    const std::string capability = capability_for(method);
    if (!capability.empty() && !client_capabilities_.contains(capability)) {
      throw rpc_error(error_code::invalid_request,
                      "The client did not declare the \"" + capability + "\" capability, so " +
                          std::string(method) + " cannot be used");
    }
    id = request_id(next_request_id_++);
    pending_.emplace(id, pending);
  }
  send(make_request(id, method, params), {outbound_route::kind::request, related});

  const auto deadline = std::chrono::steady_clock::now() + timeout;
  std::unique_lock lock(pending->mutex);
  const bool done = pending->ready.wait_until(lock, stop, deadline, [&] { return pending->done; });
  if (done) {
    if (pending->error) throw *pending->error;
    return std::move(*pending->result);
  }
  lock.unlock();
  {
    std::lock_guard session_lock(mutex_);
    pending_.erase(id);
  }
  const bool was_cancelled = stop.stop_requested();
  notify_related("notifications/cancelled",
                 {{"requestId", id.to_json()}, {"reason", was_cancelled ? "cancelled" : "timed out"}},
                 related ? *related : id);
  if (was_cancelled) throw cancelled_error();
  throw rpc_error(error_code::request_timeout,
                  "The client did not answer " + std::string(method) + " within " +
                      std::to_string(timeout.count()) + " ms");
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
  backend_->session_->send_log(level, data, logger, backend_->call_->id);
}

json tool_context::request_client(std::string_view method, const json& params,
                                  std::chrono::milliseconds timeout) const {
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
