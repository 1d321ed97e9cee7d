// Benchmark for rag/: indexing throughput on the shared corpus, search latency at 1k/10k/100k
// chunks (the corpus replicated with perturbed paths and words), snapshot save/load, an unchanged
// re-index with the SQLite registry (as the server runs it), and the
// same queries through SQLite FTS5 (bm25() ranking, porter tokenizer) on the same chunks.
//
// Usage: bookmcp_rag_bench [corpus-dir] [--runs N]

#include <sqlite3.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <functional>
#include <iostream>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "rag/docusaurus.hpp"
#include "rag/indexer.hpp"
#include "rag/tokenizer.hpp"
#include "store/database.hpp"
#include "tests/testing/in_memory_document_registry.hpp"

namespace {

using clock_type = std::chrono::steady_clock;
namespace rag = bookmcp::rag;
namespace fs = std::filesystem;

double ms_since(clock_type::time_point start) {
  return std::chrono::duration<double, std::milli>(clock_type::now() - start).count();
}

double median(std::vector<double> values) {
  std::sort(values.begin(), values.end());
  return values.empty() ? 0 : values[values.size() / 2];
}

double percentile(std::vector<double> values, double p) {
  std::sort(values.begin(), values.end());
  if (values.empty()) return 0;
  auto index = static_cast<std::size_t>(p * static_cast<double>(values.size() - 1) + 0.5);
  return values[std::min(index, values.size() - 1)];
}

// Copy `copy` of a chunk: another path, and one word in seven given a copy-specific suffix so
// that the vocabulary and posting lists grow like a bigger book's rather than repeat exactly.
bookmcp::store::stored_chunk perturb(const bookmcp::store::stored_chunk& chunk, int copy) {
  bookmcp::store::stored_chunk out = chunk;
  if (copy == 0) return out;
  const std::string tag = "v" + std::to_string(copy % 97);
  out.document_path = "copy-" + std::to_string(copy) + "/" + chunk.document_path;
  out.id = chunk.id + "-" + std::to_string(copy);
  out.url = "/docs/copy-" + std::to_string(copy) + chunk.url.substr(5);
  std::string text;
  text.reserve(chunk.text.size() + 64);
  int word = 0;
  bool in_word = false;
  for (char c : chunk.text) {
    bool letter = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
    if (in_word && !letter && ++word % 7 == copy % 7) text += tag;
    in_word = letter;
    text.push_back(c);
  }
  out.text = std::move(text);
  return out;
}

std::vector<bookmcp::store::stored_chunk> scaled(
    const std::vector<bookmcp::store::stored_chunk>& base, std::size_t count) {
  std::vector<bookmcp::store::stored_chunk> out;
  out.reserve(count);
  for (int copy = 0; out.size() < count; ++copy) {
    for (const auto& chunk : base) {
      if (out.size() == count) break;
      out.push_back(perturb(chunk, copy));
    }
  }
  return out;
}

struct latency {
  double median_ms = 0;
  double p99_ms = 0;
};

latency time_queries(const std::vector<std::string>& queries, int repeats,
                     const std::function<void(const std::string&)>& run) {
  for (const auto& query : queries) run(query);  // warm-up
  std::vector<double> samples;
  for (int r = 0; r < repeats; ++r) {
    for (const auto& query : queries) {
      auto start = clock_type::now();
      run(query);
      samples.push_back(ms_since(start));
    }
  }
  return {median(samples), percentile(samples, 0.99)};
}

class fts5_peer {
 public:
  explicit fts5_peer(const std::vector<bookmcp::store::stored_chunk>& chunks) {
    sqlite3_open(":memory:", &db_);
    exec(
        "CREATE VIRTUAL TABLE chunks USING fts5(title, headings, body, "
        "tokenize='porter unicode61')");
    exec("BEGIN");
    sqlite3_stmt* insert = nullptr;
    sqlite3_prepare_v2(db_, "INSERT INTO chunks(rowid, title, headings, body) VALUES(?,?,?,?)", -1,
                       &insert, nullptr);
    for (std::size_t i = 0; i < chunks.size(); ++i) {
      std::string headings;
      for (std::size_t h = 1; h < chunks[i].heading_path.size(); ++h) {
        headings += chunks[i].heading_path[h] + "\n";
      }
      sqlite3_bind_int64(insert, 1, static_cast<sqlite3_int64>(i));
      sqlite3_bind_text(insert, 2, chunks[i].title.c_str(), -1, SQLITE_TRANSIENT);
      sqlite3_bind_text(insert, 3, headings.c_str(), -1, SQLITE_TRANSIENT);
      sqlite3_bind_text(insert, 4, chunks[i].text.c_str(), -1, SQLITE_TRANSIENT);
      sqlite3_step(insert);
      sqlite3_reset(insert);
    }
    sqlite3_finalize(insert);
    exec("COMMIT");
    sqlite3_prepare_v2(db_,
                       "SELECT rowid, bm25(chunks, 2.0, 3.0, 1.0), "
                       "snippet(chunks, 2, '**', '**', '…', 32) FROM chunks "
                       "WHERE chunks MATCH ? ORDER BY bm25(chunks, 2.0, 3.0, 1.0) LIMIT 10",
                       -1, &query_, nullptr);
  }
  ~fts5_peer() {
    sqlite3_finalize(query_);
    sqlite3_close(db_);
  }

  // The question as an OR of its words (FTS5 has no "natural language" mode).
  static std::string to_match(const std::string& question) {
    std::string match, word;
    auto flush = [&] {
      for (auto& c : word) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
      if (!word.empty() && !rag::tokenizer::is_stop_word(word)) {
        if (!match.empty()) match += " OR ";
        match += "\"" + word + "\"";
      }
      word.clear();
    };
    for (char c : question) {
      if (std::isalnum(static_cast<unsigned char>(c))) {
        word.push_back(c);
      } else {
        flush();
      }
    }
    flush();
    return match;
  }

  std::size_t search(const std::string& match) {
    sqlite3_bind_text(query_, 1, match.c_str(), -1, SQLITE_TRANSIENT);
    std::size_t rows = 0;
    while (sqlite3_step(query_) == SQLITE_ROW) ++rows;
    sqlite3_reset(query_);
    return rows;
  }

 private:
  void exec(const char* sql) { sqlite3_exec(db_, sql, nullptr, nullptr, nullptr); }
  sqlite3* db_ = nullptr;
  sqlite3_stmt* query_ = nullptr;
};

}  // namespace

int main(int argc, char** argv) {
  fs::path corpus = BOOKMCP_PHYSICAL_AI_BOOK_DIR;
  int runs = 5;
  for (int i = 1; i < argc; ++i) {
    std::string arg = argv[i];
    if (arg == "--runs" && i + 1 < argc) {
      runs = std::max(1, std::atoi(argv[++i]));
    } else {
      corpus = arg;
    }
  }
  if (!fs::is_directory(corpus)) {
    std::cerr << "corpus not found: " << corpus << "\n";
    return 1;
  }
  std::vector<std::string> queries;
  {
    std::ifstream in(BOOKMCP_RETRIEVAL_QUESTIONS);
    for (const auto& q : nlohmann::json::parse(in)) queries.push_back(q.at("question"));
  }

  // 1. Whole-corpus indexing: walk, read, hash, parse, chunk, registry, BM25 publish.
  std::uintmax_t corpus_bytes = 0;
  for (const auto& entry : fs::recursive_directory_iterator(corpus)) {
    if (entry.is_regular_file() && rag::is_markdown_file(entry.path()))
      corpus_bytes += entry.file_size();
  }
  std::vector<double> index_ms;
  std::vector<bookmcp::store::stored_chunk> base;
  for (int run = 0; run < runs; ++run) {
    bookmcp::testing::in_memory_document_registry registry;
    rag::lexical_index index;
    rag::indexer_options options;
    options.roots = {corpus};
    rag::indexer pipeline(registry, index, options);
    auto start = clock_type::now();
    pipeline.index(corpus.string());
    index_ms.push_back(ms_since(start));
    if (run == 0) base = registry.all_chunks();
  }
  const double index_median = median(index_ms);
  std::printf("corpus: %s\n  %zu chunks from %.1f KB of Markdown\n", corpus.c_str(), base.size(),
              static_cast<double>(corpus_bytes) / 1024.0);
  std::printf("indexing (whole corpus, median of %d): %.1f ms = %.1f MB/s\n", runs, index_median,
              static_cast<double>(corpus_bytes) / 1e6 / (index_median / 1000.0));

  // 2. Unchanged re-index as the server does it: SQLite registry and snapshot file in a data
  // folder, every file read and hashed, nothing changed (target: under 50 ms).
  {
    const fs::path data = fs::temp_directory_path() / ("bookmcp-rag-bench-" + std::to_string(::getpid()));
    fs::remove_all(data);
    auto database = bookmcp::store::open_sqlite({.data_dir = data});
    rag::lexical_index index;
    rag::indexer_options options;
    options.roots = {corpus};
    options.snapshot_file = data / "bm25.index";
    rag::indexer pipeline(database->documents(), index, options);
    pipeline.open();
    auto start = clock_type::now();
    pipeline.index(corpus.string());
    const double first_ms = ms_since(start);
    std::vector<double> again_ms;
    std::size_t unchanged = 0;
    for (int run = 0; run < std::max(runs, 5); ++run) {
      start = clock_type::now();
      unchanged = pipeline.index(corpus.string()).unchanged;
      again_ms.push_back(ms_since(start));
    }
    std::printf(
        "re-index, SQLite registry + snapshot file: first %.1f ms; unchanged (%zu files) median "
        "%.1f ms, min %.1f ms, max %.1f ms over %zu runs (target < 50 ms)\n\n",
        first_ms, unchanged, median(again_ms), *std::min_element(again_ms.begin(), again_ms.end()),
        *std::max_element(again_ms.begin(), again_ms.end()), again_ms.size());
    database.reset();
    fs::remove_all(data);
  }

  std::printf("%-8s %10s %10s %10s %10s %10s %10s %8s\n", "chunks", "build ms", "rag med",
              "rag p99", "fts5 med", "fts5 p99", "fts5 build", "ratio");
  for (std::size_t count : {std::size_t{1000}, std::size_t{10000}, std::size_t{100000}}) {
    std::vector<bookmcp::store::stored_chunk> chunks = scaled(base, count);
    std::vector<double> build, rag_median, rag_p99, fts_median, fts_p99, fts_build;
    for (int run = 0; run < std::max(1, runs / 2 + 1); ++run) {
      rag::lexical_index index;
      auto start = clock_type::now();
      index.rebuild(chunks, 1);
      build.push_back(ms_since(start));
      latency ours = time_queries(queries, 10, [&](const std::string& q) {
        auto hits = index.search({q, 10, ""});
        if (hits.empty()) std::abort();
      });
      rag_median.push_back(ours.median_ms);
      rag_p99.push_back(ours.p99_ms);

      start = clock_type::now();
      fts5_peer peer(chunks);
      fts_build.push_back(ms_since(start));
      std::vector<std::string> matches;
      for (const auto& q : queries) matches.push_back(fts5_peer::to_match(q));
      latency theirs = time_queries(matches, 10, [&](const std::string& m) { peer.search(m); });
      fts_median.push_back(theirs.median_ms);
      fts_p99.push_back(theirs.p99_ms);

      if (count == 100000 && run == 0) {
        fs::path file = fs::temp_directory_path() / "bookmcp-rag-bench.index";
        auto save_start = clock_type::now();
        index.save(file);
        double save_ms = ms_since(save_start);
        rag::lexical_index loaded;
        auto load_start = clock_type::now();
        bool ok = loaded.load(file, 1);
        double load_ms = ms_since(load_start);
        std::printf("  (100k snapshot: %.1f MB, save %.0f ms, load %.0f ms%s)\n",
                    static_cast<double>(fs::file_size(file)) / 1e6, save_ms, load_ms,
                    ok ? "" : " FAILED");
        fs::remove(file);
      }
    }
    std::printf("%-8zu %10.1f %10.3f %10.3f %10.3f %10.3f %10.1f %7.1fx\n", count, median(build),
                median(rag_median), median(rag_p99), median(fts_median), median(fts_p99),
                median(fts_build), median(fts_median) / median(rag_median));
  }
  std::printf(
      "\nlatencies in ms per query (%zu reader questions x 10, limit 10, snippets on both "
      "sides); medians over runs; ratio = fts5 median / rag median\n",
      queries.size());
  return 0;
}
