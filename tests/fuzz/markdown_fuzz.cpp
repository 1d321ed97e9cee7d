// A book page (Markdown or MDX, with or without front matter) through the parser and the
// chunker, as the indexer reads every file of a book root.
//
// Invariants beyond "no crash, no leak, no undefined behaviour":
//   - parse_markdown either answers or throws parse_error (malformed front matter), nothing else;
//   - the MDX rewrite keeps the line count, so that heading lines are lines of the file;
//   - every heading's line is a line of the page;
//   - chunks come in reading order (positions 0, 1, ...), each with text, an id, the document's
//     path and a heading path that starts with the document's title.

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>

#include "rag/chunker.hpp"
#include "rag/markdown_parser.hpp"

namespace {

[[noreturn]] void broken(const char* what, const std::string& page) {
  std::fprintf(stderr, "invariant broken: %s\npage: %.2000s\n", what, page.c_str());
  std::abort();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace bookmcp::rag;
  const std::string page(reinterpret_cast<const char*>(data), size);
  const auto lines = std::count(page.begin(), page.end(), '\n');

  const std::string rewritten = prepare_mdx_for_markdown(page);
  if (std::count(rewritten.begin(), rewritten.end(), '\n') != lines)
    broken("the MDX rewrite changed the line count", page);

  parsed_document document;
  try {
    document = parse_markdown(page, "fallback");
  } catch (const parse_error&) {
    return 0;  // malformed front matter: Docusaurus refuses it too
  }
  if (document.title.empty()) broken("a document without a title", page);
  for (const auto& block : document.blocks) {
    if (block.kind == block_kind::heading && (block.line < -1 || block.line > lines))
      broken("a heading on a line the page does not have", page);
  }

  const auto chunks = chunk_document(document, "docs/page.md", "/docs/page");
  for (std::size_t i = 0; i < chunks.size(); ++i) {
    const auto& chunk = chunks[i];
    if (chunk.position != static_cast<int>(i)) broken("chunks out of order", page);
    if (chunk.text.empty()) broken("an empty chunk", page);
    if (chunk.id.empty()) broken("a chunk without an id", page);
    if (chunk.document_path != "docs/page.md") broken("a chunk of another document", page);
    if (chunk.heading_path.empty() || chunk.heading_path.front() != document.title)
      broken("a heading path that does not start with the title", page);
  }
  return 0;
}
