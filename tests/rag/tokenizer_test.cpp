#include "rag/tokenizer.hpp"

#include <gtest/gtest.h>

#include <algorithm>

namespace bookmcp::rag {
namespace {

std::vector<std::string> terms(std::string_view text) {
  tokenizer words;
  std::vector<std::string> out;
  words.append_terms(text, out);
  return out;
}

using list = std::vector<std::string>;

TEST(Tokenizer, LowercasesSplitsAndStems) {
  EXPECT_EQ(terms("Robots SENSING their environments"), (list{"robot", "sens", "environ"}));
  EXPECT_EQ(terms("sensor_msgs/Imu ROS-2"), (list{"sensor", "msgs", "imu", "ros", "2"}));
  EXPECT_EQ(terms("running runs ran"), (list{"run", "run", "ran"}));
}

TEST(Tokenizer, DropsStopWords) {
  EXPECT_EQ(terms("What is the role of a Kalman filter in the robot?"),
            (list{"role", "kalman", "filter", "robot"}));
  EXPECT_TRUE(terms("the and of to").empty());
  EXPECT_EQ(terms("robot's"), (list{"robot"}));
  EXPECT_TRUE(tokenizer::is_stop_word("the"));
  EXPECT_FALSE(tokenizer::is_stop_word("not"));
}

TEST(Tokenizer, UnicodeFoldingAndNormalisation) {
  EXPECT_EQ(terms("ＲＯＢＯＴ"), (list{"robot"}));  // full-width, NFKC
  EXPECT_EQ(terms("Straße"), terms("STRASSE"));     // case folding
  EXPECT_EQ(terms("ﬁlter"), (list{"filter"}));      // ligature
  EXPECT_EQ(terms("café"), terms("cafe\u0301"));    // composed vs decomposed
  EXPECT_EQ(terms("Ünïcödé"), (list{"ünïcödé"}));
  EXPECT_EQ(terms("θ1 + θ2"), (list{"θ1", "θ2"}));
  EXPECT_EQ(terms("日本語のテキスト"),
            (list{"日本", "本語", "語の", "のテ", "テキ", "キス", "スト"}));
  EXPECT_EQ(terms("emoji 🤖 robot"), (list{"emoji", "robot"}));
}

// Han, Hiragana and Katakana are written without spaces: their runs give bigrams, so that a
// query for any word inside a sentence finds it. Other scripts keep their words.
TEST(Tokenizer, CjkRunsGiveOverlappingBigrams) {
  EXPECT_EQ(terms("机器人学习"), (list{"机器", "器人", "人学", "学习"}));
  EXPECT_EQ(terms("学"), (list{"学"}));
  EXPECT_EQ(terms("人々"), (list{"人々"}));  // the repeat mark belongs to the run
  EXPECT_EQ(terms("ROS2のノード"), (list{"ros2", "のノ", "ノー", "ード"}));
  EXPECT_EQ(terms("PID制御とrobots"), (list{"pid", "制御", "御と", "robot"}));
  EXPECT_EQ(terms("ﾉｰﾄﾞ"), terms("ノード"));              // half-width katakana, NFKC
  EXPECT_EQ(terms("로봇 공학"), (list{"로봇", "공학"}));  // Hangul is written with spaces
  // A long Japanese sentence is no longer one word over 64 bytes, dropped.
  const std::string sentence = "逆運動学はロボットアームの関節角度を目標位置から求める計算です";
  EXPECT_GT(sentence.size(), 64u);
  const auto sentence_terms = terms(sentence);
  EXPECT_EQ(sentence_terms.size(), 30u);
  EXPECT_NE(std::find(sentence_terms.begin(), sentence_terms.end(), "関節"), sentence_terms.end());
}

TEST(Tokenizer, OffsetsPointAtTheSourceWords) {
  tokenizer words;
  std::string text = "Ünïcödé LiDAR-based sensing";
  auto occurrences = words.tokenize(text);
  ASSERT_EQ(occurrences.size(), 4u);
  EXPECT_EQ(text.substr(occurrences[0].begin, occurrences[0].end - occurrences[0].begin),
            "Ünïcödé");
  EXPECT_EQ(occurrences[1].term, "lidar");
  EXPECT_EQ(text.substr(occurrences[1].begin, occurrences[1].end - occurrences[1].begin), "LiDAR");
  EXPECT_EQ(occurrences[3].term, "sens");
  EXPECT_EQ(text.substr(occurrences[3].begin), "sensing");
}

TEST(Tokenizer, DropsOverlongWordsAndSurvivesInvalidUtf8) {
  EXPECT_TRUE(terms(std::string(100, 'a')).empty());
  EXPECT_EQ(terms("good\xff\xfe"
                  "bytes"),
            (list{"good", "byte"}));
}

// find_terms (snippets) must give exactly the occurrences of tokenize() whose term is wanted,
// whatever it remembered from earlier calls with other lists.
TEST(Tokenizer, FindTermsIsTokenizeFilteredToTheWantedTerms) {
  tokenizer words;
  const std::string text =
      "Robots SENSE the world: a robot's sensors (LiDAR, ＲＯＳ２) sense depth; 機械学習 and "
      "Straße maps. The robot senses \xff again, " +
      std::string(80, 'x') + " robots.";
  const std::vector<std::vector<std::string>> lists = {{"robot", "sens"},
                                                       {"lidar", "ros2", "機械", "学習"},
                                                       {"strass", "the", "world"},
                                                       {"robot", "sens"},
                                                       {}};
  for (const auto& wanted : lists) {
    std::vector<term_match> expected;
    for (const auto& occurrence : words.tokenize(text)) {
      auto found = std::find(wanted.begin(), wanted.end(), occurrence.term);
      if (found != wanted.end()) {
        expected.push_back(
            {static_cast<std::uint32_t>(found - wanted.begin()), occurrence.begin, occurrence.end});
      }
    }
    std::vector<term_match> found;
    words.find_terms(text, wanted, found);
    ASSERT_EQ(found.size(), expected.size());
    for (std::size_t i = 0; i < found.size(); ++i) {
      EXPECT_EQ(found[i].term, expected[i].term);
      EXPECT_EQ(found[i].begin, expected[i].begin);
      EXPECT_EQ(found[i].end, expected[i].end);
    }
  }
  std::vector<term_match> robots;
  words.find_terms(text, {"robot"}, robots);
  EXPECT_EQ(robots.size(), 4u);
}

}  // namespace
}  // namespace bookmcp::rag
