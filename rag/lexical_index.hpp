#pragma once
// The in-process lexical (BM25F) index over book chunks.
//
// Scoring: BM25F over three fields of a chunk — the document title, its heading path (without
// the title) and its text. For a query term t and chunk d:
//     tf'(t,d)  = sum over fields f of  weight_f * tf_f(t,d) / (1 - b_f + b_f * len_f(d) /
//     avglen_f) score     = sum over distinct query terms of  idf(t) * tf' * (k1 + 1) / (k1 + tf')
//     idf(t)    = ln(1 + (N - n_t + 0.5) / (n_t + 0.5))   (N chunks, n_t chunks containing t)
// Query and chunk text go through rag::tokenizer (folding, stop words, stemming).
//
// Concurrency: readers take an immutable snapshot (`snapshot()`, an atomic shared_ptr load)
// and search it without locks; writers stage changes (replace/remove a document) and
// `publish()` builds a new snapshot and swaps it in atomically. Readers never wait for
// writers, and always see one consistent generation. Writer methods serialise on an internal
// mutex and may be called from any thread; index_snapshot methods are const and thread-safe.
//
// Persistence: `save()` writes the published state to a file atomically (temporary file,
// fsync, rename, fsync of the folder), tagged with the registry generation; `load()` accepts
// it only when the generation (and parameters, format version and checksum) match, so a
// caller falls back to rebuilding from the document registry otherwise.

#include <array>
#include <atomic>
#include <cstdint>
#include <filesystem>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "store/document_registry.hpp"

namespace bookmcp::rag {

struct bm25_parameters {
  float k1 = 1.2f;
  float b = 0.75f;         // length normalisation of the text field
  float title_b = 0.3f;    // and of the short fields: titles and headings vary little in length,
  float heading_b = 0.3f;  // so a full b would mostly punish the informative longer ones
  float title_weight = 2.0f;
  float heading_weight = 3.0f;
  float body_weight = 1.0f;

  bool operator==(const bm25_parameters&) const = default;
};

struct search_request {
  std::string query;
  std::size_t limit = 10;
  // Only chunks whose document path is this path, or lies under this folder ("part-1" matches
  // "part-1/a.md" and "part-1.md", not "part-10/a.md"). Empty: everything.
  std::string path_prefix;
  std::size_t snippet_bytes = 220;  // approximate snippet length; 0: no snippets
};

struct search_hit {
  double score = 0;
  std::string chunk_id;
  std::string document_path;
  std::string title;
  std::vector<std::string> heading_path;  // title first
  std::string anchor;
  std::string url;  // with "#anchor" when the chunk is in a section
  // Whitespace-collapsed excerpt around the densest cluster of query terms, matched words
  // wrapped in "**"; "…" marks a cut.
  std::string snippet;
};

struct indexed_chunk;  // a chunk with its field lengths and term frequencies (lexical_index.cpp)

// One immutable generation of the index. Shared by readers through shared_ptr.
class index_snapshot {
 public:
  // Top `limit` chunks by descending score (ties: document path, then position). A query
  // with no indexable term, or a limit of 0, gives no hits. Thread-safe; allocates only the
  // hits (per-thread scratch buffers are reused across calls).
  std::vector<search_hit> search(const search_request& request) const;

  std::int64_t generation() const noexcept { return generation_; }
  std::size_t chunk_count() const noexcept { return chunks_.size(); }
  std::size_t document_count() const noexcept { return documents_.size(); }
  std::size_t term_count() const noexcept { return idf_.size(); }
  const bm25_parameters& parameters() const noexcept { return parameters_; }

  // The chunk with this id, or nullptr.
  const store::stored_chunk* find_chunk(std::string_view chunk_id) const;

  // The position (for chunk() and describe()) of the chunk with this id, if this generation
  // has it.
  std::optional<std::size_t> position_of(std::string_view chunk_id) const;

  // The i-th chunk (i < chunk_count()), in (document path, position) order.
  const store::stored_chunk& chunk(std::size_t i) const noexcept;

  // The hit for chunk `i`, its snippet cut around `query`'s terms as search() cuts it: for
  // chunks found another way (dense retrieval). `score` is left 0.
  search_hit describe(std::size_t i, std::string_view query, std::size_t snippet_bytes) const;

 private:
  friend class lexical_index;
  std::int64_t generation_ = 0;
  bm25_parameters parameters_;
  // Chunks in (document path, position) order; a chunk's index is its doc id in postings.
  std::vector<std::shared_ptr<const indexed_chunk>> chunks_;
  std::vector<std::uint32_t> chunk_document_;  // chunk -> index into documents_
  std::vector<std::string> documents_;         // sorted document paths
  // chunk id (a view of the chunk's own id) -> position; built by publish().
  std::unordered_map<std::string_view, std::uint32_t> chunk_positions_;
  std::unordered_map<std::string, std::uint32_t> term_index_;
  std::vector<float> idf_;                      // per term
  std::vector<std::uint32_t> posting_offsets_;  // per term + 1, into the two arrays below
  std::vector<std::uint32_t> posting_chunks_;   // sorted chunk ids per term
  std::vector<float> posting_weights_;          // saturated tf' * (k1 + 1) / (k1 + tf')
};

class lexical_index {
 public:
  explicit lexical_index(bm25_parameters parameters = {});
  ~lexical_index();
  lexical_index(const lexical_index&) = delete;
  lexical_index& operator=(const lexical_index&) = delete;

  // The current snapshot (never null; empty with generation 0 before the first publish).
  std::shared_ptr<const index_snapshot> snapshot() const;

  // Shorthand for snapshot()->search(request).
  std::vector<search_hit> search(const search_request& request) const;

  // Stages the replacement of every chunk of `document_path` by `chunks` (which must all have
  // that document path; an empty vector removes the document). Not visible until publish().
  void replace_document(std::string_view document_path,
                        const std::vector<store::stored_chunk>& chunks);

  // Stages the removal of a document. Unknown paths are ignored.
  void remove_document(std::string_view document_path);

  // Whether the staged content is exactly these documents with these chunk ids each (in
  // position order; documents without chunks are absent). How an indexer notices that another
  // process changed the shared registry under it.
  bool holds_exactly(
      const std::map<std::string, std::vector<std::string>, std::less<>>& documents) const;

  // Builds a snapshot from everything staged so far and makes it current, tagged with
  // `generation` (the document registry generation it reflects). Cost: O(total postings).
  void publish(std::int64_t generation);

  // Replaces the whole content by `chunks` (e.g. registry.all_chunks()) and publishes.
  void rebuild(const std::vector<store::stored_chunk>& chunks, std::int64_t generation);

  // Writes the published state to `file` atomically. Throws std::logic_error when changes are
  // staged but not published, std::runtime_error on I/O failure (the old file is untouched).
  void save(const std::filesystem::path& file) const;

  // Loads `file` and publishes it when it is intact, was written with the same parameters and
  // format, and its generation equals `expected_generation`. Returns false otherwise (missing,
  // stale, corrupt), leaving the index unchanged. Throws nothing for a bad file.
  bool load(const std::filesystem::path& file, std::int64_t expected_generation);

 private:
  std::shared_ptr<const indexed_chunk> make_indexed_chunk(const store::stored_chunk& chunk);

  const bm25_parameters parameters_;
  std::atomic<std::shared_ptr<const index_snapshot>> current_;

  mutable std::mutex writer_mutex_;  // guards everything below
  std::unordered_map<std::string, std::uint32_t> term_ids_;
  std::vector<std::string> terms_;
  std::vector<std::array<std::uint16_t, 3>> term_counts_;  // scratch for make_indexed_chunk
  std::map<std::string, std::vector<std::shared_ptr<const indexed_chunk>>, std::less<>> documents_;
  bool staged_changes_ = false;
};

}  // namespace bookmcp::rag
