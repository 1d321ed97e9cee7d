#pragma once
// Where the dense vectors of the book's chunks live, behind one interface: the embedded
// approximate index (hnswlib, persisted in the data directory beside the BM25 snapshot) for
// the embedded profile, Qdrant for the server profile.
//
// A store holds one vector per chunk id with the hash of the text it was computed from, so
// that a pipeline can tell which chunks still need (re-)embedding after any interruption; and
// the fingerprint of the model that made them (vectors of another model are never mixed in:
// reset() drops them all).
//
// Threads: search() and the read accessors may run concurrently with each other and with one
// writer (upsert, remove, reset, commit); writers must not run concurrently (the indexer
// serialises its runs).

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <span>
#include <stdexcept>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "rag/sparse_encoder.hpp"

namespace bookmcp::rag {

// The store cannot be reached or refused a request (Qdrant down, slow, misconfigured). what()
// is safe to show to a user. Callers degrade (search answers from the lexical index) or stop
// (an indexing run leaves the rest pending).
class vector_store_error : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

struct vector_entry {
  std::string chunk_id;
  std::string document_path;
  std::uint64_t content_hash = 0;  // of the embedded text (embedding_input)
  std::vector<float> vector;       // unit length
  sparse_vector sparse;            // BM25 weights, for stores that serve_lexical()
};

struct dense_hit {
  std::string chunk_id;
  float score = 0;  // cosine similarity; a sparse dot product or a fused score where so said
};

class vector_store {
 public:
  virtual ~vector_store() = default;

  virtual std::string_view kind() const noexcept = 0;  // "embedded", "qdrant"

  // The model fingerprint of the stored vectors ("" for a store never written).
  virtual std::string fingerprint() const = 0;
  // Drops every vector and adopts `fingerprint` (a new model, or a forced re-embed).
  virtual void reset(const std::string& fingerprint) = 0;

  // chunk id -> content hash, for every stored vector.
  virtual std::unordered_map<std::string, std::uint64_t> contents() const = 0;
  virtual std::size_t size() const = 0;
  virtual std::size_t dimensions() const = 0;  // 0 while empty

  // Adds or replaces vectors (by chunk id). Every vector must have the store's dimension once
  // it has one; the first upsert of an empty store sets it. Throws std::invalid_argument for a
  // wrong dimension.
  virtual void upsert(std::span<const vector_entry> entries) = 0;
  virtual void remove(std::span<const std::string> chunk_ids) = 0;

  // The `limit` nearest chunks to `query` (unit length), best first, optionally only those of
  // documents at or under `path_prefix` (as search_request::path_prefix).
  virtual std::vector<dense_hit> search(std::span<const float> query, std::size_t limit,
                                        std::string_view path_prefix = {}) const = 0;

  // Makes every write so far durable, tagged with the registry generation it reflects.
  virtual void commit(std::int64_t generation) = 0;
  virtual std::int64_t generation() const = 0;

  // Stores that also keep each chunk's BM25 sparse vector (Qdrant) answer lexical and hybrid
  // queries themselves, so that every replica shares one lexical index.
  virtual bool serves_lexical() const noexcept { return false; }
  // Lexical search over the sparse vectors (the store applies IDF). Only if serves_lexical().
  virtual std::vector<dense_hit> sparse_search(const sparse_vector& query, std::size_t limit,
                                               std::string_view path_prefix = {}) const {
    (void)query, (void)limit, (void)path_prefix;
    throw std::logic_error("this vector store keeps no sparse vectors");
  }
  // Dense and sparse candidates (`depth` each) fused with RRF by the store, best first, scores
  // fused. Only if serves_lexical().
  virtual std::vector<dense_hit> hybrid_search(std::span<const float> dense,
                                               const sparse_vector& sparse, std::size_t limit,
                                               std::size_t depth,
                                               std::string_view path_prefix = {}) const {
    (void)dense, (void)sparse, (void)limit, (void)depth, (void)path_prefix;
    throw std::logic_error("this vector store does not fuse");
  }
  // "" when reachable, else why not (for /readyz). Stores in this process are always reachable.
  virtual std::string probe() const { return {}; }
};

struct embedded_vector_options {
  // Where commit() saves the index (e.g. <data-dir>/dense.index); empty: memory only.
  std::filesystem::path file;
  // Chosen with bench/rag/dense_bench (100k vectors of 384 dimensions, two cores): M 16 /
  // ef_construction 128 / ef 320 gives recall@10 0.96 at a query p50 near 0.7 ms and builds
  // about three times as fast as M 32 / 200 / 200 (recall 0.975), which kept the embedding step
  // under 5,000 chunks/s. A saved index keeps the M it was built with.
  std::size_t hnsw_m = 16;
  std::size_t hnsw_ef_construction = 128;
  std::size_t hnsw_ef_search = 320;  // at least `limit` is used
};

// The embedded store. Loads `options.file` when it is intact (a corrupt or unreadable file is
// ignored: the store starts empty and the pipeline re-embeds). Never throws for a bad file.
std::unique_ptr<vector_store> make_embedded_vector_store(embedded_vector_options options);

// Exact top-`limit` by cosine over `vectors` (each unit length): the reference for recall and
// the benchmark's physical-limit peer. Returns indexes into `vectors`, best first.
std::vector<std::pair<std::size_t, float>> exact_nearest(
    std::span<const std::vector<float>> vectors, std::span<const float> query, std::size_t limit);

// Whether `document_path` is `prefix` or lies under it ("part-1" matches "part-1/a.md" and
// "part-1.md", not "part-10/a.md"); an empty prefix matches everything.
bool path_matches_prefix(std::string_view document_path, std::string_view prefix) noexcept;

}  // namespace bookmcp::rag
