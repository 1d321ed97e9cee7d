#include "rag/docusaurus.hpp"

#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

namespace bookmcp::rag {
namespace {

std::string url_of(std::string_view path, front_matter meta = {},
                   std::string_view base = "/docs/") {
  return locate_document(path, meta, base).url;
}

TEST(NumberPrefix, StripsDocusaurusPrefixesOnly) {
  EXPECT_EQ(split_number_prefix("01-intro").name, "intro");
  EXPECT_EQ(split_number_prefix("01-intro").number, 1.0);
  EXPECT_EQ(split_number_prefix("2_setup").name, "setup");
  EXPECT_EQ(split_number_prefix("3. Install").name, "Install");
  EXPECT_EQ(split_number_prefix("intro").name, "intro");
  EXPECT_FALSE(split_number_prefix("intro").number);
  EXPECT_EQ(split_number_prefix("2021-01-01-post").name, "2021-01-01-post");
  EXPECT_EQ(split_number_prefix("1.2-notes").name, "1.2-notes");
  EXPECT_EQ(split_number_prefix("42").name, "42");
  EXPECT_EQ(split_number_prefix("1-_x").name, "x");  // separators may repeat
  EXPECT_EQ(split_number_prefix("7-").name, "7-");
}

TEST(DocumentUrl, PathsWithoutFrontMatter) {
  EXPECT_EQ(url_of("intro.md"), "/docs/intro");
  EXPECT_EQ(url_of("01-intro/02-setup.md"), "/docs/intro/setup");
  EXPECT_EQ(url_of("part-1/chapter-2-sensors.mdx"), "/docs/part-1/chapter-2-sensors");
}

TEST(DocumentUrl, FolderIndexGivesTheFolderUrl) {
  EXPECT_EQ(url_of("guide/index.md"), "/docs/guide/");
  EXPECT_EQ(url_of("guide/README.md"), "/docs/guide/");
  EXPECT_EQ(url_of("guide/Guide.md"), "/docs/guide/");
  EXPECT_EQ(url_of("index.mdx"), "/docs/");
}

TEST(DocumentUrl, FrontMatterSlugAndId) {
  front_matter absolute;
  absolute.slug = "/intro";
  EXPECT_EQ(url_of("deep/folder/x.md", absolute), "/docs/intro");
  front_matter relative;
  relative.slug = "getting-started";
  EXPECT_EQ(url_of("01-guide/x.md", relative), "/docs/guide/getting-started");
  front_matter parent;
  parent.slug = "../elsewhere";
  EXPECT_EQ(url_of("a/b/x.md", parent), "/docs/a/elsewhere");
  front_matter id;
  id.id = "custom";
  EXPECT_EQ(url_of("01-guide/03-file.md", id), "/docs/guide/custom");
  EXPECT_EQ(locate_document("01-guide/03-file.md", id).id, "guide/custom");
  front_matter root;
  root.slug = "/";
  EXPECT_EQ(url_of("intro.md", root), "/docs/");
}

TEST(DocumentUrl, ConfigurableBaseUrl) {
  EXPECT_EQ(url_of("a/b.md", {}, "/"), "/a/b");
  EXPECT_EQ(url_of("a/b.md", {}, "book"), "/book/a/b");
  EXPECT_EQ(url_of("a/b.md", {}, "/v2/docs/"), "/v2/docs/a/b");
}

TEST(SidebarPosition, FrontMatterThenNumberPrefix) {
  front_matter meta;
  meta.sidebar_position = 7;
  EXPECT_EQ(locate_document("03-x.md", meta).sidebar_position, 7.0);
  EXPECT_EQ(locate_document("03-x.md", {}).sidebar_position, 3.0);
  EXPECT_FALSE(locate_document("x.md", {}).sidebar_position);
}

TEST(Names, IgnoredAndMarkdown) {
  EXPECT_TRUE(is_ignored_name(".git"));
  EXPECT_TRUE(is_ignored_name("_partial.md"));
  EXPECT_TRUE(is_ignored_name("node_modules"));
  EXPECT_FALSE(is_ignored_name("intro.md"));
  EXPECT_TRUE(is_markdown_file("a/b.mdx"));
  EXPECT_FALSE(is_markdown_file("a/b.json"));
}

// _category_ files are read only when they are small regular files of the folder itself: a FIFO
// hung every table-of-contents read, a link to /dev/zero ate memory, a link out of the book
// showed another file's content in book://toc.
TEST(CategoryMetadata, OnlySmallRegularFilesOfTheFolderAreRead) {
  namespace fs = std::filesystem;
  std::string pattern = (fs::temp_directory_path() / "bookmcp-category-XXXXXX").string();
  const fs::path base = fs::canonical(::mkdtemp(pattern.data()));
  const auto folder = [&](const std::string& name) {
    fs::create_directories(base / name);
    return base / name;
  };
  const auto write = [](const fs::path& file, const std::string& text) {
    std::ofstream(file) << text;
  };

  write(folder("plain") / "_category_.json", R"({"label": "Plain", "position": 3})");
  EXPECT_EQ(read_category_metadata(base / "plain").label, "Plain");
  EXPECT_EQ(read_category_metadata(base / "plain").position, 3);

  ASSERT_EQ(::mkfifo((folder("fifo") / "_category_.json").c_str(), 0600), 0);
  EXPECT_FALSE(read_category_metadata(base / "fifo").label);  // returns at once

  fs::create_symlink("/dev/zero", folder("zero") / "_category_.yml");
  EXPECT_FALSE(read_category_metadata(base / "zero").label);

  write(base / "outside.yml", "label: secret");
  fs::create_symlink(base / "outside.yml", folder("link") / "_category_.yml");
  EXPECT_FALSE(read_category_metadata(base / "link").label);

  write(folder("huge") / "_category_.yml", "label: Huge\n# " + std::string(100'000, 'x') + "\n");
  EXPECT_FALSE(read_category_metadata(base / "huge").label);

  write(folder("nan") / "_category_.yml", "label: NaN position\nposition: .nan\n");
  EXPECT_EQ(read_category_metadata(base / "nan").label, "NaN position");
  EXPECT_FALSE(read_category_metadata(base / "nan").position);
  fs::remove_all(base);
}

}  // namespace
// The text of a _category_ file, as read_category_metadata reads it (fuzzed by category_fuzz).
TEST(CategoryMetadata, ParsesJsonAndYamlAndRefusesWhatIsNotAMapping) {
  const auto json = parse_category_metadata(
      R"({"label": "Basics", "position": 2, "link": {"type": "generated-index"}})");
  EXPECT_EQ(json.label, "Basics");
  EXPECT_EQ(json.position, 2);
  const auto yaml = parse_category_metadata("label: 'Motion and Control'\nposition: 2.5\n");
  EXPECT_EQ(yaml.label, "Motion and Control");
  EXPECT_EQ(yaml.position, 2.5);
  EXPECT_EQ(parse_category_metadata(R"({"label": "caf\u00e9"})").label, "caf\xC3\xA9");
  // Old Mac line ends (a lone CR) are line breaks, as for JSON and YAML 1.2 (found by category_fuzz).
  EXPECT_EQ(parse_category_metadata("{\"label\":\r \"Basics\",\r\"position\": 3}\r").label, "Basics");
  EXPECT_EQ(parse_category_metadata("label: Basics\rposition: 3\r").position, 3);
  EXPECT_EQ(parse_category_metadata("label: Basics\r\nposition: 3\r\n").label, "Basics");

  // Missing or unusable fields are left out; the rest is kept.
  const auto partial = parse_category_metadata("label: [a, b]\nposition: .inf\n");
  EXPECT_FALSE(partial.label);
  EXPECT_FALSE(partial.position);
  EXPECT_FALSE(parse_category_metadata("{}").label);
  EXPECT_FALSE(parse_category_metadata("label: ~\n").label);

  // Control characters reach no table of contents (as front matter titles).
  EXPECT_EQ(parse_category_metadata(R"({"label": "a\u001b[31mb\u0000c\u007f"})").label,
            "a [31mb c ");

  // Garbage is refused with parse_error, never another exception.
  for (const char* text : {"", "just words", "[1, 2]", "42", "{\"label\": ", "label: [",
                           "position: high\n", "{\"position\": \"1e999\"}", "a: b: c\n",
                           "label: *unknown\n"}) {
    EXPECT_THROW(parse_category_metadata(text), parse_error) << text;
  }
  // Deep nesting is refused, not a stack overflow.
  EXPECT_THROW(parse_category_metadata(std::string(100'000, '[')), parse_error);
}

}  // namespace bookmcp::rag
