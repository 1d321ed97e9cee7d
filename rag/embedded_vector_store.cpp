// The embedded vector store: an HNSW graph from Debian's hnswlib (inner product on unit
// vectors, i.e. cosine), with the chunk id, document path and content hash of every label kept
// beside it, saved to one file in the data directory.
//
// Labels are reused: a removed chunk's label is marked deleted in the graph and handed to the
// next new chunk (hnswlib replaces the vector of a label that is added again), so the graph
// does not grow with re-indexing.
//
// A search filtered by a path prefix that selects few chunks is answered exactly (a scan of
// those chunks' vectors, which the graph holds anyway); otherwise the graph is searched with
// enough extra candidates for the prefix's share of the book, and the scan is the fallback
// when that still finds fewer than asked.

#include <hnswlib/hnswlib.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <mutex>
#include <shared_mutex>
#include <thread>

#include "rag/binary_file.hpp"
#include "rag/dot_product.hpp"
#include "rag/vector_store.hpp"

namespace bookmcp::rag {

namespace {

constexpr char file_magic[8] = {'B', 'K', 'M', 'C', 'P', 'D', 'N', '1'};
constexpr std::uint32_t file_format_version = 1;
// Below this many candidate chunks under a prefix, a filtered search scans them exactly.
constexpr std::size_t exact_scan_limit = 4096;

struct slot {
  std::string chunk_id;
  std::string document_path;
  std::uint64_t content_hash = 0;
  bool alive = false;
};

// Cosine distance between unit vectors (one minus their inner product) with the dot product
// this CPU runs fastest. (hnswlib's own InnerProductSpace uses AVX only when the whole file is
// compiled for it, which a binary for plain x86-64 is not.)
class unit_vector_space final : public hnswlib::SpaceInterface<float> {
 public:
  explicit unit_vector_space(std::size_t dimensions)
      : parameters_{dimensions, best_dot_product().function} {}

  std::size_t get_data_size() override { return parameters_.dimensions * sizeof(float); }
  hnswlib::DISTFUNC<float> get_dist_func() override { return &distance; }
  void* get_dist_func_param() override { return &parameters_; }

 private:
  struct parameters {
    std::size_t dimensions;
    dot_product_function dot;
  };

  static float distance(const void* a, const void* b, const void* given) {
    const auto* p = static_cast<const parameters*>(given);
    return 1.0f - p->dot(static_cast<const float*>(a), static_cast<const float*>(b), p->dimensions);
  }

  parameters parameters_;
};

class embedded_vector_store final : public vector_store {
 public:
  explicit embedded_vector_store(embedded_vector_options options) : options_(std::move(options)) {
    if (!options_.file.empty()) load();
  }

  std::string_view kind() const noexcept override { return "embedded"; }

  std::string fingerprint() const override {
    std::shared_lock lock(mutex_);
    return fingerprint_;
  }

  void reset(const std::string& fingerprint) override {
    std::unique_lock lock(mutex_);
    graph_.reset();
    space_.reset();
    dimensions_ = 0;
    slots_.clear();
    labels_.clear();
    free_labels_.clear();
    fingerprint_ = fingerprint;
    dirty_ = true;
  }

  std::unordered_map<std::string, std::uint64_t> contents() const override {
    std::shared_lock lock(mutex_);
    std::unordered_map<std::string, std::uint64_t> out;
    out.reserve(labels_.size());
    for (const auto& [id, label] : labels_) out.emplace(id, slots_[label].content_hash);
    return out;
  }

  std::size_t size() const override {
    std::shared_lock lock(mutex_);
    return labels_.size();
  }

  std::size_t dimensions() const override {
    std::shared_lock lock(mutex_);
    return dimensions_;
  }

  void upsert(std::span<const vector_entry> entries) override {
    // In slices: searches wait for one slice at most, not for a whole batch.
    constexpr std::size_t slice = 64;
    for (std::size_t begin = 0; begin < entries.size(); begin += slice) {
      upsert_slice(entries.subspan(begin, std::min(slice, entries.size() - begin)));
    }
  }

  void remove(std::span<const std::string> chunk_ids) override {
    std::unique_lock lock(mutex_);
    for (const auto& id : chunk_ids) {
      auto found = labels_.find(id);
      if (found == labels_.end()) continue;
      const std::size_t label = found->second;
      graph_->markDelete(label);
      slots_[label] = slot{};
      free_labels_.push_back(label);
      labels_.erase(found);
      dirty_ = true;
    }
  }

  std::vector<dense_hit> search(std::span<const float> query, std::size_t limit,
                                std::string_view path_prefix) const override {
    std::shared_lock lock(mutex_);
    std::vector<dense_hit> hits;
    if (limit == 0 || labels_.empty() || query.size() != dimensions_) return hits;
    if (path_prefix.empty()) return graph_search(query, limit, {});

    std::vector<std::size_t> candidates;
    for (std::size_t label = 0; label < slots_.size(); ++label) {
      if (slots_[label].alive && path_matches_prefix(slots_[label].document_path, path_prefix))
        candidates.push_back(label);
    }
    if (candidates.empty()) return hits;
    if (candidates.size() > exact_scan_limit) {
      // Enough graph candidates that, at the prefix's share of the book, `limit` survive.
      const std::size_t share = std::max<std::size_t>(labels_.size() / candidates.size(), 1);
      hits = graph_search(query, std::min(limit * share * 2, labels_.size()), path_prefix);
      if (hits.size() >= limit) {
        hits.resize(limit);
        return hits;
      }
    }
    return exact_scan(query, limit, candidates);
  }

  void commit(std::int64_t generation) override {
    // Writers do not overlap (the contract), so reading under a shared lock is enough and
    // searches go on while the file is written.
    std::shared_lock lock(mutex_);
    generation_ = generation;
    // Nothing written since the file was: it holds this state already (its generation tag is
    // informative only: the pipeline trusts content hashes, not generations).
    if (options_.file.empty() || !dirty_) return;
    binary_writer out;
    out.bytes(file_magic, sizeof file_magic);
    out.value(file_format_version);
    out.value(generation_.load());
    out.string(fingerprint_);
    out.value(static_cast<std::uint64_t>(dimensions_));
    out.value(static_cast<std::uint64_t>(slots_.size()));
    for (const auto& s : slots_) {
      out.value(static_cast<std::uint8_t>(s.alive));
      out.string(s.chunk_id);
      out.string(s.document_path);
      out.value(s.content_hash);
    }
    std::string graph_bytes;
    if (graph_) {
      // hnswlib saves to a path only.
      std::filesystem::path temporary = options_.file;
      temporary += ".graph." + std::to_string(::getpid());
      graph_->saveIndex(temporary.string());
      try {
        graph_bytes = read_whole_file(temporary);
      } catch (...) {
        std::filesystem::remove(temporary);
        throw;
      }
      std::filesystem::remove(temporary);
    }
    out.value(static_cast<std::uint64_t>(graph_bytes.size()));
    out.bytes(graph_bytes.data(), graph_bytes.size());
    out.value(file_checksum(out.buffer()));
    write_file_atomically(options_.file, out.buffer());
    dirty_ = false;
  }

  std::int64_t generation() const override { return generation_.load(); }

 private:
  void upsert_slice(std::span<const vector_entry> entries) {
    std::unique_lock lock(mutex_);
    if (dimensions_ == 0 && !entries.empty()) create_graph(entries.front().vector.size(), 1024);
    for (const auto& entry : entries) {
      if (entry.vector.size() != dimensions_) {
        throw std::invalid_argument("a vector of " + std::to_string(entry.vector.size()) +
                                    " dimensions for an index of " + std::to_string(dimensions_));
      }
    }
    // Labels first (one per chunk id, reusing freed ones), and room in the graph.
    std::vector<std::size_t> labels(entries.size());
    const std::size_t first_new = slots_.size();
    std::size_t added = 0;
    for (std::size_t i = 0; i < entries.size(); ++i) {
      if (auto found = labels_.find(entries[i].chunk_id); found != labels_.end()) {
        labels[i] = found->second;
      } else if (!free_labels_.empty()) {
        labels[i] = free_labels_.back();
        free_labels_.pop_back();
      } else {
        labels[i] = slots_.size();
        slots_.emplace_back();
        ++added;
      }
      slot& s = slots_[labels[i]];
      s.chunk_id = entries[i].chunk_id;
      s.document_path = entries[i].document_path;
      s.content_hash = entries[i].content_hash;
      s.alive = true;
      labels_[entries[i].chunk_id] = labels[i];
    }
    if (graph_->cur_element_count + added > graph_->max_elements_) {
      graph_->resizeIndex(
          std::max(graph_->max_elements_ * 2, graph_->cur_element_count + added + 1024));
    }
    // The same chunk id twice in one slice: the last vector wins, as with separate calls.
    std::unordered_map<std::size_t, std::size_t> last;  // label -> entry
    for (std::size_t i = 0; i < entries.size(); ++i) last[labels[i]] = i;
    std::vector<std::size_t> in_graph, fresh;
    for (std::size_t i = 0; i < entries.size(); ++i) {
      if (last[labels[i]] == i) (labels[i] >= first_new ? fresh : in_graph).push_back(i);
    }
    // A label the graph has (a replaced vector, or a removed chunk's label given to a new one)
    // is updated in place, on this thread: hnswlib's update rewrites a vector that concurrent
    // insertions would be reading. New labels go in on every core.
    for (std::size_t k : in_graph) graph_->addPoint(entries[k].vector.data(), labels[k]);
    insert_in_parallel(entries, labels, fresh);
    dirty_ = true;
  }

  // hnswlib locks what an insertion touches (a lock per element's links, one for the entry
  // point and the labels), so new labels go in from several threads at once; each thread takes
  // the next entry. The graph has room for all of them already (no resize meanwhile).
  // Under ThreadSanitizer (-DBOOKMCP_SANITIZE_THREAD=ON, EmbeddedVectorStore.*) hnswlib 0.6.2
  // shows two things of its own, suppressed in tests/testing/tsan.supp: its level generator is
  // shared without a lock (two insertions may draw from the same state: the levels stay random,
  // the graph's shape is unchanged), and lock-order cycles between element locks that cannot
  // close at once (an insertion holds its own element's lock and waits only for elements
  // linked at the level it is searching, whose insertions are already at lower levels: waits
  // go strictly downwards).
  void insert_in_parallel(std::span<const vector_entry> entries,
                          const std::vector<std::size_t>& labels,
                          const std::vector<std::size_t>& order) {
    std::atomic<std::size_t> next{0};
    auto insert = [&] {
      for (std::size_t k; (k = next.fetch_add(1)) < order.size();)
        graph_->addPoint(entries[order[k]].vector.data(), labels[order[k]]);
    };
    const std::size_t helpers = std::min(insert_threads() - 1, order.size() / 4);
    std::vector<std::exception_ptr> failures(helpers);
    {
      std::vector<std::jthread> threads;
      for (std::size_t t = 0; t < helpers; ++t) {
        threads.emplace_back([&, t] {
          try {
            insert();
          } catch (...) {
            failures[t] = std::current_exception();
            next = order.size();
          }
        });
      }
      try {
        insert();
      } catch (...) {
        next = order.size();
        throw;  // after the helpers are joined, by the threads' destructors
      }
    }
    for (const auto& failure : failures)
      if (failure) std::rethrow_exception(failure);
  }

  static std::size_t insert_threads() {
    static const std::size_t count =
        std::clamp<std::size_t>(std::thread::hardware_concurrency(), 1, 8);
    return count;
  }

  void create_graph(std::size_t dimensions, std::size_t capacity) {
    dimensions_ = dimensions;
    space_ = std::make_unique<unit_vector_space>(dimensions);
    graph_ = std::make_unique<hnswlib::HierarchicalNSW<float>>(
        space_.get(), capacity, options_.hnsw_m, options_.hnsw_ef_construction);
    graph_->setEf(options_.hnsw_ef_search);
  }

  std::vector<dense_hit> graph_search(std::span<const float> query, std::size_t count,
                                      std::string_view path_prefix) const {
    auto found = graph_->searchKnn(query.data(), std::min(count, labels_.size()));
    std::vector<dense_hit> hits;
    hits.reserve(found.size());
    while (!found.empty()) {
      const auto [distance, label] = found.top();
      found.pop();
      const slot& s = slots_[label];
      if (!s.alive || !path_matches_prefix(s.document_path, path_prefix)) continue;
      hits.push_back({s.chunk_id, 1.0f - distance});
    }
    // The queue gives the farthest first.
    std::reverse(hits.begin(), hits.end());
    return hits;
  }

  std::vector<dense_hit> exact_scan(std::span<const float> query, std::size_t limit,
                                    const std::vector<std::size_t>& labels) const {
    std::vector<std::pair<float, std::size_t>> scored;
    scored.reserve(labels.size());
    for (std::size_t label : labels) {
      const auto internal = graph_->label_lookup_.at(label);
      const auto* data = reinterpret_cast<const float*>(graph_->getDataByInternalId(internal));
      scored.emplace_back(dot_product(query.data(), data, dimensions_), label);
    }
    const std::size_t keep = std::min(limit, scored.size());
    std::partial_sort(scored.begin(), scored.begin() + static_cast<std::ptrdiff_t>(keep),
                      scored.end(), [](const auto& a, const auto& b) {
                        return a.first > b.first || (a.first == b.first && a.second < b.second);
                      });
    std::vector<dense_hit> hits;
    for (std::size_t i = 0; i < keep; ++i)
      hits.push_back({slots_[scored[i].second].chunk_id, scored[i].first});
    return hits;
  }

  // Loads the file when intact; otherwise leaves the store empty (it is derived data).
  void load() {
    std::string data;
    try {
      data = read_whole_file(options_.file);
    } catch (const std::exception&) {
      return;
    }
    if (data.size() < sizeof file_magic + 8 ||
        std::memcmp(data.data(), file_magic, sizeof file_magic) != 0) {
      return;
    }
    std::uint64_t stored_checksum;
    std::memcpy(&stored_checksum, data.data() + data.size() - 8, 8);
    std::string_view body(data.data(), data.size() - 8);
    if (file_checksum(body) != stored_checksum) return;
    std::filesystem::path temporary = options_.file;
    temporary += ".load." + std::to_string(::getpid());
    try {
      binary_reader in(body);
      in.take(sizeof file_magic);
      if (in.value<std::uint32_t>() != file_format_version) return;
      const auto generation = in.value<std::int64_t>();
      std::string fingerprint = in.string();
      const auto dimensions = static_cast<std::size_t>(in.value<std::uint64_t>());
      const auto count = static_cast<std::size_t>(in.value<std::uint64_t>());
      std::vector<slot> slots(count);
      std::unordered_map<std::string, std::size_t> labels;
      std::vector<std::size_t> free_labels;
      for (std::size_t label = 0; label < count; ++label) {
        slot& s = slots[label];
        s.alive = in.value<std::uint8_t>() != 0;
        s.chunk_id = in.string();
        s.document_path = in.string();
        s.content_hash = in.value<std::uint64_t>();
        if (s.alive)
          labels.emplace(s.chunk_id, label);
        else
          free_labels.push_back(label);
      }
      const auto graph_size = static_cast<std::size_t>(in.value<std::uint64_t>());
      std::string_view graph_bytes = in.take(graph_size);
      if (!in.at_end()) return;
      std::unique_ptr<unit_vector_space> space;
      std::unique_ptr<hnswlib::HierarchicalNSW<float>> graph;
      if (graph_size > 0) {
        write_file_atomically(temporary, graph_bytes);
        space = std::make_unique<unit_vector_space>(dimensions);
        graph = std::make_unique<hnswlib::HierarchicalNSW<float>>(space.get(), temporary.string());
        std::filesystem::remove(temporary);
        graph->setEf(options_.hnsw_ef_search);
        if (graph->cur_element_count != count) return;
      } else if (count > 0) {
        return;
      }
      generation_ = generation;
      fingerprint_ = std::move(fingerprint);
      dimensions_ = graph ? dimensions : 0;
      slots_ = std::move(slots);
      labels_ = std::move(labels);
      free_labels_ = std::move(free_labels);
      space_ = std::move(space);
      graph_ = std::move(graph);
      dirty_ = false;
    } catch (const std::exception&) {
      std::error_code ignored;
      std::filesystem::remove(temporary, ignored);
    }
  }

  const embedded_vector_options options_;
  mutable std::shared_mutex mutex_;
  std::string fingerprint_;
  std::atomic<std::int64_t> generation_{0};
  std::size_t dimensions_ = 0;
  std::unique_ptr<unit_vector_space> space_;
  std::unique_ptr<hnswlib::HierarchicalNSW<float>> graph_;
  std::vector<slot> slots_;                              // by label
  std::unordered_map<std::string, std::size_t> labels_;  // chunk id -> label (alive only)
  std::vector<std::size_t> free_labels_;
  std::atomic<bool> dirty_{true};  // written since the last commit or load
};

}  // namespace

bool path_matches_prefix(std::string_view document_path, std::string_view prefix) noexcept {
  if (prefix.empty() || document_path == prefix) return true;
  if (!document_path.starts_with(prefix)) return false;
  const char next = document_path[prefix.size()];
  return next == '/' || next == '.';
}

std::vector<std::pair<std::size_t, float>> exact_nearest(
    std::span<const std::vector<float>> vectors, std::span<const float> query, std::size_t limit) {
  std::vector<std::pair<std::size_t, float>> scored;
  scored.reserve(vectors.size());
  for (std::size_t i = 0; i < vectors.size(); ++i) {
    if (vectors[i].size() != query.size()) continue;
    scored.emplace_back(i, dot_product(vectors[i].data(), query.data(), query.size()));
  }
  const std::size_t keep = std::min(limit, scored.size());
  std::partial_sort(scored.begin(), scored.begin() + static_cast<std::ptrdiff_t>(keep),
                    scored.end(), [](const auto& a, const auto& b) {
                      return a.second > b.second || (a.second == b.second && a.first < b.first);
                    });
  scored.resize(keep);
  return scored;
}

std::unique_ptr<vector_store> make_embedded_vector_store(embedded_vector_options options) {
  return std::make_unique<embedded_vector_store>(std::move(options));
}

}  // namespace bookmcp::rag
