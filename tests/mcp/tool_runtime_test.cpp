// Tool registration and the tool runtime: validation, errors, output schemas, cancellation,
// deadlines, concurrency limits, progress, logging and server-to-client requests, driven with
// raw JSON through a recording sink.

#include <gtest/gtest.h>

#include <atomic>
#include <future>
#include <mutex>
#include <optional>
#include <stdexcept>
#include <string>
#include <thread>
#include <tuple>
#include <vector>

#include "mcp/json_schema.hpp"
#include "mcp/server.hpp"
#include "tests/testing/mcp_fixture.hpp"

namespace bookmcp::mcp {
namespace {

using mcp_testing::is_notification;
using mcp_testing::is_request;
using mcp_testing::is_response_to;
using mcp_testing::session_harness;
using mcp_testing::signal;
using mcp_testing::wait_limit;

tool_definition make_tool(std::string name, tool_handler handler) {
  tool_definition tool;
  tool.name = std::move(name);
  tool.handler = std::move(handler);
  return tool;
}

tool_definition echo_tool(std::string name = "echo") {
  return make_tool(std::move(name), [](tool_context&, const json& arguments) {
    return tool_result::text(arguments.dump());
  });
}

std::string text_of(const json& response) {
  const json& content = response.at("result").at("content");
  std::string out;
  for (const auto& block : content) out += block.value("text", "");
  return out;
}

bool is_error_result(const json& response) {
  return response.contains("result") && response["result"].value("isError", false);
}

int error_code_of(const json& message) { return message.at("error").at("code").get<int>(); }

// A fixture whose signals outlive the harness, so that handlers still running while a test
// ends never touch destroyed objects.
class ToolRuntime : public ::testing::Test {
 protected:
  signal started;
  signal stop_seen;
  signal release;
  std::unique_ptr<session_harness> harness = std::make_unique<session_harness>();

  ~ToolRuntime() override {
    release.set();
    harness.reset();
  }

  // A tool that reports when it starts and waits until cancelled (or `release`d).
  tool_definition waiting_tool(std::string name = "slow") {
    return make_tool(std::move(name), [this](tool_context& context, const json&) {
      started.set();
      const auto token = context.stop_token();
      release.wait(token);
      if (token.stop_requested()) stop_seen.set();
      return tool_result::text("slow finished");
    });
  }

  json call(std::string_view tool, json arguments = json::object()) {
    return harness->request("tools/call", {{"name", tool}, {"arguments", std::move(arguments)}});
  }

  // Registers `tool` (a waiting_tool), calls it and expects one isError answer from its
  // deadline, naming `limit`, with the handler's stop token fired.
  void expect_deadline_answer(const tool_definition& tool, const std::string& limit) {
    harness->server.add_tool(tool);
    harness->initialize();
    harness->start_call(5, tool.name);
    auto response = harness->sink->wait_for_response(5);
    ASSERT_TRUE(response);
    ASSERT_TRUE(is_error_result(*response)) << *response;
    EXPECT_NE(text_of(*response).find(limit), std::string::npos) << text_of(*response);
    EXPECT_TRUE(stop_seen.wait());
    ASSERT_TRUE(harness->session->wait_idle(wait_limit));
    EXPECT_EQ(harness->sink->responses_to(5).size(), 1u) << "answered exactly once";
  }
};

// ---------------------------------------------------------------------------------------
// registration

template <typename Exception>
void expect_registration_error(server& target, tool_definition tool, const std::string& must_mention) {
  try {
    target.add_tool(std::move(tool));
    ADD_FAILURE() << "add_tool accepted a bad tool (" << must_mention << ")";
  } catch (const Exception& error) {
    EXPECT_NE(std::string(error.what()).find(must_mention), std::string::npos) << error.what();
  } catch (const std::exception& error) {
    ADD_FAILURE() << "wrong exception type: " << error.what();
  }
}

TEST(ToolRegistration, BadNamesAreRejectedNamingTheTool) {
  server target(mcp_testing::test_server_options());
  for (const std::string& name : std::vector<std::string>{"has space", "slash/name", "emoji\xF0\x9F\x98\x80", std::string(129, 'x')}) {
    expect_registration_error<std::invalid_argument>(target, echo_tool(name), name);
  }
  expect_registration_error<std::invalid_argument>(target, echo_tool(""), "name");
  // The boundaries are accepted.
  EXPECT_NO_THROW(target.add_tool(echo_tool(std::string(128, 'y'))));
  EXPECT_NO_THROW(target.add_tool(echo_tool("A-z_0.9")));
}

TEST(ToolRegistration, MissingHandlerIsRejectedNamingTheTool) {
  server target(mcp_testing::test_server_options());
  tool_definition tool;
  tool.name = "handless";
  expect_registration_error<std::invalid_argument>(target, tool, "handless");
}

TEST(ToolRegistration, DuplicateIsRejectedNamingTheTool) {
  server target(mcp_testing::test_server_options());
  target.add_tool(echo_tool("twice"));
  expect_registration_error<std::invalid_argument>(target, echo_tool("twice"), "twice");
}

TEST(ToolRegistration, InputSchemaMustBeAnObjectSchema) {
  server target(mcp_testing::test_server_options());
  for (const json& schema : {json{{"type", "string"}}, json{{"properties", json::object()}}, json::array(),
                             json("object")}) {
    SCOPED_TRACE(schema.dump());
    tool_definition tool = echo_tool("wrong_root");
    tool.input_schema = schema;
    expect_registration_error<schema_error>(target, tool, "wrong_root");
  }
}

TEST(ToolRegistration, MalformedSchemasAreRejectedNamingTheTool) {
  server target(mcp_testing::test_server_options());
  const json bad_schemas[] = {
      {{"type", 5}},
      {{"type", "object"}, {"properties", json::array()}},
      {{"type", "object"}, {"required", "x"}},
      {{"type", "object"}, {"required", {1, 2}}},
      {{"type", "object"}, {"properties", {{"limit", {{"type", "int"}}}}}},
      {{"type", "object"}, {"properties", {{"limit", 7}}}},
  };
  for (const json& schema : bad_schemas) {
    SCOPED_TRACE(schema.dump());
    tool_definition tool = echo_tool("malformed");
    tool.input_schema = schema;
    expect_registration_error<schema_error>(target, tool, "malformed");
  }
  tool_definition tool = echo_tool("bad_output");
  tool.output_schema = json{{"type", "object"}, {"required", "x"}};
  expect_registration_error<schema_error>(target, tool, "bad_output");
}

// ---------------------------------------------------------------------------------------
// tools/call: protocol errors and argument validation

TEST_F(ToolRuntime, UnknownToolIsInvalidParams) {
  harness->initialize();
  const json response = call("nope");
  EXPECT_EQ(error_code_of(response), error_code::invalid_params);
  EXPECT_NE(response["error"]["message"].get<std::string>().find("nope"), std::string::npos);
  EXPECT_EQ(error_code_of(harness->request("tools/call", json::object())), error_code::invalid_params);
}

TEST_F(ToolRuntime, ArgumentsMustBeAnObject) {
  harness->server.add_tool(echo_tool());
  harness->initialize();
  for (const json& arguments : {json::array({1}), json("x"), json(3)}) {
    SCOPED_TRACE(arguments.dump());
    EXPECT_EQ(error_code_of(call("echo", arguments)), error_code::invalid_params);
  }
  // Absent or null arguments mean "no arguments".
  EXPECT_FALSE(is_error_result(harness->request("tools/call", {{"name", "echo"}})));
  EXPECT_FALSE(is_error_result(call("echo", nullptr)));
}

TEST_F(ToolRuntime, SchemaViolationsAreToolErrorsNamingTheField) {
  std::atomic<int> runs{0};
  tool_definition tool = make_tool("search", [&](tool_context&, const json&) {
    ++runs;
    return tool_result::text("ran");
  });
  tool.input_schema = {{"type", "object"},
                       {"properties",
                        {{"query", {{"type", "string"}, {"minLength", 1}}},
                         {"limit", {{"type", "integer"}, {"minimum", 1}, {"maximum", 50}}}}},
                       {"required", {"query"}},
                       {"additionalProperties", false}};
  harness->server.add_tool(tool);
  harness->initialize();

  const json wrong_type = call("search", {{"query", "x"}, {"limit", "ten"}});
  ASSERT_TRUE(is_error_result(wrong_type)) << wrong_type;
  EXPECT_NE(text_of(wrong_type).find("limit"), std::string::npos) << text_of(wrong_type);

  const json too_big = call("search", {{"query", "x"}, {"limit", 51}});
  ASSERT_TRUE(is_error_result(too_big)) << too_big;
  EXPECT_NE(text_of(too_big).find("limit"), std::string::npos) << text_of(too_big);

  const json missing = call("search", {{"limit", 5}});
  ASSERT_TRUE(is_error_result(missing)) << missing;
  EXPECT_NE(text_of(missing).find("query"), std::string::npos) << text_of(missing);

  const json extra = call("search", {{"query", "x"}, {"colour", "red"}});
  ASSERT_TRUE(is_error_result(extra)) << extra;

  EXPECT_EQ(runs.load(), 0) << "the handler must not run with invalid arguments";
  EXPECT_FALSE(is_error_result(call("search", {{"query", "x"}, {"limit", 50}})));
  EXPECT_EQ(runs.load(), 1);
}

TEST_F(ToolRuntime, DefaultsAreAppliedBeforeTheHandlerRuns) {
  tool_definition tool = echo_tool("paged");
  tool.input_schema = {{"type", "object"},
                       {"properties",
                        {{"limit", {{"type", "integer"}, {"default", 10}}},
                         {"options", {{"type", "object"},
                                      {"properties", {{"fuzzy", {{"type", "boolean"}, {"default", true}}}}}}}}}};
  harness->server.add_tool(tool);
  harness->initialize();
  const json seen = json::parse(text_of(call("paged", {{"options", json::object()}})));
  EXPECT_EQ(seen["limit"], 10);
  EXPECT_EQ(seen["options"]["fuzzy"], true);
  const json explicit_value = json::parse(text_of(call("paged", {{"limit", 3}})));
  EXPECT_EQ(explicit_value["limit"], 3);
}

// The schema validator measures strings up to their first NUL: "\u0000" and 2,000 characters
// was refused as "fewer than 1 characters", a NUL before 30,000 passed a maxLength of 20,000.
TEST_F(ToolRuntime, StringsWithANulCharacterAreRefusedNamingWhere) {
  tool_definition tool = echo_tool("titled");
  tool.input_schema = {{"type", "object"},
                       {"properties",
                        {{"title", {{"type", "string"}, {"minLength", 1}, {"maxLength", 500}}},
                         {"tags", {{"type", "array"}, {"items", {{"type", "string"}}}}}}}};
  harness->server.add_tool(tool);
  harness->initialize();
  const json long_title =
      call("titled", {{"title", std::string(1, '\0') + std::string(30000, 'x')}});
  ASSERT_TRUE(is_error_result(long_title));
  EXPECT_NE(text_of(long_title).find("/title: a string must not contain the NUL character"),
            std::string::npos)
      << text_of(long_title);
  const json tag = call("titled", {{"title", "ok"}, {"tags", {"a", std::string("b\0c", 3)}}});
  ASSERT_TRUE(is_error_result(tag));
  EXPECT_NE(text_of(tag).find("/tags/1: a string must not contain"), std::string::npos)
      << text_of(tag);
  EXPECT_FALSE(is_error_result(call("titled", {{"title", "fine"}})));
}

// 2.0 is the integer 2 in JSON (and in JSON Schema); it used to be refused as "not an integer".
TEST_F(ToolRuntime, IntegralFloatsAreIntegers) {
  tool_definition tool = echo_tool("paged");
  tool.input_schema = {{"type", "object"},
                       {"properties",
                        {{"limit", {{"type", "integer"}, {"maximum", 100}}},
                         {"pages", {{"type", "array"}, {"items", {{"type", "integer"}}}}},
                         {"ratio", {{"type", "number"}}}}}};
  harness->server.add_tool(tool);
  harness->initialize();
  const json seen = json::parse(
      text_of(call("paged", json::parse(R"({"limit": 2.0, "pages": [1.0, 3e0], "ratio": 0.5})"))));
  EXPECT_EQ(seen, json::parse(R"({"limit": 2, "pages": [1, 3], "ratio": 0.5})"));
  EXPECT_TRUE(is_error_result(call("paged", {{"limit", 2.5}})));
  const json too_big = call("paged", {{"limit", 1000.0}});
  ASSERT_TRUE(is_error_result(too_big));
  EXPECT_EQ(text_of(too_big).find("type not permitted"), std::string::npos)
      << "only the range is wrong: " << text_of(too_big);
  EXPECT_NE(text_of(too_big).find("less than or equal to 100"), std::string::npos)
      << text_of(too_big);
}

// ---------------------------------------------------------------------------------------
// tools/call: handler outcomes

TEST_F(ToolRuntime, ToolErrorBecomesIsErrorResult) {
  harness->server.add_tool(make_tool("fails", [](tool_context&, const json&) -> tool_result {
    throw tool_error("no todo with id 42");
  }));
  harness->initialize();
  const json response = call("fails");
  ASSERT_TRUE(is_error_result(response)) << response;
  EXPECT_EQ(text_of(response), "no todo with id 42");
}

TEST_F(ToolRuntime, UnexpectedExceptionIsInternalErrorWithoutDetails) {
  harness->server.add_tool(make_tool("crashes", [](tool_context&, const json&) -> tool_result {
    throw std::runtime_error("secret detail: password=hunter2");
  }));
  harness->initialize();
  const json response = call("crashes");
  ASSERT_TRUE(response.contains("error")) << response;
  EXPECT_EQ(error_code_of(response), error_code::internal_error);
  EXPECT_EQ(response.dump().find("secret"), std::string::npos) << response;
  EXPECT_EQ(response.dump().find("hunter2"), std::string::npos) << response;
}

// {"count": integer}, required: the outputSchema of the structured-result tests.
json count_schema() {
  return {{"type", "object"}, {"properties", {{"count", {{"type", "integer"}}}}}, {"required", {"count"}}};
}

// A tool whose outputSchema is count_schema().
tool_definition counting_tool(std::string name, tool_handler handler) {
  tool_definition tool = make_tool(std::move(name), std::move(handler));
  tool.output_schema = count_schema();
  return tool;
}

TEST_F(ToolRuntime, StructuredContentIsCheckedAgainstOutputSchema) {
  auto structured_tool = [](std::string name, json value) {
    return counting_tool(std::move(name), [value](tool_context&, const json&) {
      return tool_result::structured(value, value.dump());
    });
  };
  harness->server.add_tool(structured_tool("good", {{"count", 3}}));
  harness->server.add_tool(structured_tool("bad", {{"count", "three"}}));
  harness->server.add_tool(
      counting_tool("plain", [](tool_context&, const json&) { return tool_result::text("no structure"); }));
  harness->server.add_tool(
      counting_tool("failing", [](tool_context&, const json&) { return tool_result::error("could not count"); }));
  harness->initialize();

  const json good = call("good");
  ASSERT_TRUE(good.contains("result")) << good;
  EXPECT_EQ(good["result"]["structuredContent"], json({{"count", 3}}));
  EXPECT_FALSE(good["result"].value("isError", false));

  EXPECT_EQ(error_code_of(call("bad")), error_code::internal_error);
  EXPECT_EQ(error_code_of(call("plain")), error_code::internal_error);
  // A tool that failed does not need structured content.
  const json failed = call("failing");
  ASSERT_TRUE(is_error_result(failed)) << failed;
  EXPECT_EQ(text_of(failed), "could not count");
}

// A tool may hand its structured content over as JSON text; it is sent as the same object and
// checked like a tree (malformed text is a bug of the tool: "Internal error", never sent).
TEST_F(ToolRuntime, StructuredContentWrittenAsTextIsSentAndChecked) {
  auto text_tool = [](std::string name, std::string object_json) {
    return counting_tool(std::move(name), [object_json](tool_context&, const json&) {
      return tool_result::structured_text(object_json, "as text");
    });
  };
  harness->server.add_tool(text_tool("good", R"({"count":3,"note":"a \"quoted\" word"})"));
  harness->server.add_tool(text_tool("mismatch", R"({"count":"three"})"));
  harness->server.add_tool(text_tool("malformed", R"({"count":3)"));
  harness->initialize();

  const json good = call("good");
  ASSERT_TRUE(good.contains("result")) << good;
  EXPECT_EQ(good["result"]["structuredContent"], json({{"count", 3}, {"note", "a \"quoted\" word"}}));
  EXPECT_EQ(text_of(good), "as text");
  EXPECT_FALSE(good["result"].value("isError", false));
  EXPECT_EQ(error_code_of(call("mismatch")), error_code::internal_error);
  EXPECT_EQ(error_code_of(call("malformed")), error_code::internal_error);
  // The same result as a tree and as text serialise alike.
  EXPECT_EQ(tool_result::structured_text(R"({"count":3})", "t").to_json(),
            tool_result::structured({{"count", 3}}, "t").to_json());
  EXPECT_EQ(json::parse(tool_result::structured({{"count", 3}}, "t").serialize()),
            tool_result::structured({{"count", 3}}, "t").to_json());
}

// serialize() writes text blocks itself: the same text as the library's, for every kind of block.
TEST(ToolResultSerialize, WritesWhatTheLibraryWrites) {
  tool_result result = tool_result::structured_text(R"({"count":3})",
                                                    "quote \" backslash \\ newline \n caf\xc3\xa9");
  result.content.push_back({{"type", "image"}, {"data", "AAAA"}, {"mimeType", "image/png"}});
  result.content.push_back(
      {{"type", "text"}, {"text", "with annotations"}, {"annotations", {{"priority", 1}}}});
  result.content.push_back({{"type", "text"}, {"text", "bad \xff byte"}});
  result.is_error = true;
  const std::string written = tool_result(result).serialize();
  EXPECT_EQ(written,
            std::move(result).to_json().dump(-1, ' ', false, json::error_handler_t::replace));
  EXPECT_EQ(tool_result::text("").serialize(), R"({"content":[{"text":"","type":"text"}]})");
}

// With validate_output off (bookmcp's default) the result goes out as the tool made it, but a
// tool with an outputSchema must still return structured content.
TEST_F(ToolRuntime, OutputCheckCanBeTurnedOffButStructuredContentIsStillRequired) {
  auto options = mcp_testing::test_server_options();
  options.validate_output = false;
  harness = std::make_unique<session_harness>(options);
  harness->server.add_tool(counting_tool("unchecked", [](tool_context&, const json&) {
    return tool_result::structured({{"count", "three"}}, "three");
  }));
  harness->server.add_tool(
      counting_tool("plain", [](tool_context&, const json&) { return tool_result::text("no structure"); }));
  harness->initialize();

  const json sent = call("unchecked");
  ASSERT_TRUE(sent.contains("result")) << sent;
  EXPECT_EQ(sent["result"]["structuredContent"], json({{"count", "three"}}));
  EXPECT_EQ(error_code_of(call("plain")), error_code::internal_error);
}

// ---------------------------------------------------------------------------------------
// cancellation, deadlines, closing

TEST_F(ToolRuntime, CancelledCallStopsTheHandlerAndGetsNoResponse) {
  harness->server.add_tool(waiting_tool());
  harness->initialize();
  harness->start_call("c1", "slow");
  ASSERT_TRUE(started.wait());
  harness->cancel("c1");
  EXPECT_TRUE(stop_seen.wait()) << "the handler's stop_token never fired";
  ASSERT_TRUE(harness->session->wait_idle(wait_limit));
  EXPECT_TRUE(harness->sink->responses_to("c1").empty());
  // Cancelling again (unknown now) is ignored, and the session still works.
  harness->cancel("c1");
  EXPECT_EQ(harness->request("ping")["result"], json::object());
}

TEST_F(ToolRuntime, DeadlineGivesIsErrorAndFiresTheStopToken) {
  tool_definition tool = waiting_tool("slow");
  tool.timeout = std::chrono::milliseconds(50);
  expect_deadline_answer(tool, "time limit of 50 ms");
}

// server_options::tool_timeout (--tool-timeout) is every tool's deadline, whatever the tool
// declares: the flag used to be parsed and then ignored.
TEST_F(ToolRuntime, TheServersToolTimeoutOverridesEachToolsOwn) {
  auto options = mcp_testing::test_server_options();
  options.tool_timeout = std::chrono::milliseconds(50);
  harness = std::make_unique<session_harness>(options);
  tool_definition tool = waiting_tool("slow");
  tool.timeout = std::chrono::minutes(10);
  expect_deadline_answer(tool, "time limit of 50 ms");
}

// BUG: the deadline thread hands the expired deadline's work (claim, stop, answer) to the same
// worker pool that runs the handlers. When every worker is busy with a handler that waits for
// its stop token (the documented way to write a long handler), that work never gets a thread:
// no deadline fires and the calls only end when the handlers give up by themselves (here after
// 3 s, with a normal result).
TEST_F(ToolRuntime, DeadlinesFireEvenWhenEveryWorkerIsBusy) {
  auto options = mcp_testing::test_server_options();
  options.worker_threads = 2;
  harness = std::make_unique<session_harness>(options);
  tool_definition tool = make_tool("patient", [](tool_context& context, const json&) {
    // Waits for cancellation, giving up after 30 s so that the bug shows as a wrong answer.
    if (context.sleep_for(std::chrono::seconds(30))) return tool_result::text("gave up waiting for the deadline");
    return tool_result::text("stopped");
  });
  tool.timeout = std::chrono::milliseconds(100);
  harness->server.add_tool(tool);
  harness->initialize();
  harness->start_call(1, "patient");
  harness->start_call(2, "patient");
  for (int id : {1, 2}) {
    auto response = harness->sink->wait_for_response(id);
    ASSERT_TRUE(response);
    EXPECT_TRUE(is_error_result(*response)) << *response;
    EXPECT_NE(text_of(*response).find("time limit"), std::string::npos) << *response;
  }
}

// A tool that runs inline is called on the thread that handed the session the message, and
// answered before handle_message returns: no worker, no deadline.
TEST_F(ToolRuntime, InlineToolRunsOnTheReceivingThreadAndAnswersAtOnce) {
  std::thread::id handler_thread;
  std::chrono::steady_clock::time_point deadline;
  tool_definition tool = make_tool("quick", [&](tool_context& context, const json& arguments) {
    handler_thread = std::this_thread::get_id();
    deadline = context.deadline();
    return tool_result::text("quick " + arguments.at("word").get<std::string>());
  });
  tool.input_schema = {
      {"type", "object"}, {"properties", {{"word", {{"type", "string"}}}}}, {"required", {"word"}}};
  tool.runs_inline = true;
  harness->server.add_tool(tool);
  harness->initialize();
  harness->start_call(7, "quick", {{"word", "fox"}});
  // No waiting: the answer is already in the sink.
  const auto answers = harness->sink->responses_to(7);
  ASSERT_EQ(answers.size(), 1u);
  EXPECT_EQ(text_of(answers[0]), "quick fox");
  EXPECT_EQ(handler_thread, std::this_thread::get_id());
  EXPECT_EQ(deadline, std::chrono::steady_clock::time_point::max());

  // Arguments are still checked against the schema first.
  harness->start_call(8, "quick", {{"word", 3}});
  const auto rejected = harness->sink->responses_to(8);
  ASSERT_EQ(rejected.size(), 1u);
  EXPECT_TRUE(is_error_result(rejected[0])) << rejected[0];
  ASSERT_TRUE(harness->session->wait_idle(wait_limit));
}

// Waiting in an inline tool would stall the thread that must deliver the answer it waits for:
// request_client and sleep_for fail with a tool error instead.
TEST_F(ToolRuntime, InlineToolCannotWaitOrAskTheClient) {
  tool_definition asking = make_tool("asking", [](tool_context& context, const json&) {
    context.request_client("roots/list", json::object(), std::chrono::milliseconds(100));
    return tool_result::text("unreachable");
  });
  asking.runs_inline = true;
  tool_definition sleeping = make_tool("sleeping", [](tool_context& context, const json&) {
    context.sleep_for(std::chrono::milliseconds(1));
    return tool_result::text("unreachable");
  });
  sleeping.runs_inline = true;
  harness->server.add_tool(asking);
  harness->server.add_tool(sleeping);
  harness->initialize("2025-06-18", {{"roots", json::object()}});
  for (auto [id, name, expected] : {std::tuple{1, "asking", "roots/list cannot be sent"},
                                    std::tuple{2, "sleeping", "cannot sleep"}}) {
    harness->start_call(id, name);
    const auto answers = harness->sink->responses_to(id);
    ASSERT_EQ(answers.size(), 1u) << name;
    EXPECT_TRUE(is_error_result(answers[0])) << answers[0];
    EXPECT_NE(text_of(answers[0]).find(expected), std::string::npos) << answers[0];
  }
  EXPECT_TRUE(
      harness->sink->find([](const json& m) { return is_request(m, "roots/list"); }).empty())
      << "no request reached the client";
  ASSERT_TRUE(harness->session->wait_idle(wait_limit));
}

// --- tools that do not block (tool_definition::async_handler) ---

// The completions an async tool was handed, for the test to call later.
struct pending_completions {
  std::mutex mutex;
  std::vector<std::pair<std::optional<tool_completion>, std::stop_token>> calls;
  std::thread::id started_on;

  async_tool_handler handler() {
    return [this](tool_context context, const json&, tool_completion done) {
      std::lock_guard lock(mutex);
      started_on = std::this_thread::get_id();
      calls.emplace_back(std::move(done), context.stop_token());
      return true;
    };
  }
  std::size_t count() {
    std::lock_guard lock(mutex);
    return calls.size();
  }
  tool_completion completion(std::size_t i) {
    std::lock_guard lock(mutex);
    return *calls.at(i).first;
  }
  std::stop_token stop_token(std::size_t i) {
    std::lock_guard lock(mutex);
    return calls.at(i).second;
  }
};

tool_definition async_tool(std::string name, pending_completions& pending) {
  tool_definition tool = make_tool(std::move(name), [](tool_context&, const json&) -> tool_result {
    throw std::logic_error("the blocking handler of an async tool ran");
  });
  tool.async_handler = pending.handler();
  return tool;
}

TEST_F(ToolRuntime, AsyncToolStartsOnTheReceivingThreadAndEndsWithItsCompletion) {
  auto pending = std::make_shared<pending_completions>();
  harness->server.add_tool(async_tool("later", *pending));
  harness->initialize();
  harness->start_call(1, "later");
  ASSERT_EQ(pending->count(), 1u);  // started before handle_message returned
  EXPECT_EQ(pending->started_on, std::this_thread::get_id());
  EXPECT_TRUE(harness->sink->responses_to(1).empty()) << "answered before its completion";
  std::thread([&] { pending->completion(0)(tool_result::text("done later")); }).join();
  const auto answer = harness->sink->wait_for_response(1);
  ASSERT_TRUE(answer);
  EXPECT_EQ(text_of(*answer), "done later");
  // A second completion is ignored.
  pending->completion(0)(tool_result::text("again"));
  ASSERT_TRUE(harness->session->wait_idle(wait_limit));
  EXPECT_EQ(harness->sink->responses_to(1).size(), 1u);
}

TEST_F(ToolRuntime, AsyncToolFailuresAreAnsweredAsForBlockingTools) {
  auto pending = std::make_shared<pending_completions>();
  harness->server.add_tool(async_tool("failing", *pending));
  tool_definition throwing =
      make_tool("throwing", [](tool_context&, const json&) { return tool_result::text("unused"); });
  throwing.async_handler = [](tool_context, const json&, tool_completion) -> bool {
    throw tool_error("rejected at the start");
  };
  harness->server.add_tool(throwing);
  harness->initialize();
  harness->start_call(1, "failing");
  harness->start_call(2, "failing");
  ASSERT_EQ(pending->count(), 2u);
  pending->completion(0).fail(std::make_exception_ptr(tool_error("no such thing")));
  pending->completion(1).fail(std::make_exception_ptr(std::runtime_error("secret detail")));
  const auto tool_failure = harness->sink->wait_for_response(1);
  ASSERT_TRUE(tool_failure);
  EXPECT_TRUE(is_error_result(*tool_failure));
  EXPECT_EQ(text_of(*tool_failure), "no such thing");
  const auto internal = harness->sink->wait_for_response(2);
  ASSERT_TRUE(internal);
  EXPECT_EQ(error_code_of(*internal), -32603);
  EXPECT_EQ(internal->dump().find("secret"), std::string::npos);
  // Thrown by the handler while starting: answered at once.
  harness->start_call(3, "throwing");
  const auto rejected = harness->sink->responses_to(3);
  ASSERT_EQ(rejected.size(), 1u);
  EXPECT_EQ(text_of(rejected[0]), "rejected at the start");
  ASSERT_TRUE(harness->session->wait_idle(wait_limit));
}

TEST_F(ToolRuntime, AsyncToolHasADeadlineAndSeesCancellation) {
  auto pending = std::make_shared<pending_completions>();
  tool_definition tool = async_tool("never", *pending);
  tool.timeout = std::chrono::milliseconds(100);
  harness->server.add_tool(tool);
  harness->initialize();
  harness->start_call(1, "never");
  const auto answer = harness->sink->wait_for_response(1);
  ASSERT_TRUE(answer);
  EXPECT_TRUE(is_error_result(*answer));
  EXPECT_NE(text_of(*answer).find("time limit"), std::string::npos) << *answer;
  EXPECT_TRUE(pending->stop_token(0).stop_requested());
  // Its completion comes later (the work noticed the stop) and sends nothing more.
  pending->completion(0).fail(std::make_exception_ptr(cancelled_error()));

  // A client's cancellation: the stop is requested, nothing is answered.
  tool.name = "cancelled";
  tool.timeout = std::chrono::seconds(60);
  harness->server.add_tool(tool);
  harness->start_call(2, "cancelled");
  ASSERT_EQ(pending->count(), 2u);
  harness->cancel(2);
  EXPECT_TRUE(pending->stop_token(1).stop_requested());
  pending->completion(1).fail(std::make_exception_ptr(cancelled_error()));
  ASSERT_TRUE(harness->session->wait_idle(wait_limit));
  EXPECT_TRUE(harness->sink->responses_to(2).empty());
  EXPECT_EQ(harness->sink->responses_to(1).size(), 1u);
}

// Slots are held until the completion: max_concurrency counts calls waiting on I/O too.
TEST_F(ToolRuntime, AsyncToolKeepsItsSlotUntilItCompletes) {
  auto pending = std::make_shared<pending_completions>();
  tool_definition tool = async_tool("one_at_a_time", *pending);
  tool.max_concurrency = 1;
  tool.max_queue = 1;
  harness->server.add_tool(tool);
  harness->initialize();
  harness->start_call(1, "one_at_a_time");
  harness->start_call(2, "one_at_a_time");  // waits for the slot
  harness->start_call(3, "one_at_a_time");  // the queue is full
  EXPECT_EQ(pending->count(), 1u);
  const auto busy = harness->sink->wait_for_response(3);
  ASSERT_TRUE(busy);
  EXPECT_NE(text_of(*busy).find("busy"), std::string::npos) << *busy;
  pending->completion(0)(tool_result::text("first"));
  ASSERT_TRUE(harness->sink->wait_for_response(1));
  ASSERT_EQ(pending->count(), 2u);  // the waiting call started on the completing thread
  pending->completion(1)(tool_result::text("second"));
  const auto second = harness->sink->wait_for_response(2);
  ASSERT_TRUE(second);
  EXPECT_EQ(text_of(*second), "second");
  ASSERT_TRUE(harness->session->wait_idle(wait_limit));
}

// Completed before the handler returns (a failure found before any I/O), or declined (the
// blocking handler runs on a worker): both free the slot for the next call.
TEST_F(ToolRuntime, AsyncToolMayCompleteAtOnceOrDecline) {
  tool_definition tool = make_tool("either", [](tool_context&, const json& arguments) {
    return tool_result::text("blocking " + arguments.at("n").dump());
  });
  tool.async_handler = [](tool_context, const json& arguments, tool_completion done) {
    const int n = arguments.at("n").get<int>();
    if (n % 2 == 0) return false;
    done(tool_result::text("at once " + std::to_string(n)));
    return true;
  };
  tool.max_concurrency = 1;
  harness->server.add_tool(tool);
  harness->initialize();
  for (int n = 1; n <= 6; ++n) harness->start_call(n, "either", {{"n", n}});
  for (int n = 1; n <= 6; ++n) {
    const auto answer = harness->sink->wait_for_response(n);
    ASSERT_TRUE(answer) << n;
    EXPECT_EQ(text_of(*answer), (n % 2 ? "at once " : "blocking ") + std::to_string(n));
  }
  ASSERT_TRUE(harness->session->wait_idle(wait_limit));
}

TEST_F(ToolRuntime, ClosingTheSessionCancelsInFlightCalls) {
  harness->server.add_tool(waiting_tool());
  harness->initialize();
  harness->start_call(1, "slow");
  ASSERT_TRUE(started.wait());
  harness->session->close();
  EXPECT_TRUE(stop_seen.wait());
  EXPECT_TRUE(harness->session->wait_idle(wait_limit));
  EXPECT_TRUE(harness->sink->responses_to(1).empty());
  // Idempotent.
  harness->session->close();
}

TEST_F(ToolRuntime, PingIsAnsweredWhileASlowToolRuns) {
  harness->server.add_tool(waiting_tool());
  harness->initialize();
  harness->start_call(1, "slow");
  ASSERT_TRUE(started.wait());
  EXPECT_EQ(harness->request("ping")["result"], json::object());
  EXPECT_TRUE(harness->request("tools/list").contains("result"));
  EXPECT_TRUE(harness->sink->responses_to(1).empty());
  release.set();
  auto response = harness->sink->wait_for_response(1);
  ASSERT_TRUE(response);
  EXPECT_EQ(text_of(*response), "slow finished");
}

TEST_F(ToolRuntime, ReusingAnInFlightIdIsInvalidRequest) {
  harness->server.add_tool(waiting_tool());
  harness->initialize();
  harness->start_call(1, "slow");
  ASSERT_TRUE(started.wait());
  harness->start_call(1, "slow");
  auto error = harness->sink->wait_for_response(1);
  ASSERT_TRUE(error);
  EXPECT_EQ(error_code_of(*error), error_code::invalid_request);
  release.set();
}

// An answered id is free at once: a client that reuses it as soon as it reads the answer used
// to get "already in use" now and then (over HTTP, 1-10% of sequential calls), because the id
// was released only after the answer had been sent. This client reuses it from inside the
// send of the answer, before the runtime's bookkeeping for the call ends: deterministic.
TEST_F(ToolRuntime, AnAnsweredIdCanBeReusedAtOnce) {
  struct reusing_sink : mcp_testing::recording_sink {
    std::weak_ptr<server_session> session;
    std::atomic<bool> reused{false};
    bool send(std::string message, const outbound_route& route) override {
      const bool first_answer = route.type == outbound_route::kind::response &&
                                route.related_request && route.related_request->to_json() == 1 &&
                                !reused.exchange(true);
      const bool sent = recording_sink::send(std::move(message), route);
      if (first_answer) {
        if (auto live = session.lock())
          live->handle_message(mcp_testing::request_message(
                                   1, "tools/call", {{"name", "echo"}, {"arguments", {{"x", 2}}}})
                                   .dump());
      }
      return sent;
    }
  };
  harness->server.add_tool(echo_tool("echo"));
  auto sink = std::make_shared<reusing_sink>();
  auto session = harness->server.open_session(sink);
  sink->session = session;
  session->handle_message(
      mcp_testing::request_message(0, "initialize", {{"protocolVersion", "2025-11-25"}}).dump());
  session->handle_message(mcp_testing::notification_message("notifications/initialized").dump());
  session->handle_message(
      mcp_testing::request_message(1, "tools/call", {{"name", "echo"}, {"arguments", {{"x", 1}}}})
          .dump());
  ASSERT_TRUE(sink->wait_for_count(3));  // initialize and the two calls' answers
  const auto answers = sink->responses_to(1);
  ASSERT_EQ(answers.size(), 2u);
  EXPECT_EQ(text_of(answers[0]), R"({"x":1})") << answers[0];
  EXPECT_EQ(text_of(answers[1]), R"({"x":2})") << "the call that reused the id: " << answers[1];
  ASSERT_TRUE(session->wait_idle(wait_limit));
  EXPECT_EQ(session->calls_in_flight(), 0u);
  session->close();
}

// ---------------------------------------------------------------------------------------
// concurrency limits

TEST_F(ToolRuntime, CallsBeyondConcurrencyAndQueueAreBusy) {
  std::atomic<int> runs{0};
  tool_definition tool = make_tool("single", [&](tool_context&, const json& arguments) {
    ++runs;
    started.set();
    release.wait();
    return tool_result::text("done " + arguments.value("n", std::string()));
  });
  tool.max_concurrency = 1;
  tool.max_queue = 1;
  harness->server.add_tool(tool);
  harness->initialize();

  harness->start_call(1, "single", {{"n", "one"}});
  ASSERT_TRUE(started.wait());
  harness->start_call(2, "single", {{"n", "two"}});    // waits for the slot
  harness->start_call(3, "single", {{"n", "three"}});  // nowhere to wait: busy
  auto busy = harness->sink->wait_for_response(3);
  ASSERT_TRUE(busy);
  ASSERT_TRUE(is_error_result(*busy)) << *busy;
  EXPECT_NE(text_of(*busy).find("busy"), std::string::npos) << text_of(*busy);
  EXPECT_TRUE(harness->sink->responses_to(1).empty());
  EXPECT_TRUE(harness->sink->responses_to(2).empty());
  EXPECT_EQ(runs.load(), 1);

  release.set();
  auto first = harness->sink->wait_for_response(1);
  auto second = harness->sink->wait_for_response(2);
  ASSERT_TRUE(first && second);
  EXPECT_EQ(text_of(*first), "done one");
  EXPECT_EQ(text_of(*second), "done two");
  EXPECT_EQ(runs.load(), 2);
  // The slot is free again.
  EXPECT_EQ(text_of(call("single", {{"n", "four"}})), "done four");
}

TEST_F(ToolRuntime, CancellingAQueuedCallFreesItsPlace) {
  std::atomic<int> runs{0};
  tool_definition tool = make_tool("single", [&](tool_context&, const json&) {
    ++runs;
    started.set();
    release.wait();
    return tool_result::text("done");
  });
  tool.max_concurrency = 1;
  tool.max_queue = 1;
  harness->server.add_tool(tool);
  harness->initialize();
  harness->start_call(1, "single");
  ASSERT_TRUE(started.wait());
  harness->start_call(2, "single");
  harness->cancel(2);
  release.set();
  ASSERT_TRUE(harness->sink->wait_for_response(1));
  ASSERT_TRUE(harness->session->wait_idle(wait_limit));
  EXPECT_TRUE(harness->sink->responses_to(2).empty());
  EXPECT_EQ(runs.load(), 1) << "a call cancelled while queued must not run";
}

// ---------------------------------------------------------------------------------------
// progress

class Progress : public ToolRuntime {
 protected:
  void SetUp() override {
    harness->server.add_tool(make_tool("progressive", [](tool_context& context, const json&) {
      json seen = {{"has_token", context.has_progress_token()}};
      context.report_progress(1);
      context.report_progress(1);    // not greater: dropped
      context.report_progress(0.5);  // going back: dropped
      context.report_progress(2, 10, "two of ten");
      return tool_result::text(seen.dump());
    }));
    harness->initialize();
  }

  std::vector<json> progress_for(const json& token) {
    return harness->sink->find([&](const json& message) {
      return is_notification(message, "notifications/progress") && message["params"]["progressToken"] == token;
    });
  }
};

TEST_F(Progress, MonotonicNotificationsEchoAnIntegerToken) {
  harness->start_call(1, "progressive", json::object(), {{"_meta", {{"progressToken", 7}}}});
  auto response = harness->sink->wait_for_response(1);
  ASSERT_TRUE(response);
  EXPECT_EQ(json::parse(text_of(*response))["has_token"], true);
  const auto notes = progress_for(7);
  ASSERT_EQ(notes.size(), 2u);
  EXPECT_TRUE(notes[0]["params"]["progressToken"].is_number_integer());
  EXPECT_EQ(notes[0]["params"]["progress"], 1.0);
  EXPECT_EQ(notes[1]["params"]["progress"], 2.0);
  EXPECT_EQ(notes[1]["params"]["total"], 10.0);
  EXPECT_EQ(notes[1]["params"]["message"], "two of ten");
  EXPECT_FALSE(notes[0]["params"].contains("total"));
  // Progress comes before the result.
  const auto all = harness->sink->messages();
  std::size_t last_progress = 0, result_at = 0;
  for (std::size_t i = 0; i < all.size(); ++i) {
    if (is_notification(all[i], "notifications/progress")) last_progress = i;
    if (mcp_testing::is_response_to(all[i], 1)) result_at = i;
  }
  EXPECT_LT(last_progress, result_at);
}

TEST_F(Progress, StringTokenStaysAString) {
  harness->start_call(2, "progressive", json::object(), {{"_meta", {{"progressToken", "42"}}}});
  ASSERT_TRUE(harness->sink->wait_for_response(2));
  const auto notes = progress_for("42");
  ASSERT_EQ(notes.size(), 2u);
  EXPECT_TRUE(notes[0]["params"]["progressToken"].is_string());
  EXPECT_TRUE(progress_for(42).empty());
}

TEST_F(Progress, NoTokenNoNotifications) {
  harness->start_call(3, "progressive");
  auto response = harness->sink->wait_for_response(3);
  ASSERT_TRUE(response);
  EXPECT_EQ(json::parse(text_of(*response))["has_token"], false);
  // A token of the wrong type (not a string or an integer) is no token either.
  harness->start_call(4, "progressive", json::object(), {{"_meta", {{"progressToken", 1.5}}}});
  ASSERT_TRUE(harness->sink->wait_for_response(4));
  EXPECT_TRUE(harness->sink->find([](const json& m) { return is_notification(m, "notifications/progress"); }).empty());
}

// ---------------------------------------------------------------------------------------
// logging from a tool

TEST_F(ToolRuntime, LogRespectsTheSessionLevel) {
  harness->server.add_tool(make_tool("chatty", [](tool_context& context, const json&) {
    context.log(log_level::debug, "debug line");
    context.log(log_level::info, "info line");
    context.log(log_level::warning, {{"disk", "low"}}, "storage");
    context.log(log_level::error, "error line");
    return tool_result::text("ok");
  }));
  harness->initialize();
  auto levels_logged = [&](std::size_t from) {
    std::vector<std::string> levels;
    for (const auto& message : harness->sink->find(
             [](const json& m) { return is_notification(m, "notifications/message"); }, from)) {
      levels.push_back(message["params"]["level"]);
    }
    return levels;
  };

  std::size_t before = harness->sink->size();
  call("chatty");
  EXPECT_EQ(levels_logged(before), (std::vector<std::string>{"info", "warning", "error"}));

  ASSERT_EQ(harness->request("logging/setLevel", {{"level", "warning"}})["result"], json::object());
  before = harness->sink->size();
  call("chatty");
  EXPECT_EQ(levels_logged(before), (std::vector<std::string>{"warning", "error"}));
  const auto warning = harness->sink->find(
      [](const json& m) { return is_notification(m, "notifications/message") && m["params"]["level"] == "warning"; },
      before);
  ASSERT_EQ(warning.size(), 1u);
  EXPECT_EQ(warning[0]["params"]["data"], json({{"disk", "low"}}));
  EXPECT_EQ(warning[0]["params"]["logger"], "storage");

  ASSERT_EQ(harness->request("logging/setLevel", {{"level", "emergency"}})["result"], json::object());
  before = harness->sink->size();
  call("chatty");
  EXPECT_TRUE(levels_logged(before).empty());
}

// ---------------------------------------------------------------------------------------
// server-to-client requests (the test plays the client)

class ClientRequests : public ToolRuntime {
 protected:
  // A tool that asks the client and returns what it got (or lets tool_error escape).
  void add_asking_tool(std::chrono::milliseconds timeout = std::chrono::seconds(60)) {
    harness->server.add_tool(make_tool("ask", [this, timeout](tool_context& context, const json& arguments) {
      started.set();
      try {
        const json answer = context.request_client(arguments.value("method", "sampling/createMessage"),
                                                   {{"question", "why?"}}, timeout);
        return tool_result::text(answer.dump());
      } catch (const cancelled_error&) {
        stop_seen.set();
        throw;
      }
    }));
  }

  // Waits for the server's request with `method` and returns it.
  json server_request(std::string_view method) {
    auto request = harness->sink->wait_for([&](const json& m) { return is_request(m, method); });
    EXPECT_TRUE(request) << "the server never sent " << method;
    return request.value_or(json::object());
  }
};

TEST_F(ClientRequests, AnswerIsCorrelatedById) {
  add_asking_tool();
  harness->initialize("2025-11-25", {{"sampling", json::object()}});
  harness->start_call("call", "ask");
  const json request = server_request("sampling/createMessage");
  EXPECT_EQ(request["params"]["question"], "why?");
  // An answer to some other id does not complete the request.
  harness->send({{"jsonrpc", "2.0"}, {"id", "someone-else"}, {"result", {{"text", "wrong"}}}});
  harness->send({{"jsonrpc", "2.0"}, {"id", request["id"]}, {"result", {{"text", "because"}}}});
  auto response = harness->sink->wait_for_response("call");
  ASSERT_TRUE(response);
  EXPECT_FALSE(is_error_result(*response)) << *response;
  EXPECT_EQ(json::parse(text_of(*response)), json({{"text", "because"}}));
  // The server's request was tied to the tool call for routing.
  for (const auto& entry : harness->sink->entries()) {
    if (is_request(entry.body, "sampling/createMessage")) {
      EXPECT_EQ(entry.route.type, outbound_route::kind::request);
      ASSERT_TRUE(entry.route.related_request);
      EXPECT_EQ(*entry.route.related_request, request_id(std::string("call")));
    }
  }
}

TEST_F(ClientRequests, ClientErrorBecomesToolError) {
  add_asking_tool();
  harness->initialize("2025-11-25", {{"sampling", json::object()}});
  harness->start_call("call", "ask");
  const json request = server_request("sampling/createMessage");
  harness->send({{"jsonrpc", "2.0"}, {"id", request["id"]}, {"error", {{"code", -1}, {"message", "user declined"}}}});
  auto response = harness->sink->wait_for_response("call");
  ASSERT_TRUE(response);
  ASSERT_TRUE(is_error_result(*response)) << *response;
  EXPECT_NE(text_of(*response).find("user declined"), std::string::npos) << text_of(*response);
}

TEST_F(ClientRequests, UnansweredRequestTimesOutAsToolError) {
  add_asking_tool(std::chrono::milliseconds(100));
  harness->initialize("2025-11-25", {{"sampling", json::object()}});
  harness->start_call("call", "ask");
  const json request = server_request("sampling/createMessage");
  auto response = harness->sink->wait_for_response("call");
  ASSERT_TRUE(response);
  ASSERT_TRUE(is_error_result(*response)) << *response;
  EXPECT_NE(text_of(*response).find("100 ms"), std::string::npos) << text_of(*response);
  // The client is told to stop working on it.
  auto cancelled = harness->sink->wait_for([&](const json& m) {
    return is_notification(m, "notifications/cancelled") && m["params"]["requestId"] == request["id"];
  });
  EXPECT_TRUE(cancelled);
  // A late answer is ignored.
  const std::size_t before = harness->sink->size();
  harness->send({{"jsonrpc", "2.0"}, {"id", request["id"]}, {"result", json::object()}});
  EXPECT_EQ(harness->sink->size(), before);
}

TEST_F(ClientRequests, MissingCapabilityFailsWithoutSendingTheRequest) {
  add_asking_tool();
  harness->initialize("2025-11-25", {{"roots", json::object()}});  // no sampling, no elicitation
  for (const char* method : {"sampling/createMessage", "elicitation/create"}) {
    SCOPED_TRACE(method);
    const json response = call("ask", {{"method", method}});
    ASSERT_TRUE(is_error_result(response)) << response;
    EXPECT_NE(text_of(response).find("capability"), std::string::npos) << text_of(response);
    EXPECT_TRUE(harness->sink->find([&](const json& m) { return is_request(m, method); }).empty());
  }
}

TEST_F(ClientRequests, CancellingTheCallCancelsTheWait) {
  add_asking_tool();
  harness->initialize("2025-11-25", {{"sampling", json::object()}});
  harness->start_call("call", "ask");
  const json request = server_request("sampling/createMessage");
  harness->cancel("call");
  EXPECT_TRUE(stop_seen.wait()) << "request_client did not end with cancelled_error";
  ASSERT_TRUE(harness->session->wait_idle(wait_limit));
  EXPECT_TRUE(harness->sink->responses_to("call").empty());
  EXPECT_TRUE(harness->sink->wait_for([&](const json& m) {
    return is_notification(m, "notifications/cancelled") && m["params"]["requestId"] == request["id"];
  }));
}

TEST_F(ClientRequests, ClosingTheSessionFailsTheWait) {
  add_asking_tool();
  harness->initialize("2025-11-25", {{"sampling", json::object()}});
  harness->start_call("call", "ask");
  server_request("sampling/createMessage");
  harness->session->close();
  EXPECT_TRUE(harness->session->wait_idle(wait_limit)) << "the handler is still waiting for the client";
}

TEST_F(ClientRequests, SessionRequestThrowsRpcErrors) {
  harness->initialize("2025-11-25", {{"roots", json::object()}});
  try {
    harness->session->request("sampling/createMessage", json::object(), std::chrono::seconds(1));
    ADD_FAILURE() << "no capability, no request";
  } catch (const rpc_error& error) {
    EXPECT_EQ(error.code(), error_code::invalid_request);
  }
  try {
    harness->session->request("roots/list", json::object(), std::chrono::milliseconds(20));
    ADD_FAILURE() << "nobody answers";
  } catch (const rpc_error& error) {
    EXPECT_EQ(error.code(), error_code::request_timeout);
  }
}

}  // namespace
}  // namespace bookmcp::mcp
