#include "examples/conformance_fixtures/fixtures.hpp"

#include <chrono>
#include <string>

namespace bookmcp::examples {

namespace {

using mcp::json;
using namespace std::chrono_literals;

// Small media of our own making: a 2x2 PNG and a 1 ms silent 8 kHz WAV.
constexpr const char* kImagePng =
    "iVBORw0KGgoAAAANSUhEUgAAAAIAAAACCAIAAAD91JpzAAAAEElEQVR4nGNQSDgARAwQCgAgjgUB59mTewAAAABJRU5ErkJggg==";
constexpr const char* kAudioWav =
    "UklGRjQAAABXQVZFZm10IBAAAAABAAEAQB8AAIA+AAACABAAZGF0YRAAAAAAAAAAAAAAAAAAAAAAAAAA";

json empty_object_schema() { return {{"type", "object"}, {"properties", json::object()}}; }

mcp::tool_result content_result(json content) {
  mcp::tool_result result;
  result.content = std::move(content);
  return result;
}

void add_simple_tool(mcp::server& server, std::string name, std::string description,
                     mcp::tool_handler handler, json schema = empty_object_schema(),
                     bool runs_inline = false) {
  mcp::tool_definition tool;
  tool.name = std::move(name);
  tool.description = std::move(description);
  tool.input_schema = std::move(schema);
  tool.handler = std::move(handler);
  tool.runs_inline = runs_inline;
  server.add_tool(std::move(tool));
}

// The fixtures that only build their answer run inline (tool_definition::runs_inline), so that
// the suite exercises that path too; those that log, sleep or ask the client run on workers.
void add_inline_tool(mcp::server& server, std::string name, std::string description,
                     mcp::tool_handler handler) {
  add_simple_tool(server, std::move(name), std::move(description), std::move(handler),
                  empty_object_schema(), true);
}

void register_tools(mcp::server& server) {
  add_inline_tool(server, "test_simple_text", "Returns one text block", [](auto&, const json&) {
    return mcp::tool_result::text("This is a simple text response for testing.");
  });
  add_inline_tool(
      server, "test_image_content", "Returns one PNG image block", [](auto&, const json&) {
        return content_result(
            json::array({{{"type", "image"}, {"data", kImagePng}, {"mimeType", "image/png"}}}));
      });
  add_inline_tool(
      server, "test_audio_content", "Returns one WAV audio block", [](auto&, const json&) {
        return content_result(
            json::array({{{"type", "audio"}, {"data", kAudioWav}, {"mimeType", "audio/wav"}}}));
      });
  add_inline_tool(server, "test_embedded_resource", "Returns an embedded text resource",
                  [](auto&, const json&) {
                    return content_result(
                        json::array({{{"type", "resource"},
                                      {"resource",
                                       {{"uri", "test://embedded-resource"},
                                        {"mimeType", "text/plain"},
                                        {"text", "This is an embedded resource content."}}}}}));
                  });
  add_inline_tool(server, "test_multiple_content_types",
                  "Returns text, an image and an embedded resource", [](auto&, const json&) {
                    return content_result(json::array(
                        {{{"type", "text"}, {"text", "Multiple content types test:"}},
                         {{"type", "image"}, {"data", kImagePng}, {"mimeType", "image/png"}},
                         {{"type", "resource"},
                          {"resource",
                           {{"uri", "test://mixed-content-resource"},
                            {"mimeType", "application/json"},
                            {"text", R"({"test":"data","value":123})"}}}}}));
                  });
  add_simple_tool(server, "test_tool_with_logging", "Sends three log messages while it runs",
                  [](mcp::tool_context& context, const json&) {
                    context.log(mcp::log_level::info, "Tool execution started");
                    context.sleep_for(50ms);
                    context.log(mcp::log_level::info, "Tool processing data");
                    context.sleep_for(50ms);
                    context.log(mcp::log_level::info, "Tool execution completed");
                    return mcp::tool_result::text("Tool with logging executed successfully");
                  });
  add_simple_tool(server, "test_tool_with_progress", "Reports progress 0, 50 and 100 of 100",
                  [](mcp::tool_context& context, const json&) {
                    for (int step = 0; step <= 100; step += 50) {
                      if (step) context.sleep_for(50ms);
                      context.report_progress(step, 100, "Completed step " + std::to_string(step) + " of 100");
                    }
                    return mcp::tool_result::text("Progress reported");
                  });
  add_inline_tool(
      server, "test_error_handling", "Always fails with isError", [](auto&, const json&) {
        return mcp::tool_result::error("This tool intentionally returns an error for testing");
      });
  add_simple_tool(
      server, "test_sampling", "Asks the client's model to complete a prompt",
      [](mcp::tool_context& context, const json& arguments) {
        const json answer = context.request_client(
            "sampling/createMessage",
            {{"messages",
              json::array({{{"role", "user"},
                            {"content", {{"type", "text"}, {"text", arguments.at("prompt")}}}}})},
             {"maxTokens", 100}});
        const json content = answer.value("content", json::object());
        return mcp::tool_result::text("LLM response: " + content.value("text", std::string()));
      },
      {{"type", "object"},
       {"properties", {{"prompt", {{"type", "string"}, {"description", "The prompt to send to the model"}}}}},
       {"required", {"prompt"}}});
  add_simple_tool(
      server, "test_elicitation", "Asks the user for a username and an email address",
      [](mcp::tool_context& context, const json& arguments) {
        const json answer = context.request_client(
            "elicitation/create",
            {{"message", arguments.at("message")},
             {"requestedSchema",
              {{"type", "object"},
               {"properties",
                {{"username", {{"type", "string"}, {"description", "User's response"}}},
                 {"email", {{"type", "string"}, {"description", "User's email address"}}}}},
               {"required", {"username", "email"}}}}});
        return mcp::tool_result::text("User response: action=" + answer.value("action", std::string()) +
                                      ", content=" + answer.value("content", json::object()).dump());
      },
      {{"type", "object"},
       {"properties", {{"message", {{"type", "string"}, {"description", "The message to show the user"}}}}},
       {"required", {"message"}}});
  add_simple_tool(server, "test_elicitation_sep1034_defaults", "Elicits a form whose fields have defaults",
                  [](mcp::tool_context& context, const json&) {
                    const json answer = context.request_client(
                        "elicitation/create",
                        {{"mode", "form"},
                         {"message", "Please review and update the form fields with defaults"},
                         {"requestedSchema",
                          {{"type", "object"},
                           {"properties",
                            {{"name", {{"type", "string"}, {"description", "User name"}, {"default", "John Doe"}}},
                             {"age", {{"type", "integer"}, {"description", "User age"}, {"default", 30}}},
                             {"score", {{"type", "number"}, {"description", "User score"}, {"default", 95.5}}},
                             {"status",
                              {{"type", "string"},
                               {"description", "User status"},
                               {"enum", {"active", "inactive", "pending"}},
                               {"default", "active"}}},
                             {"verified",
                              {{"type", "boolean"}, {"description", "Verification status"}, {"default", true}}}}},
                           {"required", json::array()}}}});
                    return mcp::tool_result::text("Elicitation completed: action=" + answer.value("action", std::string()) +
                                                  ", content=" + answer.value("content", json::object()).dump());
                  });
  add_simple_tool(
      server, "test_elicitation_sep1330_enums", "Elicits single and multiple choices, titled and untitled",
      [](mcp::tool_context& context, const json&) {
        auto titled = [](std::initializer_list<std::pair<const char*, const char*>> options) {
          json out = json::array();
          for (const auto& [value, title] : options) out.push_back({{"const", value}, {"title", title}});
          return out;
        };
        const json answer = context.request_client(
            "elicitation/create",
            {{"mode", "form"},
             {"message", "Please select options from the enum fields"},
             {"requestedSchema",
              {{"type", "object"},
               {"properties",
                {{"untitledSingle",
                  {{"type", "string"}, {"description", "Select one option"}, {"enum", {"option1", "option2", "option3"}}}},
                 {"titledSingle",
                  {{"type", "string"},
                   {"description", "Select one option with titles"},
                   {"oneOf", titled({{"value1", "First Option"}, {"value2", "Second Option"}, {"value3", "Third Option"}})}}},
                 {"legacyEnum",
                  {{"type", "string"},
                   {"description", "Select one option (legacy)"},
                   {"enum", {"opt1", "opt2", "opt3"}},
                   {"enumNames", {"Option One", "Option Two", "Option Three"}}}},
                 {"untitledMulti",
                  {{"type", "array"},
                   {"description", "Select multiple options"},
                   {"minItems", 1},
                   {"maxItems", 3},
                   {"items", {{"type", "string"}, {"enum", {"option1", "option2", "option3"}}}}}},
                 {"titledMulti",
                  {{"type", "array"},
                   {"description", "Select multiple options with titles"},
                   {"minItems", 1},
                   {"maxItems", 3},
                   {"items",
                    {{"anyOf", titled({{"value1", "First Choice"}, {"value2", "Second Choice"}, {"value3", "Third Choice"}})}}}}}}},
               {"required", json::array()}}}});
        return mcp::tool_result::text("Elicitation completed: action=" + answer.value("action", std::string()) +
                                      ", content=" + answer.value("content", json::object()).dump());
      });
  add_simple_tool(server, "json_schema_2020_12_tool", "Tool with JSON Schema 2020-12 features",
                  [](auto&, const json& arguments) {
                    return mcp::tool_result::text("JSON Schema 2020-12 tool called with: " + arguments.dump());
                  },
                  {{"$schema", "https://json-schema.org/draft/2020-12/schema"},
                   {"type", "object"},
                   {"$defs",
                    {{"address",
                      {{"$anchor", "addressDef"},
                       {"type", "object"},
                       {"properties", {{"street", {{"type", "string"}}}, {"city", {{"type", "string"}}}}}}}}},
                   {"properties",
                    {{"name", {{"type", "string"}}},
                     {"address", {{"$ref", "#/$defs/address"}}},
                     {"contactMethod", {{"type", "string"}, {"enum", {"phone", "email"}}}},
                     {"phone", {{"type", "string"}}},
                     {"email", {{"type", "string"}}}}},
                   {"allOf", json::array({{{"anyOf", json::array({{{"required", {"phone"}}}, {{"required", {"email"}}}})}}})},
                   {"if", {{"properties", {{"contactMethod", {{"const", "phone"}}}}}, {"required", {"contactMethod"}}}},
                   {"then", {{"required", {"phone"}}}},
                   {"else", {{"required", {"email"}}}},
                   {"additionalProperties", false}});

  // Not a suite fixture: sleeps for `ms` unless cancelled, reporting progress every 100 ms.
  mcp::tool_definition wait;
  wait.name = "wait";
  wait.title = "Wait";
  wait.description = "Sleeps for the given number of milliseconds unless cancelled, reporting progress every 100 ms.";
  wait.input_schema = {{"type", "object"},
                       {"properties", {{"ms", {{"type", "integer"}, {"minimum", 0}, {"maximum", 600000}}}}},
                       {"required", {"ms"}},
                       {"additionalProperties", false}};
  wait.output_schema = {{"type", "object"},
                        {"properties", {{"waited_ms", {{"type", "integer"}}}}},
                        {"required", {"waited_ms"}}};
  wait.annotations.read_only_hint = true;
  wait.annotations.idempotent_hint = true;
  wait.timeout = std::chrono::minutes(11);
  wait.max_concurrency = 64;
  wait.handler = [](mcp::tool_context& context, const json& arguments) {
    const auto total = std::chrono::milliseconds(arguments.at("ms").get<std::int64_t>());
    const auto start = std::chrono::steady_clock::now();
    auto elapsed = std::chrono::milliseconds(0);
    while (elapsed < total) {
      const auto step = std::min<std::chrono::milliseconds>(100ms, total - elapsed);
      if (!context.sleep_for(step)) throw mcp::cancelled_error();
      elapsed = std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - start);
      context.report_progress(static_cast<double>(std::min(elapsed, total).count()), static_cast<double>(total.count()));
    }
    return mcp::tool_result::structured({{"waited_ms", total.count()}},
                                        "Waited " + std::to_string(total.count()) + " ms.");
  };
  server.add_tool(std::move(wait));

  // Not suite fixtures: echo returns its input unchanged, the trivial tool that benchmarks
  // call; it runs inline, as an event-loop server (the TypeScript SDK's) runs every handler.
  // echo_on_worker is the same handler handed to a worker, as every handler that may block is.
  mcp::tool_definition echo;
  echo.name = "echo";
  echo.description = "Returns the given text unchanged.";
  echo.input_schema = {{"type", "object"},
                       {"properties", {{"text", {{"type", "string"}, {"maxLength", 100000}}}}},
                       {"required", {"text"}}};
  echo.annotations.read_only_hint = true;
  echo.max_concurrency = 256;
  echo.max_queue = 100000;
  echo.handler = [](mcp::tool_context&, const json& arguments) {
    return mcp::tool_result::text(arguments.at("text").get<std::string>());
  };
  mcp::tool_definition echo_on_worker = echo;
  echo_on_worker.name = "echo_on_worker";
  echo_on_worker.description = "Returns the given text unchanged (on a worker thread).";
  echo.runs_inline = true;
  server.add_tool(std::move(echo));
  server.add_tool(std::move(echo_on_worker));
}

void register_resources(mcp::server& server) {
  server.add_resource({.uri = "test://static-text",
                       .name = "static-text",
                       .title = "Static text",
                       .description = "A static text resource for testing",
                       .mime_type = "text/plain",
                       .size = std::nullopt,
                       .read = [](const std::string& uri) {
                         return std::vector<mcp::resource_contents>{
                             {uri, "text/plain", "This is the content of the static text resource.", std::nullopt}};
                       }});
  server.add_resource({.uri = "test://static-binary",
                       .name = "static-binary",
                       .title = "Static binary",
                       .description = "A static binary resource (a PNG image) for testing",
                       .mime_type = "image/png",
                       .size = std::nullopt,
                       .read = [](const std::string& uri) {
                         return std::vector<mcp::resource_contents>{{uri, "image/png", std::nullopt, kImagePng}};
                       }});
  server.add_resource({.uri = "test://watched-resource",
                       .name = "watched-resource",
                       .title = "Watched resource",
                       .description = "A resource to subscribe to",
                       .mime_type = "text/plain",
                       .size = std::nullopt,
                       .read = [](const std::string& uri) {
                         return std::vector<mcp::resource_contents>{{uri, "text/plain", "Watched content.", std::nullopt}};
                       }});
  server.add_resource_template(
      {.uri_template = "test://template/{id}/data",
       .name = "template",
       .title = "Template",
       .description = "A resource template with parameter substitution",
       .mime_type = "application/json",
       .read =
           [](const std::string& uri, const std::map<std::string, std::string>& vars) {
             const std::string& id = vars.at("id");
             json body = {{"id", id}, {"templateTest", true}, {"data", "Data for ID: " + id}};
             return std::vector<mcp::resource_contents>{{uri, "application/json", body.dump(), std::nullopt}};
           },
       .complete = {}});
}

json user_text(std::string text) {
  return {{"role", "user"}, {"content", {{"type", "text"}, {"text", std::move(text)}}}};
}

void register_prompts(mcp::server& server) {
  server.add_prompt({.name = "test_simple_prompt",
                     .title = "Simple prompt",
                     .description = "A simple prompt without arguments",
                     .arguments = {},
                     .get = [](const auto&) { return json{{"messages", {user_text("This is a simple prompt for testing.")}}}; },
                     .get_with_context = {},
                     .complete = {}});
  server.add_prompt(
      {.name = "test_prompt_with_arguments",
       .title = "Prompt with arguments",
       .description = "A prompt with required arguments",
       .arguments = {{"arg1", "", "First test argument", true}, {"arg2", "", "Second test argument", true}},
       .get =
           [](const std::map<std::string, std::string>& args) {
             return json{{"messages",
                          {user_text("Prompt with arguments: arg1='" + args.at("arg1") + "', arg2='" + args.at("arg2") + "'")}}};
           },
       .get_with_context = {},
       .complete =
           [](const std::string& argument, const std::string& prefix, const auto&) {
             std::vector<std::string> out;
             for (std::string candidate : {"test", "testValue1", "testValue2", "other"}) {
               if (argument == "arg1" && candidate.rfind(prefix, 0) == 0) out.push_back(candidate);
             }
             return out;
           }});
  server.add_prompt({.name = "test_prompt_with_embedded_resource",
                     .title = "Prompt with an embedded resource",
                     .description = "A prompt that includes an embedded resource",
                     .arguments = {{"resourceUri", "", "URI of the resource to embed", true}},
                     .get =
                         [](const std::map<std::string, std::string>& args) {
                           json resource = {{"role", "user"},
                                            {"content",
                                             {{"type", "resource"},
                                              {"resource",
                                               {{"uri", args.at("resourceUri")},
                                                {"mimeType", "text/plain"},
                                                {"text", "Embedded resource content for testing."}}}}}};
                           return json{{"messages", {resource, user_text("Please process the embedded resource above.")}}};
                         },
                     .get_with_context = {},
                     .complete = {}});
  server.add_prompt({.name = "test_prompt_with_image",
                     .title = "Prompt with an image",
                     .description = "A prompt that includes image content",
                     .arguments = {},
                     .get =
                         [](const auto&) {
                           json image = {{"role", "user"},
                                         {"content", {{"type", "image"}, {"data", kImagePng}, {"mimeType", "image/png"}}}};
                           return json{{"messages", {image, user_text("Please analyze the image above.")}}};
                         },
                     .get_with_context = {},
                     .complete = {}});
}

}  // namespace

void register_conformance_fixtures(mcp::server& server) {
  register_tools(server);
  register_resources(server);
  register_prompts(server);
  register_input_fixtures(server);
}

}  // namespace bookmcp::examples
