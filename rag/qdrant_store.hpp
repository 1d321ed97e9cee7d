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
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
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

// Qdrant's answers as the store reads them: pure, exposed for the tests and the fuzz harness.
// Each read_qdrant_* takes the body of a 200 answer, {"result": ..., "status": "ok", "time": ...},
// and throws vector_store_error, naming `call` ("POST /collections/bookmcp/points/query"), for a
// body that is not JSON, has no result, or whose result is not of the shape Qdrant documents;
// never another exception.

// Any write (create, index, upsert, delete): only the envelope is checked.
void read_qdrant_write_answer(std::string_view body, std::string_view call);

// points/query: the points that carry a string payload chunk_id, in Qdrant's order (others
// are skipped), each with its score (0 when absent; a score is a number a float holds).
std::vector<dense_hit> read_qdrant_query_answer(std::string_view body, std::string_view call);

// points/scroll: each point's chunk_id and content_hash (16 hex digits; 0 when unreadable),
// and where the next page starts: a point id (an unsigned integer or a string) as JSON text,
// none on the last page.
struct qdrant_scroll_page {
  std::vector<std::pair<std::string, std::uint64_t>> chunks;
  std::optional<std::string> next_offset;
};
qdrant_scroll_page read_qdrant_scroll_answer(std::string_view body, std::string_view call);

// points/count: the count (an unsigned integer; 0 when absent).
std::size_t read_qdrant_count_answer(std::string_view body, std::string_view call);

// collections/NAME/exists: whether it exists (false when absent).
bool read_qdrant_exists_answer(std::string_view body, std::string_view call);

// collections/NAME: whether it has bookmcp's named vectors, the dense one's size (1 to 65536)
// and the model fingerprint in its metadata ("" when none).
struct qdrant_collection_info {
  bool has_dense = false;   // a dense vector named "dense"
  bool has_sparse = false;  // a sparse vector named "bm25"
  std::size_t dimensions = 0;
  std::string fingerprint;
};
qdrant_collection_info read_qdrant_collection_answer(std::string_view body, std::string_view call);

// What an error answer says ({"status":{"error":"..."}} or plain text, as a 401 is): at most
// 300 bytes and an ellipsis, valid UTF-8, no control characters, never empty.
std::string qdrant_error_message(std::string_view body);

}  // namespace bookmcp::rag
