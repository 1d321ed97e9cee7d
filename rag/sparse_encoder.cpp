#include "rag/sparse_encoder.hpp"

#include <algorithm>
#include <map>

#include "rag/lexical_index.hpp"
#include "rag/tokenizer.hpp"

namespace bookmcp::rag {

namespace {

// Fixed average field lengths in terms (title, headings below the title, text): typical of a
// textbook's chunks under the default chunker.
constexpr float average_title = 4.0f;
constexpr float average_headings = 4.0f;
constexpr float average_text = 120.0f;

std::uint32_t term_id(std::string_view term) noexcept {
  std::uint32_t hash = 2166136261u;
  for (unsigned char c : term) {
    hash ^= c;
    hash *= 16777619u;
  }
  return hash;
}

tokenizer& thread_tokenizer() {
  thread_local tokenizer instance;
  return instance;
}

}  // namespace

sparse_vector sparse_document_vector(const store::stored_chunk& chunk) {
  const bm25_parameters p;
  struct counts {
    float title = 0, headings = 0, text = 0;
  };
  std::map<std::uint32_t, counts> terms;
  std::vector<std::string> buffer;
  auto count = [&](std::string_view text, float counts::*field) {
    buffer.clear();
    thread_tokenizer().append_terms(text, buffer);
    for (const auto& term : buffer) terms[term_id(term)].*field += 1;
    return static_cast<float>(buffer.size());
  };
  const float title_length = count(chunk.title, &counts::title);
  float heading_length = 0;
  for (std::size_t i = 1; i < chunk.heading_path.size(); ++i)
    heading_length += count(chunk.heading_path[i], &counts::headings);
  const float text_length = count(chunk.text, &counts::text);
  const float title_norm = 1 - p.title_b + p.title_b * title_length / average_title;
  const float heading_norm = 1 - p.heading_b + p.heading_b * heading_length / average_headings;
  const float text_norm = 1 - p.b + p.b * text_length / average_text;

  sparse_vector out;
  out.indices.reserve(terms.size());
  out.values.reserve(terms.size());
  for (const auto& [id, c] : terms) {
    const float tf = p.title_weight * c.title / title_norm +
                     p.heading_weight * c.headings / heading_norm +
                     p.body_weight * c.text / text_norm;
    out.indices.push_back(id);
    out.values.push_back(tf * (p.k1 + 1) / (p.k1 + tf));
  }
  return out;
}

sparse_vector sparse_query_vector(std::string_view query) {
  std::vector<std::string> terms;
  thread_tokenizer().append_terms(query, terms);
  std::vector<std::uint32_t> ids;
  for (const auto& term : terms) ids.push_back(term_id(term));
  std::sort(ids.begin(), ids.end());
  ids.erase(std::unique(ids.begin(), ids.end()), ids.end());
  sparse_vector out;
  out.indices = std::move(ids);
  out.values.assign(out.indices.size(), 1.0f);
  return out;
}

}  // namespace bookmcp::rag
