#pragma once
// Parsing one Markdown/MDX file the way Docusaurus reads it.
//
// The file goes through three steps:
//   1. YAML front matter (between leading `---` lines) is read with yaml-cpp;
//   2. MDX-only syntax is rewritten line by line (the line count never changes, so a line
//      number reported by the parser is a line number of the original file):
//      `import`/`export` statements and JSX/HTML tags, HTML and `{/* */}` comments are dropped
//      while the text between tags is kept; an admonition opener `:::tip Title` becomes the
//      text line "Tip: Title" and its closing `:::` a blank line;
//   3. md4c parses the block structure (GitHub dialect: tables, task lists, strikethrough;
//      indented code blocks disabled as in MDX), so `#` lines inside fences are never headings.
//
// Thread-safety: the functions are pure; call them from any thread.

#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

namespace bookmcp::rag {

// Thrown for a file Docusaurus would also refuse to build, e.g. malformed YAML front matter.
class parse_error : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// The front matter fields that matter for search, URLs and the sidebar.
struct front_matter {
  std::optional<std::string> title;
  std::optional<std::string> description;
  std::vector<std::string> keywords;  // a YAML list or a comma-separated string
  std::optional<std::string> slug;
  std::optional<std::string> id;
  std::optional<double> sidebar_position;
  std::optional<std::string> sidebar_label;
};

enum class block_kind { heading, paragraph, list_item, code, table };

// One block of the document in reading order, as plain text (emphasis, links and inline code
// markers removed; entities decoded).
struct markdown_block {
  block_kind kind = block_kind::paragraph;
  // heading: 1-6; list_item: nesting depth starting at 1; otherwise 0.
  int level = 0;
  // heading: its text without an explicit `{#id}`; code: the code, verbatim, ending in '\n';
  // table: one line per row, cells joined by " | "; otherwise the text.
  std::string text;
  std::string language;  // code: the fence's info string first word, may be empty
  std::string anchor;    // heading: Docusaurus anchor (explicit id or github-slugger slug)
  int line = -1;         // heading: 0-based line of the heading in the source, -1 if unknown
};

struct parsed_document {
  front_matter meta;
  // Front matter title, else the first level-1 heading, else the fallback title given.
  std::string title;
  std::vector<markdown_block> blocks;
};

// Reads the front matter only. `body_offset` (optional) receives the byte offset where the
// body starts (0 without front matter). Throws parse_error on malformed YAML.
front_matter parse_front_matter(std::string_view source, std::size_t* body_offset = nullptr);

// Parses a whole file. `fallback_title` is used when there is neither a front matter title
// nor a level-1 heading (callers pass the file name without number prefix and extension).
// Throws parse_error on malformed front matter; any other input parses.
parsed_document parse_markdown(std::string_view source, std::string_view fallback_title);

// The MDX rewrite of step 2 alone (front matter lines blanked too); exposed for tests.
std::string prepare_mdx_for_markdown(std::string_view source);

}  // namespace bookmcp::rag
