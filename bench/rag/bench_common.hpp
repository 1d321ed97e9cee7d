#pragma once
// Small helpers shared by the retrieval benchmarks: timing, percentiles, the reader questions
// and the book's chunks.

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "rag/indexer.hpp"
#include "tests/testing/in_memory_document_registry.hpp"

namespace bookmcp::bench {

using clock_type = std::chrono::steady_clock;

inline double ms_since(clock_type::time_point start) {
  return std::chrono::duration<double, std::milli>(clock_type::now() - start).count();
}

inline double percentile(std::vector<double> values, double p) {
  if (values.empty()) return 0;
  std::sort(values.begin(), values.end());
  auto index = static_cast<std::size_t>(p * static_cast<double>(values.size() - 1) + 0.5);
  return values[std::min(index, values.size() - 1)];
}

inline double median(std::vector<double> values) {
  return percentile(std::move(values), 0.5);
}

struct question {
  std::string text;
  std::string document;  // the expected document path
};

inline std::vector<question> load_questions(const std::filesystem::path& file) {
  std::vector<question> out;
  std::ifstream in(file);
  for (const auto& q : nlohmann::json::parse(in))
    out.push_back({q.at("question"), q.at("document")});
  return out;
}

// Every chunk of the book under `root`, indexed as the server indexes it.
inline std::vector<store::stored_chunk> book_chunks(const std::filesystem::path& root) {
  testing::in_memory_document_registry registry;
  rag::lexical_index index;
  rag::indexer_options options;
  options.roots = {std::filesystem::canonical(root)};
  rag::indexer indexer(registry, index, options);
  indexer.index_all();
  return registry.all_chunks();
}

}  // namespace bookmcp::bench
