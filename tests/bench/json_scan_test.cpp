#include "bench/common/json_scan.hpp"

#include <gtest/gtest.h>

#include <string>

#include "bench/common/mcp_messages.hpp"

namespace bookmcp::bench {
namespace {

TEST(ScanMessage, ReadsIdAndOutcomeOfAnAnswer) {
  const auto ok = scan_message(
      R"({"jsonrpc":"2.0","id":42,"result":{"content":[{"text":"{\"isError\":true}","type":"text"}]}})");
  ASSERT_TRUE(ok.id);
  EXPECT_EQ(*ok.id, 42);
  EXPECT_TRUE(ok.has_result);
  EXPECT_FALSE(ok.tool_error) << "an isError inside a string is text, not the result's flag";

  const auto failed =
      scan_message(R"({"id":7,"jsonrpc":"2.0","result":{"content":[],"isError":true}})");
  EXPECT_EQ(*failed.id, 7);
  EXPECT_TRUE(failed.tool_error);

  const auto error =
      scan_message(R"({"jsonrpc":"2.0","id":3,"error":{"code":-32602,"message":"bad \"id\": 9"}})");
  EXPECT_EQ(*error.id, 3);
  EXPECT_TRUE(error.has_error);
  EXPECT_FALSE(error.has_result);
}

TEST(ScanMessage, EscapedQuotesAndBackslashesDoNotEndAString) {
  // The text holds \" and \\ runs; a scanner that ends the string early would read the
  // "id" and "isError" inside it as members.
  const std::string text =
      R"({"jsonrpc":"2.0","result":{"content":[{"text":"a \\\" \"id\":1, \"isError\":true \\\\","type":"text"}]},"id":5})";
  const auto facts = scan_message(text);
  ASSERT_TRUE(facts.id);
  EXPECT_EQ(*facts.id, 5);
  EXPECT_FALSE(facts.tool_error);
}

TEST(ScanMessage, NotificationsStringIdsAndBrokenInput) {
  const auto note = scan_message(
      R"({"jsonrpc":"2.0","method":"notifications/progress","params":{"progress":1}})");
  EXPECT_TRUE(note.has_method);
  EXPECT_FALSE(note.id);
  EXPECT_FALSE(scan_message(R"({"jsonrpc":"2.0","id":"abc","result":{}})").id);
  EXPECT_FALSE(scan_message(R"({"jsonrpc":"2.0","id":1.5,"result":{}})").id);
  const auto truncated =
      scan_message(R"({"jsonrpc":"2.0","id":9,"result":{"content":[{"text":"no end)");
  EXPECT_EQ(*truncated.id, 9);  // partial facts, no crash
  EXPECT_FALSE(scan_message("").id);
}

TEST(CallBuilder, WritesATextRequestWithTheId) {
  const call_builder call("todo_add", R"({"title":"a \"b\""})");
  std::string request;
  call.build(12, request);
  EXPECT_EQ(
      request,
      R"({"jsonrpc":"2.0","id":12,"method":"tools/call","params":{"name":"todo_add","arguments":{"title":"a \"b\""}}})");
}

}  // namespace
}  // namespace bookmcp::bench
