// The 2026-07-28 revision served beside the handshake era: per-request _meta, server/discover,
// version and metadata errors, resultType and cache hints, removed methods, per-request
// logging, subscriptions/listen, and multi-round requests with a sealed requestState (tampered,
// expired, foreign caller, other request, another replica).

#include <chrono>
#include <string>
#include <thread>

#include <gtest/gtest.h>

#include "mcp/request_state.hpp"
#include "mcp/server.hpp"
#include "mcp/stateless.hpp"
#include "mcp/tool.hpp"
#include "tests/testing/mcp_fixture.hpp"

namespace bookmcp::mcp {
namespace {

using mcp_testing::session_harness;

constexpr const char* kKey = "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f";

json meta(json capabilities = json::object()) {
  return {{std::string(meta_key::protocol_version), stateless_protocol_version},
          {std::string(meta_key::client_capabilities), std::move(capabilities)},
          {std::string(meta_key::client_info), {{"name", "stateless-test"}, {"version", "1"}}}};
}

json with_meta(json params, json capabilities = json::object()) {
  params["_meta"] = meta(std::move(capabilities));
  return params;
}

int error_code_of(const json& message) { return message.at("error").at("code").get<int>(); }

server_options options_with(std::string key = kKey, std::chrono::seconds ttl = std::chrono::seconds(600)) {
  auto options = mcp_testing::test_server_options();
  options.request_state_key = std::move(key);
  options.request_state_ttl = ttl;
  return options;
}

// A tool that asks for a name, then (second round) a colour; written once for both eras.
void add_asking_tools(server& target) {
  tool_definition ask;
  ask.name = "ask";
  ask.description = "asks the user";
  ask.input_schema = {{"type", "object"}, {"properties", {{"topic", {{"type", "string"}}}}}};
  ask.handler = [](tool_context& context, const json&) {
    const auto schema = [](const char* field) {
      return json{{"type", "object"}, {"properties", {{field, {{"type", "string"}}}}}, {"required", {field}}};
    };
    const auto name = context.request_client_all(
        {{"name", "elicitation/create", {{"message", "Name?"}, {"requestedSchema", schema("name")}}}});
    const auto colour = context.request_client_all(
        {{"colour", "elicitation/create", {{"message", "Colour?"}, {"requestedSchema", schema("colour")}}}});
    tool_result result;
    result.content = json::array({{{"type", "text"},
                                   {"text", name[0]["content"]["name"].get<std::string>() + " likes " +
                                                colour[0]["content"]["colour"].get<std::string>()}}});
    return result;
  };
  target.add_tool(ask);

  tool_definition chatty;
  chatty.name = "chatty";
  chatty.description = "logs";
  chatty.input_schema = {{"type", "object"}};
  chatty.handler = [](tool_context& context, const json&) {
    context.log(log_level::info, "info line");
    context.log(log_level::debug, "debug line");
    tool_result result;
    result.content = json::array({{{"type", "text"}, {"text", "done"}}});
    return result;
  };
  target.add_tool(chatty);
}

json accept(const char* field, const char* value) {
  return {{"action", "accept"}, {"content", {{field, value}}}};
}

class Stateless : public ::testing::Test {
 protected:
  Stateless() : harness(options_with()) { add_asking_tools(harness.server); }
  session_harness harness;
};

TEST_F(Stateless, DiscoverNamesVersionsCapabilitiesAndServer) {
  const json result = harness.request("server/discover", with_meta(json::object())).at("result");
  EXPECT_EQ(result["resultType"], "complete");
  EXPECT_EQ(result["supportedVersions"], json::array({"2026-07-28"}));
  EXPECT_TRUE(result["capabilities"]["tools"]["listChanged"].get<bool>());
  EXPECT_TRUE(result["ttlMs"].is_number_integer());
  EXPECT_EQ(result["cacheScope"], "public");
  EXPECT_EQ(result["_meta"][std::string(meta_key::server_info)]["name"], "bookmcp-test");
  EXPECT_FALSE(harness.session->initialized());  // no handshake happened
}

TEST_F(Stateless, MetadataErrorsAreInvalidParamsAndEchoTheId) {
  const json missing = harness.request("server/discover", json::object());
  EXPECT_EQ(error_code_of(missing), error_code::invalid_params);
  EXPECT_TRUE(missing["id"].is_number_integer());
  json no_version = meta();
  no_version.erase(std::string(meta_key::protocol_version));
  EXPECT_EQ(error_code_of(harness.request("server/discover", {{"_meta", no_version}})), error_code::invalid_params);
  json no_capabilities = meta();
  no_capabilities.erase(std::string(meta_key::client_capabilities));
  EXPECT_EQ(error_code_of(harness.request("server/discover", {{"_meta", no_capabilities}})),
            error_code::invalid_params);
  json no_info = meta();
  no_info.erase(std::string(meta_key::client_info));
  EXPECT_TRUE(harness.request("server/discover", {{"_meta", no_info}}).contains("result"));
  EXPECT_EQ(error_code_of(harness.request("server/discover", {{"_meta", "text"}})), error_code::invalid_params);
}

TEST_F(Stateless, AnUnsupportedVersionListsTheSupportedOnes) {
  json old = meta();
  old[std::string(meta_key::protocol_version)] = "v999.0.0";
  const json answer = harness.request("tools/list", {{"_meta", old}});
  EXPECT_EQ(error_code_of(answer), error_code::unsupported_protocol_version);
  EXPECT_EQ(answer["error"]["data"]["requested"], "v999.0.0");
  EXPECT_EQ(answer["error"]["data"]["supported"], json::array({"2026-07-28"}));
  // A handshake-era version is served after initialize, not per request.
  old[std::string(meta_key::protocol_version)] = "2025-11-25";
  EXPECT_EQ(error_code_of(harness.request("tools/list", {{"_meta", old}})), error_code::unsupported_protocol_version);
}

TEST_F(Stateless, RemovedMethodsAreNotFound) {
  for (const char* method : {"initialize", "ping", "logging/setLevel", "resources/subscribe", "resources/unsubscribe",
                             "no/such/method"}) {
    EXPECT_EQ(error_code_of(harness.request(method, with_meta(json::object()))), error_code::method_not_found)
        << method;
  }
}

TEST_F(Stateless, ListsCarryResultTypeAndCacheHintsInAStableOrder) {
  const json first = harness.request("tools/list", with_meta(json::object())).at("result");
  EXPECT_EQ(first["resultType"], "complete");
  EXPECT_GE(first["ttlMs"].get<int>(), 0);
  EXPECT_EQ(first["cacheScope"], "public");
  EXPECT_EQ(first["tools"][0]["name"], "ask");
  EXPECT_EQ(harness.request("tools/list", with_meta(json::object())).at("result")["tools"], first["tools"]);
  for (const char* method : {"prompts/list", "resources/list", "resources/templates/list"}) {
    const json result = harness.request(method, with_meta(json::object())).at("result");
    EXPECT_EQ(result["resultType"], "complete") << method;
    EXPECT_TRUE(result.contains("ttlMs") && result.contains("cacheScope")) << method;
  }
}

TEST_F(Stateless, AnUnknownResourceIsInvalidParamsNamingIt) {
  const json answer = harness.request("resources/read", with_meta({{"uri", "test://none"}}));
  EXPECT_EQ(error_code_of(answer), error_code::invalid_params);
  EXPECT_EQ(answer["error"]["data"]["uri"], "test://none");
}

TEST_F(Stateless, BothErasOnOneConnection) {
  harness.initialize();
  const json handshake = harness.request("tools/call", {{"name", "chatty"}, {"arguments", json::object()}});
  EXPECT_FALSE(handshake.at("result").contains("resultType"));
  const json modern = harness.request("tools/call", with_meta({{"name", "chatty"}, {"arguments", json::object()}}));
  EXPECT_EQ(modern.at("result")["resultType"], "complete");
}

TEST_F(Stateless, LogsOnlyAtTheLevelTheRequestAsks) {
  harness.request("tools/call", with_meta({{"name", "chatty"}, {"arguments", json::object()}}));
  EXPECT_TRUE(harness.sink->find([](const json& m) { return m.value("method", "") == "notifications/message"; }).empty());
  json params = with_meta({{"name", "chatty"}, {"arguments", json::object()}});
  params["_meta"][std::string(meta_key::log_level)] = "info";
  harness.request("tools/call", params);
  const auto logs = harness.sink->find([](const json& m) { return m.value("method", "") == "notifications/message"; });
  ASSERT_EQ(logs.size(), 1u);  // info, not debug
  EXPECT_EQ(logs[0]["params"]["data"], "info line");
  params["_meta"][std::string(meta_key::log_level)] = "loud";
  EXPECT_EQ(error_code_of(harness.request("tools/call", params)), error_code::invalid_params);
}

TEST_F(Stateless, AMissingCapabilityIsRefusedNamingIt) {
  const json answer = harness.request("tools/call", with_meta({{"name", "ask"}, {"arguments", json::object()}}));
  EXPECT_EQ(error_code_of(answer), error_code::missing_client_capability);
  EXPECT_EQ(answer["error"]["data"]["requiredCapabilities"], json({{"elicitation", json::object()}}));
}

// Runs the two rounds of `ask` and returns the first round's requestState.
std::string first_round(session_harness& harness, const json& arguments = json::object()) {
  const json elicit = {{"elicitation", json::object()}};
  const json round1 = harness.request("tools/call", with_meta({{"name", "ask"}, {"arguments", arguments}}, elicit));
  const json& result = round1.at("result");
  EXPECT_EQ(result["resultType"], "input_required");
  EXPECT_EQ(result["inputRequests"]["name"]["method"], "elicitation/create");
  return result.value("requestState", std::string());
}

TEST_F(Stateless, AMultiRoundCallCarriesItsAnswersInTheSealedState) {
  const json elicit = {{"elicitation", json::object()}};
  const std::string state1 = first_round(harness);
  ASSERT_FALSE(state1.empty());
  EXPECT_EQ(state1.find("Alice"), std::string::npos);
  const json round2 = harness.request(
      "tools/call", with_meta({{"name", "ask"}, {"arguments", json::object()}, {"requestState", state1},
                               {"inputResponses", {{"name", accept("name", "Alice")}}}},
                              elicit));
  ASSERT_TRUE(round2.contains("result")) << round2.dump();
  const json& second = round2.at("result");
  ASSERT_EQ(second["resultType"], "input_required");
  EXPECT_TRUE(second["inputRequests"].contains("colour"));
  const std::string state2 = second["requestState"].get<std::string>();
  EXPECT_NE(state2, state1);
  // Round three names only the colour: the name comes from the state.
  const json round3 = harness.request(
      "tools/call", with_meta({{"name", "ask"}, {"arguments", json::object()}, {"requestState", state2},
                               {"inputResponses", {{"colour", accept("colour", "blue")}}}},
                              elicit));
  EXPECT_EQ(round3.at("result")["resultType"], "complete");
  EXPECT_EQ(round3.at("result")["content"][0]["text"], "Alice likes blue");
}

TEST_F(Stateless, AMissingAnswerIsAskedForAgainAndBadAnswersAreRefused) {
  const json elicit = {{"elicitation", json::object()}};
  const json again = harness.request(
      "tools/call", with_meta({{"name", "ask"}, {"arguments", json::object()},
                               {"inputResponses", {{"wrong_key", accept("name", "x")}}}},
                              elicit));
  EXPECT_EQ(again.at("result")["resultType"], "input_required");
  for (const json& bad : {json(nullptr), json(12), json({{"name", 12345}})}) {
    const json answer = harness.request(
        "tools/call", with_meta({{"name", "ask"}, {"arguments", json::object()}, {"inputResponses", bad}}, elicit));
    EXPECT_EQ(error_code_of(answer), error_code::invalid_params) << bad.dump();
  }
}

TEST_F(Stateless, ATamperedStateIsRefused) {
  const std::string state = first_round(harness);
  for (const std::string& forged : {state + "-TAMPERED", state.substr(0, state.size() - 2), std::string("abc"),
                                     std::string(state).replace(20, 1, state[20] == 'A' ? "B" : "A")}) {
    const json answer = harness.request(
        "tools/call", with_meta({{"name", "ask"}, {"arguments", json::object()}, {"requestState", forged},
                                 {"inputResponses", {{"name", accept("name", "Mallory")}}}},
                                {{"elicitation", json::object()}}));
    EXPECT_EQ(error_code_of(answer), error_code::invalid_params) << forged;
  }
}

TEST_F(Stateless, AStateIsBoundToItsRequest) {
  const std::string state = first_round(harness, {{"topic", "a"}});
  const json answer = harness.request(
      "tools/call", with_meta({{"name", "ask"}, {"arguments", {{"topic", "b"}}}, {"requestState", state},
                               {"inputResponses", {{"colour", accept("colour", "red")}}}},
                              {{"elicitation", json::object()}}));
  EXPECT_EQ(error_code_of(answer), error_code::invalid_params);
  EXPECT_NE(answer["error"]["message"].get<std::string>().find("another request"), std::string::npos);
}

TEST(StatelessReplicas, AnotherReplicaWithTheKeyTakesTheNextRoundButNotAnotherCaller) {
  session_harness alice_a(options_with(), {.identity = "alice", .transport = "memory", .session_id = {}});
  session_harness alice_b(options_with(), {.identity = "alice", .transport = "memory", .session_id = {}});
  session_harness bob_b(options_with(), {.identity = "bob", .transport = "memory", .session_id = {}});
  session_harness other_key(options_with("ff0102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f"),
                            {.identity = "alice", .transport = "memory", .session_id = {}});
  for (auto* harness : {&alice_a, &alice_b, &bob_b, &other_key}) add_asking_tools(harness->server);
  const std::string state = first_round(alice_a);
  const json params = with_meta({{"name", "ask"}, {"arguments", json::object()}, {"requestState", state},
                                 {"inputResponses", {{"name", accept("name", "Alice")}}}},
                                {{"elicitation", json::object()}});
  EXPECT_EQ(alice_b.request("tools/call", params).at("result")["resultType"], "input_required");  // round 2
  const json foreign = bob_b.request("tools/call", params);
  EXPECT_EQ(error_code_of(foreign), error_code::invalid_params);
  EXPECT_NE(foreign["error"]["message"].get<std::string>().find("another caller"), std::string::npos);
  EXPECT_EQ(error_code_of(other_key.request("tools/call", params)), error_code::invalid_params);
}

TEST(StatelessExpiry, AnExpiredStateIsRefused) {
  session_harness harness(options_with(kKey, std::chrono::seconds(-1)));
  add_asking_tools(harness.server);
  const std::string state = first_round(harness);
  const json answer = harness.request(
      "tools/call", with_meta({{"name", "ask"}, {"arguments", json::object()}, {"requestState", state},
                               {"inputResponses", {{"name", accept("name", "Alice")}}}},
                              {{"elicitation", json::object()}}));
  EXPECT_EQ(error_code_of(answer), error_code::invalid_params);
  EXPECT_NE(answer["error"]["message"].get<std::string>().find("expired"), std::string::npos);
}

TEST_F(Stateless, ListenAcknowledgesThenSendsOnlyWhatWasAskedForTagged) {
  const json listen_id = "listen-1";
  harness.send(mcp_testing::request_message(listen_id, "subscriptions/listen",
                                            with_meta({{"notifications", {{"toolsListChanged", true}}}})));
  const auto ack = harness.sink->wait_for_notification("notifications/subscriptions/acknowledged");
  ASSERT_TRUE(ack);
  const json subscription = (*ack)["params"]["_meta"][std::string(meta_key::subscription_id)];
  ASSERT_TRUE(subscription.is_string());
  EXPECT_EQ((*ack)["params"]["notifications"], json({{"toolsListChanged", true}}));
  harness.server.add_prompt({.name = "p", .title = {}, .description = {}, .arguments = {},
                             .get = [](const auto&) { return json{{"messages", json::array()}}; },
                             .get_with_context = {}, .complete = {}});
  tool_definition extra;
  extra.name = "extra";
  extra.input_schema = {{"type", "object"}};
  extra.handler = [](tool_context&, const json&) { return tool_result{}; };
  harness.server.add_tool(extra);
  const auto changed = harness.sink->wait_for_notification("notifications/tools/list_changed");
  ASSERT_TRUE(changed);
  EXPECT_EQ((*changed)["params"]["_meta"][std::string(meta_key::subscription_id)], subscription);
  EXPECT_TRUE(harness.sink->find([](const json& m) { return m.value("method", "") == "notifications/prompts/list_changed"; })
                  .empty());
  EXPECT_TRUE(harness.sink->responses_to(listen_id).empty());  // a listen stream is never answered
  // Cancelled: no more notifications.
  harness.send(mcp_testing::notification_message("notifications/cancelled", {{"requestId", listen_id}}));
  harness.server.remove_tool("extra");
  EXPECT_EQ(harness.sink->find([](const json& m) { return m.value("method", "") == "notifications/tools/list_changed"; })
                .size(),
            1u);
}

// ---------------------------------------------------------------------------------------
// Tasks (io.modelcontextprotocol/tasks)

json tasks_capabilities(json extra = json::object()) {
  extra["extensions"] = {{"io.modelcontextprotocol/tasks", json::object()}};
  return extra;
}

class StatelessTasks : public ::testing::Test {
 protected:
  StatelessTasks() : harness(options_with()) {
    tool_definition slow;
    slow.name = "slow";
    slow.input_schema = {{"type", "object"}};
    slow.task_support = tool_definition::task_mode::optional;
    slow.handler = [this](tool_context& context, const json&) {
      started.set();
      // Until cancelled, or released by the test.
      while (!release.is_set()) {
        if (!context.sleep_for(std::chrono::milliseconds(5))) throw cancelled_error();
      }
      tool_result result;
      result.content = json::array({{{"type", "text"}, {"text", "slow done"}}});
      return result;
    };
    harness.server.add_tool(slow);

    tool_definition asking;
    asking.name = "asking";
    asking.input_schema = {{"type", "object"}};
    asking.task_support = tool_definition::task_mode::required;
    asking.handler = [](tool_context& context, const json&) {
      const auto answers = context.request_client_all(
          {{"a", "elicitation/create", {{"message", "A?"}, {"requestedSchema", {{"type", "object"}}}}},
           {"b", "elicitation/create", {{"message", "B?"}, {"requestedSchema", {{"type", "object"}}}}}});
      tool_result result;
      result.content = json::array(
          {{{"type", "text"}, {"text", answers[0]["content"]["v"].get<std::string>() + answers[1]["content"]["v"].get<std::string>()}}});
      return result;
    };
    harness.server.add_tool(asking);
  }

  json task_call(const char* tool, json capabilities = tasks_capabilities({{"elicitation", json::object()}})) {
    return harness.request("tools/call", with_meta({{"name", tool}, {"arguments", json::object()}}, std::move(capabilities)));
  }
  json get(const std::string& task) {
    return harness.request("tasks/get", with_meta({{"taskId", task}}, tasks_capabilities())).at("result");
  }
  // Polls tasks/get until the task's status is `status` (a hang guard bounds it, not a clock test).
  json wait_status(const std::string& task, const std::string& status) {
    for (int i = 0; i < 2000; ++i) {
      json now = get(task);
      if (now["status"] == status) return now;
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
    ADD_FAILURE() << "task " << task << " never reached " << status;
    return json::object();
  }

  mcp_testing::signal started;
  mcp_testing::signal release;
  session_harness harness;
};

TEST_F(StatelessTasks, ACallBecomesATaskThatCompletes) {
  const json created = task_call("slow").at("result");
  EXPECT_EQ(created["resultType"], "task");
  ASSERT_TRUE(created["taskId"].is_string());
  EXPECT_FALSE(created.contains("result"));
  const std::string task = created["taskId"];
  ASSERT_TRUE(started.wait());
  EXPECT_EQ(get(task)["status"], "working");
  release.set();
  const json done = wait_status(task, "completed");
  EXPECT_EQ(done["result"]["content"][0]["text"], "slow done");
  EXPECT_EQ(done["resultType"], "complete");
}

TEST_F(StatelessTasks, WithoutTheExtensionAnOptionalToolAnswersAndARequiredOneIsRefused) {
  release.set();
  const json plain = task_call("slow", json::object()).at("result");
  EXPECT_EQ(plain["resultType"], "complete");
  EXPECT_EQ(plain["content"][0]["text"], "slow done");
  const json refused = task_call("asking", {{"elicitation", json::object()}});
  EXPECT_EQ(error_code_of(refused), error_code::missing_client_capability);
  EXPECT_TRUE(refused["error"]["data"]["requiredCapabilities"]["extensions"].contains("io.modelcontextprotocol/tasks"));
  EXPECT_EQ(error_code_of(harness.request("tasks/get", with_meta({{"taskId", "x"}}))), error_code::missing_client_capability);
}

TEST_F(StatelessTasks, ATaskWaitsForItsInputsThenCompletes) {
  const std::string task = task_call("asking").at("result")["taskId"];
  json waiting = wait_status(task, "input_required");
  EXPECT_TRUE(waiting["inputRequests"].contains("a") && waiting["inputRequests"].contains("b"));
  const auto update = [&](json responses) {
    return harness.request("tasks/update", with_meta({{"taskId", task}, {"inputResponses", std::move(responses)}},
                                                     tasks_capabilities()));
  };
  EXPECT_EQ(update({{"a", {{"action", "accept"}, {"content", {{"v", "1"}}}}}, {"zzz", json::object()}}).at("result"),
            json({{"resultType", "complete"}}));
  waiting = get(task);
  EXPECT_EQ(waiting["status"], "input_required");  // b still missing
  EXPECT_FALSE(waiting["inputRequests"].contains("a"));
  update({{"b", {{"action", "accept"}, {"content", {{"v", "2"}}}}}});
  EXPECT_EQ(wait_status(task, "completed")["result"]["content"][0]["text"], "12");
}

TEST_F(StatelessTasks, CancelStopsTheHandlerAndIsIdempotent) {
  const std::string task = task_call("slow").at("result")["taskId"];
  ASSERT_TRUE(started.wait());
  const json ack = harness.request("tasks/cancel", with_meta({{"taskId", task}}, tasks_capabilities()));
  EXPECT_EQ(ack.at("result"), json({{"resultType", "complete"}}));
  EXPECT_EQ(get(task)["status"], "cancelled");
  EXPECT_TRUE(harness.session->wait_idle(std::chrono::seconds(10)));
  EXPECT_EQ(harness.request("tasks/cancel", with_meta({{"taskId", task}}, tasks_capabilities())).at("result"),
            json({{"resultType", "complete"}}));
  EXPECT_EQ(get(task)["status"], "cancelled");
}

TEST_F(StatelessTasks, ATaskIsItsCallersOnly) {
  const std::string task = task_call("slow").at("result")["taskId"];
  auto sink = std::make_shared<mcp_testing::recording_sink>();
  auto mallory = harness.server.open_session(sink, {.identity = "mallory", .transport = "memory", .session_id = {}});
  mallory->handle_message(mcp_testing::request_message(5, "tasks/get", with_meta({{"taskId", task}}, tasks_capabilities())).dump());
  const auto answer = sink->wait_for_response(5);
  ASSERT_TRUE(answer);
  EXPECT_EQ(error_code_of(*answer), error_code::invalid_params);
  EXPECT_EQ(error_code_of(harness.request("tasks/get", with_meta({{"taskId", "task-nope"}}, tasks_capabilities()))),
            error_code::invalid_params);
  mallory->close();
  release.set();
}

TEST_F(StatelessTasks, ListenStreamsThatAskGetStatusNotifications) {
  harness.send(mcp_testing::request_message("l", "subscriptions/listen",
                                            with_meta({{"notifications", {{"tasks", true}}}})));
  ASSERT_TRUE(harness.sink->wait_for_notification("notifications/subscriptions/acknowledged"));
  const std::string task = task_call("slow").at("result")["taskId"];
  release.set();
  wait_status(task, "completed");
  const auto note = harness.sink->wait_for([&](const json& m) {
    return m.value("method", "") == "notifications/tasks" && m["params"]["status"] == "completed";
  });
  ASSERT_TRUE(note);
  EXPECT_EQ((*note)["params"]["taskId"], task);
  EXPECT_TRUE((*note)["params"]["_meta"].contains(std::string(meta_key::subscription_id)));
}

TEST(RequestStateCodec, SealsOpensAndRefusesChanges) {
  const auto codec = request_state_codec(request_state_codec::parse_key(kKey));
  const json payload = {{"a", {{"k", "secret answer"}}}, {"v", 1}};
  const std::string sealed = codec.seal(payload);
  EXPECT_EQ(sealed.find("secret"), std::string::npos);
  EXPECT_EQ(codec.open(sealed), payload);
  EXPECT_NE(codec.seal(payload), sealed);  // a fresh nonce each time
  std::string flipped = sealed;
  flipped[flipped.size() / 2] = flipped[flipped.size() / 2] == 'A' ? 'B' : 'A';
  EXPECT_FALSE(codec.open(flipped));
  EXPECT_FALSE(codec.open(""));
  EXPECT_FALSE(codec.open("!!!"));
  EXPECT_FALSE(request_state_codec::with_random_key().open(sealed));
  EXPECT_THROW(request_state_codec::parse_key("short"), std::invalid_argument);
  EXPECT_THROW(request_state_codec::parse_key(std::string(64, 'z')), std::invalid_argument);
  EXPECT_EQ(request_state_codec::parse_key("AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8="),
            request_state_codec::parse_key(kKey));
}

}  // namespace
}  // namespace bookmcp::mcp
