// The book tools as a model sees them: every call goes through mcp::client (or a raw session
// for the no-response check), a real mcp::server session, the real indexer and lexical index,
// and a SQLite document registry in a temporary folder holding a copy of the sample book.

#include "tools/book/book_tools.hpp"

#include <gtest/gtest.h>
#include <unistd.h>

#include <atomic>
#include <condition_variable>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <random>
#include <set>
#include <string>
#include <vector>

#include "mcp/client.hpp"
#include "rag/dense_retrieval.hpp"
#include "rag/hybrid_search.hpp"
#include "rag/indexer.hpp"
#include "rag/lexical_index.hpp"
#include "store/database.hpp"
#include "tests/testing/embeddings_double.hpp"
#include "tests/testing/mcp_fixture.hpp"
#include "tools/book/book_uri.hpp"

namespace bookmcp::tools {
namespace {

namespace fs = std::filesystem;
using mcp::json;
using namespace std::chrono_literals;

constexpr std::uintmax_t test_max_file_bytes = 64 * 1024;

fs::path make_temporary_folder() {
  std::random_device random;
  fs::path dir = fs::temp_directory_path() / ("bookmcp-book-test-" + std::to_string(::getpid()) +
                                              "-" + std::to_string(random()));
  fs::create_directories(dir);
  return dir;
}

void write_file(const fs::path& file, std::string_view content) {
  fs::create_directories(file.parent_path());
  std::ofstream out(file, std::ios::binary | std::ios::trunc);
  out << content;
}

std::string text_of(const json& result) {
  std::string out;
  for (const auto& block : result.value("content", json::array())) {
    if (block.value("type", "") == "text") out += block.value("text", "");
  }
  return out;
}

// Counts notifications by method and lets a test wait for a count.
class notification_log {
 public:
  void record(const std::string& method) {
    std::lock_guard lock(mutex_);
    ++counts_[method];
    changed_.notify_all();
  }
  std::size_t count(const std::string& method) {
    std::lock_guard lock(mutex_);
    return counts_[method];
  }
  bool wait_for(const std::string& method, std::size_t at_least) {
    std::unique_lock lock(mutex_);
    return changed_.wait_for(lock, 10s, [&] { return counts_[method] >= at_least; });
  }

 private:
  std::mutex mutex_;
  std::condition_variable changed_;
  std::map<std::string, std::size_t> counts_;
};

// A copy of the sample book, its registry and index, and the tools on a server.
class BookToolsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    temporary_ = make_temporary_folder();
    docs_ = temporary_ / "book" / "docs";
    fs::create_directories(docs_.parent_path());
    fs::copy(BOOKMCP_SAMPLE_BOOK_DIR, docs_, fs::copy_options::recursive);
    outside_ = temporary_ / "outside";
    write_file(outside_ / "secret.md", "# Secret\n\nThe password is swordfish.\n");
    data_ = temporary_ / "data";
    database_ = store::open_sqlite({.data_dir = data_});
    rag::indexer_options options;
    options.roots = {docs_};
    options.max_file_bytes = test_max_file_bytes;
    options.snapshot_file = data_ / "bm25.index";
    indexer_ = std::make_unique<rag::indexer>(database_->documents(), index_, options);
    indexer_->open();
    runner_ = std::make_shared<index_runner>(*indexer_, database_->documents());
    harness_ = std::make_unique<mcp_testing::client_harness>();
    attach(harness_->server);
    harness_->client->on_notification(
        [this](const std::string& method, const json&) { notifications_.record(method); });
    harness_->client->initialize();
  }

  void TearDown() override {
    harness_.reset();
    std::error_code ignored;
    fs::permissions(temporary_, fs::perms::owner_all, fs::perm_options::add, ignored);
    fs::remove_all(temporary_, ignored);
  }

  void attach(mcp::server& server) {
    book_tool_options options;
    options.runner = runner_;
    options.index.snapshot_file = data_ / "bm25.index";
    options.index.database_files = {data_ / "bookmcp.sqlite3"};
    register_book_tools(server, *indexer_, index_, options);
  }

  json call(std::string_view tool, json arguments = json::object()) {
    return harness_->client->call_tool(tool, std::move(arguments));
  }
  json ok(std::string_view tool, json arguments = json::object()) {
    json result = call(tool, arguments);
    EXPECT_FALSE(result.value("isError", false))
        << tool << " " << arguments.dump() << " failed: " << text_of(result);
    return result.value("structuredContent", json::object());
  }
  std::string error(std::string_view tool, json arguments = json::object()) {
    json result = call(tool, arguments);
    EXPECT_TRUE(result.value("isError", false))
        << tool << " " << arguments.dump() << " should fail: " << result.dump();
    return text_of(result);
  }
  json read(const std::string& uri) {
    return harness_->client->request("resources/read", {{"uri", uri}});
  }
  // A resources/read expected to fail: the JSON-RPC error code.
  int read_error(const std::string& uri) {
    try {
      read(uri);
    } catch (const mcp::rpc_error& failure) {
      return failure.code();
    }
    ADD_FAILURE() << "reading " << uri << " should fail";
    return 0;
  }

  json index_everything() { return ok("index_documents"); }

  // `count` generated chapters under docs/generated, big enough to take a while to index.
  void generate_chapters(int count) {
    for (int i = 0; i < count; ++i) {
      std::string text = "---\ntitle: Generated chapter " + std::to_string(i) +
                         "\n---\n\n# Chapter " + std::to_string(i) + "\n\n";
      for (int section = 0; section < 6; ++section) {
        text += "## Section " + std::to_string(section) + "\n\n";
        for (int line = 0; line < 8; ++line) {
          text += "Servo number " + std::to_string(i * 100 + section) +
                  " drives the gripper joint with torque control and encoder feedback, line " +
                  std::to_string(line) + ".\n";
        }
        text += "\n";
      }
      char name[32];
      std::snprintf(name, sizeof name, "chapter-%04d.md", i);
      write_file(docs_ / "generated" / name, text);
    }
  }

  std::set<std::string> registry_paths() {
    std::set<std::string> out;
    for (const auto& record : database_->documents().list()) out.insert(record.path);
    return out;
  }

  fs::path temporary_, docs_, outside_, data_;
  std::unique_ptr<store::database> database_;
  rag::lexical_index index_;
  std::unique_ptr<rag::indexer> indexer_;
  std::shared_ptr<index_runner> runner_;
  notification_log notifications_;
  std::unique_ptr<mcp_testing::client_harness> harness_;
};

TEST_F(BookToolsTest, ListsTheToolsWithOutputSchemas) {
  std::set<std::string> names;
  for (const auto& tool : harness_->client->list_tools()) {
    names.insert(tool.at("name"));
    EXPECT_TRUE(tool.contains("outputSchema")) << tool.at("name");
    EXPECT_TRUE(tool.contains("annotations")) << tool.at("name");
  }
  EXPECT_EQ(names, (std::set<std::string>{"search_book", "index_documents", "index_status",
                                          "remove_document"}));
}

TEST_F(BookToolsTest, IndexingCountsEveryDocumentThenNothingOnAnUnchangedRun) {
  json first = index_everything();
  EXPECT_EQ(first.at("added"), 5);
  EXPECT_EQ(first.at("failed"), 0);
  EXPECT_EQ(first.at("cancelled"), false);
  json second = index_everything();
  EXPECT_EQ(second.at("added"), 0);
  EXPECT_EQ(second.at("unchanged"), 5);
}

TEST_F(BookToolsTest, SearchReturnsCitationsAndResourceLinks) {
  index_everything();
  json result = call("search_book", {{"query", "how do I tune a PID controller"}});
  ASSERT_FALSE(result.value("isError", false)) << text_of(result);
  const json& hits = result.at("structuredContent").at("hits");
  ASSERT_FALSE(hits.empty());
  EXPECT_LE(hits.size(), 5u);  // the default limit
  const json& top = hits.at(0);
  EXPECT_EQ(top.at("path"), "02-motion/kinematics.md");
  EXPECT_EQ(top.at("title"), "Kinematics and Control");
  EXPECT_EQ(top.at("heading_path").at(0), "Kinematics and Control");
  EXPECT_FALSE(top.at("anchor").get<std::string>().empty());
  EXPECT_EQ(top.at("url"), "/docs/motion/kinematics#" + top.at("anchor").get<std::string>());
  EXPECT_NE(top.at("snippet").get<std::string>().find("**"), std::string::npos)
      << "matched words are marked: " << top.at("snippet");
  EXPECT_EQ(top.at("uri"),
            "book://doc/02-motion/kinematics.md#" + top.at("anchor").get<std::string>());

  const json& content = result.at("content");
  ASSERT_EQ(content.size(), hits.size() + 1);  // the text rendering, then one link per hit
  EXPECT_EQ(content.at(0).at("type"), "text");
  EXPECT_NE(content.at(0).at("text").get<std::string>().find(top.at("url").get<std::string>()),
            std::string::npos);
  const json& link = content.at(1);
  EXPECT_EQ(link.at("type"), "resource_link");
  EXPECT_EQ(link.at("uri"), top.at("uri"));
  EXPECT_EQ(link.at("name"), "02-motion/kinematics.md#" + top.at("anchor").get<std::string>());
  EXPECT_NE(link.at("title").get<std::string>().find("Kinematics and Control"), std::string::npos);
  EXPECT_EQ(link.at("mimeType"), "text/markdown");

  // The link opens the section it cites.
  json section = read(link.at("uri"));
  ASSERT_EQ(section.at("contents").size(), 1u);
  const std::string markdown = section.at("contents").at(0).at("text");
  EXPECT_EQ(section.at("contents").at(0).at("mimeType"), "text/markdown");
  EXPECT_TRUE(markdown.starts_with("#")) << markdown;
  EXPECT_NE(markdown.find("PID"), std::string::npos) << markdown;
  EXPECT_EQ(markdown.find("Forward kinematics"), std::string::npos) << "only the section";
}

TEST_F(BookToolsTest, SearchHonoursLimitAndPathPrefix) {
  index_everything();
  json one = ok("search_book", {{"query", "robot sensors motion"}, {"limit", 1}});
  EXPECT_EQ(one.at("hits").size(), 1u);
  json many = ok("search_book", {{"query", "robot"}, {"limit", 50}});
  EXPECT_GT(many.at("hits").size(), 1u);
  json basics =
      ok("search_book", {{"query", "robot"}, {"path_prefix", "01-basics/"}, {"limit", 50}});
  ASSERT_FALSE(basics.at("hits").empty());
  for (const auto& hit : basics.at("hits")) {
    EXPECT_TRUE(hit.at("path").get<std::string>().starts_with("01-basics/")) << hit.at("path");
  }
  json nothing = ok("search_book", {{"query", "zyzzyvaquux"}});
  EXPECT_TRUE(nothing.at("hits").empty());
}

TEST_F(BookToolsTest, BadSearchInputIsAnActionableToolError) {
  index_everything();
  EXPECT_NE(error("search_book", {{"query", "robot"}, {"limit", 0}}).find("limit"),
            std::string::npos);
  EXPECT_NE(error("search_book", {{"query", "robot"}, {"limit", 51}}).find("limit"),
            std::string::npos);
  EXPECT_NE(error("search_book", {{"query", ""}}).find("query"), std::string::npos);
  EXPECT_NE(error("search_book", {{"query", "   "}}).find("query is empty"), std::string::npos);
  EXPECT_NE(error("search_book", json::object()).find("query"), std::string::npos);
  EXPECT_NE(error("search_book", {{"query", "the of and"}}).find("no searchable words"),
            std::string::npos);
  EXPECT_NE(error("search_book", {{"query", "robot"}, {"path_prefix", "../outside"}}).find(".."),
            std::string::npos);
  EXPECT_NE(error("search_book", {{"query", "robot"}, {"path_prefix", "no-such-part"}})
                .find("book://toc"),
            std::string::npos);
  EXPECT_NE(error("search_book", {{"query", "robot"}, {"colour", "red"}}).find("colour"),
            std::string::npos);
}

TEST_F(BookToolsTest, TableOfContentsIsInSidebarOrderWithDocumentLinks) {
  index_everything();
  json toc = read("book://toc");
  const std::string text = toc.at("contents").at(0).at("text");
  EXPECT_EQ(toc.at("contents").at(0).at("mimeType"), "text/markdown");
  const auto intro = text.find("[Robotics Fundamentals](book://doc/intro.md)");
  const auto basics = text.find("Basics");
  const auto robot = text.find("(book://doc/01-basics/01-what-is-a-robot.md)");
  const auto sensors = text.find("(book://doc/01-basics/02-sensors.mdx)");
  const auto motion = text.find("Motion and Control");
  const auto kinematics = text.find("(book://doc/02-motion/kinematics.md)");
  for (auto position : {intro, basics, robot, sensors, motion, kinematics}) {
    ASSERT_NE(position, std::string::npos) << text;
  }
  EXPECT_LT(intro, basics);
  EXPECT_LT(basics, robot);
  EXPECT_LT(robot, sensors);
  EXPECT_LT(sensors, motion);
  EXPECT_LT(motion, kinematics);
}

TEST_F(BookToolsTest, DocumentResourcesOpenPagesAndSectionsInsideTheBookOnly) {
  index_everything();
  json whole = read("book://doc/02-motion/kinematics.md");
  const std::string page = whole.at("contents").at(0).at("text");
  EXPECT_NE(page.find("# Kinematics and Control"), std::string::npos);
  EXPECT_EQ(page.find("sidebar_position"), std::string::npos) << "no front matter";
  json section = read("book://doc/02-motion/kinematics.md#forward");
  const std::string forward = section.at("contents").at(0).at("text");
  EXPECT_TRUE(forward.starts_with("## Forward kinematics")) << forward;
  EXPECT_EQ(forward.find("Inverse kinematics"), std::string::npos);
  EXPECT_EQ(section.at("contents").at(0).at("uri"), "book://doc/02-motion/kinematics.md#forward");

  EXPECT_EQ(read_error("book://doc/02-motion/missing.md"), mcp::error_code::resource_not_found);
  EXPECT_EQ(read_error("book://doc/02-motion/kinematics.md#no-such-anchor"),
            mcp::error_code::invalid_params);
  EXPECT_EQ(read_error("book://doc/../outside/secret.md"), mcp::error_code::invalid_params);
  EXPECT_EQ(read_error("book://doc/%2E%2E/outside/secret.md"), mcp::error_code::invalid_params);
  EXPECT_EQ(read_error("book://doc/" + (outside_ / "secret.md").string()),
            mcp::error_code::invalid_params);
  EXPECT_EQ(read_error("book://doc/bad%zzescape.md"), mcp::error_code::invalid_params);
}

TEST_F(BookToolsTest, UrisRoundTripThroughPercentEncoding) {
  const std::string uri = document_uri("part 1/Ünïcode.md", "a b");
  EXPECT_EQ(uri, "book://doc/part%201/%C3%9Cn%C3%AFcode.md#a%20b");
  auto reference = parse_document_reference(uri.substr(book_document_uri_prefix.size()));
  ASSERT_TRUE(reference);
  EXPECT_EQ(reference->path, "part 1/Ünïcode.md");
  EXPECT_EQ(reference->anchor, "a b");
  EXPECT_FALSE(parse_document_reference("a%2"));
  EXPECT_FALSE(parse_document_reference("a%00b"));
}

// Completing book://doc/{+path} reports every match in total and hasMore, not the first 100
// as if they were all.
TEST_F(BookToolsTest, PathCompletionCountsEveryMatch) {
  generate_chapters(120);
  index_everything();
  const json answer = harness_->client->request(
      "completion/complete", {{"ref", {{"type", "ref/resource"}, {"uri", "book://doc/{+path}"}}},
                              {"argument", {{"name", "path"}, {"value", "generated/"}}}});
  const json& completion = answer["completion"];
  EXPECT_EQ(completion["values"].size(), 100u) << answer.dump().substr(0, 300);
  EXPECT_EQ(completion["total"], 120);
  EXPECT_EQ(completion["hasMore"], true);
}

// Right after a start with an empty data directory, the startup run is announced before its
// thread starts: index_status says a run is in progress and a search says the book is still
// being indexed (it used to answer "no section matches", as if the book lacked the topic).
TEST_F(BookToolsTest, BeforeTheFirstIndexIsBuiltSearchSaysSo) {
  runner_->announce_run();
  EXPECT_TRUE(ok("index_status").at("indexing"));
  const std::string message = error("search_book", {{"query", "robot"}});
  EXPECT_NE(message.find("still being indexed"), std::string::npos) << message;
  ok("index_documents");  // the announced run
  EXPECT_FALSE(ok("index_status").at("indexing"));
  EXPECT_FALSE(ok("search_book", {{"query", "robot"}}).at("hits").empty());
  // A search without hits on a built index is an ordinary "no match", indexing or not.
  runner_->announce_run();
  EXPECT_TRUE(ok("search_book", {{"query", "zzyzx"}}).at("hits").empty());
}

// A data directory that went away: a tool error saying what failed (it used to be a bare
// "Internal error"), and the book still searchable from the index in memory.
TEST_F(BookToolsTest, ADataDirectoryThatWentAwayIsAClearToolError) {
  ok("index_documents");
  write_file(docs_ / "new-page.md", "# New page\n\nA kangaroo appears.\n");
  fs::remove_all(data_);
  const std::string message = error("index_documents");
  EXPECT_NE(message.find("indexing failed"), std::string::npos) << message;
  EXPECT_EQ(message.find(data_.string()), std::string::npos) << "no server paths: " << message;
  EXPECT_FALSE(ok("search_book", {{"query", "robot"}}).at("hits").empty());
}

TEST_F(BookToolsTest, PerFileErrorsDoNotStopTheBatch) {
  write_file(docs_ / "broken" / "latin1.md", "# Caf\xe9\n\nNot UTF-8.\n");
  write_file(docs_ / "broken" / "huge.md",
             "# Huge\n\n" + std::string(test_max_file_bytes + 10, 'x'));
  fs::create_directory_symlink(outside_, docs_ / "broken" / "escape");
  fs::create_symlink(outside_ / "secret.md", docs_ / "broken" / "linked-secret.md");
  json result = ok("index_documents");
  EXPECT_EQ(result.at("added"), 5) << result.dump();
  EXPECT_GE(result.at("failed"), 3) << result.dump();
  std::map<std::string, std::string> errors;
  for (const auto& item : result.at("errors")) errors[item.at("path")] = item.at("message");
  EXPECT_NE(errors["broken/latin1.md"].find("UTF-8"), std::string::npos);
  EXPECT_NE(errors["broken/huge.md"].find("too large"), std::string::npos);
  EXPECT_NE(errors["broken/linked-secret.md"].find("outside"), std::string::npos);
  EXPECT_TRUE(ok("search_book", {{"query", "swordfish password"}}).at("hits").empty());

  json status = ok("index_status");
  std::set<std::string> failed;
  for (const auto& item : status.at("last_errors")) failed.insert(item.at("path"));
  EXPECT_TRUE(failed.contains("broken/latin1.md"));
  EXPECT_TRUE(failed.contains("broken/huge.md"));
}

TEST_F(BookToolsTest, UnreadableFileIsAPerFileError) {
  if (::geteuid() == 0) GTEST_SKIP() << "root reads every file";
  write_file(docs_ / "locked.md", "# Locked\n");
  fs::permissions(docs_ / "locked.md", fs::perms::none);
  json result = ok("index_documents");
  ASSERT_EQ(result.at("failed"), 1);
  EXPECT_EQ(result.at("errors").at(0).at("path"), "locked.md");
}

TEST_F(BookToolsTest, PathsOutsideTheRootsAreRefused) {
  fs::create_directory_symlink(outside_, docs_ / "escape");
  for (const std::string& path :
       {std::string("../outside"), std::string("../outside/secret.md"),
        (outside_ / "secret.md").string(), std::string("/etc"), std::string("escape"),
        std::string("escape/secret.md"), std::string("01-basics/../../outside/secret.md")}) {
    std::string message = error("index_documents", {{"paths", {path}}});
    EXPECT_NE(message.find("outside"), std::string::npos) << path << ": " << message;
    EXPECT_NE(error("remove_document", {{"path", path}}).find("outside"), std::string::npos)
        << path;
  }
  // A good path next to a bad one: nothing is indexed.
  error("index_documents", {{"paths", {"intro.md", "../outside"}}});
  EXPECT_TRUE(registry_paths().empty());
  EXPECT_NE(error("index_documents", {{"paths", {"no-such-file.md"}}}).find("no such"),
            std::string::npos);
}

TEST_F(BookToolsTest, IndexesChosenPathsOnly) {
  json result = ok("index_documents", {{"paths", {"02-motion", "intro.md"}}});
  EXPECT_EQ(result.at("added"), 3);
  EXPECT_EQ(registry_paths(),
            (std::set<std::string>{"02-motion/index.md", "02-motion/kinematics.md", "intro.md"}));
}

TEST_F(BookToolsTest, RemoveDocumentDropsItFromSearch) {
  index_everything();
  auto intro_hits = [&] {
    std::size_t count = 0;
    const json found = ok("search_book", {{"query", "robotics fundamentals"}, {"limit", 50}});
    for (const auto& hit : found.at("hits")) {
      count += hit.at("path") == "intro.md";
    }
    return count;
  };
  ASSERT_GT(intro_hits(), 0u);
  const auto changes = notifications_.count("notifications/resources/list_changed");
  json removed = ok("remove_document", {{"path", "intro.md"}});
  EXPECT_EQ(removed.at("removed"), true);
  EXPECT_EQ(intro_hits(), 0u);
  EXPECT_TRUE(notifications_.wait_for("notifications/resources/list_changed", changes + 1));
  EXPECT_EQ(ok("remove_document", {{"path", "intro.md"}}).at("removed"), false);
  EXPECT_EQ(ok("index_status").at("documents"), 4);
}

TEST_F(BookToolsTest, StatusReportsCountsLastRunAndSize) {
  json before = ok("index_status");
  EXPECT_EQ(before.at("documents"), 0);
  EXPECT_FALSE(before.contains("last_run"));
  index_everything();
  json status = ok("index_status");
  EXPECT_EQ(status.at("roots").size(), 1u);
  EXPECT_EQ(status.at("documents"), 5);
  EXPECT_EQ(status.at("failed_documents"), 0);
  EXPECT_GT(status.at("chunks").get<int>(), 5);
  EXPECT_EQ(status.at("indexing"), false);
  EXPECT_EQ(status.at("registry_generation"), status.at("index_generation"));
  EXPECT_EQ(status.at("last_run").at("trigger"), "tool");
  EXPECT_EQ(status.at("last_run").at("added"), 5);
  EXPECT_GT(status.at("index_bytes").get<std::int64_t>(), 0);
  EXPECT_GT(status.at("database_bytes").get<std::int64_t>(), 0);
  EXPECT_EQ(status.at("size_on_disk_bytes"), status.at("index_bytes").get<std::int64_t>() +
                                                 status.at("database_bytes").get<std::int64_t>());
}

TEST_F(BookToolsTest, ListChangedOnlyWhenTheSetOfDocumentsChanges) {
  EXPECT_EQ(notifications_.count("notifications/resources/list_changed"), 0u);
  index_everything();
  EXPECT_TRUE(notifications_.wait_for("notifications/resources/list_changed", 1));
  const auto after_first = notifications_.count("notifications/resources/list_changed");
  index_everything();  // unchanged
  write_file(docs_ / "intro.md",
             "---\ntitle: Robotics Fundamentals\n---\n\n# Edited\n\nNew words: quokka.\n");
  json edited = ok("index_documents");
  EXPECT_EQ(edited.at("updated"), 1);
  EXPECT_EQ(ok("search_book", {{"query", "quokka"}}).at("hits").at(0).at("path"), "intro.md");
  EXPECT_EQ(notifications_.count("notifications/resources/list_changed"), after_first)
      << "updates and unchanged runs do not change the list";
  write_file(docs_ / "new-page.md", "# New page\n\nAbout wombats.\n");
  ok("index_documents");
  EXPECT_TRUE(notifications_.wait_for("notifications/resources/list_changed", after_first + 1));
}

// Cancellation through a raw session, to see exactly what the server sends: progress while it
// runs, nothing for the cancelled request, and a consistent index that the next run completes.
TEST_F(BookToolsTest, CancellingIndexingStopsBetweenFilesAndLeavesAConsistentIndex) {
  constexpr int chapters = 300;
  generate_chapters(chapters);
  mcp_testing::session_harness raw;
  attach(raw.server);
  raw.initialize();
  mcp_testing::signal run_finished;
  runner_->add_listener([&](const index_run_record& run) {
    if (run.trigger == "tool") run_finished.set();
  });

  raw.start_call(7, "index_documents", json::object(), {{"_meta", {{"progressToken", "p7"}}}});
  auto progressed = raw.sink->wait_for([](const json& message) {
    return mcp_testing::is_notification(message, "notifications/progress") &&
           message["params"].value("progress", 0.0) >= 20;
  });
  ASSERT_TRUE(progressed) << "no progress notifications";
  EXPECT_EQ(progressed->at("params").at("progressToken"), "p7");
  EXPECT_EQ(progressed->at("params").at("total"), chapters + 5);
  raw.cancel(7);
  ASSERT_TRUE(run_finished.wait());

  // A later call is answered after the cancelled handler returned: the cancelled one never is.
  json status =
      raw.request("tools/call", {{"name", "index_status"}, {"arguments", json::object()}});
  EXPECT_TRUE(raw.sink->responses_to(7).empty()) << "a cancelled request gets no response";
  const json& counts = status.at("result").at("structuredContent");
  const json& last_run = counts.at("last_run");
  EXPECT_EQ(last_run.at("cancelled"), true);
  const int done = last_run.at("added").get<int>();
  EXPECT_GE(done, 19);
  EXPECT_LT(done, chapters + 5) << "cancelled before the end";
  EXPECT_EQ(counts.at("documents"), done);
  EXPECT_EQ(counts.at("registry_generation"), counts.at("index_generation"));
  EXPECT_EQ(registry_paths().size(), static_cast<std::size_t>(done));
  // Every hit is a document in the registry.
  const auto paths = registry_paths();
  for (const auto& hit : index_.search({"servo gripper torque", 50, ""})) {
    EXPECT_TRUE(paths.contains(hit.document_path)) << hit.document_path;
  }

  json rest = ok("index_documents");
  EXPECT_EQ(rest.at("cancelled"), false);
  EXPECT_EQ(rest.at("added").get<int>() + done, chapters + 5);
  EXPECT_EQ(rest.at("unchanged"), done);
  EXPECT_EQ(ok("index_status").at("documents"), chapters + 5);
}

}  // namespace
}  // namespace bookmcp::tools

namespace bookmcp::tools {
namespace {

TEST_F(BookToolsTest, WithoutEmbeddingsSearchIsLexicalAndSaysWhichSignalAnswered) {
  index_everything();
  json found = ok("search_book", {{"query", "PID controller"}});
  EXPECT_EQ(found.at("mode"), "lexical");
  EXPECT_EQ(found.at("signals"), json({{"lexical", true}, {"dense", false}}));
  EXPECT_EQ(found.at("degraded"), false);
  EXPECT_EQ(found.at("hits").at(0).at("lexical_rank"), 1);
  EXPECT_FALSE(found.at("hits").at(0).contains("dense_rank"));
  EXPECT_EQ(ok("search_book", {{"query", "PID"}, {"mode", "lexical"}}).at("mode"), "lexical");
  EXPECT_NE(error("search_book", {{"query", "PID"}, {"mode", "hybrid"}}).find("needs embeddings"),
            std::string::npos);
  EXPECT_NE(error("search_book", {{"query", "PID"}, {"mode", "dense"}}).find("--embeddings-url"),
            std::string::npos)
      << "names the settings";
  EXPECT_NE(error("search_book", {{"query", "PID"}, {"mode", "fuzzy"}}).find("mode"),
            std::string::npos);
}

// The book tools with dense retrieval over the embeddings test double.
class BookToolsDenseTest : public ::testing::Test {
 protected:
  void SetUp() override {
    temporary_ = make_temporary_folder();
    docs_ = temporary_ / "docs";
    fs::copy(BOOKMCP_SAMPLE_BOOK_DIR, docs_, fs::copy_options::recursive);
    data_ = temporary_ / "data";
    database_ = store::open_sqlite({.data_dir = data_});
    endpoint_ = std::make_unique<bookmcp::testing::embeddings_double>();
    rag::openai_embedder_options embedder;
    embedder.base_url = endpoint_->base_url();
    embedder.model = "double-embed-1";
    embedder.backoff_base = 1ms;
    embedder.backoff_max = 2ms;
    embedder.max_retries = 1;
    auto queries = embedder;
    queries.max_retries = 0;
    dense_ = std::make_unique<rag::dense_retriever>(
        rag::make_openai_embedder(embedder), rag::make_openai_embedder(queries),
        rag::make_embedded_vector_store({.file = data_ / "dense.index"}));
    rag::indexer_options options;
    options.roots = {docs_};
    options.snapshot_file = data_ / "bm25.index";
    options.dense = dense_.get();
    indexer_ = std::make_unique<rag::indexer>(database_->documents(), index_, options);
    indexer_->open();
    book_tool_options tools;
    tools.runner = std::make_shared<index_runner>(*indexer_, database_->documents());
    tools.index.snapshot_file = data_ / "bm25.index";
    tools.searcher = std::make_shared<rag::book_searcher>(index_, dense_.get());
    harness_ = std::make_unique<mcp_testing::client_harness>();
    register_book_tools(harness_->server, *indexer_, index_, tools);
    harness_->client->initialize();
  }
  void TearDown() override {
    harness_.reset();
    fs::remove_all(temporary_);
  }
  json call(std::string_view tool, json arguments = json::object()) {
    return harness_->client->call_tool(tool, std::move(arguments));
  }

  fs::path temporary_, docs_, data_;
  std::unique_ptr<store::database> database_;
  std::unique_ptr<bookmcp::testing::embeddings_double> endpoint_;
  std::unique_ptr<rag::dense_retriever> dense_;
  rag::lexical_index index_;
  std::unique_ptr<rag::indexer> indexer_;
  std::unique_ptr<mcp_testing::client_harness> harness_;
};

TEST_F(BookToolsDenseTest, IndexingReportsTheEmbeddingStepAndSearchIsHybrid) {
  json indexed = call("index_documents");
  ASSERT_FALSE(indexed.value("isError", false)) << text_of(indexed);
  const json& embedding = indexed.at("structuredContent").at("embedding");
  EXPECT_GT(embedding.at("embedded").get<int>(), 0);
  EXPECT_EQ(embedding.at("pending"), 0);
  EXPECT_GE(embedding.at("requests").get<int>(), 1);
  EXPECT_NE(text_of(indexed).find("Embeddings:"), std::string::npos);

  json status = call("index_status").at("structuredContent");
  EXPECT_EQ(status.at("dense").at("store"), "embedded");
  EXPECT_EQ(status.at("dense").at("vectors"), status.at("chunks"));
  EXPECT_NE(status.at("dense").at("model").get<std::string>().find("double-embed-1"),
            std::string::npos);

  json found = call("search_book", {{"query", "how do I tune a PID controller"}});
  ASSERT_FALSE(found.value("isError", false)) << text_of(found);
  const json& structured = found.at("structuredContent");
  EXPECT_EQ(structured.at("mode"), "hybrid");
  EXPECT_EQ(structured.at("signals"), json({{"lexical", true}, {"dense", true}}));
  EXPECT_EQ(structured.at("degraded"), false);
  const json& top = structured.at("hits").at(0);
  EXPECT_EQ(top.at("path"), "02-motion/kinematics.md");
  EXPECT_TRUE(top.contains("dense_rank") || top.contains("lexical_rank"));
  EXPECT_FALSE(top.at("url").get<std::string>().empty());
  EXPECT_EQ(found.at("content").at(1).at("type"), "resource_link");

  json dense = call("search_book", {{"query", "PID tuning"}, {"mode", "dense"}});
  EXPECT_EQ(dense.at("structuredContent").at("mode"), "dense");
  EXPECT_EQ(dense.at("structuredContent").at("signals").at("lexical"), false);
}

TEST_F(BookToolsDenseTest, SearchDegradesToWordsAndSaysWhy) {
  call("index_documents");
  endpoint_->inject(bookmcp::testing::embeddings_fault::rate_limited, 3);
  json found = call("search_book", {{"query", "PID controller"}});
  ASSERT_FALSE(found.value("isError", false)) << text_of(found);
  const json& structured = found.at("structuredContent");
  EXPECT_EQ(structured.at("degraded"), true);
  EXPECT_EQ(structured.at("mode"), "lexical");
  EXPECT_NE(structured.at("degraded_reason").get<std::string>().find("429"), std::string::npos)
      << structured.at("degraded_reason");
  EXPECT_FALSE(structured.at("hits").empty());
  EXPECT_NE(text_of(found).find("Degraded"), std::string::npos);
}

TEST_F(BookToolsDenseTest, AnEmbeddingOutageDuringIndexingIsReportedAndResumed) {
  endpoint_->inject(bookmcp::testing::embeddings_fault::server_error, 2);
  json first = call("index_documents").at("structuredContent");
  EXPECT_GT(first.at("embedding").at("pending").get<int>(), 0);
  EXPECT_NE(first.at("embedding").at("error").get<std::string>().find("503"), std::string::npos);
  EXPECT_EQ(first.at("failed"), 0) << "the files themselves are indexed";
  json second = call("index_documents").at("structuredContent");
  EXPECT_EQ(second.at("embedding").at("pending"), 0);
  EXPECT_EQ(second.at("embedding").at("embedded"), first.at("embedding").at("pending"));
}

}  // namespace
}  // namespace bookmcp::tools
