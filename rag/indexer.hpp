#pragma once
// The indexing pipeline and the read side of the book (table of contents, documents).
//
// An indexer owns nothing but its options: it reads files under the registered roots, keeps
// the document registry (the source of truth) up to date through store::document_registry,
// and mirrors every change into a rag::lexical_index, publishing a new snapshot (and saving
// it to the snapshot file, when one is configured) at the end of every run.
//
// Path safety: every requested path is resolved (relative paths against each root in turn,
// then "..", "." and symlinks) and must lie inside a registered root; otherwise the request
// is refused with request_error and nothing is touched. While walking a folder, a file that
// resolves outside its root (a symlink escaping it) is a per-file error.
//
// Threads: index(), remove_document() and open() serialise on an internal mutex (one run at a
// time); table_of_contents(), read_document() and status() may run concurrently with them and
// with each other. Searches go to the lexical_index directly and never wait for a run.
// store::store_error from the registry propagates (the run stops; the registry stays
// consistent because each document is replaced atomically).

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <limits>
#include <mutex>
#include <optional>
#include <stdexcept>
#include <stop_token>
#include <string>
#include <string_view>
#include <vector>

#include "rag/chunker.hpp"
#include "rag/dense_retrieval.hpp"
#include "rag/lexical_index.hpp"
#include "store/document_registry.hpp"

namespace bookmcp::rag {

// A request the caller should answer with a clear, user-facing error: a path outside the
// registered roots, a missing file, an unknown anchor. what() is safe to show to a client.
class request_error : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// document_record::sidebar_position for a document without a position (sorted last).
inline constexpr double unpositioned = std::numeric_limits<double>::max();

struct indexer_options {
  // Book roots (`--docs`). Must exist; stored canonical (absolute, symlinks resolved).
  std::vector<std::filesystem::path> roots;
  std::string base_url = "/docs/";
  chunker_options chunking;
  std::uintmax_t max_file_bytes = 4 * 1024 * 1024;
  // Where the lexical index snapshot is persisted (e.g. <data-dir>/bm25.index). Empty: never.
  std::filesystem::path snapshot_file;
  // Dense retrieval to keep in step (embeddings configured), or null. Must outlive the indexer.
  dense_retriever* dense = nullptr;
};

enum class file_outcome { added, updated, unchanged, removed, failed };

struct file_error {
  std::string root;
  std::string path;  // relative to root
  std::string message;
};

struct index_progress {
  std::size_t completed = 0;  // files handled so far, this one included
  std::size_t total = 0;      // files found by the walk
  std::string path;           // relative to its root
  file_outcome outcome = file_outcome::unchanged;
  // Set (and the fields above left as they were) while the run embeds chunks, after the files.
  const dense_progress* embedding = nullptr;
};
// Called on the indexing thread after every file; must not call back into the indexer.
using progress_callback = std::function<void(const index_progress&)>;

struct index_summary {
  std::size_t added = 0;
  std::size_t updated = 0;
  std::size_t unchanged = 0;
  std::size_t removed = 0;
  std::size_t failed = 0;
  std::vector<file_error> errors;
  bool cancelled = false;       // stopped early; every file handled so far is consistent
  std::int64_t generation = 0;  // registry generation the published index reflects
  std::chrono::milliseconds elapsed{0};
  // The embedding step, when dense retrieval is configured.
  std::optional<dense_sync_report> dense;

  // Adds a later run's counts and errors; takes its generation, cancellation and embedding
  // step (whose pending count is the latest).
  void accumulate(const index_summary& later) {
    added += later.added;
    updated += later.updated;
    unchanged += later.unchanged;
    removed += later.removed;
    failed += later.failed;
    errors.insert(errors.end(), later.errors.begin(), later.errors.end());
    generation = later.generation;
    cancelled = cancelled || later.cancelled;
    if (later.dense) {
      if (!dense) {
        dense = later.dense;
      } else {
        dense->embedded += later.dense->embedded;
        dense->removed += later.dense->removed;
        dense->requests += later.dense->requests;
        dense->retries += later.dense->retries;
        dense->pending = later.dense->pending;
        dense->cancelled = dense->cancelled || later.dense->cancelled;
        if (!later.dense->error.empty()) dense->error = later.dense->error;
        dense->chunk_errors.insert(dense->chunk_errors.end(), later.dense->chunk_errors.begin(),
                                   later.dense->chunk_errors.end());
      }
    }
  }
};

// A resolved, checked request path.
struct resolved_path {
  std::filesystem::path root;      // the registered root containing it
  std::string relative;            // '/'-separated, "" for the root itself
  std::filesystem::path absolute;  // canonical when it exists, lexically normal otherwise
};

// One entry of the table of contents, in sidebar order.
struct toc_entry {
  std::string label;  // category label (or folder name), or the document title
  std::string path;   // document path relative to its root; a category's index document or ""
  std::string url;    // page URL; a category's index document URL or ""
  bool is_category = false;
  std::vector<toc_entry> children;
};

struct document_heading {
  int level = 0;
  std::string text;
  std::string anchor;
};

struct document_content {
  std::string root;
  std::string path;  // relative to root
  std::string title;
  std::string url;     // with "#anchor" when a section was requested
  std::string anchor;  // the requested section, "" for the whole document
  // Markdown source: the whole file without front matter, or the section from its heading
  // line up to the next heading of the same or a higher level.
  std::string markdown;
  std::vector<document_heading> headings;  // outline of the whole document
};

struct index_status {
  std::vector<std::string> roots;
  std::size_t documents = 0;         // registry records
  std::size_t failed_documents = 0;  // records whose last attempt failed
  std::size_t chunks = 0;            // in the published index
  std::int64_t registry_generation = 0;
  std::int64_t index_generation = 0;
  // Dense retrieval (when configured): vectors stored, chunks waiting for one, the model.
  bool dense_configured = false;
  std::string dense_store;  // "embedded", "qdrant"
  std::size_t dense_vectors = 0;
  std::size_t dense_pending = 0;
  std::string embedding_model;  // the fingerprint
};

class indexer {
 public:
  // Throws request_error when a root does not exist or is not a folder. `registry` and
  // `index` must outlive the indexer.
  indexer(store::document_registry& registry, lexical_index& index, indexer_options options);

  enum class open_result { loaded_snapshot, rebuilt };
  // Startup: loads the snapshot file when its generation equals the registry's, else rebuilds
  // the index from registry.all_chunks() (and saves a fresh snapshot when configured). With
  // dense retrieval, checks the vector store's model (see dense_retriever::open; the message,
  // if any, is in open_message()).
  open_result open();
  const std::optional<std::string>& open_message() const noexcept { return open_message_; }

  // Drops every vector so that the next run embeds the whole book again (bookmcp reindex
  // --embeddings). No-op without dense retrieval.
  void forget_embeddings();

  // Indexes a file or a folder (recursively: .md/.mdx files, skipping hidden, "_"-prefixed
  // and node_modules entries). Unchanged files (same content hash and chunker version) are
  // skipped; registry entries for files under a walked folder that no longer exist are
  // removed; a requested file that no longer exists is removed. Per-file failures (not UTF-8,
  // larger than max_file_bytes, unreadable, malformed front matter, outside the root) are
  // recorded in the summary and in the registry without stopping the run. `stop` is checked
  // between files. Throws request_error when the path is outside every root or missing.
  index_summary index(std::string_view requested_path, const progress_callback& progress = {},
                      std::stop_token stop = {});

  // index() over every root in turn.
  index_summary index_all(const progress_callback& progress = {}, std::stop_token stop = {});

  // Removes one document (which may no longer exist on disk) from the registry and the index.
  // Returns false when it was not indexed. Throws request_error outside the roots.
  bool remove_document(std::string_view requested_path);

  // Resolves a request path as described above. Paths that do not exist are resolved
  // lexically (still refused when they escape a root). Throws request_error when refused.
  resolved_path resolve(std::string_view requested_path) const;

  // Documents of every root in sidebar order, nested by folder (one top-level category per
  // root when several roots are registered). Built from the registry plus `_category_` files.
  std::vector<toc_entry> table_of_contents() const;

  // Reads a document (or one section of it, by anchor) from disk. Throws request_error when the
  // path is refused, missing, not Markdown, too large, not UTF-8, or the anchor is unknown.
  document_content read_document(std::string_view requested_path,
                                 std::string_view anchor = {}) const;

  index_status status() const;

  const std::vector<std::filesystem::path>& roots() const noexcept { return options_.roots; }

 private:
  file_outcome index_file(const std::filesystem::path& root, const std::string& relative,
                          const std::filesystem::path& absolute, index_summary& summary);
  void finish_run(index_summary& summary, std::stop_token stop = {},
                  const progress_callback& progress = {});

  store::document_registry& registry_;
  lexical_index& index_;
  indexer_options options_;
  std::mutex run_mutex_;
  std::optional<std::string> open_message_;
};

std::string_view to_string(file_outcome outcome) noexcept;

}  // namespace bookmcp::rag
