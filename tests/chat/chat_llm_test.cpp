// The chat backend with an LLM: the OpenAI-compatible streaming double (tests/testing/
// llm_double, named as a double: no model can run here) in each provider's style, a real
// bookmcp in this process, and the backend's loop between them.

#include <gtest/gtest.h>

#include "tests/chat/chat_fixture.hpp"
#include "tests/testing/eventually.hpp"
#include "tests/testing/llm_double.hpp"

namespace bookmcp::chat::testing {
namespace {

using bookmcp::testing::llm_double;
using bookmcp::testing::llm_double_options;
using bookmcp::testing::llm_style;

// One chunk of a streamed answer, as OpenAI sends it.
std::string chunk(const json& delta, const json& finish = nullptr) {
  return json{{"id", "chatcmpl-1"}, {"object", "chat.completion.chunk"}, {"created", 1}, {"model", "m"},
              {"choices", {{{"index", 0}, {"delta", delta}, {"finish_reason", finish}}}}}
      .dump();
}

std::string call_chunk(const std::string& id, const std::string& name, const json& arguments, int index = 0) {
  return chunk({{"tool_calls", {{{"index", index}, {"id", id}, {"type", "function"},
                                 {"function", {{"name", name}, {"arguments", arguments.dump()}}}}}}},
               "tool_calls");
}

class ChatLlmTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() { book_ = new bookmcp_under_test(); }
  static void TearDownTestSuite() {
    delete book_;
    book_ = nullptr;
  }

  chat_setup setup(const llm_double& llm) const {
    chat_setup s;
    s.mcp_url = book_->ws_url();
    s.secret_file = book_->secret_file().string();
    s.llm_base_url = llm.base_url();
    s.llm_model = "bookmcp-llm-double";
    return s;
  }

  static bookmcp_under_test* book_;
};

bookmcp_under_test* ChatLlmTest::book_ = nullptr;

class ChatLlmStyleTest : public ChatLlmTest, public ::testing::WithParamInterface<llm_style> {};

TEST_P(ChatLlmStyleTest, TheModelSearchesTheBookAndItsAnswerCitesTheSectionsFound) {
  llm_double_options options;
  options.style = GetParam();
  llm_double llm(options);
  chat_under_test chat(setup(llm));
  chat_client client(chat.url());
  const json reader = client.open_session();
  const auto events = client.chat(reader["access_token"], chat_body("How does PID control work?"));

  ASSERT_FALSE(events.empty());
  EXPECT_EQ(events.front().data["mode"], "llm");
  ASSERT_EQ(events.back().type, "done") << events.back().data.dump();
  const auto calls = of_type(events, "tool_call");
  ASSERT_EQ(calls.size(), 1u);
  EXPECT_EQ(calls[0].data["name"], "search_book");
  EXPECT_EQ(calls[0].data["arguments"]["query"], "How does PID control work?");
  const std::string text = answer_text(events);
  EXPECT_NE(text.find("According to the book"), std::string::npos) << text;
  const auto citations = of_type(events, "citation");
  ASSERT_FALSE(citations.empty()) << text;
  for (const auto& c : citations) {
    EXPECT_NE(text.find("[" + std::to_string(c.data["n"].get<int>()) + "]"), std::string::npos);
  }
  EXPECT_EQ(llm.requests(), 2u);
  // The second request repeats the call (with the provider's extra fields) and its result,
  // numbered as the citations are.
  const json second = json::parse(llm.last_request());
  const auto& messages = second["messages"];
  EXPECT_EQ(messages[0]["role"], "system");
  EXPECT_NE(messages[0]["content"].get<std::string>().find("Europe/Berlin"), std::string::npos);
  EXPECT_NE(messages[0]["content"].get<std::string>().find("Introduction"), std::string::npos);
  EXPECT_EQ(messages[messages.size() - 1]["role"], "tool");
  EXPECT_NE(messages[messages.size() - 1]["content"].get<std::string>().find("[1] "), std::string::npos);
  if (GetParam() == llm_style::gemini) {
    EXPECT_TRUE(messages[messages.size() - 2]["tool_calls"][0].contains("extra_content"));
  }
  // Only the tools a reader may use are offered.
  for (const auto& tool : second["tools"]) {
    const std::string name = tool["function"]["name"];
    EXPECT_TRUE(name == "search_book" || name.rfind("todo_", 0) == 0) << name;
    EXPECT_NE(name, "todo_delete_all");
  }
}

INSTANTIATE_TEST_SUITE_P(Providers, ChatLlmStyleTest,
                         ::testing::Values(llm_style::openai, llm_style::gemini, llm_style::ollama, llm_style::vllm),
                         [](const auto& info) { return std::string(bookmcp::testing::llm_style_name(info.param)); });

TEST_F(ChatLlmTest, ATodoAskedForIsAddedForThatReaderOnly) {
  llm_double llm;
  chat_under_test chat(setup(llm));
  chat_client client(chat.url());
  const json alice = client.open_session();
  const json bob = client.open_session();
  const auto events = client.chat(alice["access_token"], chat_body("remind me to redo the kinematics exercises by Friday"));
  ASSERT_EQ(events.back().type, "done") << events.back().data.dump();
  const auto results = of_type(events, "tool_result");
  ASSERT_EQ(results.size(), 1u);
  EXPECT_EQ(results[0].data["name"], "todo_add");
  EXPECT_EQ(results[0].data["todo"]["title"], "redo the kinematics exercises");
  EXPECT_EQ(book_->call_as(alice["reader_id"], "todo_list", json::object())["structuredContent"]["todos"].size(), 1u);
  EXPECT_EQ(book_->call_as(bob["reader_id"], "todo_list", json::object())["structuredContent"]["todos"].size(), 0u);
}

TEST_F(ChatLlmTest, CitationsThatNameNoSectionAreDroppedEvenWhenCutAcrossChunks) {
  llm_double llm;
  llm.script(bookmcp::testing::llm_event_stream({call_chunk("call_1", "search_book", {{"query", "PID"}}), "[DONE]"}));
  llm.script(bookmcp::testing::llm_event_stream(
      {chunk({{"role", "assistant"}, {"content", "PID is a controller [1"}}), chunk({{"content", "]. Made up: [9"}}),
       chunk({{"content", "9] and [2]."}}, "stop"), "[DONE]"}));
  chat_under_test chat(setup(llm));
  chat_client client(chat.url());
  const auto events = client.chat(client.open_session()["access_token"], chat_body("PID?"));
  ASSERT_EQ(events.back().type, "done") << events.back().data.dump();
  const std::string text = answer_text(events);
  EXPECT_EQ(text, "PID is a controller [1]. Made up:  and [2].");
  const auto citations = of_type(events, "citation");
  ASSERT_EQ(citations.size(), 2u);
  EXPECT_EQ(citations[0].data["n"], 1);
  EXPECT_EQ(citations[1].data["n"], 2);
}

TEST_F(ChatLlmTest, RateLimitingByTheModelIsAClearErrorWithItsRetryHintAndNothingIsStored) {
  llm_double llm;
  llm.script(bookmcp::testing::llm_rate_limited_reply(std::chrono::seconds(7)));
  chat_under_test chat(setup(llm));
  chat_client client(chat.url());
  const std::string token = client.open_session()["access_token"];
  const auto events = client.chat(token, chat_body("What is a robot?"));
  ASSERT_EQ(events.back().type, "error");
  EXPECT_EQ(events.back().data["code"], "llm_rate_limited");
  EXPECT_EQ(events.back().data["retry_after"], 7);
  EXPECT_EQ(client.send_json("GET", "/api/conversations", nullptr, token).body["conversations"].size(), 0u);
}

TEST_F(ChatLlmTest, GarbageCutStreamsAndErrorObjectsFromTheModelAreErrorsNotAnswers) {
  llm_double llm;
  llm.script(bookmcp::testing::llm_event_stream({"this is not json"}));
  llm.script(bookmcp::testing::llm_event_stream({R"({"error": {"message": "overloaded"}})"}));
  llm.script(bookmcp::testing::llm_event_stream({chunk({{"content", "half an ans"}})}, std::chrono::milliseconds(0),
                                                bookmcp::testing::llm_stream_end::close));
  llm.script(bookmcp::testing::llm_whole_reply(500, R"({"error": {"message": "boom"}})"));
  chat_under_test chat(setup(llm));
  chat_client client(chat.url());
  const std::string token = client.open_session()["access_token"];
  for (int i = 0; i < 4; ++i) {
    const auto events = client.chat(token, chat_body("What is a robot?"));
    ASSERT_EQ(events.back().type, "error") << i;
    EXPECT_EQ(events.back().data["code"], "llm_error") << i;
  }
  EXPECT_EQ(client.send_json("GET", "/api/conversations", nullptr, token).body["conversations"].size(), 0u);
}

TEST_F(ChatLlmTest, AtMostFiveStepsTheLastWithoutToolsAndNoCallTwice) {
  llm_double llm;
  for (int i = 0; i < 4; ++i) {
    // The second call repeats the first: it is not made again.
    llm.script(bookmcp::testing::llm_event_stream(
        {call_chunk("call_" + std::to_string(i), "search_book", {{"query", "robot " + std::to_string(i == 1 ? 0 : i)}}), "[DONE]"}));
  }
  chat_under_test chat(setup(llm));
  chat_client client(chat.url());
  const auto events = client.chat(client.open_session()["access_token"], chat_body("What is a robot?"));
  ASSERT_EQ(events.back().type, "done") << events.back().data.dump();
  EXPECT_EQ(llm.requests(), 5u);
  EXPECT_EQ(of_type(events, "tool_call").size(), 3u) << "the repeated call is not made";
  const auto bodies = llm.request_bodies();
  EXPECT_FALSE(json::parse(bodies[4]).contains("tools")) << "the last step has no tools";
  EXPECT_NE(bodies[2].find("You already called search_book"), std::string::npos);
}

TEST_F(ChatLlmTest, AToolErrorIsHandedBackToTheModel) {
  llm_double llm;
  llm.script(bookmcp::testing::llm_event_stream({call_chunk("call_1", "todo_add", json::object()), "[DONE]"}));
  chat_under_test chat(setup(llm));
  chat_client client(chat.url());
  const auto events = client.chat(client.open_session()["access_token"], chat_body("add something"));
  ASSERT_EQ(events.back().type, "done") << events.back().data.dump();
  EXPECT_EQ(of_type(events, "tool_result")[0].data["is_error"], true);
  EXPECT_NE(answer_text(events).find("The tool todo_add failed"), std::string::npos) << answer_text(events);
}

TEST_F(ChatLlmTest, StopClosesTheModelsStreamAndStoresThePartialAnswer) {
  llm_double_options options;
  options.token_delay = std::chrono::milliseconds(200);
  options.policy = bookmcp::testing::llm_policy::echo;
  llm_double llm(options);
  chat_under_test chat(setup(llm));
  chat_client client(chat.url());
  const std::string token = client.open_session()["access_token"];
  std::string message_id;
  std::thread stopper;
  const auto events = client.chat(token, chat_body("a long question that the double echoes slowly, piece by piece"),
                                  [&](const sse_item& event) {
                                    if (event.type == "meta") message_id = event.data["message_id"];
                                    if (event.type == "token" && !stopper.joinable()) {
                                      stopper = std::thread([&client, &token, message_id] {
                                        client.send("POST", "/api/chat/" + message_id + "/cancel", "",
                                                    {{"Authorization", "Bearer " + token}});
                                      });
                                    }
                                    return true;
                                  });
  if (stopper.joinable()) stopper.join();
  ASSERT_EQ(events.back().type, "done");
  EXPECT_EQ(events.back().data["finish_reason"], "cancelled");
  EXPECT_LT(answer_text(events).size(), std::string("You said: a long question that the double echoes slowly, piece by piece").size());
  EXPECT_TRUE(bookmcp::testing::eventually([&] { return llm.open_streams() == 0; })) << "the model's stream stayed open";
  const json list = client.send_json("GET", "/api/conversations", nullptr, token).body;
  ASSERT_EQ(list["conversations"].size(), 1u);
  const json full = client.send_json("GET", "/api/conversations/" + list["conversations"][0]["id"].get<std::string>(), nullptr, token).body;
  EXPECT_EQ(full["messages"][1]["finish_reason"], "cancelled");
  EXPECT_EQ(full["messages"][1]["text"], answer_text(events));
}

TEST_F(ChatLlmTest, ReadinessIsDegradedWhenTheModelIsDown) {
  auto llm = std::make_unique<llm_double>();
  chat_under_test chat(setup(*llm));
  chat_client client(chat.url());
  EXPECT_EQ(client.send("GET", "/ready").body["overall_status"], "healthy");
  llm.reset();
  const http_answer ready = client.send("GET", "/ready");
  EXPECT_EQ(ready.status, 200);
  EXPECT_EQ(ready.body["overall_status"], "degraded");
  EXPECT_EQ(ready.body["checks"]["llm"]["status"], "down");
}

}  // namespace
}  // namespace bookmcp::chat::testing
