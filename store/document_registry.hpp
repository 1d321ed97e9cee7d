#pragma once
// The document registry: which book files are indexed, in what state, and their chunks.
//
// It is the source of truth for the book index. Indexes (the in-process BM25 index, Qdrant)
// are derived from it and can always be rebuilt from it. Implementations: SQLite (embedded
// profile) and Postgres (server profile); both pass the same test suite.
//
// Thread-safety: every method may be called from any thread; implementations serialise
// access internally. Errors: infrastructure failures (database gone, disk full) throw
// store::store_error; "not found" is an empty optional / false, never an exception.

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace bookmcp::store {

// One chunk of one document, as persisted. `id` is stable across runs for the same
// document path, heading path and position.
struct stored_chunk {
  std::string id;
  std::string document_path;        // path relative to its root, '/'-separated
  std::vector<std::string> heading_path;  // e.g. {"Chapter", "Section", "Subsection"}
  std::string anchor;               // Docusaurus heading anchor, empty for the document top
  std::string url;                  // document URL with anchor
  std::string title;                // document title
  std::string text;                 // chunk text (Markdown-stripped, what is indexed)
  int position = 0;                 // order within the document
};

struct document_record {
  std::string root;                 // registered --docs root (absolute, canonical)
  std::string path;                 // relative to root, '/'-separated
  std::string content_hash;         // hex digest of the file bytes
  int chunker_version = 0;
  std::vector<std::string> chunk_ids;
  std::int64_t indexed_at_unix_ms = 0;
  std::string last_error;           // empty when the last attempt succeeded
  std::string title;
  std::string url;
  double sidebar_position = 0;      // for table-of-contents ordering
};

class document_registry {
 public:
  virtual ~document_registry() = default;

  // The record for (root, path), or nullopt when it was never indexed or was removed.
  virtual std::optional<document_record> find(const std::string& root,
                                              const std::string& path) = 0;

  // Every record, ordered by (root, path).
  virtual std::vector<document_record> list() = 0;

  // Atomically replaces the document's record and all of its chunks: after a crash either the
  // old record with the old chunks or the new record with the new chunks is visible, never a
  // mix. Returns the registry generation after the change.
  virtual std::int64_t replace(const document_record& record,
                               const std::vector<stored_chunk>& chunks) = 0;

  // Records a failure for (root, path) without touching its chunks (last_error set).
  virtual void record_failure(const std::string& root, const std::string& path,
                              const std::string& error) = 0;

  // Removes the record and its chunks atomically. Returns false when there was none.
  virtual bool remove(const std::string& root, const std::string& path) = 0;

  // All chunks, ordered by (document_path, position): used to rebuild derived indexes.
  virtual std::vector<stored_chunk> all_chunks() = 0;

  // A number that increases with every successful replace/remove; derived indexes persist it
  // to tell whether their snapshot is current.
  virtual std::int64_t generation() = 0;
};

}  // namespace bookmcp::store
