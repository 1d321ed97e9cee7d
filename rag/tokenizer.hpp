#pragma once
// Turning text into index terms: Unicode-aware splitting, NFKC + case folding, English stop
// words and Snowball English stemming.
//
//   - a word is a maximal run of letters, marks and numbers (Unicode categories L*, M*, N*);
//     everything else separates words ("ROS-2's" gives "ros", "2", "s");
//   - each word is NFKC-normalised and case-folded with utf8proc ("Ｒｏｂｏｔ" = "robot",
//     "Straße" = "strasse"), then split again if normalisation produced separators;
//   - stop words (a fixed English list, checked on the folded word) are dropped;
//   - remaining words are stemmed with libstemmer's "english" algorithm ("sensors" = "sensor");
//   - runs of Han, Hiragana and Katakana characters (written without spaces) give overlapping
//     pairs of characters instead of one word ("機械学習" gives "機械", "械学", "学習");
//   - words longer than 64 bytes are dropped (base64 blobs, hashes).
//
// Thread-safety: a tokenizer holds a stemmer, which is not thread-safe: use one object per
// thread (e.g. thread_local). Construction is cheap.

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

struct sb_stemmer;

namespace bookmcp::rag {

// One term with the byte range [begin, end) of the word it came from in the input.
struct term_occurrence {
  std::string term;
  std::uint32_t begin = 0;
  std::uint32_t end = 0;
};

class tokenizer {
 public:
  tokenizer();
  ~tokenizer();
  tokenizer(const tokenizer&) = delete;
  tokenizer& operator=(const tokenizer&) = delete;

  // Terms of `text` in order, with their source byte ranges. `text` should be UTF-8; invalid
  // bytes separate words.
  std::vector<term_occurrence> tokenize(std::string_view text);

  // Same terms without offsets, appended to `terms` (avoids reallocations when indexing).
  void append_terms(std::string_view text, std::vector<std::string>& terms);

  // True when `folded_word` (already case-folded) is a stop word.
  static bool is_stop_word(std::string_view folded_word);

 private:
  template <typename Sink>
  void for_each_term(std::string_view text, Sink&& sink);
  template <typename Sink>
  void emit_part(std::string_view part, std::uint32_t begin, std::uint32_t end, Sink& sink);
  void emit_word(std::string_view folded, std::uint32_t begin, std::uint32_t end,
                 std::vector<term_occurrence>* with_offsets, std::vector<std::string>* terms);
  const std::string& stem(std::string_view folded);

  sb_stemmer* stemmer_;
  std::unordered_map<std::string, std::string> stem_cache_;
  std::string fold_buffer_;
  std::vector<std::size_t> cjk_offsets_;
};

}  // namespace bookmcp::rag
