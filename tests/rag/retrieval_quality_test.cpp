// Retrieval quality over a real Docusaurus book (../shared/corpora/physical-ai-book): reader
// questions (retrieval_questions.json) must find the right document and section in the top 5.

#include <gtest/gtest.h>

#include <fstream>
#include <nlohmann/json.hpp>

#include "rag/indexer.hpp"
#include "tests/testing/in_memory_document_registry.hpp"

namespace bookmcp::rag {
namespace {

TEST(RetrievalQuality, PhysicalAiBookQuestionsFindTheirSection) {
  const std::filesystem::path corpus = BOOKMCP_PHYSICAL_AI_BOOK_DIR;
  if (!std::filesystem::is_directory(corpus)) {
    GTEST_SKIP() << "test corpus not found at " << corpus
                 << " (expected ../shared/corpora/physical-ai-book next to the repository)";
  }
  std::ifstream in(BOOKMCP_RETRIEVAL_QUESTIONS);
  ASSERT_TRUE(in) << "cannot open " << BOOKMCP_RETRIEVAL_QUESTIONS;
  nlohmann::json questions = nlohmann::json::parse(in);
  ASSERT_GE(questions.size(), 40u);

  testing::in_memory_document_registry registry;
  lexical_index index;
  indexer_options options;
  options.roots = {corpus};
  indexer pipeline(registry, index, options);
  index_summary summary = pipeline.index(corpus.string());
  ASSERT_EQ(summary.failed, 0u);

  std::size_t document_hits = 0, section_hits = 0;
  for (const auto& question : questions) {
    const std::string text = question.at("question");
    const std::string path = question.at("document");
    const std::string anchor = question.at("anchor");
    auto hits = index.search({text, 5, ""});
    bool document_found = false, section_found = false;
    for (const auto& hit : hits) {
      document_found |= hit.document_path == path;
      section_found |= hit.document_path == path && hit.anchor == anchor;
    }
    document_hits += document_found;
    section_hits += section_found;
    if (!section_found) {
      std::string got = hits.empty() ? "(nothing)" : hits[0].document_path + "#" + hits[0].anchor;
      std::cout << (document_found ? "  section miss: " : "  document miss: ") << text
                << "\n    expected " << path << "#" << anchor << ", top " << got << "\n";
    }
  }
  const double total = static_cast<double>(questions.size());
  std::cout << "document in top 5: " << document_hits << "/" << questions.size()
            << ", section in top 5: " << section_hits << "/" << questions.size() << "\n";
  EXPECT_GE(document_hits / total, 0.90);
  EXPECT_GE(section_hits / total, 0.75);
}

}  // namespace
}  // namespace bookmcp::rag
