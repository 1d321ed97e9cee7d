#pragma once
// The book tool groups in one call: search_book + book://toc + book://doc/{+path} (book/) and
// index_documents + index_status + remove_document (index/), plus the resource notifications
// that follow indexing (resources/list_changed when documents appear or disappear,
// resources/updated for the pages that changed and for book://toc).

#include <memory>

#include "mcp/server.hpp"
#include "rag/hybrid_search.hpp"
#include "rag/indexer.hpp"
#include "rag/lexical_index.hpp"
#include "tools/index/index_runner.hpp"
#include "tools/index/index_tools.hpp"

namespace bookmcp::tools {

struct book_tool_options {
  // Required: serialises runs of `indexer`; share it with background indexing so that every
  // run is announced the same way.
  std::shared_ptr<index_runner> runner;
  index_tool_options index;
  // Optional: the searcher search_book uses (hybrid when it has dense retrieval). Null: a
  // lexical-only searcher over `index`.
  std::shared_ptr<rag::book_searcher> searcher;
  // Optional: held by every handler, for owners whose calls may outlive them (shutdown).
  std::shared_ptr<const void> owner;
};

// `indexer` and `index` (and the runner's registry) must outlive the server's calls: keep them
// alive as long as `server`. Throws std::invalid_argument when options.runner is null.
void register_book_tools(mcp::server& server, rag::indexer& indexer, rag::lexical_index& index,
                         book_tool_options options);

}  // namespace bookmcp::tools
