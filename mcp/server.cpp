#include "mcp/server.hpp"

#include <algorithm>
#include <cctype>
#include <thread>

#include <spdlog/spdlog.h>

#include "mcp/detail/session_impl.hpp"

namespace bookmcp::mcp {

namespace {

std::size_t pick_worker_threads(std::size_t requested) {
  if (requested != 0) return requested;
  // Handlers block (databases, files, sleeps), so more threads than cores.
  return std::max<std::size_t>(4, std::thread::hardware_concurrency() * 2);
}

bool valid_tool_name(std::string_view name) {
  if (name.empty() || name.size() > 128) return false;
  return std::ranges::all_of(name, [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
           c == '_' || c == '-' || c == '.';
  });
}

std::unique_ptr<compiled_schema> compile_object_schema(const json& schema, const std::string& tool,
                                                       const char* which) {
  if (!schema.is_object() || schema.value("type", json()) != "object") {
    throw schema_error("tool " + tool + ": " + which + " must be a JSON Schema object with \"type\": \"object\"");
  }
  try {
    return std::make_unique<compiled_schema>(schema);
  } catch (const schema_error& error) {
    throw schema_error("tool " + tool + ": " + which + " is not a valid JSON Schema: " + error.what());
  }
}

}  // namespace

server::state::state(server_options opts)
    : options(std::move(opts)),
      workers(pick_worker_threads(options.worker_threads)),
      state_codec(options.request_state_key.empty()
                      ? request_state_codec::with_random_key()
                      : request_state_codec(request_state_codec::parse_key(options.request_state_key))) {}

std::vector<std::shared_ptr<detail::session_impl>> server::state::live_sessions() const {
  std::vector<std::shared_ptr<detail::session_impl>> out;
  std::lock_guard lock(sessions_mutex);
  for (const auto& [id, weak] : sessions) {
    if (auto session = weak.lock()) out.push_back(std::move(session));
  }
  return out;
}

void server::state::broadcast(std::string_view method) {
  for (const auto& session : live_sessions()) {
    session->list_changed(method);
  }
}

server::server(server_options options) : state_(std::make_shared<state>(std::move(options))) {}

namespace {

// A header name token (RFC 9110 tchar).
bool header_token(std::string_view text) {
  if (text.empty()) return false;
  for (unsigned char c : text) {
    if (std::isalnum(c) == 0 && std::string_view("!#$%&'*+-.^_`|~").find(static_cast<char>(c)) == std::string_view::npos)
      return false;
  }
  return true;
}

void collect_header_parameters(const json& schema, std::vector<std::string>& path,
                               std::vector<header_parameter>& out, const std::string& tool) {
  const auto properties = schema.find("properties");
  if (properties == schema.end() || !properties->is_object()) return;
  for (const auto& [name, property] : properties->items()) {
    if (!property.is_object()) continue;
    path.push_back(name);
    if (const auto header = property.find("x-mcp-header"); header != property.end()) {
      const std::string type = property.value("type", json()).is_string() ? property["type"].get<std::string>() : "";
      if (!header->is_string() || !header_token(header->get_ref<const std::string&>())) {
        throw std::invalid_argument("tool " + tool + ": x-mcp-header of \"" + name +
                                    "\" must be a header name token (letters, digits, -, ...)");
      }
      if (type != "string" && type != "integer" && type != "boolean") {
        throw std::invalid_argument("tool " + tool + ": x-mcp-header \"" + header->get<std::string>() +
                                    "\" may only mark a string, integer or boolean property");
      }
      for (const auto& other : out) {
        if (std::ranges::equal(other.header, header->get_ref<const std::string&>(),
                               [](char a, char b) { return std::tolower(static_cast<unsigned char>(a)) ==
                                                           std::tolower(static_cast<unsigned char>(b)); })) {
          throw std::invalid_argument("tool " + tool + ": x-mcp-header \"" + header->get<std::string>() +
                                      "\" is used twice");
        }
      }
      out.push_back({header->get<std::string>(), path, type});
    }
    collect_header_parameters(property, path, out, tool);
    path.pop_back();
  }
}

std::vector<header_parameter> find_header_parameters(const json& input_schema, const std::string& tool) {
  std::vector<header_parameter> out;
  std::vector<std::string> path;
  collect_header_parameters(input_schema, path, out, tool);
  return out;
}

}  // namespace

server::~server() {
  shutdown(std::chrono::milliseconds(0));
  state_->workers.join();
}

void server::add_tool(tool_definition tool) {
  if (!valid_tool_name(tool.name)) {
    throw std::invalid_argument("tool name \"" + tool.name +
                                "\" is invalid: use 1-128 characters of A-Z a-z 0-9 _ - .");
  }
  if (!tool.handler) throw std::invalid_argument("tool " + tool.name + " has no handler");
  if (tool.max_concurrency == 0) throw std::invalid_argument("tool " + tool.name + ": max_concurrency must be at least 1");
  if (state_->options.tool_timeout) tool.timeout = *state_->options.tool_timeout;
  auto entry = std::make_shared<detail::registered_tool>();
  entry->input_schema = compile_object_schema(tool.input_schema, tool.name, "inputSchema");
  if (tool.output_schema) {
    entry->output_schema = compile_object_schema(*tool.output_schema, tool.name, "outputSchema");
  }
  json listing = {{"name", tool.name}, {"inputSchema", tool.input_schema}};
  if (!tool.title.empty()) listing["title"] = tool.title;
  if (!tool.description.empty()) listing["description"] = tool.description;
  if (tool.output_schema) listing["outputSchema"] = *tool.output_schema;
  if (json annotations = tool.annotations.to_json(); !annotations.empty()) listing["annotations"] = annotations;
  if (tool.task_support != tool_definition::task_mode::forbidden) {
    listing["execution"] = {
        {"taskSupport", tool.task_support == tool_definition::task_mode::required ? "required" : "optional"}};
  }
  entry->listing = std::move(listing);
  entry->header_parameters = find_header_parameters(tool.input_schema, tool.name);
  entry->definition = std::move(tool);
  const std::string name = entry->definition.name;
  const bool has_header_parameters = !entry->header_parameters.empty();
  {
    std::unique_lock lock(state_->registry_mutex);
    if (!state_->tools.emplace(name, std::move(entry)).second) {
      throw std::invalid_argument("tool " + name + " is registered twice");
    }
    if (has_header_parameters) ++state_->tools_with_header_parameters;
  }
  state_->broadcast("notifications/tools/list_changed");
}

bool server::remove_tool(std::string_view name) {
  {
    std::unique_lock lock(state_->registry_mutex);
    auto it = state_->tools.find(name);
    if (it == state_->tools.end()) return false;
    if (!it->second->header_parameters.empty()) --state_->tools_with_header_parameters;
    state_->tools.erase(it);
  }
  state_->broadcast("notifications/tools/list_changed");
  return true;
}

void server::add_resource(resource_definition resource) {
  if (resource.uri.empty() || !resource.read) throw std::invalid_argument("a resource needs a uri and a read handler");
  {
    std::unique_lock lock(state_->registry_mutex);
    const std::string uri = resource.uri;
    state_->resources[uri] = std::make_shared<const resource_definition>(std::move(resource));
  }
  state_->broadcast("notifications/resources/list_changed");
}

bool server::remove_resource(std::string_view uri) {
  {
    std::unique_lock lock(state_->registry_mutex);
    auto it = state_->resources.find(uri);
    if (it == state_->resources.end()) return false;
    state_->resources.erase(it);
  }
  state_->broadcast("notifications/resources/list_changed");
  return true;
}

void server::add_resource_template(resource_template_definition resource_template) {
  if (resource_template.uri_template.empty() || !resource_template.read) {
    throw std::invalid_argument("a resource template needs a uriTemplate and a read handler");
  }
  {
    std::unique_lock lock(state_->registry_mutex);
    auto& templates = state_->templates;
    std::erase_if(templates, [&](const auto& item) { return item->uri_template == resource_template.uri_template; });
    templates.push_back(std::make_shared<const resource_template_definition>(std::move(resource_template)));
  }
  state_->broadcast("notifications/resources/list_changed");
}

void server::add_prompt(prompt_definition prompt) {
  if (prompt.name.empty() || (!prompt.get && !prompt.get_with_context))
    throw std::invalid_argument("a prompt needs a name and a get handler");
  {
    std::unique_lock lock(state_->registry_mutex);
    const std::string name = prompt.name;
    state_->prompts[name] = std::make_shared<const prompt_definition>(std::move(prompt));
  }
  state_->broadcast("notifications/prompts/list_changed");
}

bool server::remove_prompt(std::string_view name) {
  {
    std::unique_lock lock(state_->registry_mutex);
    auto it = state_->prompts.find(name);
    if (it == state_->prompts.end()) return false;
    state_->prompts.erase(it);
  }
  state_->broadcast("notifications/prompts/list_changed");
  return true;
}

void server::notify_resource_updated(const std::string& uri) {
  for (const auto& session : state_->live_sessions()) session->resource_updated(uri);
}

void server::notify_resource_list_changed() { state_->broadcast("notifications/resources/list_changed"); }

std::shared_ptr<server_session> server::open_session(std::shared_ptr<message_sink> sink,
                                                     session_options options) {
  const bool transient = options.transient;
  auto session = std::make_shared<detail::session_impl>(state_, std::move(sink), std::move(options));
  if (transient) return session;
  std::lock_guard lock(state_->sessions_mutex);
  state_->sessions[session->id()] = session;
  return session;
}

void server::shutdown(std::chrono::milliseconds grace) {
  if (state_->shutting_down.exchange(true)) return;
  state_->tasks.cancel_all();
  auto sessions = state_->live_sessions();
  const auto deadline = std::chrono::steady_clock::now() + grace;
  for (const auto& session : sessions) {
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
    if (!session->wait_idle(std::max(left, std::chrono::milliseconds(0)))) break;
  }
  for (const auto& session : sessions) {
    session->cancel_all("The server is shutting down; the call was cancelled");
  }
  for (const auto& session : sessions) session->wait_idle(std::chrono::seconds(2));
  for (const auto& session : sessions) session->close();
}

std::vector<header_parameter> server::header_parameters(std::string_view tool) const {
  if (state_->tools_with_header_parameters.load(std::memory_order_relaxed) == 0) return {};
  std::shared_lock lock(state_->registry_mutex);
  const auto it = state_->tools.find(tool);
  return it == state_->tools.end() ? std::vector<header_parameter>{} : it->second->header_parameters;
}

server_stats server::stats() const {
  server_stats out;
  {
    std::lock_guard lock(state_->sessions_mutex);
    out.sessions = state_->sessions.size();
  }
  out.calls_in_flight = state_->calls_in_flight;
  return out;
}

const server_options& server::options() const { return state_->options; }

}  // namespace bookmcp::mcp
