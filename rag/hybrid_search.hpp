#pragma once
// Searching the book by words (BM25), by meaning (dense vectors), or both fused with
// reciprocal rank fusion, with the lexical index as the fallback when dense retrieval cannot
// answer (no embeddings endpoint reachable, nothing embedded yet).
//
// Fusion is Qdrant's, so that the embedded profile and a Qdrant-backed one rank alike:
// score(d) = sum over the lists that hold d of 1 / (rank + k), with 0-based ranks and k = 2.
//
// Threads: search() may run on any number of threads at once, alongside indexing runs.

#include <cstddef>
#include <memory>
#include <optional>
#include <stop_token>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "rag/dense_retrieval.hpp"
#include "rag/lexical_index.hpp"

namespace bookmcp::rag {

enum class retrieval_mode { automatic, lexical, dense, hybrid };
std::optional<retrieval_mode> parse_retrieval_mode(std::string_view text) noexcept;
std::string_view to_string(retrieval_mode mode) noexcept;

struct fused_entry {
  std::size_t list = 0;      // the first list that held it
  std::size_t position = 0;  // its position in that list
  double score = 0;
  std::vector<int> ranks;  // per list, 0-based, -1 when absent
};
// Fuses ranked lists of ids (best first; an id at most once per list). Best first; ties by
// the best rank in any list, then by the first list's order.
std::vector<std::pair<std::string, fused_entry>> reciprocal_rank_fusion(
    const std::vector<std::vector<std::string>>& lists, double k = 2.0);

struct ranked_hit {
  search_hit hit;         // score: the fused score in hybrid mode, else the signal's own
  int lexical_rank = -1;  // 0-based rank in the BM25 list, -1 when not in it
  int dense_rank = -1;    // 0-based rank in the dense list
  double lexical_score = 0;
  double dense_score = 0;  // cosine similarity
};

struct book_search_result {
  std::vector<ranked_hit> hits;
  retrieval_mode mode = retrieval_mode::lexical;  // what answered (automatic resolved)
  bool lexical = false;                           // the BM25 index answered
  bool dense = false;                             // the vector index answered
  bool degraded = false;                          // dense retrieval was wanted and could not answer
  std::string degraded_reason;
  std::shared_ptr<const index_snapshot> snapshot;  // the lexical generation searched
};

class book_searcher {
 public:
  // `dense` may be null (no embeddings configured). Both must outlive the searcher.
  book_searcher(const lexical_index& lexical, dense_retriever* dense);

  // Throws request_error-like std::invalid_argument when `mode` needs embeddings and none are
  // configured.
  book_search_result search(const search_request& request, retrieval_mode mode,
                            std::stop_token stop = {});

  bool has_dense() const noexcept { return dense_ != nullptr; }

 private:
  // Where the store ranks by itself (Qdrant).
  book_search_result search_remote(const search_request& request, retrieval_mode mode,
                                   std::stop_token stop, book_search_result& result);

  const lexical_index& lexical_;
  dense_retriever* dense_;
};

}  // namespace bookmcp::rag
