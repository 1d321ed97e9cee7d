// reader_time_zone: fixed offsets and IANA zones from the system's tzdata.
#include "tools/todo/time_zone.hpp"

#include <gtest/gtest.h>

#include <chrono>

namespace bookmcp::tools {
namespace {

using namespace std::chrono;

store::timestamp at(sys_days day, minutes time_of_day) { return time_point_cast<milliseconds>(day + time_of_day); }

TEST(ReaderTimeZone, FixedOffsetsKeepTheirOffsetAllYear) {
  auto zone = reader_time_zone::parse("+05:30");
  ASSERT_TRUE(zone);
  EXPECT_EQ(zone->offset_at(at(2025y / January / 1, 0min)), 330min);
  EXPECT_EQ(zone->offset_at(at(2025y / July / 1, 0min)), 330min);
  EXPECT_EQ(zone->day_start(2025y / July / 1), at(2025y / June / 30, 18h + 30min));
  EXPECT_EQ(reader_time_zone::parse("UTC")->offset_at(at(2025y / July / 1, 0min)), 0min);
}

TEST(ReaderTimeZone, NamedZonesFollowDaylightSaving) {
  auto berlin = reader_time_zone::parse("Europe/Berlin");
  ASSERT_TRUE(berlin) << "is tzdata installed?";
  EXPECT_EQ(berlin->name(), "Europe/Berlin");
  EXPECT_EQ(berlin->offset_at(at(2025y / January / 15, 12h)), 60min);
  EXPECT_EQ(berlin->offset_at(at(2025y / July / 15, 12h)), 120min);
  // 2025-03-30: clocks go from 02:00 to 03:00 (01:00Z). Just before and just after.
  EXPECT_EQ(berlin->offset_at(at(2025y / March / 30, 59min)), 60min);
  EXPECT_EQ(berlin->offset_at(at(2025y / March / 30, 61min)), 120min);
  EXPECT_EQ(berlin->day_start(2025y / March / 30), at(2025y / March / 29, 23h));
  EXPECT_EQ(berlin->day_start(2025y / March / 31), at(2025y / March / 30, 22h));

  auto new_york = reader_time_zone::parse("America/New_York");
  ASSERT_TRUE(new_york);
  EXPECT_EQ(new_york->offset_at(at(2025y / January / 15, 12h)), -300min);
  EXPECT_EQ(new_york->offset_at(at(2025y / July / 15, 12h)), -240min);
}

TEST(ReaderTimeZone, ADayWhoseMidnightIsSkippedStartsAtTheJump) {
  // America/Santiago, 2024-09-08: at 00:00 (-04:00) clocks jump to 01:00 (-03:00), 04:00Z.
  auto santiago = reader_time_zone::parse("America/Santiago");
  ASSERT_TRUE(santiago);
  EXPECT_EQ(santiago->day_start(2024y / September / 8), at(2024y / September / 8, 4h));
}

TEST(ReaderTimeZone, UnknownOrMalformedNamesAreRefused) {
  for (auto text : {"Mars/Olympus", "", "Europe/", "../../etc/passwd", "/etc/localtime", "Europe/Berlin\n",
                    "+25:00", "+02:60", "Europe Berlin"}) {
    EXPECT_FALSE(reader_time_zone::parse(text)) << text;
  }
}

}  // namespace
}  // namespace bookmcp::tools
