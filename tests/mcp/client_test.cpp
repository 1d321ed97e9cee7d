// End to end through mcp::client over the in-memory transport: what a real client program sees.

#include <atomic>
#include <future>
#include <string>

#include <gtest/gtest.h>

#include "mcp/client.hpp"
#include "mcp/server.hpp"
#include "tests/testing/mcp_fixture.hpp"

namespace bookmcp::mcp {
namespace {

using mcp_testing::client_harness;
using mcp_testing::signal;
using mcp_testing::wait_limit;

tool_definition make_tool(std::string name, tool_handler handler) {
  tool_definition tool;
  tool.name = std::move(name);
  tool.handler = std::move(handler);
  return tool;
}

std::string text_of(const json& result) { return result.at("content").at(0).value("text", ""); }

// Runs `action` expecting an rpc_error and returns its code.
template <typename Action>
int rpc_error_code(Action&& action) {
  try {
    action();
  } catch (const rpc_error& error) {
    return error.code();
  }
  ADD_FAILURE() << "no rpc_error";
  return 0;
}

class ClientEndToEnd : public ::testing::Test {
 protected:
  signal started;
  signal stop_seen;
  signal release;
  std::unique_ptr<client_harness> harness;

  ClientEndToEnd() { harness = std::make_unique<client_harness>(); }
  ~ClientEndToEnd() override {
    release.set();
    harness.reset();
  }

  void recreate(mcp::client_options options) {
    harness = std::make_unique<client_harness>(mcp_testing::test_server_options(), std::move(options));
  }

  tool_definition waiting_tool() {
    return make_tool("slow", [this](tool_context& context, const json&) {
      started.set();
      const auto token = context.stop_token();
      release.wait(token);
      if (token.stop_requested()) stop_seen.set();
      return tool_result::text("slow finished");
    });
  }
};

TEST_F(ClientEndToEnd, InitializeListAndCall) {
  for (int i = 0; i < 5; ++i) {
    harness->server.add_tool(make_tool("tool_" + std::to_string(i), [i](tool_context& context, const json& arguments) {
      return tool_result::text(std::to_string(i) + ":" + arguments.value("word", "") + ":" + context.identity());
    }));
  }
  const json init = harness->client->initialize();
  EXPECT_EQ(init["protocolVersion"], "2025-11-25");
  EXPECT_EQ(init["serverInfo"]["name"], "bookmcp-test");
  EXPECT_TRUE(harness->client->server_capabilities().contains("tools"));
  EXPECT_TRUE(harness->session->initialized());
  harness->client->ping();

  const auto tools = harness->client->list_tools();
  ASSERT_EQ(tools.size(), 5u);
  EXPECT_EQ(tools.front()["name"], "tool_0");
  const json result = harness->client->call_tool("tool_3", {{"word", "hi"}});
  EXPECT_EQ(text_of(result), "3:hi:tester");
}

TEST_F(ClientEndToEnd, ListToolsFollowsPages) {
  auto options = mcp_testing::test_server_options();
  options.page_size = 2;
  harness = std::make_unique<client_harness>(options);
  for (const char* name : {"e", "d", "c", "b", "a"}) {
    harness->server.add_tool(make_tool(name, [](tool_context&, const json&) { return tool_result::text(""); }));
  }
  harness->client->initialize();
  std::vector<std::string> names;
  for (const auto& tool : harness->client->list_tools()) names.push_back(tool["name"]);
  EXPECT_EQ(names, (std::vector<std::string>{"a", "b", "c", "d", "e"}));
}

TEST_F(ClientEndToEnd, ProtocolErrorsArriveAsRpcErrors) {
  harness->client->initialize();
  EXPECT_EQ(rpc_error_code([&] { harness->client->call_tool("missing", json::object()); }), error_code::invalid_params);
  EXPECT_EQ(rpc_error_code([&] { harness->client->request("no/such", json::object()); }), error_code::method_not_found);
  EXPECT_EQ(rpc_error_code([&] { harness->client->initialize(); }), error_code::invalid_request);
}

TEST_F(ClientEndToEnd, ProgressReachesTheCallback) {
  harness->server.add_tool(make_tool("counter", [](tool_context& context, const json&) {
    for (int step = 1; step <= 3; ++step) context.report_progress(step, 3);
    return tool_result::text("counted");
  }));
  harness->client->initialize();
  std::mutex mutex;
  std::vector<double> seen;
  request_options options;
  options.on_progress = [&](const json& progress) {
    std::lock_guard lock(mutex);
    seen.push_back(progress["progress"].get<double>());
  };
  const json result = harness->client->call_tool("counter", json::object(), options);
  EXPECT_EQ(text_of(result), "counted");
  std::lock_guard lock(mutex);
  // Progress notifications are delivered before the response on the same ordered channel.
  EXPECT_EQ(seen, (std::vector<double>{1, 2, 3}));
}

TEST_F(ClientEndToEnd, CancelStopsTheServerSideHandler) {
  harness->server.add_tool(waiting_tool());
  harness->client->initialize();
  auto call = harness->client->start_tool_call("slow", json::object());
  ASSERT_TRUE(started.wait());
  harness->client->cancel(call.id);
  EXPECT_TRUE(stop_seen.wait());
  EXPECT_THROW(call.result.get(), rpc_error);
  EXPECT_TRUE(harness->session->wait_idle(wait_limit));
  harness->client->ping();  // still connected and healthy
}

TEST_F(ClientEndToEnd, DisconnectCancelsInFlightCallsAndFailsPendingRequests) {
  harness->server.add_tool(waiting_tool());
  harness->client->initialize();
  auto call = harness->client->start_tool_call("slow", json::object());
  ASSERT_TRUE(started.wait());
  harness->disconnect();
  EXPECT_TRUE(stop_seen.wait()) << "closing the connection did not cancel the call";
  ASSERT_EQ(call.result.wait_for(wait_limit), std::future_status::ready);
  EXPECT_EQ(rpc_error_code([&] { call.result.get(); }), error_code::connection_closed);
  // New requests fail at once.
  EXPECT_EQ(rpc_error_code([&] { harness->client->ping(); }), error_code::connection_closed);
}

TEST_F(ClientEndToEnd, ServerRequestsAreAnsweredByOnRequest) {
  mcp::client_options options;
  options.capabilities = {{"sampling", json::object()}, {"roots", json::object()}};
  recreate(options);
  harness->client->on_request("roots/list", [](const json&) {
    return json{{"roots", {{{"uri", "file:///book"}, {"name", "book"}}}}};
  });
  harness->client->on_request("sampling/createMessage", [](const json&) -> json {
    throw rpc_error(-1, "the user declined");
  });
  harness->server.add_tool(make_tool("ask", [](tool_context& context, const json& arguments) {
    const json answer = context.request_client(arguments.at("method").get<std::string>(), json::object());
    return tool_result::text(answer.dump());
  }));
  harness->client->initialize();

  const json roots = harness->client->call_tool("ask", {{"method", "roots/list"}});
  EXPECT_FALSE(roots.value("isError", false)) << roots;
  EXPECT_EQ(json::parse(text_of(roots))["roots"][0]["uri"], "file:///book");

  const json declined = harness->client->call_tool("ask", {{"method", "sampling/createMessage"}});
  EXPECT_TRUE(declined.value("isError", false)) << declined;
  EXPECT_NE(text_of(declined).find("the user declined"), std::string::npos) << declined;

  // The client has no handler for elicitation (and did not declare it): a clean tool error.
  const json elicitation = harness->client->call_tool("ask", {{"method", "elicitation/create"}});
  EXPECT_TRUE(elicitation.value("isError", false)) << elicitation;

  // ping needs no capability and is answered by the client itself.
  EXPECT_EQ(harness->session->request("ping", json::object(), wait_limit), json::object());
}

TEST_F(ClientEndToEnd, ServerNotificationsReachOnNotification) {
  std::mutex mutex;
  std::condition_variable changed;
  std::vector<std::string> methods;
  harness->client->on_notification([&](const std::string& method, const json&) {
    std::lock_guard lock(mutex);
    methods.push_back(method);
    changed.notify_all();
  });
  harness->client->initialize();
  harness->server.add_tool(make_tool("late", [](tool_context&, const json&) { return tool_result::text(""); }));
  std::unique_lock lock(mutex);
  ASSERT_TRUE(changed.wait_for(lock, wait_limit, [&] { return !methods.empty(); }));
  EXPECT_EQ(methods.front(), "notifications/tools/list_changed");
}

TEST_F(ClientEndToEnd, ShutdownAnswersInFlightCallsWithAnError) {
  harness->server.add_tool(waiting_tool());
  harness->client->initialize();
  auto call = harness->client->start_tool_call("slow", json::object());
  ASSERT_TRUE(started.wait());
  harness->server.shutdown(std::chrono::milliseconds(0));
  EXPECT_TRUE(stop_seen.wait());
  ASSERT_EQ(call.result.wait_for(wait_limit), std::future_status::ready);
  EXPECT_EQ(rpc_error_code([&] { call.result.get(); }), error_code::internal_error);
}

}  // namespace
}  // namespace bookmcp::mcp
