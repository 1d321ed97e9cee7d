#include "bench/common/option_values.hpp"

#include <gtest/gtest.h>

namespace bookmcp::bench {
namespace {

TEST(OptionValues, CountsWithinTheirBounds) {
  EXPECT_EQ(parse_count("--runs", "3", 1, 10), 3u);
  EXPECT_EQ(parse_count("--runs", "10", 1, 10), 10u);
  for (const char* bad : {"0", "11", "-1", "3x", "", " 3", "1e1"}) {
    SCOPED_TRACE(bad);
    EXPECT_THROW(parse_count("--runs", bad, 1, 10), usage_error);
  }
  try {
    parse_count("--connections", "lots", 1, 100);
    FAIL() << "no error";
  } catch (const usage_error& error) {
    EXPECT_STREQ(error.what(), "--connections wants a whole number from 1 to 100, not \"lots\"");
  }
}

TEST(OptionValues, SecondsAreDecimalsUpToTenMinutes) {
  EXPECT_EQ(parse_seconds("--duration", "0.5").count(), 500);
  EXPECT_EQ(parse_seconds("--duration", "600").count(), 600000);
  EXPECT_EQ(parse_seconds("--duration", "0").count(), 0);
  for (const char* bad : {"601", "-1", "ten", "", "inf", "nan", "5s"}) {
    SCOPED_TRACE(bad);
    EXPECT_THROW(parse_seconds("--duration", bad), usage_error);
  }
}

}  // namespace
}  // namespace bookmcp::bench
