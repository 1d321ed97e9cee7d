#pragma once
// The book's vectors in Qdrant (the server profile), over its REST API.
//
// One collection (default "bookmcp") with a named dense vector "dense" (Cosine) and a named
// sparse vector "bm25" carrying BM25 weights with Qdrant's `idf` modifier, so that lexical
// search runs in Qdrant too and every replica shares it. Each point is one chunk: its id is a
// UUIDv5 of the chunk id (Qdrant takes only integers and UUIDs), its payload the readable chunk
// id, the document path, every prefix a path_prefix filter may name (`path_prefixes`, keyword
// indexed, as is `doc_path`) and the hash of the embedded text. The collection's metadata holds
// the model fingerprint, checked at start. Upserts go in bounded batches with `wait=true`;
// stale chunks are deleted by id; requests are retried (429 with Retry-After, 502/503/504,
// transport failures) with backoff, which is safe because every write is idempotent (fixed
// ids, whole-point replacement). Searches have a short deadline and no retry: a search falls
// back to the local BM25 index rather than wait.
//
// Errors: vector_store_error with a user-safe message (it never contains the API key).

#include <chrono>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "rag/vector_store.hpp"

namespace bookmcp::rag {

struct qdrant_options {
  std::string url;  // http(s)://host:6333
  std::string api_key;
  std::string collection = "bookmcp";
  std::size_t upsert_batch = 64;  // points per upsert request (1536 floats each: ~1 MB of JSON)
  std::chrono::milliseconds timeout{30'000};        // writes and reads while indexing
  std::chrono::milliseconds search_timeout{3'000};  // queries
  int max_retries = 5;
  std::chrono::milliseconds backoff_base{200};
  std::chrono::milliseconds backoff_max{10'000};
  std::string ca_file;  // trusted CAs for https (empty: the system's)
};

// Never contacts Qdrant here: the first use does (so a server starts while Qdrant is down).
// Throws http_error(bad_url) for an unusable URL, std::invalid_argument for a bad collection.
std::unique_ptr<vector_store> make_qdrant_vector_store(qdrant_options options);

// The point id of a chunk: a UUIDv5 (SHA-1, RFC 4122) of "bookmcp:" + chunk id in the URL
// namespace, lower case and hyphenated.
std::string qdrant_point_id(std::string_view chunk_id);

// What a path_prefix filter may name for `document_path`: the path, and each of its prefixes
// that ends before a '/' or a '.' ("a/b.md" gives "a", "a/b", "a/b.md"), as path_matches_prefix.
std::vector<std::string> path_prefixes(std::string_view document_path);

}  // namespace bookmcp::rag
