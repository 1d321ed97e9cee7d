#include "rag/chunker.hpp"

#include <gtest/gtest.h>

#include <set>

namespace bookmcp::rag {
namespace {

using path = std::vector<std::string>;

std::vector<store::stored_chunk> chunk(std::string_view markdown, chunker_options options = {}) {
  return chunk_document(parse_markdown(markdown, "fallback"), "guide/doc.md", "/docs/guide/doc",
                        options);
}

std::string words(std::size_t count, std::string_view word = "lorem") {
  std::string out;
  for (std::size_t i = 0; i < count; ++i) {
    if (i) out += (i % 12 == 0) ? ". " : " ";
    out += word;
  }
  return out + ".";
}

TEST(Chunker, HeadingPathsStartWithTheTitleAndCarryAnchors) {
  std::string body = words(60);
  auto chunks =
      chunk("---\ntitle: Doc Title\n---\n# Doc Title\n\n" + body + "\n\n## Section A\n\n" + body +
            "\n\n### Sub A1\n\n" + body + "\n\n## Section B\n\n" + body + "\n");
  ASSERT_EQ(chunks.size(), 4u);
  EXPECT_EQ(chunks[0].heading_path, path{"Doc Title"});
  EXPECT_EQ(chunks[0].anchor, "");
  EXPECT_EQ(chunks[0].url, "/docs/guide/doc");
  EXPECT_EQ(chunks[1].heading_path, (path{"Doc Title", "Section A"}));
  EXPECT_EQ(chunks[1].url, "/docs/guide/doc#section-a");
  EXPECT_EQ(chunks[2].heading_path, (path{"Doc Title", "Section A", "Sub A1"}));
  EXPECT_EQ(chunks[2].anchor, "sub-a1");
  EXPECT_EQ(chunks[3].heading_path, (path{"Doc Title", "Section B"}));
  for (int i = 0; i < 4; ++i) {
    EXPECT_EQ(chunks[static_cast<std::size_t>(i)].position, i);
    EXPECT_EQ(chunks[static_cast<std::size_t>(i)].title, "Doc Title");
    EXPECT_EQ(chunks[static_cast<std::size_t>(i)].document_path, "guide/doc.md");
  }
}

TEST(Chunker, SmallSectionsMergeWithSiblingsUnderTheSameParent) {
  std::string big = words(80);
  auto chunks = chunk("# T\n\n## Parent\n\n" + big +
                          "\n\n### Tiny one\n\nShort text one.\n\n"
                          "### Tiny two\n\nShort text two.\n\n## Other parent\n\nShort other.\n",
                      {.target_chars = 400, .max_chars = 800, .min_chars = 100});
  // "Tiny one" and "Tiny two" are siblings: merged, and the chunk cites their parent (a hit
  // on "Short text two." must not cite #tiny-one, which does not contain it). "Other parent"
  // has another parent.
  ASSERT_EQ(chunks.size(), 3u);
  EXPECT_EQ(chunks[1].heading_path, (path{"T", "Parent"}));
  EXPECT_EQ(chunks[1].anchor, "parent");
  EXPECT_EQ(chunks[1].url, "/docs/guide/doc#parent");
  EXPECT_EQ(chunks[1].text.rfind("Tiny one\n\nShort text one.", 0), 0u) << chunks[1].text;
  EXPECT_NE(chunks[1].text.find("Tiny two"), std::string::npos);
  EXPECT_NE(chunks[1].text.find("Short text two."), std::string::npos);
  EXPECT_NE(chunks[0].id, chunks[1].id);
  EXPECT_EQ(chunks[2].heading_path, (path{"T", "Other parent"}));
}

TEST(Chunker, SmallSectionMergedWithItsDescendantsKeepsItsOwnCitation) {
  auto chunks = chunk("# T\n\n## Parent\n\nShort intro.\n\n### Child\n\nShort child text.\n",
                      {.target_chars = 400, .max_chars = 800, .min_chars = 100});
  ASSERT_EQ(chunks.size(), 1u);
  EXPECT_EQ(chunks[0].heading_path, (path{"T", "Parent"}));
  EXPECT_EQ(chunks[0].anchor, "parent");
  EXPECT_EQ(chunks[0].text, "Short intro.\n\nChild\n\nShort child text.");
}

// Level-1 siblings under the document: merging them cites the page itself (no anchor).
TEST(Chunker, MergedTopLevelSiblingsCiteThePage) {
  auto chunks = chunk("# T\n\n## One\n\nTapir.\n\n## Two\n\nOkapi.\n",
                      {.target_chars = 400, .max_chars = 800, .min_chars = 100});
  ASSERT_EQ(chunks.size(), 1u);
  EXPECT_EQ(chunks[0].heading_path, path{"T"});
  EXPECT_EQ(chunks[0].anchor, "");
  EXPECT_EQ(chunks[0].url, "/docs/guide/doc");
  EXPECT_EQ(chunks[0].text, "One\n\nTapir.\n\nTwo\n\nOkapi.");
}

TEST(Chunker, EmptySectionsAddNoChunk) {
  auto chunks = chunk("# T\n\n## Empty parent\n\n### Child\n\n" + words(80) + "\n");
  ASSERT_EQ(chunks.size(), 1u);
  EXPECT_EQ(chunks[0].heading_path, (path{"T", "Empty parent", "Child"}));
  EXPECT_EQ(chunks[0].anchor, "child");
}

TEST(Chunker, LongSectionsAreCutAtBlockBoundariesWithinLimits) {
  chunker_options options{.target_chars = 300, .max_chars = 500, .min_chars = 50};
  std::string markdown = "# T\n\n## Long\n\n";
  for (int i = 0; i < 10; ++i) markdown += words(30, "para" + std::to_string(i)) + "\n\n";
  auto chunks = chunk(markdown, options);
  ASSERT_GT(chunks.size(), 3u);
  for (const auto& c : chunks) {
    EXPECT_LE(c.text.size(), options.max_chars);
    EXPECT_EQ(c.anchor, "long");
    // Never cut inside a paragraph (they are ~200 bytes).
    EXPECT_EQ(c.text.front(), 'p');
    EXPECT_EQ(c.text.back(), '.');
  }
}

TEST(Chunker, CodeFenceIsKeptWholeUnlessItAloneExceedsTheMaximum) {
  chunker_options options{.target_chars = 300, .max_chars = 600, .min_chars = 50};
  std::string code;
  for (int i = 0; i < 20; ++i) code += "x = compute(" + std::to_string(i) + ")\n";  // ~350 bytes
  auto chunks =
      chunk("# T\n\n## S\n\n" + words(30) + "\n\n```python\n# comment\n" + code + "```\n", options);
  int fences_with_all_lines = 0;
  for (const auto& c : chunks) {
    if (c.text.find("```python\n# comment\n") != std::string::npos &&
        c.text.find("compute(19)") != std::string::npos) {
      ++fences_with_all_lines;
    }
  }
  EXPECT_EQ(fences_with_all_lines, 1) << "a fence below max_chars stays in one chunk";

  std::string huge;
  for (int i = 0; i < 100; ++i)
    huge += "value_" + std::to_string(i) + " = " + std::to_string(i) + "\n";
  auto split = chunk("# T\n\n## S\n\n```cpp\n" + huge + "```\n", options);
  ASSERT_GT(split.size(), 1u);
  for (const auto& c : split) {
    EXPECT_LE(c.text.size(), options.max_chars);
    EXPECT_TRUE(c.text.starts_with("```cpp\n")) << c.text;
    EXPECT_TRUE(c.text.ends_with("```")) << c.text;
  }
}

TEST(Chunker, IdsAreStableAndUnique) {
  std::string markdown =
      "# T\n\n" + words(50) + "\n\n## A\n\n" + words(400) + "\n\n## B\n\n" + words(50) + "\n";
  auto first = chunk(markdown, {.target_chars = 400, .max_chars = 800, .min_chars = 100});
  auto second = chunk(markdown, {.target_chars = 400, .max_chars = 800, .min_chars = 100});
  ASSERT_EQ(first.size(), second.size());
  std::set<std::string> ids;
  for (std::size_t i = 0; i < first.size(); ++i) {
    EXPECT_EQ(first[i].id, second[i].id);
    EXPECT_EQ(first[i].id.size(), 16u);
    ids.insert(first[i].id);
  }
  EXPECT_EQ(ids.size(), first.size());
  // Editing section A leaves the ids of section B alone.
  std::string edited =
      "# T\n\n" + words(50) + "\n\n## A\n\n" + words(700) + "\n\n## B\n\n" + words(50) + "\n";
  auto third = chunk(edited, {.target_chars = 400, .max_chars = 800, .min_chars = 100});
  EXPECT_EQ(first.back().id, third.back().id);
  EXPECT_EQ(make_chunk_id("a.md", {"T", "A"}, "a", 0), make_chunk_id("a.md", {"T", "A"}, "a", 0));
  EXPECT_NE(make_chunk_id("a.md", {"T", "A"}, "a", 0), make_chunk_id("b.md", {"T", "A"}, "a", 0));
  EXPECT_NE(make_chunk_id("a.md", {"T", "A"}, "a", 0), make_chunk_id("a.md", {"T", "A"}, "a", 1));
}

TEST(Chunker, DescriptionAndKeywordsAreInTheFirstChunk) {
  auto chunks = chunk(
      "---\ntitle: T\ndescription: About sensors.\nkeywords: [lidar, imu]\n---\n"
      "# T\n\n" +
      words(80) + "\n");
  ASSERT_FALSE(chunks.empty());
  EXPECT_TRUE(chunks[0].text.starts_with("About sensors.\nKeywords: lidar, imu")) << chunks[0].text;
}

TEST(Chunker, EmptyDocumentHasNoChunks) {
  EXPECT_TRUE(chunk("").empty());
  EXPECT_TRUE(chunk("---\ntitle: Only front matter\n---\n").empty());
}

}  // namespace
}  // namespace bookmcp::rag
