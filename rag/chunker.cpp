#include "rag/chunker.hpp"

#include <algorithm>
#include <map>

#include "rag/text.hpp"

namespace bookmcp::rag {

namespace {

struct section {
  std::vector<std::string> path;  // title first
  std::string anchor;
  std::vector<std::string> ancestor_anchors;  // of path[0 .. size-2] ("" for the title)
  bool cites_parent = false;        // took in a sibling: cites the parent, takes no more siblings
  std::vector<std::string> pieces;  // rendered blocks
  std::vector<bool> piece_is_code;
  std::size_t size = 0;
  bool last_is_list = false;  // the last piece is a list that the next item extends

  void add(std::string text, bool is_code) {
    last_is_list = false;
    size += text.size() + (pieces.empty() ? 0 : 2);
    pieces.push_back(std::move(text));
    piece_is_code.push_back(is_code);
  }
};

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\n' || s.front() == '\t')) {
    s.remove_prefix(1);
  }
  while (!s.empty() && (s.back() == ' ' || s.back() == '\n' || s.back() == '\t')) {
    s.remove_suffix(1);
  }
  return s;
}

// Largest cut <= limit that does not split a UTF-8 sequence.
std::size_t utf8_floor(std::string_view text, std::size_t limit) {
  if (limit >= text.size()) return text.size();
  while (limit > 0 && (static_cast<unsigned char>(text[limit]) & 0xC0) == 0x80) --limit;
  return limit;
}

// Cuts prose into pieces of at most `limit` bytes, preferring line, sentence, then word ends.
std::vector<std::string> split_prose(std::string_view text, std::size_t limit) {
  std::vector<std::string> out;
  text = trim(text);
  while (text.size() > limit) {
    std::string_view window = text.substr(0, utf8_floor(text, limit));
    std::size_t cut = std::string_view::npos;
    for (std::string_view separator : {"\n", ". ", "? ", "! ", "; ", " "}) {
      std::size_t at = window.rfind(separator);
      if (at != std::string_view::npos && at >= limit / 2) {
        cut = at + (separator == "\n" || separator == " " ? 0 : 1);
        break;
      }
    }
    if (cut == std::string_view::npos || cut == 0) cut = window.size();
    out.emplace_back(trim(text.substr(0, cut)));
    text = trim(text.substr(cut));
  }
  if (!text.empty()) out.emplace_back(text);
  return out;
}

// Cuts a code block at line boundaries into fenced pieces of at most `limit` bytes.
std::vector<std::string> split_code(std::string_view code, std::string_view language,
                                    std::size_t limit) {
  std::string open = "```" + std::string(language) + "\n";
  const std::string close = "```";
  std::size_t budget =
      limit > open.size() + close.size() + 16 ? limit - open.size() - close.size() : 16;
  std::vector<std::string> out;
  std::string current;
  auto flush = [&] {
    if (!current.empty()) out.push_back(open + current + close);
    current.clear();
  };
  while (!code.empty()) {
    std::size_t end = code.find('\n');
    std::string_view line = code.substr(0, end == std::string_view::npos ? code.size() : end + 1);
    code.remove_prefix(line.size());
    while (line.size() > budget) {  // one enormous line: hard cut
      flush();
      std::size_t cut = utf8_floor(line, budget);
      if (cut == 0) cut = budget;
      current.append(line.substr(0, cut));
      current.push_back('\n');
      flush();
      line.remove_prefix(cut);
    }
    if (current.size() + line.size() > budget) flush();
    current.append(line);
  }
  flush();
  return out;
}

std::string render_code(const markdown_block& block) {
  return "```" + block.language + "\n" + block.text + "```";
}

bool starts_with_path(const std::vector<std::string>& path,
                      const std::vector<std::string>& prefix) {
  return path.size() >= prefix.size() && std::equal(prefix.begin(), prefix.end(), path.begin());
}

std::vector<std::string> parent_of(const std::vector<std::string>& path) {
  return {path.begin(), path.end() - (path.empty() ? 0 : 1)};
}

std::vector<section> build_sections(const parsed_document& document) {
  std::vector<section> sections(1);
  sections[0].path = {document.title};

  const std::string intro = front_matter_summary(document.meta);
  if (!intro.empty()) sections[0].add(intro, false);

  struct open_heading {
    int level;
    std::string text;
    std::string anchor;
  };
  std::vector<open_heading> stack;
  bool seen_heading = false;
  for (const auto& block : document.blocks) {
    if (block.kind == block_kind::heading) {
      bool is_title_heading = !seen_heading && block.level == 1;
      seen_heading = true;
      if (is_title_heading) continue;
      while (!stack.empty() && stack.back().level >= block.level) stack.pop_back();
      stack.push_back({block.level, block.text, block.anchor});
      section next;
      next.path = {document.title};
      next.ancestor_anchors = {""};
      for (const auto& heading : stack) {
        next.path.push_back(heading.text);
        next.ancestor_anchors.push_back(heading.anchor);
      }
      next.ancestor_anchors.pop_back();  // its own
      next.anchor = block.anchor;
      sections.push_back(std::move(next));
      continue;
    }
    section& current = sections.back();
    switch (block.kind) {
      case block_kind::code:
        current.add(render_code(block), true);
        break;
      case block_kind::list_item:
        // Consecutive items stay one piece so that a list is cut between items only when long.
        if (current.last_is_list) {
          current.size += block.text.size() + 1;
          current.pieces.back() += "\n" + block.text;
        } else {
          current.add(block.text, false);
        }
        current.last_is_list = true;
        continue;
      default:
        current.add(block.text, false);
        break;
    }
  }
  return sections;
}

}  // namespace

std::string make_chunk_id(std::string_view document_path,
                          const std::vector<std::string>& heading_path, std::string_view anchor,
                          int ordinal_in_section) {
  std::uint64_t hash = stable_hash(document_path);
  for (const auto& heading : heading_path) {
    hash = stable_hash("\x1f", hash);
    hash = stable_hash(heading, hash);
  }
  hash = stable_hash("\x1e", hash);
  hash = stable_hash(anchor, hash);
  hash = stable_hash("\x1e", hash);
  hash = stable_hash(std::to_string(ordinal_in_section), hash);
  return to_hex(hash);
}

std::string front_matter_summary(const front_matter& meta) {
  std::string summary;
  if (meta.description) summary = std::string(trim(*meta.description));
  if (!meta.keywords.empty()) {
    if (!summary.empty()) summary += "\n";
    summary += "Keywords: ";
    for (std::size_t i = 0; i < meta.keywords.size(); ++i) {
      if (i) summary += ", ";
      summary += meta.keywords[i];
    }
  }
  return summary;
}

std::vector<store::stored_chunk> chunk_document(const parsed_document& document,
                                                std::string_view document_path,
                                                std::string_view document_url,
                                                const chunker_options& options) {
  const std::size_t max_chars = std::max<std::size_t>(options.max_chars, 64);
  const std::size_t target_chars = std::clamp<std::size_t>(options.target_chars, 32, max_chars);
  std::vector<section> sections = build_sections(document);
  std::erase_if(sections, [](const section& s) { return s.pieces.empty(); });

  // Merge small sections with following siblings or descendants. A group that takes in a
  // sibling cites their parent section from then on (whose text holds both): a hit on the
  // sibling's words must never cite a section that does not contain them.
  std::vector<section> groups;
  for (auto& next : sections) {
    if (!groups.empty()) {
      section& group = groups.back();
      const bool descendant = starts_with_path(next.path, group.path);
      const bool sibling =
          !descendant && !group.cites_parent && parent_of(next.path) == parent_of(group.path);
      std::size_t heading_size = next.path.back().size() + 2;
      // Citing the parent puts the group's own heading into its text.
      if (sibling) heading_size += group.path.back().size() + 2;
      bool small = group.size < options.min_chars || next.size < options.min_chars;
      // The document-top section only absorbs sections when it is (nearly) empty.
      if ((descendant || sibling) && small &&
          group.size + heading_size + next.size + 2 <= target_chars) {
        if (sibling) {
          group.pieces.insert(group.pieces.begin(), group.path.back());
          group.piece_is_code.insert(group.piece_is_code.begin(), false);
          group.size += group.path.back().size() + 2;
          group.path.pop_back();
          group.anchor = group.ancestor_anchors.back();
          group.ancestor_anchors.pop_back();
          group.cites_parent = true;
        }
        group.add(next.path.back(), false);
        for (std::size_t i = 0; i < next.pieces.size(); ++i) {
          group.add(std::move(next.pieces[i]), next.piece_is_code[i]);
        }
        continue;
      }
    }
    groups.push_back(std::move(next));
  }

  std::vector<store::stored_chunk> chunks;
  std::map<std::string, int> ordinals;  // per anchor
  for (const auto& group : groups) {
    // Expand oversized pieces, then pack greedily.
    std::vector<std::pair<std::string, bool>> pieces;
    for (std::size_t i = 0; i < group.pieces.size(); ++i) {
      const std::string& piece = group.pieces[i];
      if (piece.size() <= max_chars) {
        pieces.emplace_back(piece, group.piece_is_code[i]);
      } else if (group.piece_is_code[i]) {
        std::size_t header_end = piece.find('\n');
        std::string language = piece.substr(3, header_end - 3);
        std::string_view code(piece);
        code = code.substr(header_end + 1, code.size() - header_end - 1 - 3);
        for (auto& part : split_code(code, language, max_chars)) pieces.emplace_back(part, true);
      } else {
        for (auto& part : split_prose(piece, target_chars)) pieces.emplace_back(part, false);
      }
    }
    std::vector<std::string> texts;
    std::string current;
    for (auto& [piece, is_code] : pieces) {
      std::size_t combined = current.size() + 2 + piece.size();
      bool fits = current.empty() || combined <= target_chars || (is_code && combined <= max_chars);
      if (!fits) {
        texts.push_back(std::move(current));
        current.clear();
      }
      if (!current.empty()) current += "\n\n";
      current += piece;
    }
    if (!current.empty()) {
      if (!texts.empty() && current.size() < options.min_chars &&
          texts.back().size() + 2 + current.size() <= max_chars) {
        texts.back() += "\n\n" + current;
      } else {
        texts.push_back(std::move(current));
      }
    }
    for (auto& text : texts) {
      store::stored_chunk chunk;
      int ordinal = ordinals[group.anchor]++;
      chunk.id = make_chunk_id(document_path, group.path, group.anchor, ordinal);
      chunk.document_path = std::string(document_path);
      chunk.heading_path = group.path;
      chunk.anchor = group.anchor;
      chunk.url = std::string(document_url);
      if (!group.anchor.empty()) chunk.url += "#" + group.anchor;
      chunk.title = document.title;
      chunk.text = std::move(text);
      chunk.position = static_cast<int>(chunks.size());
      chunks.push_back(std::move(chunk));
    }
  }
  return chunks;
}

}  // namespace bookmcp::rag
