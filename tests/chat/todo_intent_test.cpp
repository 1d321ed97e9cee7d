// The todo grammar of the mode without an LLM: what readers type, what the chat understands,
// and that book questions are never taken for todo commands. The last tests send what the
// grammar produces to the real todo tools (SQLite in a temporary directory), so the arguments
// are checked against the tools' own schemas and semantics.

#include "examples/chat/todo_intent.hpp"

#include <gtest/gtest.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <filesystem>
#include <memory>
#include <nlohmann/json.hpp>
#include <ostream>
#include <string>
#include <vector>

#include "mcp/client.hpp"
#include "mcp/memory_connection.hpp"
#include "mcp/server.hpp"
#include "store/database.hpp"
#include "tools/todo/todo_tools.hpp"

namespace bookmcp::chat {

// Readable failures: what an intent says rather than its bytes.
void PrintTo(const todo_intent& intent, std::ostream* out) {
  static constexpr const char* actions[] = {"add", "list", "complete", "reopen", "remove"};
  *out << actions[static_cast<int>(intent.action)] << " title=\"" << intent.title
       << "\" due=" << intent.due.value_or("-") << " reference=\"" << intent.reference
       << "\" args=" << intent.tool_arguments().dump();
}

namespace {

using namespace std::chrono;
using namespace std::chrono_literals;
using nlohmann::json;

// Wednesday 9 December 2026, 10:00 UTC: 11:00 in Berlin (CET, +01:00).
const system_clock::time_point wednesday = sys_days{2026y / December / 9} + 10h;
// Friday 11 December 2026, 10:00 UTC.
const system_clock::time_point friday = sys_days{2026y / December / 11} + 10h;

std::optional<todo_intent> understand(std::string_view message,
                                      system_clock::time_point now = wednesday,
                                      std::string_view zone = "Europe/Berlin") {
  return understand_todo(message, now, zone);
}

// The add a message makes, failing the test when it makes none.
todo_intent added(std::string_view message, system_clock::time_point now = wednesday,
                  std::string_view zone = "Europe/Berlin") {
  const auto intent = understand(message, now, zone);
  EXPECT_TRUE(intent) << message;
  if (!intent) return {};
  EXPECT_EQ(intent->action, todo_action::add) << message;
  return *intent;
}

std::string due_of(std::string_view message, system_clock::time_point now = wednesday,
                   std::string_view zone = "Europe/Berlin") {
  const auto intent = added(message, now, zone);
  return intent.due.value_or("(none)");
}

// ---- add ----------------------------------------------------------------------------------------

TEST(TodoIntentTest, AddsWithTheTitleCleanedOfCommandAndDueWords) {
  struct example {
    std::string_view message;
    std::string_view title;
    std::optional<std::string_view> due;
  };
  const std::vector<example> examples = {
      {"remind me to redo the kinematics exercises by Friday", "redo the kinematics exercises",
       "2026-12-11"},
      {"add a todo: read chapter 3", "read chapter 3", std::nullopt},
      {"add buy a RealSense camera to my list", "buy a RealSense camera", std::nullopt},
      {"todo: review PID tuning tomorrow", "review PID tuning", "2026-12-10"},
      {"remember to email the TA on Monday at 5pm", "email the TA", "2026-12-14T17:00:00+01:00"},
      {"I need to finish lab 2 by next week", "finish lab 2", "2026-12-14"},
      {"add 'read 3.2' due 2026-12-20", "read 3.2", "2026-12-20"},
      {"add \"read 3.2\" to my list", "read 3.2", std::nullopt},
      {"add \u201cread the IMU section\u201d by Friday", "read the IMU section", "2026-12-11"},
      {"Remind me to call the lab in 3 days.", "call the lab", "2026-12-12"},
      {"remind me to revise tonight", "revise", "2026-12-09T20:00:00+01:00"},
      {"remind me to clean the robot this weekend", "clean the robot", "2026-12-12"},
      {"remind me to submit the report by the end of the month", "submit the report", "2026-12-31"},
      {"remind me to order motors next Tuesday", "order motors", "2026-12-15"},
      {"remind me to buy parts on Dec 12", "buy parts", "2026-12-12"},
      {"remind me to buy parts on 12 December", "buy parts", "2026-12-12"},
      {"remind me to buy parts on the 12th of December", "buy parts", "2026-12-12"},
      {"remind me to study today", "study", "2026-12-09"},
      {"remind me to charge the battery by tomorrow morning", "charge the battery",
       "2026-12-10T09:00:00+01:00"},
      {"Hey, can you remind me to print the poster tomorrow at 17:30?", "print the poster",
       "2026-12-10T17:30:00+01:00"},
      {"Please add a todo: read chapter 3, thanks", "read chapter 3", std::nullopt},
      {"remind me tomorrow to read chapter 3", "read chapter 3", "2026-12-10"},
      {"Tomorrow, remind me to read chapter 3", "read chapter 3", "2026-12-10"},
      {"add a task to review the PID gains", "review the PID gains", std::nullopt},
      {"add to my list: solder the encoder cable", "solder the encoder cable", std::nullopt},
      {"put wheel odometry notes on my todo list", "wheel odometry notes", std::nullopt},
      {"add read chapter 5 to my list by Friday", "read chapter 5", "2026-12-11"},
      {"don't forget to return the oscilloscope on Friday", "return the oscilloscope",
       "2026-12-11"},
      {"new task: redo quiz 4", "redo quiz 4", std::nullopt},
      {"task - back up the lab notebook", "back up the lab notebook", std::nullopt},
      {"set a reminder to book the robot arena for Monday", "book the robot arena", "2026-12-14"},
      {"I have to hand in lab 3 in a week", "hand in lab 3", "2026-12-16"},
      {"add a reminder for tomorrow: print the slides", "print the slides", "2026-12-10"},
      {"add a todo for Friday to reread section 2.4", "reread section 2.4", "2026-12-11"},
      {"set a reminder for tomorrow to read chapter 2", "read chapter 2", "2026-12-10"},
      {"set a reminder for the kinematics quiz", "the kinematics quiz", std::nullopt},
      {"remind me on Friday to email the TA", "email the TA", "2026-12-11"},
      {"can you add \"calibrate the IMU\" to my todos?", "calibrate the IMU", std::nullopt},
      {"add calibrate the IMU to my todos for tomorrow", "calibrate the IMU", "2026-12-10"},
      {"i should review PID by Thursday", "review PID", "2026-12-10"},
      {"remind me to revise kinematics every Monday", "revise kinematics every Monday",
       std::nullopt},
      {"remind me to x on 2026-12-20 at 09:30", "x", "2026-12-20T09:30:00+01:00"},
      {"remind me to study for the exam on the 20th", "study for the exam", "2026-12-20"},
  };
  for (const auto& e : examples) {
    const todo_intent intent = added(e.message);
    EXPECT_EQ(intent.title, e.title) << e.message;
    EXPECT_EQ(intent.due, e.due ? std::optional<std::string>(*e.due) : std::nullopt) << e.message;
  }
}

TEST(TodoIntentTest, TheTitleKeepsTheReadersSpellingAndUnicode) {
  EXPECT_EQ(added("remind me to read \u201eKapitel 3\u201c \u00fcber Sensoren tomorrow").title,
            "read \u201eKapitel 3\u201c \u00fcber Sensoren");
  EXPECT_EQ(added("remind me to test the ROS-2 bridge (v0.3.1)").title,
            "test the ROS-2 bridge (v0.3.1)");
  EXPECT_EQ(added("todo: (optional) read 3.4").title, "(optional) read 3.4");
  EXPECT_EQ(added("todo: \u6a5f\u68b0\u5b66\u7fd2\u3092\u8aad\u3080").title,
            "\u6a5f\u68b0\u5b66\u7fd2\u3092\u8aad\u3080");
}

TEST(TodoIntentTest, WordsThatOnlyLookLikeDatesStayInTheTitle) {
  for (const std::string_view message :
       {"remind me to read chapter 3", "remind me to read section 3.2",
        "remind me to look at the sun", "remind me to review the 2nd",
        "remind me to redo exercise 12", "remind me to finish lab 2"}) {
    const todo_intent intent = added(message);
    EXPECT_EQ(intent.due, std::nullopt) << message;
    EXPECT_EQ("remind me to " + intent.title, message);
  }
}

TEST(TodoIntentTest, RelativeDaysFollowTheCalendar) {
  EXPECT_EQ(due_of("remind me to x in a week"), "2026-12-16");
  EXPECT_EQ(due_of("remind me to x in two weeks"), "2026-12-23");
  EXPECT_EQ(due_of("remind me to x in a couple of days"), "2026-12-11");
  EXPECT_EQ(due_of("remind me to x in 1 month"), "2027-01-09");
  EXPECT_EQ(due_of("remind me to x the day after tomorrow"), "2026-12-11");
  EXPECT_EQ(due_of("remind me to x on the 15th"), "2026-12-15");
  EXPECT_EQ(due_of("remind me to x by the 2nd"), "2027-01-02");
  EXPECT_EQ(due_of("remind me to x on Dec 1"), "2027-12-01");  // already past this year
  EXPECT_EQ(due_of("remind me to x on Dec 9"), "2026-12-09");  // today counts
  EXPECT_EQ(due_of("remind me to x on December 12th, 2027"), "2027-12-12");
  EXPECT_EQ(due_of("remind me to x by end of next month"), "2027-01-31");
  EXPECT_EQ(due_of("remind me to x next month"), "2027-01-01");
  EXPECT_EQ(due_of("remind me to x by the end of the week"), "2026-12-13");  // Sunday
  EXPECT_EQ(due_of("remind me to x next weekend"), "2026-12-19");
  EXPECT_EQ(due_of("remind me to x this Friday"), "2026-12-11");
  EXPECT_EQ(due_of("remind me to x on wed"), "2026-12-16");  // strictly after today
  // Month ends: Jan 31 + 1 month is the last day of February.
  EXPECT_EQ(due_of("remind me to x in a month", sys_days{2027y / January / 31} + 12h),
            "2027-02-28");
}

TEST(TodoIntentTest, AWeekdayNamedOnThatDayMeansNextWeek) {
  // Documented choice: "by Friday" said on a Friday is a week later; "this Friday" is today.
  EXPECT_EQ(due_of("remind me to x by Friday", friday), "2026-12-18");
  EXPECT_EQ(due_of("remind me to x next Friday", friday), "2026-12-18");
  EXPECT_EQ(due_of("remind me to x this Friday", friday), "2026-12-11");
  EXPECT_EQ(due_of("remind me to x this weekend", friday), "2026-12-12");
  EXPECT_EQ(due_of("remind me to x next week", friday), "2026-12-14");
}

TEST(TodoIntentTest, TimesOfDayBecomeInstantsWithTheReadersOffset) {
  // It is 11:00 in Berlin: 5pm is still today, 9am is tomorrow.
  EXPECT_EQ(due_of("remind me to x at 5pm"), "2026-12-09T17:00:00+01:00");
  EXPECT_EQ(due_of("remind me to x at 9am"), "2026-12-10T09:00:00+01:00");
  EXPECT_EQ(due_of("remind me to x at 9 a.m."), "2026-12-10T09:00:00+01:00");
  EXPECT_EQ(due_of("remind me to x at noon tomorrow"), "2026-12-10T12:00:00+01:00");
  EXPECT_EQ(due_of("remind me to x tomorrow at 8:15 pm"), "2026-12-10T20:15:00+01:00");
  EXPECT_EQ(due_of("remind me to x at 3"), "2026-12-09T15:00:00+01:00");  // 1..6: afternoon
  EXPECT_EQ(due_of("remind me to x at 7"), "2026-12-10T07:00:00+01:00");  // 7..11: morning
  EXPECT_EQ(due_of("remind me to x tonight at 9pm"), "2026-12-09T21:00:00+01:00");
  EXPECT_EQ(due_of("remind me to x tomorrow morning at 8"), "2026-12-10T08:00:00+01:00");
  EXPECT_EQ(due_of("remind me to x on Friday evening"), "2026-12-11T18:00:00+01:00");
  EXPECT_EQ(due_of("remind me to x by midnight"), "2026-12-09T23:59:00+01:00");
  EXPECT_EQ(due_of("remind me to x in 2 hours"), "2026-12-09T13:00:00+01:00");
  EXPECT_EQ(due_of("remind me to x at 5pm on Monday"), "2026-12-14T17:00:00+01:00");
}

TEST(TodoIntentTest, DatesAreTheReadersLocalDates) {
  // 23:30 UTC on the 9th is already the 10th in Berlin and still the 9th in New York.
  const auto late = sys_days{2026y / December / 9} + 23h + 30min;
  EXPECT_EQ(due_of("remind me to x today", late, "Europe/Berlin"), "2026-12-10");
  EXPECT_EQ(due_of("remind me to x tomorrow", late, "Europe/Berlin"), "2026-12-11");
  EXPECT_EQ(due_of("remind me to x today", late, "America/New_York"), "2026-12-09");
  EXPECT_EQ(due_of("remind me to x today", late, "UTC"), "2026-12-09");
  EXPECT_EQ(due_of("remind me to x today", late, "+02:00"), "2026-12-10");
  EXPECT_EQ(due_of("remind me to x at 5pm", wednesday, "+0530"), "2026-12-09T17:00:00+05:30");
  EXPECT_EQ(due_of("remind me to x on Monday at 5pm", wednesday, "UTC"),
            "2026-12-14T17:00:00+00:00");
  EXPECT_EQ(due_of("remind me to x on Monday at 5pm", wednesday, "-05:00"),
            "2026-12-14T17:00:00-05:00");
}

TEST(TodoIntentTest, DaylightSavingChangesAreFollowed) {
  // Berlin moves to CEST (+02:00) on Sunday 29 March 2026 at 02:00.
  const auto friday_before = sys_days{2026y / March / 27} + 12h;
  EXPECT_EQ(due_of("remember to x on Monday at 5pm", friday_before), "2026-03-30T17:00:00+02:00");
  EXPECT_EQ(due_of("remember to x tomorrow at 9am", friday_before), "2026-03-28T09:00:00+01:00");
  // 02:30 does not exist that night: the clock shows 03:30 an hour after 01:30.
  const auto saturday_before = sys_days{2026y / March / 28} + 12h;
  EXPECT_EQ(due_of("remember to x tomorrow at 2:30am", saturday_before),
            "2026-03-29T03:30:00+02:00");
  // New York falls back from EDT (-04:00) to EST (-05:00) on Sunday 1 November 2026 at 02:00;
  // 01:30 happens twice: the first.
  const auto halloween = sys_days{2026y / October / 31} + 16h;
  EXPECT_EQ(due_of("remember to x tomorrow at 1:30am", halloween, "America/New_York"),
            "2026-11-01T01:30:00-04:00");
  EXPECT_EQ(due_of("remember to x tomorrow at 5pm", halloween, "America/New_York"),
            "2026-11-01T17:00:00-05:00");
  EXPECT_EQ(
      due_of("remember to x in 3 hours", sys_days{2026y / November / 1} + 4h, "America/New_York"),
      "2026-11-01T02:00:00-05:00");
}

TEST(TodoIntentTest, AnUnknownTimeZoneFallsBackToUtcAndSaysSo) {
  for (const std::string_view zone :
       {"Mars/Olympus_Mons", "", "../../etc/passwd", "+25:00", "Europe/Berlin "}) {
    const auto intent = understand("remind me to x at 5pm", wednesday, zone);
    ASSERT_TRUE(intent) << zone;
    EXPECT_FALSE(intent->time_zone_known) << zone;
    EXPECT_EQ(intent->time_zone, "UTC") << zone;
    EXPECT_EQ(intent->due, "2026-12-09T17:00:00+00:00") << zone;
  }
  for (const std::string_view zone :
       {"Europe/Berlin", "UTC", "+02:00", "America/New_York", "Asia/Kolkata"}) {
    const auto intent = understand("show my todos", wednesday, zone);
    ASSERT_TRUE(intent) << zone;
    EXPECT_TRUE(intent->time_zone_known) << zone;
    EXPECT_EQ(intent->time_zone, zone);
  }
}

TEST(TodoIntentTest, AddArgumentsHoldTitleAndDueOnly) {
  EXPECT_EQ(added("todo: review PID tuning tomorrow").tool_arguments(),
            json({{"title", "review PID tuning"}, {"due", "2026-12-10"}}));
  EXPECT_EQ(added("add a todo: read chapter 3").tool_arguments(),
            json({{"title", "read chapter 3"}}));
  // Titles are cut to the tools' 500 characters, never inside a character.
  const std::string long_title(600, 'x');
  EXPECT_EQ(added("todo: " + long_title).title.size(), 500u);
  std::string umlauts;
  for (int i = 0; i < 300; ++i) umlauts += "\u00fc";
  const std::string cut = added("todo: " + umlauts).title;
  EXPECT_EQ(cut.size(), 500u);
  EXPECT_EQ(cut, umlauts.substr(0, 500));
}

TEST(TodoIntentTest, ARequestWithoutATitleIsNotAnAdd) {
  for (const std::string_view message : {"remind me to", "add a todo", "add a todo for tomorrow:",
                                         "remind me tomorrow to", "add 'unclosed quote"})
    EXPECT_EQ(understand(message), std::nullopt) << message;
  EXPECT_EQ(understand("todo:")->action, todo_action::list);  // a bare "todo:" shows the list
  // A due phrase is never the whole title's place: the word stays the title.
  EXPECT_EQ(added("remind me to tomorrow").title, "tomorrow");
}

// ---- list ---------------------------------------------------------------------------------------

TEST(TodoIntentTest, ListsWithTheFilterTheReaderAsked) {
  const std::vector<std::pair<std::string_view, todo_filter>> examples = {
      {"what's on my list", todo_filter::open},
      {"What\u2019s on my list?", todo_filter::open},
      {"show my todos", todo_filter::open},
      {"list my tasks", todo_filter::open},
      {"my todos", todo_filter::open},
      {"todos", todo_filter::open},
      {"Show me my open tasks please", todo_filter::open},
      {"what do I have to do?", todo_filter::open},
      {"can you show my todo list?", todo_filter::open},
      {"what is overdue?", todo_filter::overdue},
      {"anything overdue?", todo_filter::overdue},
      {"show my overdue tasks", todo_filter::overdue},
      {"what's due today", todo_filter::today},
      {"show my todos for today", todo_filter::today},
      {"what do I have today?", todo_filter::today},
      {"show done todos", todo_filter::done},
      {"what have I finished", todo_filter::done},
      {"list completed tasks", todo_filter::done},
      {"show my finished todos", todo_filter::done},
      {"show all my todos", todo_filter::all},
      {"list all tasks", todo_filter::all},
      {"show me everything on my list", todo_filter::all},
      {"what's on my todo list for today?", todo_filter::today},
      {"list my todos due today", todo_filter::today},
      {"do I have any todos?", todo_filter::open},
      {"how many todos do I have?", todo_filter::open},
      {"OK, what's overdue?", todo_filter::overdue},
  };
  for (const auto& [message, filter] : examples) {
    const auto intent = understand(message);
    ASSERT_TRUE(intent) << message;
    EXPECT_EQ(intent->action, todo_action::list) << message;
    EXPECT_EQ(intent->filter, filter) << message;
  }
}

TEST(TodoIntentTest, ListArgumentsFollowTheTodoListSchema) {
  EXPECT_EQ(understand("show my todos")->tool_arguments(),
            json({{"status", "open"}, {"limit", 50}, {"timezone", "Europe/Berlin"}}));
  EXPECT_EQ(understand("show all my todos")->tool_arguments()["status"], "all");
  EXPECT_EQ(understand("what have I finished")->tool_arguments()["status"], "done");
  EXPECT_EQ(
      understand("what is overdue?")->tool_arguments(),
      json({{"status", "open"}, {"limit", 50}, {"timezone", "Europe/Berlin"}, {"overdue", true}}));
  // Today is the reader's day: [today, tomorrow) in their zone.
  const auto late = sys_days{2026y / December / 9} + 23h + 30min;
  EXPECT_EQ(understand("what's due today", late, "Europe/Berlin")->tool_arguments(),
            json({{"status", "open"},
                  {"limit", 50},
                  {"timezone", "Europe/Berlin"},
                  {"due_after", "2026-12-10"},
                  {"due_before", "2026-12-11"}}));
  EXPECT_EQ(understand("what's due today", sys_days{2026y / December / 31} + 12h, "UTC")
                ->tool_arguments()["due_before"],
            "2027-01-01");
  EXPECT_EQ(understand("what's due today", late, "Nowhere/Special")->tool_arguments()["timezone"],
            "UTC");
}

// ---- complete, reopen, remove -------------------------------------------------------------------

TEST(TodoIntentTest, ChangesNameTheTodoByItsWords) {
  struct example {
    std::string_view message;
    todo_action action;
    std::string_view reference;
  };
  const std::vector<example> examples = {
      {"mark the kinematics todo as done", todo_action::complete, "kinematics"},
      {"I finished the kinematics exercises", todo_action::complete, "kinematics exercises"},
      {"done: read chapter 3", todo_action::complete, "read chapter 3"},
      {"complete read chapter 3", todo_action::complete, "read chapter 3"},
      {"check off lab 2", todo_action::complete, "lab 2"},
      {"I've just finished lab 2!", todo_action::complete, "lab 2"},
      {"I'm done with the PID tuning", todo_action::complete, "PID tuning"},
      {"mark Lab 2 done", todo_action::complete, "Lab 2"},
      {"cross lab 2 off my list", todo_action::complete, "lab 2"},
      {"please mark the todo about kinematics as complete", todo_action::complete, "kinematics"},
      {"reopen read chapter 3", todo_action::reopen, "read chapter 3"},
      {"mark lab 2 as not done", todo_action::reopen, "lab 2"},
      {"re-open the lab 2 task", todo_action::reopen, "lab 2"},
      {"mark lab 2 as undone", todo_action::reopen, "lab 2"},
      {"delete the kinematics todo", todo_action::remove, "kinematics"},
      {"remove buy a camera from my list", todo_action::remove, "buy a camera"},
      {"remove the camera todo", todo_action::remove, "camera"},
      {"take lab 2 off my list", todo_action::remove, "lab 2"},
      {"delete it", todo_action::remove, ""},
  };
  for (const auto& e : examples) {
    const auto intent = understand(e.message);
    ASSERT_TRUE(intent) << e.message;
    EXPECT_EQ(intent->action, e.action) << e.message;
    EXPECT_EQ(intent->reference, e.reference) << e.message;
    EXPECT_EQ(intent->tool_arguments(), json::object()) << e.message;
  }
}

// ---- not todo requests --------------------------------------------------------------------------

TEST(TodoIntentTest, BookQuestionsAreNeverTodoRequests) {
  for (const std::string_view message : {
           "how do I calibrate the RealSense depth camera?",
           "what is a todo list in ROS?",
           "explain PID control",
           "what does remind mean in chapter 2?",
           "How do I add a sensor to the robot?",
           "list the chapters about kinematics",
           "list the sensors a mobile robot needs",
           "show me the kinematics chapter",
           "add a sensor to the robot",
           "remove the battery before cleaning the robot",
           "remind me what a Kalman filter does",
           "remind me about the Kalman filter",
           "remind me how inverse kinematics works",
           "I need to understand PID control",
           "I need to calibrate the IMU, how?",
           "what is the task of a planner?",
           "What's the difference between forward and inverse kinematics?",
           "Can you explain how to mark a joint as done in the planner?",
           "todo list in ROS",
           "tasks of a robot controller",
           "what should I read next?",
           "check the sensor wiring",
           "mark the points on the graph",
           "Tell me about tasks in ROS 2",
           "When is the exam?",
           "what is due diligence?",
           "what is due to friction in the joints?",
           "I must finish the report",
           "todo read chapter 2",
           "remove lab 2",
           "what should I do next?",
           "Complete guide to ROS?",
           "what's on the list of sensors?",
           "is a todo app a good robotics project?",
           "Why do I need to calibrate sensors by Friday?",
           "delete?",
           "Does the book cover SLAM?",
           "encoders",
           "PID",
           "thanks!",
           "ok",
           "",
           "   ",
           "?",
           "...",
       }) {
    EXPECT_EQ(understand(message), std::nullopt) << message;
  }
}

TEST(TodoIntentTest, HostileInputNeverBreaksIt) {
  std::string junk;
  for (int i = 0; i < 256; ++i) junk += static_cast<char>(i);
  EXPECT_NO_THROW(understand(junk));
  EXPECT_NO_THROW(understand("remind me to " + junk + " by friday"));
  EXPECT_NO_THROW(understand("todo: \xE2\x80"));
  EXPECT_NO_THROW(understand("remind me to x on 99 December"));
  EXPECT_NO_THROW(understand("remind me to x in 99999999999999999999 days"));
  EXPECT_NO_THROW(understand("remind me to x at 99:99"));
  EXPECT_NO_THROW(understand("remind me to x on Feb 30"));
  EXPECT_EQ(added("remind me to x on Feb 30").title, "x on Feb 30");  // no such day
  EXPECT_EQ(understand(std::string(5000, 'a')), std::nullopt);
  // Invalid UTF-8 never reaches the tool arguments, which are JSON.
  const todo_intent broken = added("todo: read \xff\xC0\xAF chapter \xE2\x80");
  EXPECT_EQ(broken.title, "read \uFFFD\uFFFD\uFFFD chapter \uFFFD\uFFFD");
  EXPECT_NO_THROW(broken.tool_arguments().dump());
  EXPECT_NO_THROW(understand("delete \xff\xfe")->tool_arguments().dump());
  std::string many = "remind me to";
  for (int i = 0; i < 300; ++i) many += " by by";
  EXPECT_NO_THROW(understand(many));
}

// ---- confirmation -------------------------------------------------------------------------------

TEST(TodoIntentTest, ConfirmationAnswersAreYesNoOrNeither) {
  for (const std::string_view yes :
       {"yes", "Yes!", "yes, delete it", "confirm", "ok", "OK.", "sure", "yep", "Yes please",
        "do it", "go ahead", "delete it", "y", "yes delete it please"})
    EXPECT_EQ(understand_confirmation(yes), true) << yes;
  for (const std::string_view no :
       {"no", "No.", "cancel", "keep it", "no, keep it", "nope", "don't", "don't delete it",
        "no thanks", "never mind", "n", "No way"})
    EXPECT_EQ(understand_confirmation(no), false) << no;
  for (const std::string_view neither :
       {"", "what is PID?", "yes but first explain PID", "no idea what PID is", "maybe",
        "delete the other one", "ok so how does a Kalman filter work", "yes no", "show my todos"})
    EXPECT_EQ(understand_confirmation(neither), std::nullopt) << neither;
}

// ---- picking a todo -----------------------------------------------------------------------------

const json todos = json::array({
    {{"id", "a1"}, {"title", "Redo the kinematics exercises"}, {"status", "open"}},
    {{"id", "b2"}, {"title", "Read chapter 3"}, {"status", "open"}},
    {{"id", "c3"}, {"title", "Finish lab 2"}, {"status", "open"}},
    {{"id", "d4"}, {"title", "Finish lab 3 report"}, {"status", "open"}},
    {{"id", "e5"}, {"title", "Read chapter 3 exercises"}, {"status", "open"}},
});

TEST(TodoIntentTest, PicksTheTodoWithTheMostWordsInCommon) {
  EXPECT_EQ(pick_todo("kinematics", todos), 0u);
  EXPECT_EQ(pick_todo("the Kinematics exercise", todos), 0u);  // case and plural folded
  EXPECT_EQ(pick_todo("read chapter 3", todos), 1u);           // the exact title wins
  EXPECT_EQ(pick_todo("lab 2", todos), 2u);
  EXPECT_EQ(pick_todo("lab 3 report", todos), 3u);
  EXPECT_EQ(pick_todo("chapter 3 exercises", todos), 4u);
  EXPECT_EQ(pick_todo("#c3", todos), 2u);
  EXPECT_EQ(pick_todo("d4", todos), 3u);
}

TEST(TodoIntentTest, PicksNothingWhenNothingOrSeveralMatch) {
  EXPECT_EQ(pick_todo("camera", todos), std::nullopt);
  EXPECT_EQ(pick_todo("finish", todos), std::nullopt);   // lab 2 or lab 3?
  EXPECT_EQ(pick_todo("chapter", todos), std::nullopt);  // two chapter 3 todos
  EXPECT_EQ(pick_todo("the", todos), std::nullopt);
  EXPECT_EQ(pick_todo("", todos), std::nullopt);
  EXPECT_EQ(pick_todo("lab", json::array()), std::nullopt);
  EXPECT_EQ(pick_todo("lab", json::object()), std::nullopt);
  EXPECT_EQ(pick_todo("lab", json(nullptr)), std::nullopt);
  EXPECT_EQ(pick_todo("lab", json::array({1, "x", nullptr, json::object()})), std::nullopt);
}

TEST(TodoIntentTest, ItPicksTheOnlyTodo) {
  const json one = json::array({{{"id", "z"}, {"title", "Finish lab 2"}, {"status", "open"}}});
  EXPECT_EQ(pick_todo("", one), 0u);
  EXPECT_EQ(pick_todo(understand("delete it")->reference, one), 0u);
  EXPECT_EQ(pick_todo("camera", one), std::nullopt);
}

TEST(TodoIntentTest, ReferencesFromMessagesPickTheirTodo) {
  EXPECT_EQ(pick_todo(understand("mark the kinematics todo as done")->reference, todos), 0u);
  EXPECT_EQ(pick_todo(understand("I finished the kinematics exercises")->reference, todos), 0u);
  EXPECT_EQ(pick_todo(understand("check off lab 2")->reference, todos), 2u);
  EXPECT_EQ(pick_todo(understand("done: read chapter 3")->reference, todos), 1u);
}

// ---- against the real todo tools ----------------------------------------------------------------

// "Now" for the tools and the grammar alike: 23:30 UTC on Wednesday 9 December 2026, already
// Thursday in Auckland.
const system_clock::time_point tools_now = sys_days{2026y / December / 9} + 23h + 30min;

class TodoIntentToolsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    static std::atomic<int> counter{0};
    dir_ = std::filesystem::temp_directory_path() /
           ("bookmcp-chat-nollm-" + std::to_string(::getpid()) + "-" + std::to_string(counter++));
    store::sqlite_options options;
    options.data_dir = dir_;
    db_ = store::open_sqlite(options);
    mcp::server_options server_options;
    server_options.name = "chat-nollm-test";
    server_ = std::make_unique<mcp::server>(server_options);
    tools::todo_tool_options todo_options;
    todo_options.time_zone = "UTC";
    // The tools' clock (for "overdue") stands where the grammar's does: no wall clock.
    todo_options.clock = [] { return time_point_cast<milliseconds>(tools_now); };
    tools::register_todo_tools(*server_, db_, todo_options);
    link_ = std::make_unique<mcp::memory_connection>(
        *server_,
        mcp::session_options{.identity = "reader", .transport = "memory", .session_id = {}},
        mcp::client_options{.timeout = 30s});
    link_->client().initialize();
  }
  void TearDown() override {
    link_.reset();
    server_->shutdown(5s);
    server_.reset();
    db_.reset();
    std::error_code ignored;
    std::filesystem::remove_all(dir_, ignored);
  }

  // The structuredContent of a call that must succeed.
  json ok(std::string_view tool, const json& arguments) {
    const json result = link_->client().call_tool(tool, arguments);
    EXPECT_FALSE(result.value("isError", false))
        << tool << " " << arguments.dump() << ": " << result.dump();
    return result.value("structuredContent", json::object());
  }

  std::filesystem::path dir_;
  std::shared_ptr<store::database> db_;
  std::unique_ptr<mcp::server> server_;
  std::unique_ptr<mcp::memory_connection> link_;
};

TEST_F(TodoIntentToolsTest, AddArgumentsAreAcceptedAndKeepTheDue) {
  for (const std::string_view message :
       {"remind me to redo the kinematics exercises by Friday",
        "remember to email the TA on Monday at 5pm", "add 'read 3.2' due 2026-12-20",
        "add a todo: read chapter 3", "remind me to x tonight", "remind me to x in 2 hours"}) {
    for (const std::string_view zone :
         {"Europe/Berlin", "America/New_York", "+05:30", "Mars/Base"}) {
      const todo_intent intent = added(message, wednesday, zone);
      const json todo = ok("todo_add", intent.tool_arguments())["todo"];
      EXPECT_EQ(todo["title"], intent.title) << message;
      if (intent.due) {
        // The tools write a zero offset as "Z".
        std::string due = *intent.due;
        if (due.ends_with("+00:00")) due.replace(due.size() - 6, 6, "Z");
        EXPECT_EQ(todo["due"], due) << message << " " << zone;
      }
    }
  }
}

TEST_F(TodoIntentToolsTest, ListArgumentsAreAcceptedAndSelectWhatTheReaderAsked) {
  const auto now = tools_now;
  const std::string zone = "Pacific/Auckland";
  const std::string today = understand("show my todos", now, zone)->today;
  EXPECT_EQ(today, "2026-12-10");
  ok("todo_add", added("todo: due today today", now, zone).tool_arguments());
  ok("todo_add", added("todo: due in a week in a week", now, zone).tool_arguments());
  ok("todo_add", {{"title", "long overdue"}, {"due", "2020-01-01"}});
  // Overdue in Auckland (where it is the 10th), not yet in UTC (the tools' own zone).
  ok("todo_add", {{"title", "due yesterday"}, {"due", "2026-12-09"}});
  const std::string done_id = ok("todo_add", {{"title", "finished one"}})["todo"]["id"];
  ok("todo_complete", {{"id", done_id}});

  const auto titles = [&](std::string_view message) {
    const auto intent = understand(message, now, zone);
    EXPECT_TRUE(intent && intent->action == todo_action::list) << message;
    std::vector<std::string> out;
    if (!intent) return out;
    const json page = ok("todo_list", intent->tool_arguments());
    for (const auto& todo : page.value("todos", json::array())) out.push_back(todo["title"]);
    if (out.empty()) ADD_FAILURE() << page.dump();
    return out;
  };
  using list = std::vector<std::string>;
  EXPECT_EQ(titles("what's due today"), list({"due today"})) << today;
  EXPECT_EQ(titles("what is overdue?"), list({"long overdue", "due yesterday"}));
  EXPECT_EQ(titles("what have I finished"), list({"finished one"}));
  EXPECT_EQ(titles("show my todos"),
            list({"long overdue", "due yesterday", "due today", "due in a week"}));
  EXPECT_EQ(titles("show all my todos").size(), 5u);
}

}  // namespace
}  // namespace bookmcp::chat
