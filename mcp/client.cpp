#include "mcp/client.hpp"

namespace bookmcp::mcp {

client::client(std::shared_ptr<message_sink> sink, client_options options)
    : sink_(std::move(sink)), options_(std::move(options)) {}

client::~client() { fail_all(rpc_error(error_code::connection_closed, "the client was destroyed")); }

void client::fail_all(const rpc_error& error) {
  std::unordered_map<request_id, std::shared_ptr<waiter>, request_id::hash> waiting;
  {
    std::lock_guard lock(mutex_);
    waiting.swap(waiting_);
  }
  for (auto& [id, entry] : waiting) entry->promise.set_exception(std::make_exception_ptr(error));
}

void client::connection_closed() {
  fail_all(rpc_error(error_code::connection_closed, "the connection closed"));
}

void client::handle_message(std::string_view text) {
  incoming_message message = parse_message(text);
  using kind = incoming_message::kind;
  if (message.type == kind::response || message.type == kind::error_response) {
    std::shared_ptr<waiter> entry;
    {
      std::lock_guard lock(mutex_);
      if (auto it = waiting_.find(*message.id); it != waiting_.end()) {
        entry = it->second;
        waiting_.erase(it);
      }
    }
    if (!entry) return;
    if (message.type == kind::response) {
      entry->promise.set_value(std::move(message.body["result"]));
    } else {
      const json& error = message.body["error"];
      entry->promise.set_exception(std::make_exception_ptr(
          rpc_error(error.value("code", 0), error.value("message", std::string()), error.value("data", json()))));
    }
    return;
  }
  if (message.type == kind::notification) {
    const json params = message.body.value("params", json::object());
    if (message.method == "notifications/progress") {
      std::shared_ptr<waiter> entry;
      if (auto token = request_id::from_json(params.value("progressToken", json()))) {
        std::lock_guard lock(mutex_);
        if (auto it = waiting_.find(*token); it != waiting_.end()) entry = it->second;
      }
      if (entry && entry->on_progress) entry->on_progress(params);
    }
    std::function<void(const std::string&, const json&)> handler;
    {
      std::lock_guard lock(mutex_);
      handler = notification_handler_;
    }
    if (handler) handler(message.method, params);
    return;
  }
  if (message.type == kind::request) {
    std::function<json(const json&)> handler;
    {
      std::lock_guard lock(mutex_);
      if (auto it = request_handlers_.find(message.method); it != request_handlers_.end()) handler = it->second;
    }
    if (message.method == "ping" && !handler) {
      sink_->send(make_result(*message.id, json::object()), {outbound_route::kind::response, message.id});
      return;
    }
    if (!handler) {
      sink_->send(make_error(message.id, rpc_error(error_code::method_not_found, "Method not found: " + message.method)),
                  {outbound_route::kind::response, message.id});
      return;
    }
    try {
      json result = handler(message.body.value("params", json::object()));
      sink_->send(make_result(*message.id, result), {outbound_route::kind::response, message.id});
    } catch (const rpc_error& error) {
      sink_->send(make_error(message.id, error), {outbound_route::kind::response, message.id});
    } catch (const std::exception& error) {
      sink_->send(make_error(message.id, rpc_error(error_code::internal_error, error.what())),
                  {outbound_route::kind::response, message.id});
    }
  }
}

client::pending client::start_request(std::string_view method, json params, request_options options) {
  auto entry = std::make_shared<waiter>();
  entry->on_progress = std::move(options.on_progress);
  request_id id;
  {
    std::lock_guard lock(mutex_);
    id = request_id(next_id_++);
    waiting_.emplace(id, entry);
  }
  if (entry->on_progress) {
    if (!params.is_object()) params = json::object();
    params["_meta"]["progressToken"] = id.to_json();
  }
  pending out{id, entry->promise.get_future()};
  if (!sink_->send(make_request(id, method, params), {outbound_route::kind::request, std::nullopt})) {
    std::lock_guard lock(mutex_);
    if (waiting_.erase(id)) {
      entry->promise.set_exception(std::make_exception_ptr(
          rpc_error(error_code::connection_closed, "the connection is closed")));
    }
  }
  return out;
}

json client::request(std::string_view method, json params, request_options options) {
  const auto timeout = options.timeout.value_or(options_.timeout);
  auto call = start_request(method, std::move(params), std::move(options));
  if (call.result.wait_for(timeout) != std::future_status::ready) {
    cancel(call.id, "timed out");
    throw rpc_error(error_code::request_timeout, std::string(method) + " timed out");
  }
  return call.result.get();
}

json client::initialize() {
  json result = request("initialize", {{"protocolVersion", options_.protocol_version},
                                       {"capabilities", options_.capabilities},
                                       {"clientInfo", {{"name", options_.name}, {"version", options_.version}}}});
  server_capabilities_ = result.value("capabilities", json::object());
  notify("notifications/initialized", json::object());
  return result;
}

void client::ping() { request("ping", json::object()); }

std::vector<json> client::list_tools() {
  std::vector<json> tools;
  json params = json::object();
  for (;;) {
    json page = request("tools/list", params);
    for (auto& tool : page["tools"]) tools.push_back(std::move(tool));
    if (!page.contains("nextCursor")) break;
    params["cursor"] = page["nextCursor"];
  }
  return tools;
}

json client::call_tool(std::string_view name, json arguments, request_options options) {
  return request("tools/call", {{"name", name}, {"arguments", std::move(arguments)}}, std::move(options));
}

client::pending client::start_tool_call(std::string_view name, json arguments, request_options options) {
  return start_request("tools/call", {{"name", name}, {"arguments", std::move(arguments)}}, std::move(options));
}

void client::cancel(const request_id& id, std::string reason) {
  std::shared_ptr<waiter> entry;
  {
    std::lock_guard lock(mutex_);
    if (auto it = waiting_.find(id); it != waiting_.end()) {
      entry = it->second;
      waiting_.erase(it);
    }
  }
  notify("notifications/cancelled", {{"requestId", id.to_json()}, {"reason", reason}});
  if (entry) {
    entry->promise.set_exception(std::make_exception_ptr(rpc_error(error_code::request_timeout, "cancelled: " + reason)));
  }
}

void client::notify(std::string_view method, json params) {
  sink_->send(make_notification(method, params), {outbound_route::kind::notification, std::nullopt});
}

void client::on_notification(std::function<void(const std::string&, const json&)> handler) {
  std::lock_guard lock(mutex_);
  notification_handler_ = std::move(handler);
}

void client::on_request(std::string method, std::function<json(const json&)> handler) {
  std::lock_guard lock(mutex_);
  request_handlers_[std::move(method)] = std::move(handler);
}

}  // namespace bookmcp::mcp
