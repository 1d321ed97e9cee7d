// The fixtures of the 2026-07-28 requirement set: tools and a prompt that ask the client for
// input (answered with an InputRequiredResult in a 2026-07-28 request, by server-to-client
// requests in a handshake-era session: each is written once, for both), a tool that logs, one
// that needs a capability, the hooks that change the tool and prompt lists, and the tools of
// the tasks extension's scenarios (which run as tasks when the client declares the extension).

#include <chrono>
#include <string>

#include "examples/conformance_fixtures/fixtures.hpp"
#include "mcp/tool.hpp"

namespace bookmcp::examples {

namespace {

using mcp::json;
using request = mcp::tool_context::client_request;

mcp::tool_result text_result(std::string text) {
  mcp::tool_result result;
  result.content = json::array({{{"type", "text"}, {"text", std::move(text)}}});
  return result;
}

json form(std::string message, json properties, json required) {
  return {{"message", std::move(message)},
          {"requestedSchema",
           {{"type", "object"}, {"properties", std::move(properties)}, {"required", std::move(required)}}}};
}

json ask_text(const std::string& question, int max_tokens) {
  return {{"messages", json::array({{{"role", "user"}, {"content", {{"type", "text"}, {"text", question}}}}})},
          {"maxTokens", max_tokens}};
}

// An elicitation answer's field, when the user accepted and gave it as a string.
std::string accepted_field(const json& answer, const char* field) {
  if (!answer.is_object() || answer.value("action", std::string()) != "accept") return {};
  const auto content = answer.find("content");
  if (content == answer.end() || !content->is_object()) return {};
  const auto value = content->find(field);
  return value != content->end() && value->is_string() ? value->get<std::string>() : std::string();
}

std::string sampled_text(const json& answer) {
  if (!answer.is_object()) return {};
  const auto content = answer.find("content");
  if (content == answer.end() || !content->is_object()) return {};
  return content->value("text", std::string());
}

void add_tool(mcp::server& server, std::string name, std::string description, mcp::tool_handler handler,
              mcp::tool_definition::task_mode tasks = mcp::tool_definition::task_mode::forbidden,
              json properties = json::object()) {
  mcp::tool_definition tool;
  tool.name = std::move(name);
  tool.description = std::move(description);
  tool.input_schema = {{"type", "object"}, {"properties", std::move(properties)}};
  tool.handler = std::move(handler);
  tool.task_support = tasks;
  server.add_tool(std::move(tool));
}

const json name_field = {{"name", {{"type", "string"}}}};


using task_mode = mcp::tool_definition::task_mode;

void register_task_fixtures(mcp::server& server) {
  add_tool(
      server, "greet", "Greets by name",
      [](mcp::tool_context&, const json& arguments) {
        return text_result("Hello, " + arguments.value("name", std::string("World")) + "!");
      },
      task_mode::forbidden, {{"name", {{"type", "string"}}}});
  add_tool(
      server, "slow_compute", "Works for the given seconds (a task when the client wants one)",
      [](mcp::tool_context& context, const json& arguments) {
        const double seconds = arguments.value("seconds", 0.0);
        if (!context.sleep_for(std::chrono::milliseconds(static_cast<long>(seconds * 1000))))
          throw mcp::cancelled_error();
        return text_result("Computed " + arguments.value("label", std::string()) + " after " +
                           std::to_string(seconds) + " s");
      },
      task_mode::optional,
      {{"seconds", {{"type", "number"}, {"minimum", 0}, {"maximum", 600}}}, {"label", {{"type", "string"}}}});
  add_tool(
      server, "failing_job", "Fails as a tool after a second (runs only as a task)",
      [](mcp::tool_context& context, const json&) {
        if (!context.sleep_for(std::chrono::seconds(1))) throw mcp::cancelled_error();
        return mcp::tool_result::error("The job failed, as it always does.");
      },
      task_mode::required);
  add_tool(
      server, "protocol_error_job", "Ends in a protocol error (a failed task)",
      [](mcp::tool_context&, const json&) -> mcp::tool_result {
        throw mcp::rpc_error(mcp::error_code::invalid_params, "The job's input cannot be processed");
      },
      task_mode::optional);
  add_tool(
      server, "confirm_delete", "Asks for a confirmation before deleting",
      [](mcp::tool_context& context, const json& arguments) {
        const std::string file = arguments.value("filename", std::string("?"));
        const auto answers = context.request_client_all(
            {{"confirm", "elicitation/create",
              form("Delete " + file + "?", {{"confirm", {{"type", "boolean"}}}}, {"confirm"})}});
        const bool yes = answers[0].value("content", json::object()).value("confirm", false);
        return text_result(yes ? "Deleted " + file : "Kept " + file);
      },
      task_mode::optional, {{"filename", {{"type", "string"}}}});
  add_tool(
      server, "multi_input", "Asks two questions at once",
      [](mcp::tool_context& context, const json&) {
        const auto answers = context.request_client_all(
            {{"first", "elicitation/create", form("First?", name_field, {"name"})},
             {"second", "elicitation/create", form("Second?", name_field, {"name"})}});
        return text_result(accepted_field(answers[0], "name") + " and " + accepted_field(answers[1], "name"));
      },
      task_mode::optional);
  add_tool(
      server, "test_custom_headers", "Echoes a region that clients mirror into the Mcp-Param-Region header",
      [](mcp::tool_context&, const json& arguments) {
        return text_result("Region: " + arguments.value("region", std::string()));
      },
      task_mode::forbidden,
      {{"region", {{"type", "string"}, {"x-mcp-header", "Region"}, {"description", "where to run"}}},
       {"verbose", {{"type", "boolean"}, {"x-mcp-header", "Verbose"}}}});
  mcp::tool_definition with_task;
  with_task.name = "test_tool_with_task";
  with_task.description = "Asks for a name first, then works as a task";
  with_task.input_schema = {{"type", "object"}, {"properties", json::object()}};
  with_task.task_support = task_mode::required;
  const auto ask_name = [](const mcp::tool_context& context) {
    return context.request_client_all(
        {{"user_name", "elicitation/create", form("What is your name?", name_field, {"name"})}});
  };
  with_task.before_task = [ask_name](mcp::tool_context& context, const json&) { ask_name(context); };
  with_task.handler = [ask_name](mcp::tool_context& context, const json&) {
    const auto answers = ask_name(context);  // answered before the task began
    if (!context.sleep_for(std::chrono::milliseconds(200))) throw mcp::cancelled_error();
    return text_result("Done for " + accepted_field(answers[0], "name"));
  };
  server.add_tool(std::move(with_task));
}

}  // namespace

void register_input_fixtures(mcp::server& server) {
  register_task_fixtures(server);
  add_tool(server, "test_missing_capability", "Needs the client's sampling capability",
           [](mcp::tool_context& context, const json&) {
             const auto answer = context.request_client("sampling/createMessage", ask_text("Say hello", 10));
             return text_result("The client said: " + sampled_text(answer));
           });
  add_tool(server, "test_streaming_elicitation", "Asks the user for their name",
           [](mcp::tool_context& context, const json&) {
             const auto answers = context.request_client_all(
                 {{"user_name", "elicitation/create", form("What is your name?", name_field, {"name"})}});
             return text_result("Hello, " + accepted_field(answers[0], "name") + "!");
           });
  add_tool(server, "test_logging_tool", "Logs one message at info and one at debug",
           [](mcp::tool_context& context, const json&) {
             context.log(mcp::log_level::info, "test_logging_tool ran");
             context.log(mcp::log_level::debug, "test_logging_tool details");
             return text_result("Logged.");
           });
  mcp::server* target = &server;
  add_tool(server, "test_trigger_tool_change", "Changes the tool list (a tool is replaced)",
           [target](mcp::tool_context&, const json&) {
             target->remove_tool("test_dynamic_tool");
             mcp::tool_definition tool;
             tool.name = "test_dynamic_tool";
             tool.description = "Replaced by test_trigger_tool_change";
             tool.input_schema = {{"type", "object"}, {"properties", json::object()}};
             tool.handler = [](mcp::tool_context&, const json&) { return text_result("dynamic"); };
             target->add_tool(std::move(tool));
             return text_result("The tool list changed.");
           });
  add_tool(server, "test_trigger_prompt_change", "Changes the prompt list (a prompt is replaced)",
           [target](mcp::tool_context&, const json&) {
             target->remove_prompt("test_dynamic_prompt");
             target->add_prompt({.name = "test_dynamic_prompt",
                                 .title = {},
                                 .description = "Replaced by test_trigger_prompt_change",
                                 .arguments = {},
                                 .get = [](const auto&) { return json{{"messages", json::array()}}; },
                                 .get_with_context = {},
                                 .complete = {}});
             return text_result("The prompt list changed.");
           });

  add_tool(server, "test_input_required_result_elicitation", "Greets the user by the name they give",
           [](mcp::tool_context& context, const json&) {
             const auto answers = context.request_client_all(
                 {{"user_name", "elicitation/create", form("What is your name?", name_field, {"name"})}});
             const std::string name = accepted_field(answers[0], "name");
             if (name.empty()) return mcp::tool_result::error("No name was given.");
             return text_result("Hello, " + name + "!");
           });
  add_tool(server, "test_input_required_result_sampling", "Asks the client's model a question",
           [](mcp::tool_context& context, const json&) {
             const auto answers = context.request_client_all(
                 {{"capital_question", "sampling/createMessage", ask_text("What is the capital of France?", 100)}});
             return text_result("The model answered: " + sampled_text(answers[0]));
           });
  add_tool(server, "test_input_required_result_list_roots", "Lists the client's roots",
           [](mcp::tool_context& context, const json&) {
             const auto answers = context.request_client_all({{"client_roots", "roots/list", json::object()}});
             std::string listed;
             for (const auto& root : answers[0].value("roots", json::array()))
               listed += " " + root.value("uri", std::string());
             return text_result("Roots:" + listed);
           });
  for (const char* name : {"test_input_required_result_request_state", "test_input_required_result_tampered_state"}) {
    add_tool(server, name, "Asks for a confirmation; the state carries the request across rounds",
             [](mcp::tool_context& context, const json&) {
               const auto answers = context.request_client_all(
                   {{"confirm", "elicitation/create",
                     form("Proceed?", {{"ok", {{"type", "boolean"}}}}, {"ok"})}});
               const auto content = answers[0].value("content", json::object());
               if (content.value("ok", false) != true) return mcp::tool_result::error("Not confirmed.");
               return text_result("state-ok: confirmed");
             });
  }
  add_tool(server, "test_input_required_result_multiple_inputs", "Needs a name, a greeting and the roots at once",
           [](mcp::tool_context& context, const json&) {
             const auto answers = context.request_client_all(
                 {{"user_name", "elicitation/create", form("What is your name?", name_field, {"name"})},
                  {"greeting", "sampling/createMessage", ask_text("Generate a greeting", 50)},
                  {"client_roots", "roots/list", json::object()}});
             return text_result(sampled_text(answers[1]) + " " + accepted_field(answers[0], "name") + " (" +
                                std::to_string(answers[2].value("roots", json::array()).size()) + " roots)");
           });
  add_tool(server, "test_input_required_result_multi_round", "Asks two questions, one after the other",
           [](mcp::tool_context& context, const json&) {
             const auto first = context.request_client_all(
                 {{"step1", "elicitation/create", form("Step 1: What is your name?", name_field, {"name"})}});
             const auto second = context.request_client_all(
                 {{"step2", "elicitation/create",
                   form("Step 2: What is your favorite color?", {{"color", {{"type", "string"}}}}, {"color"})}});
             return text_result(accepted_field(first[0], "name") + " likes " + accepted_field(second[0], "color"));
           });
  add_tool(server, "test_input_required_result_capabilities", "Asks only for what the client can give",
           [](mcp::tool_context& context, const json&) {
             std::vector<request> wanted;
             if (context.client_supports("elicitation"))
               wanted.push_back({"user_name", "elicitation/create", form("What is your name?", name_field, {"name"})});
             if (context.client_supports("sampling"))
               wanted.push_back({"greeting", "sampling/createMessage", ask_text("Generate a greeting", 50)});
             if (wanted.empty()) return mcp::tool_result::error("The client can give no input.");
             context.request_client_all(wanted);
             return text_result("Got " + std::to_string(wanted.size()) + " answers.");
           });
  server.add_prompt({.name = "test_input_required_result_prompt",
                     .title = {},
                     .description = "A prompt that asks the user for its context first",
                     .arguments = {},
                     .get = {},
                     .get_with_context =
                         [](const mcp::tool_context& context, const auto&) {
                           const auto answers = context.request_client_all(
                               {{"user_context", "elicitation/create",
                                 form("What context should the prompt use?", {{"context", {{"type", "string"}}}},
                                      {"context"})}});
                           return json{{"messages",
                                        json::array({{{"role", "user"},
                                                      {"content",
                                                       {{"type", "text"},
                                                        {"text", "Use this context: " +
                                                                     accepted_field(answers[0], "context")}}}}})}};
                         },
                     .complete = {}});
}

}  // namespace bookmcp::examples
