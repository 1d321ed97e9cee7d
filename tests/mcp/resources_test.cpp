// Resources: listing, templates, reading (static and templated), errors, subscriptions and
// list_changed; plus match_uri_template as a pure function.

#include <gtest/gtest.h>

#include <future>
#include <set>
#include <string>

#include "mcp/resource.hpp"
#include "mcp/server.hpp"
#include "tests/testing/mcp_fixture.hpp"

namespace bookmcp::mcp {
namespace {

using mcp_testing::is_notification;
using mcp_testing::session_harness;
using mcp_testing::wait_limit;
using vars = std::map<std::string, std::string>;

int error_code_of(const json& message) { return message.at("error").at("code").get<int>(); }

// ---------------------------------------------------------------------------------------
// match_uri_template

TEST(MatchUriTemplate, SimpleVariablesMatchOneSegment) {
  EXPECT_EQ(match_uri_template("users://{id}/profile", "users://42/profile"), vars({{"id", "42"}}));
  EXPECT_EQ(match_uri_template("book://{part}/{chapter}", "book://intro/setup"),
            vars({{"part", "intro"}, {"chapter", "setup"}}));
  EXPECT_EQ(match_uri_template("plain://fixed", "plain://fixed"), vars{});
}

TEST(MatchUriTemplate, NonMatchingUrisAreRejected) {
  EXPECT_FALSE(match_uri_template("users://{id}/profile", "users://42/settings"));
  EXPECT_FALSE(match_uri_template("users://{id}/profile", "users://42/profile/extra"));
  EXPECT_FALSE(match_uri_template("users://{id}/profile", "groups://42/profile"));
  EXPECT_FALSE(match_uri_template("users://{id}/profile", "users:///profile"));  // empty variable
  EXPECT_FALSE(match_uri_template("plain://fixed", "plain://fixe"));
  EXPECT_FALSE(match_uri_template("plain://fixed", "plain://fixedd"));
}

// std::regex recursed per character: a 60,000-character URI overflowed the stack.
TEST(MatchUriTemplate, LongUrisNeitherCrashNorMatchPastTheLimit) {
  const std::string long_path(max_uri_length - 11, 'a');
  EXPECT_EQ(match_uri_template("book://doc/{+path}", "book://doc/" + long_path),
            vars({{"path", long_path}}));
  EXPECT_FALSE(match_uri_template("book://doc/{+path}", "book://doc/" + std::string(60000, 'a')));
  EXPECT_FALSE(match_uri_template("book://doc/{+path}", "book://doc/" + std::string(60000, '/')));
  // Backtracking still finds the longest value that lets the rest match.
  EXPECT_EQ(match_uri_template("docs://{name}.md", "docs://release.notes.md"),
            vars({{"name", "release.notes"}}));
  EXPECT_EQ(match_uri_template("a://{+x}/{y}/end", "a://p/q/r/end"),
            vars({{"x", "p/q"}, {"y", "r"}}));
}

TEST(MatchUriTemplate, SimpleVariableDoesNotSpanSlashes) {
  EXPECT_FALSE(match_uri_template("file:///{name}", "file:///a/b"));
  EXPECT_FALSE(match_uri_template("docs://{page}/raw", "docs://a/b/raw"));
}

TEST(MatchUriTemplate, ReservedAndExplodedVariablesSpanSlashes) {
  EXPECT_EQ(match_uri_template("file:///{+path}", "file:///a/b/c.md"), vars({{"path", "a/b/c.md"}}));
  EXPECT_EQ(match_uri_template("repo://{+path}/raw", "repo://src/mcp/raw"), vars({{"path", "src/mcp"}}));
  EXPECT_EQ(match_uri_template("tree://{path*}", "tree://x/y"), vars({{"path", "x/y"}}));
}

// BUG: a simple variable ends at the first occurrence of the next literal character, so a value
// that contains that character never matches, although RFC 6570 allows '.' in a simple
// variable: "notes://{name}.md" does not match "notes://release.notes.md" and reading that
// resource answers "Resource not found".
TEST(MatchUriTemplate, VariableMayContainTheNextLiteralCharacter) {
  EXPECT_EQ(match_uri_template("notes://{name}.md", "notes://release.md"), vars({{"name", "release"}}));
  EXPECT_EQ(match_uri_template("notes://{name}.md", "notes://release.notes.md"),
            vars({{"name", "release.notes"}}));
}

// ---------------------------------------------------------------------------------------
// through a session

class Resources : public ::testing::Test {
 protected:
  Resources() {
    auto options = mcp_testing::test_server_options();
    options.page_size = 2;
    harness = std::make_unique<session_harness>(options);
    for (const char* name : {"c", "a", "b"}) {
      resource_definition resource;
      resource.uri = std::string("book://chapters/") + name;
      resource.name = std::string("chapter-") + name;
      resource.title = std::string("Chapter ") + name;
      resource.description = "a chapter";
      resource.mime_type = "text/markdown";
      resource.size = 12;
      resource.read = [](const std::string& uri) {
        return std::vector<resource_contents>{{uri, "text/markdown", "# " + uri, std::nullopt}};
      };
      harness->server.add_resource(resource);
    }
    resource_definition image;
    image.uri = "book://cover.png";
    image.name = "cover";
    image.read = [](const std::string& uri) {
      return std::vector<resource_contents>{{uri, "image/png", std::nullopt, std::string("iVBORw0KGgo=")}};
    };
    harness->server.add_resource(image);

    resource_template_definition by_id;
    by_id.uri_template = "todo://items/{id}";
    by_id.name = "todo";
    by_id.title = "A todo";
    by_id.mime_type = "application/json";
    by_id.read = [](const std::string& uri, const vars& variables) {
      if (variables.at("id") == "404") throw resource_not_found(uri);
      return std::vector<resource_contents>{
          {uri, "application/json", json{{"id", variables.at("id")}}.dump(), std::nullopt}};
    };
    harness->server.add_resource_template(by_id);
    resource_template_definition files;
    files.uri_template = "file:///{+path}";
    files.name = "file";
    files.read = [](const std::string& uri, const vars& variables) {
      return std::vector<resource_contents>{{uri, "text/plain", "path=" + variables.at("path"), std::nullopt}};
    };
    harness->server.add_resource_template(files);
    harness->initialize();
  }

  std::unique_ptr<session_harness> harness;
};

TEST_F(Resources, ListIsSortedAndPaginated) {
  std::vector<std::string> uris;
  json params = json::object();
  int pages = 0;
  json first;
  for (;;) {
    const json result = harness->request("resources/list", params)["result"];
    if (pages++ == 0) first = result;
    for (const auto& resource : result["resources"]) uris.push_back(resource["uri"]);
    if (!result.contains("nextCursor")) break;
    params["cursor"] = result["nextCursor"];
    ASSERT_LT(pages, 10);
  }
  EXPECT_EQ(pages, 2);
  EXPECT_EQ(uris, (std::vector<std::string>{"book://chapters/a", "book://chapters/b", "book://chapters/c",
                                            "book://cover.png"}));
  const json& entry = first["resources"][0];
  EXPECT_EQ(entry["name"], "chapter-a");
  EXPECT_EQ(entry["title"], "Chapter a");
  EXPECT_EQ(entry["description"], "a chapter");
  EXPECT_EQ(entry["mimeType"], "text/markdown");
  EXPECT_EQ(entry["size"], 12);
  EXPECT_EQ(error_code_of(harness->request("resources/list", {{"cursor", "garbage"}})), error_code::invalid_params);
}

TEST_F(Resources, TemplatesAreListed) {
  const json result = harness->request("resources/templates/list")["result"];
  ASSERT_EQ(result["resourceTemplates"].size(), 2u) << result;
  EXPECT_EQ(result["resourceTemplates"][0]["uriTemplate"], "file:///{+path}");
  EXPECT_EQ(result["resourceTemplates"][1]["uriTemplate"], "todo://items/{id}");
  EXPECT_EQ(result["resourceTemplates"][1]["name"], "todo");
  EXPECT_EQ(result["resourceTemplates"][1]["title"], "A todo");
  EXPECT_EQ(result["resourceTemplates"][1]["mimeType"], "application/json");
}

TEST_F(Resources, ReadStaticTextAndBlob) {
  const json text = harness->request("resources/read", {{"uri", "book://chapters/b"}});
  ASSERT_TRUE(text.contains("result")) << text;
  ASSERT_EQ(text["result"]["contents"].size(), 1u);
  EXPECT_EQ(text["result"]["contents"][0],
            json({{"uri", "book://chapters/b"}, {"mimeType", "text/markdown"}, {"text", "# book://chapters/b"}}));
  const json blob = harness->request("resources/read", {{"uri", "book://cover.png"}});
  EXPECT_EQ(blob["result"]["contents"][0]["blob"], "iVBORw0KGgo=");
  EXPECT_FALSE(blob["result"]["contents"][0].contains("text"));
}

TEST_F(Resources, ReadThroughTemplates) {
  const json todo = harness->request("resources/read", {{"uri", "todo://items/7"}});
  ASSERT_TRUE(todo.contains("result")) << todo;
  EXPECT_EQ(json::parse(todo["result"]["contents"][0]["text"].get<std::string>()), json({{"id", "7"}}));
  const json file = harness->request("resources/read", {{"uri", "file:///docs/intro.md"}});
  EXPECT_EQ(file["result"]["contents"][0]["text"], "path=docs/intro.md");
}

// A read that does not finish (a stuck store, a slow disk) is answered with an error at its
// deadline, and its late result is not sent: the client is never left waiting.
TEST(ResourceDeadline, AReadPastTheRequestTimeoutIsAnsweredWithAnErrorAndNotAgain) {
  auto options = mcp_testing::test_server_options();
  options.request_timeout = std::chrono::milliseconds(200);
  session_harness harness(options);
  std::promise<void> release;
  auto released = release.get_future().share();
  resource_definition slow;
  slow.uri = "book://slow";
  slow.name = "slow";
  slow.read = [released](const std::string& uri) {
    released.wait_for(std::chrono::seconds(60));
    return std::vector<resource_contents>{{uri, "text/plain", std::string("late"), std::nullopt}};
  };
  harness.server.add_resource(slow);
  harness.initialize();
  const auto started = std::chrono::steady_clock::now();
  const json response = harness.request("resources/read", {{"uri", "book://slow"}});
  const auto took = std::chrono::steady_clock::now() - started;
  ASSERT_TRUE(response.contains("error")) << response;
  EXPECT_NE(response["error"]["message"].get<std::string>().find("did not finish within 200 ms"),
            std::string::npos)
      << response;
  EXPECT_GE(took, std::chrono::milliseconds(150));
  EXPECT_LT(took, std::chrono::seconds(30));  // the read itself would take 60
  const std::size_t answered = harness.sink->size();
  release.set_value();
  ASSERT_TRUE(harness.session->wait_idle(wait_limit));
  EXPECT_EQ(harness.sink->size(), answered) << "the late result was sent too";
  // The session goes on: the next read is answered.
  EXPECT_TRUE(harness.request("ping").contains("result"));
}

TEST_F(Resources, UnknownUriIsResourceNotFound) {
  for (const char* uri : {"book://chapters/z", "todo://items/7/more", "todo://items/404", "nothing"}) {
    SCOPED_TRACE(uri);
    const json response = harness->request("resources/read", {{"uri", uri}});
    EXPECT_EQ(error_code_of(response), error_code::resource_not_found) << response;
  }
  EXPECT_EQ(error_code_of(harness->request("resources/read", json::object())), error_code::invalid_params);
}

TEST_F(Resources, OverlongUrisAreInvalidParamsNamingTheLimit) {
  const std::string uri = "file:///" + std::string(60000, 'a');
  for (const char* method : {"resources/read", "resources/subscribe", "resources/unsubscribe"}) {
    SCOPED_TRACE(method);
    const json response = harness->request(method, {{"uri", uri}});
    EXPECT_EQ(error_code_of(response), error_code::invalid_params)
        << response.dump().substr(0, 300);
    EXPECT_NE(response["error"]["message"].get<std::string>().find("8192"), std::string::npos);
  }
}

TEST_F(Resources, UpdatesReachOnlySubscribedSessions) {
  auto other_sink = std::make_shared<mcp_testing::recording_sink>();
  auto other = harness->server.open_session(other_sink);
  other->handle_message(mcp_testing::request_message(1, "initialize", {{"protocolVersion", "2025-11-25"}}).dump());

  EXPECT_EQ(harness->request("resources/subscribe", {{"uri", "book://chapters/a"}})["result"], json::object());
  harness->server.notify_resource_updated("book://chapters/a");
  harness->server.notify_resource_updated("book://chapters/b");
  auto updated = harness->sink->wait_for_notification("notifications/resources/updated");
  ASSERT_TRUE(updated);
  EXPECT_EQ((*updated)["params"]["uri"], "book://chapters/a");
  auto is_update = [](const json& m) { return is_notification(m, "notifications/resources/updated"); };
  EXPECT_EQ(harness->sink->find(is_update).size(), 1u);
  EXPECT_TRUE(other_sink->find(is_update).empty());

  EXPECT_EQ(harness->request("resources/unsubscribe", {{"uri", "book://chapters/a"}})["result"], json::object());
  harness->server.notify_resource_updated("book://chapters/a");
  EXPECT_EQ(harness->sink->find(is_update).size(), 1u);
  other->close();
}

// A subscription to a part of a resource (a page's section, "page#anchor", as search results
// link them) fires when the resource changes; with the URI subscribed to. Other resources whose
// URI merely starts the same do not count.
TEST_F(Resources, ASubscriptionToAPartFiresWhenItsResourceChanges) {
  for (const char* uri : {"book://chapters/a#setup", "book://chapters/a#usage",
                          "book://chapters/ab", "book://chapters/ab#setup"}) {
    EXPECT_EQ(harness->request("resources/subscribe", {{"uri", uri}})["result"], json::object());
  }
  harness->server.notify_resource_updated("book://chapters/a");
  auto is_update = [](const json& m) {
    return is_notification(m, "notifications/resources/updated");
  };
  for (const char* uri : {"book://chapters/a#setup", "book://chapters/a#usage"}) {
    ASSERT_TRUE(harness->sink->wait_for([&](const json& m) {
      return is_update(m) && m["params"]["uri"] == uri;
    })) << uri;
  }
  std::set<std::string> uris;
  for (const auto& message : harness->sink->find(is_update))
    uris.insert(message["params"]["uri"].get<std::string>());
  EXPECT_EQ(uris, (std::set<std::string>{"book://chapters/a#setup", "book://chapters/a#usage"}));
}

// Subscriptions last as long as the session: they are bounded per session.
TEST_F(Resources, SubscriptionsPerSessionAreBounded) {
  for (int i = 0; i < 1000; ++i) {
    ASSERT_EQ(harness->request("resources/subscribe",
                               {{"uri", "book://chapters/" + std::to_string(i)}})["result"],
              json::object());
  }
  const json refused =
      harness->request("resources/subscribe", {{"uri", "book://chapters/one-more"}});
  EXPECT_EQ(error_code_of(refused), error_code::invalid_params);
  EXPECT_NE(refused.dump().find("at most 1000"), std::string::npos) << refused;
  // Subscribing again to one it has is fine; unsubscribing makes room.
  EXPECT_EQ(harness->request("resources/subscribe", {{"uri", "book://chapters/7"}})["result"],
            json::object());
  EXPECT_EQ(harness->request("resources/unsubscribe", {{"uri", "book://chapters/7"}})["result"],
            json::object());
  EXPECT_EQ(
      harness->request("resources/subscribe", {{"uri", "book://chapters/one-more"}})["result"],
      json::object());
}

TEST_F(Resources, AddingAResourceAnnouncesListChanged) {
  const std::size_t before = harness->sink->size();
  resource_definition late;
  late.uri = "book://appendix";
  late.name = "appendix";
  late.read = [](const std::string& uri) { return std::vector<resource_contents>{{uri, "", "end", std::nullopt}}; };
  harness->server.add_resource(late);
  EXPECT_TRUE(harness->sink->wait_for_notification("notifications/resources/list_changed", wait_limit, before));
  const std::size_t after_add = harness->sink->size();
  EXPECT_TRUE(harness->server.remove_resource("book://appendix"));
  EXPECT_TRUE(harness->sink->wait_for_notification("notifications/resources/list_changed", wait_limit, after_add));
  EXPECT_EQ(error_code_of(harness->request("resources/read", {{"uri", "book://appendix"}})),
            error_code::resource_not_found);
}

}  // namespace
}  // namespace bookmcp::mcp
