#include "examples/chat/extractive_answer.hpp"

#include <algorithm>
#include <array>
#include <cmath>
#include <cstdint>
#include <optional>
#include <unordered_set>

#include "rag/tokenizer.hpp"

namespace bookmcp::chat {
namespace {

// ---- Markdown to prose --------------------------------------------------------------------------

// One paragraph or list item of readable_text: bytes [begin, end) of the text.
struct block {
  std::size_t begin = 0;
  std::size_t end = 0;
  bool list_item = false;
  std::size_t heading =
      0;  // the heading it is under: 1 + index into parse_blocks' headings; 0 none
};

bool is_blank(char c) {
  return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

std::string_view trim(std::string_view text) {
  while (!text.empty() && is_blank(text.front())) text.remove_prefix(1);
  while (!text.empty() && is_blank(text.back())) text.remove_suffix(1);
  return text;
}

bool starts_with(std::string_view text, std::string_view prefix) {
  return text.substr(0, prefix.size()) == prefix;
}

// Removes `open` ... `close` spans (HTML and MDX comments), across lines.
std::string without_spans(std::string_view text, std::string_view open, std::string_view close) {
  std::string out;
  out.reserve(text.size());
  std::size_t at = 0;
  while (at < text.size()) {
    const std::size_t start = text.find(open, at);
    if (start == std::string_view::npos) break;
    const std::size_t stop = text.find(close, start + open.size());
    out.append(text.substr(at, start - at));
    if (stop == std::string_view::npos) return out;  // an unclosed comment runs to the end
    at = stop + close.size();
  }
  out.append(text.substr(std::min(at, text.size())));
  return out;
}

bool is_tag_start(std::string_view line, std::size_t at) {
  if (line[at] != '<' || at + 1 >= line.size()) return false;
  const char next = line[at + 1];
  return (next >= 'A' && next <= 'Z') || (next >= 'a' && next <= 'z') || next == '/' || next == '!';
}

// The characters inline_text looks at; the rest is copied as it is.
constexpr std::array<bool, 256> may_start_markup = [] {
  std::array<bool, 256> table{};
  for (const unsigned char c : std::string_view("<![&\\ \t\r\n")) table[c] = true;
  return table;
}();

// One line's inline Markdown/JSX reduced to text: tags and images dropped, links to their
// text, a few entities decoded, runs of spaces collapsed.
std::string inline_text(std::string_view line) {
  std::string out;
  out.reserve(line.size());
  const auto space = [&] {
    if (!out.empty() && out.back() != ' ') out += ' ';
  };
  std::size_t i = 0;
  while (i < line.size()) {
    // Plain text up to the next character that may start markup, copied at once.
    std::size_t special = i;
    while (special < line.size() && !may_start_markup[static_cast<unsigned char>(line[special])])
      ++special;
    if (special > i) {
      // "<em>delay</em>, and": the space the tag left goes, the comma stays.
      const char first = line[i];
      const bool ends_clause = special == i + 1 || line[i + 1] == ' ';
      if (!out.empty() && out.back() == ' ' && ends_clause &&
          std::string_view(",.;:!?)").find(first) != std::string_view::npos)
        out.pop_back();
      out.append(line.substr(i, special - i));
      i = special;
      if (i == line.size()) break;
    }
    const char c = line[i];
    if (is_tag_start(line, i)) {
      const std::size_t close = line.find('>', i);
      if (close != std::string_view::npos) {
        i = close + 1;
        space();  // "<br/>" and block tags separate words
        continue;
      }
    }
    if (c == '!' && i + 1 < line.size() && line[i + 1] == '[') {  // ![alt](src): an image
      const std::size_t label_end = line.find(']', i + 2);
      if (label_end != std::string_view::npos && label_end + 1 < line.size() &&
          line[label_end + 1] == '(') {
        const std::size_t target_end = line.find(')', label_end + 2);
        if (target_end != std::string_view::npos) {
          i = target_end + 1;
          continue;
        }
      }
    }
    if (c == '[') {
      const std::size_t label_end = line.find(']', i + 1);
      if (label_end != std::string_view::npos) {
        const std::string_view label = line.substr(i + 1, label_end - i - 1);
        if (starts_with(label, "^")) {  // a footnote reference
          i = label_end + 1;
          continue;
        }
        const char after = label_end + 1 < line.size() ? line[label_end + 1] : '\0';
        const char closer = after == '(' ? ')' : after == '[' ? ']' : '\0';
        const std::size_t target_end =
            closer ? line.find(closer, label_end + 2) : std::string_view::npos;
        if (target_end != std::string_view::npos) {  // [text](url) or [text][ref]: the text
          out += inline_text(label);
          i = target_end + 1;
          continue;
        }
      }
    }
    if (c == '&') {
      static constexpr std::array<std::pair<std::string_view, std::string_view>, 6> entities = {
          {{"&nbsp;", " "},
           {"&amp;", "&"},
           {"&lt;", "<"},
           {"&gt;", ">"},
           {"&quot;", "\""},
           {"&#39;", "'"}}};
      bool replaced = false;
      for (const auto& [entity, text] : entities) {
        if (line.substr(i, entity.size()) == entity) {
          if (text == " ")
            space();
          else
            out += text;
          i += entity.size();
          replaced = true;
          break;
        }
      }
      if (replaced) continue;
    }
    if (is_blank(c) || c == '\\') {  // "\\" at a line's end is a hard break
      space();
      ++i;
      continue;
    }
    out += c;
    ++i;
  }
  while (!out.empty() && out.back() == ' ') out.pop_back();
  return out;
}

// The list marker at the start of `line` ("- ", "* ", "+ ", "1. ", "2) "): its length, or 0.
std::size_t list_marker(std::string_view line) {
  if (line.size() >= 2 && (line[0] == '-' || line[0] == '*' || line[0] == '+') && line[1] == ' ')
    return 2;
  std::size_t digits = 0;
  while (digits < line.size() && digits < 9 && line[digits] >= '0' && line[digits] <= '9') ++digits;
  if (digits > 0 && digits + 1 < line.size() && (line[digits] == '.' || line[digits] == ')') &&
      line[digits + 1] == ' ')
    return digits + 2;
  return 0;
}

bool is_heading(std::string_view line) {
  std::size_t hashes = 0;
  while (hashes < line.size() && line[hashes] == '#') ++hashes;
  return hashes >= 1 && hashes <= 6 && (hashes == line.size() || line[hashes] == ' ');
}

// "---", "***", "===", "___" (rules and setext underlines).
bool is_rule(std::string_view line) {
  if (line.size() < 3) return false;
  const char c = line[0];
  if (c != '-' && c != '*' && c != '_' && c != '=') return false;
  return std::all_of(line.begin(), line.end(), [c](char d) { return d == c || d == ' '; });
}

// A code fence ("```", "~~~~"): its character and length, or 0.
std::size_t fence_length(std::string_view line) {
  if (line.empty() || (line[0] != '`' && line[0] != '~')) return 0;
  std::size_t n = 0;
  while (n < line.size() && line[n] == line[0]) ++n;
  return n >= 3 ? n : 0;
}

// A heading line's words: "### Tuning {#tune}" is "Tuning".
std::string heading_words(std::string_view line) {
  while (!line.empty() && line.front() == '#') line.remove_prefix(1);
  if (const std::size_t anchor = line.rfind("{#");
      anchor != std::string_view::npos && line.back() == '}')
    line = line.substr(0, anchor);
  return inline_text(trim(line));
}

// The blocks of prose of `markdown`, written to `text` (see readable_text); the headings they
// are under appended to `headings` when given.
std::vector<block> parse_blocks(std::string_view markdown, std::string& text,
                                std::vector<std::string>* headings = nullptr) {
  const std::string source = without_spans(without_spans(markdown, "<!--", "-->"), "{/*", "*/}");
  std::vector<block> blocks;
  std::string paragraph;
  bool paragraph_is_item = false;
  std::size_t heading = 0;
  const auto flush = [&] {
    if (!paragraph.empty()) {
      if (!text.empty()) text += "\n\n";
      blocks.push_back({text.size(), text.size() + paragraph.size(), paragraph_is_item, heading});
      text += paragraph;
    }
    paragraph.clear();
    paragraph_is_item = false;
  };

  std::array<std::string, 7> outline;  // the headings above, by level (1..6)
  std::size_t fence = 0;               // inside a code block: its fence's length
  char fence_char = 0;
  bool in_front_matter = false;
  bool in_statement = false;  // a multi-line import/export, up to a blank line
  std::size_t line_number = 0;
  std::size_t at = 0;
  while (at <= source.size()) {
    std::size_t end = source.find('\n', at);
    if (end == std::string::npos) end = source.size();
    const std::string_view raw = std::string_view(source).substr(at, end - at);
    at = end + 1;
    const std::string_view line = trim(raw);
    const bool first_line = line_number++ == 0;

    if (first_line && line == "---") {
      in_front_matter = true;
      continue;
    }
    if (in_front_matter) {
      in_front_matter = line != "---" && line != "...";
      continue;
    }
    if (fence) {
      if (fence_length(line) >= fence && line[0] == fence_char &&
          trim(line.substr(fence_length(line))).empty())
        fence = 0;
      continue;
    }
    if (const std::size_t length = fence_length(line)) {
      flush();
      fence = length;
      fence_char = line[0];
      continue;
    }
    if (in_statement) {
      in_statement = !line.empty();
      continue;
    }
    if (is_heading(line)) {
      flush();
      if (headings) {
        // The heading with those above it: under "## PID control", "### Tuning" is about tuning
        // PID.
        // is_heading: 1 to 6 "#"s, then a space or nothing ("#" alone is an empty heading).
        const std::size_t level = std::min(line.find_first_not_of('#'), line.size());
        outline[level] = heading_words(line);
        std::string chain;
        for (std::size_t l = 1; l < outline.size(); ++l) {
          if (l > level) outline[l].clear();
          if (!outline[l].empty()) chain += (chain.empty() ? "" : " ") + outline[l];
        }
        headings->push_back(std::move(chain));
        heading = headings->size();
      }
      continue;
    }
    if (line.empty() || starts_with(line, ":::") || starts_with(line, "|") || is_rule(line)) {
      flush();
      continue;
    }
    if (starts_with(line, "import ") || starts_with(line, "export ")) {
      flush();
      in_statement = line.back() != ';' && line.back() != '>';
      continue;
    }
    std::string_view content = line;
    while (!content.empty() && content.front() == '>')
      content = trim(content.substr(1));  // blockquote
    if (const std::size_t marker = list_marker(content)) {
      flush();
      paragraph_is_item = true;
      content = trim(content.substr(marker));
      if (starts_with(content, "[ ] ") || starts_with(content, "[x] "))
        content = content.substr(4);  // task lists
    }
    const std::string words = inline_text(content);
    if (words.empty()) {  // "<Tabs>", "</TabItem>": a tag alone ends the paragraph
      flush();
      continue;
    }
    if (!paragraph.empty()) paragraph += ' ';
    paragraph += words;
  }
  flush();
  return blocks;
}

// ---- Sentences ----------------------------------------------------------------------------------

bool is_continuation_byte(char c) {
  return (static_cast<unsigned char>(c) & 0xC0) == 0x80;
}

// A full stop that ends no sentence: "e.g.", "Fig.", "Dr.", an initial "J.".
bool is_abbreviation(std::string_view text, std::size_t dot) {
  std::size_t start = dot;
  while (start > 0 && !is_blank(text[start - 1]) && text[start - 1] != '(') --start;
  const std::size_t length = dot - start;
  if (length == 1) return std::isalpha(static_cast<unsigned char>(text[start])) != 0;
  if (length == 0 || length > 6) return false;
  std::array<char, 6> folded{};
  for (std::size_t i = 0; i < length; ++i)
    folded[i] = static_cast<char>(std::tolower(static_cast<unsigned char>(text[start + i])));
  const std::string_view word(folded.data(), length);
  static constexpr std::array<std::string_view, 20> abbreviations = {
      "e.g", "i.e", "etc", "vs", "cf",  "fig",    "figs", "eq", "eqs", "dr",
      "mr",  "mrs", "ms",  "no", "sec", "approx", "al",   "ch", "pp",  "resp"};
  return std::find(abbreviations.begin(), abbreviations.end(), word) != abbreviations.end();
}

// The sentences of text[begin, end): byte ranges, without the spaces between them. A sentence
// ends at ".", "!" or "?" (and closing quotes/brackets/emphasis after it) followed by a space
// and a capital, digit or opening mark; or at the CJK full stops "。！？".
void append_sentences(std::string_view text, std::size_t begin, std::size_t end,
                      std::vector<block>& out) {
  std::size_t start = begin;
  const auto emit = [&](std::size_t stop) {
    while (start < stop && is_blank(text[start])) ++start;
    std::size_t last = stop;
    while (last > start && is_blank(text[last - 1])) --last;
    if (last > start) out.push_back({start, last, false});
    start = stop;
  };
  for (std::size_t i = begin; i < end; ++i) {
    const char c = text[i];
    if (c == '\xE3' && i + 2 < end && text[i + 1] == '\x80' && text[i + 2] == '\x82') {  // 。
      emit(i + 3);
      i += 2;
      continue;
    }
    if (c == '\xEF' && i + 2 < end && text[i + 1] == '\xBC' &&
        (text[i + 2] == '\x81' || text[i + 2] == '\x9F')) {
      emit(i + 3);  // ！ ？
      i += 2;
      continue;
    }
    if (c != '.' && c != '!' && c != '?') continue;
    if (c == '.' && is_abbreviation(text, i)) continue;
    std::size_t close = i + 1;
    while (close < end && std::string_view(")\"'*_]").find(text[close]) != std::string_view::npos)
      ++close;
    if (close + 1 < end && text[close] == '\xE2' && text[close + 1] == '\x80' && close + 2 < end &&
        (text[close + 2] == '\x9D' || text[close + 2] == '\x99'))
      close += 3;  // ” ’
    if (close >= end) break;
    if (text[close] != ' ' || close + 1 >= end) continue;
    const auto next = static_cast<unsigned char>(text[close + 1]);
    const bool opens =
        (next >= 'A' && next <= 'Z') || (next >= '0' && next <= '9') || next >= 0x80 ||
        std::string_view("\"'(*`[_").find(static_cast<char>(next)) != std::string_view::npos;
    if (opens) emit(close);
  }
  emit(end);
}

// ---- Terms --------------------------------------------------------------------------------------

rag::tokenizer& thread_tokenizer() {
  thread_local rag::tokenizer tokenizer;
  return tokenizer;
}

// Words of a question that say how it is asked rather than what about ("explain", "book").
const std::unordered_set<std::string>& question_filler_terms() {
  static const std::unordered_set<std::string> terms = [] {
    rag::tokenizer tokenizer;
    std::vector<std::string> stems;
    tokenizer.append_terms(
        "explain explanation tell describe description mean meaning means book chapter section "
        "page please show "
        "know want need help work works understand learn say says thing things give example "
        "question answer",
        stems);
    return std::unordered_set<std::string>(stems.begin(), stems.end());
  }();
  return terms;
}

// The question's terms to look for. The stemmer leaves some plurals of acronyms alone ("IMUs"
// stays "imus" while "IMU" is "imu"), so a term ending in "s" is also looked for without it;
// both spellings count as one term (`group`).
struct term_set {
  std::vector<std::string> wanted;  // what find_terms looks for
  std::vector<std::size_t> group;   // wanted[i] is question term group[i]
  std::size_t count = 0;            // question terms (groups), at most 64
};

term_set question_terms(std::string_view question) {
  std::vector<std::string> all;
  thread_tokenizer().append_terms(question, all);
  std::vector<std::string> terms;
  const auto& filler = question_filler_terms();
  for (auto& term : all)
    if (!filler.contains(term) && std::find(terms.begin(), terms.end(), term) == terms.end())
      terms.push_back(term);
  if (terms.empty()) {  // "explain the book": the filler is all there is
    for (auto& term : all)
      if (std::find(terms.begin(), terms.end(), term) == terms.end()) terms.push_back(term);
  }
  if (terms.size() > 64) terms.resize(64);
  term_set set;
  set.count = terms.size();
  for (std::size_t i = 0; i < terms.size(); ++i) {
    const std::string& term = terms[i];
    set.wanted.push_back(term);
    set.group.push_back(i);
    if (term.size() > 3 && term.back() == 's' && term[term.size() - 2] != 's') {
      const std::string singular = term.substr(0, term.size() - 1);
      if (std::find(terms.begin(), terms.end(), singular) == terms.end()) {
        set.wanted.push_back(singular);
        set.group.push_back(i);
      }
    }
  }
  return set;
}

// Which question terms occur in `text`, as a bit set.
std::uint64_t matched_terms(std::string_view text, const term_set& terms,
                            std::vector<rag::term_match>& scratch) {
  scratch.clear();
  thread_tokenizer().find_terms(text, terms.wanted, scratch);
  std::uint64_t bits = 0;
  for (const auto& match : scratch) bits |= std::uint64_t{1} << terms.group[match.term];
  return bits;
}

// ---- Choosing passages --------------------------------------------------------------------------

struct candidate {
  std::size_t section = 0;  // index into the sections
  std::size_t begin = 0;    // bytes in that section's readable text
  std::size_t end = 0;
  std::size_t block = 0;    // index of its block, for merging neighbours
  std::size_t index = 0;    // its place among all candidates, in reading order
  std::size_t heading = 0;  // block::heading
  std::uint64_t terms = 0;
  double score = 0;
};

struct prepared_section {
  std::string text;  // readable_text
  std::vector<block> blocks;
  // Which question terms each heading names, as block::heading counts (0: the section's own).
  std::vector<std::uint64_t> heading_terms;
};

// List items up to this long are quoted whole; longer ones sentence by sentence.
constexpr std::size_t whole_item_bytes = 300;
// At most this many sentences, which make at most this many passages once neighbours merge.
constexpr std::size_t max_sentences = 6;
constexpr std::size_t max_passages = 4;
constexpr std::size_t min_budget = 40;
constexpr std::string_view ellipsis = "\xE2\x80\xA6";  // …

// A heading as Markdown text: what would read as markup escaped ("C++ *pointers*").
std::string escaped(std::string_view label) {
  std::string out;
  for (const char c : label) {
    if (std::string_view("\\`*_[]").find(c) != std::string_view::npos) out += '\\';
    out += c;
  }
  return out;
}

// How the answer names a section: its last two headings ("PID control › Tuning"), escaped.
std::string section_label(const source_section& section) {
  const auto& path = section.heading_path;
  if (path.empty()) return section.title.empty() ? "From the book" : escaped(section.title);
  if (path.size() == 1) return escaped(path.back());
  return escaped(path[path.size() - 2]) + " \xE2\x80\xBA " + escaped(path.back());
}

// Cuts `passage` to at most `limit` bytes at a space (or, for text without spaces, at a
// character boundary) and marks the cut with "…"; "" when nothing sensible fits.
std::string cut_passage(std::string_view passage, std::size_t limit) {
  if (passage.size() <= limit) return std::string(passage);
  if (limit <= ellipsis.size() + 8) return {};
  const std::size_t room = limit - ellipsis.size();
  std::size_t cut = passage.rfind(' ', room);
  if (cut == std::string_view::npos || cut < room / 2) {
    cut = room;
    while (cut > 0 && is_continuation_byte(passage[cut])) --cut;
  }
  std::string_view kept = passage.substr(0, cut);
  while (!kept.empty() && (is_blank(kept.back()) || kept.back() == ',' || kept.back() == ';'))
    kept.remove_suffix(1);
  if (kept.empty()) return {};
  return std::string(kept) + std::string(ellipsis);
}

struct passage {
  std::size_t section;
  std::string text;
  double score;
  std::size_t begin;
};

struct rendered {
  std::string markdown;
  std::vector<int> cited;
};

// The answer text for `chosen` (already merged, any order): sections by their best passage,
// the best first after the lead-in; passages in reading order within a section.
rendered render(const std::vector<passage>& chosen, const std::vector<source_section>& sections,
                bool with_lead) {
  std::vector<std::size_t> order;  // sections, best first
  std::vector<double> best(sections.size(), -1);
  for (const auto& p : chosen) best[p.section] = std::max(best[p.section], p.score);
  for (std::size_t s = 0; s < sections.size(); ++s)
    if (best[s] >= 0) order.push_back(s);
  std::stable_sort(order.begin(), order.end(),
                   [&](std::size_t a, std::size_t b) { return best[a] > best[b]; });

  rendered out;
  for (const std::size_t s : order) {
    std::vector<const passage*> mine;
    for (const auto& p : chosen)
      if (p.section == s) mine.push_back(&p);
    std::sort(mine.begin(), mine.end(),
              [](const passage* a, const passage* b) { return a->begin < b->begin; });
    if (out.markdown.empty()) {
      if (with_lead) out.markdown = "**" + section_label(sections[s]) + "** \xE2\x80\x94 ";  // —
    } else {
      out.markdown += "\n\n";
    }
    const std::string citation = "[" + std::to_string(sections[s].n) + "]";
    for (std::size_t i = 0; i < mine.size(); ++i) {
      if (i > 0) out.markdown += ' ';
      out.markdown += mine[i]->text + " " + citation;
    }
    if (std::find(out.cited.begin(), out.cited.end(), sections[s].n) == out.cited.end())
      out.cited.push_back(sections[s].n);
  }
  return out;
}

extractive_result not_found(const std::vector<source_section>& sections, std::size_t max_chars) {
  extractive_result result;
  result.markdown = "I could not find this in the book.";
  if (sections.empty()) {
    const std::string_view hint = " Try other words, or browse the table of contents.";
    if (result.markdown.size() + hint.size() <= max_chars) result.markdown += hint;
    return result;
  }
  // Where the search looked, so that the reader can go on from there.
  std::string closest = " The closest sections I found:";
  std::size_t listed = 0;
  for (const auto& section : sections) {
    if (listed == 3) break;
    const std::string label = section_label(section);
    const bool linkable =
        !section.url.empty() && section.url.find_first_of(" ()<>") == std::string::npos;
    std::string item = linkable ? " [" + label + "](" + section.url + ")" : " *" + label + "*";
    if (result.markdown.size() + closest.size() + item.size() + 2 > max_chars) break;
    closest += (listed ? "," : "") + item;
    ++listed;
  }
  if (listed) result.markdown += closest + ".";
  return result;
}

}  // namespace

std::string readable_text(std::string_view markdown) {
  std::string text;
  parse_blocks(markdown, text);
  return text;
}

extractive_result extractive_answer(std::string_view question,
                                    const std::vector<source_section>& sections,
                                    std::size_t max_chars) {
  max_chars = std::max(max_chars, min_budget);
  const term_set terms = question_terms(question);
  if (terms.count == 0 || sections.empty()) return not_found(sections, max_chars);

  // The passages of every section, and which question terms each holds.
  std::vector<prepared_section> prepared(sections.size());
  std::vector<candidate> candidates;
  std::vector<rag::term_match> scratch;
  std::vector<std::uint64_t> heading_terms(sections.size(), 0);
  for (std::size_t s = 0; s < sections.size(); ++s) {
    auto& section = prepared[s];
    std::vector<std::string> inner_headings;
    section.blocks = parse_blocks(sections[s].text, section.text, &inner_headings);
    std::string heading = sections[s].title;
    for (const auto& part : sections[s].heading_path) heading += " " + part;
    heading_terms[s] = matched_terms(heading, terms, scratch);
    section.heading_terms.push_back(0);
    for (const auto& inner : inner_headings)
      section.heading_terms.push_back(matched_terms(inner, terms, scratch));
    std::vector<block> pieces;
    for (std::size_t b = 0; b < section.blocks.size(); ++b) {
      const block& whole = section.blocks[b];
      pieces.clear();
      if (whole.list_item && whole.end - whole.begin <= whole_item_bytes)
        pieces.push_back(whole);
      else
        append_sentences(section.text, whole.begin, whole.end, pieces);
      for (const auto& piece : pieces) {
        candidate c;
        c.section = s;
        c.begin = piece.begin;
        c.end = piece.end;
        c.block = b;
        c.index = candidates.size();
        c.heading = whole.heading;
        c.terms = matched_terms(
            std::string_view(section.text).substr(piece.begin, piece.end - piece.begin), terms,
            scratch);
        candidates.push_back(c);
      }
    }
  }

  // Rarer terms weigh more (idf over the candidates), the search's order counts a little, and
  // a heading that names the question's terms (the section's, or one inside it: "### Tuning")
  // lends weight to what is under it, so its opening sentences may be quoted even when they
  // do not repeat the terms.
  std::vector<double> weight(terms.count);
  for (std::size_t t = 0; t < terms.count; ++t) {
    std::size_t holding = 0;
    for (const auto& c : candidates) holding += (c.terms >> t) & 1;
    weight[t] = 1.0 + std::log((candidates.size() + 1.0) / (holding + 1.0));
  }
  const auto weigh = [&](std::uint64_t bits) {
    double sum = 0;
    for (std::size_t t = 0; t < terms.count; ++t)
      if ((bits >> t) & 1) sum += weight[t];
    return sum;
  };
  std::vector<candidate> eligible;
  std::size_t position = 0;  // among the candidates under the same heading
  for (std::size_t i = 0; i < candidates.size(); ++i) {
    candidate& c = candidates[i];
    const bool same_heading =
        i > 0 && candidates[i - 1].section == c.section && candidates[i - 1].heading == c.heading;
    position = same_heading ? position + 1 : 0;
    const double own = weigh(c.terms);
    const double heading =
        0.75 * weigh(heading_terms[c.section] | prepared[c.section].heading_terms[c.heading]);
    if (own == 0 && (heading == 0 || position >= 2)) continue;
    const std::size_t length = c.end - c.begin;
    double score = own + heading;
    if (length < 25) score *= 0.5;  // fragments ("See below:")
    if (length > 400) score *= 0.8;
    score /= 1.0 + 0.15 * static_cast<double>(c.section);
    c.score = score;
    eligible.push_back(c);
  }
  if (eligible.empty()) return not_found(sections, max_chars);
  std::stable_sort(eligible.begin(), eligible.end(), [](const candidate& a, const candidate& b) {
    if (a.score != b.score) return a.score > b.score;
    if (a.section != b.section) return a.section < b.section;
    return a.begin < b.begin;
  });

  // Take the best passages while they fit; neighbours in one paragraph become one passage.
  const double floor_score = 0.3 * eligible.front().score;
  std::vector<candidate> taken;
  std::vector<passage> chosen;
  std::unordered_set<std::string_view> texts;
  const auto text_of = [&](const candidate& c) {
    return std::string_view(prepared[c.section].text).substr(c.begin, c.end - c.begin);
  };
  // The passages of `picked`, adjacent sentences of one block merged.
  const auto merge = [&](std::vector<candidate> picked) {
    std::sort(picked.begin(), picked.end(), [](const candidate& a, const candidate& b) {
      return a.section != b.section ? a.section < b.section : a.begin < b.begin;
    });
    std::vector<passage> merged;
    for (std::size_t i = 0; i < picked.size();) {
      std::size_t j = i;
      double score = picked[i].score;
      while (j + 1 < picked.size() && picked[j + 1].section == picked[i].section &&
             picked[j + 1].block == picked[j].block &&
             trim(std::string_view(prepared[picked[i].section].text)
                      .substr(picked[j].end, picked[j + 1].begin - picked[j].end))
                 .empty()) {
        ++j;
        score = std::max(score, picked[j].score);
      }
      const auto& text = prepared[picked[i].section].text;
      merged.push_back({picked[i].section,
                        text.substr(picked[i].begin, picked[j].end - picked[i].begin), score,
                        picked[i].begin});
      i = j + 1;
    }
    return merged;
  };
  for (const auto& c : eligible) {
    if (taken.size() == max_sentences) break;
    if (c.score < floor_score) break;
    if (texts.contains(text_of(c))) continue;
    taken.push_back(c);
    auto attempt = merge(taken);
    if (attempt.size() <= max_passages &&
        render(attempt, sections, true).markdown.size() <= max_chars) {
      chosen = std::move(attempt);
      texts.insert(text_of(c));
      continue;
    }
    taken.pop_back();
    if (!taken.empty()) continue;  // a shorter one may still fit
    // The best passage alone is too long: quote its beginning.
    const source_section& section = sections[c.section];
    const std::size_t frame =
        render({{c.section, "", c.score, c.begin}}, sections, true).markdown.size();
    std::string cut =
        frame < max_chars ? cut_passage(text_of(c), max_chars - frame) : std::string();
    bool with_lead = true;
    if (cut.empty()) {  // not even with the lead-in: without it
      with_lead = false;
      const std::size_t bare = std::to_string(section.n).size() + 3;
      cut = bare < max_chars ? cut_passage(text_of(c), max_chars - bare) : std::string();
    }
    if (cut.empty()) return not_found(sections, max_chars);
    rendered only = render({{c.section, std::move(cut), c.score, c.begin}}, sections, with_lead);
    return {std::move(only.markdown), std::move(only.cited)};
  }
  // A lone passage reads better with the sentence after (or before) it in its paragraph: "A
  // LiDAR emits laser pulses ..." goes on with what a LiDAR struggles with.
  if (taken.size() == 1) {
    const candidate best = taken.front();
    for (const std::size_t neighbour : {best.index + 1, best.index - 1}) {
      if (neighbour >= candidates.size()) continue;  // (index - 1 of the first wraps around)
      candidate next = candidates[neighbour];
      if (next.section != best.section || next.block != best.block) continue;
      next.score = best.score;
      taken.push_back(next);
      auto attempt = merge(taken);
      if (render(attempt, sections, true).markdown.size() <= max_chars) {
        chosen = std::move(attempt);
        break;
      }
      taken.pop_back();
    }
  }
  rendered answer = render(chosen, sections, true);
  return {std::move(answer.markdown), std::move(answer.cited)};
}

}  // namespace bookmcp::chat
