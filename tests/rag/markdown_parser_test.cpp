#include "rag/markdown_parser.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>

#include "rag/text.hpp"

namespace bookmcp::rag {
namespace {

std::vector<const markdown_block*> of_kind(const parsed_document& document, block_kind kind) {
  std::vector<const markdown_block*> out;
  for (const auto& block : document.blocks) {
    if (block.kind == kind) out.push_back(&block);
  }
  return out;
}

std::string all_text(const parsed_document& document) {
  std::string out;
  for (const auto& block : document.blocks) out += block.text + "\n";
  return out;
}

TEST(FrontMatter, ReadsDocusaurusFields) {
  const char* source =
      "---\n"
      "title: \"Chapter 2: Sensors\"\n"
      "description: How robots sense\n"
      "keywords: [lidar, imu]\n"
      "slug: /sensing\n"
      "id: sensors\n"
      "sidebar_position: 2.5\n"
      "sidebar_label: Sensors\n"
      "---\n"
      "# Heading\n";
  std::size_t body = 0;
  front_matter meta = parse_front_matter(source, &body);
  EXPECT_EQ(meta.title, "Chapter 2: Sensors");
  EXPECT_EQ(meta.description, "How robots sense");
  EXPECT_EQ(meta.keywords, (std::vector<std::string>{"lidar", "imu"}));
  EXPECT_EQ(meta.slug, "/sensing");
  EXPECT_EQ(meta.id, "sensors");
  EXPECT_EQ(meta.sidebar_position, 2.5);
  EXPECT_EQ(meta.sidebar_label, "Sensors");
  EXPECT_EQ(std::string_view(source).substr(body), "# Heading\n");
}

TEST(FrontMatter, CommaSeparatedKeywordsAndNoFrontMatter) {
  EXPECT_EQ(parse_front_matter("---\nkeywords: a, b ,c\n---\n").keywords,
            (std::vector<std::string>{"a", "b", "c"}));
  front_matter none = parse_front_matter("# Just a heading\n---\n");
  EXPECT_FALSE(none.title);
}

// Editors that write a UTF-8 byte order mark made the front matter (title, slug) be ignored.
TEST(FrontMatter, AByteOrderMarkBeforeItIsSkipped) {
  const std::string source =
      "\xEF\xBB\xBF---\ntitle: Front\nslug: /custom\n---\n# Heading\n\nText.\n";
  std::size_t body = 0;
  const front_matter meta = parse_front_matter(source, &body);
  EXPECT_EQ(meta.title, "Front");
  EXPECT_EQ(meta.slug, "/custom");
  EXPECT_EQ(source.substr(body), "# Heading\n\nText.\n");
  const parsed_document document = parse_markdown(source, "file");
  EXPECT_EQ(document.title, "Front");
  // Without front matter, a first-line heading after the mark is still the title.
  EXPECT_EQ(parse_markdown("\xEF\xBB\xBF# From H1\n\nText.\n", "file").title, "From H1");
}

TEST(FrontMatter, MalformedYamlIsAParseError) {
  EXPECT_THROW(parse_front_matter("---\ntitle: [unclosed\n---\nbody\n"), parse_error);
  EXPECT_THROW(parse_front_matter("---\nsidebar_position: first\n---\n"), parse_error);
  // strtod reads these; stored, NaN became NULL and failed the whole indexing run.
  for (const char* value : {"NaN", "nan", "inf", "-Infinity", "1e999"}) {
    EXPECT_THROW(parse_front_matter("---\nsidebar_position: " + std::string(value) + "\n---\n"),
                 parse_error)
        << value;
  }
}

TEST(Headings, KnowTheirLineAndManyOfThemParseInLinearTime) {
  const auto doc = parse_markdown("intro\n\n# One\n\ntext\ntext\n\n## Two\n", "f");
  std::vector<int> lines;
  for (const auto& block : doc.blocks)
    if (block.kind == block_kind::heading) lines.push_back(block.line);
  EXPECT_EQ(lines, (std::vector<int>{2, 7}));

  // 80,000 paragraphs, then 20,000 headings: each heading's line used to be counted from the
  // start of the file (9.8 s for this page; a 4 MB page took 5 minutes).
  std::string page;
  for (int i = 0; i < 80'000; ++i) page += "p\n\n";
  for (int i = 0; i < 20'000; ++i) page += "## H\n\n";
  const auto started = std::chrono::steady_clock::now();
  const auto big = parse_markdown(page, "big");
  const auto took = std::chrono::steady_clock::now() - started;
  int last = -1;
  for (const auto& block : big.blocks)
    if (block.kind == block_kind::heading) last = block.line;
  EXPECT_EQ(last, 2 * 80'000 + 2 * 19'999);
  // Linear: a tenth of a second, well under one even sanitized on a busy machine; the quadratic
  // scan took 9.8 s (more sanitized), so the bound sits between with room on both sides.
  EXPECT_LT(took, std::chrono::seconds(6));
}

// Openers that never close: each one used to search the rest of the page (16,000 "<!--" took
// 36 s, 20,000 "<a " 112 s under the fuzzer's sanitizers); the rewrite now goes through a page
// once. What it makes of them is unchanged: unclosed openers stay text.
TEST(MdxRewrite, UnclosedOpenersStayTextInLinearTime) {
  struct repeated {
    std::string unit;
    int times;
  };
  for (const auto& [unit, times] : {repeated{"<!--", 16'000}, repeated{"{/*", 20'000},
                                    repeated{"<a ", 20'000}, repeated{"<a {", 15'000}}) {
    std::string page;
    for (int i = 0; i < times; ++i) page += unit;
    const auto started = std::chrono::steady_clock::now();
    const std::string rewritten = prepare_mdx_for_markdown(page);
    const auto took = std::chrono::steady_clock::now() - started;
    EXPECT_EQ(rewritten, page) << unit;
    // Milliseconds when linear; the quadratic scans took seconds even unsanitized.
    EXPECT_LT(took, std::chrono::seconds(2)) << unit;
  }
  // The same openers closed later still hide what they enclose, across lines too.
  EXPECT_EQ(prepare_mdx_for_markdown("a <!-- x\ny --> b <!-- z"), "a \n b <!-- z");
  EXPECT_EQ(prepare_mdx_for_markdown("a {/* x */} b {/* y"), "a  b {/* y");
  EXPECT_EQ(prepare_mdx_for_markdown("<a <b\n\n<c x='>'> d"), "<a <b\n\n d");
  EXPECT_EQ(prepare_mdx_for_markdown("<a <b <c>d"), "d");
}

// Control characters in front matter reached hit titles, the table of contents and URLs.
TEST(FrontMatter, ControlCharactersNeverReachTitlesOrUrls) {
  const auto meta =
      parse_front_matter("---\ntitle: \"ctl\\x1b[31mred\\a\"\nsidebar_label: \"a\\tb\"\n---\n");
  EXPECT_EQ(meta.title, "ctl [31mred ");
  EXPECT_EQ(meta.sidebar_label, "a b");
  EXPECT_THROW(parse_front_matter("---\nid: \"\\0\"\n---\n"), parse_error);
  EXPECT_THROW(parse_front_matter("---\nslug: \"/a\\nb\"\n---\n"), parse_error);
}

TEST(Title, FrontMatterThenFirstH1ThenFallback) {
  EXPECT_EQ(parse_markdown("---\ntitle: From FM\n---\n# From H1\n", "file").title, "From FM");
  EXPECT_EQ(parse_markdown("Intro\n\n# From H1\n\n# Second\n", "file").title, "From H1");
  EXPECT_EQ(parse_markdown("## Only H2\n", "file-name").title, "file-name");
}

TEST(Headings, AnchorsFollowGithubSlugger) {
  parsed_document document = parse_markdown(
      "# Chapter 2: Sensors & Perception (LiDAR, Cameras)\n"
      "## What You'll Learn\n"
      "## 📖 What This Book Covers\n"
      "## Setup\n"
      "## Setup\n"
      "## Setup\n"
      "## Setup-1\n"
      "## Install `rclpy` **now**\n"
      "## Ünïcödé Straße\n",
      "x");
  auto headings = of_kind(document, block_kind::heading);
  ASSERT_EQ(headings.size(), 9u);
  EXPECT_EQ(headings[0]->anchor, "chapter-2-sensors--perception-lidar-cameras");
  EXPECT_EQ(headings[1]->anchor, "what-youll-learn");
  EXPECT_EQ(headings[2]->anchor, "-what-this-book-covers");
  EXPECT_EQ(headings[3]->anchor, "setup");
  EXPECT_EQ(headings[4]->anchor, "setup-1");
  EXPECT_EQ(headings[5]->anchor, "setup-2");
  // "setup-1" is taken by the duplicate, so the literal heading gets a suffix of its own.
  EXPECT_EQ(headings[6]->anchor, "setup-1-1");
  EXPECT_EQ(headings[7]->anchor, "install-rclpy-now");
  EXPECT_EQ(headings[7]->text, "Install rclpy now");
  EXPECT_EQ(headings[8]->anchor, "ünïcödé-straße");
}

TEST(Headings, ExplicitIdsAreUsedAndDoNotCountAsDuplicates) {
  parsed_document document = parse_markdown(
      "## Setup {#custom-id}\n"
      "## Setup\n"
      "## Other {#setup}\n",
      "x");
  auto headings = of_kind(document, block_kind::heading);
  ASSERT_EQ(headings.size(), 3u);
  EXPECT_EQ(headings[0]->anchor, "custom-id");
  EXPECT_EQ(headings[0]->text, "Setup");
  EXPECT_EQ(headings[1]->anchor, "setup");
  EXPECT_EQ(headings[2]->anchor, "setup");
}

TEST(Headings, HashLinesInsideFencesAreCode) {
  parsed_document document = parse_markdown(
      "# Title\n"
      "```bash\n"
      "# install the package\n"
      "sudo apt install ros-humble-desktop\n"
      "```\n"
      "~~~\n"
      "## not a heading either\n"
      "~~~\n"
      "## Real heading\n",
      "x");
  auto headings = of_kind(document, block_kind::heading);
  ASSERT_EQ(headings.size(), 2u);
  EXPECT_EQ(headings[1]->text, "Real heading");
  EXPECT_EQ(headings[1]->line, 8);
  auto code = of_kind(document, block_kind::code);
  ASSERT_EQ(code.size(), 2u);
  EXPECT_EQ(code[0]->language, "bash");
  EXPECT_EQ(code[0]->text, "# install the package\nsudo apt install ros-humble-desktop\n");
  EXPECT_EQ(code[1]->text, "## not a heading either\n");
}

TEST(Mdx, ImportsExportsAndJsxTagsAreDroppedTheirTextKept) {
  parsed_document document = parse_markdown(
      "---\ntitle: T\n---\n"
      "import Tabs from '@theme/Tabs';\n"
      "import {\n  A,\n  B,\n} from './components';\n"
      "export const meta = {\n  a: 1,\n};\n"
      "\n"
      "# Heading\n"
      "\n"
      "<BudgetCalculator />\n"
      "\n"
      "<Tabs>\n"
      "  <TabItem value=\"py\" label=\"Python\">\n"
      "    Inside the tab.\n"
      "  </TabItem>\n"
      "</Tabs>\n"
      "\n"
      "Text with <Highlight color=\"red\">inline JSX</Highlight> and `<code>` kept.\n"
      "{/* an MDX comment */}\n"
      "<!-- an HTML comment -->\n",
      "x");
  std::string text = all_text(document);
  EXPECT_EQ(text.find("import"), std::string::npos) << text;
  EXPECT_EQ(text.find("export"), std::string::npos) << text;
  EXPECT_EQ(text.find("Tabs"), std::string::npos) << text;
  EXPECT_EQ(text.find("BudgetCalculator"), std::string::npos) << text;
  EXPECT_EQ(text.find("comment"), std::string::npos) << text;
  EXPECT_NE(text.find("Inside the tab."), std::string::npos) << text;
  EXPECT_NE(text.find("Text with inline JSX and <code> kept."), std::string::npos) << text;
  auto code = of_kind(document, block_kind::code);
  EXPECT_TRUE(code.empty()) << "indented MDX text must not become an indented code block";
  // Line numbers still refer to the original file.
  EXPECT_EQ(of_kind(document, block_kind::heading)[0]->line, 12);
}

TEST(Mdx, ImportLinesInsideCodeFencesStay) {
  parsed_document document = parse_markdown("```python\nimport numpy as np\n<Tag/>\n```\n", "x");
  auto code = of_kind(document, block_kind::code);
  ASSERT_EQ(code.size(), 1u);
  EXPECT_EQ(code[0]->text, "import numpy as np\n<Tag/>\n");
}

TEST(Admonitions, KeptAsTextWithTheirTitle) {
  parsed_document document = parse_markdown(
      ":::tip Pro Tip\n"
      "Start with the **Edge Kit**.\n"
      ":::\n"
      "\n"
      ":::warning\n"
      "Hot surface.\n"
      ":::\n"
      "\n"
      ":::note[Bracket title]\n"
      "Body.\n"
      ":::\n",
      "x");
  auto paragraphs = of_kind(document, block_kind::paragraph);
  ASSERT_EQ(paragraphs.size(), 3u);
  EXPECT_EQ(paragraphs[0]->text, "Tip: Pro Tip\nStart with the Edge Kit.");
  EXPECT_EQ(paragraphs[1]->text, "Warning:\nHot surface.");
  EXPECT_EQ(paragraphs[2]->text, "Note: Bracket title\nBody.");
}

TEST(Tables, RowsBecomeLinesOfCells) {
  parsed_document document = parse_markdown(
      "| Sensor | Range |\n"
      "| --- | ---: |\n"
      "| LiDAR | 100 m |\n"
      "| **IMU** | n/a |\n",
      "x");
  auto tables = of_kind(document, block_kind::table);
  ASSERT_EQ(tables.size(), 1u);
  EXPECT_EQ(tables[0]->text, "Sensor | Range\nLiDAR | 100 m\nIMU | n/a\n");
}

TEST(Lists, ItemsKeepNestingAndEntitiesAreDecoded) {
  parsed_document document = parse_markdown(
      "- first &amp; best\n"
      "  - nested\n"
      "- [link text](https://example.com) &#x2192; arrow\n",
      "x");
  auto items = of_kind(document, block_kind::list_item);
  ASSERT_EQ(items.size(), 3u);
  EXPECT_EQ(items[0]->text, "- first & best");
  EXPECT_EQ(items[1]->text, "  - nested");
  EXPECT_EQ(items[1]->level, 2);
  EXPECT_EQ(items[2]->text, "- link text \u2192 arrow");
}

TEST(Text, Utf8ValidationAndHash) {
  EXPECT_TRUE(is_valid_utf8("plain ascii"));
  EXPECT_TRUE(
      is_valid_utf8("Stra\xc3\x9f"
                    "e \xf0\x9f\x93\x96"));
  EXPECT_FALSE(is_valid_utf8("\xff\xfe"));
  EXPECT_FALSE(is_valid_utf8("\xc0\xaf"));      // overlong '/'
  EXPECT_FALSE(is_valid_utf8("\xed\xa0\x80"));  // surrogate
  EXPECT_FALSE(is_valid_utf8("truncated \xe2\x82"));
  EXPECT_EQ(to_hex(stable_hash("")), "cbf29ce484222325");
  EXPECT_EQ(to_hex(stable_hash("a")), "af63dc4c8601ec8c");
}

}  // namespace
}  // namespace bookmcp::rag
