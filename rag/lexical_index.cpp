#include "rag/lexical_index.hpp"

#include <algorithm>
#include <array>
#include <bit>
#include <cerrno>
#include <cmath>
#include <cstring>
#include <fstream>
#include <stdexcept>

#include "rag/binary_file.hpp"
#include "rag/text.hpp"
#include "rag/tokenizer.hpp"

namespace bookmcp::rag {

enum field : std::size_t { title_field = 0, heading_field = 1, body_field = 2, field_count = 3 };

struct term_frequency {
  std::uint32_t term = 0;  // id in the writer's dictionary
  std::array<std::uint16_t, field_count> tf{};
};

struct indexed_chunk {
  store::stored_chunk chunk;
  std::array<std::uint32_t, field_count> length{};
  std::vector<term_frequency> terms;  // sorted by term id
};

namespace {

// Per-thread scratch space for search, reused across calls so that a search allocates
// nothing per posting.
struct search_scratch {
  std::vector<float> scores;
  std::vector<std::uint32_t> touched;
  std::vector<char> allowed_documents;
  std::vector<term_match> matches;  // make_snippet
};

search_scratch& scratch() {
  thread_local search_scratch instance;
  return instance;
}

tokenizer& thread_tokenizer() {
  thread_local tokenizer instance;
  return instance;
}

// A hit's citation fields (everything but score and snippet).
search_hit citation_of(const store::stored_chunk& chunk) {
  search_hit hit;
  hit.chunk_id = chunk.id;
  hit.document_path = chunk.document_path;
  hit.title = chunk.title;
  hit.heading_path = chunk.heading_path;
  hit.anchor = chunk.anchor;
  hit.url = chunk.url;
  return hit;
}

std::string_view normalize_prefix(std::string_view prefix) {
  while (prefix.starts_with("./")) prefix.remove_prefix(2);
  while (prefix.starts_with('/')) prefix.remove_prefix(1);
  return prefix;
}

bool matches_prefix(std::string_view path, std::string_view prefix) {
  if (!path.starts_with(prefix)) return false;
  if (path.size() == prefix.size() || prefix.ends_with('/')) return true;
  char next = path[prefix.size()];
  return next == '/' || next == '.';
}

bool is_space(char c) {
  return c == ' ' || c == '\n' || c == '\t' || c == '\r';
}

// Appends text with whitespace runs collapsed to one space (a run of other bytes at a time).
void append_collapsed(std::string& out, std::string_view text) {
  std::size_t i = 0;
  while (i < text.size()) {
    if (is_space(text[i])) {
      if (!out.empty() && out.back() != ' ') out.push_back(' ');
      ++i;
      continue;
    }
    std::size_t run_end = i + 1;
    while (run_end < text.size() && !is_space(text[run_end])) ++run_end;
    out.append(text.data() + i, run_end - i);
    i = run_end;
  }
}

std::string make_snippet(std::string_view text, const std::vector<std::string>& query_terms,
                         std::size_t window) {
  std::vector<term_match>& matches = scratch().matches;
  matches.clear();
  thread_tokenizer().find_terms(text, query_terms, matches);
  // The window holding the most distinct query terms, then the most matches.
  std::size_t best_first = 0, best_last = 0;
  int best_score = -1;
  for (std::size_t first = 0, last = 0; first < matches.size(); ++first) {
    if (last < first) last = first;
    while (last + 1 < matches.size() && matches[last + 1].end - matches[first].begin <= window) {
      ++last;
    }
    std::uint64_t seen = 0;
    int count = 0;
    for (std::size_t i = first; i <= last; ++i) {
      seen |= 1ULL << (matches[i].term % 64);
      ++count;
    }
    int score = std::popcount(seen) * 1000 + count;
    if (score > best_score) {
      best_score = score;
      best_first = first;
      best_last = last;
    }
  }
  std::size_t begin = 0;
  if (!matches.empty()) {
    std::size_t span_begin = matches[best_first].begin;
    std::size_t span_end = matches[best_last].end;
    std::size_t slack = window > span_end - span_begin ? window - (span_end - span_begin) : 0;
    begin = span_begin > slack / 3 ? span_begin - slack / 3 : 0;
  }
  std::size_t end = std::min(text.size(), begin + window);
  if (end - begin < window && begin > 0) begin = end > window ? end - window : 0;
  // Move to word boundaries, never inside a UTF-8 sequence.
  if (begin > 0) {
    std::size_t limit = std::min(text.size(), begin + 24);
    std::size_t i = begin;
    while (i < limit && !is_space(text[i - 1])) ++i;
    if (i < limit) begin = i;
    while (begin < text.size() && (static_cast<unsigned char>(text[begin]) & 0xC0) == 0x80) {
      ++begin;
    }
  }
  if (end < text.size()) {
    std::size_t i = end;
    while (i > begin + window / 2 && !is_space(text[i])) --i;
    if (i > begin + window / 2) end = i;
    while (end > begin && (static_cast<unsigned char>(text[end]) & 0xC0) == 0x80) --end;
  }
  std::string out;
  out.reserve(end - begin + 32);
  if (begin > 0) out += "\u2026 ";
  std::size_t cursor = begin;
  for (const term_match& match : matches) {
    if (match.begin < cursor || match.end > end) continue;
    append_collapsed(out, text.substr(cursor, match.begin - cursor));
    out += "**";
    out.append(text.substr(match.begin, match.end - match.begin));
    out += "**";
    cursor = match.end;
  }
  append_collapsed(out, text.substr(cursor, end - cursor));
  while (!out.empty() && out.back() == ' ') out.pop_back();
  if (end < text.size()) out += " \u2026";
  return out;
}

// --- binary file helpers -------------------------------------------------------------------

constexpr char file_magic[8] = {'B', 'K', 'M', 'C', 'P', 'I', 'X', '1'};
// Also the tokenizer's version: a saved index holds its terms, so a file of another version is
// not loaded and the index is rebuilt from the registry (2: CJK runs as character pairs).
constexpr std::uint32_t file_format_version = 2;

using writer = binary_writer;
using reader = binary_reader;

}  // namespace

// --- index_snapshot ----------------------------------------------------------------------------

const store::stored_chunk* index_snapshot::find_chunk(std::string_view chunk_id) const {
  auto position = position_of(chunk_id);
  return position ? &chunks_[*position]->chunk : nullptr;
}

std::optional<std::size_t> index_snapshot::position_of(std::string_view chunk_id) const {
  auto found = chunk_positions_.find(chunk_id);
  if (found == chunk_positions_.end()) return std::nullopt;
  return found->second;
}

std::vector<search_hit> index_snapshot::search(const search_request& request) const {
  std::vector<search_hit> hits;
  if (request.limit == 0 || chunks_.empty()) return hits;

  std::vector<std::string> query_terms;
  thread_tokenizer().append_terms(request.query, query_terms);
  std::sort(query_terms.begin(), query_terms.end());
  query_terms.erase(std::unique(query_terms.begin(), query_terms.end()), query_terms.end());

  search_scratch& s = scratch();
  if (s.scores.size() < chunks_.size()) {
    s.scores.assign(chunks_.size(), 0.0f);
    s.touched.reserve(chunks_.size());
  }
  s.touched.clear();
  float* scores = s.scores.data();
  for (const auto& term : query_terms) {
    auto found = term_index_.find(term);
    if (found == term_index_.end()) continue;
    const std::uint32_t t = found->second;
    const float idf = idf_[t];
    const std::uint32_t begin = posting_offsets_[t], end = posting_offsets_[t + 1];
    const std::uint32_t* chunk_ids = posting_chunks_.data();
    const float* weights = posting_weights_.data();
    for (std::uint32_t i = begin; i < end; ++i) {
      const std::uint32_t chunk = chunk_ids[i];
      if (scores[chunk] == 0.0f) s.touched.push_back(chunk);
      scores[chunk] += idf * weights[i];
    }
  }

  std::string_view prefix = normalize_prefix(request.path_prefix);
  const bool filtered = !prefix.empty();
  if (filtered) {
    s.allowed_documents.assign(documents_.size(), 0);
    auto first = std::lower_bound(documents_.begin(), documents_.end(), prefix);
    for (auto it = first; it != documents_.end() && it->starts_with(prefix); ++it) {
      if (matches_prefix(*it, prefix))
        s.allowed_documents[static_cast<std::size_t>(it - documents_.begin())] = 1;
    }
  }

  // Min-heap of the best `limit` (score, chunk) pairs; worse = lower score, then later chunk.
  using entry = std::pair<float, std::uint32_t>;
  auto better = [](const entry& a, const entry& b) {
    return a.first > b.first || (a.first == b.first && a.second < b.second);
  };
  std::vector<entry> heap;
  heap.reserve(std::min(request.limit, s.touched.size()) + 1);
  for (std::uint32_t chunk : s.touched) {
    const float score = scores[chunk];
    scores[chunk] = 0.0f;
    if (filtered && !s.allowed_documents[chunk_document_[chunk]]) continue;
    entry candidate{score, chunk};
    if (heap.size() < request.limit) {
      heap.push_back(candidate);
      std::push_heap(heap.begin(), heap.end(), better);
    } else if (better(candidate, heap.front())) {
      std::pop_heap(heap.begin(), heap.end(), better);
      heap.back() = candidate;
      std::push_heap(heap.begin(), heap.end(), better);
    }
  }
  s.touched.clear();
  std::sort_heap(heap.begin(), heap.end(), better);

  hits.reserve(heap.size());
  for (const auto& [score, chunk_index] : heap) {
    const store::stored_chunk& chunk = chunks_[chunk_index]->chunk;
    search_hit hit = citation_of(chunk);
    hit.score = score;
    if (request.snippet_bytes > 0) {
      hit.snippet =
          make_snippet(chunk.text, query_terms, std::max<std::size_t>(request.snippet_bytes, 40));
    }
    hits.push_back(std::move(hit));
  }
  return hits;
}

const store::stored_chunk& index_snapshot::chunk(std::size_t i) const noexcept {
  return chunks_[i]->chunk;
}

search_hit index_snapshot::describe(std::size_t i, std::string_view query,
                                    std::size_t snippet_bytes) const {
  std::vector<std::string> query_terms;
  thread_tokenizer().append_terms(query, query_terms);
  std::sort(query_terms.begin(), query_terms.end());
  query_terms.erase(std::unique(query_terms.begin(), query_terms.end()), query_terms.end());
  const store::stored_chunk& source = chunks_[i]->chunk;
  search_hit hit = citation_of(source);
  hit.snippet = make_snippet(source.text, query_terms, std::max<std::size_t>(snippet_bytes, 40));
  return hit;
}

// --- lexical_index -------------------------------------------------------------------------

lexical_index::lexical_index(bm25_parameters parameters) : parameters_(parameters) {
  auto empty = std::make_shared<index_snapshot>();
  empty->parameters_ = parameters_;
  empty->posting_offsets_.push_back(0);
  current_.store(std::move(empty));
}

lexical_index::~lexical_index() = default;

std::shared_ptr<const index_snapshot> lexical_index::snapshot() const {
  return current_.load();
}

std::vector<search_hit> lexical_index::search(const search_request& request) const {
  return snapshot()->search(request);
}

std::shared_ptr<const indexed_chunk> lexical_index::make_indexed_chunk(
    const store::stored_chunk& chunk) {
  auto result = std::make_shared<indexed_chunk>();
  result->chunk = chunk;
  tokenizer& words = thread_tokenizer();
  // Dense per-term counters (indexed by term id) plus the list of terms touched: no
  // allocation per distinct term, and reset costs only what was used.
  std::vector<std::uint32_t> touched;
  std::vector<std::string> terms;
  auto add_field = [&](std::string_view text, field f) {
    terms.clear();
    words.append_terms(text, terms);
    result->length[f] += static_cast<std::uint32_t>(terms.size());
    for (auto& term : terms) {
      auto [it, inserted] = term_ids_.try_emplace(term, static_cast<std::uint32_t>(terms_.size()));
      if (inserted) terms_.push_back(term);
      if (term_counts_.size() <= it->second) term_counts_.resize(terms_.size() + 1024);
      auto& counts = term_counts_[it->second];
      if (counts == std::array<std::uint16_t, field_count>{}) touched.push_back(it->second);
      if (counts[f] < UINT16_MAX) ++counts[f];
    }
  };
  add_field(chunk.title, title_field);
  for (std::size_t i = 1; i < chunk.heading_path.size(); ++i) {
    add_field(chunk.heading_path[i], heading_field);
  }
  add_field(chunk.text, body_field);
  std::sort(touched.begin(), touched.end());
  result->terms.reserve(touched.size());
  for (std::uint32_t term : touched) {
    result->terms.push_back({term, term_counts_[term]});
    term_counts_[term] = {};
  }
  return result;
}

void lexical_index::replace_document(std::string_view document_path,
                                     const std::vector<store::stored_chunk>& chunks) {
  std::lock_guard lock(writer_mutex_);
  staged_changes_ = true;
  if (chunks.empty()) {
    if (auto it = documents_.find(document_path); it != documents_.end()) documents_.erase(it);
    return;
  }
  std::vector<std::shared_ptr<const indexed_chunk>> indexed;
  indexed.reserve(chunks.size());
  for (const auto& chunk : chunks) {
    if (chunk.document_path != document_path) {
      throw std::invalid_argument("chunk " + chunk.id + " belongs to " + chunk.document_path +
                                  ", not " + std::string(document_path));
    }
    indexed.push_back(make_indexed_chunk(chunk));
  }
  std::stable_sort(indexed.begin(), indexed.end(), [](const auto& a, const auto& b) {
    return a->chunk.position < b->chunk.position;
  });
  documents_.insert_or_assign(std::string(document_path), std::move(indexed));
}

void lexical_index::remove_document(std::string_view document_path) {
  replace_document(document_path, {});
}

bool lexical_index::holds_exactly(
    const std::map<std::string, std::vector<std::string>, std::less<>>& documents) const {
  std::lock_guard lock(writer_mutex_);
  auto expected = documents.begin();
  for (const auto& [path, chunks] : documents_) {
    while (expected != documents.end() && expected->second.empty()) ++expected;
    if (expected == documents.end() || expected->first != path ||
        expected->second.size() != chunks.size())
      return false;
    for (std::size_t i = 0; i < chunks.size(); ++i) {
      if (chunks[i]->chunk.id != expected->second[i]) return false;
    }
    ++expected;
  }
  while (expected != documents.end() && expected->second.empty()) ++expected;
  return expected == documents.end();
}

void lexical_index::publish(std::int64_t generation) {
  std::lock_guard lock(writer_mutex_);
  auto next = std::make_shared<index_snapshot>();
  next->generation_ = generation;
  next->parameters_ = parameters_;

  std::array<double, field_count> total_length{};
  for (const auto& [path, chunks] : documents_) {
    next->documents_.push_back(path);
    for (const auto& chunk : chunks) {
      next->chunks_.push_back(chunk);
      next->chunk_document_.push_back(static_cast<std::uint32_t>(next->documents_.size() - 1));
      for (std::size_t f = 0; f < field_count; ++f) total_length[f] += chunk->length[f];
    }
  }
  const std::size_t chunk_total = next->chunks_.size();
  next->chunk_positions_.reserve(chunk_total);
  for (std::size_t i = 0; i < chunk_total; ++i)
    next->chunk_positions_.emplace(next->chunks_[i]->chunk.id, static_cast<std::uint32_t>(i));

  // Per-term posting counts over the writer's dictionary; live terms get dense ids.
  std::vector<std::uint32_t> counts(terms_.size(), 0);
  for (const auto& chunk : next->chunks_) {
    for (const auto& tf : chunk->terms) ++counts[tf.term];
  }
  std::vector<std::uint32_t> dense(terms_.size(), UINT32_MAX);
  std::uint32_t live_terms = 0;
  next->posting_offsets_.push_back(0);
  for (std::size_t t = 0; t < terms_.size(); ++t) {
    if (counts[t] == 0) continue;
    dense[t] = live_terms++;
    next->term_index_.emplace(terms_[t], dense[t]);
    next->posting_offsets_.push_back(next->posting_offsets_.back() + counts[t]);
    const double n = counts[t];
    next->idf_.push_back(static_cast<float>(std::log(1.0 + (chunk_total - n + 0.5) / (n + 0.5))));
  }
  const std::uint32_t posting_total = next->posting_offsets_.back();
  next->posting_chunks_.resize(posting_total);
  next->posting_weights_.resize(posting_total);

  const std::array<float, field_count> weights{parameters_.title_weight, parameters_.heading_weight,
                                               parameters_.body_weight};
  std::array<double, field_count> average{};
  for (std::size_t f = 0; f < field_count; ++f) {
    average[f] = chunk_total ? total_length[f] / static_cast<double>(chunk_total) : 0.0;
  }
  std::vector<std::uint32_t> cursor(next->posting_offsets_.begin(),
                                    next->posting_offsets_.end() - 1);
  const float k1 = parameters_.k1;
  const std::array<double, field_count> b{parameters_.title_b, parameters_.heading_b,
                                          parameters_.b};
  for (std::uint32_t c = 0; c < chunk_total; ++c) {
    const indexed_chunk& chunk = *next->chunks_[c];
    std::array<float, field_count> field_factor{};
    for (std::size_t f = 0; f < field_count; ++f) {
      double relative = average[f] > 0 ? chunk.length[f] / average[f] : 0.0;
      field_factor[f] = static_cast<float>(weights[f] / (1.0 - b[f] + b[f] * relative));
    }
    for (const auto& tf : chunk.terms) {
      float pseudo_tf = 0;
      for (std::size_t f = 0; f < field_count; ++f) pseudo_tf += tf.tf[f] * field_factor[f];
      const std::uint32_t slot = cursor[dense[tf.term]]++;
      next->posting_chunks_[slot] = c;
      next->posting_weights_[slot] = pseudo_tf * (k1 + 1.0f) / (k1 + pseudo_tf);
    }
  }
  staged_changes_ = false;
  current_.store(std::shared_ptr<const index_snapshot>(std::move(next)));
}

void lexical_index::rebuild(const std::vector<store::stored_chunk>& chunks,
                            std::int64_t generation) {
  {
    std::lock_guard lock(writer_mutex_);
    documents_.clear();
    term_ids_.clear();
    terms_.clear();
    for (const auto& chunk : chunks) {
      documents_[chunk.document_path].push_back(make_indexed_chunk(chunk));
    }
    for (auto& [path, list] : documents_) {
      std::stable_sort(list.begin(), list.end(), [](const auto& a, const auto& b) {
        return a->chunk.position < b->chunk.position;
      });
    }
    staged_changes_ = true;
  }
  publish(generation);
}

void lexical_index::save(const std::filesystem::path& file) const {
  std::shared_ptr<const index_snapshot> published;
  writer out;
  {
    std::lock_guard lock(writer_mutex_);
    if (staged_changes_) throw std::logic_error("lexical_index::save with unpublished changes");
    published = current_.load();
    // Only terms used by live chunks, renumbered densely.
    std::vector<std::uint32_t> remap(terms_.size(), UINT32_MAX);
    std::vector<std::uint32_t> used;
    for (const auto& chunk : published->chunks_) {
      for (const auto& tf : chunk->terms) {
        if (remap[tf.term] == UINT32_MAX) {
          remap[tf.term] = static_cast<std::uint32_t>(used.size());
          used.push_back(tf.term);
        }
      }
    }
    out.bytes(file_magic, sizeof file_magic);
    out.value(file_format_version);
    out.value(published->generation_);
    out.value(parameters_.k1);
    out.value(parameters_.b);
    out.value(parameters_.title_b);
    out.value(parameters_.heading_b);
    out.value(parameters_.title_weight);
    out.value(parameters_.heading_weight);
    out.value(parameters_.body_weight);
    out.value(static_cast<std::uint32_t>(used.size()));
    for (std::uint32_t term : used) out.string(terms_[term]);
    out.value(static_cast<std::uint32_t>(published->chunks_.size()));
    for (const auto& indexed : published->chunks_) {
      const store::stored_chunk& chunk = indexed->chunk;
      out.string(chunk.id);
      out.string(chunk.document_path);
      out.string(chunk.anchor);
      out.string(chunk.url);
      out.string(chunk.title);
      out.string(chunk.text);
      out.value(static_cast<std::int32_t>(chunk.position));
      out.value(static_cast<std::uint32_t>(chunk.heading_path.size()));
      for (const auto& heading : chunk.heading_path) out.string(heading);
      for (std::uint32_t length : indexed->length) out.value(length);
      out.value(static_cast<std::uint32_t>(indexed->terms.size()));
      for (const auto& tf : indexed->terms) {
        out.value(remap[tf.term]);
        out.bytes(tf.tf.data(), sizeof tf.tf);
      }
    }
  }
  std::uint64_t checksum = file_checksum(out.buffer());
  out.value(checksum);
  write_file_atomically(file, out.buffer());
}

bool lexical_index::load(const std::filesystem::path& file, std::int64_t expected_generation) {
  std::string content;
  {
    std::ifstream in(file, std::ios::binary);
    if (!in) return false;
    in.seekg(0, std::ios::end);
    auto size = in.tellg();
    if (size < 0) return false;
    content.resize(static_cast<std::size_t>(size));
    in.seekg(0);
    if (!in.read(content.data(), static_cast<std::streamsize>(content.size()))) return false;
  }
  if (content.size() < sizeof file_magic + sizeof(std::uint64_t)) return false;
  std::uint64_t stored_checksum = 0;
  std::memcpy(&stored_checksum, content.data() + content.size() - sizeof stored_checksum,
              sizeof stored_checksum);
  std::string_view body(content.data(), content.size() - sizeof stored_checksum);
  if (std::memcmp(body.data(), file_magic, sizeof file_magic) != 0) return false;

  try {
    reader in(body.substr(sizeof file_magic));
    if (in.value<std::uint32_t>() != file_format_version) return false;
    if (in.value<std::int64_t>() != expected_generation) return false;
    bm25_parameters stored;
    stored.k1 = in.value<float>();
    stored.b = in.value<float>();
    stored.title_b = in.value<float>();
    stored.heading_b = in.value<float>();
    stored.title_weight = in.value<float>();
    stored.heading_weight = in.value<float>();
    stored.body_weight = in.value<float>();
    if (!(stored == parameters_)) return false;
    if (file_checksum(body) != stored_checksum) return false;

    std::vector<std::string> terms(in.value<std::uint32_t>());
    for (auto& term : terms) term = in.string();
    std::map<std::string, std::vector<std::shared_ptr<const indexed_chunk>>, std::less<>> documents;
    auto chunk_total = in.value<std::uint32_t>();
    for (std::uint32_t i = 0; i < chunk_total; ++i) {
      auto indexed = std::make_shared<indexed_chunk>();
      store::stored_chunk& chunk = indexed->chunk;
      chunk.id = in.string();
      chunk.document_path = in.string();
      chunk.anchor = in.string();
      chunk.url = in.string();
      chunk.title = in.string();
      chunk.text = in.string();
      chunk.position = in.value<std::int32_t>();
      chunk.heading_path.resize(in.value<std::uint32_t>());
      for (auto& heading : chunk.heading_path) heading = in.string();
      for (auto& length : indexed->length) length = in.value<std::uint32_t>();
      indexed->terms.resize(in.value<std::uint32_t>());
      for (auto& tf : indexed->terms) {
        tf.term = in.value<std::uint32_t>();
        if (tf.term >= terms.size()) return false;
        in.bytes(tf.tf.data(), sizeof tf.tf);
      }
      documents[chunk.document_path].push_back(std::move(indexed));
    }
    if (!in.at_end()) return false;

    {
      std::lock_guard lock(writer_mutex_);
      term_ids_.clear();
      term_ids_.reserve(terms.size());
      for (std::uint32_t t = 0; t < terms.size(); ++t) term_ids_.emplace(terms[t], t);
      terms_ = std::move(terms);
      documents_ = std::move(documents);
      staged_changes_ = true;
    }
    publish(expected_generation);
    return true;
  } catch (const std::exception&) {
    return false;
  }
}

}  // namespace bookmcp::rag
