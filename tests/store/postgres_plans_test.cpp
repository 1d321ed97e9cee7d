// Generic plans on Postgres: every pooled session uses one plan per prepared statement, and
// the schema keeps that plan good for every owner.

#include <gtest/gtest.h>

#include <pqxx/nontransaction>
#include <string>

#include "store/database.hpp"
#include "store/postgres/pg_pool.hpp"
#include "tests/testing/postgres_database_test.hpp"

namespace bookmcp::store {
namespace {

using namespace std::chrono;

using PostgresPlansTest = testing::postgres_database_test;

TEST_F(PostgresPlansTest, SessionsHaveTheStatementTimeoutAndOneGenericPlanPerStatement) {
  postgres::pool pool({.conninfo = database_->url(),
                       .min_connections = 1,
                       .max_connections = 1,
                       .statement_timeout = milliseconds(1234),
                       .setup = {}});
  auto lease = pool.acquire({}, steady_clock::now() + seconds(10));
  pqxx::nontransaction session(*lease);
  EXPECT_EQ(session.exec1("SHOW statement_timeout")[0].as<std::string>(), "1234ms");
  EXPECT_EQ(session.exec1("SHOW plan_cache_mode")[0].as<std::string>(), "force_generic_plan");

  // A statement with a LIMIT parameter, as a todo list page has: left to itself, Postgres
  // plans it again on every call. Here every call uses the one generic plan.
  lease->prepare("probe",
                 "SELECT g FROM generate_series(1, 100) AS g WHERE g > $1 ORDER BY g LIMIT $2");
  for (int call = 0; call < 8; ++call) {
    const auto rows = session.exec_prepared("probe", call, 3);
    ASSERT_EQ(rows.size(), 3u);
    EXPECT_EQ(rows[0][0].as<int>(), call + 1);
  }
  const auto plans = session.exec1(
      "SELECT generic_plans, custom_plans FROM pg_prepared_statements WHERE name = 'probe'");
  EXPECT_EQ(plans[0].as<long>(), 8);
  EXPECT_EQ(plans[1].as<long>(), 0);
}

// A generic plan does not know which owner it serves: an index that does not lead with the
// owner could make it read other owners' rows (as the GIN index on tags once did).
TEST_F(PostgresPlansTest, EveryTodoIndexButThePrimaryKeyLeadsWithTheOwner) {
  postgres_options options;
  options.database_url = database_->url();
  options.min_connections = 1;
  auto db = open_postgres(options);  // applies the migrations
  EXPECT_GE(
      database_->query_integer("SELECT count(*) FROM pg_index WHERE indrelid = 'todos'::regclass"),
      7);
  EXPECT_EQ(database_->query_integer(
                "SELECT count(*) FROM pg_index i JOIN pg_attribute a ON a.attrelid = i.indrelid"
                " AND a.attnum = i.indkey[0] WHERE i.indrelid = 'todos'::regclass"
                " AND NOT i.indisprimary AND a.attname <> 'owner'"),
            0);
}

}  // namespace
}  // namespace bookmcp::store
