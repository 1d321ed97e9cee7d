#include "tools/index/index_runner.hpp"

#include <chrono>

namespace bookmcp::tools {

std::int64_t unix_ms_now() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

index_runner::index_runner(rag::indexer& indexer, store::document_registry& registry)
    : indexer_(indexer), registry_(registry) {}

std::vector<rag::file_error> index_runner::failed_documents() const {
  std::vector<rag::file_error> out;
  for (const auto& record : registry_.list()) {
    if (!record.last_error.empty()) out.push_back({record.root, record.path, record.last_error});
  }
  return out;
}

void index_runner::add_listener(listener on_run) {
  std::lock_guard lock(mutex_);
  listeners_.push_back(std::move(on_run));
}

bool index_runner::acquire(std::stop_token stop) {
  std::unique_lock lock(mutex_);
  if (!idle_.wait(lock, stop, [this] { return !busy_; })) return false;
  busy_ = true;
  announced_ = false;
  return true;
}

void index_runner::announce_run() {
  std::lock_guard lock(mutex_);
  announced_ = true;
}

void index_runner::release(const index_run_record* finished) {
  std::vector<listener> listeners;
  {
    std::lock_guard lock(mutex_);
    busy_ = false;
    if (finished) {
      // A removal is not an indexing run: index_status keeps showing the last real run.
      if (finished->trigger != "remove") last_run_ = *finished;
      listeners = listeners_;
    }
  }
  idle_.notify_all();
  // Outside the lock: a listener may ask for status() or last_run().
  if (finished) {
    for (const auto& on_run : listeners) on_run(*finished);
  }
}

std::optional<index_run_record> index_runner::index(const std::vector<std::string>& paths,
                                                    std::string trigger,
                                                    const rag::progress_callback& progress,
                                                    std::stop_token stop) {
  std::vector<std::string> targets = paths;
  if (targets.empty()) {
    for (const auto& root : indexer_.roots()) targets.push_back(root.string());
  }
  // Refuse a bad request before waiting for anybody.
  for (const auto& path : targets) indexer_.resolve(path);
  if (!acquire(stop)) return std::nullopt;

  index_run_record record;
  record.trigger = std::move(trigger);
  record.requested = paths;
  record.started_unix_ms = unix_ms_now();
  const auto started = std::chrono::steady_clock::now();
  std::size_t offset = 0;  // files of the previous paths of this call
  try {
    for (const auto& path : targets) {
      std::size_t this_total = 0;
      auto on_file = [&](const rag::index_progress& file) {
        if (file.embedding) {  // the embedding step after the files
          if (progress) progress(file);
          return;
        }
        this_total = file.total;
        if (file.outcome != rag::file_outcome::unchanged &&
            file.outcome != rag::file_outcome::failed) {
          record.changed_documents.push_back(file.path);
        }
        if (progress) {
          rag::index_progress overall = file;
          overall.completed += offset;
          overall.total += offset;
          progress(overall);
        }
      };
      rag::index_summary one = indexer_.index(path, on_file, stop);
      offset += this_total;
      auto& total = record.summary;
      total.accumulate(one);
      if (one.cancelled) break;
    }
  } catch (...) {
    release(nullptr);
    throw;
  }
  record.summary.elapsed = std::chrono::duration_cast<std::chrono::milliseconds>(
      std::chrono::steady_clock::now() - started);
  record.finished_unix_ms = unix_ms_now();
  release(&record);
  return record;
}

std::optional<bool> index_runner::remove(std::string_view path, std::stop_token stop) {
  rag::resolved_path target = indexer_.resolve(path);
  if (!acquire(stop)) return std::nullopt;
  bool removed = false;
  try {
    removed = indexer_.remove_document(path);
  } catch (...) {
    release(nullptr);
    throw;
  }
  if (!removed) {
    release(nullptr);
    return false;
  }
  index_run_record record;
  record.trigger = "remove";
  record.requested = {std::string(path)};
  record.started_unix_ms = record.finished_unix_ms = unix_ms_now();
  record.summary.removed = 1;
  record.changed_documents = {target.relative};
  release(&record);
  return true;
}

std::optional<index_run_record> index_runner::last_run() const {
  std::lock_guard lock(mutex_);
  return last_run_;
}

bool index_runner::running() const {
  std::lock_guard lock(mutex_);
  return busy_ || announced_;
}

}  // namespace bookmcp::tools
