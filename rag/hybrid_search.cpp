#include "rag/hybrid_search.hpp"

#include <algorithm>
#include <stdexcept>

namespace bookmcp::rag {

namespace {

// How many candidates each signal offers to fusion: fusion can only reorder what it is given,
// and a section ranked 20th by words may be 1st by meaning.
std::size_t candidate_depth(std::size_t limit) {
  return std::clamp<std::size_t>(limit * 4, 40, 200);
}

// The hits of this process's BM25 snapshot, as the result's (lexical) hits.
void answer_from_local_index(const search_request& request, book_search_result& result) {
  result.lexical = true;
  for (auto& hit : result.snapshot->search(request)) {
    ranked_hit ranked;
    ranked.lexical_rank = static_cast<int>(result.hits.size());
    ranked.lexical_score = hit.score;
    ranked.hit = std::move(hit);
    result.hits.push_back(std::move(ranked));
  }
}

}  // namespace

std::optional<retrieval_mode> parse_retrieval_mode(std::string_view text) noexcept {
  if (text == "auto") return retrieval_mode::automatic;
  if (text == "lexical") return retrieval_mode::lexical;
  if (text == "dense") return retrieval_mode::dense;
  if (text == "hybrid") return retrieval_mode::hybrid;
  return std::nullopt;
}

std::string_view to_string(retrieval_mode mode) noexcept {
  switch (mode) {
    case retrieval_mode::automatic:
      return "auto";
    case retrieval_mode::lexical:
      return "lexical";
    case retrieval_mode::dense:
      return "dense";
    case retrieval_mode::hybrid:
      return "hybrid";
  }
  return "auto";
}

std::vector<std::pair<std::string, fused_entry>> reciprocal_rank_fusion(
    const std::vector<std::vector<std::string>>& lists, double k) {
  std::unordered_map<std::string_view, std::size_t> index;
  std::vector<std::pair<std::string, fused_entry>> out;
  for (std::size_t l = 0; l < lists.size(); ++l) {
    for (std::size_t position = 0; position < lists[l].size(); ++position) {
      const std::string& id = lists[l][position];
      auto [it, inserted] = index.emplace(id, out.size());
      if (inserted) {
        fused_entry entry;
        entry.list = l;
        entry.position = position;
        entry.ranks.assign(lists.size(), -1);
        out.emplace_back(id, std::move(entry));
      }
      fused_entry& entry = out[it->second].second;
      if (entry.ranks[l] >= 0) continue;  // an id counts once per list
      entry.ranks[l] = static_cast<int>(position);
      entry.score += 1.0 / (static_cast<double>(position) + k);
    }
  }
  auto best_rank = [](const fused_entry& e) {
    int best = -1;
    for (int r : e.ranks)
      if (r >= 0 && (best < 0 || r < best)) best = r;
    return best;
  };
  std::stable_sort(out.begin(), out.end(), [&](const auto& a, const auto& b) {
    if (a.second.score != b.second.score) return a.second.score > b.second.score;
    const int ra = best_rank(a.second), rb = best_rank(b.second);
    if (ra != rb) return ra < rb;
    if (a.second.list != b.second.list) return a.second.list < b.second.list;
    return a.second.position < b.second.position;
  });
  return out;
}

book_searcher::book_searcher(const lexical_index& lexical, dense_retriever* dense)
    : lexical_(lexical), dense_(dense) {}

book_search_result book_searcher::search(const search_request& request, retrieval_mode mode,
                                         std::stop_token stop) {
  book_search_result result;
  result.snapshot = lexical_.snapshot();
  const index_snapshot& snapshot = *result.snapshot;
  if (mode == retrieval_mode::automatic) {
    mode = dense_ ? retrieval_mode::hybrid : retrieval_mode::lexical;
  }
  if (!dense_ && mode != retrieval_mode::lexical) {
    throw std::invalid_argument(
        "mode \"" + std::string(to_string(mode)) +
        "\" needs embeddings, and this server has none configured (--embeddings-url and "
        "--embeddings-model); use mode \"lexical\" or \"auto\"");
  }

  if (dense_ && dense_->store_serves_lexical()) return search_remote(request, mode, stop, result);

  // Candidates without snippets: only the hits that make the page get one, below. (The dense
  // search on a thread of its own, beside the lexical one, was slower on two busy cores: the
  // thread waits for a core.)
  search_request deep = request;
  deep.limit = candidate_depth(request.limit);
  deep.snippet_bytes = 0;
  std::vector<search_hit> lexical_hits;
  dense_retriever::query_outcome dense;
  if (mode != retrieval_mode::lexical) {
    dense =
        dense_->nearest(request.query, mode == retrieval_mode::dense ? request.limit : deep.limit,
                        request.path_prefix, stop);
    // When the dense candidates fail, the lexical list is all there is, at full depth.
    if (!dense.failure.empty()) {
      result.degraded = true;
      result.degraded_reason = dense.failure + "; answered from the lexical (BM25) index";
      mode = retrieval_mode::lexical;
    }
  }
  result.mode = mode;

  if (mode == retrieval_mode::lexical) {
    answer_from_local_index(request, result);
    return result;
  }

  auto describe = [&](const std::string& chunk_id) -> std::optional<search_hit> {
    auto position = snapshot.position_of(chunk_id);
    // A vector of a chunk the published snapshot no longer has (an indexing run between the
    // two searches): skipped.
    if (!position) return std::nullopt;
    return snapshot.describe(*position, request.query, request.snippet_bytes);
  };
  result.dense = true;
  if (mode == retrieval_mode::dense) {
    for (const auto& hit : dense.hits) {
      auto described = describe(hit.chunk_id);
      if (!described) continue;
      ranked_hit ranked;
      ranked.dense_rank = static_cast<int>(result.hits.size());
      ranked.dense_score = hit.score;
      ranked.hit = std::move(*described);
      ranked.hit.score = hit.score;
      result.hits.push_back(std::move(ranked));
    }
    return result;
  }

  result.lexical = true;
  lexical_hits = snapshot.search(deep);
  std::vector<std::vector<std::string>> lists(2);
  std::unordered_map<std::string, search_hit*> lexical_by_id;
  for (auto& hit : lexical_hits) {
    lists[0].push_back(hit.chunk_id);
    lexical_by_id.emplace(hit.chunk_id, &hit);
  }
  std::unordered_map<std::string, float> dense_scores;
  for (const auto& hit : dense.hits) {
    if (dense_scores.emplace(hit.chunk_id, hit.score).second) lists[1].push_back(hit.chunk_id);
  }
  for (auto& [id, entry] : reciprocal_rank_fusion(lists)) {
    if (result.hits.size() >= request.limit) break;
    ranked_hit ranked;
    ranked.lexical_rank = entry.ranks[0];
    ranked.dense_rank = entry.ranks[1];
    auto described = describe(id);
    if (!described) continue;
    ranked.hit = std::move(*described);
    if (auto found = lexical_by_id.find(id); found != lexical_by_id.end())
      ranked.lexical_score = found->second->score;
    if (auto found = dense_scores.find(id); found != dense_scores.end())
      ranked.dense_score = found->second;
    ranked.hit.score = entry.score;
    result.hits.push_back(std::move(ranked));
  }
  return result;
}

book_search_result book_searcher::search_remote(const search_request& request, retrieval_mode mode,
                                                std::stop_token stop, book_search_result& result) {
  // The store ranks (Qdrant: sparse BM25 with IDF, dense, or both fused with RRF); the local
  // snapshot, rebuilt from the registry, describes the hits. When the store or the embeddings
  // endpoint fails, the next best answers: the store's lexical search, then the local index.
  dense_retriever::query_outcome outcome;
  std::string problems;
  auto note = [&](const std::string& failure) {
    if (!problems.empty()) problems += "; ";
    problems += failure;
  };
  if (mode == retrieval_mode::hybrid) {
    outcome = dense_->hybrid(request.query, request.limit, candidate_depth(request.limit),
                             request.path_prefix, stop);
    if (outcome.failure.empty()) {
      result.lexical = result.dense = true;
    } else {
      note(outcome.failure);
      mode = retrieval_mode::lexical;
    }
  } else if (mode == retrieval_mode::dense) {
    outcome = dense_->nearest(request.query, request.limit, request.path_prefix, stop);
    if (outcome.failure.empty()) {
      result.dense = true;
    } else {
      note(outcome.failure);
      mode = retrieval_mode::lexical;
    }
  }
  if (mode == retrieval_mode::lexical) {
    outcome = dense_->lexical(request.query, request.limit, request.path_prefix);
    if (outcome.failure.empty()) {
      result.lexical = true;
    } else {
      note(outcome.failure);
      // Last resort: this replica's own BM25 index.
      result.degraded = true;
      result.degraded_reason = problems + "; answered from this server's local BM25 index";
      result.mode = retrieval_mode::lexical;
      answer_from_local_index(request, result);
      return result;
    }
  }
  if (!problems.empty()) {
    result.degraded = true;
    result.degraded_reason = problems + "; answered from the lexical (BM25) index";
  }
  result.mode = mode;
  for (const auto& hit : outcome.hits) {
    auto position = result.snapshot->position_of(hit.chunk_id);
    if (!position) continue;
    ranked_hit ranked;
    ranked.hit = result.snapshot->describe(*position, request.query, request.snippet_bytes);
    ranked.hit.score = hit.score;
    const int rank = static_cast<int>(result.hits.size());
    if (mode == retrieval_mode::lexical) {
      ranked.lexical_rank = rank;
      ranked.lexical_score = hit.score;
    } else if (mode == retrieval_mode::dense) {
      ranked.dense_rank = rank;
      ranked.dense_score = hit.score;
    }
    result.hits.push_back(std::move(ranked));
  }
  return result;
}

}  // namespace bookmcp::rag
