#pragma once
// One indexing run at a time over a rag::indexer, shared by the index tools, background
// re-indexing and the `bookmcp index` command, with a record of the last run.
//
// Why not just the indexer's own lock: a caller waiting for another run must be cancellable
// (notifications/cancelled, shutdown), and whoever watches the set of documents (the server's
// resource list) must hear about every run, whoever started it.
//
// Thread-safety: every method may be called from any thread. Listeners run on the thread that
// ran the indexing, after the run, outside the runner's lock; they must not start a run.

#include <condition_variable>
#include <cstdint>
#include <functional>
#include <mutex>
#include <optional>
#include <stop_token>
#include <string>
#include <vector>

#include "rag/indexer.hpp"
#include "store/document_registry.hpp"

namespace bookmcp::tools {

// What one finished run did.
struct index_run_record {
  std::string trigger;                 // "tool", "startup", "interval", "command", "remove"
  std::vector<std::string> requested;  // the paths asked for; empty: every root
  std::int64_t started_unix_ms = 0;
  std::int64_t finished_unix_ms = 0;
  rag::index_summary summary;
  // Documents whose content changed (added, updated or removed), relative to their root.
  std::vector<std::string> changed_documents;
  // True when documents appeared or disappeared (the set of documents changed).
  bool set_changed() const { return summary.added > 0 || summary.removed > 0; }
};

class index_runner {
 public:
  using listener = std::function<void(const index_run_record&)>;

  // `indexer` and `registry` (the one the indexer writes to) must outlive the runner.
  index_runner(rag::indexer& indexer, store::document_registry& registry);

  // Called after every run that finished (cancelled runs included), in registration order.
  void add_listener(listener on_run);

  // Indexes each of `paths` in turn (every root when empty). Every path is resolved before
  // anything runs: rag::request_error (path outside the roots, missing) is thrown with nothing
  // done. Then waits for any other run; returns nullopt when `stop` fires while waiting.
  // `progress` gets the indexer's per-file reports with `completed`/`total` counted over all
  // paths of this call. Per-file failures are in the summary; store::store_error propagates.
  std::optional<index_run_record> index(const std::vector<std::string>& paths, std::string trigger,
                                        const rag::progress_callback& progress = {},
                                        std::stop_token stop = {});

  // Removes one document from the index (see rag::indexer::remove_document). nullopt when
  // `stop` fired while waiting for another run; otherwise whether it was indexed.
  std::optional<bool> remove(std::string_view path, std::stop_token stop = {});

  // The last finished indexing run of this process (removals excluded), if any.
  std::optional<index_run_record> last_run() const;
  // True while a run (or removal) is in progress, or announced and not yet started.
  bool running() const;
  // Announces a run that is about to start (the server's startup indexing, on its own thread):
  // running() is true from now on, so that nobody takes the still empty index for the book.
  void announce_run();

  // Documents whose last indexing attempt failed, with the recorded message (from the
  // registry, so they outlive restarts), ordered by (root, path).
  std::vector<rag::file_error> failed_documents() const;

  rag::indexer& indexer() noexcept { return indexer_; }

 private:
  bool acquire(std::stop_token stop);
  void release(const index_run_record* finished);

  rag::indexer& indexer_;
  store::document_registry& registry_;
  mutable std::mutex mutex_;
  std::condition_variable_any idle_;
  bool busy_ = false;
  bool announced_ = false;  // announce_run() until the next run starts
  std::optional<index_run_record> last_run_;
  std::vector<listener> listeners_;
};

std::int64_t unix_ms_now();

}  // namespace bookmcp::tools
