#pragma once
// The writing side of the book index as MCP tools:
//   index_documents   index a registered root, or files/folders under it (incremental;
//                     progress per file; cancellable between files; per-file errors);
//   index_status      documents, chunks, last run, last errors, index size on disk;
//   remove_document   drop one document from the index.
// Paths outside the registered --docs roots (through "..", symlinks or absolute paths
// elsewhere) are refused with an isError result and nothing is touched.

#include <filesystem>
#include <memory>
#include <vector>

#include "mcp/server.hpp"
#include "tools/index/index_runner.hpp"

namespace bookmcp::tools {

struct index_tool_options {
  // Files whose sizes make up "index size on disk" (the lexical index snapshot, the SQLite
  // database and its -wal/-shm). Missing files count as 0.
  std::filesystem::path snapshot_file;
  std::vector<std::filesystem::path> database_files;
  std::chrono::milliseconds index_timeout = std::chrono::minutes(30);
  // Optional: held by every handler (see book_tool_options::owner).
  std::shared_ptr<const void> owner;
};

// Registers the three tools. `runner` (and its indexer) is shared with whoever else indexes.
void register_index_tools(mcp::server& server, std::shared_ptr<index_runner> runner,
                          index_tool_options options);

}  // namespace bookmcp::tools
