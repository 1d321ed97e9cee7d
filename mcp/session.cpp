// One session: its lifecycle, what it sends, how inbound messages are routed (dispatch(),
// batches, notifications, answers to its own requests), the handshake (initialize) and the
// server-to-client requests of the handshake era. The methods both eras answer are in
// session_methods.cpp, the tool runtime in tool_calls.cpp, the 2026-07-28 (stateless) era in
// stateless.cpp.

#include "mcp/detail/session_impl.hpp"

#include <sys/random.h>

#include <spdlog/spdlog.h>

#include "mcp/detail/session_helpers.hpp"
#include "mcp/stateless.hpp"

namespace bookmcp::mcp::detail {

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


std::string require_uri(const json& params, std::string_view method) {
  std::string uri = require_string(params, "uri", method);
  if (uri.size() > max_uri_length) {
    throw rpc_error(error_code::invalid_params, std::string(method) + ": \"uri\" is longer than " +
                                                    std::to_string(max_uri_length) + " characters");
  }
  return uri;
}


std::string capability_for(std::string_view method) {
  if (method == "sampling/createMessage") return "sampling";
  if (method == "elicitation/create") return "elicitation";
  if (method == "roots/list") return "roots";
  return {};
}

// ---------------------------------------------------------------------------------------
// session_impl: lifecycle

session_impl::session_impl(std::shared_ptr<server::state> server,
                           std::shared_ptr<message_sink> sink, session_options options)
    : server_(std::move(server)), sink_(std::move(sink)), options_(std::move(options)) {
  if (options_.session_id.empty()) options_.session_id = random_hex(16);
  log_level_ = server_->options.default_log_level;
  if (server_->options.observer && !options_.transient)
    server_->options.observer->session_opened(options_.transport);
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
  if (server_->options.observer && !options_.transient)
    server_->options.observer->session_closed(options_.transport);
  // A transient session is among the server's only when it listened: the others do not take
  // the server-wide lock (one per stateless HTTP request).
  if (options_.transient && !listed_.load(std::memory_order_acquire)) return;
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

bool session_impl::reusable() const {
  if (!options_.transient || listed_.load(std::memory_order_acquire)) return false;
  std::lock_guard lock(mutex_);
  return !closed_ && running_ == 0 && listeners_.empty() && !started_task_;
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

void session_impl::send_request_log(const stateless_call& request, log_level level,
                                    const json& data, std::string_view logger,
                                    const request_id& related) {
  if (!request.log_level || level < *request.log_level) return;
  json params = {{"level", to_string(level)}, {"data", data}};
  if (!logger.empty()) params["logger"] = logger;
  send(make_notification("notifications/message", params),
       {outbound_route::kind::notification, related});
}

void session_impl::list_changed(std::string_view method) {
  std::vector<std::pair<request_id, std::string>> streams;
  {
    std::lock_guard lock(mutex_);
    for (const auto& item : listeners_) {
      const bool wanted = (method == "notifications/tools/list_changed" && item.tools) ||
                          (method == "notifications/prompts/list_changed" && item.prompts) ||
                          (method == "notifications/resources/list_changed" && item.resources);
      if (wanted) streams.emplace_back(item.id, item.subscription_id);
    }
  }
  if (initialized()) notify(method, json::object());
  for (const auto& [id, subscription] : streams) {
    notify_related(method, {{"_meta", {{meta_key::subscription_id, subscription}}}}, id);
  }
}

void session_impl::resource_updated(const std::string& uri) {
  for (const auto& subscribed : subscriptions_within(uri))
    notify("notifications/resources/updated", {{"uri", subscribed}});
  std::vector<std::tuple<request_id, std::string, std::string>> streams;
  {
    std::lock_guard lock(mutex_);
    const std::string parts = uri + '#';
    for (const auto& item : listeners_) {
      if (item.uris.contains(uri)) streams.emplace_back(item.id, item.subscription_id, uri);
      for (auto it = item.uris.lower_bound(parts);
           it != item.uris.end() && it->compare(0, parts.size(), parts) == 0; ++it)
        streams.emplace_back(item.id, item.subscription_id, *it);
    }
  }
  for (const auto& [id, subscription, subscribed] : streams) {
    notify_related("notifications/resources/updated",
                   {{"uri", subscribed}, {"_meta", {{meta_key::subscription_id, subscription}}}}, id);
  }
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
    // A transient session serves one stateless HTTP request: whatever it holds (even a body
    // without its _meta, refused there) is a 2026-07-28 request.
    if (options_.transient || is_stateless_message(message.body)) {
      handle_stateless_request(message);
    } else {
      handle_request(message);
    }
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
    if (!call) {
      // A subscriptions/listen stream ends when the client cancels it; unknown or finished
      // requests are ignored, as the spec asks.
      std::lock_guard lock(mutex_);
      std::erase_if(listeners_, [&](const listener& item) { return item.id == *id; });
      return;
    }
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
