#include "tools/book/book_tools.hpp"

#include <set>
#include <stdexcept>

#include "tools/book/book_uri.hpp"
#include "tools/book/search_tools.hpp"

namespace bookmcp::tools {

void register_book_tools(mcp::server& server, rag::indexer& indexer, rag::lexical_index& index,
                         book_tool_options options) {
  if (!options.runner) throw std::invalid_argument("register_book_tools needs an index_runner");
  auto searcher =
      options.searcher ? options.searcher : std::make_shared<rag::book_searcher>(index, nullptr);
  // Every handler holds the searcher as well as the caller's owner.
  auto owner =
      std::make_shared<std::pair<std::shared_ptr<const void>, std::shared_ptr<rag::book_searcher>>>(
          options.owner, searcher);
  register_search_tools(server, indexer, *searcher, owner,
                        [runner = options.runner] { return runner->running(); });
  options.index.owner = options.owner;
  register_index_tools(server, options.runner, options.index);
  // The server outlives its registered handlers' callers and the runner's runs (the owner stops
  // background runs before the server goes away), so a plain reference is enough here.
  options.runner->add_listener([&server](const index_run_record& run) {
    if (run.set_changed()) server.notify_resource_list_changed();
    if (run.changed_documents.empty()) return;
    server.notify_resource_updated(std::string(book_toc_uri));
    std::set<std::string> seen;
    for (const auto& path : run.changed_documents) {
      if (seen.insert(path).second) server.notify_resource_updated(document_uri(path));
    }
  });
}

}  // namespace bookmcp::tools
