#include "app/book_service.hpp"

#include <pthread.h>
#include <signal.h>
#include <spdlog/spdlog.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <filesystem>
#include <iostream>
#include <mutex>
#include <set>

#include "rag/dense_retrieval.hpp"
#include "rag/embedder.hpp"
#include "rag/hybrid_search.hpp"
#include "rag/indexer.hpp"
#include "rag/lexical_index.hpp"
#include "rag/qdrant_store.hpp"
#include "rag/vector_store.hpp"
#include "store/database.hpp"
#include "store/errors.hpp"
#include "tools/book/book_tools.hpp"

namespace bookmcp::app {

namespace fs = std::filesystem;

namespace {

constexpr const char* snapshot_name = "bm25.index";
constexpr const char* dense_index_name = "dense.index";
constexpr const char* sqlite_file_name = "bookmcp.sqlite3";  // store::sqlite_options default

rag::indexer_options indexer_options_for(const config& settings,
                                         const std::vector<std::string>& roots,
                                         rag::dense_retriever* dense) {
  rag::indexer_options options;
  for (const auto& root : roots) options.roots.emplace_back(root);
  options.base_url = settings.base_url;
  options.snapshot_file = fs::path(settings.data_dir) / snapshot_name;
  options.dense = dense;
  return options;
}

// Dense retrieval when embeddings are configured: one embedder for the book's chunks (long
// deadline, retries), one for search queries (short deadline, one retry: a search would rather
// answer by words than wait), and the embedded vector store in the data directory.
std::unique_ptr<rag::dense_retriever> make_dense_retriever(const config& settings) {
  if (settings.embeddings_url.empty()) return nullptr;
  rag::openai_embedder_options documents;
  documents.base_url = settings.embeddings_url;
  documents.model = settings.embeddings_model;
  documents.dimensions = settings.embeddings_dimensions;
  documents.api_key = settings.embeddings_api_key;
  documents.max_batch_inputs = settings.embeddings_batch_size;
  documents.concurrency = settings.embeddings_concurrency;
  documents.timeout = settings.embeddings_timeout;
  documents.ca_file = settings.embeddings_ca_file;
  rag::openai_embedder_options queries = documents;
  queries.concurrency = 1;
  queries.timeout = settings.embeddings_query_timeout;
  queries.max_retries = 1;
  queries.backoff_base = std::chrono::milliseconds(100);
  queries.backoff_max = std::chrono::milliseconds(300);
  std::unique_ptr<rag::vector_store> store;
  if (settings.qdrant_url.empty()) {
    rag::embedded_vector_options embedded;
    embedded.file = fs::path(settings.data_dir) / dense_index_name;
    store = rag::make_embedded_vector_store(std::move(embedded));
  } else {
    rag::qdrant_options qdrant;
    qdrant.url = settings.qdrant_url;
    qdrant.api_key = settings.qdrant_api_key;
    qdrant.collection = settings.qdrant_collection;
    store = rag::make_qdrant_vector_store(std::move(qdrant));
  }
  auto dense = std::make_unique<rag::dense_retriever>(
      rag::make_openai_embedder(std::move(documents)),
      rag::make_openai_embedder(std::move(queries)), std::move(store));
  if (settings.qdrant_url.empty()) {
    spdlog::info("book: dense retrieval on: {} ({} vectors in the embedded index)",
                 dense->fingerprint(), dense->store().size());
  } else {
    spdlog::info("book: dense and lexical retrieval in Qdrant at {}, collection {}: {}",
                 settings.qdrant_url, settings.qdrant_collection, dense->fingerprint());
  }
  return dense;
}

std::string dense_summary_text(const rag::dense_sync_report& dense) {
  std::string text = std::to_string(dense.embedded) + " chunks embedded, " +
                     std::to_string(dense.removed) + " removed, " + std::to_string(dense.pending) +
                     " pending, " + std::to_string(dense.requests) + " requests, " +
                     std::to_string(dense.retries) + " retries";
  if (!dense.error.empty()) text += "; stopped: " + dense.error;
  return text;
}

std::string summary_text(const rag::index_summary& summary) {
  return std::to_string(summary.added) + " added, " + std::to_string(summary.updated) +
         " updated, " + std::to_string(summary.unchanged) + " unchanged, " +
         std::to_string(summary.removed) + " removed, " + std::to_string(summary.failed) +
         " failed";
}

}  // namespace

struct book_service::state {
  state(const config& settings, store::document_registry& registry)
      : registry(registry),
        dense(make_dense_retriever(settings)),
        options(indexer_options_for(settings, settings.docs, dense.get())),
        indexer(registry, index, options),
        searcher(std::make_shared<rag::book_searcher>(index, dense.get())),
        runner(std::make_shared<tools::index_runner>(indexer, registry)),
        interval(settings.reindex_interval) {
    if (settings.database_url.empty()) {
      const fs::path database = fs::path(settings.data_dir) / sqlite_file_name;
      database_files = {database, database.string() + "-wal", database.string() + "-shm"};
    }
  }

  store::document_registry& registry;
  rag::lexical_index index;
  std::unique_ptr<rag::dense_retriever> dense;  // null without embeddings
  rag::indexer_options options;
  rag::indexer indexer;
  std::shared_ptr<rag::book_searcher> searcher;
  std::shared_ptr<tools::index_runner> runner;
  std::chrono::milliseconds interval;
  std::vector<fs::path> database_files;
};

book_service::book_service(const config& settings, store::document_registry& registry)
    : state_(std::make_shared<state>(settings, registry)) {
  auto& indexer = state_->indexer;
  if (!indexer.roots().empty()) {
    // The index serves the registered roots only: hits from a book that is no longer
    // registered could not be opened (book://doc resolves inside the roots).
    std::set<std::string> roots;
    for (const auto& root : indexer.roots()) roots.insert(root.string());
    std::size_t dropped = 0;
    for (const auto& record : registry.list()) {
      if (!roots.contains(record.root))
        dropped += registry.remove(record.root, record.path) ? 1 : 0;
    }
    if (dropped)
      spdlog::info("book: dropped {} document(s) of roots no longer registered", dropped);
  }
  const auto opened = indexer.open();
  if (const auto& message = indexer.open_message()) spdlog::warn("book: {}", *message);
  const auto status = indexer.status();
  spdlog::info("book: index {} ({} documents, {} chunks)",
               opened == rag::indexer::open_result::loaded_snapshot ? "loaded" : "rebuilt",
               status.documents, status.chunks);
}

book_service::~book_service() {
  if (background_.joinable()) {
    background_.request_stop();
    background_.join();
  }
}

void book_service::register_with(mcp::server& server) {
  tools::book_tool_options options;
  options.runner = state_->runner;
  options.index.snapshot_file = state_->options.snapshot_file;
  options.index.database_files = state_->database_files;
  // The handlers keep the state (indexer, index, runner) alive for as long as the server holds
  // them; the registry is the caller's and outlives the server.
  options.owner = state_;
  options.searcher = state_->searcher;
  tools::register_book_tools(server, state_->indexer, state_->index, options);
}

std::vector<transport::dependency_check> book_service::readiness() const {
  std::vector<transport::dependency_check> checks;
  if (!state_->dense) return checks;
  // Passive: what the last query and the last indexing run met. Probing the endpoint on every
  // /readyz would spend the user's embedding quota on health checks.
  checks.push_back({"embeddings",
                    [state = state_] {
                      std::string problem = state->dense->query_failure();
                      if (problem.empty()) {
                        if (auto last = state->runner->last_run();
                            last && last->summary.dense && !last->summary.dense->error.empty())
                          problem = "the last indexing run could not embed: " +
                                    last->summary.dense->error;
                      }
                      return problem;
                    },
                    /*required=*/false});
  if (state_->dense->store().kind() != "embedded") {
    checks.push_back({std::string(state_->dense->store().kind()),
                      [state = state_] { return state->dense->store().probe(); },
                      /*required=*/false});
  }
  return checks;
}

void book_service::start_background_indexing(mcp::server&) {
  if (background_.joinable() || state_->indexer.roots().empty()) return;
  state_->runner->announce_run();
  background_ = std::jthread([state = state_](std::stop_token stop) {
    auto run = [&](const char* trigger) {
      try {
        auto record = state->runner->index({}, trigger, {}, stop);
        if (!record) return;
        const auto& summary = record->summary;
        auto level = summary.failed ? spdlog::level::warn : spdlog::level::info;
        spdlog::log(level, "book: {} indexing: {} in {} ms{}", trigger, summary_text(summary),
                    summary.elapsed.count(), summary.cancelled ? " (stopped)" : "");
        for (const auto& error : summary.errors) {
          spdlog::warn("book: {}: {}", error.path, error.message);
        }
        if (summary.dense) {
          spdlog::log(summary.dense->error.empty() ? spdlog::level::info : spdlog::level::warn,
                      "book: embeddings: {}", dense_summary_text(*summary.dense));
          for (const auto& error : summary.dense->chunk_errors)
            spdlog::warn("book: {}: {}", error.document_path, error.message);
        }
      } catch (const std::exception& error) {
        // Registry or disk failures: the index stays as it was; the next interval retries.
        spdlog::error("book: {} indexing failed: {}", trigger, error.what());
      }
    };
    run("startup");
    if (state->interval.count() <= 0) return;
    std::mutex mutex;
    std::condition_variable_any wake;
    while (!stop.stop_requested()) {
      std::unique_lock lock(mutex);
      // Wakes early only to stop.
      wake.wait_for(lock, stop, state->interval, [] { return false; });
      lock.unlock();
      if (stop.stop_requested()) break;
      run("interval");
    }
  });
}

namespace {

// Turns SIGINT/SIGTERM into a stop request, from a thread that waits for them (a stop_source
// is not async-signal-safe, so no handler touches it).
class interrupt_watcher {
 public:
  explicit interrupt_watcher(std::stop_source& stop) {
    sigemptyset(&signals_);
    sigaddset(&signals_, SIGINT);
    sigaddset(&signals_, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &signals_, &previous_);
    thread_ = std::jthread([this, &stop](std::stop_token done) {
      const timespec tick{0, 100'000'000};
      while (!done.stop_requested()) {
        if (sigtimedwait(&signals_, nullptr, &tick) > 0) {
          interrupted_ = true;
          stop.request_stop();
          return;
        }
      }
    });
  }
  ~interrupt_watcher() {
    thread_.request_stop();
    thread_.join();
    pthread_sigmask(SIG_SETMASK, &previous_, nullptr);
  }
  bool interrupted() const { return interrupted_; }

 private:
  sigset_t signals_{};
  sigset_t previous_{};
  std::atomic<bool> interrupted_{false};
  std::jthread thread_;
};

// Progress on stderr: a redrawn bar on a terminal, one plain line per file otherwise.
class progress_printer {
 public:
  progress_printer() : terminal_(isatty(STDERR_FILENO) == 1) {}
  ~progress_printer() { finish(); }

  void operator()(const rag::index_progress& file) {
    if (const auto* embedding = file.embedding) {
      draw_embedding(*embedding);
      return;
    }
    if (!terminal_) {
      std::fprintf(stderr, "[%zu/%zu] %s %s\n", file.completed, file.total,
                   std::string(rag::to_string(file.outcome)).c_str(), file.path.c_str());
      return;
    }
    const auto now = std::chrono::steady_clock::now();
    if (file.completed < file.total && now - last_draw_ < std::chrono::milliseconds(50)) return;
    last_draw_ = now;
    constexpr std::size_t width = 30;
    const std::size_t filled = file.total ? width * file.completed / file.total : width;
    std::string bar(filled, '#');
    bar.append(width - filled, '-');
    std::string path = file.path;
    if (path.size() > 40) path = "..." + path.substr(path.size() - 37);
    std::fprintf(stderr, "\r\033[K[%s] %3zu%% %zu/%zu %s", bar.c_str(),
                 file.total ? 100 * file.completed / file.total : 100, file.completed, file.total,
                 path.c_str());
    drawn_ = true;
  }

  void finish() {
    if (drawn_) std::fputc('\n', stderr);
    drawn_ = false;
  }

  // Chunks embedded so far, with the requests and retries it took.
  void draw_embedding(const rag::dense_progress& state) {
    if (!terminal_) {
      std::fprintf(stderr, "[embedding %zu/%zu chunks] %zu requests, %zu retries\n",
                   state.chunks_done, state.chunks_total, state.requests, state.retries);
      return;
    }
    const auto now = std::chrono::steady_clock::now();
    if (state.chunks_done < state.chunks_total && now - last_draw_ < std::chrono::milliseconds(50))
      return;
    last_draw_ = now;
    constexpr std::size_t width = 30;
    const std::size_t filled =
        state.chunks_total ? width * state.chunks_done / state.chunks_total : width;
    std::string bar(filled, '#');
    bar.append(width - filled, '-');
    std::fprintf(stderr, "\r\033[K[%s] embedding %zu/%zu chunks, %zu requests, %zu retries",
                 bar.c_str(), state.chunks_done, state.chunks_total, state.requests, state.retries);
    drawn_ = true;
  }

 private:
  bool terminal_;
  bool drawn_ = false;
  std::chrono::steady_clock::time_point last_draw_{};
};

}  // namespace

int run_index_command(const config& settings) {
  std::error_code error;
  const bool reindex = settings.mode == run_mode::reindex_command;
  const char* command = reindex ? "bookmcp reindex" : "bookmcp index";
  if (!reindex && !fs::is_directory(settings.index_target, error)) {
    std::cerr << "bookmcp index: " << settings.index_target << " is not a folder\n";
    return 2;
  }
  fs::create_directories(settings.data_dir, error);
  if (error) {
    std::cerr << command << ": cannot create the data directory " << settings.data_dir << ": "
              << error.message() << "\n";
    return 2;
  }
  std::unique_ptr<store::database> database;
  if (settings.database_url.empty()) {
    database = store::open_sqlite({.data_dir = settings.data_dir});
  } else {
    database = store::open_postgres({.database_url = settings.database_url});
  }

  std::vector<std::string> roots = settings.docs;
  std::vector<std::string> targets;
  if (reindex) {
    // The roots given, else the book(s) the data directory already holds.
    if (roots.empty()) {
      std::set<std::string> held;
      for (const auto& record : database->documents().list()) held.insert(record.root);
      roots.assign(held.begin(), held.end());
    }
    if (roots.empty()) {
      std::cerr << command << ": no book is indexed in " << settings.data_dir
                << ": run bookmcp index DIR first (or pass --docs DIR)\n";
      return 2;
    }
  } else {
    // DIR is a root like a --docs root; when it lies inside one, that root is used instead so
    // that the records match what the server (started with that --docs) expects.
    const fs::path target = fs::canonical(settings.index_target);
    bool inside_root = false;
    for (const auto& root : settings.docs) {
      fs::path canonical = fs::weakly_canonical(root, error);
      auto [root_end, ignored] =
          std::mismatch(canonical.begin(), canonical.end(), target.begin(), target.end());
      if (root_end == canonical.end()) inside_root = true;
    }
    if (!inside_root) roots.push_back(target.string());
    targets.push_back(target.string());
  }

  std::unique_ptr<rag::dense_retriever> dense;
  try {
    dense = make_dense_retriever(settings);
  } catch (const std::exception& failure) {
    std::cerr << command << ": embeddings: " << failure.what() << "\n";
    return 2;
  }
  rag::lexical_index index;
  rag::indexer indexer(database->documents(), index,
                       indexer_options_for(settings, roots, dense.get()));
  indexer.open();
  if (const auto& message = indexer.open_message())
    std::cerr << command << ": " << *message << "\n";
  if (settings.reindex_embeddings) {
    indexer.forget_embeddings();
    std::cerr << command << ": every chunk will be embedded again\n";
  }
  tools::index_runner runner(indexer, database->documents());

  std::stop_source stop;
  std::optional<tools::index_run_record> run;
  bool interrupted = false;
  {
    interrupt_watcher watcher(stop);
    progress_printer progress;
    run = runner.index(targets, "command", std::ref(progress), stop.get_token());
    progress.finish();
    interrupted = watcher.interrupted();
  }
  if (!run) return 130;  // interrupted before it started
  const auto& summary = run->summary;
  const auto status = indexer.status();
  std::string what;
  for (const auto& root : reindex ? roots : targets) what += (what.empty() ? "" : ", ") + root;
  std::cout << (summary.cancelled ? "Interrupted" : "Indexed") << " " << what << ": "
            << summary_text(summary) << " in " << summary.elapsed.count() << " ms.\n";
  if (!summary.errors.empty()) {
    std::cout << "Failed files:\n";
    for (const auto& failure : summary.errors) {
      std::cout << "  " << failure.path << ": " << failure.message << "\n";
    }
  }
  bool embedding_incomplete = false;
  if (summary.dense) {
    std::cout << "Embeddings: " << dense_summary_text(*summary.dense) << ".\n";
    for (const auto& failure : summary.dense->chunk_errors)
      std::cout << "  " << failure.document_path << ": " << failure.message << "\n";
    embedding_incomplete = summary.dense->pending > 0;
    if (embedding_incomplete && !summary.cancelled)
      std::cout << "Run the command again to embed the pending chunks; search answers by words "
                   "meanwhile.\n";
  }
  std::cout << "Index in " << settings.data_dir << ": " << status.documents << " documents, "
            << status.chunks << " chunks";
  if (status.dense_configured) std::cout << ", " << status.dense_vectors << " vectors";
  std::cout << ".\n";
  if (interrupted || summary.cancelled) return 130;
  return summary.failed || embedding_incomplete ? 1 : 0;
}

}  // namespace bookmcp::app
