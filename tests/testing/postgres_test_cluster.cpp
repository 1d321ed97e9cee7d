#include "tests/testing/postgres_test_cluster.hpp"

#include <cstdlib>
#include <pqxx/pqxx>
#include <random>

namespace bookmcp::testing {

std::optional<std::string> postgres_test_url() {
  const char* url = std::getenv("BOOKMCP_TEST_DATABASE_URL");
  if (url == nullptr || *url == '\0') return std::nullopt;
  return std::string(url);
}

std::string postgres_url_for_database(const std::string& url, const std::string& database) {
  const auto scheme = url.find("://");
  const auto slash = url.find('/', scheme == std::string::npos ? 0 : scheme + 3);
  if (slash == std::string::npos) return url + "/" + database;
  const auto query = url.find('?', slash);
  return url.substr(0, slash + 1) + database +
         (query == std::string::npos ? std::string() : url.substr(query));
}

postgres_test_database::postgres_test_database(const std::string& cluster_url)
    : cluster_url_(cluster_url) {
  std::random_device random;
  name_ = "bookmcp_t_" + std::to_string(random()) + std::to_string(random());
  url_ = postgres_url_for_database(cluster_url_, name_);
  pqxx::connection admin(cluster_url_);
  pqxx::nontransaction txn(admin);
  // Test-only DDL: database names cannot be parameters; this one is digits and letters.
  txn.exec("CREATE DATABASE " + txn.quote_name(name_));
}

postgres_test_database::~postgres_test_database() {
  try {
    pqxx::connection admin(cluster_url_);
    pqxx::nontransaction txn(admin);
    txn.exec("DROP DATABASE IF EXISTS " + txn.quote_name(name_) + " WITH (FORCE)");
  } catch (const std::exception&) {
    // The cluster goes away with with_postgres.sh anyway.
  }
}

void postgres_test_database::execute(const std::string& sql) const {
  pqxx::connection conn(url_);
  pqxx::nontransaction txn(conn);
  txn.exec(sql);
}

std::int64_t postgres_test_database::query_integer(const std::string& sql) const {
  pqxx::connection conn(url_);
  pqxx::nontransaction txn(conn);
  return txn.exec(sql)[0][0].as<std::int64_t>();
}

int postgres_ctl(const std::string& arguments) {
  const char* helper = std::getenv("BOOKMCP_TEST_PG_CTL");
  if (helper == nullptr || *helper == '\0') return -1;
  const std::string command = std::string(helper) + " " + arguments + " >/dev/null 2>&1";
  const int status = std::system(command.c_str());
  return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

}  // namespace bookmcp::testing
