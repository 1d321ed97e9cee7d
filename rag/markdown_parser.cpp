#include "rag/markdown_parser.hpp"

#include <md4c.h>
#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <cctype>
#include <cmath>
#include <cstdlib>

#include "rag/text.hpp"

namespace bookmcp::rag {

namespace {

std::string_view trim(std::string_view s) {
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.front()))) s.remove_prefix(1);
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.back()))) s.remove_suffix(1);
  return s;
}

std::string_view trim_left(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  return s;
}

// The line starting at `pos` without its terminator ('\n', and a '\r' before it).
std::string_view line_at(std::string_view source, std::size_t pos, std::size_t* next) {
  std::size_t end = source.find('\n', pos);
  if (end == std::string_view::npos) end = source.size();
  *next = end < source.size() ? end + 1 : end;
  std::string_view line = source.substr(pos, end - pos);
  if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
  return line;
}

// Where the front matter block ends (offset of the first body byte), 0 without one.
// A UTF-8 byte order mark some editors write at the start of a file (Docusaurus ignores it).
constexpr std::string_view byte_order_mark = "\xEF\xBB\xBF";

std::size_t front_matter_end(std::string_view source, std::string_view* yaml) {
  std::size_t next = 0;
  const std::size_t start = source.starts_with(byte_order_mark) ? byte_order_mark.size() : 0;
  if (source.substr(start, 3) != "---") return 0;
  if (trim(line_at(source, start, &next)) != "---") return 0;
  std::size_t yaml_begin = next;
  std::size_t pos = next;
  while (pos < source.size()) {
    std::size_t line_begin = pos;
    std::string_view line = line_at(source, pos, &next);
    if (trim(line) == "---") {
      if (yaml) *yaml = source.substr(yaml_begin, line_begin - yaml_begin);
      return next;
    }
    pos = next;
  }
  return 0;  // unterminated: Docusaurus treats it as content
}

std::optional<std::string> scalar(const YAML::Node& node, const char* key) {
  const YAML::Node value = node[key];
  if (!value || !value.IsScalar()) return std::nullopt;
  return value.as<std::string>();
}

bool is_control(char c) {
  return static_cast<unsigned char>(c) < 0x20 || c == 0x7f;
}

// A front matter text shown to readers (title, labels, description): control characters (an
// escape sequence, a bell, NUL) become spaces, so they reach no title, table of contents or log.
std::optional<std::string> display_scalar(const YAML::Node& node, const char* key) {
  auto value = scalar(node, key);
  if (value) std::replace_if(value->begin(), value->end(), is_control, ' ');
  return value;
}

// A front matter value that becomes part of a URL (slug, id): control characters are refused.
std::optional<std::string> url_scalar(const YAML::Node& node, const char* key) {
  auto value = scalar(node, key);
  if (value && std::any_of(value->begin(), value->end(), is_control)) {
    throw parse_error(std::string("front matter ") + key + " contains control characters");
  }
  return value;
}

int count_leading(std::string_view s, char c) {
  int n = 0;
  while (static_cast<std::size_t>(n) < s.size() && s[static_cast<std::size_t>(n)] == c) ++n;
  return n;
}

// Net '{' minus '}' (and '(' minus ')') outside quotes: tells whether an ESM statement goes on.
int bracket_balance(std::string_view line) {
  int depth = 0;
  char quote = 0;
  for (char c : line) {
    if (quote) {
      if (c == quote) quote = 0;
      continue;
    }
    if (c == '"' || c == '\'' || c == '`') quote = c;
    if (c == '{' || c == '(' || c == '[') ++depth;
    if (c == '}' || c == ')' || c == ']') --depth;
  }
  return depth;
}

bool is_esm_start(std::string_view line) {
  for (std::string_view keyword : {"import", "export"}) {
    if (line.substr(0, keyword.size()) == keyword && line.size() > keyword.size()) {
      char next = line[keyword.size()];
      if (next == ' ' || next == '{' || next == '*' || next == '\'' || next == '"') return true;
    }
  }
  return false;
}

// Finds the '>' closing a JSX/HTML tag that starts at `pos` ('<'). Quotes and {expressions}
// may contain '>' and newlines; a blank line or 40 lines without '>' means it was not a tag.
// When it finds none because of a blank line or the end of `s` (not the line count), `*stop`
// receives where it stopped.
std::size_t find_tag_end(std::string_view s, std::size_t pos, std::size_t* stop) {
  int braces = 0;
  char quote = 0;
  int newlines = 0;
  bool previous_newline = false;
  for (std::size_t i = pos + 1; i < s.size(); ++i) {
    char c = s[i];
    if (c == '\n') {
      if (previous_newline) {
        *stop = i;
        return std::string_view::npos;
      }
      if (++newlines > 40) return std::string_view::npos;
      previous_newline = true;
      continue;
    }
    if (c != ' ' && c != '\t' && c != '\r') previous_newline = false;
    if (quote) {
      if (c == quote) quote = 0;
      continue;
    }
    if (braces == 0 && (c == '"' || c == '\'')) {
      quote = c;
    } else if (c == '{') {
      ++braces;
    } else if (c == '}') {
      --braces;
    } else if (c == '>' && braces <= 0) {
      return i;
    }
  }
  *stop = s.size();
  return std::string_view::npos;
}

// The first occurrence of `pattern` at or after a position, for positions that only grow (the
// rewrite goes through a page once): a search resumes from the last answer instead of scanning
// the rest of the page again for every opener. Without it, 16,000 "<!--" with no "-->" took
// 36 s (sanitized), each one searching to the end of the page.
struct next_occurrence {
  std::string_view pattern;
  std::size_t from = std::string_view::npos;  // the last search started here
  std::size_t found = std::string_view::npos;  // and found this (npos: nothing after `from`)

  std::size_t at_or_after(std::string_view s, std::size_t pos) {
    // Nothing lies in [from, found), so for from <= pos <= found the answer is still `found`.
    if (from == std::string_view::npos || pos < from || found < pos) {
      found = s.find(pattern, pos);
      from = pos;
    }
    return found;
  }
};

// What the rewrite of one page remembers between openers, so that it stays linear.
struct rewrite_state {
  next_occurrence comment_close{"-->"};
  next_occurrence expression_comment_close{"*/}"};
  next_occurrence greater{">"};
  // The last tag scan that found no '>' stopped at `failed_stop` (a blank line or the end);
  // a tag opened between its start and that stop reaches the same stop, so without a '>' in
  // between it has no end either ("<a <a <a ..." over a long line was quadratic: 112 s for
  // 60 KB sanitized).
  std::size_t failed_start = std::string_view::npos;
  std::size_t failed_stop = 0;

  std::size_t tag_end(std::string_view s, std::size_t pos) {
    if (failed_start != std::string_view::npos && pos > failed_start && pos < failed_stop &&
        greater.at_or_after(s, pos + 1) >= failed_stop) {
      return std::string_view::npos;
    }
    std::size_t stop = std::string_view::npos;
    const std::size_t end = find_tag_end(s, pos, &stop);
    if (end == std::string_view::npos && stop != std::string_view::npos) {
      failed_start = pos;
      failed_stop = stop;
    }
    return end;
  }
};

bool looks_like_tag(std::string_view s, std::size_t pos) {
  if (pos + 1 >= s.size()) return false;
  std::size_t i = pos + 1;
  if (s[i] == '>') return true;  // fragment <>
  if (s[i] == '/') ++i;
  if (i >= s.size()) return false;
  if (s[i] == '>') return true;  // fragment </>
  if (!std::isalpha(static_cast<unsigned char>(s[i]))) return false;
  while (i < s.size() && (std::isalnum(static_cast<unsigned char>(s[i])) || s[i] == '.' ||
                          s[i] == '-' || s[i] == '_')) {
    ++i;
  }
  if (i >= s.size()) return false;
  // "<https://...>" is an autolink, "<a@b.c>" an email: keep both.
  return s[i] == '>' || s[i] == '/' || s[i] == ' ' || s[i] == '\t' || s[i] == '\n' || s[i] == '\r';
}

std::string capitalized(std::string_view word) {
  std::string out(word);
  if (!out.empty()) out[0] = static_cast<char>(std::toupper(static_cast<unsigned char>(out[0])));
  return out;
}

// Rewrites the inline content of one logical line (which may grow when a tag or comment spans
// several lines). Appends to `out`, emitting one '\n' for every newline consumed.
std::size_t rewrite_inline(std::string_view s, std::size_t pos, std::string& out,
                           rewrite_state& state) {
  while (pos < s.size() && s[pos] != '\n') {
    char c = s[pos];
    if (c == '`') {
      int run = count_leading(s.substr(pos), '`');
      std::string_view fence(s.data() + pos, static_cast<std::size_t>(run));
      std::size_t line_end = s.find('\n', pos);
      if (line_end == std::string_view::npos) line_end = s.size();
      std::size_t close = s.substr(0, line_end).find(fence, pos + static_cast<std::size_t>(run));
      if (close != std::string_view::npos) {
        std::size_t end = close + static_cast<std::size_t>(run);
        out.append(s.substr(pos, end - pos));
        pos = end;
      } else {
        out.append(fence);
        pos += static_cast<std::size_t>(run);
      }
      continue;
    }
    std::size_t end = std::string_view::npos;
    // The first byte decides before any comparison: this runs for every byte of the page.
    if (c == '<' && s.substr(pos).starts_with("<!--")) {
      std::size_t close = state.comment_close.at_or_after(s, pos + 4);
      if (close != std::string_view::npos) end = close + 2;
    } else if (c == '{' && s.substr(pos).starts_with("{/*")) {
      std::size_t close = state.expression_comment_close.at_or_after(s, pos + 3);
      if (close != std::string_view::npos) end = close + 2;
    } else if (c == '<' && looks_like_tag(s, pos)) {
      end = state.tag_end(s, pos);
    }
    if (end != std::string_view::npos) {
      // A space keeps the words on both sides apart without doubling existing spaces.
      bool space_before = out.empty() || out.back() == ' ' || out.back() == '\n';
      bool space_after = end + 1 >= s.size() || s[end + 1] == ' ' || s[end + 1] == '\n';
      if (!space_before && !space_after) out.push_back(' ');
      out.append(static_cast<std::size_t>(std::count(s.begin() + static_cast<long>(pos),
                                                     s.begin() + static_cast<long>(end), '\n')),
                 '\n');
      pos = end + 1;
      continue;
    }
    out.push_back(c);
    ++pos;
  }
  return pos;
}

}  // namespace

front_matter parse_front_matter(std::string_view source, std::size_t* body_offset) {
  front_matter meta;
  std::string_view yaml;
  std::size_t end = front_matter_end(source, &yaml);
  if (body_offset) *body_offset = end;
  if (end == 0 || trim(yaml).empty()) return meta;
  YAML::Node root;
  try {
    root = YAML::Load(std::string(yaml));
  } catch (const YAML::Exception& e) {
    throw parse_error("invalid YAML front matter: " + std::string(e.what()));
  }
  if (!root.IsMap()) {
    if (root.IsNull()) return meta;
    throw parse_error("front matter is not a YAML mapping");
  }
  try {
    meta.title = display_scalar(root, "title");
    meta.description = display_scalar(root, "description");
    meta.slug = url_scalar(root, "slug");
    meta.id = url_scalar(root, "id");
    meta.sidebar_label = display_scalar(root, "sidebar_label");
    if (auto position = scalar(root, "sidebar_position")) {
      char* parse_end = nullptr;
      double value = std::strtod(position->c_str(), &parse_end);
      if (parse_end == position->c_str() || *parse_end != '\0' || !std::isfinite(value)) {
        throw parse_error("front matter sidebar_position is not a finite number: " + *position);
      }
      meta.sidebar_position = value;
    }
    const YAML::Node keywords = root["keywords"];
    if (keywords && keywords.IsSequence()) {
      for (const auto& keyword : keywords) {
        if (keyword.IsScalar()) meta.keywords.push_back(keyword.as<std::string>());
      }
    } else if (keywords && keywords.IsScalar()) {
      std::string_view all = keywords.Scalar();
      while (!all.empty()) {
        std::size_t comma = all.find(',');
        std::string_view one = trim(all.substr(0, comma));
        if (!one.empty()) meta.keywords.emplace_back(one);
        if (comma == std::string_view::npos) break;
        all.remove_prefix(comma + 1);
      }
    }
  } catch (const YAML::Exception& e) {
    throw parse_error("invalid front matter: " + std::string(e.what()));
  }
  return meta;
}

std::string prepare_mdx_for_markdown(std::string_view source) {
  std::string out;
  out.reserve(source.size() + 64);
  std::size_t pos = 0;
  if (std::size_t body = front_matter_end(source, nullptr); body > 0) {
    out.append(static_cast<std::size_t>(
                   std::count(source.begin(), source.begin() + static_cast<long>(body), '\n')),
               '\n');
    pos = body;
  }
  rewrite_state state;
  char fence_char = 0;
  int fence_length = 0;
  int esm_depth = 0;
  bool in_esm = false;
  while (pos < source.size()) {
    std::size_t next = 0;
    std::string_view line = line_at(source, pos, &next);
    std::string_view stripped = trim_left(line);
    bool has_newline = next > pos && source[next - 1] == '\n';

    bool verbatim = false;
    std::string replacement;
    bool replaced = false;
    if (fence_char) {
      int run = count_leading(stripped, fence_char);
      if (run >= fence_length && trim(stripped.substr(static_cast<std::size_t>(run))).empty()) {
        fence_char = 0;
      }
      verbatim = true;
    } else if (int ticks = count_leading(stripped, '`'), tildes = count_leading(stripped, '~');
               ticks >= 3 || tildes >= 3) {
      fence_char = ticks >= 3 ? '`' : '~';
      fence_length = std::max(ticks, tildes);
      verbatim = true;
    } else if (in_esm) {
      esm_depth += bracket_balance(line);
      in_esm = esm_depth > 0;
      replaced = true;
    } else if (is_esm_start(line)) {
      esm_depth = bracket_balance(line);
      in_esm = esm_depth > 0;
      replaced = true;
    } else if (count_leading(stripped, ':') >= 3) {
      std::string_view rest =
          stripped.substr(static_cast<std::size_t>(count_leading(stripped, ':')));
      std::size_t kind_length = 0;
      while (kind_length < rest.size() &&
             std::isalpha(static_cast<unsigned char>(rest[kind_length]))) {
        ++kind_length;
      }
      std::string_view kind = rest.substr(0, kind_length);
      std::string_view title = trim(rest.substr(kind_length));
      if (title.starts_with('[') && title.ends_with(']')) title = title.substr(1, title.size() - 2);
      if (!kind.empty()) {
        // A hard line break keeps the title on its own line in the admonition's first paragraph.
        replacement = capitalized(kind) + ":";
        if (!title.empty()) replacement += " " + std::string(title);
        replacement += "  ";
      }
      replaced = true;
    }

    if (verbatim) {
      out.append(line);
      if (has_newline) out.push_back('\n');
      pos = next;
    } else if (replaced) {
      out.append(replacement);
      if (has_newline) out.push_back('\n');
      pos = next;
    } else {
      std::size_t end = rewrite_inline(source, pos, out, state);
      if (end < source.size()) {
        out.push_back('\n');
        ++end;
      }
      pos = end;
    }
  }
  return out;
}

namespace {

struct md_collector {
  const char* base = nullptr;
  std::size_t size = 0;
  std::vector<markdown_block> blocks;
  std::string text;
  std::string table_text;
  std::vector<std::string> cells;
  int list_depth = 0;
  // One entry per open list item: whether its first paragraph was already emitted.
  std::vector<bool> item_started;
  bool in_heading = false;
  bool in_code = false;
  int heading_level = 0;
  long heading_offset = -1;
  // Line breaks before `counted_offset`: headings come in document order, so each one counts
  // only from the previous one (counting from the start made parsing quadratic in headings).
  long counted_offset = 0;
  int counted_lines = 0;
  std::string code_language;

  int line_of(long offset) {
    if (offset < counted_offset) {
      counted_offset = 0;
      counted_lines = 0;
    }
    counted_lines += static_cast<int>(std::count(base + counted_offset, base + offset, '\n'));
    counted_offset = offset;
    return counted_lines;
  }

  void emit_text(block_kind kind) {
    std::string_view content = trim(text);
    if (!content.empty()) {
      markdown_block block;
      block.kind = kind;
      if (kind == block_kind::list_item) {
        block.level = list_depth;
        block.text = std::string(static_cast<std::size_t>(2 * (list_depth - 1)), ' ') + "- ";
      }
      block.text.append(content);
      blocks.push_back(std::move(block));
    }
    text.clear();
  }

  // Text that arrived directly in a tight list item, before a nested block starts.
  void flush_item_text() {
    if (!item_started.empty() && !trim(text).empty()) {
      emit_text(item_started.back() ? block_kind::paragraph : block_kind::list_item);
      item_started.back() = true;
    }
  }

  void paragraph_done() {
    if (!item_started.empty() && !item_started.back()) {
      emit_text(block_kind::list_item);
      item_started.back() = true;
    } else {
      emit_text(block_kind::paragraph);
    }
  }
};

void append_entity(std::string& out, std::string_view entity) {
  static const std::pair<std::string_view, std::string_view> named[] = {
      {"&amp;", "&"},         {"&lt;", "<"},        {"&gt;", ">"},         {"&quot;", "\""},
      {"&apos;", "'"},        {"&nbsp;", " "},      {"&mdash;", "\u2014"}, {"&ndash;", "\u2013"},
      {"&hellip;", "\u2026"}, {"&copy;", "\u00a9"}, {"&rarr;", "\u2192"},  {"&times;", "\u00d7"}};
  for (const auto& [name, value] : named) {
    if (entity == name) {
      out.append(value);
      return;
    }
  }
  if (entity.size() > 3 && entity[1] == '#') {
    bool hex = entity[2] == 'x' || entity[2] == 'X';
    std::string digits(entity.substr(hex ? 3 : 2, entity.size() - (hex ? 4 : 3)));
    char* end = nullptr;
    unsigned long code_point = std::strtoul(digits.c_str(), &end, hex ? 16 : 10);
    if (end && *end == '\0' && code_point > 0 && code_point <= 0x10FFFF &&
        !(code_point >= 0xD800 && code_point <= 0xDFFF)) {
      char buffer[4];
      int n = 0;
      if (code_point < 0x80) {
        buffer[n++] = static_cast<char>(code_point);
      } else if (code_point < 0x800) {
        buffer[n++] = static_cast<char>(0xC0 | (code_point >> 6));
        buffer[n++] = static_cast<char>(0x80 | (code_point & 0x3F));
      } else if (code_point < 0x10000) {
        buffer[n++] = static_cast<char>(0xE0 | (code_point >> 12));
        buffer[n++] = static_cast<char>(0x80 | ((code_point >> 6) & 0x3F));
        buffer[n++] = static_cast<char>(0x80 | (code_point & 0x3F));
      } else {
        buffer[n++] = static_cast<char>(0xF0 | (code_point >> 18));
        buffer[n++] = static_cast<char>(0x80 | ((code_point >> 12) & 0x3F));
        buffer[n++] = static_cast<char>(0x80 | ((code_point >> 6) & 0x3F));
        buffer[n++] = static_cast<char>(0x80 | (code_point & 0x3F));
      }
      out.append(buffer, static_cast<std::size_t>(n));
      return;
    }
  }
  out.append(entity);
}

int on_enter_block(MD_BLOCKTYPE type, void* detail, void* user) {
  auto& c = *static_cast<md_collector*>(user);
  if (type != MD_BLOCK_DOC) c.flush_item_text();
  switch (type) {
    case MD_BLOCK_H:
      c.text.clear();
      c.in_heading = true;
      c.heading_level = static_cast<int>(static_cast<MD_BLOCK_H_DETAIL*>(detail)->level);
      c.heading_offset = -1;
      break;
    case MD_BLOCK_CODE: {
      c.text.clear();
      c.in_code = true;
      const auto* code = static_cast<MD_BLOCK_CODE_DETAIL*>(detail);
      std::string_view info(code->info.text ? code->info.text : "", code->info.size);
      info = trim(info);
      c.code_language = std::string(info.substr(0, info.find_first_of(" \t{")));
      break;
    }
    case MD_BLOCK_UL:
    case MD_BLOCK_OL:
      ++c.list_depth;
      break;
    case MD_BLOCK_LI:
      c.text.clear();
      c.item_started.push_back(false);
      break;
    case MD_BLOCK_TABLE:
      c.table_text.clear();
      break;
    case MD_BLOCK_TR:
      c.cells.clear();
      break;
    case MD_BLOCK_TH:
    case MD_BLOCK_TD:
    case MD_BLOCK_P:
      c.text.clear();
      break;
    default:
      break;
  }
  return 0;
}

int on_leave_block(MD_BLOCKTYPE type, void*, void* user) {
  auto& c = *static_cast<md_collector*>(user);
  switch (type) {
    case MD_BLOCK_H: {
      markdown_block block;
      block.kind = block_kind::heading;
      block.level = c.heading_level;
      block.text = c.text;
      if (c.heading_offset >= 0) {
        block.line = c.line_of(c.heading_offset);
      }
      c.blocks.push_back(std::move(block));
      c.text.clear();
      c.in_heading = false;
      break;
    }
    case MD_BLOCK_CODE: {
      markdown_block block;
      block.kind = block_kind::code;
      block.text = std::move(c.text);
      if (!block.text.empty() && block.text.back() != '\n') block.text.push_back('\n');
      block.language = c.code_language;
      if (!trim(block.text).empty()) c.blocks.push_back(std::move(block));
      c.text.clear();
      c.in_code = false;
      break;
    }
    case MD_BLOCK_P:
      c.paragraph_done();
      break;
    case MD_BLOCK_LI:
      c.flush_item_text();
      c.text.clear();
      c.item_started.pop_back();
      break;
    case MD_BLOCK_UL:
    case MD_BLOCK_OL:
      --c.list_depth;
      break;
    case MD_BLOCK_TH:
    case MD_BLOCK_TD:
      c.cells.emplace_back(trim(c.text));
      c.text.clear();
      break;
    case MD_BLOCK_TR: {
      std::string row;
      for (std::size_t i = 0; i < c.cells.size(); ++i) {
        if (i) row += " | ";
        row += c.cells[i];
      }
      c.table_text += row;
      c.table_text += '\n';
      break;
    }
    case MD_BLOCK_TABLE: {
      markdown_block block;
      block.kind = block_kind::table;
      block.text = std::move(c.table_text);
      c.blocks.push_back(std::move(block));
      c.table_text.clear();
      break;
    }
    case MD_BLOCK_HTML:
      c.text.clear();
      break;
    default:
      break;
  }
  return 0;
}

int on_enter_span(MD_SPANTYPE, void*, void*) {
  return 0;
}
int on_leave_span(MD_SPANTYPE, void*, void*) {
  return 0;
}

int on_text(MD_TEXTTYPE type, const MD_CHAR* text, MD_SIZE size, void* user) {
  auto& c = *static_cast<md_collector*>(user);
  if (c.in_heading && c.heading_offset < 0 && text >= c.base && text < c.base + c.size) {
    c.heading_offset = text - c.base;
  }
  switch (type) {
    case MD_TEXT_NORMAL:
    case MD_TEXT_CODE:
    case MD_TEXT_LATEXMATH:
      c.text.append(text, size);
      break;
    case MD_TEXT_ENTITY:
      append_entity(c.text, std::string_view(text, size));
      break;
    case MD_TEXT_SOFTBR:
      c.text.push_back(' ');
      break;
    case MD_TEXT_BR:
      c.text.push_back('\n');
      break;
    case MD_TEXT_NULLCHAR:
      c.text.append("\xEF\xBF\xBD");
      break;
    case MD_TEXT_HTML:
      break;
  }
  return 0;
}

}  // namespace

parsed_document parse_markdown(std::string_view source, std::string_view fallback_title) {
  parsed_document document;
  document.meta = parse_front_matter(source);
  std::string prepared = prepare_mdx_for_markdown(source);
  // Spaces in place of a byte order mark: a first-line heading stays a heading, and every
  // offset and line number stays that of the file.
  if (std::string_view(prepared).starts_with(byte_order_mark))
    prepared.replace(0, byte_order_mark.size(), "   ");

  md_collector collector;
  collector.base = prepared.data();
  collector.size = prepared.size();
  MD_PARSER parser{};
  parser.abi_version = 0;
  parser.flags =
      MD_DIALECT_GITHUB | MD_FLAG_NOINDENTEDCODEBLOCKS | MD_FLAG_NOHTML | MD_FLAG_LATEXMATHSPANS;
  parser.enter_block = on_enter_block;
  parser.leave_block = on_leave_block;
  parser.enter_span = on_enter_span;
  parser.leave_span = on_leave_span;
  parser.text = on_text;
  md_parse(prepared.data(), static_cast<MD_SIZE>(prepared.size()), &parser, &collector);
  document.blocks = std::move(collector.blocks);

  heading_slugger slugger;
  std::string first_h1;
  for (auto& block : document.blocks) {
    if (block.kind != block_kind::heading) continue;
    auto [text, id] = split_explicit_heading_id(block.text);
    block.text = std::move(text);
    // Docusaurus: an explicit id is used as is and does not take part in duplicate counting.
    block.anchor = id.empty() ? slugger.slug(block.text) : std::move(id);
    if (block.level == 1 && first_h1.empty()) first_h1 = block.text;
  }
  if (document.meta.title && !trim(*document.meta.title).empty()) {
    document.title = std::string(trim(*document.meta.title));
  } else if (!first_h1.empty()) {
    document.title = first_h1;
  } else {
    document.title = std::string(fallback_title);
  }
  return document;
}

}  // namespace bookmcp::rag
