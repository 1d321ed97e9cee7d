#pragma once
// The fixture of Postgres-only tests: a fresh database on the test cluster for each test
// (dropped after it); the test is skipped when the cluster is not there.

#include <gtest/gtest.h>

#include <memory>

#include "tests/testing/postgres_test_cluster.hpp"

namespace bookmcp::testing {

class postgres_database_test : public ::testing::Test {
 protected:
  void SetUp() override {
    auto url = postgres_test_url();
    if (!url) GTEST_SKIP() << postgres_skip_message;
    database_ = std::make_unique<postgres_test_database>(*url);
  }

  std::unique_ptr<postgres_test_database> database_;
};

}  // namespace bookmcp::testing
