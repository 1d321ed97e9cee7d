#include "rag/lexical_index.hpp"

#include <gtest/gtest.h>
#include <unistd.h>

#include <atomic>
#include <fstream>
#include <thread>

namespace bookmcp::rag {
namespace {

store::stored_chunk make_chunk(std::string path, int position, std::string text,
                               std::string title = "", std::vector<std::string> headings = {}) {
  store::stored_chunk chunk;
  chunk.document_path = std::move(path);
  chunk.position = position;
  chunk.id = chunk.document_path + "#" + std::to_string(position);
  chunk.title = std::move(title);
  chunk.heading_path = {chunk.title};
  for (auto& heading : headings) chunk.heading_path.push_back(std::move(heading));
  chunk.anchor = chunk.heading_path.size() > 1 ? "a" + std::to_string(position) : "";
  chunk.url = "/docs/" + chunk.document_path + (chunk.anchor.empty() ? "" : "#" + chunk.anchor);
  chunk.text = std::move(text);
  return chunk;
}

class temporary_folder {
 public:
  temporary_folder() {
    std::string pattern = (std::filesystem::temp_directory_path() / "bookmcp-rag-XXXXXX").string();
    path_ = ::mkdtemp(pattern.data());
  }
  ~temporary_folder() { std::filesystem::remove_all(path_); }
  const std::filesystem::path& path() const { return path_; }

 private:
  std::filesystem::path path_;
};

TEST(Bm25, ScoresMatchAHandComputedExample) {
  // Body-only corpus; "robot"/"arm"/"leg"/"wheel" are their own stems.
  lexical_index index(bm25_parameters{.k1 = 1.2f, .b = 0.75f});
  index.rebuild({make_chunk("d1.md", 0, "robot arm robot"), make_chunk("d2.md", 0, "robot leg"),
                 make_chunk("d3.md", 0, "wheel")},
                1);
  // N = 3, avgdl = 2. idf(robot) = ln(1 + 1.5/2.5) = ln 1.6, idf(arm) = ln(1 + 2.5/1.5).
  // d1: |d| = 3, norm = 0.25 + 0.75 * 1.5 = 1.375; tf'(robot) = 2/1.375, tf'(arm) = 1/1.375
  //     score = ln1.6 * sat(1.4545) + ln(8/3) * sat(0.7273), sat(x) = 2.2x / (1.2 + x)
  //           = 0.4700 * 1.2055 + 0.9808 * 1.0  ... = 1.380853
  // d2: |d| = 2, norm = 1; tf'(robot) = 1 -> ln 1.6 * 1 = 0.470004
  auto hits = index.search({"arm robot", 10, ""});
  ASSERT_EQ(hits.size(), 2u);
  EXPECT_EQ(hits[0].document_path, "d1.md");
  EXPECT_NEAR(hits[0].score, 1.3808530595698567, 1e-5);
  EXPECT_EQ(hits[1].document_path, "d2.md");
  EXPECT_NEAR(hits[1].score, 0.47000362924573563, 1e-5);
  EXPECT_TRUE(index.search({"the of and", 10, ""}).empty());
  EXPECT_TRUE(index.search({"arm", 0, ""}).empty());
}

TEST(Bm25, TitleAndHeadingMatchesOutrankBodyMatches) {
  lexical_index index;
  index.rebuild(
      {make_chunk("a.md", 0, "gripper force control loop", "Manipulation"),
       make_chunk("b.md", 0, "notes about control and force", "Grasping", {"Gripper design"}),
       make_chunk("c.md", 0, "control force", "Gripper basics")},
      1);
  auto hits = index.search({"gripper", 3, ""});
  ASSERT_EQ(hits.size(), 3u);
  EXPECT_EQ(hits[0].document_path, "b.md");  // heading weight 3 > title weight 2 > body
  EXPECT_EQ(hits[1].document_path, "c.md");
  EXPECT_EQ(hits[2].document_path, "a.md");
}

TEST(Search, LimitPathPrefixAndResultFields) {
  lexical_index index;
  index.rebuild({make_chunk("part-1/a.md", 0, "lidar point clouds", "A", {"Sensors"}),
                 make_chunk("part-1/a.md", 1, "lidar lidar calibration", "A", {"Calibration"}),
                 make_chunk("part-10/b.md", 0, "lidar in the field", "B"),
                 make_chunk("intro.md", 0, "lidar intro", "Intro")},
                5);
  auto all = index.search({"lidar", 10, ""});
  EXPECT_EQ(all.size(), 4u);
  EXPECT_EQ(index.search({"lidar", 2, ""}).size(), 2u);

  auto part1 = index.search({"lidar", 10, "part-1"});
  ASSERT_EQ(part1.size(), 2u);
  for (const auto& hit : part1) EXPECT_EQ(hit.document_path, "part-1/a.md");
  EXPECT_EQ(index.search({"lidar", 10, "/part-1/"}).size(), 2u);
  EXPECT_EQ(index.search({"lidar", 10, "intro"}).size(), 1u);
  EXPECT_EQ(index.search({"lidar", 10, "part-1/a.md"}).size(), 2u);
  EXPECT_TRUE(index.search({"lidar", 10, "nowhere"}).empty());

  const search_hit& top = part1[0];
  EXPECT_EQ(top.chunk_id, "part-1/a.md#1");
  EXPECT_EQ(top.title, "A");
  EXPECT_EQ(top.heading_path, (std::vector<std::string>{"A", "Calibration"}));
  EXPECT_EQ(top.anchor, "a1");
  EXPECT_EQ(top.url, "/docs/part-1/a.md#a1");
  EXPECT_EQ(top.snippet, "**lidar** **lidar** calibration");
}

// A Japanese or Chinese page is found by a word of it, whatever sentence it sits in.
TEST(Search, CjkTextIsFoundByAWordInsideASentence) {
  lexical_index index;
  index.rebuild(
      {make_chunk("ja.md", 0, "逆運動学はロボットアームの関節角度を求める計算です", "逆運動学"),
       make_chunk("zh.md", 0, "机器人通过传感器感知环境", "传感器"),
       make_chunk("en.md", 0, "inverse kinematics computes joint angles", "IK")},
      5);
  auto joints = index.search({"関節角度", 10, ""});
  ASSERT_EQ(joints.size(), 1u);
  EXPECT_EQ(joints[0].document_path, "ja.md");
  auto sensors = index.search({"传感器", 10, ""});
  ASSERT_EQ(sensors.size(), 1u);
  EXPECT_EQ(sensors[0].document_path, "zh.md");
  EXPECT_TRUE(index.search({"関係", 10, ""}).empty());
}

TEST(Search, SnippetWindowsAroundTheBestMatch) {
  std::string text;
  for (int i = 0; i < 60; ++i) text += "filler words here. ";
  text += "The Kalman filter fuses IMU readings with odometry.";
  for (int i = 0; i < 60; ++i) text += " more filler text.";
  lexical_index index;
  index.rebuild({make_chunk("a.md", 0, text)}, 1);
  auto hits = index.search({"kalman odometry", 1, "", 120});
  ASSERT_EQ(hits.size(), 1u);
  const std::string& snippet = hits[0].snippet;
  EXPECT_NE(snippet.find("**Kalman** filter fuses IMU readings with **odometry**"),
            std::string::npos)
      << snippet;
  EXPECT_TRUE(snippet.starts_with("\u2026 ")) << snippet;
  EXPECT_TRUE(snippet.ends_with(" \u2026")) << snippet;
  EXPECT_LT(snippet.size(), 180u);
}

TEST(Index, IncrementalReplaceAndRemove) {
  lexical_index index;
  index.replace_document("a.md", {make_chunk("a.md", 0, "alpha beta")});
  index.replace_document("b.md", {make_chunk("b.md", 0, "beta gamma")});
  EXPECT_EQ(index.snapshot()->chunk_count(), 0u) << "nothing visible before publish";
  index.publish(2);
  EXPECT_EQ(index.snapshot()->generation(), 2);
  EXPECT_EQ(index.search({"beta", 10, ""}).size(), 2u);

  index.replace_document("a.md", {make_chunk("a.md", 0, "delta"), make_chunk("a.md", 1, "omega")});
  index.remove_document("b.md");
  index.publish(3);
  EXPECT_TRUE(index.search({"beta", 10, ""}).empty());
  EXPECT_EQ(index.search({"delta omega", 10, ""}).size(), 2u);
  EXPECT_EQ(index.snapshot()->document_count(), 1u);
  EXPECT_THROW(index.replace_document("a.md", {make_chunk("other.md", 0, "x")}),
               std::invalid_argument);
}

TEST(Index, ReadersKeepTheirSnapshotWhileWritersPublish) {
  lexical_index index;
  index.rebuild({make_chunk("a.md", 0, "stable content")}, 1);
  auto held = index.snapshot();
  index.rebuild({make_chunk("b.md", 0, "replacement")}, 2);
  EXPECT_EQ(held->search({"stable", 10, ""}).size(), 1u);
  EXPECT_EQ(index.search({"stable", 10, ""}).size(), 0u);

  // Searches keep being answered from consistent snapshots during a stream of publishes:
  // every snapshot holds exactly one version of doc.md, never zero or two.
  std::atomic<bool> done = false;
  std::atomic<int> inconsistent = 0, searches = 0;
  std::thread reader([&] {
    while (!done) {
      auto snapshot = index.snapshot();
      auto hits = snapshot->search({"version", 10, ""});
      if (snapshot->generation() >= 10 && hits.size() != 1) ++inconsistent;
      ++searches;
    }
  });
  for (int generation = 10; generation < 60; ++generation) {
    index.replace_document("doc.md",
                           {make_chunk("doc.md", 0, "version " + std::to_string(generation))});
    index.publish(generation);
  }
  while (searches < 50) std::this_thread::yield();
  done = true;
  reader.join();
  EXPECT_EQ(inconsistent, 0);
}

TEST(Persistence, RoundTripWithMatchingGeneration) {
  temporary_folder folder;
  auto file = folder.path() / "bm25.index";
  lexical_index original;
  original.rebuild({make_chunk("a.md", 0, "Ünïcödé lidar", "Title A", {"Heading"}),
                    make_chunk("a.md", 1, "imu drift"), make_chunk("b.md", 0, "lidar range")},
                   42);
  original.save(file);

  lexical_index loaded;
  ASSERT_TRUE(loaded.load(file, 42));
  EXPECT_EQ(loaded.snapshot()->generation(), 42);
  EXPECT_EQ(loaded.snapshot()->chunk_count(), 3u);
  for (std::string query : {"lidar", "ünïcödé", "title heading", "drift"}) {
    auto expected = original.search({query, 10, ""});
    auto actual = loaded.search({query, 10, ""});
    ASSERT_EQ(actual.size(), expected.size()) << query;
    for (std::size_t i = 0; i < actual.size(); ++i) {
      EXPECT_EQ(actual[i].chunk_id, expected[i].chunk_id);
      EXPECT_FLOAT_EQ(static_cast<float>(actual[i].score), static_cast<float>(expected[i].score));
      EXPECT_EQ(actual[i].heading_path, expected[i].heading_path);
      EXPECT_EQ(actual[i].snippet, expected[i].snippet);
    }
  }
  // The loaded index keeps working incrementally.
  loaded.replace_document("c.md", {make_chunk("c.md", 0, "lidar again")});
  loaded.publish(43);
  EXPECT_EQ(loaded.search({"lidar", 10, ""}).size(), 3u);
  EXPECT_FALSE(std::filesystem::exists(file.string() + ".tmp." + std::to_string(::getpid())));
}

TEST(Persistence, StaleCorruptOrForeignFilesAreRejected) {
  temporary_folder folder;
  auto file = folder.path() / "bm25.index";
  lexical_index original;
  original.rebuild({make_chunk("a.md", 0, "lidar")}, 7);
  original.save(file);

  lexical_index other;
  EXPECT_FALSE(other.load(file, 8)) << "generation mismatch means rebuild";
  EXPECT_FALSE(other.load(folder.path() / "missing", 7));
  lexical_index different_parameters(bm25_parameters{.k1 = 2.0f});
  EXPECT_FALSE(different_parameters.load(file, 7));

  std::string bytes;
  {
    std::ifstream in(file, std::ios::binary);
    bytes.assign(std::istreambuf_iterator<char>(in), {});
  }
  bytes[bytes.size() / 2] ^= 0x5A;
  {
    std::ofstream out(file, std::ios::binary | std::ios::trunc);
    out << bytes;
  }
  EXPECT_FALSE(other.load(file, 7)) << "checksum mismatch";
  EXPECT_EQ(other.snapshot()->chunk_count(), 0u) << "a failed load leaves the index unchanged";
  {
    std::ofstream out(file, std::ios::binary | std::ios::trunc);
    out << "short";
  }
  EXPECT_FALSE(other.load(file, 7));

  lexical_index staged;
  staged.replace_document("a.md", {make_chunk("a.md", 0, "x")});
  EXPECT_THROW(staged.save(file), std::logic_error);
}

}  // namespace
}  // namespace bookmcp::rag
