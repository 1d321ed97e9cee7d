// SQLite-specific behaviour: connection settings, cancellation and the statement deadline.

#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <thread>

#include "store/errors.hpp"
#include "store/internal/testing_hooks.hpp"
#include "tests/testing/store_backends.hpp"

namespace bookmcp::store {
namespace {

using namespace std::chrono;

class SqliteStoreTest : public ::testing::Test {
 protected:
  void SetUp() override { backend_ = testing::sqlite_backend().make(); }
  std::unique_ptr<testing::store_backend> backend_;
};

TEST_F(SqliteStoreTest, UsesWriteAheadLogging) {
  auto db = backend_->open({});
  EXPECT_EQ(db->backend_name(), "sqlite");
  backend_->execute_sql("CREATE TABLE probe (x INTEGER)");  // works while the store is open
  EXPECT_EQ(backend_->query_integer("SELECT count(*) FROM pragma_journal_mode"
                                    " WHERE journal_mode = 'wal'"),
            1);
}

TEST_F(SqliteStoreTest, ForeignKeysAreEnforced) {
  auto db = backend_->open({});
  document_record orphan_parent;
  orphan_parent.root = "/r";
  orphan_parent.path = "p.md";
  db->documents().replace(orphan_parent, {});
  // Deleting the record removes its chunks through the foreign key's cascade.
  stored_chunk chunk;
  chunk.id = "c";
  chunk.position = 0;
  db->documents().replace(orphan_parent, {chunk});
  EXPECT_TRUE(db->documents().remove("/r", "p.md"));
  EXPECT_TRUE(db->documents().all_chunks().empty());
}

TEST_F(SqliteStoreTest, StopTokenCancelsARunningQuery) {
  auto db = backend_->open({});
  auto& hooks = dynamic_cast<internal::testing_hooks&>(*db);
  std::stop_source stop;
  std::jthread canceller([&] {
    std::this_thread::sleep_for(milliseconds(100));  // let the query start
    stop.request_stop();
  });
  const auto started = steady_clock::now();
  EXPECT_THROW(hooks.slow_query_for_testing(seconds(60), stop.get_token()), cancelled);
  EXPECT_LT(steady_clock::now() - started, seconds(30));  // the query was for 60
  db->ping({});  // the connection is still usable
}

TEST_F(SqliteStoreTest, StatementTimeoutEndsALongQuery) {
  testing::store_open_settings settings;
  settings.statement_timeout = milliseconds(200);
  auto db = backend_->open(settings);
  auto& hooks = dynamic_cast<internal::testing_hooks&>(*db);
  const auto started = steady_clock::now();
  EXPECT_THROW(hooks.slow_query_for_testing(seconds(60), {}), store_timeout);
  EXPECT_LT(steady_clock::now() - started, seconds(30));  // the query was for 60
}

TEST_F(SqliteStoreTest, UnwritableDataDirectoryIsUnavailable) {
  sqlite_options options;
  options.data_dir = "/proc/bookmcp-cannot-exist";
  try {
    open_sqlite(options);
    ADD_FAILURE() << "opened";
  } catch (const store_unavailable& e) {
    EXPECT_STREQ(e.what(), "the database is unavailable; try again");
  }
}

// Deleting the data directory under a running server used to let writes "succeed" into an
// unlinked file (lost at the next start) while readiness said "up".
TEST(SqliteStoreFiles, ADeletedDatabaseFileFailsWritesReadsAndPingClearly) {
  const auto directory =
      std::filesystem::temp_directory_path() / ("bookmcp-moved-" + std::to_string(::getpid()));
  std::filesystem::remove_all(directory);
  sqlite_options options;
  options.data_dir = directory;
  auto db = open_sqlite(options);
  const new_todo item{"Read chapter 3", "", std::nullopt, todo_priority::medium, {}, std::nullopt};
  ASSERT_TRUE(db->todos().add("reader", item, {}).created);
  db->ping({});

  std::filesystem::remove_all(directory);
  try {
    db->todos().add("reader", item, {});
    ADD_FAILURE() << "an add into a deleted database was acknowledged";
  } catch (const store_unavailable& e) {
    EXPECT_NE(std::string(e.what()).find("deleted or replaced while the server ran"),
              std::string::npos)
        << e.what();
  }
  EXPECT_THROW(db->todos().list("reader", {}, {}), store_unavailable);
  EXPECT_THROW(db->ping({}), store_unavailable);
}

}  // namespace
}  // namespace bookmcp::store
