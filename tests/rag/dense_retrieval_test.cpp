// The embedded vector store (hnswlib), keeping it in step with the book (dense_retriever), and
// hybrid search with reciprocal rank fusion, over the embeddings test double.

#include "rag/dense_retrieval.hpp"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <map>
#include <random>
#include <set>

#include "rag/hybrid_search.hpp"
#include "rag/indexer.hpp"
#include "tests/testing/embeddings_double.hpp"
#include "tests/testing/in_memory_document_registry.hpp"

namespace {

using namespace bookmcp;
using bookmcp::testing::embeddings_double;
using bookmcp::testing::embeddings_fault;
using std::chrono::milliseconds;
namespace fs = std::filesystem;

std::vector<float> unit(std::vector<float> v) {
  double norm = 0;
  for (float x : v) norm += double(x) * x;
  for (float& x : v) x = static_cast<float>(x / std::sqrt(norm));
  return v;
}

std::vector<std::vector<float>> random_vectors(std::size_t count, std::size_t dimensions,
                                               unsigned seed) {
  std::mt19937 random(seed);
  std::normal_distribution<float> normal;
  std::vector<std::vector<float>> out(count, std::vector<float>(dimensions));
  for (auto& v : out) {
    for (auto& x : v) x = normal(random);
    v = unit(std::move(v));
  }
  return out;
}

fs::path fresh_folder(const std::string& name) {
  fs::path folder = fs::temp_directory_path() /
                    ("bookmcp-" + name + "-" + std::to_string(::getpid()) + "-" +
                     std::to_string(std::chrono::steady_clock::now().time_since_epoch().count()));
  fs::create_directories(folder);
  return folder;
}

rag::vector_entry entry(std::string id, std::string path, std::vector<float> vector,
                        std::uint64_t hash = 1) {
  return {std::move(id), std::move(path), hash, std::move(vector), {}};
}

TEST(EmbeddedVectorStore, FindsNearestReplacesAndRemoves) {
  auto store = rag::make_embedded_vector_store({});
  auto vectors = random_vectors(50, 16, 1);
  std::vector<rag::vector_entry> entries;
  for (std::size_t i = 0; i < vectors.size(); ++i)
    entries.push_back(entry("c" + std::to_string(i), i < 25 ? "a/x.md" : "b/y.md", vectors[i]));
  store->upsert(entries);
  EXPECT_EQ(store->size(), 50u);
  EXPECT_EQ(store->dimensions(), 16u);

  auto hits = store->search(vectors[7], 3);
  ASSERT_FALSE(hits.empty());
  EXPECT_EQ(hits[0].chunk_id, "c7");
  EXPECT_NEAR(hits[0].score, 1.0f, 1e-4);

  // Replacing a chunk's vector moves it.
  store->upsert(std::vector{entry("c7", "a/x.md", vectors[40], 2)});
  EXPECT_EQ(store->size(), 50u);
  EXPECT_EQ(store->contents().at("c7"), 2u);
  hits = store->search(vectors[40], 2);
  std::set<std::string> ids{hits[0].chunk_id, hits[1].chunk_id};
  EXPECT_TRUE(ids.contains("c7") && ids.contains("c40"));

  // Removed chunks are never found; their labels serve new chunks.
  store->remove(std::vector<std::string>{"c40", "c7", "unknown"});
  EXPECT_EQ(store->size(), 48u);
  for (const auto& hit : store->search(vectors[40], 50)) {
    EXPECT_NE(hit.chunk_id, "c40");
    EXPECT_NE(hit.chunk_id, "c7");
  }
  store->upsert(std::vector{entry("new", "a/x.md", vectors[40])});
  EXPECT_EQ(store->search(vectors[40], 1).at(0).chunk_id, "new");

  // A wrong dimension is refused.
  EXPECT_THROW(store->upsert(std::vector{entry("bad", "a.md", std::vector<float>(8, 0.1f))}),
               std::invalid_argument);
}

TEST(EmbeddedVectorStore, PathPrefixFiltersExactly) {
  auto store = rag::make_embedded_vector_store({});
  auto vectors = random_vectors(200, 16, 2);
  std::vector<rag::vector_entry> entries;
  for (std::size_t i = 0; i < vectors.size(); ++i) {
    std::string path = i % 10 == 0 ? "part-1/page.md" : (i % 10 == 1 ? "part-10/p.md" : "other.md");
    entries.push_back(entry("c" + std::to_string(i), path, vectors[i]));
  }
  store->upsert(entries);
  const auto hits = store->search(vectors[5], 100, "part-1");
  EXPECT_EQ(hits.size(), 20u);  // part-1/ only, not part-10/
  for (const auto& hit : hits) EXPECT_EQ(std::stoi(hit.chunk_id.substr(1)) % 10, 0) << hit.chunk_id;
  for (std::size_t i = 1; i < hits.size(); ++i) EXPECT_GE(hits[i - 1].score, hits[i].score);
  EXPECT_TRUE(store->search(vectors[5], 10, "nowhere").empty());
}

TEST(EmbeddedVectorStore, RecallAgainstExactSearchIsHigh) {
  const auto vectors = random_vectors(5000, 32, 3);
  auto store = rag::make_embedded_vector_store({});
  std::vector<rag::vector_entry> entries;
  for (std::size_t i = 0; i < vectors.size(); ++i)
    entries.push_back(entry(std::to_string(i), "d.md", vectors[i]));
  store->upsert(entries);
  const auto queries = random_vectors(50, 32, 4);
  std::size_t found = 0;
  for (const auto& query : queries) {
    std::set<std::string> exact;
    for (const auto& [index, score] : rag::exact_nearest(vectors, query, 10))
      exact.insert(std::to_string(index));
    for (const auto& hit : store->search(query, 10)) found += exact.contains(hit.chunk_id);
  }
  EXPECT_GE(static_cast<double>(found) / (queries.size() * 10), 0.95);
}

// Insertion runs on several threads: new labels, reused labels of removed chunks and replaced
// vectors of existing chunks all at once (the ThreadSanitizer build checks the locking).
TEST(EmbeddedVectorStore, ParallelInsertionFindsEveryVector) {
  auto store = rag::make_embedded_vector_store({});
  const auto first = random_vectors(1500, 32, 11);
  std::vector<rag::vector_entry> entries;
  for (std::size_t i = 0; i < first.size(); ++i)
    entries.push_back(entry("c" + std::to_string(i), "doc.md", first[i]));
  store->upsert(entries);
  // A third removed; then new chunks (taking their labels), and replaced vectors.
  std::vector<std::string> removed;
  for (std::size_t i = 0; i < first.size(); i += 3) removed.push_back("c" + std::to_string(i));
  store->remove(removed);
  const auto second = random_vectors(1000, 32, 12);
  entries.clear();
  std::map<std::string, std::vector<float>> expected;
  for (std::size_t i = 0; i < first.size(); ++i)
    if (i % 3 != 0) expected["c" + std::to_string(i)] = first[i];
  for (std::size_t i = 0; i < 500; ++i) {
    const std::string id = "n" + std::to_string(i);
    entries.push_back(entry(id, "doc.md", second[i]));
    expected[id] = second[i];
  }
  for (std::size_t i = 1; i < first.size() && entries.size() < 1000; i += 3) {
    const std::string id = "c" + std::to_string(i);
    entries.push_back(entry(id, "doc.md", second[entries.size()], 2));
    expected[id] = second[entries.size() - 1];
  }
  store->upsert(entries);
  EXPECT_EQ(store->size(), expected.size());
  // Each vector finds its own chunk first.
  std::size_t found = 0;
  for (const auto& [id, vector] : expected) {
    const auto hits = store->search(vector, 1);
    found += !hits.empty() && hits[0].chunk_id == id;
  }
  EXPECT_GE(static_cast<double>(found) / static_cast<double>(expected.size()), 0.99);
}

TEST(EmbeddedVectorStore, PersistsAndIgnoresABrokenFile) {
  const fs::path folder = fresh_folder("dense");
  const fs::path file = folder / "dense.index";
  const auto vectors = random_vectors(100, 8, 5);
  {
    auto store = rag::make_embedded_vector_store({.file = file});
    store->reset("model-a");
    std::vector<rag::vector_entry> entries;
    for (std::size_t i = 0; i < vectors.size(); ++i)
      entries.push_back(entry("c" + std::to_string(i), "d.md", vectors[i], i));
    store->upsert(entries);
    store->remove(std::vector<std::string>{"c3"});
    store->commit(42);
  }
  {
    auto store = rag::make_embedded_vector_store({.file = file});
    EXPECT_EQ(store->fingerprint(), "model-a");
    EXPECT_EQ(store->generation(), 42);
    EXPECT_EQ(store->size(), 99u);
    EXPECT_EQ(store->contents().at("c9"), 9u);
    EXPECT_FALSE(store->contents().contains("c3"));
    EXPECT_EQ(store->search(vectors[9], 1).at(0).chunk_id, "c9");
  }
  // One flipped byte: the file is not trusted, the store starts empty (and is re-embedded).
  {
    std::fstream bytes(file, std::ios::in | std::ios::out | std::ios::binary);
    bytes.seekp(200);
    bytes.put('\x7f');
  }
  auto store = rag::make_embedded_vector_store({.file = file});
  EXPECT_EQ(store->size(), 0u);
  EXPECT_EQ(store->fingerprint(), "");
  fs::remove_all(folder);
}

TEST(ReciprocalRankFusion, IsQdrantsFormulaWithZeroBasedRanksAndKTwo) {
  const auto fused = rag::reciprocal_rank_fusion({{"a", "b", "c"}, {"c", "d"}});
  ASSERT_EQ(fused.size(), 4u);
  // c: 1/(2+2) + 1/(0+2) = 0.75; a: 0.5; b: 1/3; d: 1/3 (tie: b ranks first, list 0).
  EXPECT_EQ(fused[0].first, "c");
  EXPECT_DOUBLE_EQ(fused[0].second.score, 0.75);
  EXPECT_EQ(fused[1].first, "a");
  EXPECT_DOUBLE_EQ(fused[1].second.score, 0.5);
  EXPECT_EQ(fused[2].first, "b");
  EXPECT_EQ(fused[3].first, "d");
  EXPECT_DOUBLE_EQ(fused[3].second.score, 1.0 / 3);
  EXPECT_EQ(fused[0].second.ranks, (std::vector<int>{2, 0}));
  EXPECT_EQ(fused[3].second.ranks, (std::vector<int>{-1, 1}));
  // An id twice in one list counts once.
  EXPECT_DOUBLE_EQ(rag::reciprocal_rank_fusion({{"x", "x"}})[0].second.score, 0.5);
  EXPECT_TRUE(rag::reciprocal_rank_fusion({{}, {}}).empty());
}

// A book indexed with dense retrieval over the embeddings double.
class DenseBookTest : public ::testing::Test {
 protected:
  void SetUp() override {
    folder_ = fresh_folder("dense-book");
    docs_ = folder_ / "docs";
    fs::create_directories(docs_ / "part-1");
    write("part-1/camera.md",
          "# Depth camera\n\nCalibrate the RealSense depth camera before mapping.\n\n"
          "## Intrinsics\n\nThe focal length and principal point come from the calibration "
          "target.\n");
    write("part-1/motors.md",
          "# Motors\n\nA PID controller drives each joint motor.\n\n## Tuning\n\nRaise the "
          "proportional gain until the joint oscillates, then halve it.\n");
    write("kinematics.md",
          "# Kinematics\n\nForward kinematics maps joint angles to the end effector pose.\n");
    endpoint_ = std::make_unique<embeddings_double>();
    open();
  }
  void TearDown() override {
    indexer_.reset();
    searcher_.reset();
    dense_.reset();
    fs::remove_all(folder_);
  }

  void write(const std::string& relative, const std::string& text) {
    std::ofstream(docs_ / relative) << text;
  }

  rag::openai_embedder_options embedder_options(const std::string& model = "double-embed-1") {
    rag::openai_embedder_options options;
    options.base_url = endpoint_->base_url();
    options.model = model;
    options.backoff_base = milliseconds(1);
    options.backoff_max = milliseconds(2);
    options.max_retries = 2;
    options.max_batch_inputs = 2;
    return options;
  }

  void open(const std::string& model = "double-embed-1") {
    indexer_.reset();
    searcher_.reset();
    dense_.reset();
    auto queries = embedder_options(model);
    queries.max_retries = 0;
    queries.timeout = milliseconds(500);
    dense_ = std::make_unique<rag::dense_retriever>(
        rag::make_openai_embedder(embedder_options(model)), rag::make_openai_embedder(queries),
        rag::make_embedded_vector_store({.file = folder_ / "dense.index"}),
        rag::dense_options{.group_size = 2, .cool_down = milliseconds(60'000)});
    rag::indexer_options options;
    options.roots = {docs_};
    options.snapshot_file = folder_ / "bm25.index";
    options.dense = dense_.get();
    indexer_ = std::make_unique<rag::indexer>(registry_, index_, options);
    indexer_->open();
    searcher_ = std::make_unique<rag::book_searcher>(index_, dense_.get());
  }

  rag::book_search_result search(const std::string& query, rag::retrieval_mode mode,
                                 const std::string& prefix = {}) {
    rag::search_request request;
    request.query = query;
    request.limit = 5;
    request.path_prefix = prefix;
    return searcher_->search(request, mode);
  }

  fs::path folder_, docs_;
  bookmcp::testing::in_memory_document_registry registry_;
  rag::lexical_index index_;
  std::unique_ptr<embeddings_double> endpoint_;
  std::unique_ptr<rag::dense_retriever> dense_;
  std::unique_ptr<rag::indexer> indexer_;
  std::unique_ptr<rag::book_searcher> searcher_;
};

TEST_F(DenseBookTest, IndexingEmbedsEveryChunkOnceAndOnlyChangesLater) {
  auto summary = indexer_->index_all();
  ASSERT_TRUE(summary.dense.has_value());
  const std::size_t chunks = index_.snapshot()->chunk_count();
  EXPECT_EQ(summary.dense->embedded, chunks);
  EXPECT_EQ(summary.dense->pending, 0u);
  EXPECT_EQ(dense_->store().size(), chunks);
  EXPECT_EQ(endpoint_->inputs_embedded(), chunks);

  // Nothing changed: nothing is embedded again.
  summary = indexer_->index_all();
  EXPECT_EQ(summary.dense->embedded, 0u);
  EXPECT_EQ(endpoint_->inputs_embedded(), chunks);

  // One page changed: only its chunks; a removed page's vectors go.
  write("kinematics.md", "# Kinematics\n\nInverse kinematics solves for joint angles.\n");
  fs::remove(docs_ / "part-1/motors.md");
  summary = indexer_->index_all();
  EXPECT_EQ(summary.dense->embedded, 1u);
  EXPECT_GE(summary.dense->removed, 1u);
  EXPECT_EQ(dense_->store().size(), index_.snapshot()->chunk_count());

  // A restart loads the vectors: nothing to embed.
  const std::size_t before = endpoint_->inputs_embedded();
  open();
  summary = indexer_->index_all();
  EXPECT_EQ(summary.dense->embedded, 0u);
  EXPECT_EQ(endpoint_->inputs_embedded(), before);
}

TEST_F(DenseBookTest, HybridSearchFusesBothSignalsAndKeepsCitations) {
  indexer_->index_all();
  auto result = search("calibrating the depth camera", rag::retrieval_mode::automatic);
  EXPECT_EQ(result.mode, rag::retrieval_mode::hybrid);
  EXPECT_TRUE(result.lexical);
  EXPECT_TRUE(result.dense);
  EXPECT_FALSE(result.degraded);
  ASSERT_FALSE(result.hits.empty());
  const auto& top = result.hits.front();
  EXPECT_EQ(top.hit.document_path, "part-1/camera.md");
  EXPECT_EQ(top.hit.title, "Depth camera");
  EXPECT_FALSE(top.hit.url.empty());
  EXPECT_FALSE(top.hit.snippet.empty());
  EXPECT_GE(top.dense_rank, 0);
  // The fused score is RRF's: at most 1/2 + 1/2.
  EXPECT_LE(top.hit.score, 1.0);

  // Dense only: ranked by cosine, each hit described in full.
  result = search("joint angles", rag::retrieval_mode::dense);
  EXPECT_EQ(result.mode, rag::retrieval_mode::dense);
  EXPECT_FALSE(result.lexical);
  ASSERT_FALSE(result.hits.empty());
  for (std::size_t i = 1; i < result.hits.size(); ++i)
    EXPECT_GE(result.hits[i - 1].hit.score, result.hits[i].hit.score);
  for (const auto& hit : result.hits) EXPECT_FALSE(hit.hit.url.empty());

  // The path prefix filters both signals.
  result = search("joint", rag::retrieval_mode::hybrid, "part-1");
  ASSERT_FALSE(result.hits.empty());
  for (const auto& hit : result.hits) EXPECT_TRUE(hit.hit.document_path.starts_with("part-1/"));
}

TEST_F(DenseBookTest, SearchDegradesToWordsWhenTheEndpointIsDown) {
  indexer_->index_all();
  endpoint_->inject(embeddings_fault::server_error, 5);
  auto result = search("PID tuning gain", rag::retrieval_mode::hybrid);
  EXPECT_TRUE(result.degraded);
  EXPECT_EQ(result.mode, rag::retrieval_mode::lexical);
  EXPECT_TRUE(result.lexical);
  EXPECT_FALSE(result.dense);
  EXPECT_NE(result.degraded_reason.find("503"), std::string::npos) << result.degraded_reason;
  ASSERT_FALSE(result.hits.empty());
  EXPECT_EQ(result.hits.front().hit.document_path, "part-1/motors.md");
  // During the cool-down the endpoint is not asked again: no wait, same story.
  const std::size_t asked = endpoint_->requests();
  result = search("proportional gain", rag::retrieval_mode::automatic);
  EXPECT_TRUE(result.degraded);
  EXPECT_EQ(endpoint_->requests(), asked);
  EXPECT_FALSE(dense_->query_failure().empty());
}

TEST_F(DenseBookTest, AnEmbeddingOutageLeavesChunksPendingAndTheNextRunCompletesThem) {
  endpoint_->inject(embeddings_fault::server_error, 3);  // one group's three attempts
  auto summary = indexer_->index_all();
  const std::size_t chunks = index_.snapshot()->chunk_count();
  ASSERT_TRUE(summary.dense.has_value());
  EXPECT_FALSE(summary.dense->error.empty());
  EXPECT_EQ(summary.dense->pending, chunks);
  EXPECT_EQ(dense_->store().size(), 0u);
  // Words still work.
  EXPECT_FALSE(search("kinematics", rag::retrieval_mode::lexical).hits.empty());

  summary = indexer_->index_all();
  EXPECT_TRUE(summary.dense->error.empty());
  EXPECT_EQ(summary.dense->embedded, chunks);
  EXPECT_EQ(summary.dense->pending, 0u);
  EXPECT_EQ(endpoint_->inputs_embedded(), chunks);
}

TEST_F(DenseBookTest, AnInterruptedRunIsCompletedByTheNextOneWithoutRepeatingWork) {
  // The store is committed after the lexical index: a process killed between the two leaves
  // vectors behind the registry. Simulate it: embed, then change pages without embedding.
  indexer_->index_all();
  const std::size_t first = endpoint_->inputs_embedded();
  write("part-1/camera.md", "# Depth camera\n\nA new paragraph about stereo matching.\n");
  {
    rag::indexer_options options;
    options.roots = {docs_};
    options.snapshot_file = folder_ / "bm25.index";  // the same files, no dense step
    rag::lexical_index other_index;
    rag::indexer lexical_only(registry_, other_index, options);
    lexical_only.open();
    lexical_only.index_all();
  }
  open();
  auto summary = indexer_->index_all();
  EXPECT_EQ(summary.dense->embedded, 1u);  // the changed page's one chunk
  EXPECT_EQ(endpoint_->inputs_embedded(), first + 1);
  EXPECT_EQ(dense_->store().size(), index_.snapshot()->chunk_count());
}

TEST_F(DenseBookTest, AChangedModelIsSaidAndEverythingIsEmbeddedAgain) {
  indexer_->index_all();
  const std::size_t chunks = index_.snapshot()->chunk_count();
  bookmcp::testing::embeddings_double_options other;
  other.model = "double-embed-2";
  endpoint_ = std::make_unique<embeddings_double>(other);
  open("double-embed-2");
  ASSERT_TRUE(indexer_->open_message().has_value());
  EXPECT_NE(indexer_->open_message()->find("another embedding model"), std::string::npos)
      << *indexer_->open_message();
  auto summary = indexer_->index_all();
  EXPECT_EQ(summary.dense->embedded, chunks);
  EXPECT_EQ(dense_->store().fingerprint(), dense_->fingerprint());
}

TEST_F(DenseBookTest, AChunkTheEndpointRefusesIsNamedAndTheRestGoesIn) {
  bookmcp::testing::embeddings_double_options strict;
  strict.max_input_chars = 150;
  endpoint_ = std::make_unique<embeddings_double>(strict);
  open();
  write("long.md", "# Long page\n\n" + std::string(400, 'w') + " words\n");
  auto summary = indexer_->index_all();
  ASSERT_EQ(summary.dense->chunk_errors.size(), 1u);
  EXPECT_EQ(summary.dense->chunk_errors[0].document_path, "long.md");
  EXPECT_NE(summary.dense->chunk_errors[0].message.find("413"), std::string::npos);
  EXPECT_EQ(dense_->store().size(), index_.snapshot()->chunk_count() - 1);
}

TEST_F(DenseBookTest, ModesThatNeedEmbeddingsAreRefusedWithoutThem) {
  indexer_->index_all();
  rag::book_searcher lexical_only(index_, nullptr);
  rag::search_request request;
  request.query = "camera";
  EXPECT_EQ(lexical_only.search(request, rag::retrieval_mode::automatic).mode,
            rag::retrieval_mode::lexical);
  EXPECT_THROW(lexical_only.search(request, rag::retrieval_mode::hybrid), std::invalid_argument);
  EXPECT_THROW(lexical_only.search(request, rag::retrieval_mode::dense), std::invalid_argument);
}

}  // namespace
