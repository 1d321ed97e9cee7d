// The streamed answers of an OpenAI-compatible endpoint, as OpenAI, Gemini, Ollama and vLLM send
// them (chunk sequences after the providers' documented formats and the reports cited in
// ../shared/design/chat.md, section 3.2).

#include "examples/chat/completion_stream.hpp"

#include <gtest/gtest.h>

#include <string>
#include <vector>

using namespace bookmcp::chat;
using json = nlohmann::json;

namespace {

json chunk(json delta, json finish = nullptr) {
  return {{"id", "c"},
          {"object", "chat.completion.chunk"},
          {"choices", json::array({{{"index", 0}, {"delta", delta}, {"finish_reason", finish}}})}};
}

completion_result run(const std::vector<json>& chunks, bool done = true) {
  completion_stream stream;
  for (const auto& c : chunks) stream.take(c.dump());
  if (done) stream.take("[DONE]");
  return stream.result();
}

}  // namespace

TEST(CompletionStream, OpenAiTextAndAToolCallInFragments) {
  completion_stream stream;
  EXPECT_EQ(stream.take(chunk({{"role", "assistant"}, {"content", ""}}).dump()).text, "");
  EXPECT_EQ(stream.take(chunk({{"content", "Let me "}}).dump()).text, "Let me ");
  stream.take(chunk({{"content", "look."}}).dump());
  const auto started = stream.take(
      chunk({{"tool_calls", {{{"index", 0}, {"id", "call_a"}, {"type", "function"},
                              {"function", {{"name", "search_book"}, {"arguments", ""}}}}}}})
          .dump());
  EXPECT_TRUE(started.tool_call_started);
  stream.take(chunk({{"tool_calls", {{{"index", 0}, {"function", {{"arguments", "{\"query\":"}}}}}}}).dump());
  stream.take(chunk({{"tool_calls", {{{"index", 0}, {"function", {{"arguments", "\"PID\"}"}}}}}}}).dump());
  stream.take(chunk(json::object(), "tool_calls").dump());
  stream.take(R"({"id":"c","choices":[],"usage":{"prompt_tokens":10,"completion_tokens":5}})");
  stream.take("[DONE]");
  const auto& r = stream.result();
  EXPECT_EQ(r.text, "Let me look.");
  ASSERT_EQ(r.tool_calls.size(), 1u);
  EXPECT_EQ(r.tool_calls[0].id, "call_a");
  EXPECT_EQ(r.tool_calls[0].name, "search_book");
  EXPECT_EQ(r.tool_calls[0].arguments, R"({"query":"PID"})");
  EXPECT_TRUE(r.tool_calls[0].arguments_valid());
  EXPECT_EQ(r.finish_reason, "tool_calls");
  ASSERT_TRUE(r.usage);
  EXPECT_EQ((*r.usage)["completion_tokens"], 5);
  EXPECT_TRUE(r.done);
  EXPECT_EQ(r.tool_calls[0].as_request(),
            (json{{"id", "call_a"}, {"type", "function"},
                  {"function", {{"name", "search_book"}, {"arguments", R"({"query":"PID"})"}}}}));
}

TEST(CompletionStream, GeminiWithoutIndexStopForToolsAndAThoughtSignatureToSendBack) {
  const auto r = run({
      chunk({{"role", "assistant"},
             {"tool_calls",
              {{{"id", "g1"}, {"type", "function"},
                {"function", {{"name", "todo_add"}, {"arguments", R"({"title":"Redo kinematics"})"}}}}}}}),
      // The signature in a metadata-only fragment of its own.
      chunk({{"tool_calls",
              {{{"id", "g1"},
                {"extra_content", {{"google", {{"thought_signature", "c2lnbmF0dXJl"}}}}}}}}}),
      chunk({{"tool_calls",
              {{{"id", "g2"}, {"type", "function"},
                {"function", {{"name", "todo_list"}, {"arguments", "{}"}}}}}}}),
      chunk(json::object(), "stop"),
  });
  EXPECT_TRUE(r.wants_tools());  // although the finish reason says stop
  EXPECT_EQ(r.finish_reason, "stop");
  ASSERT_EQ(r.tool_calls.size(), 2u);
  EXPECT_EQ(r.tool_calls[0].name, "todo_add");
  EXPECT_EQ(r.tool_calls[1].name, "todo_list");
  const json sent_back = r.tool_calls[0].as_request();
  EXPECT_EQ(sent_back["extra_content"]["google"]["thought_signature"], "c2lnbmF0dXJl");
  EXPECT_EQ(sent_back["function"]["arguments"], R"({"title":"Redo kinematics"})");
}

TEST(CompletionStream, OllamaReusesIndexZeroForParallelCallsAndSendsThemWhole) {
  const auto r = run({
      chunk({{"tool_calls",
              {{{"index", 0}, {"id", "o1"},
                {"function", {{"name", "search_book"}, {"arguments", R"({"query":"LiDAR"})"}}}}}}}),
      chunk({{"tool_calls",
              {{{"index", 0}, {"id", "o2"},
                {"function", {{"name", "search_book"}, {"arguments", R"({"query":"IMU"})"}}}}}}}),
      chunk({{"content", ""}}, "stop"),
  });
  ASSERT_EQ(r.tool_calls.size(), 2u);
  EXPECT_EQ(r.tool_calls[0].arguments, R"({"query":"LiDAR"})");
  EXPECT_EQ(r.tool_calls[1].arguments, R"({"query":"IMU"})");
  EXPECT_TRUE(r.tool_calls[0].arguments_valid() && r.tool_calls[1].arguments_valid());
}

TEST(CompletionStream, MissingIdsAreMadeUniqueAndRepeatedNamesAreNotDoubled) {
  const auto r = run({
      chunk({{"tool_calls", {{{"index", 0}, {"function", {{"name", "todo_list"}, {"arguments", "{"}}}}}}}),
      chunk({{"tool_calls", {{{"index", 0}, {"function", {{"name", "todo_list"}, {"arguments", "}"}}}}}}}),
      chunk({{"tool_calls", {{{"index", 1}, {"function", {{"name", "todo_add"}}}}}}}),
  });
  ASSERT_EQ(r.tool_calls.size(), 2u);
  EXPECT_EQ(r.tool_calls[0].id, "call_1");
  EXPECT_EQ(r.tool_calls[1].id, "call_2");
  EXPECT_EQ(r.tool_calls[0].name, "todo_list");
  EXPECT_EQ(r.tool_calls[0].arguments, "{}");
  EXPECT_TRUE(r.tool_calls[1].arguments_valid());  // none sent: an empty object
  EXPECT_EQ(r.tool_calls[1].as_request()["function"]["arguments"], "{}");
}

TEST(CompletionStream, ArgumentsThatAreNotAJsonObjectAreSaidToBeInvalid) {
  const auto r = run({
      // Two calls concatenated under one index and id, as a relay sent them.
      chunk({{"tool_calls", {{{"index", 0}, {"id", "x"}, {"function", {{"name", "a"}, {"arguments", R"({"q":1}{"q":2})"}}}}}}}),
      chunk({{"tool_calls", {{{"index", 1}, {"id", "y"}, {"function", {{"name", "b"}, {"arguments", "[1]"}}}}}}}),
  });
  ASSERT_EQ(r.tool_calls.size(), 2u);
  EXPECT_FALSE(r.tool_calls[0].arguments_valid());
  EXPECT_FALSE(r.tool_calls[1].arguments_valid());
}

TEST(CompletionStream, ErrorsInTheStreamAndBrokenChunksAreErrors) {
  completion_stream stream;
  stream.take(chunk({{"content", "partial"}}).dump());
  try {
    stream.take(R"({"error":{"message":"Rate limit reached","type":"rate_limit_error"}})");
    FAIL();
  } catch (const completion_stream_error& error) {
    EXPECT_NE(std::string(error.what()).find("Rate limit reached"), std::string::npos);
  }
  EXPECT_EQ(stream.result().text, "partial");  // what came before stays
  completion_stream broken;
  EXPECT_THROW(broken.take("{\"choices\":[{\"delta\":"), completion_stream_error);
  EXPECT_THROW(broken.take("42"), completion_stream_error);
  completion_stream finished;
  finished.take("[DONE]");
  EXPECT_THROW(finished.take(chunk({{"content", "late"}}).dump()), completion_stream_error);
}

TEST(CompletionStream, UsageWithNullChoicesAndOtherChoicesAreIgnored) {
  completion_stream stream;
  stream.take(R"({"choices":null,"usage":{"total_tokens":3}})");  // vLLM
  stream.take(R"({"choices":[{"index":1,"delta":{"content":"other answer"}}]})");
  stream.take(R"({"choices":[{"index":0,"delta":{"content":"ours"},"finish_reason":null}],"obfuscation":"xx"})");
  EXPECT_EQ(stream.result().text, "ours");
  EXPECT_EQ((*stream.result().usage)["total_tokens"], 3);
  EXPECT_FALSE(stream.result().done);  // no [DONE]: the caller knows the stream broke
}
