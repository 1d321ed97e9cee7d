#pragma once
// The fixture shared by the store's parameterised suites: a fresh database per test on the
// back-end given by the test parameter, opened with a deterministic clock.

#include <gtest/gtest.h>

#include <memory>

#include "store/database.hpp"
#include "tests/testing/postgres_test_cluster.hpp"
#include "tests/testing/store_backends.hpp"

namespace bookmcp::store {

class StoreTest : public ::testing::TestWithParam<testing::store_backend_param> {
 protected:
  void SetUp() override {
    backend_ = GetParam().make();
    if (!backend_) GTEST_SKIP() << testing::postgres_skip_message;
    settings_.clock = clock_.function();
    db_ = backend_->open(settings_);
  }

  todo_repository& todos() { return db_->todos(); }

  testing::store_fake_clock clock_;
  testing::store_open_settings settings_;
  std::unique_ptr<testing::store_backend> backend_;
  std::unique_ptr<database> db_;
};

inline std::string backend_test_name(
    const ::testing::TestParamInfo<testing::store_backend_param>& info) {
  return info.param.name;
}

#define BOOKMCP_INSTANTIATE_STORE_SUITE(suite)                                         \
  INSTANTIATE_TEST_SUITE_P(Backends, suite,                                            \
                           ::testing::Values(::bookmcp::testing::sqlite_backend(),     \
                                             ::bookmcp::testing::postgres_backend()), \
                           ::bookmcp::store::backend_test_name)

}  // namespace bookmcp::store
