// parse_json_text reads with rapidjson and builds nlohmann's tree: it must accept exactly what
// nlohmann::json::parse accepts and build exactly the same tree (types included: 5 is an
// unsigned integer, -5 a signed one, 5.0 a double).
#include <gtest/gtest.h>

#include <string>

#include "mcp/json_rpc.hpp"

namespace bookmcp::mcp {
namespace {

// What nlohmann itself makes of the text (nullopt: refused).
std::optional<json> nlohmann_parse(std::string_view text) {
  json value = json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (value.is_discarded()) return std::nullopt;
  return value;
}

// The same answer as nlohmann, down to the type of every number.
void expect_same_as_nlohmann(std::string_view text) {
  SCOPED_TRACE(std::string(text));
  const auto ours = parse_json_text(text);
  const auto theirs = nlohmann_parse(text);
  ASSERT_EQ(ours.has_value(), theirs.has_value());
  if (!ours) return;
  EXPECT_EQ(*ours, *theirs);
  EXPECT_EQ(ours->dump(), theirs->dump());  // -0.0 == 0, but they print differently
  EXPECT_EQ(ours->type(), theirs->type());
}

TEST(JsonText, BuildsTheTreeNlohmannBuilds) {
  const std::string request =
      R"({"jsonrpc":"2.0","id":7,"method":"tools/call","params":{"name":"search_book",)"
      R"("arguments":{"query":"calibrate the depth camera","limit":5,"score":0.25,)"
      R"("tags":["a","b",null,true,false,[],{}]},"_meta":{"progressToken":"p-1"}}})";
  const auto parsed = parse_json_text(request);
  ASSERT_TRUE(parsed);
  EXPECT_EQ((*parsed)["params"]["arguments"]["limit"], 5);
  EXPECT_EQ((*parsed)["params"]["arguments"]["tags"].size(), 7u);
  expect_same_as_nlohmann(request);
  expect_same_as_nlohmann("  \t\r\n[1, 2 ,3]\n");
  expect_same_as_nlohmann(R"("just a string")");
  expect_same_as_nlohmann("null");
}

TEST(JsonText, NumbersKeepNlohmannsTypes) {
  auto type_of = [](std::string_view text) { return parse_json_text(text)->type(); };
  EXPECT_EQ(type_of("5"), json::value_t::number_unsigned);
  EXPECT_EQ(type_of("-5"), json::value_t::number_integer);
  EXPECT_EQ(type_of("-0"), json::value_t::number_integer);
  EXPECT_EQ(type_of("5.0"), json::value_t::number_float);
  EXPECT_EQ(type_of("5e0"), json::value_t::number_float);
  EXPECT_EQ(type_of("18446744073709551615"), json::value_t::number_unsigned);
  EXPECT_EQ(type_of("18446744073709551616"), json::value_t::number_float);
  EXPECT_EQ(type_of("-9223372036854775808"), json::value_t::number_integer);
  EXPECT_EQ(type_of("-9223372036854775809"), json::value_t::number_float);
  for (const char* text :
       {"0", "-0", "-0.0", "0.1", "1E+2", "1e-2", "123456789012345678901234567890",
        "0.30000000000000004", "2.2250738585072014e-308", "4.9e-324", "1e-400", "-1e-400",
        "1.7976931348623157e308", "[18446744073709551616, -9223372036854775809, 1.5e300]"}) {
    expect_same_as_nlohmann(text);
  }
}

TEST(JsonText, RefusesWhatNlohmannRefuses) {
  for (const char* text :
       {"", " ", "[1,]", "{\"a\":1,}", "01", "1.", ".5", "+1", "1e", "-", "NaN", "Infinity",
        "1e400", "-1e400", "[1] [2]", "{\"a\" 1}", "{a:1}", "'x'", "\"\\x\"", "\"tab\there\"",
        "// comment\n1", "/* c */ 1", "[1", "{\"a\":", "tru", "nul"}) {
    SCOPED_TRACE(text);
    EXPECT_FALSE(parse_json_text(text).has_value());
    EXPECT_FALSE(nlohmann_parse(text).has_value());
  }
}

TEST(JsonText, StringsAreCheckedAsUtf8AsNlohmannChecksThem) {
  for (std::string text : {
           std::string("\"caf\xC3\xA9\""),          // é
           std::string("\"\xF0\x9F\x98\x80\""),      // an emoji, 4 bytes
           std::string("\"\\u00e9\\ud83d\\ude00\""),  // the same by escapes, a surrogate pair
           std::string("\"a\\u0000b\""),             // an escaped NUL is a character
           std::string("\"caf\xC3\""),               // cut inside a character
           std::string("\"\xC0\xAF\""),              // overlong '/'
           std::string("\"\xED\xA0\x80\""),          // a surrogate encoded raw
           std::string("\"\xF4\x90\x80\x80\""),      // past U+10FFFF
           std::string("\"\xF4\x8F\xBF\xBF\""),      // U+10FFFF itself
           std::string("\"\xE0\x80\xAF\""),          // overlong in three bytes
           std::string("\"\xF0\x80\x80\xAF\""),      // overlong in four bytes
           std::string("\"\xED\x9F\xBF\""),          // U+D7FF, just below the surrogates
           std::string("\"\xE2\x82\""),              // a three-byte character cut short
           std::string("\"\xC3\xA9\x80\""),          // a stray continuation byte
           std::string("\"\xFF\""),
           std::string("\"\\ud800\""),               // lone high surrogate
           std::string("\"\\udc00\""),               // lone low surrogate (rapidjson 1.1 lets it by)
           std::string("{\"\\udc00\":1}"),           // the same in a key
           std::string("\"\\ud800\\u0041\""),        // high surrogate then not a low one
       }) {
    expect_same_as_nlohmann(text);
  }
  EXPECT_EQ(parse_json_text("\"a\\u0000b\"")->get<std::string>(), std::string("a\0b", 3));
}

TEST(JsonText, ARepeatedKeyKeepsItsLastValue) {
  const auto parsed = parse_json_text(R"({"id":1,"id":"two","x":{"y":1,"y":[2]}})");
  ASSERT_TRUE(parsed);
  EXPECT_EQ((*parsed)["id"], "two");
  EXPECT_EQ((*parsed)["x"]["y"], json::array({2}));
  expect_same_as_nlohmann(R"({"id":1,"id":"two","x":{"y":1,"y":[2]}})");
}

TEST(JsonText, TheWholeTextIsOneValue) {
  // After the value, a NUL byte ends the text for nlohmann (what follows is not read); inside
  // the value it is an error.
  expect_same_as_nlohmann(std::string("{\"a\":1}\0{\"b\":2}", 15));
  expect_same_as_nlohmann(std::string("{\"a\":1}\0", 8));
  expect_same_as_nlohmann(std::string("[1,\0 2]", 7));
  // A UTF-8 byte-order mark before the value is skipped, as nlohmann skips it.
  expect_same_as_nlohmann("\xEF\xBB\xBF{\"a\":1}");
  // The view's end is the text's end, whatever lies in memory after it.
  const std::string longer = R"({"a":1}{"b":2})";
  const auto first = parse_json_text(std::string_view(longer).substr(0, 7));
  ASSERT_TRUE(first);
  EXPECT_EQ(*first, json({{"a", 1}}));
}

TEST(JsonText, DepthIsCheckedBeforeParsing) {
  const std::string deep_ok = std::string(128, '[') + std::string(128, ']');
  const std::string too_deep = std::string(129, '[') + std::string(129, ']');
  bool deep = true;
  EXPECT_TRUE(parse_json_text(deep_ok, &deep).has_value());
  EXPECT_FALSE(deep);
  EXPECT_FALSE(parse_json_text(too_deep, &deep).has_value());
  EXPECT_TRUE(deep);
  // Far deeper, valid or not: refused without recursing that deep (a reader recursing 100,000
  // levels would overflow the stack).
  for (const std::string& text : {std::string(100000, '[') + std::string(100000, ']'),
                                  std::string(100000, '['), "{\"a\":" + std::string(100000, '[')}) {
    deep = false;
    EXPECT_FALSE(parse_json_text(text, &deep).has_value());
    EXPECT_TRUE(deep);
  }
}

}  // namespace
}  // namespace bookmcp::mcp
