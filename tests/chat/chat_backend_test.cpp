// The chat backend end to end, without an LLM (the default mode): a real bookmcp in this
// process with the sample book and the todo tools, the backend's HTTP API in front of it, and
// the answer streams read as the widget reads them.

#include <gtest/gtest.h>
#include <openssl/evp.h>
#include <openssl/pem.h>

#include <atomic>
#include <fstream>
#include <mutex>
#include <set>
#include <thread>
#include <vector>

#include "mcp/tool.hpp"
#include "tests/chat/chat_fixture.hpp"
#include "tests/testing/eventually.hpp"
#include "tests/testing/postgres_test_cluster.hpp"

namespace bookmcp::chat::testing {
namespace {

class ChatBackendTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() { book_ = new bookmcp_under_test(); }
  static void TearDownTestSuite() {
    delete book_;
    book_ = nullptr;
  }

  chat_setup setup() const {
    chat_setup s;
    s.mcp_url = book_->ws_url();
    s.secret_file = book_->secret_file().string();
    return s;
  }

  static bookmcp_under_test* book_;
};

bookmcp_under_test* ChatBackendTest::book_ = nullptr;

TEST_F(ChatBackendTest, ABookQuestionStreamsAnAnswerWithCitationsThatNameRealSections) {
  chat_under_test chat(setup());
  chat_client client(chat.url());
  const json session = client.open_session();
  const auto events = client.chat(session["access_token"], chat_body("How does PID control work?"));

  ASSERT_FALSE(events.empty());
  EXPECT_EQ(events.front().type, "meta");
  EXPECT_EQ(events.front().data["mode"], "extractive");
  EXPECT_EQ(events.front().data["reader_id"], session["reader_id"]);
  EXPECT_EQ(events.back().type, "done");
  EXPECT_EQ(events.back().data["finish_reason"], "stop");
  // Every event has an id of its answer, numbered in order.
  const std::string message_id = events.front().data["message_id"];
  for (std::size_t i = 0; i < events.size(); ++i) {
    EXPECT_EQ(events[i].id, message_id + ":" + std::to_string(i + 1));
  }
  const auto calls = of_type(events, "tool_call");
  ASSERT_FALSE(calls.empty());
  EXPECT_EQ(calls[0].data["name"], "search_book");
  EXPECT_NE(calls[0].data["label"].get<std::string>().find("Searched the book for"), std::string::npos);
  EXPECT_EQ(of_type(events, "tool_result").size(), calls.size());
  EXPECT_GT(of_type(events, "token").size(), 1u) << "the answer streams in pieces";

  const std::string text = answer_text(events);
  const auto citations = of_type(events, "citation");
  ASSERT_FALSE(citations.empty()) << text;
  std::set<int> numbers;
  for (const auto& c : citations) {
    numbers.insert(c.data["n"].get<int>());
    EXPECT_NE(c.data["url"].get<std::string>().find("/docs/"), std::string::npos);
    EXPECT_FALSE(c.data["title"].get<std::string>().empty());
    EXPECT_TRUE(c.data["heading_path"].is_array());
    EXPECT_NE(text.find("[" + std::to_string(c.data["n"].get<int>()) + "]"), std::string::npos);
  }
  // The PID section is among the cited, with its anchor.
  bool pid = false;
  for (const auto& c : citations) pid = pid || c.data["url"].get<std::string>().find("kinematics#pid-control") != std::string::npos;
  EXPECT_TRUE(pid) << text;
  // No [n] in the text names a section that is not cited.
  for (std::size_t at = text.find('['); at != std::string::npos; at = text.find('[', at + 1)) {
    const auto close = text.find(']', at);
    const std::string inside = text.substr(at + 1, close - at - 1);
    if (!inside.empty() && inside.find_first_not_of("0123456789") == std::string::npos) {
      EXPECT_TRUE(numbers.count(std::stoi(inside))) << "[" << inside << "] cites nothing";
    }
  }
}

TEST_F(ChatBackendTest, TheConversationIsStoredWholeAndOnlyItsReaderSeesIt) {
  chat_under_test chat(setup());
  chat_client client(chat.url());
  const json alice = client.open_session();
  const json bob = client.open_session();
  const auto events = client.chat(alice["access_token"], chat_body("What is a degree of freedom?"));
  const std::string conversation = events.front().data["conversation_id"];
  const std::string message = events.front().data["message_id"];

  const http_answer list = client.send_json("GET", "/api/conversations", nullptr, alice["access_token"]);
  ASSERT_EQ(list.status, 200);
  ASSERT_EQ(list.body["conversations"].size(), 1u);
  EXPECT_EQ(list.body["conversations"][0]["id"], conversation);
  EXPECT_EQ(list.body["conversations"][0]["title"], "What is a degree of freedom?");

  const http_answer full = client.send_json("GET", "/api/conversations/" + conversation, nullptr, alice["access_token"]);
  ASSERT_EQ(full.status, 200);
  ASSERT_EQ(full.body["messages"].size(), 2u);
  EXPECT_EQ(full.body["messages"][0]["role"], "user");
  EXPECT_EQ(full.body["messages"][1]["role"], "assistant");
  EXPECT_EQ(full.body["messages"][1]["id"], message);
  EXPECT_EQ(full.body["messages"][1]["text"], answer_text(events));
  EXPECT_EQ(full.body["messages"][1]["citations"].size(), of_type(events, "citation").size());
  EXPECT_EQ(full.body["messages"][1]["finish_reason"], "stop");

  // A second turn continues the same conversation.
  const auto second = client.chat(alice["access_token"], chat_body("And what about sensors?", conversation));
  EXPECT_EQ(second.back().type, "done");
  EXPECT_EQ(client.send_json("GET", "/api/conversations/" + conversation, nullptr, alice["access_token"]).body["messages"].size(), 4u);

  // Bob sees none of it, and cannot write into it, rate it or delete it.
  EXPECT_EQ(client.send_json("GET", "/api/conversations", nullptr, bob["access_token"]).body["conversations"].size(), 0u);
  EXPECT_EQ(client.send_json("GET", "/api/conversations/" + conversation, nullptr, bob["access_token"]).status, 404);
  int status = 0;
  const auto intrusion = client.chat(bob["access_token"], chat_body("hello", conversation), {}, &status);
  EXPECT_EQ(status, 404);
  EXPECT_EQ(intrusion.back().data["error"]["code"], "conversation_not_found");
  EXPECT_EQ(client.send_json("POST", "/api/messages/" + message + "/feedback", {{"rating", "up"}}, bob["access_token"]).status, 404);
  EXPECT_EQ(client.send_json("DELETE", "/api/conversations/" + conversation, nullptr, bob["access_token"]).status, 404);

  // Alice rates the answer, exports, deletes.
  EXPECT_EQ(client.send_json("POST", "/api/messages/" + message + "/feedback", {{"rating", "down"}, {"reason", "too short"}}, alice["access_token"]).status, 204);
  EXPECT_EQ(client.send_json("GET", "/api/conversations/" + conversation, nullptr, alice["access_token"]).body["messages"][1]["feedback"], "down");
  EXPECT_EQ(client.send_json("POST", "/api/messages/" + message + "/feedback", {{"rating", "meh"}}, alice["access_token"]).status, 400);
  const http_answer exported = client.send_json("GET", "/api/conversations/export", nullptr, alice["access_token"]);
  ASSERT_EQ(exported.status, 200);
  EXPECT_EQ(exported.body["reader_id"], alice["reader_id"]);
  EXPECT_EQ(exported.body["conversations"][0]["messages"].size(), 4u);
  EXPECT_EQ(client.send_json("DELETE", "/api/conversations/" + conversation, nullptr, alice["access_token"]).status, 204);
  EXPECT_EQ(client.send_json("GET", "/api/conversations/" + conversation, nullptr, alice["access_token"]).status, 404);
}

TEST_F(ChatBackendTest, ATodoAddedByChatIsTheReadersOwnAndItsCardCompletesIt) {
  chat_under_test chat(setup());
  chat_client client(chat.url());
  const json alice = client.open_session();
  const json bob = client.open_session();
  const auto events = client.chat(alice["access_token"], chat_body("remind me to redo the kinematics exercises by Friday"));
  ASSERT_EQ(events.back().type, "done") << events.back().data.dump();
  const auto results = of_type(events, "tool_result");
  ASSERT_EQ(results.size(), 1u);
  EXPECT_EQ(results[0].data["name"], "todo_add");
  const json todo = results[0].data["todo"];
  ASSERT_TRUE(todo.is_object()) << results[0].data.dump();
  EXPECT_NE(todo["title"].get<std::string>().find("kinematics exercises"), std::string::npos);
  EXPECT_TRUE(todo["due"].is_string());
  EXPECT_NE(answer_text(events).find("Added"), std::string::npos);

  // bookmcp itself scopes it: Alice's list has it, Bob's does not.
  const std::string alice_id = alice["reader_id"];
  const json alice_list = book_->call_as(alice_id, "todo_list", json::object());
  ASSERT_EQ(alice_list["structuredContent"]["todos"].size(), 1u);
  EXPECT_EQ(alice_list["structuredContent"]["todos"][0]["id"], todo["id"]);
  EXPECT_EQ(book_->call_as(bob["reader_id"], "todo_list", json::object())["structuredContent"]["todos"].size(), 0u);

  // The card's button: no LLM round trip, as the reader.
  const std::string id = todo["id"].is_string() ? todo["id"].get<std::string>() : todo["id"].dump();
  EXPECT_EQ(client.send_json("POST", "/api/todos/" + id + "/complete", json::object(), bob["access_token"]).status, 404);
  const http_answer done = client.send_json("POST", "/api/todos/" + id + "/complete", json::object(), alice["access_token"]);
  ASSERT_EQ(done.status, 200) << done.text;
  EXPECT_EQ(done.body["todo"]["status"], "done");
  EXPECT_EQ(book_->call_as(alice_id, "todo_list", {{"status", "done"}})["structuredContent"]["todos"].size(), 1u);

  // Listing and reopening by chat.
  const auto listed = client.chat(alice["access_token"], chat_body("what have I finished?"));
  EXPECT_NE(answer_text(listed).find("kinematics exercises"), std::string::npos) << answer_text(listed);
  const auto reopened = client.chat(alice["access_token"], chat_body("reopen the kinematics exercises"));
  EXPECT_NE(answer_text(reopened).find("Reopened"), std::string::npos) << answer_text(reopened);
  EXPECT_EQ(book_->call_as(alice_id, "todo_list", json::object())["structuredContent"]["todos"].size(), 1u);

  // Deleting asks first; "no" keeps it, "yes" deletes it.
  const auto asked = client.chat(alice["access_token"], chat_body("delete the kinematics todo"));
  const std::string conversation = asked.front().data["conversation_id"];
  EXPECT_NE(answer_text(asked).find("Delete"), std::string::npos) << answer_text(asked);
  EXPECT_EQ(of_type(asked, "tool_call").size(), 1u) << "only a todo_list before confirming";
  client.chat(alice["access_token"], chat_body("no", conversation));
  EXPECT_EQ(book_->call_as(alice_id, "todo_list", json::object())["structuredContent"]["todos"].size(), 1u);
  client.chat(alice["access_token"], chat_body("delete the kinematics todo", conversation));
  const auto confirmed = client.chat(alice["access_token"], chat_body("yes", conversation));
  EXPECT_NE(answer_text(confirmed).find("Deleted"), std::string::npos) << answer_text(confirmed);
  EXPECT_EQ(book_->call_as(alice_id, "todo_list", {{"status", "all"}})["structuredContent"]["todos"].size(), 0u);
}

TEST_F(ChatBackendTest, ReaderTokensAreCheckedAndRefreshed) {
  chat_under_test chat(setup());
  chat_client client(chat.url());
  const json session = client.open_session();
  EXPECT_EQ(session["expires_in"], 1800);
  EXPECT_EQ(session["reader_id"].get<std::string>().rfind("r_", 0), 0u);

  EXPECT_EQ(client.send_json("GET", "/api/conversations", nullptr).status, 401);
  EXPECT_EQ(client.send_json("GET", "/api/conversations", nullptr, "not-a-token").status, 401);
  EXPECT_EQ(client.send_json("GET", "/api/conversations", nullptr, "a\xff.b.c").status, 401);
  // A refresh token is not an access token, and the reverse.
  EXPECT_EQ(client.send_json("GET", "/api/conversations", nullptr, session["refresh_token"]).status, 401);
  EXPECT_EQ(client.send_json("POST", "/api/session/refresh", {{"refresh_token", session["access_token"]}}).status, 401);
  const http_answer refreshed = client.send_json("POST", "/api/session/refresh", {{"refresh_token", session["refresh_token"]}});
  ASSERT_EQ(refreshed.status, 200);
  EXPECT_EQ(refreshed.body["reader_id"], session["reader_id"]);
  EXPECT_EQ(client.send_json("GET", "/api/conversations", nullptr, refreshed.body["access_token"]).status, 200);
  // A token signed with another key.
  std::string forged = session["access_token"];
  forged.back() = forged.back() == 'A' ? 'B' : 'A';
  EXPECT_EQ(client.send_json("GET", "/api/conversations", nullptr, forged).status, 401);
}

TEST_F(ChatBackendTest, BadMessagesGetClearErrorsAndNothingIsStored) {
  chat_under_test chat(setup());
  chat_client client(chat.url());
  const std::string token = client.open_session()["access_token"];
  auto refused = [&](const std::string& body, int status, const std::string& code) {
    int got = 0;
    const auto events = client.stream("POST", "/api/chat", body, {{"Authorization", "Bearer " + token}}, {}, &got);
    EXPECT_EQ(got, status) << body.substr(0, 80);
    ASSERT_FALSE(events.empty());
    if (!code.empty()) {
      EXPECT_EQ(events.back().data["error"]["code"], code) << body.substr(0, 80);
    }
  };
  refused(chat_body("   ").dump(), 400, "empty_message");
  refused(chat_body(std::string(2001, 'a')).dump(), 400, "message_too_long");
  refused("{not json", 400, "bad_request");
  refused("[1, 2]", 400, "bad_request");
  refused(R"({"message": {"text": 42}})", 400, "bad_request");
  refused(R"({"message": "hello"})", 400, "bad_request");
  refused(R"({"message": {"text": "hi"}, "conversation_id": 7})", 400, "bad_request");
  refused(R"({"message": {"text": "hi"}, "conversation_id": "c_nope"})", 404, "conversation_not_found");
  refused(R"({"message": {"text": "hi"}, "context": "page"})", 400, "bad_request");
  refused(std::string(70 * 1024, ' '), 413, "body_too_large");
  EXPECT_EQ(client.send_json("GET", "/api/conversations", nullptr, token).body["conversations"].size(), 0u);
}

TEST_F(ChatBackendTest, TwoThousandCharactersAreAcceptedCountedAsCharactersNotBytes) {
  chat_under_test chat(setup());
  chat_client client(chat.url());
  const std::string token = client.open_session()["access_token"];
  std::string text;
  for (int i = 0; i < 2000; ++i) text += "\xc3\xa9";  // 2,000 characters, 4,000 bytes
  const auto events = client.chat(token, chat_body(text));
  EXPECT_EQ(events.front().type, "meta");
  EXPECT_EQ(events.back().type, "done");
}

TEST_F(ChatBackendTest, ChatMessagesAreRateLimitedWithRetryAfter) {
  chat_setup s = setup();
  s.chat_per_minute = 6;  // bursts of 2
  chat_under_test chat(s);
  chat_client client(chat.url());
  const std::string token = client.open_session()["access_token"];
  int last = 0;
  for (int i = 0; i < 3; ++i) client.chat(token, chat_body("what is a robot?"), {}, &last);
  EXPECT_EQ(last, 429);
  const http_answer refused = client.send("POST", "/api/chat", chat_body("again").dump(), {{"Authorization", "Bearer " + token}});
  EXPECT_EQ(refused.status, 429);
  EXPECT_GE(std::stoi(refused.header("Retry-After")), 1);
  EXPECT_EQ(refused.body["error"]["code"], "rate_limited");
}

TEST_F(ChatBackendTest, CorsIsForTheSitesOriginOnly) {
  chat_under_test chat(setup());
  chat_client client(chat.url());
  const http_answer preflight = client.send("OPTIONS", "/api/chat", "", {{"Origin", "http://site.test"}, {"Access-Control-Request-Method", "POST"}});
  EXPECT_EQ(preflight.status, 204);
  EXPECT_EQ(preflight.header("Access-Control-Allow-Origin"), "http://site.test");
  EXPECT_NE(preflight.header("Access-Control-Allow-Headers").find("Authorization"), std::string::npos);
  const http_answer foreign = client.send("OPTIONS", "/api/chat", "", {{"Origin", "http://evil.test"}, {"Access-Control-Request-Method", "POST"}});
  EXPECT_EQ(foreign.status, 403);
  EXPECT_EQ(foreign.header("Access-Control-Allow-Origin"), "");
  // A cross-site request that needs no preflight is refused outright.
  EXPECT_EQ(client.send("POST", "/api/session", "", {{"Origin", "http://evil.test"}}).status, 403);
  const http_answer allowed = client.send("POST", "/api/session", "", {{"Origin", "http://site.test"}});
  EXPECT_EQ(allowed.status, 200);
  EXPECT_EQ(allowed.header("Access-Control-Allow-Origin"), "http://site.test");
  // The widget's script may be loaded by any page.
  EXPECT_EQ(client.send("GET", "/widget.js").header("Access-Control-Allow-Origin"), "*");
}

TEST_F(ChatBackendTest, ADroppedStreamResumesFromTheLastEventSeen) {
  chat_under_test chat(setup());
  chat_client client(chat.url());
  const std::string token = client.open_session()["access_token"];
  const auto whole = client.chat(token, chat_body("How do wheel encoders measure distance?"));
  ASSERT_GE(whole.size(), 4u);
  const std::string message_id = whole.front().data["message_id"];
  int status = 0;
  const auto rest = client.stream("GET", "/api/chat/" + message_id + "/events", "",
                                  {{"Authorization", "Bearer " + token}, {"Last-Event-ID", whole[1].id}}, {}, &status);
  EXPECT_EQ(status, 200);
  ASSERT_EQ(rest.size(), whole.size() - 2);
  for (std::size_t i = 0; i < rest.size(); ++i) {
    EXPECT_EQ(rest[i].id, whole[i + 2].id);
    EXPECT_EQ(rest[i].data, whole[i + 2].data);
  }
  // Not for another reader, not with a foreign event id.
  const std::string other = client.open_session()["access_token"];
  EXPECT_EQ(client.send("GET", "/api/chat/" + message_id + "/events", "", {{"Authorization", "Bearer " + other}}).status, 404);
  EXPECT_EQ(client.send("GET", "/api/chat/" + message_id + "/events", "", {{"Authorization", "Bearer " + token}, {"Last-Event-ID", "m_other:3"}}).status, 400);
}

TEST_F(ChatBackendTest, TheOneShotChatAnswersBookQuestionsWithoutAReaderButKeepsNoTodos) {
  chat_under_test chat(setup());
  chat_client client(chat.url());
  const http_answer answer = client.send_json("POST", "/chat", {{"query", "What is inverse kinematics?"}, {"session_id", "abc"}});
  ASSERT_EQ(answer.status, 200) << answer.text;
  EXPECT_EQ(answer.body["mode"], "extractive");
  EXPECT_FALSE(answer.body["answer"].get<std::string>().empty());
  ASSERT_FALSE(answer.body["sources"].empty());
  for (const auto& source : answer.body["sources"]) {
    EXPECT_TRUE(source.contains("url") && source.contains("title") && source.contains("heading_path"));
  }
  const http_answer todo = client.send_json("POST", "/chat", {{"query", "remind me to study tomorrow"}, {"session_id", "abc"}});
  ASSERT_EQ(todo.status, 200);
  EXPECT_NE(todo.body["answer"].get<std::string>().find("Todos belong to a reader"), std::string::npos);
  EXPECT_EQ(book_->call_as("anonymous", "todo_list", json::object())["structuredContent"]["todos"].size(), 0u);
  // With a reader's token it acts as that reader.
  const json reader = client.open_session();
  const http_answer added = client.send_json("POST", "/chat", {{"query", "remind me to review PID tuning tomorrow"}}, reader["access_token"]);
  ASSERT_EQ(added.status, 200) << added.text;
  EXPECT_EQ(book_->call_as(reader["reader_id"], "todo_list", json::object())["structuredContent"]["todos"].size(), 1u);
  EXPECT_EQ(client.send_json("POST", "/chat", {{"query", 5}}).status, 400);
  EXPECT_EQ(client.send_json("POST", "/chat", {{"query", "hi"}}, "bad-token").status, 401);
}

TEST_F(ChatBackendTest, OpsRoutesReportTheBackendAndItsDependencies) {
  chat_under_test chat(setup());
  chat_client client(chat.url());
  EXPECT_EQ(client.send("GET", "/health").status, 200);
  const http_answer ready = client.send("GET", "/ready");
  EXPECT_EQ(ready.status, 200) << ready.text;
  EXPECT_EQ(ready.body["overall_status"], "healthy");
  EXPECT_EQ(ready.body["checks"]["bookmcp"]["status"], "up");
  EXPECT_EQ(ready.body["checks"]["database"]["status"], "up");
  EXPECT_EQ(ready.body["checks"]["llm"]["status"], "not_configured");
  client.chat(client.open_session()["access_token"], chat_body("what is a robot?"));
  const http_answer metrics = client.send("GET", "/metrics");
  EXPECT_NE(metrics.text.find("chat_turn_seconds_count{mode=\"extractive\"} 1"), std::string::npos) << metrics.text;
  EXPECT_NE(metrics.text.find("chat_tool_calls_total{tool=\"search_book\",outcome=\"ok\"}"), std::string::npos);
  EXPECT_NE(metrics.text.find("chat_first_token_seconds_bucket"), std::string::npos);
  EXPECT_NE(metrics.text.find("chat_active_streams 0"), std::string::npos);
  EXPECT_EQ(client.send("GET", "/nope").status, 404);
}

TEST_F(ChatBackendTest, StreamableHttpWorksAsWellAsWebSocket) {
  chat_setup s = setup();
  s.mcp_url = book_->http_url();
  chat_under_test chat(s);
  chat_client client(chat.url());
  const json reader = client.open_session();
  const auto events = client.chat(reader["access_token"], chat_body("How does sensor fusion work?"));
  EXPECT_EQ(events.back().type, "done") << events.back().data.dump();
  EXPECT_FALSE(of_type(events, "citation").empty());
  const auto todo = client.chat(reader["access_token"], chat_body("add a todo: read the sensors chapter"));
  EXPECT_EQ(todo.back().type, "done") << todo.back().data.dump();
  EXPECT_EQ(book_->call_as(reader["reader_id"], "todo_list", json::object())["structuredContent"]["todos"].size(), 1u);
}

TEST_F(ChatBackendTest, WithDatabaseUrlConversationsLiveInPostgres) {
  const auto cluster = bookmcp::testing::postgres_test_url();
  if (!cluster) GTEST_SKIP() << bookmcp::testing::postgres_skip_message;
  bookmcp::testing::postgres_test_database database(*cluster);
  chat_setup s = setup();
  s.database_url = database.url();
  chat_under_test chat(s);
  chat_client client(chat.url());
  const std::string token = client.open_session()["access_token"];
  const auto events = client.chat(token, chat_body("What is a robot?"));
  ASSERT_EQ(events.back().type, "done") << events.back().data.dump();
  EXPECT_EQ(database.query_integer("SELECT count(*) FROM chat_messages"), 2);
  EXPECT_EQ(client.send_json("GET", "/api/conversations", nullptr, token).body["conversations"].size(), 1u);
  EXPECT_EQ(client.send("GET", "/ready").body["checks"]["database"]["status"], "up");
}

// ---- bookmcp going away, and stop ------------------------------------------------------------

TEST(ChatBackendFaults, BookmcpDownIsAClearErrorAndNothingIsStored) {
  bookmcp_under_test book({}, /*with_book=*/false);
  chat_setup s;
  s.mcp_url = book.ws_url();
  s.secret_file = book.secret_file().string();
  chat_under_test chat(s);
  chat_client client(chat.url());
  const std::string token = client.open_session()["access_token"];
  book.stop();
  const auto events = client.chat(token, chat_body("what is a robot?"));
  ASSERT_FALSE(events.empty());
  EXPECT_EQ(events.back().type, "error");
  EXPECT_EQ(events.back().data["code"], "bookmcp_unavailable");
  EXPECT_EQ(client.send_json("GET", "/api/conversations", nullptr, token).body["conversations"].size(), 0u);
  const http_answer ready = client.send("GET", "/ready");
  EXPECT_EQ(ready.status, 503);
  EXPECT_EQ(ready.body["overall_status"], "unhealthy");
  EXPECT_EQ(ready.body["checks"]["bookmcp"]["status"], "down");
}

// A search_book that waits until it is cancelled, and says whether it was.
struct slow_search {
  std::atomic<int> started{0};
  std::atomic<int> cancelled{0};
  void install(mcp::server& server) {
    mcp::tool_definition tool;
    tool.name = "search_book";
    tool.description = "waits until cancelled";
    tool.input_schema = {{"type", "object"}, {"properties", {{"query", {{"type", "string"}}}, {"limit", {{"type", "integer"}}}}}};
    tool.handler = [this](mcp::tool_context& context, const json&) {
      ++started;
      // Waits for the stop itself; 30 s is only a hang guard.
      for (int i = 0; i < 3000 && !context.cancelled(); ++i) std::this_thread::sleep_for(std::chrono::milliseconds(10));
      if (context.cancelled()) ++cancelled;
      return mcp::tool_result::text("late");
    };
    server.add_tool(std::move(tool));
  }
};

// bookmcp (without the book) whose search_book is a slow_search, and the chat backend in front
// of it over WebSocket; `adjust` may change the chat's setup first.
struct slow_search_chat {
  slow_search search;
  bookmcp_under_test book{[this](mcp::server& server) { search.install(server); }, /*with_book=*/false};
  chat_under_test chat;
  explicit slow_search_chat(const std::function<void(chat_setup&)>& adjust = {}) : chat(setup(book, adjust)) {}

 private:
  static chat_setup setup(const bookmcp_under_test& book, const std::function<void(chat_setup&)>& adjust) {
    chat_setup s;
    s.mcp_url = book.ws_url();
    s.secret_file = book.secret_file().string();
    if (adjust) adjust(s);
    return s;
  }
};

TEST(ChatBackendFaults, StopCancelsTheMcpCallOnBookmcpsSideAndKeepsThePartialAnswer) {
  slow_search_chat under_test;
  auto& [search, book, chat] = under_test;
  chat_client client(chat.url());
  const std::string token = client.open_session()["access_token"];
  std::string message_id;
  std::thread stopper;
  const auto events = client.chat(token, chat_body("what is a robot?"), [&](const sse_item& event) {
    if (event.type == "meta") message_id = event.data["message_id"];
    if (event.type == "tool_call") {
      stopper = std::thread([&client, &token, message_id] {
        EXPECT_EQ(client.send("POST", "/api/chat/" + message_id + "/cancel", "", {{"Authorization", "Bearer " + token}}).status, 202);
      });
    }
    return true;
  });
  stopper.join();
  ASSERT_FALSE(events.empty());
  EXPECT_EQ(events.back().type, "done");
  EXPECT_EQ(events.back().data["finish_reason"], "cancelled");
  // On bookmcp's side: the call ended as cancelled (while it ran, or before it began).
  EXPECT_TRUE(bookmcp::testing::eventually([&] { return book.calls_finished("search_book", "cancelled") == 1; }))
      << "bookmcp saw no cancellation (the tool started " << search.started.load() << " times)";
  EXPECT_TRUE(bookmcp::testing::eventually([&] { return search.started.load() == search.cancelled.load(); }))
      << "a call that started ran to its end";
  const json list = client.send_json("GET", "/api/conversations", nullptr, token).body;
  ASSERT_EQ(list["conversations"].size(), 1u);
  const json full = client.send_json("GET", "/api/conversations/" + list["conversations"][0]["id"].get<std::string>(), nullptr, token).body;
  EXPECT_EQ(full["messages"][1]["finish_reason"], "cancelled");
}

// One answer is followed by a few streams at once (the one that asked; resumes after a drop or a
// reload), not by any number: past max_streams_per_answer a resume is refused at once (429)
// instead of being held until the answer ends, and the streams that end give their places back.
TEST(ChatBackendFaults, AnAnswerIsOpenInAtMostAFewStreamsAtOnce) {
  slow_search_chat under_test([](chat_setup& s) { s.max_streams_per_answer = 3; });
  chat_client client(under_test.chat.url());
  const std::string token = client.open_session()["access_token"];
  const std::vector<std::pair<std::string, std::string>> as_reader = {{"Authorization", "Bearer " + token}};

  std::mutex mutex;
  std::string message_id;
  std::atomic<int> open{0};
  std::vector<std::thread> streams;
  streams.emplace_back([&] {
    client.chat(token, chat_body("what is a robot?"), [&](const sse_item& event) {
      if (event.type == "meta") {
        std::lock_guard lock(mutex);
        message_id = event.data["message_id"];
      }
      if (event.type == "tool_call") ++open;  // the search is running: the answer waits on it
      return true;
    });
  });
  ASSERT_TRUE(bookmcp::testing::eventually([&] { return open.load() == 1; }));
  const std::string id = [&] {
    std::lock_guard lock(mutex);
    return message_id;
  }();
  const std::string events = "/api/chat/" + id + "/events";
  for (int i = 0; i < 2; ++i) {
    streams.emplace_back([&] {
      bool counted = false;
      client.stream("GET", events, "", as_reader, [&](const sse_item&) {
        if (!counted) ++open;
        counted = true;
        return true;
      }, nullptr);
    });
  }
  ASSERT_TRUE(bookmcp::testing::eventually([&] { return open.load() == 3; }));

  int status = 0;
  const auto refused = client.stream("GET", events, "", as_reader, [](const sse_item&) { return true; }, &status);
  EXPECT_EQ(status, 429);
  ASSERT_EQ(refused.size(), 1u);
  EXPECT_EQ(refused[0].data["error"]["code"], "too_many_streams") << refused[0].data.dump();

  EXPECT_EQ(client.send("POST", "/api/chat/" + id + "/cancel", "", as_reader).status, 202);
  for (auto& stream : streams) stream.join();
  // All three ended: a resume is served again (the finished answer, replayed).
  const auto replay = client.stream("GET", events, "", as_reader, [](const sse_item&) { return true; }, &status);
  EXPECT_EQ(status, 200);
  ASSERT_FALSE(replay.empty());
  EXPECT_EQ(replay.back().type, "done");
}

TEST(ChatBackendFaults, ClosingTheStreamStopsTheAnswerWhenNoOneResumesIt) {
  slow_search_chat under_test([](chat_setup& s) { s.orphan_grace = std::chrono::milliseconds(0); });
  auto& [search, book, chat] = under_test;
  chat_client client(chat.url());
  const std::string token = client.open_session()["access_token"];
  client.chat(token, chat_body("what is a robot?"), [](const sse_item& event) { return event.type != "tool_call"; });
  EXPECT_TRUE(bookmcp::testing::eventually([&] { return book.calls_finished("search_book", "cancelled") == 1; }))
      << "the reader went away but the MCP call went on (it started " << search.started.load() << " times)";
  EXPECT_TRUE(bookmcp::testing::eventually([&] { return search.started.load() == search.cancelled.load(); }))
      << "a call that started ran to its end";
}

}  // namespace
}  // namespace bookmcp::chat::testing

namespace bookmcp::chat::testing {
namespace {

// A fresh P-256 key: {private PEM, public PEM}.
std::pair<std::string, std::string> p256_key_pair() {
  EVP_PKEY* key = EVP_EC_gen("P-256");
  auto pem = [&](bool private_half) {
    BIO* out = BIO_new(BIO_s_mem());
    if (private_half) {
      PEM_write_bio_PrivateKey(out, key, nullptr, nullptr, 0, nullptr, nullptr);
    } else {
      PEM_write_bio_PUBKEY(out, key);
    }
    char* data = nullptr;
    const long length = BIO_get_mem_data(out, &data);
    std::string text(data, static_cast<std::size_t>(length));
    BIO_free(out);
    return text;
  };
  auto pair = std::make_pair(pem(true), pem(false));
  EVP_PKEY_free(key);
  return pair;
}

TEST(ChatBackendKeys, WithAPrivateKeyTheBackendSignsEs256TokensThatBookmcpVerifiesWithThePublicKey) {
  const auto [private_pem, public_pem] = p256_key_pair();
  bookmcp_under_test book({}, /*with_book=*/true, public_pem);
  temporary_folder folder;
  const std::string key_file = (folder.path() / "mcp-key.pem").string();
  std::ofstream(key_file) << private_pem;
  chat_setup s;
  s.mcp_url = book.ws_url();
  s.private_key_file = key_file;
  chat_under_test chat(s);
  chat_client client(chat.url());
  const json reader = client.open_session();
  const auto events = client.chat(reader["access_token"], chat_body("add a todo: read the sensors chapter"));
  ASSERT_EQ(events.back().type, "done") << events.back().data.dump();
  EXPECT_EQ(book.call_as(reader["reader_id"], "todo_list", json::object())["structuredContent"]["todos"].size(), 1u);
}

TEST(ChatBackendKeys, ATokenBookmcpDoesNotTrustIsAClearError) {
  const auto [private_pem, public_pem] = p256_key_pair();
  const auto [other_private, other_public] = p256_key_pair();
  bookmcp_under_test book({}, /*with_book=*/false, public_pem);
  temporary_folder folder;
  const std::string key_file = (folder.path() / "wrong-key.pem").string();
  std::ofstream(key_file) << other_private;
  chat_setup s;
  s.mcp_url = book.ws_url();
  s.private_key_file = key_file;
  chat_under_test chat(s);
  chat_client client(chat.url());
  const auto events = client.chat(client.open_session()["access_token"], chat_body("what is a robot?"));
  ASSERT_EQ(events.back().type, "error");
  EXPECT_EQ(events.back().data["code"], "bookmcp_unavailable");
  EXPECT_NE(events.back().data["message"].get<std::string>().find("401"), std::string::npos) << events.back().data.dump();
}

TEST(ChatBackendFaultsMidAnswer, BookmcpGoingAwayDuringACallIsAnErrorAndNothingIsStored) {
  std::atomic<int> started{0};
  auto book = std::make_unique<bookmcp_under_test>(
      [&](mcp::server& server) {
        mcp::tool_definition tool;
        tool.name = "search_book";
        tool.input_schema = {{"type", "object"}};
        tool.handler = [&](mcp::tool_context& context, const json&) {
          ++started;
          for (int i = 0; i < 3000 && !context.cancelled(); ++i) std::this_thread::sleep_for(std::chrono::milliseconds(10));
          return mcp::tool_result::text("late");
        };
        server.add_tool(std::move(tool));
      },
      /*with_book=*/false);
  chat_setup s;
  s.mcp_url = book->ws_url();
  s.secret_file = book->secret_file().string();
  chat_under_test chat(s);
  chat_client client(chat.url());
  const std::string token = client.open_session()["access_token"];
  std::thread stopper;
  const auto events = client.chat(token, chat_body("what is a robot?"), [&](const sse_item& event) {
    if (event.type == "tool_call") stopper = std::thread([&] { book->stop(); });
    return true;
  });
  stopper.join();
  ASSERT_FALSE(events.empty());
  EXPECT_EQ(events.back().type, "error");
  EXPECT_EQ(events.back().data["code"], "bookmcp_unavailable");
  EXPECT_EQ(client.send_json("GET", "/api/conversations", nullptr, token).body["conversations"].size(), 0u);
}

}  // namespace
}  // namespace bookmcp::chat::testing
