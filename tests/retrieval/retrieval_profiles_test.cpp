// One retrieval suite, run on both storage profiles:
//   embedded: the SQLite registry and the embedded vector index in a data directory;
//   server:   the Postgres registry (the cluster of with_postgres.sh; skipped without it) and
//             Qdrant (the Qdrant test double, written from Qdrant's published OpenAPI schema:
//             no Qdrant server runs on these machines), which then also answers lexical and
//             hybrid queries itself.
// Embeddings come from the embeddings test double on both. Plus the faults of the server
// profile (Qdrant down at start, down mid-index, slow, rate limiting), and the lexical
// agreement of Qdrant's sparse BM25 with the embedded BM25 on the 60 reader questions.

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <random>

#include "rag/dense_retrieval.hpp"
#include "rag/hybrid_search.hpp"
#include "rag/indexer.hpp"
#include "rag/qdrant_store.hpp"
#include "store/database.hpp"
#include "tests/testing/embeddings_double.hpp"
#include "tests/testing/in_memory_document_registry.hpp"
#include "tests/testing/qdrant_double.hpp"
#include "tests/testing/postgres_test_cluster.hpp"
#include "tests/testing/store_backends.hpp"

namespace {

using namespace bookmcp;
using std::chrono::milliseconds;
namespace fs = std::filesystem;
using bookmcp::testing::embeddings_double;
using bookmcp::testing::embeddings_fault;
using bookmcp::testing::qdrant_double;
using bookmcp::testing::qdrant_fault;

fs::path fresh_folder() {
  std::random_device random;
  fs::path folder = fs::temp_directory_path() /
                    ("bookmcp-retrieval-" + std::to_string(::getpid()) + "-" + std::to_string(random()));
  fs::create_directories(folder);
  return folder;
}

rag::openai_embedder_options embedder_options(const embeddings_double& endpoint, int retries) {
  rag::openai_embedder_options options;
  options.base_url = endpoint.base_url();
  options.model = "double-embed-1";
  options.max_retries = retries;
  options.backoff_base = milliseconds(1);
  options.backoff_max = milliseconds(2);
  return options;
}

rag::qdrant_options qdrant_options_for(const std::string& url) {
  rag::qdrant_options options;
  options.url = url;
  options.collection = "book";
  options.backoff_base = milliseconds(1);
  options.backoff_max = milliseconds(5);
  options.max_retries = 3;
  options.search_timeout = milliseconds(1000);
  options.upsert_batch = 8;
  return options;
}

// One bookmcp "replica": its own lexical index and indexer over a shared registry and store.
struct replica {
  rag::lexical_index index;
  std::unique_ptr<rag::dense_retriever> dense;
  std::unique_ptr<rag::indexer> indexer;
  std::unique_ptr<rag::book_searcher> searcher;

  rag::book_search_result search(const std::string& query, rag::retrieval_mode mode,
                                 const std::string& prefix = {}) {
    rag::search_request request;
    request.query = query;
    request.limit = 5;
    request.path_prefix = prefix;
    return searcher->search(request, mode);
  }
};

class RetrievalProfileTest : public ::testing::TestWithParam<std::string> {
 protected:
  void SetUp() override {
    server_ = GetParam() == "server";
    if (server_) {
      backend_ = bookmcp::testing::postgres_backend().make ? bookmcp::testing::postgres_backend().make()
                                                           : nullptr;
      if (!backend_) GTEST_SKIP() << bookmcp::testing::postgres_skip_message;
      qdrant_ = std::make_unique<qdrant_double>();
    } else {
      backend_ = bookmcp::testing::sqlite_backend().make();
    }
    folder_ = fresh_folder();
    docs_ = folder_ / "docs";
    fs::copy(BOOKMCP_SAMPLE_BOOK_DIR, docs_, fs::copy_options::recursive);
    database_ = backend_->open({});
    endpoint_ = std::make_unique<embeddings_double>();
  }
  void TearDown() override {
    if (qdrant_) {
      EXPECT_TRUE(qdrant_->violations().empty())
          << "bookmcp sent Qdrant a request its schema refuses: " << qdrant_->violations().front();
    }
    replicas_.clear();
    database_.reset();
    if (!folder_.empty()) fs::remove_all(folder_);
  }

  std::unique_ptr<rag::vector_store> make_store(const std::string& qdrant_url = {}) {
    if (server_) return rag::make_qdrant_vector_store(qdrant_options_for(qdrant_url.empty() ? qdrant_->url() : qdrant_url));
    return rag::make_embedded_vector_store({.file = folder_ / "dense.index"});
  }

  // A replica whose local BM25 snapshot lives in `snapshot_folder` (empty: none kept).
  replica& start_replica(std::unique_ptr<rag::vector_store> store, const fs::path& snapshot_folder) {
    auto r = std::make_unique<replica>();
    auto queries = embedder_options(*endpoint_, 0);
    queries.timeout = milliseconds(1000);
    r->dense = std::make_unique<rag::dense_retriever>(
        rag::make_openai_embedder(embedder_options(*endpoint_, 2)),
        rag::make_openai_embedder(queries), std::move(store),
        rag::dense_options{.group_size = 16, .cool_down = milliseconds(60'000)});
    rag::indexer_options options;
    options.roots = {docs_};
    if (!snapshot_folder.empty()) options.snapshot_file = snapshot_folder / "bm25.index";
    options.dense = r->dense.get();
    r->indexer = std::make_unique<rag::indexer>(database_->documents(), r->index, options);
    r->indexer->open();
    r->searcher = std::make_unique<rag::book_searcher>(r->index, r->dense.get());
    replicas_.push_back(std::move(r));
    return *replicas_.back();
  }
  replica& start_replica() { return start_replica(make_store(), folder_); }

  bool server_ = false;
  std::unique_ptr<bookmcp::testing::store_backend> backend_;
  std::unique_ptr<store::database> database_;
  std::unique_ptr<qdrant_double> qdrant_;
  std::unique_ptr<embeddings_double> endpoint_;
  fs::path folder_, docs_;
  std::vector<std::unique_ptr<replica>> replicas_;
};

TEST_P(RetrievalProfileTest, IndexesOnceAndAnswersEveryModeWithCitations) {
  replica& r = start_replica();
  auto summary = r.indexer->index_all();
  const std::size_t chunks = r.index.snapshot()->chunk_count();
  ASSERT_TRUE(summary.dense);
  EXPECT_TRUE(summary.dense->error.empty()) << summary.dense->error;
  EXPECT_EQ(summary.dense->embedded, chunks);
  EXPECT_EQ(r.dense->store().size(), chunks);
  if (server_) {
    EXPECT_EQ(qdrant_->point_count("book"), chunks);
  }
  EXPECT_EQ(r.indexer->index_all().dense->embedded, 0u);

  for (auto mode : {rag::retrieval_mode::hybrid, rag::retrieval_mode::lexical}) {
    auto result = r.search("how do I tune a PID controller", mode);
    EXPECT_FALSE(result.degraded) << result.degraded_reason;
    EXPECT_EQ(result.mode, mode);
    ASSERT_FALSE(result.hits.empty()) << rag::to_string(mode);
    const auto& top = result.hits.front().hit;
    EXPECT_EQ(top.document_path, "02-motion/kinematics.md") << rag::to_string(mode);
    EXPECT_EQ(top.title, "Kinematics and Control");
    EXPECT_TRUE(top.url.starts_with("/docs/motion/kinematics")) << top.url;
    EXPECT_FALSE(top.snippet.empty());
  }
  auto hybrid = r.search("robot sensors", rag::retrieval_mode::hybrid);
  EXPECT_TRUE(hybrid.lexical && hybrid.dense);
  auto dense = r.search("robot sensors", rag::retrieval_mode::dense);
  EXPECT_TRUE(dense.dense && !dense.lexical);
  ASSERT_FALSE(dense.hits.empty());

  for (auto mode : {rag::retrieval_mode::hybrid, rag::retrieval_mode::lexical,
                    rag::retrieval_mode::dense}) {
    auto filtered = r.search("robot", mode, "01-basics");
    ASSERT_FALSE(filtered.hits.empty()) << rag::to_string(mode);
    for (const auto& hit : filtered.hits)
      EXPECT_TRUE(hit.hit.document_path.starts_with("01-basics/")) << hit.hit.document_path;
  }
}

TEST_P(RetrievalProfileTest, RemovedAndChangedPagesLeaveNoStaleVectors) {
  replica& r = start_replica();
  r.indexer->index_all();
  fs::remove(docs_ / "02-motion" / "kinematics.md");
  auto summary = r.indexer->index_all();
  EXPECT_GT(summary.dense->removed, 0u);
  EXPECT_EQ(r.dense->store().size(), r.index.snapshot()->chunk_count());
  for (const auto& hit : r.search("PID controller", rag::retrieval_mode::hybrid).hits)
    EXPECT_NE(hit.hit.document_path, "02-motion/kinematics.md");
}

TEST_P(RetrievalProfileTest, AFreshReplicaServesTheBookWithoutReindexingAnything) {
  start_replica().indexer->index_all();
  const std::size_t embedded = endpoint_->inputs_embedded();
  // A new process: no local BM25 snapshot, the same registry and vector store.
  replica& fresh = start_replica(make_store(), {});
  EXPECT_FALSE(fresh.indexer->open_message()) << *fresh.indexer->open_message();
  if (server_) {
    EXPECT_EQ(qdrant_->point_count("book"), fresh.index.snapshot()->chunk_count());
  }
  auto result = fresh.search("how do I tune a PID controller", rag::retrieval_mode::hybrid);
  EXPECT_FALSE(result.degraded) << result.degraded_reason;
  ASSERT_FALSE(result.hits.empty());
  EXPECT_EQ(result.hits.front().hit.document_path, "02-motion/kinematics.md");
  auto summary = fresh.indexer->index_all();
  EXPECT_EQ(summary.added + summary.updated, 0u);
  EXPECT_EQ(summary.dense->embedded, 0u);
  EXPECT_EQ(endpoint_->inputs_embedded(), embedded + 1) << "only the query was embedded";
}

TEST_P(RetrievalProfileTest, AnEmbeddingsOutageDegradesSearchAndLeavesWorkPending) {
  replica& r = start_replica();
  endpoint_->inject(embeddings_fault::server_error, 3);
  auto summary = r.indexer->index_all();
  EXPECT_FALSE(summary.dense->error.empty());
  EXPECT_GT(summary.dense->pending, 0u);
  auto result = r.search("PID controller", rag::retrieval_mode::hybrid);
  EXPECT_TRUE(result.degraded);
  ASSERT_FALSE(result.hits.empty());
  EXPECT_EQ(result.hits.front().hit.document_path, "02-motion/kinematics.md");

  summary = r.indexer->index_all();
  EXPECT_TRUE(summary.dense->error.empty());
  EXPECT_EQ(summary.dense->pending, 0u);
  EXPECT_EQ(r.dense->store().size(), r.index.snapshot()->chunk_count());
}

TEST_P(RetrievalProfileTest, AChangedModelIsReembeddedEverywhere) {
  start_replica().indexer->index_all();
  bookmcp::testing::embeddings_double_options other;
  other.model = "double-embed-2";
  endpoint_ = std::make_unique<embeddings_double>(other);
  auto r = std::make_unique<replica>();
  auto options = embedder_options(*endpoint_, 1);
  options.model = "double-embed-2";
  r->dense = std::make_unique<rag::dense_retriever>(rag::make_openai_embedder(options),
                                                    rag::make_openai_embedder(options), make_store());
  rag::indexer_options indexing;
  indexing.roots = {docs_};
  indexing.dense = r->dense.get();
  r->indexer = std::make_unique<rag::indexer>(database_->documents(), r->index, indexing);
  r->indexer->open();
  ASSERT_TRUE(r->indexer->open_message());
  EXPECT_NE(r->indexer->open_message()->find("another embedding model"), std::string::npos);
  auto summary = r->indexer->index_all();
  EXPECT_EQ(summary.dense->embedded, r->index.snapshot()->chunk_count());
  EXPECT_EQ(r->dense->store().fingerprint(), r->dense->fingerprint());
}

INSTANTIATE_TEST_SUITE_P(Profiles, RetrievalProfileTest, ::testing::Values("embedded", "server"),
                         [](const auto& info) { return info.param; });

// ---- faults of the server profile ---------------------------------------------------------

class QdrantFaultTest : public RetrievalProfileTest {};

TEST_P(QdrantFaultTest, QdrantDownAtStartIsSaidSearchDegradesAndALaterRunCompletes) {
  std::string dead_url;
  {
    qdrant_double gone;
    dead_url = gone.url();
  }
  replica& r = start_replica(make_store(dead_url), folder_);
  ASSERT_TRUE(r.indexer->open_message());
  EXPECT_NE(r.indexer->open_message()->find("cannot be used now"), std::string::npos)
      << *r.indexer->open_message();
  auto summary = r.indexer->index_all();
  EXPECT_EQ(summary.failed, 0u) << "the pages themselves are indexed";
  EXPECT_FALSE(summary.dense->error.empty());
  auto result = r.search("PID controller", rag::retrieval_mode::hybrid);
  EXPECT_TRUE(result.degraded);
  EXPECT_NE(result.degraded_reason.find("local BM25"), std::string::npos) << result.degraded_reason;
  ASSERT_FALSE(result.hits.empty());
  EXPECT_EQ(result.hits.front().hit.document_path, "02-motion/kinematics.md");

  // Qdrant is back (the configured one): the next run embeds and upserts everything.
  replica& back = start_replica(make_store(), folder_);
  summary = back.indexer->index_all();
  EXPECT_TRUE(summary.dense->error.empty()) << summary.dense->error;
  EXPECT_EQ(qdrant_->point_count("book"), back.index.snapshot()->chunk_count());
}

TEST_P(QdrantFaultTest, QdrantDownMidIndexLeavesTheRestPendingAndIsResumed) {
  replica& r = start_replica();
  r.indexer->index_all();
  // New pages; Qdrant answers 503 to everything for a while (more than the retries).
  for (int i = 0; i < 5; ++i) {
    std::ofstream(docs_ / ("extra-" + std::to_string(i) + ".md"))
        << "# Extra " << i << "\n\nGrippers and end effectors, part " << i << ".\n";
  }
  // Qdrant answers 503 to the run's every attempt (4: the first and 3 retries), then to one
  // search.
  qdrant_->inject(qdrant_fault::unavailable, 5);
  auto summary = r.indexer->index_all();
  EXPECT_FALSE(summary.dense->error.empty());
  EXPECT_NE(summary.dense->error.find("503"), std::string::npos) << summary.dense->error;
  EXPECT_GT(summary.dense->pending, 0u);
  // Search still answers (degraded) while Qdrant refuses.
  EXPECT_TRUE(r.search("grippers", rag::retrieval_mode::hybrid).degraded);
  summary = r.indexer->index_all();
  EXPECT_TRUE(summary.dense->error.empty()) << summary.dense->error;
  EXPECT_EQ(qdrant_->point_count("book"), r.index.snapshot()->chunk_count());
}

TEST_P(QdrantFaultTest, ASlowQdrantDegradesSearchWithinItsDeadline) {
  replica& r = start_replica();
  r.indexer->index_all();
  r.search("PID", rag::retrieval_mode::hybrid);  // the query vector is cached now
  qdrant_->inject(qdrant_fault::hang, 2);
  const auto started = std::chrono::steady_clock::now();
  auto result = r.search("PID", rag::retrieval_mode::hybrid);
  EXPECT_LT(std::chrono::steady_clock::now() - started, milliseconds(10'000));
  EXPECT_TRUE(result.degraded);
  EXPECT_NE(result.degraded_reason.find("did not answer"), std::string::npos) << result.degraded_reason;
  EXPECT_FALSE(result.hits.empty());
}

TEST_P(QdrantFaultTest, RateLimitedWritesAreRetried) {
  qdrant_->inject(qdrant_fault::rate_limited, 2, milliseconds(0));
  replica& r = start_replica();
  auto summary = r.indexer->index_all();
  EXPECT_TRUE(summary.dense->error.empty()) << summary.dense->error;
  EXPECT_EQ(qdrant_->point_count("book"), r.index.snapshot()->chunk_count());
}

INSTANTIATE_TEST_SUITE_P(Server, QdrantFaultTest, ::testing::Values("server"),
                         [](const auto& info) { return info.param; });

TEST(QdrantPointIds, AreUuidV5OfTheChunkId) {
  const std::string id = rag::qdrant_point_id("intro.md#who-is-this-for#0");
  EXPECT_EQ(id.size(), 36u);
  EXPECT_EQ(id[14], '5');
  EXPECT_TRUE(id[19] == '8' || id[19] == '9' || id[19] == 'a' || id[19] == 'b');
  EXPECT_EQ(id, rag::qdrant_point_id("intro.md#who-is-this-for#0"));
  EXPECT_NE(id, rag::qdrant_point_id("intro.md#who-is-this-for#1"));
  EXPECT_EQ(rag::path_prefixes("a/b.c.md"),
            (std::vector<std::string>{"a", "a/b", "a/b.c", "a/b.c.md"}));
}

// ---- the lexical answers of the two paths agree -------------------------------------------

TEST(LexicalAgreement, QdrantSparseBm25FindsWhatTheEmbeddedBm25FindsOnTheReaderQuestions) {
  struct question {
    std::string text, document;
  };
  std::vector<question> questions;
  std::ifstream in(BOOKMCP_RETRIEVAL_QUESTIONS);
  for (const auto& q : nlohmann::json::parse(in)) questions.push_back({q.at("question"), q.at("document")});
  ASSERT_EQ(questions.size(), 60u);

  bookmcp::testing::in_memory_document_registry registry;
  rag::lexical_index local;
  {
    rag::indexer_options options;
    options.roots = {fs::canonical(BOOKMCP_PHYSICAL_AI_BOOK_DIR)};
    rag::indexer indexer(registry, local, options);
    indexer.index_all();
  }
  embeddings_double endpoint;
  qdrant_double qdrant;
  rag::dense_retriever remote(rag::make_openai_embedder(embedder_options(endpoint, 1)),
                              rag::make_openai_embedder(embedder_options(endpoint, 1)),
                              rag::make_qdrant_vector_store(qdrant_options_for(qdrant.url())),
                              rag::dense_options{.group_size = 512});
  auto report = remote.synchronise(*local.snapshot());
  ASSERT_TRUE(report.error.empty()) << report.error;

  std::size_t local_found = 0, remote_found = 0, same_top = 0;
  for (const auto& q : questions) {
    rag::search_request request;
    request.query = q.text;
    request.limit = 5;
    auto local_hits = local.search(request);
    auto remote_hits = remote.lexical(q.text, 5, {});
    ASSERT_TRUE(remote_hits.failure.empty()) << remote_hits.failure;
    auto has = [&](const std::vector<std::string>& paths) {
      return std::find(paths.begin(), paths.end(), q.document) != paths.end();
    };
    std::vector<std::string> local_paths, remote_paths;
    for (const auto& hit : local_hits) local_paths.push_back(hit.document_path);
    for (const auto& hit : remote_hits.hits) {
      const auto* chunk = local.snapshot()->find_chunk(hit.chunk_id);
      ASSERT_NE(chunk, nullptr) << hit.chunk_id;
      remote_paths.push_back(chunk->document_path);
    }
    local_found += has(local_paths);
    remote_found += has(remote_paths);
    same_top += !local_paths.empty() && !remote_paths.empty() && local_paths[0] == remote_paths[0];
  }
  // Printed for the README: both rates and how often the first document is the same.
  std::printf("right document in the top 5: embedded BM25 %zu/60, Qdrant sparse %zu/60; same first "
              "document %zu/60\n",
              local_found, remote_found, same_top);
  EXPECT_GE(remote_found + 3, local_found) << "Qdrant's sparse BM25 is within 3 questions of ours";
  EXPECT_GE(same_top, 45u);
  EXPECT_TRUE(qdrant.violations().empty());
}

}  // namespace
