#pragma once
// Xapian as a side-by-side peer of rag::lexical_index in bookmcp_rag_bench: the same chunks,
// indexed and searched the way a Xapian user would set it up for a book.
//
//   - backend: Xapian's in-memory one (`DB_BACKEND_INMEMORY`, the non-deprecated spelling of
//     `Xapian::InMemory::open()`), or glass in a temporary folder (`backend::glass`, committed
//     once and searched through a read-only Database, as a server would), for comparison;
//   - indexing: a TermGenerator with the English stemmer (STEM_SOME) and our stop words; the
//     fields weighted as ours (title, headings, text) through wdf increments 2 / 3 / 1 into one
//     term space, so a free-text query matches all of them; positions are kept (phrase queries
//     for hyphenated words need them);
//   - query: QueryParser with the same stemmer, STEM_SOME, the same stop words, default op OR
//     and its default flags (a reader question as typed); BM25Weight with our k1 and b;
//   - results: `limit` hits, each with its document path (from the document data, which holds
//     the path and the text as a user's application would) and a snippet from
//     `MSet::snippet(text, snippet_bytes, stemmer, flags, "**", "**", "…")`, by default with its
//     default flags (SNIPPET_BACKGROUND_MODEL | SNIPPET_EXHAUSTIVE).
//
// Heavy Xapian headers stay in xapian_peer.cpp. Not thread-safe: one object per thread.

#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "store/document_registry.hpp"

namespace bookmcp::bench {

class xapian_peer {
 public:
  enum class backend { in_memory, glass };

  // False when the bench was built without Xapian; constructing a peer then throws.
  static bool available() noexcept;

  // Indexes `chunks` (document ids are 1 + index in `chunks`). For glass, the database is
  // written below `scratch_folder` and removed by the destructor.
  xapian_peer(const std::vector<store::stored_chunk>& chunks, backend kind,
              const std::filesystem::path& scratch_folder = {});
  ~xapian_peer();
  xapian_peer(const xapian_peer&) = delete;
  xapian_peer& operator=(const xapian_peer&) = delete;

  struct hit {
    std::string document_path;
    std::string snippet;
  };

  // How snippets are made: `standard` is MSet::snippet's default flags (what a user gets
  // without choosing: SNIPPET_BACKGROUND_MODEL | SNIPPET_EXHAUSTIVE); `quick` is flags 0 (stop
  // at the first good-enough snippet, no background model); `none` makes no snippet (the
  // document data is still read), to show what snippets cost.
  enum class snippets { standard, quick, none };

  // The top `limit` chunks for a reader question, best first.
  std::vector<hit> search(const std::string& question, unsigned limit,
                          snippets style = snippets::standard, unsigned snippet_bytes = 220) const;

 private:
  struct state;
  std::unique_ptr<state> state_;
};

}  // namespace bookmcp::bench
