#pragma once
// Cutting a parsed document into retrieval chunks that know where they sit in the book.
//
// Rules (sizes are bytes of UTF-8 chunk text, roughly characters for English prose; about four
// per token):
//   - every chunk belongs to one heading path "Document title > Section > Subsection" and
//     carries that section's anchor (empty for text before the first section heading; a
//     leading level-1 heading is the document title, not a section);
//   - a section whose text is shorter than `min_chars` is merged with the next section that
//     is its sibling or its descendant when the result stays within `target_chars`; the
//     merged chunk contains the later headings as text lines and cites the first section when
//     it only took in descendants, or else their parent section (whose text holds them all),
//     with the first section's heading as a text line too (and then takes in no further
//     siblings, only descendants of that parent);
//   - a long section is cut at block boundaries (paragraph, list item, table, code fence)
//     aiming at `target_chars`; a code fence may make a chunk grow up to `max_chars` and is
//     split (at line boundaries, each piece re-fenced) only when it alone exceeds `max_chars`;
//     prose longer than `max_chars` is cut at sentence, then word boundaries;
//   - a section's last piece shorter than `min_chars` joins the previous piece when they fit
//     in `max_chars`;
//   - the front matter description and keywords are part of the document's first chunk.
// Chunk ids hash (document path, heading path, anchor, ordinal of the chunk within its
// section), so re-chunking an unchanged file yields the same ids and editing one section does
// not rename the chunks of the others.
//
// Thread-safety: pure functions.

#include <string>
#include <string_view>
#include <vector>

#include "rag/markdown_parser.hpp"
#include "store/document_registry.hpp"

namespace bookmcp::rag {

// Bump whenever chunk boundaries, text or ids change for the same input: the indexer
// re-chunks every document whose registry record has another version.
inline constexpr int chunker_version = 2;

struct chunker_options {
  std::size_t target_chars = 1200;
  std::size_t max_chars = 2000;
  std::size_t min_chars = 250;
};

// Chunks of one document, in reading order (`position` 0, 1, ...). `document_path` is the
// path relative to the docs root ('/'-separated), `document_url` the page URL without anchor.
// A document without any text gives no chunks.
std::vector<store::stored_chunk> chunk_document(const parsed_document& document,
                                                std::string_view document_path,
                                                std::string_view document_url,
                                                const chunker_options& options = {});

// The front matter a reader of the page is told about: the description, then a line
// "Keywords: a, b". The first chunk of a page starts with it (so that searches find them), and
// reading the whole page shows it first (so that a hit on them quotes what its citation holds).
std::string front_matter_summary(const front_matter& meta);

// The stable id of a chunk: 16 hex digits of a 64-bit hash of its arguments.
std::string make_chunk_id(std::string_view document_path,
                          const std::vector<std::string>& heading_path, std::string_view anchor,
                          int ordinal_in_section);

}  // namespace bookmcp::rag
