#include "rag/dense_retrieval.hpp"

#include <future>
#include <unordered_set>

#include "rag/text.hpp"

namespace bookmcp::rag {

std::string embedding_input(const store::stored_chunk& chunk) {
  std::string out = chunk.title;
  for (std::size_t i = 1; i < chunk.heading_path.size(); ++i) {
    out += i == 1 ? "\n" : " > ";
    out += chunk.heading_path[i];
  }
  out += "\n\n";
  out += chunk.text;
  return out;
}

dense_retriever::dense_retriever(std::shared_ptr<embedder> documents,
                                 std::shared_ptr<embedder> queries,
                                 std::unique_ptr<vector_store> store, dense_options options)
    : documents_(std::move(documents)),
      queries_(std::move(queries)),
      store_(std::move(store)),
      options_(options) {
  if (!documents_ || !queries_ || !store_)
    throw std::invalid_argument("dense_retriever needs two embedders and a store");
  if (options_.group_size == 0) options_.group_size = 1;
}

std::string dense_retriever::fingerprint() const {
  std::string out = documents_->fingerprint();
  if (store_->serves_lexical()) out += " + " + std::string(sparse_scheme);
  return out;
}

std::optional<std::string> dense_retriever::open() {
  const std::string wanted = fingerprint();
  std::string held;
  std::size_t count = 0;
  try {
    held = store_->fingerprint();
    if (held == wanted) return std::nullopt;
    count = store_->size();
    store_->reset(wanted);
  } catch (const vector_store_error& error) {
    return std::string("the ") + std::string(store_->kind()) +
           " vector store cannot be used now (" + error.what() +
           "); search answers from the local BM25 index until it can, and the "
           "next indexing run checks it again";
  }
  if (held.empty() || count == 0) return std::nullopt;
  return "the " + std::string(store_->kind()) +
         " vector index was built with another embedding model (" + held + "; now " + wanted +
         "): its " + std::to_string(count) +
         " vectors are dropped and every chunk is embedded again by the next indexing run";
}

void dense_retriever::reset_model() {
  store_->reset(fingerprint());
  std::lock_guard lock(query_mutex_);
  recent_.clear();
  cache_.clear();
}

dense_sync_report dense_retriever::synchronise(const index_snapshot& snapshot, std::stop_token stop,
                                               const dense_progress_callback& progress) {
  dense_sync_report report;
  const embedding_stats before = documents_->stats();
  try {
    synchronise_into(snapshot, stop, progress, report);
  } catch (const vector_store_error& error) {
    // The store went away (Qdrant down or refusing): what was written stays, the rest waits
    // for the next run.
    report.error = error.what();
    if (report.pending == 0) report.pending = pending_.load();
  }
  const embedding_stats after = documents_->stats();
  report.requests = after.requests - before.requests;
  report.retries = after.retries - before.retries;
  return report;
}

void dense_retriever::synchronise_into(const index_snapshot& snapshot, std::stop_token stop,
                                       const dense_progress_callback& progress,
                                       dense_sync_report& report) {
  const std::string wanted = fingerprint();
  if (store_->fingerprint() != wanted) store_->reset(wanted);
  const bool sparse = store_->serves_lexical();
  const embedding_stats before = documents_->stats();

  // What needs a vector: chunks whose text (as embedded) has no current one. Until the store
  // says, every chunk may.
  pending_ = snapshot.chunk_count();
  std::unordered_map<std::string, std::uint64_t> stored = store_->contents();
  struct needed {
    std::size_t chunk;
    std::uint64_t hash;
  };
  std::vector<needed> work;
  std::unordered_set<std::string_view> present;
  present.reserve(snapshot.chunk_count());
  for (std::size_t i = 0; i < snapshot.chunk_count(); ++i) {
    const store::stored_chunk& chunk = snapshot.chunk(i);
    present.insert(chunk.id);
    const std::uint64_t hash = stable_hash(embedding_input(chunk));
    auto found = stored.find(chunk.id);
    if (found == stored.end() || found->second != hash) work.push_back({i, hash});
  }
  pending_ = work.size();
  std::vector<std::string> gone;
  for (const auto& [id, hash] : stored) {
    if (!present.contains(id)) gone.push_back(id);
  }
  store_->remove(gone);
  report.removed = gone.size();

  dense_progress state;
  state.chunks_total = work.size();
  auto report_progress = [&] {
    if (!progress) return;
    const embedding_stats now = documents_->stats();
    state.requests = now.requests - before.requests;
    state.retries = now.retries - before.retries;
    progress(state);
  };
  std::size_t refused = 0;
  // The store writes one group while the next is embedded: with a remote endpoint the graph
  // insertion (or the Qdrant upsert) hides behind the wait for the next answer, and with a fast
  // local one the two run on two cores. At most one group is being written.
  std::future<void> writing;
  std::size_t writing_count = 0;
  auto finish_writing = [&] {
    if (!writing.valid()) return;
    writing.get();  // the store's error, if any, goes up from here
    report.embedded += writing_count;
    writing_count = 0;
    pending_ = work.size() - report.embedded;
    state.chunks_done = report.embedded + refused;
    report_progress();
  };
  auto last_commit = std::chrono::steady_clock::now();
  for (std::size_t begin = 0; begin < work.size() && report.error.empty();) {
    if (stop.stop_requested()) {
      report.cancelled = true;
      break;
    }
    const std::size_t end = std::min(begin + options_.group_size, work.size());
    std::vector<std::size_t> members;  // indexes into work
    for (std::size_t w = begin; w < end; ++w) members.push_back(w);
    std::vector<vector_entry> entries;
    while (!members.empty()) {
      std::vector<std::string> inputs;
      inputs.reserve(members.size());
      for (std::size_t w : members)
        inputs.push_back(embedding_input(snapshot.chunk(work[w].chunk)));
      try {
        std::vector<std::vector<float>> vectors = documents_->embed(inputs, stop);
        entries.resize(members.size());
        for (std::size_t m = 0; m < members.size(); ++m) {
          const store::stored_chunk& chunk = snapshot.chunk(work[members[m]].chunk);
          entries[m] = {chunk.id, chunk.document_path, work[members[m]].hash, std::move(vectors[m]),
                        sparse ? sparse_document_vector(chunk) : sparse_vector{}};
        }
        members.clear();
      } catch (const embedding_error& error) {
        if (error.error_kind() == embedding_error::kind::input_too_large && error.input_index() &&
            *error.input_index() < members.size()) {
          // That chunk is refused; the others of the group still go in.
          const std::size_t w = members[*error.input_index()];
          const store::stored_chunk& chunk = snapshot.chunk(work[w].chunk);
          report.chunk_errors.push_back(
              {chunk.document_path, chunk.id,
               std::string(error.what()) + " (section \"" +
                   (chunk.heading_path.empty() ? chunk.title : chunk.heading_path.back()) + "\", " +
                   std::to_string(embedding_input(chunk).size()) + " bytes)"});
          ++refused;
          members.erase(members.begin() + static_cast<std::ptrdiff_t>(*error.input_index()));
          continue;
        }
        if (error.error_kind() == embedding_error::kind::cancelled) {
          report.cancelled = true;
        } else {
          report.error = error.what();
        }
        break;
      }
    }
    if (!report.error.empty() || report.cancelled) break;
    finish_writing();
    writing_count = entries.size();
    writing = std::async(std::launch::async,
                         [this, group = std::move(entries)] { store_->upsert(group); });
    begin = end;
    // A long run saves its vectors now and then, so that a crash loses minutes, not hours.
    if (std::chrono::steady_clock::now() - last_commit > options_.commit_interval) {
      finish_writing();
      store_->commit(snapshot.generation());
      last_commit = std::chrono::steady_clock::now();
    }
  }
  finish_writing();
  report.pending = work.size() - report.embedded;
  pending_ = report.pending;
  store_->commit(snapshot.generation());
}

std::optional<std::vector<float>> dense_retriever::cached(const std::string& query) {
  std::lock_guard lock(query_mutex_);
  auto found = cache_.find(query);
  if (found == cache_.end()) return std::nullopt;
  recent_.splice(recent_.begin(), recent_, found->second);
  return found->second->second;
}

void dense_retriever::remember(const std::string& query, const std::vector<float>& vector) {
  std::lock_guard lock(query_mutex_);
  if (options_.query_cache_entries == 0 || cache_.contains(query)) return;
  recent_.emplace_front(query, vector);
  cache_[query] = recent_.begin();
  if (recent_.size() > options_.query_cache_entries) {
    cache_.erase(recent_.back().first);
    recent_.pop_back();
  }
}

std::string dense_retriever::query_failure() const {
  std::lock_guard lock(query_mutex_);
  return std::chrono::steady_clock::now() < skip_until_ ? last_query_failure_ : std::string();
}

dense_retriever::query_outcome dense_retriever::nearest(const std::string& query, std::size_t limit,
                                                        std::string_view path_prefix,
                                                        std::stop_token stop) {
  query_outcome outcome;
  // (A remote store is not asked for its size on every search: it answers nothing when empty.)
  if (store_->kind() == "embedded" && store_->size() == 0) {
    outcome.failure = pending_ > 0 ? "no chunk has been embedded yet (" +
                                         std::to_string(pending_.load()) + " waiting)"
                                   : "the vector index is empty";
    return outcome;
  }
  std::optional<std::vector<float>> vector = query_vector(query, stop, outcome.failure);
  if (!vector) return outcome;
  try {
    if (vector->size() != store_->dimensions()) {
      outcome.failure = "the query embedding has " + std::to_string(vector->size()) +
                        " dimensions and the index " + std::to_string(store_->dimensions());
      return outcome;
    }
    outcome.hits = store_->search(*vector, limit, path_prefix);
  } catch (const vector_store_error& error) {
    outcome.failure = error.what();
  }
  return outcome;
}

std::optional<std::vector<float>> dense_retriever::query_vector(const std::string& query,
                                                                std::stop_token stop,
                                                                std::string& failure) {
  if (auto vector = cached(query)) return vector;
  {
    std::lock_guard lock(query_mutex_);
    if (std::chrono::steady_clock::now() < skip_until_) {
      failure = last_query_failure_;
      return std::nullopt;
    }
  }
  try {
    std::vector<std::string> input{query};
    auto vectors = queries_->embed(input, stop);
    remember(query, vectors.front());
    return std::move(vectors.front());
  } catch (const embedding_error& error) {
    failure = std::string("query embedding failed: ") + error.what();
    if (error.error_kind() != embedding_error::kind::cancelled) {
      std::lock_guard lock(query_mutex_);
      skip_until_ = std::chrono::steady_clock::now() + options_.cool_down;
      last_query_failure_ = failure;
    }
    return std::nullopt;
  }
}

dense_retriever::query_outcome dense_retriever::lexical(const std::string& query, std::size_t limit,
                                                        std::string_view path_prefix) {
  query_outcome outcome;
  try {
    outcome.hits = store_->sparse_search(sparse_query_vector(query), limit, path_prefix);
  } catch (const vector_store_error& error) {
    outcome.failure = error.what();
  }
  return outcome;
}

dense_retriever::query_outcome dense_retriever::hybrid(const std::string& query, std::size_t limit,
                                                       std::size_t depth,
                                                       std::string_view path_prefix,
                                                       std::stop_token stop) {
  query_outcome outcome;
  std::optional<std::vector<float>> vector = query_vector(query, stop, outcome.failure);
  if (!vector) return outcome;
  try {
    outcome.hits =
        store_->hybrid_search(*vector, sparse_query_vector(query), limit, depth, path_prefix);
  } catch (const vector_store_error& error) {
    outcome.failure = error.what();
  }
  return outcome;
}

}  // namespace bookmcp::rag
