// The chat backend's stores, SQLite and Postgres, through the one interface: turns stored whole,
// every read scoped by reader, feedback, retention, migrations run once.

#include "examples/chat/chat_store.hpp"

#include <gtest/gtest.h>

#include "tests/chat/chat_fixture.hpp"
#include "tests/testing/postgres_test_cluster.hpp"

namespace bookmcp::chat::testing {
namespace {

stored_message message(const std::string& id, const std::string& role, const std::string& text, std::int64_t at) {
  stored_message m;
  m.id = id;
  m.role = role;
  m.text = text;
  m.created_at = at;
  if (role == "assistant") {
    m.finish_reason = "stop";
    m.mode = "extractive";
    m.citations = json::array({{{"n", 1}, {"url", "/docs/x#y"}, {"title", "X"}, {"heading_path", {"X", "Y"}}}});
    m.tool_calls = json::array({{{"id", "tc_1"}, {"name", "search_book"}}});
    m.timings = {{"total_ms", 12.5}};
  }
  return m;
}

class ChatStoreTest : public ::testing::TestWithParam<std::string> {
 protected:
  void SetUp() override {
    if (GetParam() == "sqlite") {
      store_ = open_sqlite_chat_store((folder_.path() / "chat.sqlite3").string());
      return;
    }
    const auto cluster = bookmcp::testing::postgres_test_url();
    if (!cluster) GTEST_SKIP() << bookmcp::testing::postgres_skip_message;
    database_ = std::make_unique<bookmcp::testing::postgres_test_database>(*cluster);
    store_ = open_postgres_chat_store(database_->url());
  }

  std::unique_ptr<chat_store> reopen() {
    return GetParam() == "sqlite" ? open_sqlite_chat_store((folder_.path() / "chat.sqlite3").string())
                                  : open_postgres_chat_store(database_->url());
  }

  temporary_folder folder_;
  std::unique_ptr<bookmcp::testing::postgres_test_database> database_;
  std::unique_ptr<chat_store> store_;
};

TEST_P(ChatStoreTest, ATurnIsStoredWholeAndReadBackInOrder) {
  store_->save_turn("alice", "c1", "First", message("u1", "user", "hello", 1000), message("m1", "assistant", "hi [1]", 1000));
  store_->save_turn("alice", "c1", "ignored", message("u2", "user", "again", 2000), message("m2", "assistant", "yes", 2000));
  EXPECT_EQ(store_->owner_of("c1"), "alice");
  EXPECT_EQ(store_->owner_of("c2"), std::nullopt);
  const auto full = store_->conversation("alice", "c1");
  ASSERT_TRUE(full);
  EXPECT_EQ((*full)["title"], "First");
  EXPECT_EQ((*full)["updated_at"], 2000);
  ASSERT_EQ((*full)["messages"].size(), 4u);
  EXPECT_EQ((*full)["messages"][0]["id"], "u1");
  EXPECT_EQ((*full)["messages"][1]["citations"][0]["url"], "/docs/x#y");
  EXPECT_EQ((*full)["messages"][1]["tool_calls"][0]["name"], "search_book");
  EXPECT_EQ((*full)["messages"][1]["timings"]["total_ms"], 12.5);
  EXPECT_EQ((*full)["messages"][3]["id"], "m2");
  const auto recent = store_->recent_messages("alice", "c1", 3);
  ASSERT_EQ(recent.size(), 3u);
  EXPECT_EQ(recent[0].id, "m1");
  EXPECT_EQ(recent[2].id, "m2");
}

TEST_P(ChatStoreTest, AnotherReadersConversationIsNotFoundAndCannotBeWritten) {
  store_->save_turn("alice", "c1", "First", message("u1", "user", "hello", 1000), message("m1", "assistant", "hi", 1000));
  EXPECT_FALSE(store_->conversation("bob", "c1"));
  EXPECT_TRUE(store_->recent_messages("bob", "c1", 10).empty());
  EXPECT_TRUE(store_->conversations("bob").empty());
  EXPECT_FALSE(store_->remove_conversation("bob", "c1"));
  EXPECT_FALSE(store_->save_feedback("bob", "m1", "up", ""));
  EXPECT_THROW(store_->save_turn("bob", "c1", "x", message("u9", "user", "mine now", 3000), message("m9", "assistant", "no", 3000)),
               chat_store_error);
  // Nothing of the refused turn was kept.
  EXPECT_EQ((*store_->conversation("alice", "c1"))["messages"].size(), 2u);
}

TEST_P(ChatStoreTest, AFailedTurnLeavesNothingBehind) {
  store_->save_turn("alice", "c1", "First", message("u1", "user", "hello", 1000), message("m1", "assistant", "hi", 1000));
  // The answer's id collides: the whole turn, question included, is rolled back.
  EXPECT_ANY_THROW(store_->save_turn("alice", "c2", "Second", message("u2", "user", "q", 2000), message("m1", "assistant", "dup", 2000)));
  EXPECT_FALSE(store_->owner_of("c2"));
  EXPECT_EQ(store_->conversations("alice").size(), 1u);
}

TEST_P(ChatStoreTest, FeedbackIsForTheReadersAnswersOnly) {
  store_->save_turn("alice", "c1", "First", message("u1", "user", "hello", 1000), message("m1", "assistant", "hi", 1000));
  EXPECT_FALSE(store_->save_feedback("alice", "u1", "up", "")) << "a question is not rated";
  EXPECT_FALSE(store_->save_feedback("alice", "nope", "up", ""));
  EXPECT_TRUE(store_->save_feedback("alice", "m1", "up", ""));
  EXPECT_TRUE(store_->save_feedback("alice", "m1", "down", "wrong section"));
  EXPECT_EQ((*store_->conversation("alice", "c1"))["messages"][1]["feedback"], "down");
}

TEST_P(ChatStoreTest, ListingIsNewestFirstAndRetentionPurgesOldConversations) {
  store_->save_turn("alice", "old", "Old", message("u1", "user", "a", 1000), message("m1", "assistant", "b", 1000));
  store_->save_turn("alice", "new", "New", message("u2", "user", "c", 5000), message("m2", "assistant", "d", 5000));
  const auto list = store_->conversations("alice");
  ASSERT_EQ(list.size(), 2u);
  EXPECT_EQ(list[0].id, "new");
  EXPECT_EQ(store_->purge_before(3000), 1u);
  EXPECT_FALSE(store_->owner_of("old"));
  EXPECT_TRUE(store_->owner_of("new"));
  EXPECT_TRUE(store_->remove_conversation("alice", "new"));
  EXPECT_TRUE(store_->conversations("alice").empty());
}

TEST_P(ChatStoreTest, ReopeningKeepsEverythingAndRunsNoMigrationTwice) {
  store_->save_turn("alice", "c1", "First", message("u1", "user", "hello", 1000), message("m1", "assistant", "hi", 1000));
  store_.reset();
  store_ = reopen();
  EXPECT_EQ(store_->owner_of("c1"), "alice");
  EXPECT_EQ(store_->probe(), "");
}

INSTANTIATE_TEST_SUITE_P(Backends, ChatStoreTest, ::testing::Values("sqlite", "postgres"),
                         [](const auto& info) { return info.param; });

}  // namespace
}  // namespace bookmcp::chat::testing
