#include <string>

#include <gtest/gtest.h>

#include "mcp/json_schema.hpp"

namespace bookmcp::mcp {
namespace {

bool mentions(const std::vector<std::string>& problems, const std::string& word) {
  for (const auto& problem : problems) {
    if (problem.find(word) != std::string::npos) return true;
  }
  return false;
}

const json search_schema = {
    {"$schema", "http://json-schema.org/draft-07/schema#"},
    {"type", "object"},
    {"properties",
     {{"query", {{"type", "string"}, {"minLength", 1}}},
      {"limit", {{"type", "integer"}, {"minimum", 1}, {"maximum", 50}, {"default", 10}}},
      {"tags", {{"type", "array"}, {"items", {{"type", "string"}}}}},
      {"mode", {{"enum", {"exact", "fuzzy"}}}},
      {"filter", {{"type", "object"},
                  {"properties", {{"lang", {{"type", "string"}, {"default", "en"}}}, {"year", {{"type", "integer"}}}}}}}}},
    {"required", {"query"}},
    {"additionalProperties", false}};

TEST(CompiledSchema, ValidValuesHaveNoProblems) {
  compiled_schema schema(search_schema);
  EXPECT_TRUE(schema.validate({{"query", "asio"}}).empty());
  EXPECT_TRUE(schema.validate({{"query", "asio"}, {"limit", 5}, {"tags", {"a", "b"}}, {"mode", "exact"},
                               {"filter", {{"year", 2024}}}})
                  .empty());
  EXPECT_EQ(schema.source(), search_schema);
}

TEST(CompiledSchema, ProblemsNameTheField) {
  compiled_schema schema(search_schema);
  EXPECT_TRUE(mentions(schema.validate({{"query", "x"}, {"limit", "ten"}}), "limit"));
  EXPECT_TRUE(mentions(schema.validate({{"query", "x"}, {"limit", 0}}), "limit"));
  EXPECT_TRUE(mentions(schema.validate({{"limit", 3}}), "query"));
  EXPECT_TRUE(mentions(schema.validate({{"query", "x"}, {"tags", {"a", 3}}}), "tags"));
  EXPECT_TRUE(mentions(schema.validate({{"query", "x"}, {"filter", {{"year", "old"}}}}), "year"));
  EXPECT_FALSE(schema.validate({{"query", "x"}, {"mode", "wild"}}).empty());
  EXPECT_FALSE(schema.validate({{"query", "x"}, {"unexpected", 1}}).empty());
  // Strong types: 5.0 is a number but not an integer, "5" is not a number.
  EXPECT_FALSE(schema.validate({{"query", "x"}, {"limit", 5.5}}).empty());
  EXPECT_FALSE(schema.validate({{"query", "x"}, {"limit", "5"}}).empty());
}

TEST(CompiledSchema, ValidateNeverThrows) {
  compiled_schema schema(search_schema);
  for (const json& value : {json(nullptr), json(1), json("text"), json::array({1, 2}), json::object()}) {
    EXPECT_NO_THROW({ EXPECT_FALSE(schema.validate(value).empty()) << value; });
  }
}

TEST(CompiledSchema, ApplyDefaultsFillsAbsentPropertiesRecursively) {
  compiled_schema schema(search_schema);
  json value = {{"query", "x"}, {"filter", json::object()}};
  schema.apply_defaults(value);
  EXPECT_EQ(value["limit"], 10);
  EXPECT_EQ(value["filter"]["lang"], "en");
  EXPECT_FALSE(value.contains("tags"));

  json explicit_values = {{"query", "x"}, {"limit", 3}, {"filter", {{"lang", "de"}}}};
  schema.apply_defaults(explicit_values);
  EXPECT_EQ(explicit_values["limit"], 3);
  EXPECT_EQ(explicit_values["filter"]["lang"], "de");

  // No filter object given: nested defaults are not invented.
  json no_filter = {{"query", "x"}};
  schema.apply_defaults(no_filter);
  EXPECT_FALSE(no_filter.contains("filter"));

  json not_an_object = json::array();
  schema.apply_defaults(not_an_object);
  EXPECT_EQ(not_an_object, json::array());
}

TEST(CompiledSchema, MalformedSchemasThrow) {
  for (const json& bad : {json{{"type", 5}}, json{{"type", "strng"}}, json{{"type", "object"}, {"properties", json::array()}},
                          json{{"type", "object"}, {"required", "x"}}, json{{"properties", {{"a", {{"type", {"string", 3}}}}}}},
                          json{{"type", "array"}, {"items", {{"type", "nope"}}}}, json(42)}) {
    SCOPED_TRACE(bad.dump());
    EXPECT_THROW(compiled_schema{bad}, schema_error);
  }
}

TEST(CompiledSchema, BooleanAndEmptySchemasAccepted) {
  EXPECT_NO_THROW(compiled_schema{json::object()});
  EXPECT_NO_THROW(compiled_schema{json(true)});
  compiled_schema anything(json::object());
  EXPECT_TRUE(anything.validate({{"x", 1}}).empty());
}

}  // namespace
}  // namespace bookmcp::mcp
