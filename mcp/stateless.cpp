// The stateless protocol revision (2026-07-28): a request's own _meta instead of a session's
// handshake, server/discover, version errors, resultType and cache hints on results,
// subscriptions/listen streams, and the multi-round requests (input_required) whose state the
// client carries, sealed (mcp/request_state.hpp). The methods themselves are answered by the
// same code as in the handshake era (session_methods.cpp, tool_calls.cpp).

#include "mcp/stateless.hpp"

#include <openssl/evp.h>

#include <chrono>

#include <spdlog/spdlog.h>

#include "mcp/detail/session_helpers.hpp"
#include "mcp/detail/session_impl.hpp"

namespace bookmcp::mcp {

bool is_stateless_only_method(std::string_view method) {
  return method == "server/discover" || method == "subscriptions/listen";
}

bool is_stateless_message(const json& message) {
  const auto method = message.find("method");
  if (method == message.end() || !method->is_string()) return false;
  if (is_stateless_only_method(method->get_ref<const std::string&>())) return true;
  const auto params = message.find("params");
  if (params == message.end() || !params->is_object()) return false;
  const auto meta = params->find("_meta");
  return meta != params->end() && meta->is_object() && meta->contains(meta_key::protocol_version);
}

std::optional<std::string> meta_protocol_version(const json& message) {
  const auto params = message.find("params");
  if (params == message.end() || !params->is_object()) return std::nullopt;
  const auto meta = params->find("_meta");
  if (meta == params->end() || !meta->is_object()) return std::nullopt;
  const auto version = meta->find(meta_key::protocol_version);
  if (version == meta->end() || !version->is_string()) return std::nullopt;
  return version->get<std::string>();
}

int http_status_for_stateless_error(int code) {
  switch (code) {
    case error_code::parse_error:
    case error_code::invalid_request:
    case error_code::invalid_params:
    case error_code::header_mismatch:
    case error_code::missing_client_capability:
    case error_code::unsupported_protocol_version:
      return 400;
    case error_code::method_not_found:
      return 404;
    default:
      return 200;
  }
}

}  // namespace bookmcp::mcp

namespace bookmcp::mcp::detail {

namespace {

// The methods of the handshake era this revision removed (answered "Method not found").
bool removed_method(std::string_view method) {
  return method == "initialize" || method == "ping" || method == "logging/setLevel" ||
         method == "resources/subscribe" || method == "resources/unsubscribe";
}

rpc_error meta_error(const std::string& what) {
  return rpc_error(error_code::invalid_params,
                   "Invalid params: " + what +
                       " (a 2026-07-28 request carries params._meta with "
                       "io.modelcontextprotocol/protocolVersion and "
                       "io.modelcontextprotocol/clientCapabilities)");
}

std::string sha256_hex(std::string_view text) {
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int size = 0;
  if (EVP_Digest(text.data(), text.size(), digest, &size, EVP_sha256(), nullptr) != 1)
    throw std::runtime_error("sha256 failed");
  static constexpr char digits[] = "0123456789abcdef";
  std::string out;
  out.reserve(size * 2);
  for (unsigned int i = 0; i < size; ++i) {
    out.push_back(digits[digest[i] >> 4]);
    out.push_back(digits[digest[i] & 15]);
  }
  return out;
}

std::int64_t unix_millis() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

// What a multi-round request is about: the name it targets and its arguments.
std::pair<std::string, const json*> subject_of(const std::string& method, const json& params) {
  static const json none = json::object();
  const char* name_key = method == "resources/read" ? "uri" : "name";
  std::string name;
  if (auto it = params.find(name_key); it != params.end() && it->is_string()) name = it->get<std::string>();
  const json* arguments = &none;
  if (auto it = params.find("arguments"); it != params.end() && !it->is_null()) arguments = &*it;
  return {std::move(name), arguments};
}

}  // namespace

std::shared_ptr<stateless_call> session_impl::read_stateless_call(const std::string& method,
                                                                  const json& params) {
  const auto meta = params.find("_meta");
  if (meta == params.end() || !meta->is_object()) throw meta_error("params._meta is missing");
  const auto version = meta->find(meta_key::protocol_version);
  if (version == meta->end() || !version->is_string()) {
    throw meta_error("_meta has no io.modelcontextprotocol/protocolVersion (a string)");
  }
  const auto capabilities = meta->find(meta_key::client_capabilities);
  if (capabilities == meta->end() || !capabilities->is_object()) {
    throw meta_error("_meta has no io.modelcontextprotocol/clientCapabilities (an object)");
  }
  if (auto info = meta->find(meta_key::client_info); info != meta->end() && !info->is_object()) {
    throw meta_error("_meta io.modelcontextprotocol/clientInfo must be an object");
  }
  const std::string& requested = version->get_ref<const std::string&>();
  if (requested != stateless_protocol_version) {
    std::string message = "Unsupported protocol version \"" + printable_excerpt(requested, 64) + "\"";
    if (is_supported_protocol_version(requested)) {
      message += ": this version is served after an initialize handshake, not per request";
    }
    throw rpc_error(error_code::unsupported_protocol_version, message,
                    {{"supported", json::array({stateless_protocol_version})}, {"requested", requested}});
  }
  auto call = std::make_shared<stateless_call>();
  call->protocol_version = requested;
  call->client_capabilities = *capabilities;
  if (auto level = meta->find(meta_key::log_level); level != meta->end()) {
    const auto parsed = level->is_string() ? parse_log_level(level->get_ref<const std::string&>())
                                           : std::nullopt;
    if (!parsed) {
      throw meta_error("_meta io.modelcontextprotocol/logLevel must be one of debug, info, notice, "
                       "warning, error, critical, alert, emergency");
    }
    call->log_level = parsed;
  }
  if (method != "tools/call" && method != "prompts/get" && method != "resources/read") return call;

  // A multi-round request: the answers of earlier rounds come back sealed in requestState,
  // this round's in inputResponses.
  call->method = method;
  auto [name, arguments] = subject_of(method, params);
  call->name = std::move(name);
  const auto responses = params.find("inputResponses");
  const auto state = params.find("requestState");
  const bool has_responses = responses != params.end();
  const bool has_state = state != params.end() && !state->is_null();
  // The digest binds a requestState to this request's arguments (it is sealed into the state
  // this request may issue, and checked against the state it brings). A tool's arguments are
  // digested once prepared (defaults applied), in start_tool_call, and only when a state is
  // sealed or brought: a plain call does not pay for it.
  if (method != "tools/call") call->digest = request_digest(method, call->name, *arguments);
  if (!has_responses && !has_state) return call;
  if (has_state) {
    if (!state->is_string()) throw rpc_error(error_code::invalid_params, "Invalid params: requestState must be a string");
    const auto payload = server_->state_codec.open(state->get_ref<const std::string&>());
    const auto refuse = [](const std::string& why) {
      return rpc_error(error_code::invalid_params,
                       "Invalid params: requestState " + why + "; send the request again without it");
    };
    if (!payload) throw refuse("was not issued by this server or was changed");
    if (payload->value("v", 0) != 1 || !payload->contains("a") || !(*payload)["a"].is_object())
      throw refuse("is not in a known format");
    if (payload->value("p", std::string()) != options_.identity)
      throw refuse("belongs to another caller");
    if (payload->value("m", std::string()) != method || payload->value("n", std::string()) != call->name ||
        (method != "tools/call" && payload->value("d", std::string()) != call->digest)) {
      throw refuse("belongs to another request");
    }
    if (method == "tools/call") call->state_digest = payload->value("d", std::string("-"));
    if (payload->value("x", std::int64_t{0}) < unix_millis()) throw refuse("has expired");
    call->answers = (*payload)["a"];
  }
  if (responses != params.end()) {
    if (!responses->is_object()) {
      throw rpc_error(error_code::invalid_params, "Invalid params: inputResponses must be an object");
    }
    for (const auto& [key, value] : responses->items()) {
      if (!value.is_object()) {
        throw rpc_error(error_code::invalid_params,
                        "Invalid params: inputResponses." + printable_excerpt(key, 64) +
                            " must be an object (the result of the input request)");
      }
      call->answers[key] = value;
    }
  }
  return call;
}

std::string request_digest(const std::string& method, const std::string& name, const json& arguments) {
  return sha256_hex(method + '\n' + name + '\n' + dump_json(arguments));
}

std::string session_impl::seal_request_state(stateless_call& request, const json* arguments) const {
  if (request.digest.empty()) {
    static const json none = json::object();
    request.digest = request_digest(request.method, request.name, arguments ? *arguments : none);
  }
  const auto ttl = std::chrono::duration_cast<std::chrono::milliseconds>(server_->options.request_state_ttl);
  return server_->state_codec.seal({{"v", 1},
                                    {"m", request.method},
                                    {"n", request.name},
                                    {"d", request.digest},
                                    {"p", options_.identity},
                                    {"x", unix_millis() + ttl.count()},
                                    {"a", request.answers}});
}

void session_impl::send_stateless_result(const request_id& id, json result) {
  result["resultType"] = "complete";
  send_result_now(id, result);
}

void session_impl::handle_stateless_request(incoming_message& message) {
  const std::string& method = message.method;
  const request_id& id = *message.id;
  const json& params = params_of(message.body);
  if (!params.is_object()) throw meta_error("params must be an object");
  auto call = read_stateless_call(method, params);
  const auto& options = server_->options;
  if (method == "server/discover") {
    json server_info = {{"name", options.name}, {"version", options.version}};
    if (!options.title.empty()) server_info["title"] = options.title;
    json result = {{"supportedVersions", json::array({stateless_protocol_version})},
                   {"capabilities",
                    {{"tools", {{"listChanged", true}}},
                     {"resources", {{"subscribe", true}, {"listChanged", true}}},
                     {"prompts", {{"listChanged", true}}},
                     {"logging", json::object()},
                     {"completions", json::object()},
                     {"extensions", {{tasks_extension, json::object()}}}}},
                   {"ttlMs", options.list_ttl.count()},
                   {"cacheScope", "public"},
                   {"_meta", {{meta_key::server_info, std::move(server_info)}}}};
    if (!options.instructions.empty()) result["instructions"] = options.instructions;
    send_stateless_result(id, std::move(result));
    return;
  }
  if (method == "tools/call") {
    start_tool_call(id, params, std::move(call));
    return;
  }
  if (auto page = list_page(method, params)) {
    (*page)["ttlMs"] = options.list_ttl.count();
    (*page)["cacheScope"] = "public";
    send_stateless_result(id, std::move(*page));
    return;
  }
  if (method == "resources/read") {
    const std::string uri = require_uri(params, method);
    run_on_pool(id, method, [this, uri](const tool_context&) {
      json result = read_resource(uri);
      // Resources change when the book is re-indexed or a todo changes: not cached.
      result["ttlMs"] = 0;
      result["cacheScope"] = "private";
      return result;
    }, std::move(call));
    return;
  }
  if (method == "prompts/get") {
    run_on_pool(id, method, prepare_prompt(params), std::move(call));
    return;
  }
  if (method == "completion/complete") {
    run_on_pool(id, method, [this, params](const tool_context&) { return complete(params); },
                std::move(call));
    return;
  }
  if (method == "subscriptions/listen") {
    start_listening(id, params);
    return;
  }
  if (method == "tasks/get" || method == "tasks/update" || method == "tasks/cancel") {
    handle_task_method(id, method, params, *call);
    return;
  }
  if (removed_method(method)) {
    throw rpc_error(error_code::method_not_found,
                    "Method not found: " + method + " is not part of protocol 2026-07-28" +
                        (method == "initialize" ? " (send initialize without request _meta for a "
                                                  "handshake-era session)"
                                                : ""));
  }
  throw rpc_error(error_code::method_not_found, "Method not found: " + printable_excerpt(method, 128));
}

void session_impl::handle_task_method(const request_id& id, const std::string& method, const json& params,
                                      const stateless_call& request) {
  if (!declares_tasks(request.client_capabilities)) {
    throw tasks_extension_required(method + " is part of the " + std::string(tasks_extension) +
                                   " extension: declare it in the client capabilities");
  }
  const std::string task_id = require_string(params, "taskId", method);
  const auto task = server_->tasks.find(task_id, options_.identity);
  if (!task) {
    throw rpc_error(error_code::invalid_params,
                    "Invalid params: no task " + printable_excerpt(task_id, 128) +
                        " (unknown, another caller's, or expired)");
  }
  if (method == "tasks/get") {
    send_result_now(id, task->detailed());
    return;
  }
  if (method == "tasks/update") {
    const auto responses = params.find("inputResponses");
    if (responses == params.end() || !responses->is_object()) {
      throw rpc_error(error_code::invalid_params, "Invalid params: tasks/update needs inputResponses (an object)");
    }
    task->answer(*responses);
  } else {
    task->cancel();
  }
  send_result_now(id, {{"resultType", "complete"}});
}

void session_impl::task_changed(const std::string& owner, const json& detailed) {
  if (owner != options_.identity) return;
  std::vector<std::pair<request_id, std::string>> streams;
  {
    std::lock_guard lock(mutex_);
    for (const auto& item : listeners_) {
      if (item.tasks) streams.emplace_back(item.id, item.subscription_id);
    }
  }
  for (const auto& [id, subscription] : streams) {
    json params = detailed;
    params.erase("resultType");
    params["_meta"] = {{meta_key::subscription_id, subscription}};
    notify_related("notifications/tasks", params, id);
  }
}

void session_impl::start_listening(const request_id& id, const json& params) {
  const auto filter = params.find("notifications");
  if (filter == params.end() || !filter->is_object()) {
    throw rpc_error(error_code::invalid_params,
                    "Invalid params: subscriptions/listen needs \"notifications\" (an object naming "
                    "what to listen to)");
  }
  const auto flag = [&](const char* key) {
    const auto it = filter->find(key);
    if (it == filter->end() || it->is_null()) return false;
    if (!it->is_boolean()) {
      throw rpc_error(error_code::invalid_params,
                      std::string("Invalid params: notifications.") + key + " must be a boolean");
    }
    return it->get<bool>();
  };
  listener item;
  item.id = id;
  item.subscription_id = "sub-" + random_hex(8);
  item.tools = flag("toolsListChanged");
  item.prompts = flag("promptsListChanged");
  item.resources = flag("resourcesListChanged");
  item.tasks = flag("tasks");  // the tasks extension's status notifications
  if (auto uris = filter->find("resourceSubscriptions"); uris != filter->end() && !uris->is_null()) {
    if (!uris->is_array()) {
      throw rpc_error(error_code::invalid_params,
                      "Invalid params: notifications.resourceSubscriptions must be an array of URIs");
    }
    for (const auto& uri : *uris) {
      if (!uri.is_string() || uri.get_ref<const std::string&>().size() > max_uri_length) {
        throw rpc_error(error_code::invalid_params,
                        "Invalid params: notifications.resourceSubscriptions must hold URIs (strings "
                        "of at most " + std::to_string(max_uri_length) + " characters)");
      }
      item.uris.insert(uri.get<std::string>());
    }
    if (item.uris.size() > max_subscriptions) {
      throw rpc_error(error_code::invalid_params,
                      "Too many subscriptions: at most " + std::to_string(max_subscriptions) +
                          " resources per listen stream");
    }
  }
  json granted = json::object();
  if (item.tools) granted["toolsListChanged"] = true;
  if (item.prompts) granted["promptsListChanged"] = true;
  if (item.resources) granted["resourcesListChanged"] = true;
  if (item.tasks) granted["tasks"] = true;
  if (!item.uris.empty()) granted["resourceSubscriptions"] = item.uris;
  const std::string subscription = item.subscription_id;
  {
    std::lock_guard lock(mutex_);
    if (closed_) throw rpc_error(error_code::connection_closed, "the session is closed");
    if (listeners_.size() >= max_listeners) {
      throw rpc_error(error_code::invalid_request,
                      "Invalid Request: at most " + std::to_string(max_listeners) +
                          " subscriptions/listen streams per connection");
    }
    listeners_.push_back(std::move(item));
  }
  if (options_.transient) {
    // A stateless request's session is not among the server's until it listens.
    std::lock_guard lock(server_->sessions_mutex);
    server_->sessions[options_.session_id] = weak_from_this();
    listed_.store(true, std::memory_order_release);
  }
  notify_related("notifications/subscriptions/acknowledged",
                 {{"notifications", std::move(granted)},
                  {"_meta", {{meta_key::subscription_id, subscription}}}},
                 id);
}

}  // namespace bookmcp::mcp::detail
