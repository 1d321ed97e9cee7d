#pragma once
// The book behind the MCP server: the lexical index of the configured --docs roots, the book
// tools and resources, and (re-)indexing in the background while the server answers searches
// from the last published snapshot. Also `bookmcp index DIR`.
//
// Lifetime and order (composition root): open the database, create the mcp::server, then the
// book_service; destroy in reverse. The destructor stops background indexing (cancels the run
// between two files and joins) before the server goes; the tools' state is shared with the
// server's handlers, so a call still in flight at shutdown never sees it destroyed.

#include <memory>
#include <thread>

#include "app/config.hpp"
#include "mcp/server.hpp"
#include "store/document_registry.hpp"
#include "transport/http_server.hpp"

namespace bookmcp::app {

class book_service {
 public:
  // Opens the index of the configured --docs roots, backed by `registry` (which must outlive
  // the service and the server): loads the snapshot in settings.data_dir when it matches the
  // registry, rebuilds it from the registry otherwise. Records of roots that are no longer
  // registered are dropped first (when at least one --docs root is given). Throws
  // rag::request_error when a root is not an existing folder, store::store_error when the
  // registry fails.
  book_service(const config& settings, store::document_registry& registry);
  ~book_service();
  book_service(const book_service&) = delete;
  book_service& operator=(const book_service&) = delete;

  // Registers search_book, index_documents, index_status, remove_document, book://toc and
  // book://doc/{+path}. `server` must outlive this service.
  void register_with(mcp::server& server);

  // /readyz checks of the book's outside dependencies (the embeddings endpoint, optional:
  // search degrades to words without it). Empty without embeddings.
  std::vector<transport::dependency_check> readiness() const;

  // Indexes the --docs roots now on a background thread, then every reindex_interval (when not
  // zero). Searches keep working meanwhile. Runs are announced through the server's resource
  // notifications (set up by register_with). Call at most once.
  void start_background_indexing(mcp::server& server);

  struct state;

 private:
  std::shared_ptr<state> state_;
  std::jthread background_;
};

// `bookmcp index DIR [--data-dir D]` (and `bookmcp reindex [--embeddings]`, which re-indexes
// the roots given with --docs or else those the data directory holds, after forgetting every
// vector with --embeddings): indexes DIR (registered as a root, like --docs) with the
// same pipeline as index_documents. Progress on stderr: a bar on a terminal, one line per file
// otherwise; a summary on stdout. SIGINT/SIGTERM stop it between files (the index stays
// consistent). Returns 0, 1 when some files failed, 2 for a bad setup, 130 when interrupted.
int run_index_command(const config& settings);

}  // namespace bookmcp::app
