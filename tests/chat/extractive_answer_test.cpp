// Extractive answers of the mode without an LLM: quoted passages with [n] citations that refer
// only to the sections given, taken verbatim from the sections' prose, within the size budget
// and never splitting a UTF-8 character.

#include "examples/chat/extractive_answer.hpp"

#include <gtest/gtest.h>

#include <chrono>
#include <iostream>
#include <regex>
#include <set>
#include <string>
#include <vector>

namespace bookmcp::chat {
namespace {

// Sections as bookmcp's resources/read returns them (Markdown/MDX from the heading on), after
// the sample book in examples/book/docs.
const std::string sensors_text = R"(---
title: Sensors and Perception
---

import Tabs from '@theme/Tabs';
import TabItem from '@theme/TabItem';

export const Highlight = ({children}) => <span className="highlight">{children}</span>;

# Sensors and Perception

Sensors are the robot's only window on the world. Each one measures a physical quantity with
some <Highlight>noise, bias and delay</Highlight>, and perception is the art of combining them
into an estimate the planner can trust.

<!-- TODO: a figure of the sensor suite -->

## Measuring distance

Range sensors tell a robot how far away things are.

<Tabs>
  <TabItem value="lidar" label="LiDAR">
    A LiDAR emits laser pulses and times their reflections. A spinning unit returns thousands
    of points per revolution with centimetre accuracy, but it struggles with glass and black
    surfaces that absorb the beam.
  </TabItem>
  <TabItem value="ultrasonic" label="Ultrasonic">
    An ultrasonic sensor measures the echo delay of a sound pulse. It is cheap and works on
    glass, but its wide cone blurs the position of small obstacles.
  </TabItem>
</Tabs>

## Inertial measurement units

![An IMU board](/img/imu.png)

An **IMU** combines a three-axis accelerometer and a three-axis gyroscope, often with a
magnetometer (e.g. the [BNO055](https://example.org/bno055)). Integrating the gyroscope gives
orientation; integrating acceleration twice gives position.

:::warning Drift
Integration accumulates every small error. A consumer IMU left alone on a table will report
that it has moved several metres within a minute. Always correct it with another sensor such
as wheel odometry, GPS or vision.
:::

## Wheel encoders

An encoder counts ticks as a wheel turns. Knowing the wheel radius, the robot converts ticks to
distance travelled, a technique called **odometry**. Wheel slip on carpet or ice makes odometry
over-estimate the distance.

```python
# Convert encoder ticks to distance travelled (metres).
TICKS_PER_REVOLUTION = 2048
def ticks_to_metres(ticks: int) -> float:
    return 2 * math.pi * WHEEL_RADIUS_M * ticks / TICKS_PER_REVOLUTION
```
)";

const std::string pid_text = R"(## PID control

A **PID controller** drives a motor toward a target by adding three terms computed from the
error *e* between target and measurement:

| Term | Reacts to | Effect of a large gain |
| --- | --- | --- |
| Proportional (P) | the current error | fast response, overshoot |

### Tuning

Start with only P, raise it until the joint oscillates, then halve it. Add D to damp the
oscillation and a little I to remove the remaining offset.
)";

const std::string robot_text = R"(## The sense-plan-act loop

Every robot repeats three steps:

- **Sense**: read cameras, range finders, wheel encoders and inertial sensors.
- **Plan**: decide what to do next, from a path around an obstacle to a grasp.
- **Act**: send commands to the motors.

Modern systems run these stages concurrently at different rates: a balance controller may run
at 1 kHz while a route planner updates once per second.
)";

std::vector<source_section> book() {
  return {
      {1,
       "Sensors and Perception",
       {"Sensors and Perception"},
       "https://book.example/docs/sensors",
       sensors_text},
      {2,
       "Kinematics and Control",
       {"Kinematics and Control", "PID control"},
       "https://book.example/docs/kinematics#pid-control",
       pid_text},
      {3,
       "What is a robot?",
       {"What is a robot?", "The sense-plan-act loop"},
       "https://book.example/docs/robot#the-sense-plan-act-loop",
       robot_text},
  };
}

bool valid_utf8(std::string_view text) {
  std::size_t i = 0;
  while (i < text.size()) {
    const auto c = static_cast<unsigned char>(text[i]);
    const std::size_t length = c < 0x80           ? 1
                               : (c >> 5) == 0x6  ? 2
                               : (c >> 4) == 0xE  ? 3
                               : (c >> 3) == 0x1E ? 4
                                                  : 0;
    if (length == 0 || i + length > text.size()) return false;
    for (std::size_t k = 1; k < length; ++k)
      if ((static_cast<unsigned char>(text[i + k]) & 0xC0) != 0x80) return false;
    i += length;
  }
  return true;
}

// The [n]s in the order they appear.
std::vector<int> citations_in(const std::string& markdown) {
  std::vector<int> found;
  const std::regex citation(R"(\[(\d+)\](?!\())");
  for (auto it = std::sregex_iterator(markdown.begin(), markdown.end(), citation);
       it != std::sregex_iterator(); ++it)
    found.push_back(std::stoi((*it)[1]));
  return found;
}

// Each quoted passage with the [n] after it: the text between one citation (or the lead-in)
// and the next.
std::vector<std::pair<std::string, int>> passages_in(const std::string& markdown) {
  std::string body = markdown;
  const std::string dash = " \u2014 ";
  if (body.starts_with("**")) body = body.substr(body.find(dash) + dash.size());
  std::vector<std::pair<std::string, int>> out;
  const std::regex citation(R"( \[(\d+)\])");
  std::size_t from = 0;
  for (auto it = std::sregex_iterator(body.begin(), body.end(), citation);
       it != std::sregex_iterator(); ++it) {
    std::string text = body.substr(from, static_cast<std::size_t>(it->position()) - from);
    while (!text.empty() && (text.front() == ' ' || text.front() == '\n')) text.erase(0, 1);
    out.emplace_back(text, std::stoi((*it)[1]));
    from = static_cast<std::size_t>(it->position() + it->length());
  }
  return out;
}

std::string text_of(const std::vector<source_section>& sections, int n) {
  for (const auto& section : sections)
    if (section.n == n) return readable_text(section.text);
  return {};
}

// What every answer must satisfy: within budget, valid UTF-8, citations only of given sections
// and listed in `cited` in order of first use, passages verbatim from their sections.
void expect_well_formed(const extractive_result& result,
                        const std::vector<source_section>& sections, std::size_t max_chars,
                        const std::string& context) {
  SCOPED_TRACE(context);
  EXPECT_LE(result.markdown.size(), std::max<std::size_t>(max_chars, 40));
  EXPECT_TRUE(valid_utf8(result.markdown));
  std::set<int> given;
  for (const auto& section : sections) given.insert(section.n);
  std::vector<int> first_use;
  for (const int n : citations_in(result.markdown)) {
    EXPECT_TRUE(given.contains(n)) << n;
    if (std::find(first_use.begin(), first_use.end(), n) == first_use.end()) first_use.push_back(n);
  }
  EXPECT_EQ(result.cited, first_use);
  for (const auto& [passage, n] : passages_in(result.markdown)) {
    std::string quoted = passage;
    if (quoted.ends_with("\u2026")) quoted.resize(quoted.size() - 3);  // cut to fit: a prefix
    EXPECT_NE(text_of(sections, n).find(quoted), std::string::npos) << "[" << n << "] " << passage;
  }
}

TEST(ExtractiveAnswerTest, QuotesTheBestPassagesWithTheirCitations) {
  const auto sections = book();
  const auto result = extractive_answer("How do I tune a PID controller?", sections);
  expect_well_formed(result, sections, 900, "pid");
  EXPECT_TRUE(result.markdown.starts_with("**Kinematics and Control \u203a PID control** \u2014 "))
      << result.markdown;
  EXPECT_NE(result.markdown.find(
                "Start with only P, raise it until the joint oscillates, then halve it."),
            std::string::npos)
      << result.markdown;
  EXPECT_EQ(result.cited.front(), 2);
  EXPECT_GE(passages_in(result.markdown).size(), 1u);
  EXPECT_LE(passages_in(result.markdown).size(), 4u);
}

TEST(ExtractiveAnswerTest, ALonePassageComesWithTheSentenceAfterIt) {
  const auto sections = book();
  const auto result = extractive_answer("What is a LiDAR?", sections);
  expect_well_formed(result, sections, 900, "lidar");
  EXPECT_EQ(result.markdown,
            "**Sensors and Perception** \u2014 A LiDAR emits laser pulses and times their "
            "reflections. A spinning "
            "unit returns thousands of points per revolution with centimetre accuracy, but it "
            "struggles with "
            "glass and black surfaces that absorb the beam. [1]");
  EXPECT_EQ(result.cited, std::vector<int>({1}));
}

TEST(ExtractiveAnswerTest, PassagesOfSeveralSectionsEachCiteTheirOwn) {
  const auto sections = book();
  const auto result = extractive_answer("wheel encoders and odometry", sections);
  expect_well_formed(result, sections, 900, "encoders");
  EXPECT_EQ(result.cited, std::vector<int>({1, 3})) << result.markdown;
  // A list item is quoted whole.
  EXPECT_NE(result.markdown.find(
                "**Sense**: read cameras, range finders, wheel encoders and inertial sensors. [3]"),
            std::string::npos)
      << result.markdown;
}

TEST(ExtractiveAnswerTest, PassagesKeepTheirReadingOrderWithinASection) {
  const auto sections = book();
  const auto result = extractive_answer("IMU gyroscope integration", sections);
  expect_well_formed(result, sections, 900, "imu");
  const std::string text = readable_text(sensors_text);
  std::size_t last = 0;
  for (const auto& [passage, n] : passages_in(result.markdown)) {
    if (n != 1) continue;
    const std::size_t at = text.find(passage);
    ASSERT_NE(at, std::string::npos) << passage;
    EXPECT_GE(at, last) << passage;
    last = at;
  }
  // "e.g." ends no sentence.
  EXPECT_NE(result.markdown.find("magnetometer (e.g. the BNO055)."), std::string::npos)
      << result.markdown;
}

TEST(ExtractiveAnswerTest, ReadableTextDropsMarkupAndKeepsProse) {
  const std::string text = readable_text(sensors_text);
  for (const std::string_view gone :
       {"title:", "import ", "export ", "<Tabs", "TabItem", "<Highlight", "</", ":::", "```",
        "TICKS_PER_REVOLUTION", "# ", "TODO", "![", "/img/imu.png", "https://example.org", "Drift"})
    EXPECT_EQ(text.find(gone), std::string::npos) << gone;
  for (const std::string_view kept :
       {"some noise, bias and delay, and perception", "A LiDAR emits laser pulses",
        "Integration accumulates every small error.", "(e.g. the BNO055)",
        "a technique called **odometry**."})
    EXPECT_NE(text.find(kept), std::string::npos) << kept;
  EXPECT_EQ(readable_text(pid_text).find("Proportional"),
            std::string::npos);  // tables are not prose
  EXPECT_EQ(readable_text("- one\n- two\n\n1. three\n   continued"),
            "one\n\ntwo\n\nthree continued");
  EXPECT_EQ(readable_text("> quoted\n> text"), "quoted text");
  EXPECT_EQ(readable_text(""), "");
  EXPECT_EQ(readable_text("#\ntext\n######\nmore"), "text\n\nmore");  // empty headings
}

TEST(ExtractiveAnswerTest, NothingFoundIsSaidPlainlyWithoutCitations) {
  const auto sections = book();
  for (const std::string_view question :
       {"quantum chromodynamics", "", "   ", "what is it?", "the", "explain", "2048"}) {
    const auto result = extractive_answer(question, sections);
    EXPECT_TRUE(result.markdown.starts_with("I could not find this in the book."))
        << question << ": " << result.markdown;
    EXPECT_TRUE(result.cited.empty()) << question;
    EXPECT_TRUE(citations_in(result.markdown).empty()) << result.markdown;
  }
  const auto nothing = extractive_answer("How do I tune a PID controller?", {});
  EXPECT_TRUE(nothing.markdown.starts_with("I could not find this in the book."))
      << nothing.markdown;
  EXPECT_TRUE(nothing.cited.empty());
  // The message fits the smallest budget too.
  EXPECT_LE(extractive_answer("quantum chromodynamics", {}, 40).markdown.size(), 40u);
  EXPECT_LE(extractive_answer("quantum chromodynamics", sections, 40).markdown.size(), 40u);
  EXPECT_NE(extractive_answer("quantum chromodynamics", sections)
                .markdown.find("[Sensors and Perception](https://book.example/docs/sensors)"),
            std::string::npos);
  // Sections with no prose at all.
  const std::vector<source_section> empty = {{4, "Code", {"Code"}, "", "```\nPID tune\n```\n"},
                                             {5, "Blank", {}, "", ""}};
  EXPECT_TRUE(extractive_answer("PID tune", empty).cited.empty());
}

TEST(ExtractiveAnswerTest, HeadingsInTheLeadInAreEscaped) {
  const std::vector<source_section> sections = {{7,
                                                 "C++",
                                                 {"C++ *pointers*", "std::unique_ptr [owning]"},
                                                 "",
                                                 "A unique_ptr owns its object."}};
  const auto result = extractive_answer("unique_ptr owns", sections);
  EXPECT_TRUE(result.markdown.starts_with(
      "**C++ \\*pointers\\* \u203a std::unique\\_ptr \\[owning\\]** \u2014 A unique_ptr owns"))
      << result.markdown;
  EXPECT_EQ(result.cited, std::vector<int>({7}));
}

TEST(ExtractiveAnswerTest, CodeBlocksAreNeverQuoted) {
  const auto sections = book();
  const auto result =
      extractive_answer("TICKS_PER_REVOLUTION ticks_to_metres math.pi WHEEL_RADIUS_M", sections);
  expect_well_formed(result, sections, 900, "code");
  for (const std::string_view code : {"TICKS_PER_REVOLUTION", "2048", "math.pi", "def ", "```"})
    EXPECT_EQ(result.markdown.find(code), std::string::npos) << code << " in " << result.markdown;
}

TEST(ExtractiveAnswerTest, StaysWithinTheBudgetAndCutsAtWords) {
  const auto sections = book();
  for (const std::size_t budget : {900u, 400u, 250u, 120u, 80u, 60u, 40u, 10u, 0u}) {
    for (const std::string_view question :
         {"How do I tune a PID controller?", "wheel encoders and odometry", "IMU drift",
          "sensors"}) {
      const auto result = extractive_answer(question, sections, budget);
      expect_well_formed(result, sections, budget,
                         std::string(question) + " @" + std::to_string(budget));
      for (const auto& [passage, n] : passages_in(result.markdown)) {
        if (!passage.ends_with("\u2026")) continue;
        // Cut after a whole word: the text goes on with a space after the kept part.
        const std::string kept = passage.substr(0, passage.size() - 3);
        const std::string text = text_of(sections, n);
        const std::size_t at = text.find(kept);
        ASSERT_NE(at, std::string::npos);
        EXPECT_EQ(text[at + kept.size()], ' ') << passage;
      }
    }
  }
}

TEST(ExtractiveAnswerTest, NeverSplitsAUtf8Character) {
  const std::vector<source_section> sections = {
      {1,
       "Sensoren",
       {"Sensoren", "Tr\u00e4gheitssensoren"},
       "https://book.example/de",
       "Eine **IMU** misst Drehraten \u00fcber drei Achsen \u2014 gr\u00fc\u00dfe an die "
       "Kalibrierung. "
       "Die Drift w\u00e4chst mit der Zeit \U0001F4C8 und muss korrigiert werden. "
       "\u00c4u\u00dferst "
       "wichtig ist die Temperatur\u00fcberwachung der IMU."},
      {2,
       "\u30bb\u30f3\u30b5",
       {"\u30bb\u30f3\u30b5"},
       "https://book.example/ja",
       "IMU\u306f\u89d2\u901f\u5ea6\u3092\u6e2c\u308a\u307e\u3059\u3002\u30c9\u30ea\u30d5\u30c8"
       "\u306f"
       "\u6642\u9593\u3068\u3068\u3082\u306b\u5897\u3048\u307e\u3059\u3002IMU\u306e\u6e29\u5ea6"
       "\u3082"
       "\u5927\u4e8b\u3067\u3059\u3002"},
  };
  for (std::size_t budget = 0; budget <= 400; ++budget) {
    const auto result = extractive_answer("IMU Drift", sections, budget);
    expect_well_formed(result, sections, budget, "budget " + std::to_string(budget));
  }
}

TEST(ExtractiveAnswerTest, IsDeterministic) {
  const auto sections = book();
  for (const std::string_view question :
       {"How do I tune a PID controller?", "sensors", "wheel odometry"}) {
    const auto first = extractive_answer(question, sections);
    for (int i = 0; i < 3; ++i) {
      const auto again = extractive_answer(question, sections);
      EXPECT_EQ(again.markdown, first.markdown);
      EXPECT_EQ(again.cited, first.cited);
    }
  }
}

TEST(ExtractiveAnswerTest, MalformedMarkdownIsHarmless) {
  std::string junk;
  for (int i = 0; i < 4096; ++i) junk += static_cast<char>((i * 37) % 256);
  const std::vector<source_section> sections = {
      {1, "junk", {}, "", junk},
      {2, "unclosed", {"unclosed"}, "", "IMU text <Tag attr=\"x\" and ```\nIMU code never closed"},
      {3, "comment", {}, "", "IMU before <!-- IMU never closed"},
      {4, "long", {}, "", "IMU " + std::string(5000, 'x') + " IMU."},
      {5, "brackets", {}, "", "[IMU [IMU](( ![IMU]( <IMU <>< &amp IMU &nbsp; IMU."},
  };
  for (const std::size_t budget : {900u, 100u, 41u}) {
    const auto result = extractive_answer("IMU", sections, budget);
    EXPECT_LE(result.markdown.size(), budget);
    for (const int n : result.cited) EXPECT_TRUE(n >= 1 && n <= 5);
  }
}

}  // namespace
}  // namespace bookmcp::chat
