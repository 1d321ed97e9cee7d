// Migration behaviour, run on every back-end.

#include <latch>
#include <thread>

#include "store/errors.hpp"
#include "tests/store/store_test_fixture.hpp"

namespace bookmcp::store {
namespace {

class MigrationTest : public ::testing::TestWithParam<testing::store_backend_param> {
 protected:
  void SetUp() override {
    backend_ = GetParam().make();
    if (!backend_) GTEST_SKIP() << testing::postgres_skip_message;
  }
  int latest() const {
    return backend_->kind() == "sqlite" ? latest_schema_version_sqlite()
                                        : latest_schema_version_postgres();
  }
  std::int64_t recorded_migrations() {
    return backend_->query_integer("SELECT count(*) FROM schema_migrations");
  }
  std::unique_ptr<testing::store_backend> backend_;
};

TEST_P(MigrationTest, FreshDatabaseIsMigratedAtOpen) {
  auto db = backend_->open({});
  EXPECT_EQ(db->schema_version(), latest());
  EXPECT_EQ(recorded_migrations(), latest());
}

TEST_P(MigrationTest, MigrateIsIdempotent) {
  testing::store_open_settings settings;
  settings.apply_migrations = false;
  auto db = backend_->open(settings);
  EXPECT_EQ(db->schema_version(), 0);
  const auto first = db->migrate();
  EXPECT_EQ(first.version_before, 0);
  EXPECT_EQ(first.version_after, latest());
  EXPECT_EQ(static_cast<int>(first.applied.size()), latest());
  const auto second = db->migrate();
  EXPECT_EQ(second.version_before, latest());
  EXPECT_EQ(second.version_after, latest());
  EXPECT_TRUE(second.applied.empty());
  db.reset();
  db = backend_->open({});  // reopening applies nothing either
  EXPECT_EQ(recorded_migrations(), latest());
}

TEST_P(MigrationTest, ConcurrentMigrationsApplyEachVersionOnce) {
  constexpr int instances = 2;
  std::latch start(instances);
  std::vector<std::unique_ptr<database>> opened(instances);
  std::vector<std::string> errors(instances);
  std::vector<std::thread> threads;
  for (int i = 0; i < instances; ++i) {
    threads.emplace_back([&, i] {
      start.arrive_and_wait();
      try {
        opened[i] = backend_->open({});
      } catch (const store_error& e) {
        errors[i] = std::string(e.what()) + " (" + e.diagnostic() + ")";
      } catch (const std::exception& e) {
        errors[i] = e.what();
      }
    });
  }
  for (auto& thread : threads) thread.join();
  for (int i = 0; i < instances; ++i) {
    EXPECT_EQ(errors[i], "");
    ASSERT_TRUE(opened[i]);
    EXPECT_EQ(opened[i]->schema_version(), latest());
  }
  EXPECT_EQ(recorded_migrations(), latest());
}

TEST_P(MigrationTest, ADatabaseNewerThanTheProgramIsRefused) {
  backend_->open({}).reset();
  const int newer = latest() + 5;
  backend_->execute_sql("INSERT INTO schema_migrations (version, name, applied_at) VALUES (" +
                        std::to_string(newer) + ", 'from the future', " +
                        (backend_->kind() == "sqlite" ? "'2030-01-01'" : "now()") + ")");
  for (bool apply : {true, false}) {
    testing::store_open_settings settings;
    settings.apply_migrations = apply;
    try {
      backend_->open(settings);
      ADD_FAILURE() << "opened a database with a newer schema";
    } catch (const schema_too_new& e) {
      EXPECT_EQ(e.database_version(), newer);
      EXPECT_EQ(e.program_version(), latest());
      const std::string message = e.what();
      EXPECT_NE(message.find(std::to_string(newer)), std::string::npos) << message;
      EXPECT_NE(message.find(std::to_string(latest())), std::string::npos) << message;
    }
  }
}

BOOKMCP_INSTANTIATE_STORE_SUITE(MigrationTest);

}  // namespace
}  // namespace bookmcp::store
