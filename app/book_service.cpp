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

#include "rag/indexer.hpp"
#include "rag/lexical_index.hpp"
#include "store/database.hpp"
#include "store/errors.hpp"
#include "tools/book/book_tools.hpp"

namespace bookmcp::app {

namespace fs = std::filesystem;

namespace {

constexpr const char* snapshot_name = "bm25.index";
constexpr const char* sqlite_file_name = "bookmcp.sqlite3";  // store::sqlite_options default

rag::indexer_options indexer_options_for(const config& settings,
                                         const std::vector<std::string>& roots) {
  rag::indexer_options options;
  for (const auto& root : roots) options.roots.emplace_back(root);
  options.base_url = settings.base_url;
  options.snapshot_file = fs::path(settings.data_dir) / snapshot_name;
  return options;
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
        options(indexer_options_for(settings, settings.docs)),
        indexer(registry, index, options),
        runner(std::make_shared<tools::index_runner>(indexer, registry)),
        interval(settings.reindex_interval) {
    if (settings.database_url.empty()) {
      const fs::path database = fs::path(settings.data_dir) / sqlite_file_name;
      database_files = {database, database.string() + "-wal", database.string() + "-shm"};
    }
  }

  store::document_registry& registry;
  rag::lexical_index index;
  rag::indexer_options options;
  rag::indexer indexer;
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
  tools::register_book_tools(server, state_->indexer, state_->index, options);
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

 private:
  bool terminal_;
  bool drawn_ = false;
  std::chrono::steady_clock::time_point last_draw_{};
};

}  // namespace

int run_index_command(const config& settings) {
  std::error_code error;
  if (!fs::is_directory(settings.index_target, error)) {
    std::cerr << "bookmcp index: " << settings.index_target << " is not a folder\n";
    return 2;
  }
  fs::create_directories(settings.data_dir, error);
  if (error) {
    std::cerr << "bookmcp index: cannot create the data directory " << settings.data_dir << ": "
              << error.message() << "\n";
    return 2;
  }
  std::unique_ptr<store::database> database;
  if (settings.database_url.empty()) {
    database = store::open_sqlite({.data_dir = settings.data_dir});
  } else {
    database = store::open_postgres({.database_url = settings.database_url});
  }

  // DIR is a root like a --docs root; when it lies inside one, that root is used instead so
  // that the records match what the server (started with that --docs) expects.
  std::vector<std::string> roots = settings.docs;
  const fs::path target = fs::canonical(settings.index_target);
  bool inside_root = false;
  for (const auto& root : settings.docs) {
    fs::path canonical = fs::weakly_canonical(root, error);
    auto [root_end, ignored] =
        std::mismatch(canonical.begin(), canonical.end(), target.begin(), target.end());
    if (root_end == canonical.end()) inside_root = true;
  }
  if (!inside_root) roots.push_back(target.string());

  rag::lexical_index index;
  rag::indexer indexer(database->documents(), index, indexer_options_for(settings, roots));
  indexer.open();
  tools::index_runner runner(indexer, database->documents());

  std::stop_source stop;
  std::optional<tools::index_run_record> run;
  bool interrupted = false;
  {
    interrupt_watcher watcher(stop);
    progress_printer progress;
    run = runner.index({target.string()}, "command", std::ref(progress), stop.get_token());
    progress.finish();
    interrupted = watcher.interrupted();
  }
  if (!run) return 130;  // interrupted before it started
  const auto& summary = run->summary;
  const auto status = indexer.status();
  std::cout << (summary.cancelled ? "Interrupted" : "Indexed") << " " << target.string() << ": "
            << summary_text(summary) << " in " << summary.elapsed.count() << " ms.\n";
  if (!summary.errors.empty()) {
    std::cout << "Failed files:\n";
    for (const auto& failure : summary.errors) {
      std::cout << "  " << failure.path << ": " << failure.message << "\n";
    }
  }
  std::cout << "Index in " << settings.data_dir << ": " << status.documents << " documents, "
            << status.chunks << " chunks.\n";
  if (interrupted || summary.cancelled) return 130;
  return summary.failed ? 1 : 0;
}

}  // namespace bookmcp::app
