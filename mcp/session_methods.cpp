// The methods both protocol eras answer: the lists (paginated by cursor), resources/read,
// prompts/get, completion/complete and subscriptions. handle_request() is the handshake era's
// table; stateless.cpp answers the same methods for 2026-07-28 requests.

#include "mcp/detail/session_impl.hpp"

#include <spdlog/spdlog.h>

#include "mcp/base64.hpp"
#include "mcp/detail/session_helpers.hpp"

namespace bookmcp::mcp::detail {

namespace {

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

}  // namespace

std::optional<json> session_impl::list_page(std::string_view method, const json& params) {
  if (method == "tools/list") {
    std::shared_lock lock(server_->registry_mutex);
    return paginate(server_->tools, params, server_->options.page_size, "tools",
                                 [](const registered_tool& tool) { return tool.listing; });
  }
  if (method == "resources/list") {
    std::shared_lock lock(server_->registry_mutex);
    return paginate(server_->resources, params, server_->options.page_size, "resources",
                                 [](const resource_definition& resource) {
                                   json entry = {{"uri", resource.uri}, {"name", resource.name}};
                                   if (!resource.title.empty()) entry["title"] = resource.title;
                                   if (!resource.description.empty()) entry["description"] = resource.description;
                                   if (!resource.mime_type.empty()) entry["mimeType"] = resource.mime_type;
                                   if (resource.size) entry["size"] = *resource.size;
                                   return entry;
                                 });
  }
  if (method == "resources/templates/list") {
    std::map<std::string, std::shared_ptr<const resource_template_definition>> by_template;
    {
      std::shared_lock lock(server_->registry_mutex);
      for (const auto& item : server_->templates) by_template[item->uri_template] = item;
    }
    return paginate(by_template, params, server_->options.page_size, "resourceTemplates",
                                 [](const resource_template_definition& item) {
                                   json entry = {{"uriTemplate", item.uri_template}, {"name", item.name}};
                                   if (!item.title.empty()) entry["title"] = item.title;
                                   if (!item.description.empty()) entry["description"] = item.description;
                                   if (!item.mime_type.empty()) entry["mimeType"] = item.mime_type;
                                   return entry;
                                 });
  }
  if (method == "prompts/list") {
    std::shared_lock lock(server_->registry_mutex);
    return paginate(server_->prompts, params, server_->options.page_size, "prompts",
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
                                 });
  }
  return std::nullopt;
}

std::function<json(const tool_context&)> session_impl::prepare_prompt(const json& params) {
  const std::string name = require_string(params, "name", "prompts/get");
  std::shared_ptr<const prompt_definition> prompt;
  {
    std::shared_lock lock(server_->registry_mutex);
    if (auto it = server_->prompts.find(name); it != server_->prompts.end()) prompt = it->second;
  }
  if (!prompt) throw rpc_error(error_code::invalid_params, "Unknown prompt: " + name);
  auto arguments = string_map(params.value("arguments", json::object()), "arguments");
  for (const auto& argument : prompt->arguments) {
    if (argument.required && !arguments.contains(argument.name)) {
      throw rpc_error(error_code::invalid_params, "Prompt " + name + " needs the argument \"" +
                                                      argument.name + "\"");
    }
  }
  return [prompt, arguments = std::move(arguments)](const tool_context& context) {
    return prompt->get_with_context ? prompt->get_with_context(context, arguments) : prompt->get(arguments);
  };
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
  if (auto page = list_page(method, params)) {
    send_result_now(id, *page);
    return;
  }
  if (method == "resources/read") {
    const std::string uri = require_uri(params, method);
    run_on_pool(id, method, [this, uri](const tool_context&) { return read_resource(uri); });
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
  if (method == "prompts/get") {
    run_on_pool(id, method, prepare_prompt(params));
    return;
  }
  if (method == "completion/complete") {
    run_on_pool(id, method, [this, params](const tool_context&) { return complete(params); });
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
}  // namespace bookmcp::mcp::detail
