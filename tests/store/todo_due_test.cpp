#include <gtest/gtest.h>

#include "store/internal/todo_engine.hpp"
#include "store/todo.hpp"

namespace bookmcp::store {
namespace {

using namespace std::chrono;

TEST(TodoDueTest, DateOnlyParsesAndRendersAsTheSameDate) {
  auto due = todo_due::parse("2025-03-14");
  ASSERT_TRUE(due);
  ASSERT_TRUE(due->is_date());
  EXPECT_EQ(due->as_date()->date, year{2025} / March / 14);
  EXPECT_EQ(due->to_string(), "2025-03-14");
}

TEST(TodoDueTest, InstantKeepsItsOffsetForRendering) {
  auto due = todo_due::parse("2025-03-14T09:30:00+01:00");
  ASSERT_TRUE(due);
  ASSERT_FALSE(due->is_date());
  EXPECT_EQ(due->as_instant()->utc, sys_days{year{2025} / March / 14} + hours{8} + minutes{30});
  EXPECT_EQ(due->as_instant()->offset, minutes{60});
  EXPECT_EQ(due->to_string(), "2025-03-14T09:30:00+01:00");
  EXPECT_EQ(todo_due::parse("2025-03-14T23:30:00.250-05:30")->to_string(),
            "2025-03-14T23:30:00.250-05:30");
  EXPECT_EQ(todo_due::parse("2025-03-14T23:30Z")->to_string(), "2025-03-14T23:30:00Z");
}

TEST(TodoDueTest, RejectsMalformedText) {
  for (const char* text : {"", "2025-02-30", "2025-3-14", "2025-03-14T10:00", "2025-03-14T25:00Z",
                           "2025-03-14T10:00+19:00", "2025-03-14 extra", "0000-01-01",
                           "2025-03-14T10:00:00.Z", "'; DROP TABLE todos; --"}) {
    EXPECT_FALSE(todo_due::parse(text)) << text;
  }
}

TEST(TodoDueTest, StartForPutsADateAtTheReadersLocalMidnight) {
  const auto date = todo_due::on_date(year{2025} / March / 14);
  EXPECT_EQ(date.start_for(hours{2}), sys_days{year{2025} / March / 14} - hours{2});
  EXPECT_EQ(date.start_for(-hours{5}), sys_days{year{2025} / March / 14} + hours{5});
}

TEST(TodoDueTest, LikeEscapingMakesWildcardsLiteral) {
  EXPECT_EQ(internal::escape_like("100%_a\\b"), "100\\%\\_a\\\\b");
}

TEST(TodoDueTest, IdsAreRandomVersion4Uuids) {
  const auto a = internal::new_todo_id();
  const auto b = internal::new_todo_id();
  EXPECT_NE(a, b);
  ASSERT_EQ(a.size(), 36u);
  EXPECT_EQ(a[14], '4');
}

}  // namespace
}  // namespace bookmcp::store
