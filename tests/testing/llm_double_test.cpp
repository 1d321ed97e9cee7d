// The LLM test double (tests/testing/llm_double.hpp) driven over loopback by the chat backend's
// own HTTP client (rag::http_client, streaming its answers through `on_body`) and read with the
// backend's own readers (chat::sse_reader, chat::completion_stream): the computed answers, every
// provider style, pacing, scripted replies, the thought-signature round trip, the request checks,
// usage, and the standalone program. Times are only ever bounded from below.
#include "tests/testing/llm_double.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <exception>
#include <nlohmann/json.hpp>
#include <optional>
#include <set>
#include <stop_token>
#include <string>
#include <thread>
#include <vector>

#include "examples/chat/completion_stream.hpp"
#include "examples/chat/sse_reader.hpp"
#include "rag/http_client.hpp"
#include "tests/testing/program_run.hpp"

namespace bookmcp::testing {

// Test names and failure messages say "gemini", not "4-byte object <01-00 00-00>".
void PrintTo(llm_style style, std::ostream* out) {
  *out << llm_style_name(style);
}

namespace {

using json = nlohmann::json;
using namespace std::chrono_literals;
using clock_type = std::chrono::steady_clock;

constexpr std::string_view model = "bookmcp-llm-double";
constexpr llm_style all_styles[] = {llm_style::openai, llm_style::gemini, llm_style::ollama,
                                    llm_style::vllm};

json function_tool(std::string_view name) {
  return {{"type", "function"},
          {"function",
           {{"name", name},
            {"description", "a tool"},
            {"parameters", {{"type", "object"}, {"properties", json::object()}}}}}};
}

json book_tools() {
  return json::array({function_tool("search_book"), function_tool("todo_add")});
}

json user(std::string_view text) {
  return {{"role", "user"}, {"content", text}};
}

// A request as the backend sends it (llm_client::complete).
json chat_body(json messages, json tools = book_tools(), bool include_usage = true) {
  json body = {{"model", model}, {"messages", std::move(messages)}, {"stream", true}};
  if (!tools.empty()) body["tools"] = std::move(tools);
  if (include_usage) body["stream_options"] = {{"include_usage", true}};
  return body;
}

// The backend's presentation of search_book's hits to the model (chat_engine.cpp, run_llm).
std::string search_result_text() {
  return "[1] Control \u203a PID controllers (https://book.example/control/pid#pid)\n"
         "A **PID** controller sums three terms. The proportional term reacts to the error now.\n"
         "\n"
         "[2] Control \u203a Tuning (https://book.example/control/tuning#tuning)\n"
         "Tune **PID** gains one at a time.\n\n";
}

// One streamed exchange, as llm_client::complete reads it.
struct exchange {
  rag::http_response response;
  std::vector<std::string> data;              // every event's data, in order
  std::vector<clock_type::time_point> times;  // when each event arrived
  chat::completion_result result;
  std::string stream_error;  // what completion_stream or sse_reader refused, if anything
  std::optional<rag::http_error::kind> transport_error;
  clock_type::time_point started;
};

exchange send(rag::http_client& client, const std::string& body,
              std::vector<std::pair<std::string, std::string>> headers = {},
              std::string target = "/chat/completions", std::stop_token stop = {}) {
  exchange out;
  chat::sse_reader reader;
  chat::completion_stream answer;
  rag::http_request request;
  request.target = std::move(target);
  request.body = body;
  request.timeout = 20s;
  request.headers = {{"Content-Type", "application/json"}, {"Accept", "text/event-stream"}};
  for (auto& header : headers) request.headers.push_back(std::move(header));
  request.on_body = [&](std::string_view piece) {
    if (!out.stream_error.empty()) return;
    try {
      for (const auto& event : reader.feed(piece)) {
        out.data.push_back(event.data);
        out.times.push_back(clock_type::now());
        answer.take(event.data);
      }
    } catch (const std::exception& error) {
      out.stream_error = error.what();
    }
  };
  out.started = clock_type::now();
  try {
    out.response = client.send(request, stop);
  } catch (const rag::http_error& error) {
    out.transport_error = error.error_kind();
  }
  out.result = answer.result();
  return out;
}

exchange send(rag::http_client& client, const json& body,
              std::vector<std::pair<std::string, std::string>> headers = {}) {
  return send(client, body.dump(), std::move(headers));
}

// A request read whole (no streaming).
rag::http_response call(rag::http_client& client, std::string method, std::string target,
                        std::string body = {},
                        std::vector<std::pair<std::string, std::string>> headers = {}) {
  rag::http_request request;
  request.method = std::move(method);
  request.target = std::move(target);
  request.body = std::move(body);
  request.timeout = 20s;
  request.headers = std::move(headers);
  const bool typed = std::any_of(request.headers.begin(), request.headers.end(),
                                 [](const auto& header) { return header.first == "Content-Type"; });
  if (!request.body.empty() && !typed)
    request.headers.emplace_back("Content-Type", "application/json");
  return client.send(request);
}

json json_of(const std::string& data) {
  return json::parse(data, nullptr, false);
}

// The chunks of a streamed exchange (its data but "[DONE]"), parsed.
std::vector<json> chunks_of(const exchange& got) {
  std::vector<json> out;
  for (const auto& data : got.data)
    if (data != "[DONE]") out.push_back(json_of(data));
  return out;
}

// The chunks that carry a choice (not the usage chunk).
std::vector<json> choice_chunks(const exchange& got) {
  std::vector<json> out;
  for (auto& chunk : chunks_of(got))
    if (chunk["choices"].is_array() && !chunk["choices"].empty()) out.push_back(std::move(chunk));
  return out;
}

void expect_openai_error(const rag::http_response& response, int status,
                         std::string_view param = {}) {
  EXPECT_EQ(response.status, status) << response.body;
  const json body = json_of(response.body);
  ASSERT_TRUE(body.is_object() && body.contains("error")) << response.body;
  EXPECT_TRUE(body["error"]["message"].is_string());
  EXPECT_TRUE(body["error"]["type"].is_string());
  EXPECT_TRUE(body["error"].contains("code"));
  EXPECT_TRUE(body["error"].contains("param"));
  if (!param.empty()) {
    EXPECT_EQ(body["error"]["param"], param) << response.body;
  }
}

// ---- the computed answers -------------------------------------------------------------------

TEST(LlmDoubleAnswer, AReaderQuestionCallsSearchBookWithItsText) {
  const auto answer =
      llm_double::answer_for(chat_body({user("  What does the I term of a PID do?  ")}).dump());
  EXPECT_EQ(answer.rule, "search");
  EXPECT_TRUE(answer.text.empty());
  ASSERT_EQ(answer.tool_calls.size(), 1u);
  EXPECT_EQ(answer.tool_calls[0].name, "search_book");
  EXPECT_EQ(json::parse(answer.tool_calls[0].arguments),
            json({{"query", "What does the I term of a PID do?"}}));
  EXPECT_TRUE(answer.tool_calls[0].id.starts_with("call_"));
  EXPECT_EQ(answer.tool_calls[0].id.size(), 5u + 24u);
  EXPECT_TRUE(answer.tool_calls[0].thought_signature.empty());
}

TEST(LlmDoubleAnswer, TheQueryIsCutAtTwoHundredCharactersNeverInsideOne) {
  std::string question;
  for (int i = 0; i < 150; ++i) question += "\u00e9a";  // 300 characters, 450 bytes
  const auto answer = llm_double::answer_for(chat_body({user(question)}).dump());
  ASSERT_EQ(answer.tool_calls.size(), 1u);
  const std::string query = json::parse(answer.tool_calls[0].arguments)["query"];
  std::string expected;
  for (int i = 0; i < 100; ++i) expected += "\u00e9a";
  EXPECT_EQ(query, expected);
}

TEST(LlmDoubleAnswer, TodoRequestsCallTodoAddWithTheTitle) {
  struct case_type {
    std::string text;
    std::vector<std::string> titles;
  };
  const std::vector<case_type> cases = {
      {"Remind me to review chapter 3", {"review chapter 3"}},
      {"remind me to review chapter 3 tomorrow.", {"review chapter 3"}},
      {"Add a todo: read the PID section by Friday", {"read the PID section"}},
      {"add todo: redo exercise 2 on 2025-06-01", {"redo exercise 2"}},
      {"todo: read the chapter on tuning", {"read the chapter on tuning"}},
      {"Add flashcards for chapter 2 to my list!", {"flashcards for chapter 2"}},
      {"add the quiz to my todo list", {"the quiz"}},
      {"remind me to read 4.1; redo 4.2 next week;  ", {"read 4.1", "redo 4.2"}},
  };
  for (const auto& [text, titles] : cases) {
    const auto answer = llm_double::answer_for(chat_body({user(text)}).dump());
    EXPECT_EQ(answer.rule, "todo") << text;
    ASSERT_EQ(answer.tool_calls.size(), titles.size()) << text;
    for (std::size_t i = 0; i < titles.size(); ++i) {
      EXPECT_EQ(answer.tool_calls[i].name, "todo_add");
      EXPECT_EQ(json::parse(answer.tool_calls[i].arguments), json({{"title", titles[i]}})) << text;
    }
  }
  // Without todo_add offered, a todo request is a question for the book.
  const auto searched =
      llm_double::answer_for(chat_body({user("remind me to review chapter 3")},
                                       json::array({function_tool("search_book")}))
                                 .dump());
  EXPECT_EQ(searched.rule, "search");
}

TEST(LlmDoubleAnswer, WithoutToolsItEchoes) {
  EXPECT_EQ(llm_double::answer_for(chat_body({user("hello")}, json::array()).dump()).text,
            "You said: hello");
  json body = chat_body({user("hello")});
  body["tool_choice"] = "none";
  const auto answer = llm_double::answer_for(body.dump());
  EXPECT_EQ(answer.rule, "echo");
  EXPECT_EQ(answer.text, "You said: hello");
  // Text parts are joined.
  json parts = {{"role", "user"},
                {"content", json::array({{{"type", "text"}, {"text", "a"}},
                                         {{"type", "text"}, {"text", "b"}}})}};
  EXPECT_EQ(llm_double::answer_for(chat_body({parts}, json::array()).dump()).text,
            "You said: a\nb");
}

// The messages of a turn after one call, with its result.
json after_call(const llm_answer& asked, const std::vector<std::string>& results) {
  json calls = json::array();
  for (const auto& call : asked.tool_calls) {
    json sent = {{"id", call.id},
                 {"type", "function"},
                 {"function", {{"name", call.name}, {"arguments", call.arguments}}}};
    if (!call.thought_signature.empty())
      sent["extra_content"] = {{"google", {{"thought_signature", call.thought_signature}}}};
    calls.push_back(sent);
  }
  json messages =
      json::array({{{"role", "system"}, {"content", "You are a reading assistant."}},
                   user("What is a PID controller?"),
                   {{"role", "assistant"}, {"content", nullptr}, {"tool_calls", calls}}});
  for (std::size_t i = 0; i < asked.tool_calls.size(); ++i)
    messages.push_back(
        {{"role", "tool"}, {"tool_call_id", asked.tool_calls[i].id}, {"content", results[i]}});
  return messages;
}

TEST(LlmDoubleAnswer, SearchResultsGiveProseCitingTheSections) {
  const auto asked = llm_double::answer_for(chat_body({user("What is a PID controller?")}).dump());
  const auto answer =
      llm_double::answer_for(chat_body(after_call(asked, {search_result_text()})).dump());
  EXPECT_EQ(answer.rule, "tool_results");
  EXPECT_TRUE(answer.tool_calls.empty());
  EXPECT_EQ(answer.text,
            "According to the book, \"A PID controller sums three terms.\" [1]. See also "
            "Control \u203a Tuning [2].");
  // One hit only, a snippet without a full stop, an ellipsis at its start.
  const auto single = llm_double::answer_for(
      chat_body(
          after_call(asked, {"[4] Sensors (https://b.example/s)\n\u2026the **IMU** drifts\n"}))
          .dump());
  EXPECT_EQ(single.text, "According to the book, \"the IMU drifts\" [4].");
  const auto nothing = llm_double::answer_for(
      chat_body(after_call(asked, {"No section of the book matches.\n"})).dump());
  EXPECT_EQ(nothing.text, "I couldn't find that in the book.");
}

TEST(LlmDoubleAnswer, OtherResultsAndErrorsAreReported) {
  const auto asked =
      llm_double::answer_for(chat_body({user("remind me to read 4.1; redo 4.2")}).dump());
  ASSERT_EQ(asked.tool_calls.size(), 2u);
  const auto answer = llm_double::answer_for(
      chat_body(after_call(asked, {"Added todo #7: read 4.1\n{\"id\":7}",
                                   "Error: the todo store is not reachable\nretry later"}))
          .dump());
  EXPECT_EQ(answer.text,
            "Done: Added todo #7: read 4.1\n\nThe tool todo_add failed: the todo store is not "
            "reachable");
}

TEST(LlmDoubleAnswer, IdsAndSignaturesFollowTheStyleAndTheRequest) {
  const std::string body = chat_body({user("What is a PID controller?")}).dump();
  const auto gemini = llm_double::answer_for(body, llm_style::gemini);
  ASSERT_EQ(gemini.tool_calls.size(), 1u);
  const auto& call = gemini.tool_calls[0];
  EXPECT_TRUE(call.id.starts_with("function-call-"));
  EXPECT_EQ(call.thought_signature,
            llm_double::thought_signature(call.id, call.name, call.arguments));
  EXPECT_EQ(call.thought_signature.size(), 44u);  // base64 of 32 bytes
  EXPECT_TRUE(
      llm_double::answer_for(body, llm_style::vllm).tool_calls[0].id.starts_with("chatcmpl-tool-"));
  EXPECT_EQ(llm_double::answer_for(body, llm_style::ollama).tool_calls[0].id.size(), 5u + 8u);
  // Deterministic for a request, different for another.
  EXPECT_EQ(llm_double::answer_for(body).tool_calls[0].id,
            llm_double::answer_for(body).tool_calls[0].id);
  EXPECT_NE(llm_double::answer_for(body).tool_calls[0].id,
            llm_double::answer_for(chat_body({user("And a PD one?")}).dump()).tool_calls[0].id);
  EXPECT_THROW(llm_double::answer_for("{}"), std::invalid_argument);
  EXPECT_THROW(llm_double::answer_for("not json"), std::invalid_argument);
}

// ---- streams in every style -----------------------------------------------------------------

class LlmDoubleStyles : public ::testing::TestWithParam<llm_style> {};

INSTANTIATE_TEST_SUITE_P(AllStyles, LlmDoubleStyles, ::testing::ValuesIn(all_styles),
                         [](const auto& info) { return std::string(llm_style_name(info.param)); });

TEST_P(LlmDoubleStyles, TextStreamsInPiecesWithRoleFinishUsageAndDoneLast) {
  llm_double double_server({.style = GetParam(), .piece_chars = 3});
  rag::http_client client(double_server.base_url());
  const json body = chat_body({user("Hello there, double")}, json::array());
  const auto got = send(client, body);
  ASSERT_FALSE(got.transport_error);
  ASSERT_EQ(got.response.status, 200);
  EXPECT_TRUE(got.response.content_type.starts_with("text/event-stream"));
  EXPECT_TRUE(got.stream_error.empty()) << got.stream_error;
  EXPECT_EQ(got.result.text, "You said: Hello there, double");
  EXPECT_EQ(got.result.text, llm_double::answer_for(body.dump(), GetParam()).text);
  EXPECT_EQ(got.result.finish_reason, "stop");
  EXPECT_TRUE(got.result.done);
  EXPECT_FALSE(got.result.wants_tools());
  ASSERT_FALSE(got.data.empty());
  EXPECT_EQ(got.data.back(), "[DONE]");

  const auto chunks = choice_chunks(got);
  const std::size_t pieces = (got.result.text.size() + 2) / 3;
  ASSERT_EQ(chunks.size(), pieces);
  for (std::size_t i = 0; i < chunks.size(); ++i) {
    const json& chunk = chunks[i];
    EXPECT_EQ(chunk["object"], "chat.completion.chunk");
    EXPECT_TRUE(chunk["id"].is_string() && chunk["id"].get<std::string>().starts_with("chatcmpl-"));
    EXPECT_TRUE(chunk["created"].is_number_integer());
    EXPECT_EQ(chunk["model"], model);
    const json& choice = chunk["choices"][0];
    EXPECT_EQ(choice["index"], 0);
    EXPECT_LE(choice["delta"]["content"].get<std::string>().size(), 3u);
    EXPECT_EQ(choice["delta"].contains("role"), i == 0) << chunk;
    if (i == 0) {
      EXPECT_EQ(choice["delta"]["role"], "assistant");
    }
    EXPECT_EQ(choice["finish_reason"], i + 1 == pieces ? json("stop") : json(nullptr));
  }
  // The usage chunk, just before [DONE].
  const json usage_chunk = json_of(got.data[got.data.size() - 2]);
  if (GetParam() == llm_style::vllm) {
    EXPECT_TRUE(usage_chunk["choices"].is_null()) << usage_chunk;
  } else {
    EXPECT_EQ(usage_chunk["choices"], json::array());
  }
  ASSERT_TRUE(got.result.usage);
  EXPECT_EQ((*got.result.usage)["completion_tokens"], pieces);
  EXPECT_EQ((*got.result.usage)["prompt_tokens"], std::string("Hello there, double").size() / 4);
  EXPECT_EQ((*got.result.usage)["total_tokens"],
            pieces + std::string("Hello there, double").size() / 4);
}

TEST_P(LlmDoubleStyles, NoUsageChunkUnlessAskedFor) {
  llm_double double_server({.style = GetParam()});
  rag::http_client client(double_server.base_url());
  const auto got = send(client, chat_body({user("hi")}, json::array(), false));
  ASSERT_EQ(got.response.status, 200);
  EXPECT_FALSE(got.result.usage);
  for (const auto& chunk : chunks_of(got)) {
    EXPECT_TRUE(chunk["choices"].is_array() && !chunk["choices"].empty()) << chunk;
    EXPECT_FALSE(chunk.contains("usage")) << chunk;
  }
  EXPECT_EQ(got.data.back(), "[DONE]");
}

TEST_P(LlmDoubleStyles, ASearchCallIsReadByTheBackendsReader) {
  const llm_style style = GetParam();
  llm_double double_server({.style = style, .piece_chars = 5});
  rag::http_client client(double_server.base_url());
  const json body = chat_body({user("What is a PID controller?")});
  const auto got = send(client, body);
  ASSERT_EQ(got.response.status, 200) << got.response.body;
  EXPECT_TRUE(got.stream_error.empty()) << got.stream_error;
  ASSERT_TRUE(got.result.done);
  ASSERT_TRUE(got.result.wants_tools());
  ASSERT_EQ(got.result.tool_calls.size(), 1u);
  const auto expected = llm_double::answer_for(body.dump(), style);
  const auto& call = got.result.tool_calls[0];
  EXPECT_EQ(call.id, expected.tool_calls[0].id);
  EXPECT_EQ(call.name, "search_book");
  EXPECT_TRUE(call.arguments_valid());
  EXPECT_EQ(json::parse(call.arguments), json({{"query", "What is a PID controller?"}}));
  EXPECT_TRUE(got.result.text.empty());

  const auto chunks = choice_chunks(got);
  const bool openai_like = style == llm_style::openai || style == llm_style::vllm;
  EXPECT_EQ(got.result.finish_reason, openai_like ? "tool_calls" : "stop");
  if (openai_like) {
    // The name first with empty arguments, then the arguments in several pieces, all index 0.
    ASSERT_GT(chunks.size(), 3u);
    const json first = chunks[0]["choices"][0]["delta"]["tool_calls"][0];
    EXPECT_EQ(first["index"], 0);
    EXPECT_EQ(first["id"], call.id);
    EXPECT_EQ(first["function"]["name"], "search_book");
    EXPECT_EQ(first["function"]["arguments"], "");
    for (std::size_t i = 1; i < chunks.size(); ++i) {
      const json fragment = chunks[i]["choices"][0]["delta"]["tool_calls"][0];
      EXPECT_EQ(fragment["index"], 0);
      EXPECT_FALSE(fragment.contains("id"));
    }
  } else {
    ASSERT_EQ(chunks.size(), 1u);
    const json fragment = chunks[0]["choices"][0]["delta"]["tool_calls"][0];
    EXPECT_EQ(fragment["function"]["arguments"], expected.tool_calls[0].arguments);
    EXPECT_EQ(fragment.contains("index"), style == llm_style::ollama) << fragment;
  }
  if (style == llm_style::gemini) {
    EXPECT_EQ(call.extra["extra_content"]["google"]["thought_signature"],
              llm_double::thought_signature(call.id, call.name, call.arguments));
    EXPECT_EQ(call.as_request()["extra_content"]["google"]["thought_signature"],
              expected.tool_calls[0].thought_signature);
  } else {
    EXPECT_FALSE(call.extra.contains("extra_content"));
  }
}

TEST_P(LlmDoubleStyles, ParallelCallsAreToldApart) {
  const llm_style style = GetParam();
  llm_double double_server({.style = style});
  rag::http_client client(double_server.base_url());
  const json body = chat_body({user("remind me to read 4.1; redo exercise 4.2")});
  const auto got = send(client, body);
  ASSERT_EQ(got.response.status, 200);
  ASSERT_EQ(got.result.tool_calls.size(), 2u);
  const auto expected = llm_double::answer_for(body.dump(), style);
  EXPECT_NE(got.result.tool_calls[0].id, got.result.tool_calls[1].id);
  for (std::size_t i = 0; i < 2; ++i) {
    EXPECT_EQ(got.result.tool_calls[i].id, expected.tool_calls[i].id);
    EXPECT_EQ(got.result.tool_calls[i].name, "todo_add");
    EXPECT_EQ(got.result.tool_calls[i].arguments, expected.tool_calls[i].arguments);
  }
  std::set<json> indexes;
  for (const auto& chunk : choice_chunks(got))
    for (const auto& fragment : chunk["choices"][0]["delta"]["tool_calls"])
      indexes.insert(fragment.contains("index") ? fragment["index"] : json("none"));
  if (style == llm_style::ollama) {
    EXPECT_EQ(indexes, std::set<json>({json(0)}));
  } else if (style == llm_style::gemini) {
    EXPECT_EQ(indexes, std::set<json>({json("none")}));
  } else {
    EXPECT_EQ(indexes, std::set<json>({json(0), json(1)}));
  }
}

TEST_P(LlmDoubleStyles, AWholeTurnEndsInProseCitingTheResults) {
  const llm_style style = GetParam();
  llm_double double_server({.style = style});
  rag::http_client client(double_server.base_url());
  json messages = json::array({{{"role", "system"}, {"content", "Answer from the book."}},
                               user("What is a PID controller?")});
  const auto first = send(client, chat_body(messages));
  ASSERT_EQ(first.result.tool_calls.size(), 1u);
  // What run_llm sends back: the assistant message with its calls as received, then the result.
  json assistant = {{"role", "assistant"}, {"content", nullptr}, {"tool_calls", json::array()}};
  for (const auto& call : first.result.tool_calls)
    assistant["tool_calls"].push_back(call.as_request());
  messages.push_back(assistant);
  messages.push_back({{"role", "tool"},
                      {"tool_call_id", first.result.tool_calls[0].id},
                      {"content", search_result_text()}});
  const auto second = send(client, chat_body(messages));
  ASSERT_EQ(second.response.status, 200) << second.response.body;
  EXPECT_FALSE(second.result.wants_tools());
  EXPECT_EQ(second.result.text,
            "According to the book, \"A PID controller sums three terms.\" [1]. See also "
            "Control \u203a Tuning [2].");
  EXPECT_EQ(second.result.finish_reason, "stop");
  EXPECT_EQ(double_server.requests(), 2u);
  EXPECT_EQ(client.connections_opened(), 1u);  // kept alive between the two streams
}

TEST_P(LlmDoubleStyles, NotStreamedTheSameAnswerComesAsOneCompletion) {
  const llm_style style = GetParam();
  llm_double double_server({.style = style});
  rag::http_client client(double_server.base_url());
  json body = chat_body({user("What is a PID controller?")}, book_tools(), false);
  body["stream"] = false;
  const auto response = call(client, "POST", "/chat/completions", body.dump());
  ASSERT_EQ(response.status, 200) << response.body;
  EXPECT_TRUE(response.content_type.starts_with("application/json"));
  const json completion = json_of(response.body);
  EXPECT_EQ(completion["object"], "chat.completion");
  EXPECT_EQ(completion["model"], model);
  const json& choice = completion["choices"][0];
  EXPECT_EQ(choice["finish_reason"], "tool_calls");
  EXPECT_EQ(choice["message"]["role"], "assistant");
  EXPECT_TRUE(choice["message"]["content"].is_null());
  const auto expected = llm_double::answer_for(body.dump(), style);
  EXPECT_EQ(choice["message"]["tool_calls"][0]["id"], expected.tool_calls[0].id);
  EXPECT_EQ(choice["message"]["tool_calls"][0]["function"]["arguments"],
            expected.tool_calls[0].arguments);
  EXPECT_TRUE(completion["usage"]["prompt_tokens"].is_number_integer());

  body.erase("tools");
  body.erase("stream");  // absent means not streamed
  const json echo = json_of(call(client, "POST", "/chat/completions", body.dump()).body);
  EXPECT_EQ(echo["choices"][0]["message"]["content"], "You said: What is a PID controller?");
  EXPECT_EQ(echo["choices"][0]["finish_reason"], "stop");
}

TEST(LlmDoubleStream, PiecesNeverSplitACharacter) {
  llm_double double_server({.piece_chars = 1});
  rag::http_client client(double_server.base_url());
  const auto got =
      send(client, chat_body({user("\u00e9t\u00e9 \u2192 \U0001F600")}, json::array()));
  ASSERT_TRUE(got.stream_error.empty()) << got.stream_error;  // every chunk parsed as JSON
  EXPECT_EQ(got.result.text, "You said: \u00e9t\u00e9 \u2192 \U0001F600");
  EXPECT_EQ(choice_chunks(got).size(), std::string("You said: ").size() + 7);
}

// ---- pacing ---------------------------------------------------------------------------------

TEST(LlmDoubleStream, EventsComeAtLeastTheTokenDelayApart) {
  constexpr auto delay = 15ms;
  llm_double double_server({.token_delay = delay, .piece_chars = 2});
  rag::http_client client(double_server.base_url());
  const auto got = send(client, chat_body({user("pace me")}, json::array()));
  ASSERT_EQ(got.response.status, 200);
  ASSERT_TRUE(got.result.done);
  // "You said: pace me" in 9 pieces, the usage chunk and [DONE]: 11 events, 10 delays.
  ASSERT_EQ(got.data.size(), 11u);
  // The last event cannot be written before 10 delays after the request was sent.
  EXPECT_GE(got.times.back() - got.started, 10 * delay);
  for (std::size_t i = 1; i < got.times.size(); ++i) EXPECT_GE(got.times[i], got.times[i - 1]);
}

TEST(LlmDoubleStream, AClientThatGoesAwayClosesItsStream) {
  llm_double double_server({.token_delay = 20ms, .piece_chars = 1});
  rag::http_client client(double_server.base_url());
  std::stop_source stop;
  std::optional<exchange> got;
  std::thread reader([&] {
    got = send(client, chat_body({user(std::string(500, 'x'))}, json::array()).dump(), {},
               "/chat/completions", stop.get_token());
  });
  EXPECT_TRUE(double_server.wait_for_open_streams(1, 10s));
  stop.request_stop();
  reader.join();
  ASSERT_TRUE(got->transport_error);
  EXPECT_EQ(*got->transport_error, rag::http_error::kind::cancelled);
  EXPECT_TRUE(double_server.wait_for_open_streams(0, 10s));
}

// ---- scripted replies -----------------------------------------------------------------------

TEST(LlmDoubleScript, RepliesAreUsedInOrderThenThePolicyAnswers) {
  llm_double double_server;
  double_server.script(llm_rate_limited_reply(2s));
  double_server.script(llm_error_reply(500, "The server had an error.", "server_error"));
  double_server.script(llm_event_stream(
      {R"({"id":"x","object":"chat.completion.chunk","created":1,"model":"m","choices":[{"index":0,"delta":{"role":"assistant","content":"scripted"},"finish_reason":"stop"}]})",
       "[DONE]"}));
  EXPECT_EQ(double_server.scripted_left(), 3u);
  rag::http_client client(double_server.base_url());
  const json body = chat_body({user("hi")}, json::array());

  const auto limited = send(client, body);
  expect_openai_error(limited.response, 429);
  EXPECT_EQ(limited.response.retry_after, "2");
  EXPECT_EQ(rag::retry_hint(limited.response), std::chrono::milliseconds(2000));
  EXPECT_TRUE(limited.data.empty());
  EXPECT_EQ(json_of(limited.response.body)["error"]["code"], "rate_limit_exceeded");

  expect_openai_error(send(client, body).response, 500);
  const auto scripted = send(client, body);
  EXPECT_EQ(scripted.result.text, "scripted");
  EXPECT_TRUE(scripted.result.done);
  EXPECT_EQ(double_server.scripted_left(), 0u);
  EXPECT_EQ(send(client, body).result.text, "You said: hi");
  EXPECT_EQ(double_server.requests(), 4u);
}

TEST(LlmDoubleScript, AnErrorObjectOrGarbageInTheStreamIsRefusedByTheReader) {
  llm_double double_server;
  double_server.script(llm_event_stream(
      {R"({"error":{"message":"The model is overloaded.","type":"server_error"}})", "[DONE]"}));
  double_server.script(llm_event_stream({"{not json", "[DONE]"}));
  rag::http_client client(double_server.base_url());
  const json body = chat_body({user("hi")});
  const auto error = send(client, body);
  EXPECT_EQ(error.response.status, 200);
  EXPECT_NE(error.stream_error.find("The model is overloaded."), std::string::npos)
      << error.stream_error;
  const auto garbage = send(client, body);
  EXPECT_NE(garbage.stream_error.find("not JSON"), std::string::npos) << garbage.stream_error;
}

TEST(LlmDoubleScript, AStreamCutMidBodyBreaksTheResponse) {
  llm_double double_server;
  const std::string piece =
      R"({"id":"x","object":"chat.completion.chunk","created":1,"model":"m","choices":[{"index":0,"delta":{"content":"half"},"finish_reason":null}]})";
  double_server.script(llm_event_stream({piece}, 0ms, llm_stream_end::cut));
  double_server.script(llm_event_stream({piece}, 0ms, llm_stream_end::close));
  rag::http_client client(double_server.base_url());
  const json body = chat_body({user("hi")});

  const auto cut = send(client, body);
  ASSERT_TRUE(cut.transport_error);
  EXPECT_EQ(*cut.transport_error, rag::http_error::kind::protocol);
  EXPECT_EQ(cut.result.text, "half");  // what came before the cut was read
  EXPECT_FALSE(cut.result.done);

  const auto closed = send(client, body);
  EXPECT_FALSE(closed.transport_error);
  EXPECT_EQ(closed.response.status, 200);
  EXPECT_EQ(closed.result.text, "half");
  EXPECT_FALSE(closed.result.done);  // a clean end, but no [DONE]
  EXPECT_TRUE(closed.result.finish_reason.empty());
  // The policy answers on a new connection.
  EXPECT_TRUE(send(client, body).result.done);
  EXPECT_TRUE(double_server.wait_for_open_streams(0, 10s));
}

TEST(LlmDoubleScript, RawPiecesSplitEventsAnywhere) {
  llm_double double_server;
  const std::string chunk =
      R"({"id":"x","object":"chat.completion.chunk","created":1,"model":"m","choices":[{"index":0,"delta":{"content":"joined"},"finish_reason":"stop"}]})";
  double_server.script(llm_raw_stream({": keep-alive comment\r\n\r\ndata: " + chunk.substr(0, 20),
                                       chunk.substr(20) + "\r", "\n\r\ndata: [DO", "NE]\n\n"},
                                      5ms));
  rag::http_client client(double_server.base_url());
  const auto got = send(client, chat_body({user("hi")}));
  EXPECT_TRUE(got.stream_error.empty()) << got.stream_error;
  EXPECT_EQ(got.result.text, "joined");
  EXPECT_TRUE(got.result.done);
  ASSERT_EQ(got.data.size(), 2u);
  EXPECT_GE(got.times.back() - got.started, 3 * 5ms);
}

TEST(LlmDoubleScript, ScriptedRepliesSkipTheChecks) {
  llm_double double_server({.api_key = "sk-double"});
  double_server.script(llm_whole_reply(503, R"({"error":{"message":"busy"}})", {{"X-Extra", "1"}}));
  rag::http_client client(double_server.base_url());
  const auto response = call(client, "POST", "/chat/completions", "not even json");
  EXPECT_EQ(response.status, 503);
  EXPECT_EQ(response.header("x-extra"), "1");
  EXPECT_EQ(double_server.last_request(), "not even json");
}

// ---- the thought signature (gemini style) ---------------------------------------------------

TEST(LlmDoubleGemini, ASignatureDroppedOrChangedIsRefused) {
  llm_double double_server({.style = llm_style::gemini});
  rag::http_client client(double_server.base_url());
  json messages = json::array({user("What is a PID controller?")});
  const auto first = send(client, chat_body(messages, book_tools(), false));
  ASSERT_EQ(first.result.tool_calls.size(), 1u);
  const auto& call = first.result.tool_calls[0];

  auto turn = [&](json sent_call) {
    json history = messages;
    history.push_back(
        {{"role", "assistant"}, {"content", nullptr}, {"tool_calls", json::array({sent_call})}});
    history.push_back(
        {{"role", "tool"}, {"tool_call_id", call.id}, {"content", search_result_text()}});
    return send(client, chat_body(history, book_tools(), false));
  };
  const auto kept = turn(call.as_request());
  EXPECT_EQ(kept.response.status, 200) << kept.response.body;
  EXPECT_TRUE(kept.result.text.starts_with("According to the book"));

  json dropped = call.as_request();
  dropped.erase("extra_content");
  const auto refused = turn(dropped);
  expect_openai_error(refused.response, 400, "messages[1].tool_calls[0].extra_content");
  EXPECT_NE(json_of(refused.response.body)["error"]["message"].get<std::string>().find(
                "thought_signature"),
            std::string::npos);

  json changed = call.as_request();
  changed["extra_content"]["google"]["thought_signature"] = "AAAA";
  expect_openai_error(turn(changed).response, 400);
  json other_arguments = call.as_request();
  other_arguments["function"]["arguments"] = R"({"query": "something else"})";
  expect_openai_error(turn(other_arguments).response, 400);

  json dummy = call.as_request();
  dummy["extra_content"]["google"]["thought_signature"] = "skip_thought_signature_validator";
  EXPECT_EQ(turn(dummy).response.status, 200);
}

TEST(LlmDoubleGemini, AnEmptyStringNextToToolCallsIsRefused) {
  for (llm_style style : all_styles) {
    llm_double double_server({.style = style});
    rag::http_client client(double_server.base_url());
    const auto asked =
        llm_double::answer_for(chat_body({user("What is a PID controller?")}).dump(), style);
    json messages = after_call(asked, {search_result_text()});
    messages[2]["content"] = "";
    const auto got = send(client, chat_body(messages));
    if (style == llm_style::gemini || style == llm_style::ollama) {
      expect_openai_error(got.response, 400, "messages[2].content");
    } else {
      EXPECT_EQ(got.response.status, 200) << got.response.body;
    }
  }
}

// ---- the request checks ---------------------------------------------------------------------

TEST(LlmDoubleChecks, TheBearerKeyIsRequiredWhenConfigured) {
  llm_double double_server({.api_key = "sk-double"});
  rag::http_client client(double_server.base_url());
  const json body = chat_body({user("hi")});
  const auto missing = send(client, body);
  expect_openai_error(missing.response, 401);
  EXPECT_EQ(json_of(missing.response.body)["error"]["code"], "invalid_api_key");
  expect_openai_error(send(client, body, {{"Authorization", "Bearer sk-wrong"}}).response, 401);
  EXPECT_EQ(send(client, body, {{"Authorization", "Bearer sk-double"}}).response.status, 200);
  expect_openai_error(call(client, "GET", "/models"), 401);
  EXPECT_EQ(call(client, "GET", "/models", {}, {{"Authorization", "Bearer sk-double"}}).status,
            200);
}

TEST(LlmDoubleChecks, BadRequestsGetOpenAIErrors) {
  llm_double double_server;
  rag::http_client client(double_server.base_url());
  auto post = [&](const std::string& body) {
    return call(client, "POST", "/chat/completions", body);
  };
  auto post_json = [&](json body) { return post(body.dump()); };
  const json good = chat_body({user("hi")});

  expect_openai_error(post("{\"model\": "), 400);
  expect_openai_error(post("[1, 2]"), 400);
  json body = good;
  body.erase("model");
  expect_openai_error(post_json(body), 400, "model");
  body = good;
  body["model"] = "gpt-4o";
  expect_openai_error(post_json(body), 404, "model");
  body = good;
  body.erase("messages");
  expect_openai_error(post_json(body), 400, "messages");
  body["messages"] = json::array();
  expect_openai_error(post_json(body), 400, "messages");
  body["messages"] = "hi";
  expect_openai_error(post_json(body), 400, "messages");
  body["messages"] = json::array({{{"role", "robot"}, {"content", "hi"}}});
  expect_openai_error(post_json(body), 400, "messages[0].role");
  body["messages"] = json::array({{{"role", "user"}}});
  expect_openai_error(post_json(body), 400, "messages[0].content");
  body = good;
  body["frobnicate"] = true;
  expect_openai_error(post_json(body), 400, "frobnicate");
  body = good;
  body["stream"] = false;
  expect_openai_error(post_json(body), 400, "stream_options");
  body = good;
  body["stream"] = "yes";
  expect_openai_error(post_json(body), 400, "stream");
  body = good;
  body["tools"] = json::array({function_tool("search book")});
  expect_openai_error(post_json(body), 400, "tools[0].function.name");
  body = good;
  body["n"] = 2;
  expect_openai_error(post_json(body), 400, "n");

  // Tool messages must answer the calls just made, and every call must be answered.
  const auto asked = llm_double::answer_for(chat_body({user("What is a PID controller?")}).dump());
  json messages = after_call(asked, {search_result_text()});
  json unanswered = messages;
  unanswered.erase(unanswered.size() - 1);
  body = good;
  body["messages"] = unanswered;
  expect_openai_error(post_json(body), 400, "messages.[2].role");
  unanswered.push_back(user("and?"));
  body["messages"] = unanswered;
  expect_openai_error(post_json(body), 400, "messages.[2].role");
  json stray =
      json::array({user("hi"), {{"role", "tool"}, {"tool_call_id", "call_1"}, {"content", "x"}}});
  body["messages"] = stray;
  expect_openai_error(post_json(body), 400, "messages[1].role");
  json null_result = messages;
  null_result.back()["content"] = nullptr;
  body["messages"] = null_result;
  expect_openai_error(post_json(body), 400, "messages[3].content");
  body["messages"] = messages;
  EXPECT_EQ(post_json(body).status, 200);

  // Content-Type, methods and paths.
  expect_openai_error(
      call(client, "POST", "/chat/completions", good.dump(), {{"Content-Type", "text/plain"}}),
      400);
  const auto get = call(client, "GET", "/chat/completions");
  expect_openai_error(get, 405);
  EXPECT_EQ(get.header("allow"), "POST");
  expect_openai_error(call(client, "POST", "/completions", good.dump()), 404);
  // Every POST to chat/completions was counted, refused ones included.
  EXPECT_EQ(double_server.requests(), 20u);
}

TEST(LlmDoubleChecks, ModelsAreListedOnBothPaths) {
  llm_double double_server({.model = "double-chat"});
  rag::http_client root("http://127.0.0.1:" + std::to_string(double_server.port()));
  for (const char* path : {"/v1/models", "/models"}) {
    const auto response = call(root, "GET", path);
    ASSERT_EQ(response.status, 200) << path;
    const json list = json_of(response.body);
    EXPECT_EQ(list["object"], "list");
    EXPECT_EQ(list["data"][0]["id"], "double-chat");
    EXPECT_EQ(list["data"][0]["object"], "model");
  }
  expect_openai_error(call(root, "POST", "/v1/models", "{}"), 405);
  // Both completion paths answer.
  json body = chat_body({user("hi")}, json::array());
  body["model"] = "double-chat";
  EXPECT_EQ(send(root, body.dump(), {}, "/v1/chat/completions").result.text, "You said: hi");
  EXPECT_EQ(send(root, body.dump(), {}, "/chat/completions").response.status, 200);
  EXPECT_EQ(double_server.requests(), 2u);
}

TEST(LlmDoubleChecks, EveryNthRequestIsRateLimited) {
  llm_double double_server({.fail_every = 3});
  rag::http_client client(double_server.base_url());
  const json body = chat_body({user("hi")});
  std::vector<int> statuses;
  for (int i = 0; i < 7; ++i) statuses.push_back(send(client, body).response.status);
  EXPECT_EQ(statuses, std::vector<int>({200, 200, 429, 200, 200, 429, 200}));
  const auto limited = send(client, body, {});  // the 8th
  EXPECT_EQ(limited.response.status, 200);
  const auto ninth = send(client, body);
  expect_openai_error(ninth.response, 429);
  EXPECT_EQ(ninth.response.retry_after, "1");
}

TEST(LlmDoubleChecks, RequestsAreRecorded) {
  llm_double double_server;
  rag::http_client client(double_server.base_url());
  EXPECT_EQ(double_server.requests(), 0u);
  EXPECT_EQ(double_server.last_request(), "");
  const std::string first = chat_body({user("one")}).dump();
  const std::string second = chat_body({user("two")}).dump();
  send(client, first);
  send(client, second);
  EXPECT_EQ(double_server.requests(), 2u);
  EXPECT_EQ(double_server.last_request(), second);
  EXPECT_EQ(double_server.request_bodies(), std::vector<std::string>({first, second}));
  EXPECT_EQ(double_server.open_streams(), 0u);
  EXPECT_EQ(double_server.connections(), 1u);
}

TEST(LlmDoubleChecks, OptionsOutOfRangeAreRefused) {
  EXPECT_THROW(llm_double({.piece_chars = 0}), std::invalid_argument);
  EXPECT_THROW(llm_double({.model = ""}), std::invalid_argument);
  EXPECT_EQ(parse_llm_style("gemini"), llm_style::gemini);
  EXPECT_FALSE(parse_llm_style("claude"));
}

TEST(LlmDoubleChecks, TheEchoPolicyEchoesWhateverIsOffered) {
  llm_double double_server({.policy = llm_policy::echo});
  rag::http_client client(double_server.base_url());
  const auto got = send(client, chat_body({user("remind me to read 4.1")}));
  EXPECT_EQ(got.result.text, "You said: remind me to read 4.1");
  EXPECT_FALSE(got.result.wants_tools());
}

TEST(LlmDoubleStream, DestroyingTheDoubleEndsItsStreamsPromptly) {
  std::optional<llm_double> double_server(std::in_place, llm_double_options{.token_delay = 10min});
  rag::http_client client(double_server->base_url());
  std::optional<exchange> got;
  std::thread reader([&] { got = send(client, chat_body({user("hi")}, json::array())); });
  ASSERT_TRUE(double_server->wait_for_open_streams(1, 10s));
  double_server.reset();
  reader.join();
  // Broken off by the closing (before or after the head and first piece got out), not by the
  // client's 20 s deadline.
  ASSERT_TRUE(got->transport_error);
  EXPECT_NE(*got->transport_error, rag::http_error::kind::timeout);
  EXPECT_LE(got->data.size(), 1u);
  EXPECT_FALSE(got->result.done);
}

// ---- the program ----------------------------------------------------------------------------

TEST(LlmDoubleProgram, ServesUntilItsInputEnds) {
  program_run program(BOOKMCP_LLM_DOUBLE_PROGRAM,
                      {"--style", "ollama", "--token-delay-ms", "1", "--piece-chars", "2",
                       "--fail-every", "2", "--api-key", "k", "--model", "m"});
  ASSERT_GT(program.pid(), 0);
  const std::string line = program.first_line();
  const std::uint16_t port = listening_port(line);
  ASSERT_NE(port, 0) << line;
  EXPECT_NE(line.find("/v1"), std::string::npos) << line;
  {
    rag::http_client client("http://127.0.0.1:" + std::to_string(port) + "/v1");
    json body = chat_body({user("remind me to read 4.1; redo 4.2")});
    body["model"] = "m";
    const std::vector<std::pair<std::string, std::string>> key = {{"Authorization", "Bearer k"}};
    const auto got = send(client, body, key);
    ASSERT_EQ(got.response.status, 200) << got.response.body;
    ASSERT_EQ(got.result.tool_calls.size(), 2u);
    EXPECT_EQ(got.result.finish_reason, "stop");  // ollama
    const auto limited = send(client, body, key);
    EXPECT_EQ(limited.response.status, 429);
    EXPECT_EQ(limited.response.retry_after, "1");
  }
  program.close_stdin();
  EXPECT_EQ(program.wait_exit(), 0);
}

TEST(LlmDoubleProgram, RefusesBadFlags) {
  program_run bad_style(BOOKMCP_LLM_DOUBLE_PROGRAM, {"--style", "claude"});
  EXPECT_EQ(bad_style.wait_exit(), 2);
  program_run bad_pieces(BOOKMCP_LLM_DOUBLE_PROGRAM, {"--piece-chars", "0"});
  EXPECT_EQ(bad_pieces.wait_exit(), 2);
  program_run help(BOOKMCP_LLM_DOUBLE_PROGRAM, {"--help"});
  EXPECT_NE(help.first_line().find("usage: bookmcp_llm_double"), std::string::npos);
  EXPECT_EQ(help.wait_exit(), 0);
}

}  // namespace
}  // namespace bookmcp::testing
