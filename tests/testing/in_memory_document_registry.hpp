#pragma once
// An in-memory store::document_registry for tests: same contract as the SQLite and Postgres
// implementations (atomic replace/remove, generation increasing on every change, all_chunks
// ordered by (document_path, position)), no persistence. Thread-safe (one mutex).

#include <algorithm>
#include <map>
#include <mutex>
#include <utility>

#include "store/document_registry.hpp"

namespace bookmcp::testing {

class in_memory_document_registry final : public store::document_registry {
 public:
  std::optional<store::document_record> find(const std::string& root,
                                             const std::string& path) override {
    std::lock_guard lock(mutex_);
    auto it = documents_.find({root, path});
    if (it == documents_.end()) return std::nullopt;
    return it->second.record;
  }

  std::vector<store::document_record> list() override {
    std::lock_guard lock(mutex_);
    std::vector<store::document_record> out;
    for (const auto& [key, entry] : documents_) out.push_back(entry.record);
    return out;
  }

  std::int64_t replace(const store::document_record& record,
                       const std::vector<store::stored_chunk>& chunks) override {
    std::lock_guard lock(mutex_);
    ++replace_calls_;
    documents_[{record.root, record.path}] = {record, chunks};
    return ++generation_;
  }

  void record_failure(const std::string& root, const std::string& path,
                      const std::string& error) override {
    std::lock_guard lock(mutex_);
    auto& entry = documents_[{root, path}];
    entry.record.root = root;
    entry.record.path = path;
    entry.record.last_error = error;
  }

  bool remove(const std::string& root, const std::string& path) override {
    std::lock_guard lock(mutex_);
    if (documents_.erase({root, path}) == 0) return false;
    ++generation_;
    return true;
  }

  std::vector<store::stored_chunk> all_chunks() override {
    std::lock_guard lock(mutex_);
    std::vector<store::stored_chunk> out;
    for (const auto& [key, entry] : documents_) {
      out.insert(out.end(), entry.chunks.begin(), entry.chunks.end());
    }
    std::stable_sort(out.begin(), out.end(), [](const auto& a, const auto& b) {
      return std::tie(a.document_path, a.position) < std::tie(b.document_path, b.position);
    });
    return out;
  }

  std::int64_t generation() override {
    std::lock_guard lock(mutex_);
    return generation_;
  }

  // Test helpers.
  int replace_calls() {
    std::lock_guard lock(mutex_);
    return replace_calls_;
  }
  std::vector<store::stored_chunk> chunks_of(const std::string& root, const std::string& path) {
    std::lock_guard lock(mutex_);
    auto it = documents_.find({root, path});
    return it == documents_.end() ? std::vector<store::stored_chunk>{} : it->second.chunks;
  }
  // Overwrites a record's chunker version (simulates a file indexed by an older chunker).
  void set_chunker_version(const std::string& root, const std::string& path, int version) {
    std::lock_guard lock(mutex_);
    documents_.at({root, path}).record.chunker_version = version;
  }

 private:
  struct entry {
    store::document_record record;
    std::vector<store::stored_chunk> chunks;
  };
  std::mutex mutex_;
  std::map<std::pair<std::string, std::string>, entry> documents_;
  std::int64_t generation_ = 0;
  int replace_calls_ = 0;
};

}  // namespace bookmcp::testing
