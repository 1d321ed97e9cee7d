#pragma once
// The reading side of the book as MCP offers it:
//   search_book           lexical (BM25), dense or hybrid search with citations (title,
//                         heading path, URL with anchor, snippet) and a resource_link per hit;
//                         degraded to lexical (and saying so) when dense retrieval fails;
//   book://toc            the table of contents in sidebar order (Markdown with links);
//   book://doc/{+path}    a whole document, or with "#anchor" one section (Markdown).
//
// Thread-safety: the handlers only read (the index's current snapshot, files on disk, the
// registry), so they run concurrently with each other and with indexing runs.

#include <functional>

#include "mcp/server.hpp"
#include "rag/hybrid_search.hpp"
#include "rag/indexer.hpp"

namespace bookmcp::tools {

// Registers search_book, book://toc and book://doc/{+path}. `indexer` and `searcher` must outlive
// every call the server may still run: keep them alive as long as the server, or own them
// through `owner`, which every handler holds. `indexing` (optional) tells whether an indexing
// run is in progress: a search of a still empty index then says so (a tool error) instead of
// "no section matches".
void register_search_tools(mcp::server& server, rag::indexer& indexer, rag::book_searcher& searcher,
                           std::shared_ptr<const void> owner = {},
                           std::function<bool()> indexing = {});

// Markdown rendering of a table of contents, linking each document to its book://doc URI.
std::string render_table_of_contents(const std::vector<rag::toc_entry>& entries);

}  // namespace bookmcp::tools
