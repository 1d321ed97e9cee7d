// Session lifecycle, batches, listing and pagination, logging level, list_changed
// notifications and server shutdown, driven with raw JSON through a recording sink.

#include <gtest/gtest.h>
#include <spdlog/sinks/ostream_sink.h>
#include <spdlog/spdlog.h>

#include <future>
#include <sstream>
#include <string>
#include <thread>

#include "mcp/base64.hpp"
#include "mcp/detail/session_impl.hpp"
#include "mcp/server.hpp"
#include "tests/testing/mcp_fixture.hpp"

namespace bookmcp::mcp {
namespace {

using mcp_testing::is_notification;
using mcp_testing::is_response_to;
using mcp_testing::notification_message;
using mcp_testing::request_message;
using mcp_testing::session_harness;
using mcp_testing::signal;
using mcp_testing::wait_limit;

tool_definition echo_tool(std::string name) {
  tool_definition tool;
  tool.name = std::move(name);
  tool.description = "echoes its arguments";
  tool.handler = [](tool_context&, const json& arguments) { return tool_result::text(arguments.dump()); };
  return tool;
}

int error_code_of(const json& message) { return message.at("error").at("code").get<int>(); }

// "gate": sets `started`, waits for `release`, answers "opened".
tool_definition gate_tool(signal& started, signal& release) {
  tool_definition gate = echo_tool("gate");
  gate.handler = [&started, &release](tool_context&, const json&) {
    started.set();
    release.wait();
    return tool_result::text("opened");
  };
  return gate;
}

// ---------------------------------------------------------------------------------------
// lifecycle

TEST(Lifecycle, RequestsBeforeInitializeAreInvalidRequests) {
  session_harness harness;
  harness.server.add_tool(echo_tool("echo"));
  for (const char* method : {"tools/list", "tools/call", "resources/list", "prompts/list", "no/such/method"}) {
    SCOPED_TRACE(method);
    const json response = harness.request(method, {{"name", "echo"}});
    EXPECT_EQ(error_code_of(response), error_code::invalid_request) << response;
  }
  EXPECT_FALSE(harness.session->initialized());
  EXPECT_EQ(harness.request("ping")["result"], json::object());
}

TEST(Lifecycle, InitializeEchoesSupportedVersions) {
  for (const char* version : {"2025-11-25", "2025-06-18", "2025-03-26"}) {
    SCOPED_TRACE(version);
    session_harness harness;
    const json response = harness.initialize(version);
    EXPECT_EQ(response["result"]["protocolVersion"], version);
    EXPECT_EQ(harness.session->protocol_version(), version);
    EXPECT_TRUE(harness.session->initialized());
  }
}

TEST(Lifecycle, UnknownVersionIsAnsweredWithTheLatest) {
  for (const char* version : {"2024-11-05", "1999-01-01", "banana"}) {
    SCOPED_TRACE(version);
    session_harness harness;
    const json response = harness.initialize(version);
    EXPECT_EQ(response["result"]["protocolVersion"], "2025-11-25");
  }
}

TEST(Lifecycle, MissingProtocolVersionIsInvalidParams) {
  session_harness harness;
  EXPECT_EQ(error_code_of(harness.request("initialize", {{"capabilities", json::object()}})),
            error_code::invalid_params);
  EXPECT_EQ(error_code_of(harness.request("initialize", {{"protocolVersion", 20251125}})),
            error_code::invalid_params);
  EXPECT_FALSE(harness.session->initialized());
  // A correct initialize still works afterwards.
  EXPECT_EQ(harness.initialize()["result"]["protocolVersion"], "2025-11-25");
}

// Wrong types in clientInfo used to escape as an internal error.
TEST(Lifecycle, MalformedClientInfoIsInvalidParamsNamingTheField) {
  session_harness harness;
  for (const auto& [info, field] :
       {std::pair{json("x"), "clientInfo"}, std::pair{json{{"name", 5}}, "clientInfo.name"},
        std::pair{json{{"name", "ok"}, {"version", json::array()}}, "clientInfo.version"}}) {
    const json answer =
        harness.request("initialize", {{"protocolVersion", "2025-11-25"}, {"clientInfo", info}});
    EXPECT_EQ(error_code_of(answer), error_code::invalid_params) << answer;
    EXPECT_NE(answer["error"]["message"].get<std::string>().find(std::string("\"") + field + "\""),
              std::string::npos)
        << answer;
  }
  EXPECT_FALSE(harness.session->initialized());
  // A name with line breaks, escapes and a megabyte of text is accepted (and logged shortened).
  const json fine = harness.request(
      "initialize",
      {{"protocolVersion", "2025-11-25"},
       {"clientInfo",
        {{"name", "evil\n2026-01-01 critical forged\x1b[31m" + std::string(1 << 20, 'x')},
         {"version", "1"}}}});
  EXPECT_EQ(fine["result"]["protocolVersion"], "2025-11-25") << fine.dump().substr(0, 200);
}

TEST(PrintableExcerpt, CutsAtUtf8BoundariesAndReplacesControlCharacters) {
  EXPECT_EQ(printable_excerpt("a\nb\x1b[0m\x7f", 100), "a?b?[0m?");
  EXPECT_EQ(printable_excerpt("h\xc3\xa9llo", 2), "h");  // never half of é
  EXPECT_EQ(printable_excerpt("h\xc3\xa9llo", 3), "h\xc3\xa9");
  EXPECT_EQ(printable_excerpt("short", 128), "short");
}

// An error "response" without an id is logged, shortened: 300 of them with 1 MiB messages
// used to write 300 MiB of log.
TEST(Responses, AnErrorWithoutAnIdIsLoggedShortened) {
  std::ostringstream captured;
  auto previous = spdlog::default_logger();
  auto capture = std::make_shared<spdlog::logger>(
      "capture", std::make_shared<spdlog::sinks::ostream_sink_mt>(captured));
  spdlog::set_default_logger(capture);
  {
    session_harness harness;
    harness.initialize("2025-11-25");
    harness.send(
        {{"jsonrpc", "2.0"},
         {"id", nullptr},
         {"error", {{"code", 1}, {"message", "line\nforged " + std::string(1 << 20, 'x')}}}});
  }
  spdlog::set_default_logger(previous);
  const std::string log = captured.str();
  EXPECT_NE(log.find("without an id"), std::string::npos) << log.substr(0, 300);
  EXPECT_LT(log.size(), 2000u);
  EXPECT_EQ(log.find("line\nforged"), std::string::npos);
}

TEST(Lifecycle, SecondInitializeIsInvalidRequest) {
  session_harness harness;
  harness.initialize("2025-06-18");
  const json again = harness.request("initialize", {{"protocolVersion", "2025-11-25"},
                                                    {"capabilities", json::object()},
                                                    {"clientInfo", {{"name", "x"}, {"version", "1"}}}});
  EXPECT_EQ(error_code_of(again), error_code::invalid_request);
  EXPECT_EQ(harness.session->protocol_version(), "2025-06-18");
}

TEST(Lifecycle, InitializeDeclaresCapabilitiesAndServerInfo) {
  auto options = mcp_testing::test_server_options();
  options.title = "Book Server";
  options.instructions = "Search the book first.";
  session_harness harness(options);
  const json response = harness.initialize();
  ASSERT_TRUE(response.contains("result")) << response;
  const json& result = response["result"];
  const json& capabilities = result["capabilities"];
  EXPECT_EQ(capabilities["tools"]["listChanged"], true);
  EXPECT_EQ(capabilities["resources"]["subscribe"], true);
  EXPECT_EQ(capabilities["resources"]["listChanged"], true);
  EXPECT_EQ(capabilities["prompts"]["listChanged"], true);
  EXPECT_TRUE(capabilities["logging"].is_object());
  EXPECT_TRUE(capabilities["completions"].is_object());
  EXPECT_EQ(result["serverInfo"]["name"], "bookmcp-test");
  EXPECT_EQ(result["serverInfo"]["version"], "9.9.9");
  EXPECT_EQ(result["serverInfo"]["title"], "Book Server");
  EXPECT_EQ(result["instructions"], "Search the book first.");
}

// ---------------------------------------------------------------------------------------
// batches

TEST(Batches, RefusedBeforeInitialize) {
  session_harness harness;
  harness.send_text(R"([{"jsonrpc":"2.0","id":1,"method":"ping"}])");
  ASSERT_EQ(harness.sink->size(), 1u);
  const json answer = harness.sink->messages()[0];
  EXPECT_TRUE(answer["id"].is_null());
  EXPECT_EQ(error_code_of(answer), error_code::invalid_request);
}

TEST(Batches, RefusedForVersionsAfter20250326) {
  for (const char* version : {"2025-11-25", "2025-06-18"}) {
    SCOPED_TRACE(version);
    session_harness harness;
    harness.initialize(version);
    const std::size_t before = harness.sink->size();
    harness.send_text(R"([{"jsonrpc":"2.0","id":1,"method":"ping"},{"jsonrpc":"2.0","id":2,"method":"ping"}])");
    ASSERT_EQ(harness.sink->size(), before + 1);
    const json answer = harness.sink->messages()[before];
    ASSERT_TRUE(answer.is_object()) << answer;
    EXPECT_TRUE(answer["id"].is_null());
    EXPECT_EQ(error_code_of(answer), error_code::invalid_request);
    // None of the members ran.
    EXPECT_TRUE(harness.sink->responses_to(1).empty());
  }
}

TEST(Batches, EmptyBatchIsInvalidRequest) {
  session_harness harness;
  harness.initialize("2025-03-26");
  const std::size_t before = harness.sink->size();
  harness.send_text("[]");
  ASSERT_EQ(harness.sink->size(), before + 1);
  const json answer = harness.sink->messages()[before];
  ASSERT_TRUE(answer.is_object()) << answer;
  EXPECT_TRUE(answer["id"].is_null());
  EXPECT_EQ(error_code_of(answer), error_code::invalid_request);
}

TEST(Batches, AcceptedFor20250326WithOneArrayOfAnswers) {
  session_harness harness;
  signal release;
  signal started;
  harness.server.add_tool(gate_tool(started, release));
  harness.initialize("2025-03-26");
  const std::size_t before = harness.sink->size();

  harness.send_text(R"([
    {"jsonrpc":"2.0","id":"t","method":"tools/call","params":{"name":"gate","arguments":{}}},
    {"jsonrpc":"2.0","method":"notifications/roots/list_changed"},
    {"jsonrpc":"2.0","id":"bad","method":5},
    17,
    {"jsonrpc":"2.0","id":"p","method":"ping"}
  ])");
  ASSERT_TRUE(started.wait());
  // The answers are held until the slow member finished: nothing is sent yet.
  EXPECT_EQ(harness.sink->size(), before);
  release.set();

  auto batch = harness.sink->wait_for([](const json& message) { return message.is_array(); });
  ASSERT_TRUE(batch) << "no batch answer";
  EXPECT_EQ(harness.sink->size(), before + 1) << "members must not be answered one by one";
  ASSERT_EQ(batch->size(), 4u) << batch->dump();  // the notification gets no answer
  std::map<std::string, json> by_id;
  int null_ids = 0;
  for (const auto& member : *batch) {
    if (member["id"].is_null()) {
      ++null_ids;
      EXPECT_EQ(error_code_of(member), error_code::invalid_request);
    } else {
      by_id[member["id"].get<std::string>()] = member;
    }
  }
  EXPECT_EQ(null_ids, 1);
  ASSERT_TRUE(by_id.contains("t") && by_id.contains("p") && by_id.contains("bad")) << batch->dump();
  EXPECT_EQ(by_id["t"]["result"]["content"][0]["text"], "opened");
  EXPECT_EQ(by_id["p"]["result"], json::object());
  EXPECT_EQ(error_code_of(by_id["bad"]), error_code::invalid_request);
}

// When every member is answered while the batch is still being dispatched, the array must be
// sent once (both the last answer and the end of dispatch try to flush it).
TEST(Batches, FastMembersAreAnsweredInExactlyOneArray) {
  session_harness harness;
  harness.initialize("2025-03-26");
  const std::size_t before = harness.sink->size();
  harness.send_text(R"([{"jsonrpc":"2.0","id":1,"method":"ping"},{"jsonrpc":"2.0","id":2,"method":"ping"}])");
  auto arrays = harness.sink->find([](const json& message) { return message.is_array(); }, before);
  ASSERT_FALSE(arrays.empty());
  EXPECT_EQ(arrays.size(), 1u) << "the batch was answered " << arrays.size() << " times";
  EXPECT_EQ(arrays[0].size(), 2u) << arrays[0].dump();
  EXPECT_EQ(harness.sink->size(), before + 1);
}

TEST(Batches, BatchOfNotificationsOnlyGetsNoAnswer) {
  session_harness harness;
  harness.initialize("2025-03-26");
  const std::size_t before = harness.sink->size();
  harness.send_text(R"([{"jsonrpc":"2.0","method":"notifications/initialized"},
                   {"jsonrpc":"2.0","method":"notifications/roots/list_changed"}])");
  EXPECT_EQ(harness.sink->size(), before);
}

// BUG: when one request of a batch is cancelled (notifications/cancelled), the cancelled member
// never answers, so the batch's remaining counter never reaches zero and the answers of all the
// other members (here a ping) are never sent.
TEST(Batches, CancellingOneMemberStillDeliversTheOthers) {
  session_harness harness;
  signal started;
  tool_definition slow = echo_tool("slow");
  slow.handler = [&](tool_context& context, const json&) {
    started.set();
    context.sleep_for(wait_limit);
    return tool_result::text("late");
  };
  harness.server.add_tool(slow);
  harness.initialize("2025-03-26");
  harness.send_text(R"([
    {"jsonrpc":"2.0","id":"slow","method":"tools/call","params":{"name":"slow","arguments":{}}},
    {"jsonrpc":"2.0","id":"p","method":"ping"}
  ])");
  ASSERT_TRUE(started.wait());
  harness.cancel("slow");
  ASSERT_TRUE(harness.session->wait_idle(wait_limit));
  auto batch = harness.sink->wait_for([](const json& message) { return message.is_array(); },
                                      std::chrono::seconds(2));
  ASSERT_TRUE(batch) << "the ping's answer was never sent";
  ASSERT_EQ(batch->size(), 1u) << batch->dump();
  EXPECT_EQ((*batch)[0]["id"], "p");
}

// A batch member reusing the id of a call still running, or of another member, is refused
// inside the array; the running call keeps its own answer (they used to be crossed).
TEST(Batches, AMemberReusingAnIdInUseIsRefusedInTheArray) {
  session_harness harness;
  signal release;
  signal started;
  harness.server.add_tool(gate_tool(started, release));
  harness.initialize("2025-03-26");
  harness.send_text(
      R"({"jsonrpc":"2.0","id":7,"method":"tools/call","params":{"name":"gate","arguments":{}}})");
  ASSERT_TRUE(started.wait());
  const std::size_t before = harness.sink->size();
  harness.send_text(R"([{"jsonrpc":"2.0","id":7,"method":"ping"},
                        {"jsonrpc":"2.0","id":8,"method":"ping"},
                        {"jsonrpc":"2.0","id":8,"method":"ping"}])");
  auto batch = harness.sink->wait_for([](const json& message) { return message.is_array(); });
  ASSERT_TRUE(batch) << "no batch answer";
  ASSERT_EQ(batch->size(), 3u) << batch->dump();
  int refused = 0;
  for (const auto& member : *batch) {
    if (member.contains("error")) {
      ++refused;
      EXPECT_NE(member["error"]["message"].get<std::string>().find("already in use"),
                std::string::npos);
    } else {
      EXPECT_EQ(member["id"], 8);
      EXPECT_EQ(member["result"], json::object());
    }
  }
  EXPECT_EQ(refused, 2) << batch->dump();  // id 7 (running) and the second id 8
  release.set();
  auto answer = harness.sink->wait_for(
      [](const json& message) { return is_response_to(message, 7) && message.contains("result"); });
  ASSERT_TRUE(answer) << "the running call lost its answer";
  EXPECT_EQ((*answer)["result"]["content"][0]["text"], "opened");
  EXPECT_EQ(harness.sink->find([](const json& m) { return m.is_array(); }, before).size(), 1u);
}

// The other way round: a request reusing the id of a running batch member is refused on its
// own, and the batch still gets that member's answer.
TEST(Batches, ARequestReusingTheIdOfARunningMemberIsRefusedOutsideTheArray) {
  session_harness harness;
  signal release;
  signal started;
  harness.server.add_tool(gate_tool(started, release));
  harness.initialize("2025-03-26");
  harness.send_text(R"([{"jsonrpc":"2.0","id":"g","method":"tools/call",
                         "params":{"name":"gate","arguments":{}}}])");
  ASSERT_TRUE(started.wait());
  harness.send_text(R"({"jsonrpc":"2.0","id":"g","method":"tools/call",
                        "params":{"name":"gate","arguments":{}}})");
  auto refusal = harness.sink->wait_for([](const json& message) {
    return is_response_to(message, "g") && message.contains("error");
  });
  ASSERT_TRUE(refusal);
  EXPECT_NE((*refusal)["error"]["message"].get<std::string>().find("already in use"),
            std::string::npos);
  release.set();
  auto batch = harness.sink->wait_for([](const json& message) { return message.is_array(); });
  ASSERT_TRUE(batch) << "the batch lost its member's answer";
  ASSERT_EQ(batch->size(), 1u) << batch->dump();
  EXPECT_EQ((*batch)[0]["result"]["content"][0]["text"], "opened");
}

// ---------------------------------------------------------------------------------------
// tools/list

TEST(ToolsList, SortedByNameAcrossPages) {
  auto options = mcp_testing::test_server_options();
  options.page_size = 2;
  session_harness harness(options);
  for (const char* name : {"delta", "alpha", "echo", "charlie", "bravo"}) harness.server.add_tool(echo_tool(name));
  harness.initialize();

  std::vector<std::string> names;
  json params = json::object();
  int pages = 0;
  for (;;) {
    const json response = harness.request("tools/list", params);
    ASSERT_TRUE(response.contains("result")) << response;
    const json& result = response["result"];
    ++pages;
    EXPECT_LE(result["tools"].size(), 2u);
    for (const auto& tool : result["tools"]) names.push_back(tool["name"]);
    if (!result.contains("nextCursor")) break;
    ASSERT_TRUE(result["nextCursor"].is_string());
    params["cursor"] = result["nextCursor"];
    ASSERT_LT(pages, 10) << "pagination does not end";
  }
  EXPECT_EQ(pages, 3);
  EXPECT_EQ(names, (std::vector<std::string>{"alpha", "bravo", "charlie", "delta", "echo"}));

  // Asking again gives the same first page (deterministic).
  const json first_again = harness.request("tools/list")["result"];
  EXPECT_EQ(first_again["tools"][0]["name"], "alpha");
  EXPECT_EQ(first_again["tools"][1]["name"], "bravo");
}

TEST(ToolsList, ExactPageHasNoNextCursor) {
  auto options = mcp_testing::test_server_options();
  options.page_size = 2;
  session_harness harness(options);
  harness.server.add_tool(echo_tool("a"));
  harness.server.add_tool(echo_tool("b"));
  harness.initialize();
  const json result = harness.request("tools/list")["result"];
  EXPECT_EQ(result["tools"].size(), 2u);
  EXPECT_FALSE(result.contains("nextCursor")) << result;
}

TEST(ToolsList, InvalidCursorIsInvalidParams) {
  session_harness harness;
  harness.server.add_tool(echo_tool("a"));
  harness.initialize();
  for (const json& cursor : {json("not base64!"), json(base64_encode("before:a")), json(17)}) {
    SCOPED_TRACE(cursor.dump());
    EXPECT_EQ(error_code_of(harness.request("tools/list", {{"cursor", cursor}})), error_code::invalid_params);
  }
}

TEST(ToolsList, EntryCarriesEverythingDeclared) {
  session_harness harness;
  tool_definition tool = echo_tool("search_book");
  tool.title = "Search the book";
  tool.description = "Full-text search";
  tool.input_schema = {{"type", "object"},
                       {"properties", {{"query", {{"type", "string"}}}}},
                       {"required", {"query"}}};
  tool.output_schema = json{{"type", "object"}, {"properties", {{"hits", {{"type", "integer"}}}}}};
  tool.annotations.read_only_hint = true;
  tool.annotations.open_world_hint = false;
  harness.server.add_tool(tool);
  harness.initialize();
  const json listed = harness.request("tools/list")["result"]["tools"][0];
  EXPECT_EQ(listed["name"], "search_book");
  EXPECT_EQ(listed["title"], "Search the book");
  EXPECT_EQ(listed["description"], "Full-text search");
  EXPECT_EQ(listed["inputSchema"], tool.input_schema);
  EXPECT_EQ(listed["outputSchema"], *tool.output_schema);
  EXPECT_EQ(listed["annotations"]["readOnlyHint"], true);
  EXPECT_EQ(listed["annotations"]["openWorldHint"], false);
  EXPECT_FALSE(listed["annotations"].contains("destructiveHint"));
}

TEST(ToolsList, ChangesAreAnnouncedToInitializedSessions) {
  session_harness harness;
  session_harness not_initialized_yet;  // a second server; never initialized, never told
  harness.initialize();
  const std::size_t before = harness.sink->size();
  harness.server.add_tool(echo_tool("late"));
  EXPECT_TRUE(harness.sink->wait_for_notification("notifications/tools/list_changed", wait_limit, before));
  const std::size_t after_add = harness.sink->size();
  EXPECT_TRUE(harness.server.remove_tool("late"));
  EXPECT_TRUE(harness.sink->wait_for_notification("notifications/tools/list_changed", wait_limit, after_add));
  EXPECT_FALSE(harness.server.remove_tool("late"));
}

TEST(ToolsList, UninitializedSessionsAreNotToldAboutChanges) {
  session_harness harness;
  harness.server.add_tool(echo_tool("early"));
  EXPECT_EQ(harness.sink->size(), 0u);
}

// ---------------------------------------------------------------------------------------
// logging/setLevel

TEST(Logging, UnknownLevelIsInvalidParams) {
  session_harness harness;
  harness.initialize();
  EXPECT_EQ(error_code_of(harness.request("logging/setLevel", {{"level", "verbose"}})), error_code::invalid_params);
  EXPECT_EQ(error_code_of(harness.request("logging/setLevel", {{"level", "WARNING"}})), error_code::invalid_params);
  EXPECT_EQ(error_code_of(harness.request("logging/setLevel", json::object())), error_code::invalid_params);
  EXPECT_EQ(harness.request("logging/setLevel", {{"level", "debug"}})["result"], json::object());
}

// ---------------------------------------------------------------------------------------
// server shutdown

TEST(Shutdown, InFlightCallsGetAnErrorAndTheirStopTokensFire) {
  auto harness = std::make_unique<session_harness>();
  signal started;
  signal stop_seen;
  tool_definition slow = echo_tool("slow");
  slow.handler = [&](tool_context& context, const json&) {
    started.set();
    if (!context.sleep_for(wait_limit)) stop_seen.set();
    return tool_result::text("finished anyway");
  };
  harness->server.add_tool(slow);
  harness->initialize();
  harness->start_call(1, "slow");
  ASSERT_TRUE(started.wait());
  harness->server.shutdown(std::chrono::milliseconds(0));
  EXPECT_TRUE(stop_seen.wait());
  const auto responses = harness->sink->responses_to(1);
  ASSERT_EQ(responses.size(), 1u);
  EXPECT_EQ(error_code_of(responses[0]), error_code::internal_error);
  EXPECT_NE(responses[0]["error"]["message"].get<std::string>().find("shutting down"), std::string::npos);
}

TEST(Shutdown, GracePeriodLetsCallsFinishAndNewCallsAreRefused) {
  session_harness harness;
  signal started;
  signal release;
  tool_definition slow = echo_tool("slow");
  slow.handler = [&](tool_context&, const json&) {
    started.set();
    release.wait();
    return tool_result::text("done in time");
  };
  harness.server.add_tool(slow);
  harness.server.add_tool(echo_tool("probe"));
  harness.initialize();
  harness.start_call(1, "slow");
  ASSERT_TRUE(started.wait());
  auto stopping = std::async(std::launch::async, [&] { harness.server.shutdown(wait_limit); });

  // Once the server is stopping, a new call is refused; probe until that is visible.
  bool refused = false;
  for (int probe = 100; probe < 100000 && !refused; ++probe) {
    harness.start_call(probe, "probe");
    auto answer = harness.sink->wait_for_response(probe);
    ASSERT_TRUE(answer);
    refused = answer->contains("error");
    if (refused) {
      EXPECT_NE((*answer)["error"]["message"].get<std::string>().find("shutting down"), std::string::npos);
    }
  }
  ASSERT_TRUE(refused);
  release.set();
  ASSERT_EQ(stopping.wait_for(wait_limit), std::future_status::ready);
  auto response = harness.sink->wait_for_response(1);
  ASSERT_TRUE(response);
  EXPECT_EQ((*response)["result"]["content"][0]["text"], "done in time");
}

TEST(Shutdown, StatsCountSessionsAndCalls) {
  session_harness harness;
  signal started;
  signal release;
  tool_definition slow = echo_tool("slow");
  slow.handler = [&](tool_context&, const json&) {
    started.set();
    release.wait();
    return tool_result::text("ok");
  };
  harness.server.add_tool(slow);
  harness.initialize();
  EXPECT_EQ(harness.server.stats().sessions, 1u);
  harness.start_call(1, "slow");
  ASSERT_TRUE(started.wait());
  EXPECT_EQ(harness.server.stats().calls_in_flight, 1u);
  EXPECT_EQ(harness.session->calls_in_flight(), 1u);
  release.set();
  ASSERT_TRUE(harness.session->wait_idle(wait_limit));
  EXPECT_EQ(harness.server.stats().calls_in_flight, 0u);
  harness.session->close();
  EXPECT_EQ(harness.server.stats().sessions, 0u);
}

}  // namespace
}  // namespace bookmcp::mcp
