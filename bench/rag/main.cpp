// Benchmark for rag/: indexing throughput on the shared corpus, search latency at 1k/10k/100k
// chunks (the corpus replicated with perturbed paths and words), snapshot save/load, an unchanged
// re-index with the SQLite registry (as the server runs it), and the same queries on the same
// chunks through two peers: SQLite FTS5 (bm25() ranking, porter tokenizer) and Xapian
// (BM25Weight, English stemmer; see xapian_peer.hpp). Each engine also reports its hit rate: the
// share of reader questions whose document is in its top 5 (as tests/rag/retrieval_quality_test).
//
// Usage: bookmcp_rag_bench [corpus-dir] [--runs N] [--xapian-glass]
//   --xapian-glass  also measure Xapian's glass backend (a database in a temporary folder)
//                   beside its in-memory one

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

#include "bench/rag/xapian_peer.hpp"
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
// Copies live under "~copy-N/", which sorts after the book's own paths: a copy whose altered
// words miss a query ties its original, and both engines then rank the original first (ours
// breaks ties by path, Xapian by document id, the originals being added first).
bookmcp::store::stored_chunk perturb(const bookmcp::store::stored_chunk& chunk, int copy) {
  bookmcp::store::stored_chunk out = chunk;
  if (copy == 0) return out;
  const std::string tag = "v" + std::to_string(copy % 97);
  out.document_path = "~copy-" + std::to_string(copy) + "/" + chunk.document_path;
  out.id = chunk.id + "-" + std::to_string(copy);
  out.url = "/docs/~copy-" + std::to_string(copy) + chunk.url.substr(5);
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

  // Row ids (indexes into the chunks) of the top 10, best first; every row's snippet is made.
  std::vector<std::size_t> search(const std::string& match) {
    sqlite3_bind_text(query_, 1, match.c_str(), -1, SQLITE_TRANSIENT);
    std::vector<std::size_t> rows;
    while (sqlite3_step(query_) == SQLITE_ROW) {
      rows.push_back(static_cast<std::size_t>(sqlite3_column_int64(query_, 0)));
    }
    sqlite3_reset(query_);
    return rows;
  }

 private:
  void exec(const char* sql) { sqlite3_exec(db_, sql, nullptr, nullptr, nullptr); }
  sqlite3* db_ = nullptr;
  sqlite3_stmt* query_ = nullptr;
};

struct question {
  std::string text;
  std::string document;  // the expected document path
};

// Shares of questions whose document is among the first 5 of `top` (the paths of one engine's
// hits, best first), as tests/rag/retrieval_quality_test counts it: `original` counts only the
// document itself; `or_copy` also a replicated copy of it ("~copy-N/<path>"), which holds the same
// words but for the perturbed ones, so that ties between a document and its copies, which each
// engine breaks its own way, do not count as misses.
struct hit_rates {
  double original = 0;
  double or_copy = 0;
};

bool is_copy_of(std::string_view path, std::string_view document) {
  if (!path.starts_with("~copy-")) return false;
  const std::size_t slash = path.find('/');
  return slash != std::string_view::npos && path.substr(slash + 1) == document;
}

hit_rates hit_rate(const std::vector<question>& questions,
                   const std::function<std::vector<std::string>(const std::string&)>& top) {
  std::size_t original = 0, or_copy = 0;
  for (const auto& q : questions) {
    std::vector<std::string> paths = top(q.text);
    if (paths.size() > 5) paths.resize(5);
    const bool found = std::find(paths.begin(), paths.end(), q.document) != paths.end();
    original += found;
    or_copy += found || std::any_of(paths.begin(), paths.end(), [&](const std::string& path) {
                 return is_copy_of(path, q.document);
               });
  }
  const auto total = static_cast<double>(std::max<std::size_t>(1, questions.size()));
  return {static_cast<double>(original) / total, static_cast<double>(or_copy) / total};
}

// One engine's figures at one size, over the runs.
struct engine_figures {
  std::vector<double> build_ms, median_ms, p99_ms;
  hit_rates hits;  // deterministic: the same in every run

  void add(double build, latency timing) {
    build_ms.push_back(build);
    median_ms.push_back(timing.median_ms);
    p99_ms.push_back(timing.p99_ms);
  }
  void print(std::size_t chunks, const char* engine) const {
    std::printf("%-8zu %-14s %10.1f %9.3f %9.3f %6.0f%% %6.0f%%\n", chunks, engine,
                median(build_ms), median(median_ms), median(p99_ms), hits.original * 100,
                hits.or_copy * 100);
  }
};

int usage() {
  std::cerr << "usage: bookmcp_rag_bench [corpus-dir] [--runs N] [--xapian-glass]\n";
  return 2;
}

}  // namespace

int main(int argc, char** argv) {
  fs::path corpus = BOOKMCP_PHYSICAL_AI_BOOK_DIR;
  int runs = 5;
  bool xapian_glass = false;
  for (int i = 1; i < argc; ++i) {
    std::string arg = argv[i];
    if (arg == "--runs" && i + 1 < argc) {
      runs = std::max(1, std::atoi(argv[++i]));
    } else if (arg == "--xapian-glass") {
      xapian_glass = true;
    } else if (arg.starts_with("--")) {
      return usage();
    } else {
      corpus = arg;
    }
  }
  // The indexer resolves a relative path against its roots, so the corpus is named by its
  // canonical path (a relative argument would otherwise be looked up inside itself).
  std::error_code error;
  const fs::path canonical_corpus = fs::canonical(corpus, error);
  if (error || !fs::is_directory(canonical_corpus)) {
    std::cerr << "bookmcp_rag_bench: corpus folder not found: " << corpus.string() << "\n";
    return 2;
  }
  corpus = canonical_corpus;
  if (!bookmcp::bench::xapian_peer::available()) {
    std::cerr << "bookmcp_rag_bench: built without Xapian (libxapian-dev): no Xapian peer\n";
  }
  std::vector<question> questions;
  {
    std::ifstream in(BOOKMCP_RETRIEVAL_QUESTIONS);
    for (const auto& q : nlohmann::json::parse(in)) {
      questions.push_back({q.at("question"), q.at("document")});
    }
  }
  std::vector<std::string> queries;
  for (const auto& q : questions) queries.push_back(q.text);

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
    const fs::path data =
        fs::temp_directory_path() / ("bookmcp-rag-bench-" + std::to_string(::getpid()));
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

  std::vector<std::string> matches;
  for (const auto& q : queries) matches.push_back(fts5_peer::to_match(q));
  struct size_summary {
    std::size_t chunks;
    double rag_median, rag_p99, fts_median, xapian_median, xapian_p99, xapian_quick_median,
        xapian_bare_median;
  };
  std::vector<size_summary> summary;
  std::printf("%-8s %-14s %10s %9s %9s %7s %7s\n", "chunks", "engine", "build ms", "p50 ms",
              "p99 ms", "doc@5", "copy@5");
  for (std::size_t count : {std::size_t{1000}, std::size_t{10000}, std::size_t{100000}}) {
    std::vector<bookmcp::store::stored_chunk> chunks = scaled(base, count);
    engine_figures ours, fts, xapian, xapian_quick, xapian_bare, glass;
    for (int run = 0; run < std::max(1, runs / 2 + 1); ++run) {
      {
        rag::lexical_index index;
        auto start = clock_type::now();
        index.rebuild(chunks, 1);
        const double build_ms = ms_since(start);
        ours.hits = hit_rate(questions, [&](const std::string& q) {
          std::vector<std::string> paths;
          for (const auto& hit : index.search({q, 10, ""})) paths.push_back(hit.document_path);
          return paths;
        });
        ours.add(build_ms, time_queries(queries, 10, [&](const std::string& q) {
                   auto hits = index.search({q, 10, ""});
                   if (hits.empty()) std::abort();
                 }));
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
      {
        auto start = clock_type::now();
        fts5_peer peer(chunks);
        const double build_ms = ms_since(start);
        fts.hits = hit_rate(questions, [&](const std::string& q) {
          std::vector<std::string> paths;
          for (std::size_t row : peer.search(fts5_peer::to_match(q))) {
            paths.push_back(chunks[row].document_path);
          }
          return paths;
        });
        fts.add(build_ms, time_queries(matches, 10, [&](const std::string& m) { peer.search(m); }));
      }
      auto measure_xapian = [&](bookmcp::bench::xapian_peer::backend kind, engine_figures& out,
                                engine_figures* quick, engine_figures* bare) {
        using snippets = bookmcp::bench::xapian_peer::snippets;
        const fs::path folder =
            fs::temp_directory_path() / ("bookmcp-rag-bench-xapian-" + std::to_string(::getpid()));
        auto start = clock_type::now();
        bookmcp::bench::xapian_peer peer(chunks, kind, folder);
        const double build_ms = ms_since(start);
        const hit_rates hits = hit_rate(questions, [&](const std::string& q) {
          std::vector<std::string> paths;
          for (auto& hit : peer.search(q, 10)) paths.push_back(std::move(hit.document_path));
          return paths;
        });
        auto time_style = [&](snippets style, engine_figures& figures) {
          figures.hits = hits;
          figures.add(build_ms, time_queries(queries, 10, [&](const std::string& q) {
                        if (peer.search(q, 10, style).empty()) std::abort();
                      }));
        };
        time_style(snippets::standard, out);
        if (quick) time_style(snippets::quick, *quick);
        if (bare) time_style(snippets::none, *bare);
      };
      if (!bookmcp::bench::xapian_peer::available()) continue;
      measure_xapian(bookmcp::bench::xapian_peer::backend::in_memory, xapian, &xapian_quick,
                     &xapian_bare);
      if (xapian_glass) {
        measure_xapian(bookmcp::bench::xapian_peer::backend::glass, glass, nullptr, nullptr);
      }
    }
    ours.print(count, "bookmcp");
    fts.print(count, "sqlite-fts5");
    if (bookmcp::bench::xapian_peer::available()) {
      xapian.print(count, "xapian");
      xapian_quick.print(count, "xapian-quick");
      xapian_bare.print(count, "xapian-nosnip");
    }
    if (xapian_glass) glass.print(count, "xapian-glass");
    std::fflush(stdout);
    summary.push_back({count, median(ours.median_ms), median(ours.p99_ms), median(fts.median_ms),
                       median(xapian.median_ms), median(xapian.p99_ms),
                       median(xapian_quick.median_ms), median(xapian_bare.median_ms)});
  }
  std::printf("\n%-8s %13s %15s %15s %15s %15s\n", "chunks", "fts5/bookmcp", "bookmcp/xapian",
              "(p99)", "/xapian-quick", "/xapian-nosnip");
  for (const auto& row : summary) {
    std::printf("%-8zu %12.1fx %14.2fx %14.2fx %14.2fx %14.2fx\n", row.chunks,
                row.fts_median / row.rag_median, row.rag_median / row.xapian_median,
                row.rag_p99 / row.xapian_p99, row.rag_median / row.xapian_quick_median,
                row.rag_median / row.xapian_bare_median);
  }
  std::printf(
      "\nlatencies in ms per query (%zu reader questions x 10, limit 10), medians over %d runs "
      "per size. Snippets on every hit: bookmcp's own; FTS5's snippet(); xapian = Xapian's "
      "in-memory backend with MSet::snippet's default flags (background model, exhaustive), "
      "xapian-quick with flags 0, xapian-nosnip without snippets (for reference only). doc@5: "
      "expected document in the top 5; copy@5: it or one of its replicated copies. Ratios: "
      "of the p50s unless noted; bookmcp/xapian < 1 means bookmcp is faster.\n",
      queries.size(), std::max(1, runs / 2 + 1));
  return 0;
}
