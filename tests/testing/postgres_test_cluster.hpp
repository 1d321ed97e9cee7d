#pragma once
// Access to the throwaway Postgres cluster started by tests/testing/with_postgres.sh.
// Tests that need it call postgres_test_url() and GTEST_SKIP when it is empty.

#include <cstdint>
#include <optional>
#include <string>

namespace bookmcp::testing {

inline constexpr const char* postgres_skip_message =
    "BOOKMCP_TEST_DATABASE_URL is not set; run under tests/testing/with_postgres.sh";

// $BOOKMCP_TEST_DATABASE_URL, or nullopt.
std::optional<std::string> postgres_test_url();

// `url` with its database name replaced.
std::string postgres_url_for_database(const std::string& url, const std::string& database);

// A fresh, empty database on the test cluster, dropped (forcibly) on destruction.
class postgres_test_database {
 public:
  explicit postgres_test_database(const std::string& cluster_url);
  postgres_test_database(const postgres_test_database&) = delete;
  postgres_test_database& operator=(const postgres_test_database&) = delete;
  ~postgres_test_database();

  const std::string& url() const noexcept { return url_; }
  const std::string& name() const noexcept { return name_; }

  // Runs test-only SQL on this database over its own connection.
  void execute(const std::string& sql) const;
  std::int64_t query_integer(const std::string& sql) const;

 private:
  std::string cluster_url_;
  std::string name_;
  std::string url_;
};

// Runs "$BOOKMCP_TEST_PG_CTL <arguments>" (pg_ctl on the test cluster as its owner) and
// returns its exit status; -1 when the variable is not set.
int postgres_ctl(const std::string& arguments);

}  // namespace bookmcp::testing
