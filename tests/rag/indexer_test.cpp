#include "rag/indexer.hpp"

#include <gtest/gtest.h>
#include <unistd.h>

#include <fstream>

#include "tests/testing/in_memory_document_registry.hpp"

namespace bookmcp::rag {
namespace {

namespace fs = std::filesystem;

class temporary_folder {
 public:
  temporary_folder() {
    std::string pattern = (fs::temp_directory_path() / "bookmcp-indexer-XXXXXX").string();
    path_ = fs::canonical(::mkdtemp(pattern.data()));
  }
  ~temporary_folder() { fs::remove_all(path_); }
  const fs::path& path() const { return path_; }

 private:
  fs::path path_;
};

void write(const fs::path& file, std::string_view content) {
  fs::create_directories(file.parent_path());
  std::ofstream out(file, std::ios::binary | std::ios::trunc);
  out << content;
}

std::string page(std::string_view title, std::string_view body) {
  return "---\ntitle: " + std::string(title) + "\n---\n\n# " + std::string(title) + "\n\n" +
         std::string(body) + "\n";
}

class IndexerTest : public ::testing::Test {
 protected:
  IndexerTest() {
    root_ = folder_.path() / "docs";
    write(root_ / "intro.md", page("Intro", "Welcome to the robotics book about actuators."));
    write(root_ / "01-basics/01-robots.md", page("Robots", "A robot senses and acts."));
    write(root_ / "01-basics/02-sensors.mdx", page("Sensors", "LiDAR and IMU sensors."));
    write(root_ / "01-basics/_partial.md", page("Partial", "partialword"));
    write(root_ / "node_modules/pkg/readme.md", page("Module", "modulesword"));
    write(root_ / ".hidden/secret.md", page("Hidden", "hiddenword"));
    write(root_ / "notes.txt", "not markdown");
  }

  std::unique_ptr<indexer> make_indexer(indexer_options options = {}) {
    options.roots = {root_};
    return std::make_unique<indexer>(registry_, index_, std::move(options));
  }

  std::size_t hits(std::string_view query) {
    return index_.search({std::string(query), 50, ""}).size();
  }

  temporary_folder folder_;
  fs::path root_;
  testing::in_memory_document_registry registry_;
  lexical_index index_;
};

TEST_F(IndexerTest, IndexesMarkdownFilesAndSkipsPartialsHiddenAndNodeModules) {
  auto pipeline = make_indexer();
  std::vector<index_progress> progress;
  index_summary summary =
      pipeline->index(root_.string(), [&](const index_progress& p) { progress.push_back(p); });
  EXPECT_EQ(summary.added, 3u);
  EXPECT_EQ(summary.failed, 0u);
  EXPECT_FALSE(summary.cancelled);
  ASSERT_EQ(progress.size(), 3u);
  EXPECT_EQ(progress.back().completed, 3u);
  EXPECT_EQ(progress.back().total, 3u);
  EXPECT_EQ(progress[0].path, "01-basics/01-robots.md");

  auto record = registry_.find(root_.string(), "01-basics/02-sensors.mdx");
  ASSERT_TRUE(record);
  EXPECT_EQ(record->url, "/docs/basics/sensors");
  EXPECT_EQ(record->title, "Sensors");
  EXPECT_EQ(record->chunker_version, chunker_version);
  EXPECT_EQ(record->sidebar_position, 2.0);
  EXPECT_EQ(record->content_hash.size(), 16u);
  EXPECT_FALSE(record->chunk_ids.empty());

  EXPECT_EQ(hits("lidar"), 1u);
  EXPECT_EQ(hits("partialword modulesword hiddenword"), 0u);
  EXPECT_EQ(index_.snapshot()->generation(), registry_.generation());

  // Named one by one, they are refused too (indexed by name, they vanished at the next run).
  for (const char* path :
       {"01-basics/_partial.md", "node_modules/pkg/readme.md", ".hidden/secret.md"}) {
    try {
      pipeline->index(path);
      ADD_FAILURE() << path << " was indexed";
    } catch (const request_error& error) {
      EXPECT_NE(std::string(error.what()).find("is not part of the book"), std::string::npos)
          << error.what();
    }
  }
  EXPECT_EQ(hits("partialword modulesword hiddenword"), 0u);
}

TEST_F(IndexerTest, SkipsUnchangedUpdatesChangedAndRemovesDeleted) {
  auto pipeline = make_indexer();
  pipeline->index(root_.string());
  const int writes = registry_.replace_calls();

  index_summary again = pipeline->index(root_.string());
  EXPECT_EQ(again.unchanged, 3u);
  EXPECT_EQ(again.added + again.updated + again.removed, 0u);
  EXPECT_EQ(registry_.replace_calls(), writes) << "unchanged files are not rewritten";

  write(root_ / "intro.md", page("Intro", "Now about grippers instead."));
  fs::remove(root_ / "01-basics/01-robots.md");
  write(root_ / "01-basics/03-motors.md", page("Motors", "Brushless motors."));
  index_summary changed = pipeline->index(root_.string());
  EXPECT_EQ(changed.updated, 1u);
  EXPECT_EQ(changed.removed, 1u);
  EXPECT_EQ(changed.added, 1u);
  EXPECT_EQ(changed.unchanged, 1u);
  EXPECT_FALSE(registry_.find(root_.string(), "01-basics/01-robots.md"));
  EXPECT_EQ(hits("actuators"), 0u);
  EXPECT_EQ(hits("grippers"), 1u);
  EXPECT_EQ(hits("brushless"), 1u);
  EXPECT_EQ(hits("senses"), 0u);

  // A requested file that no longer exists is forgotten too.
  fs::remove(root_ / "01-basics/03-motors.md");
  index_summary gone = pipeline->index((root_ / "01-basics/03-motors.md").string());
  EXPECT_EQ(gone.removed, 1u);
  EXPECT_EQ(hits("brushless"), 0u);
}

TEST_F(IndexerTest, ChunkerVersionChangeReChunksUnchangedFiles) {
  auto pipeline = make_indexer();
  pipeline->index(root_.string());
  registry_.set_chunker_version(root_.string(), "intro.md", chunker_version - 1);
  index_summary summary = pipeline->index(root_.string());
  EXPECT_EQ(summary.updated, 1u);
  EXPECT_EQ(summary.unchanged, 2u);
  EXPECT_EQ(registry_.find(root_.string(), "intro.md")->chunker_version, chunker_version);
}

TEST_F(IndexerTest, PerFileErrorsAreRecordedWithoutStoppingTheBatch) {
  write(root_ / "bad-utf8.md", "# Title\n\nLatin-1 caf\xe9\n");
  write(root_ / "big.md", page("Big", std::string(5000, 'x')));
  write(root_ / "bad-yaml.md", "---\ntitle: [oops\n---\n# T\n");
  indexer_options options;
  options.max_file_bytes = 2000;
  auto pipeline = make_indexer(options);
  index_summary summary = pipeline->index(root_.string());
  EXPECT_EQ(summary.added, 3u);
  EXPECT_EQ(summary.failed, 3u);
  ASSERT_EQ(summary.errors.size(), 3u);
  std::map<std::string, std::string> messages;
  for (const auto& error : summary.errors) messages[error.path] = error.message;
  EXPECT_NE(messages["bad-utf8.md"].find("not valid UTF-8"), std::string::npos);
  EXPECT_NE(messages["big.md"].find("too large"), std::string::npos);
  EXPECT_NE(messages["bad-yaml.md"].find("front matter"), std::string::npos);
  EXPECT_EQ(registry_.find(root_.string(), "big.md")->last_error, messages["big.md"]);
  EXPECT_EQ(pipeline->status().failed_documents, 3u);

  // Fixing a file clears its error on the next run.
  write(root_ / "big.md", page("Big", "small now"));
  index_summary fixed = pipeline->index(root_.string());
  EXPECT_EQ(fixed.added, 1u);
  EXPECT_EQ(registry_.find(root_.string(), "big.md")->last_error, "");
}

TEST_F(IndexerTest, CancellationBetweenFilesLeavesAConsistentState) {
  auto pipeline = make_indexer();
  std::stop_source stop;
  index_summary summary = pipeline->index(
      root_.string(),
      [&](const index_progress& p) {
        if (p.completed == 2) stop.request_stop();
      },
      stop.get_token());
  EXPECT_TRUE(summary.cancelled);
  EXPECT_EQ(summary.added, 2u);
  EXPECT_EQ(registry_.list().size(), 2u);
  // The published index reflects exactly what the registry holds.
  EXPECT_EQ(index_.snapshot()->generation(), registry_.generation());
  EXPECT_EQ(index_.snapshot()->chunk_count(), registry_.all_chunks().size());

  index_summary resumed = pipeline->index(root_.string());
  EXPECT_EQ(resumed.unchanged, 2u);
  EXPECT_EQ(resumed.added, 1u);
}

TEST_F(IndexerTest, PathsOutsideTheRootsAreRefused) {
  write(folder_.path() / "outside/secret.md", page("Secret", "classified"));
  fs::create_directory_symlink(folder_.path() / "outside", root_ / "escape");
  fs::create_symlink(folder_.path() / "outside/secret.md", root_ / "linked-secret.md");
  auto pipeline = make_indexer();

  EXPECT_THROW(pipeline->index((root_ / "../outside").string()), request_error);
  EXPECT_THROW(pipeline->index("../outside/secret.md"), request_error);
  EXPECT_THROW(pipeline->index((folder_.path() / "outside/secret.md").string()), request_error);
  EXPECT_THROW(pipeline->index("escape/secret.md"), request_error);
  EXPECT_THROW(pipeline->index("linked-secret.md"), request_error);
  EXPECT_THROW(pipeline->index("missing.md"), request_error);
  EXPECT_THROW(pipeline->read_document("escape/secret.md"), request_error);
  EXPECT_THROW(pipeline->remove_document("../outside/secret.md"), request_error);
  try {
    pipeline->index("../outside/secret.md");
  } catch (const request_error& e) {
    EXPECT_NE(std::string(e.what()).find("outside the registered docs roots"), std::string::npos);
  }

  // Walking the root: the symlinked folder is not followed, the symlinked file is an error.
  index_summary summary = pipeline->index(root_.string());
  EXPECT_EQ(summary.added, 3u);
  ASSERT_EQ(summary.errors.size(), 1u);
  EXPECT_EQ(summary.errors[0].path, "linked-secret.md");
  EXPECT_NE(summary.errors[0].message.find("outside"), std::string::npos);
  EXPECT_EQ(hits("classified"), 0u);

  // Relative paths inside the root, with "..", are fine.
  EXPECT_EQ(pipeline->resolve("01-basics/../intro.md").relative, "intro.md");
  EXPECT_EQ(pipeline->index("01-basics/../intro.md").unchanged, 1u);
}

TEST_F(IndexerTest, RemoveDocument) {
  auto pipeline = make_indexer();
  pipeline->index(root_.string());
  EXPECT_TRUE(pipeline->remove_document("intro.md"));
  EXPECT_FALSE(pipeline->remove_document("intro.md"));
  EXPECT_EQ(hits("actuators"), 0u);
  EXPECT_EQ(index_.snapshot()->generation(), registry_.generation());
}

// Two processes on one data directory share the registry but not the in-memory index: what the
// other one indexed counts as unchanged here, yet must be searchable here after the run (and
// in the snapshot this one saves).
TEST_F(IndexerTest, ARunTakesInWhatAnotherProcessIndexedIntoTheSharedRegistry) {
  indexer_options options;
  options.snapshot_file = folder_.path() / "bm25.index";
  auto mine = make_indexer(options);
  mine->open();
  mine->index(root_.string());
  write(root_ / "later.md", page("Later", "The gyroscope drifts."));
  lexical_index other_index;
  indexer_options other_options;
  other_options.roots = {root_};
  indexer other(registry_, other_index, other_options);
  EXPECT_EQ(other.index("later.md").added, 1u);
  EXPECT_EQ(hits("gyroscope"), 0u);

  index_summary summary = mine->index(root_.string());
  EXPECT_EQ(summary.added + summary.updated, 0u);
  EXPECT_EQ(hits("gyroscope"), 1u);
  EXPECT_EQ(hits("lidar"), 1u);
  lexical_index reloaded;
  indexer reopened(registry_, reloaded, options);
  EXPECT_EQ(reopened.open(), indexer::open_result::loaded_snapshot);
  EXPECT_EQ(reloaded.search({"gyroscope", 5, ""}).size(), 1u);

  // And a removal by the other process.
  fs::remove(root_ / "later.md");
  other.index(root_.string());
  mine->index("intro.md");
  EXPECT_EQ(hits("gyroscope"), 0u);
}

TEST_F(IndexerTest, RootsAreDeduplicatedOverlapsRefusedAndPathsUniqueAcrossRoots) {
  const fs::path second = folder_.path() / "second";
  write(second / "intro.md", page("Second intro", "quaternion"));
  write(second / "only.md", page("Only", "lidar twin"));
  indexer_options options;
  options.roots = {root_, root_.string() + "/", second};
  indexer pipeline(registry_, index_, options);
  EXPECT_EQ(pipeline.roots().size(), 2u);
  index_summary summary = pipeline.index_all();
  // second/intro.md collides with docs/intro.md (same path below its root): refused, clearly.
  EXPECT_EQ(summary.failed, 1u);
  ASSERT_EQ(summary.errors.size(), 1u);
  EXPECT_EQ(summary.errors[0].path, "intro.md");
  EXPECT_NE(summary.errors[0].message.find("already has a page at this path"), std::string::npos)
      << summary.errors[0].message;
  EXPECT_EQ(hits("quaternion"), 0u);
  EXPECT_EQ(hits("actuators"), 1u);
  EXPECT_EQ(hits("twin"), 1u);

  indexer_options nested;
  nested.roots = {root_, root_ / "01-basics"};
  try {
    indexer refused(registry_, index_, nested);
    FAIL() << "overlapping roots were accepted";
  } catch (const request_error& error) {
    EXPECT_NE(std::string(error.what()).find("overlap"), std::string::npos) << error.what();
  }
}

// A hit on the description or keywords (indexed with the page's first chunk) quotes them; the
// page it cites used to leave them out (its front matter stripped).
TEST_F(IndexerTest, AWholePageReadStartsWithItsDescriptionAndKeywords) {
  write(root_ / "kin.md",
        "---\ntitle: Kinematics\ndescription: Dynamic modeling for humanoid robots\n"
        "keywords: [kinematics, jacobian]\n---\n\n# Kinematics\n\nBody text.\n");
  auto pipeline = make_indexer();
  pipeline->index(root_.string());
  const auto hits = index_.search({"humanoid jacobian", 5, ""});
  ASSERT_FALSE(hits.empty());
  EXPECT_EQ(hits[0].document_path, "kin.md");
  const auto page = pipeline->read_document("kin.md", "");
  EXPECT_TRUE(page.markdown.starts_with(
      "Dynamic modeling for humanoid robots\nKeywords: kinematics, jacobian\n\n"))
      << page.markdown;
  EXPECT_NE(page.markdown.find("# Kinematics\n\nBody text."), std::string::npos) << page.markdown;
}

TEST_F(IndexerTest, SnapshotIsLoadedWhenCurrentAndRebuiltWhenStale) {
  indexer_options options;
  options.snapshot_file = folder_.path() / "bm25.index";
  {
    auto pipeline = make_indexer(options);
    EXPECT_EQ(pipeline->open(), indexer::open_result::rebuilt);  // no file yet
    pipeline->index(root_.string());
    EXPECT_TRUE(fs::exists(options.snapshot_file));
  }
  {
    lexical_index fresh;
    options.roots = {root_};
    indexer pipeline(registry_, fresh, options);
    EXPECT_EQ(pipeline.open(), indexer::open_result::loaded_snapshot);
    EXPECT_EQ(fresh.search({"lidar", 5, ""}).size(), 1u);
  }
  // The registry moved on without the snapshot (e.g. another process): rebuild from it.
  store::document_record record;
  record.root = root_.string();
  record.path = "extra.md";
  store::stored_chunk chunk;
  chunk.id = "extra";
  chunk.document_path = "extra.md";
  chunk.heading_path = {"Extra"};
  chunk.title = "Extra";
  chunk.text = "teleoperation";
  registry_.replace(record, {chunk});
  {
    lexical_index fresh;
    indexer pipeline(registry_, fresh, options);
    EXPECT_EQ(pipeline.open(), indexer::open_result::rebuilt);
    EXPECT_EQ(fresh.search({"teleoperation", 5, ""}).size(), 1u);
    EXPECT_EQ(fresh.search({"lidar", 5, ""}).size(), 1u);
  }
}

class SampleBookTest : public ::testing::Test {
 protected:
  SampleBookTest() {
    indexer_options options;
    options.roots = {BOOKMCP_SAMPLE_BOOK_DIR};
    pipeline_ = std::make_unique<indexer>(registry_, index_, options);
    summary_ = pipeline_->index(BOOKMCP_SAMPLE_BOOK_DIR);
  }
  testing::in_memory_document_registry registry_;
  lexical_index index_;
  std::unique_ptr<indexer> pipeline_;
  index_summary summary_;
};

TEST_F(SampleBookTest, IndexesEveryPage) {
  EXPECT_EQ(summary_.added, 5u);
  EXPECT_EQ(summary_.failed, 0u) << (summary_.errors.empty() ? "" : summary_.errors[0].message);
  auto hits = index_.search({"why does my IMU drift over time", 3, ""});
  ASSERT_FALSE(hits.empty());
  EXPECT_EQ(hits[0].url, "/docs/basics/sensors#inertial-measurement-units");
  auto tuning = index_.search({"how to tune a PID gain", 3, ""});
  ASSERT_FALSE(tuning.empty());
  EXPECT_EQ(tuning[0].document_path, "02-motion/kinematics.md");
  auto forward = index_.search({"forward kinematics tool tip position", 1, ""});
  ASSERT_FALSE(forward.empty());
  EXPECT_EQ(forward[0].url, "/docs/motion/kinematics#forward");
  auto tabs = index_.search({"ultrasonic echo glass", 1, ""});
  ASSERT_FALSE(tabs.empty()) << "text inside JSX tabs is indexed";
  EXPECT_EQ(tabs[0].anchor, "measuring-distance");
}

TEST_F(SampleBookTest, TableOfContentsFollowsSidebarOrder) {
  auto toc = pipeline_->table_of_contents();
  ASSERT_EQ(toc.size(), 3u);
  EXPECT_EQ(toc[0].label, "Robotics Fundamentals");
  EXPECT_EQ(toc[0].url, "/docs/");
  EXPECT_FALSE(toc[0].is_category);
  EXPECT_EQ(toc[1].label, "Basics");
  EXPECT_TRUE(toc[1].is_category);
  ASSERT_EQ(toc[1].children.size(), 2u);
  EXPECT_EQ(toc[1].children[0].label, "What Is a Robot?");
  EXPECT_EQ(toc[1].children[0].url, "/docs/basics/what-is-a-robot");
  EXPECT_EQ(toc[1].children[1].path, "01-basics/02-sensors.mdx");
  EXPECT_EQ(toc[2].label, "Motion and Control");
  EXPECT_EQ(toc[2].path, "02-motion/index.md");
  EXPECT_EQ(toc[2].url, "/docs/motion/");
  ASSERT_EQ(toc[2].children.size(), 1u);
  EXPECT_EQ(toc[2].children[0].url, "/docs/motion/kinematics");
}

TEST_F(SampleBookTest, ReadsDocumentsAndSections) {
  document_content whole = pipeline_->read_document("02-motion/kinematics.md");
  EXPECT_EQ(whole.title, "Kinematics and Control");
  EXPECT_EQ(whole.url, "/docs/motion/kinematics");
  EXPECT_TRUE(whole.markdown.starts_with("\n# Kinematics and Control")) << whole.markdown;
  EXPECT_EQ(whole.markdown.find("sidebar_position"), std::string::npos);
  ASSERT_GE(whole.headings.size(), 6u);
  EXPECT_EQ(whole.headings[1].anchor, "forward");

  document_content section = pipeline_->read_document("02-motion/kinematics.md", "pid-control");
  EXPECT_TRUE(section.markdown.starts_with("## PID control\n")) << section.markdown;
  EXPECT_NE(section.markdown.find("### Tuning"), std::string::npos);
  EXPECT_EQ(section.markdown.find("## Examples"), std::string::npos);
  EXPECT_EQ(section.url, "/docs/motion/kinematics#pid-control");

  document_content duplicate = pipeline_->read_document("02-motion/kinematics.md", "tuning-1");
  EXPECT_NE(duplicate.markdown.find("settles within 50 ms"), std::string::npos);

  document_content code = pipeline_->read_document("02-motion/kinematics.md", "forward");
  EXPECT_NE(code.markdown.find("# x and y of the tool tip"), std::string::npos)
      << "a '#' line in a fence does not end the section";

  EXPECT_THROW(pipeline_->read_document("02-motion/kinematics.md", "nope"), request_error);
  EXPECT_THROW(pipeline_->read_document("01-basics/_category_.json"), request_error);
}

}  // namespace
}  // namespace bookmcp::rag
