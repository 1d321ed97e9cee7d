#pragma once
// BM25 as sparse vectors, for a vector database that scores sparse dot products and applies
// IDF itself (Qdrant's `idf` modifier): a chunk's vector holds, per term, the saturated,
// length-normalised term frequency of BM25F over its title, headings and text, the same
// formula and weights as rag::lexical_index; a query's vector holds 1.0 per distinct term. The
// database multiplies each query weight by ln(1 + (N - df + 0.5) / (df + 0.5)), which is the
// lexical index's IDF, so the two rank alike; they differ only in the average field lengths,
// which here are fixed (a vector must not change when other chunks do) where the lexical
// index measures them.
//
// Term ids: the 32-bit FNV-1a hash of the folded, stemmed term (collisions merge two terms,
// about one pair in 10^5 for a book's vocabulary of ~10k terms: harmless for ranking).
//
// Thread-safety: the functions are thread-safe (each thread uses its own tokenizer).

#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "store/document_registry.hpp"

namespace bookmcp::rag {

struct sparse_vector {
  std::vector<std::uint32_t> indices;  // ascending, unique
  std::vector<float> values;
  bool empty() const noexcept { return indices.empty(); }
};

// Names the scheme: part of the fingerprint of vectors made with it.
inline constexpr std::string_view sparse_scheme = "bm25f-fnv32-v1";

sparse_vector sparse_document_vector(const store::stored_chunk& chunk);
sparse_vector sparse_query_vector(std::string_view query);

}  // namespace bookmcp::rag
