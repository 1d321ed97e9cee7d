#pragma once
// Small text utilities shared by the parser, the chunker and the indexer: UTF-8 validation,
// a stable 64-bit content hash, and heading anchors the way Docusaurus generates them.
//
// Every function here is pure and thread-safe; `heading_slugger` objects are not shared.

#include <cstdint>
#include <string>
#include <string_view>
#include <unordered_map>

namespace bookmcp::rag {

// True when `bytes` is well-formed UTF-8 (no overlongs, no surrogates, nothing past U+10FFFF).
bool is_valid_utf8(std::string_view bytes) noexcept;

// 64-bit FNV-1a over `bytes`, continuing from `seed`. Stable across runs, platforms and
// versions: it names chunks and detects changed files, so it must never change.
std::uint64_t stable_hash(std::string_view bytes,
                          std::uint64_t seed = 0xcbf29ce484222325ULL) noexcept;

// True for a Unicode letter, mark or number (categories L*, M*, N*): what makes up a word, for
// the tokenizer and for anchors alike.
bool is_letter_mark_or_number(std::int32_t code_point) noexcept;

// `value` as 16 lowercase hex digits.
std::string to_hex(std::uint64_t value);

// The anchor github-slugger (and therefore Docusaurus) derives from a heading's text, without
// the duplicate suffix: lowercased, every character that is not a letter, mark, number,
// connector punctuation, space or '-' removed, then each space replaced by '-'.
std::string slugify(std::string_view heading_text);

// Splits a trailing Docusaurus explicit id off a heading: "Setup {#install}" gives
// text "Setup" and id "install". Without one, `id` is empty and `text` is the input trimmed.
struct heading_id_split {
  std::string text;
  std::string id;
};
heading_id_split split_explicit_heading_id(std::string_view heading_text);

// Anchors for the headings of one document, in order, with github-slugger's duplicate rule:
// the second "Setup" becomes "setup-1", the third "setup-2" (skipping values already taken).
// One object per document; not thread-safe.
class heading_slugger {
 public:
  std::string slug(std::string_view heading_text);

 private:
  std::unordered_map<std::string, int> occurrences_;
};

}  // namespace bookmcp::rag
