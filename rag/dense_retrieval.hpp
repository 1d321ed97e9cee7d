#pragma once
// Dense retrieval over the book: keeps a vector_store in step with the lexical index (which
// mirrors the document registry) and answers nearest-chunk queries for hybrid search.
//
// Keeping in step (`synchronise`): every chunk of the published lexical snapshot must have a
// vector computed from its current text by the current model. The store remembers, per chunk,
// the hash of the text it embedded, so the work left after any interruption (a kill -9, an
// endpoint outage, a cancelled run) is exactly the chunks whose hash is missing or different;
// the next run embeds those and nothing else. Vectors of chunks no longer in the book are
// removed. A store written by another model (its fingerprint differs) is emptied first, and
// everything is embedded again.
//
// Queries (`nearest`): the query's embedding comes from a small cache, or from the query
// embedder (short timeout, one retry); after a failure, queries skip the endpoint for a
// cool-down, so that an outage costs searches nothing and hybrid search degrades to lexical
// at once.
//
// Threads: synchronise(), reset_model() and open() are one writer (the indexer serialises them);
// nearest() may run on any number of threads alongside.

#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <list>
#include <memory>
#include <mutex>
#include <optional>
#include <stop_token>
#include <string>
#include <unordered_map>
#include <vector>

#include "rag/embedder.hpp"
#include "rag/lexical_index.hpp"
#include "rag/vector_store.hpp"

namespace bookmcp::rag {

// What is embedded for a chunk: its title and heading path give a short section its context.
std::string embedding_input(const store::stored_chunk& chunk);

struct dense_progress {
  std::size_t chunks_done = 0;   // embedded (or found current) so far in this run
  std::size_t chunks_total = 0;  // chunks that needed embedding at the start of the run
  std::size_t requests = 0;      // embedding requests sent so far (retries included)
  std::size_t retries = 0;
};
using dense_progress_callback = std::function<void(const dense_progress&)>;

struct dense_chunk_error {
  std::string document_path;
  std::string chunk_id;
  std::string message;
};

struct dense_sync_report {
  std::size_t embedded = 0;  // vectors computed and stored this run
  std::size_t removed = 0;   // vectors of chunks that left the book
  std::size_t pending = 0;   // chunks still without a current vector (after a failure)
  std::size_t requests = 0;  // embedding requests this run, retries included
  std::size_t retries = 0;
  std::string error;  // why the run stopped embedding ("" when it completed)
  std::vector<dense_chunk_error> chunk_errors;  // chunks the endpoint refused (413)
  bool cancelled = false;
};

struct dense_options {
  std::size_t group_size = 256;  // chunks per embed() call (progress and cancellation points)
  std::size_t query_cache_entries = 1024;
  std::chrono::milliseconds cool_down{15'000};  // no query embedding for this long after a failure
  std::chrono::milliseconds commit_interval{60'000};  // a long run commits this often
};

class dense_retriever {
 public:
  // `documents` embeds chunk texts (long timeout, retries); `queries` embeds search queries
  // (short timeout): two clients of the same model. Both must have the same fingerprint.
  dense_retriever(std::shared_ptr<embedder> documents, std::shared_ptr<embedder> queries,
                  std::unique_ptr<vector_store> store, dense_options options = {});

  // Start-up check: when the store holds vectors of another model, empties it and returns the
  // message saying so (every chunk is then embedded again by the next synchronise()).
  std::optional<std::string> open();

  // Forgets every vector (bookmcp reindex --embeddings).
  void reset_model();

  // Brings the store in step with `snapshot` (see above) and commits it tagged with the
  // snapshot's generation. Embedding failures end the run early with report.error set (the
  // vectors stored so far are kept and committed); a 413 for one chunk is a chunk error and the
  // run goes on. Throws only for store failures (I/O).
  dense_sync_report synchronise(const index_snapshot& snapshot, std::stop_token stop = {},
                                const dense_progress_callback& progress = {});

  struct query_outcome {
    std::vector<dense_hit> hits;
    std::string failure;  // why there are no dense hits ("" when the query was embedded)
  };
  query_outcome nearest(const std::string& query, std::size_t limit, std::string_view path_prefix,
                        std::stop_token stop = {});

  // For a store that serves_lexical() (Qdrant): BM25 over its sparse vectors, and hybrid search
  // fused by the store (dense and sparse candidates, `depth` each). A failure is reported in
  // the outcome (`failure`), as for nearest(); scores are the store's.
  bool store_serves_lexical() const noexcept { return store_->serves_lexical(); }
  query_outcome lexical(const std::string& query, std::size_t limit, std::string_view path_prefix);
  query_outcome hybrid(const std::string& query, std::size_t limit, std::size_t depth,
                       std::string_view path_prefix, std::stop_token stop = {});

  const vector_store& store() const noexcept { return *store_; }
  // The embedding model's fingerprint, and the sparse scheme's when the store keeps sparse
  // vectors: what the store's vectors must have been made with.
  std::string fingerprint() const;
  // Chunks of the last synchronised snapshot without a current vector.
  std::size_t pending() const noexcept { return pending_.load(); }
  // "" while queries reach the endpoint; else the last query failure (for /readyz).
  std::string query_failure() const;

 private:
  // The query's embedding (cache, else the endpoint unless cooling down), or the failure.
  std::optional<std::vector<float>> query_vector(const std::string& query, std::stop_token stop,
                                                 std::string& failure);
  std::optional<std::vector<float>> cached(const std::string& query);
  void remember(const std::string& query, const std::vector<float>& vector);

  void synchronise_into(const index_snapshot& snapshot, std::stop_token stop,
                        const dense_progress_callback& progress, dense_sync_report& report);

  std::shared_ptr<embedder> documents_;
  std::shared_ptr<embedder> queries_;
  std::unique_ptr<vector_store> store_;
  dense_options options_;
  std::atomic<std::size_t> pending_{0};

  mutable std::mutex query_mutex_;  // guards the cache and the cool-down
  std::list<std::pair<std::string, std::vector<float>>> recent_;  // most recent first
  std::unordered_map<std::string, decltype(recent_)::iterator> cache_;
  std::chrono::steady_clock::time_point skip_until_{};
  std::string last_query_failure_;
};

}  // namespace bookmcp::rag
