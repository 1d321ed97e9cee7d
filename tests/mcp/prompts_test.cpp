// Prompts (list, get, argument checks) and completion/complete for prompts and templates.

#include <string>

#include <gtest/gtest.h>

#include "mcp/server.hpp"
#include "tests/testing/mcp_fixture.hpp"

namespace bookmcp::mcp {
namespace {

using mcp_testing::session_harness;

int error_code_of(const json& message) { return message.at("error").at("code").get<int>(); }

class Prompts : public ::testing::Test {
 protected:
  Prompts() {
    prompt_definition summarize;
    summarize.name = "summarize_chapter";
    summarize.title = "Summarize a chapter";
    summarize.description = "Writes a summary";
    summarize.arguments = {{"chapter", "Chapter", "which chapter", true}, {"style", "", "", false}};
    summarize.get = [](const std::map<std::string, std::string>& arguments) {
      const std::string style = arguments.contains("style") ? arguments.at("style") : "plain";
      if (style == "rude") throw rpc_error(error_code::invalid_params, "style must be polite");
      return json{{"description", "summary"},
                  {"messages",
                   {{{"role", "user"},
                     {"content", {{"type", "text"}, {"text", "Summarize " + arguments.at("chapter") + " (" + style + ")"}}}}}}};
    };
    summarize.complete = [](const std::string& argument, const std::string& prefix,
                            const std::map<std::string, std::string>&) {
      std::vector<std::string> values;
      if (argument != "chapter") return values;
      for (int i = 0; i < 150; ++i) {
        std::string value = "ch" + std::to_string(i);
        if (value.rfind(prefix, 0) == 0) values.push_back(value);
      }
      return values;
    };
    harness.server.add_prompt(summarize);

    prompt_definition bare;
    bare.name = "bare";
    bare.get = [](const std::map<std::string, std::string>&) { return json{{"messages", json::array()}}; };
    harness.server.add_prompt(bare);

    resource_template_definition todos;
    todos.uri_template = "todo://items/{id}";
    todos.name = "todo";
    todos.read = [](const std::string& uri, const std::map<std::string, std::string>&) {
      return std::vector<resource_contents>{{uri, "", "x", std::nullopt}};
    };
    todos.complete = [](const std::string& variable, const std::string& prefix,
                        const std::map<std::string, std::string>& context) {
      std::vector<std::string> values;
      if (variable == "id") {
        for (const char* id : {"10", "11", "20"}) {
          if (std::string(id).rfind(prefix, 0) == 0) values.push_back(id);
        }
      }
      if (context.contains("list")) values.push_back("list=" + context.at("list"));
      return values;
    };
    harness.server.add_resource_template(todos);
    harness.initialize();
  }

  json complete(json ref, std::string argument, std::string value, json context = nullptr) {
    json params = {{"ref", std::move(ref)}, {"argument", {{"name", argument}, {"value", value}}}};
    if (!context.is_null()) params["context"] = std::move(context);
    return harness.request("completion/complete", params);
  }

  session_harness harness;
};

TEST_F(Prompts, ListDescribesArguments) {
  const json result = harness.request("prompts/list")["result"];
  ASSERT_EQ(result["prompts"].size(), 2u) << result;
  EXPECT_EQ(result["prompts"][0]["name"], "bare");
  EXPECT_FALSE(result["prompts"][0].contains("arguments"));
  const json& summarize = result["prompts"][1];
  EXPECT_EQ(summarize["name"], "summarize_chapter");
  EXPECT_EQ(summarize["title"], "Summarize a chapter");
  EXPECT_EQ(summarize["description"], "Writes a summary");
  ASSERT_EQ(summarize["arguments"].size(), 2u);
  EXPECT_EQ(summarize["arguments"][0], json({{"name", "chapter"}, {"title", "Chapter"},
                                             {"description", "which chapter"}, {"required", true}}));
  EXPECT_EQ(summarize["arguments"][1]["required"], false);
}

TEST_F(Prompts, GetWithArguments) {
  const json response = harness.request("prompts/get", {{"name", "summarize_chapter"},
                                                        {"arguments", {{"chapter", "3"}, {"style", "short"}}}});
  ASSERT_TRUE(response.contains("result")) << response;
  EXPECT_EQ(response["result"]["messages"][0]["content"]["text"], "Summarize 3 (short)");
  EXPECT_EQ(response["result"]["description"], "summary");
  const json bare = harness.request("prompts/get", {{"name", "bare"}});
  EXPECT_EQ(bare["result"]["messages"], json::array());
}

TEST_F(Prompts, MissingRequiredArgumentIsInvalidParams) {
  const json response = harness.request("prompts/get", {{"name", "summarize_chapter"}, {"arguments", {{"style", "x"}}}});
  EXPECT_EQ(error_code_of(response), error_code::invalid_params);
  EXPECT_NE(response["error"]["message"].get<std::string>().find("chapter"), std::string::npos);
}

TEST_F(Prompts, BadArgumentsAreInvalidParams) {
  EXPECT_EQ(error_code_of(harness.request("prompts/get", {{"name", "summarize_chapter"}, {"arguments", {{"chapter", 3}}}})),
            error_code::invalid_params);
  EXPECT_EQ(error_code_of(harness.request("prompts/get", {{"name", "summarize_chapter"}, {"arguments", "chapter"}})),
            error_code::invalid_params);
  // The prompt's own rpc_error reaches the client.
  const json rude = harness.request("prompts/get", {{"name", "summarize_chapter"},
                                                    {"arguments", {{"chapter", "1"}, {"style", "rude"}}}});
  EXPECT_EQ(error_code_of(rude), error_code::invalid_params);
  EXPECT_EQ(rude["error"]["message"], "style must be polite");
}

TEST_F(Prompts, UnknownPromptIsInvalidParams) {
  EXPECT_EQ(error_code_of(harness.request("prompts/get", {{"name", "nope"}})), error_code::invalid_params);
  EXPECT_EQ(error_code_of(harness.request("prompts/get", json::object())), error_code::invalid_params);
}

TEST_F(Prompts, RemovingAPromptAnnouncesListChanged) {
  const std::size_t before = harness.sink->size();
  EXPECT_TRUE(harness.server.remove_prompt("bare"));
  EXPECT_TRUE(harness.sink->wait_for_notification("notifications/prompts/list_changed", mcp_testing::wait_limit, before));
  EXPECT_EQ(harness.request("prompts/list")["result"]["prompts"].size(), 1u);
}

TEST_F(Prompts, CompletionForPromptArgumentIsCappedAt100) {
  const json all = complete({{"type", "ref/prompt"}, {"name", "summarize_chapter"}}, "chapter", "ch");
  ASSERT_TRUE(all.contains("result")) << all;
  const json& completion = all["result"]["completion"];
  EXPECT_EQ(completion["values"].size(), 100u);
  EXPECT_EQ(completion["total"], 150);
  EXPECT_EQ(completion["hasMore"], true);
  EXPECT_EQ(completion["values"][0], "ch0");

  const json few = complete({{"type", "ref/prompt"}, {"name", "summarize_chapter"}}, "chapter", "ch14");
  EXPECT_EQ(few["result"]["completion"]["values"],
            json({"ch14", "ch140", "ch141", "ch142", "ch143", "ch144", "ch145", "ch146", "ch147", "ch148", "ch149"}));
  EXPECT_EQ(few["result"]["completion"]["total"], 11);
  EXPECT_EQ(few["result"]["completion"]["hasMore"], false);

  // A prompt without a completer completes to nothing.
  const json none = complete({{"type", "ref/prompt"}, {"name", "bare"}}, "x", "");
  EXPECT_EQ(none["result"]["completion"]["values"], json::array());
  EXPECT_EQ(none["result"]["completion"]["hasMore"], false);
}

// argument.value of another type than string used to escape as -32603 "Internal error".
TEST_F(Prompts, CompletionValueMustBeAString) {
  for (const json& value : {json(5), json(nullptr), json::array(), json::object(), json(true)}) {
    const json answer = harness.request(
        "completion/complete", {{"ref", {{"type", "ref/prompt"}, {"name", "summarize_chapter"}}},
                                {"argument", {{"name", "chapter"}, {"value", value}}}});
    EXPECT_EQ(error_code_of(answer), error_code::invalid_params) << answer;
    EXPECT_NE(answer.dump().find("argument.value must be a string"), std::string::npos) << answer;
  }
}

TEST_F(Prompts, CompletionForResourceTemplateSeesContext) {
  const json ids = complete({{"type", "ref/resource"}, {"uri", "todo://items/{id}"}}, "id", "1");
  ASSERT_TRUE(ids.contains("result")) << ids;
  EXPECT_EQ(ids["result"]["completion"]["values"], json({"10", "11"}));
  const json with_context = complete({{"type", "ref/resource"}, {"uri", "todo://items/{id}"}}, "id", "2",
                                     {{"arguments", {{"list", "home"}}}});
  EXPECT_EQ(with_context["result"]["completion"]["values"], json({"20", "list=home"}));
}

TEST_F(Prompts, CompletionErrorsAreInvalidParams) {
  EXPECT_EQ(error_code_of(complete({{"type", "ref/prompt"}, {"name", "nope"}}, "a", "")), error_code::invalid_params);
  EXPECT_EQ(error_code_of(complete({{"type", "ref/resource"}, {"uri", "nope://{x}"}}, "x", "")), error_code::invalid_params);
  EXPECT_EQ(error_code_of(complete({{"type", "ref/tool"}, {"name", "x"}}, "a", "")), error_code::invalid_params);
  EXPECT_EQ(error_code_of(harness.request("completion/complete", {{"ref", {{"type", "ref/prompt"}}}})),
            error_code::invalid_params);
}

}  // namespace
}  // namespace bookmcp::mcp
