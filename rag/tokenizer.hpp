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
#include <vector>

struct sb_stemmer;

namespace bookmcp::rag {

// One term with the byte range [begin, end) of the word it came from in the input.
struct term_occurrence {
  std::string term;
  std::uint32_t begin = 0;
  std::uint32_t end = 0;
};

// One occurrence of a wanted term (see tokenizer::find_terms): the term's index in the wanted
// list and the byte range [begin, end) of the word it came from.
struct term_match {
  std::uint32_t term = 0;
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

  // The occurrences in `text` of the terms in `wanted` (a short list, such as a query's terms),
  // in order, appended to `out`: exactly the terms tokenize() gives that are in `wanted`, found
  // without copying the others (for snippets).
  void find_terms(std::string_view text, const std::vector<std::string>& wanted,
                  std::vector<term_match>& out);

  // True when `folded_word` (already case-folded) is a stop word.
  static bool is_stop_word(std::string_view folded_word);

 private:
  template <typename Sink>
  void for_each_term(std::string_view text, Sink&& sink);
  template <typename Sink>
  void emit_part(std::string_view part, std::uint32_t begin, std::uint32_t end, Sink& sink);
  void emit_word(std::string_view folded, std::uint32_t begin, std::uint32_t end,
                 std::vector<term_occurrence>* with_offsets, std::vector<std::string>* terms);
  // The term of a folded word: its stem, or nullptr for a stop word or a word that is empty or
  // too long. Valid until the next call.
  const std::string* term_of(std::string_view folded);

  // What a folded word gives (its stem, or that it is a stop word), remembered in a hash table
  // of our own (tokenizer.cpp): one lookup per word for the stop list and the stemmer together.
  struct cached_word {
    std::string stem;
    bool stop_word = false;
    // find_terms: the stem's index in wanted_ (-1: not wanted), valid when wanted_stamp equals
    // the tokenizer's: the words of a query's snippets are compared with its terms once each.
    std::uint32_t wanted_stamp = 0;
    std::int32_t wanted_index = -1;
  };
  class word_cache;
  cached_word* lookup(std::string_view folded);  // nullptr: empty or too long

  sb_stemmer* stemmer_;
  std::unique_ptr<word_cache> words_;
  std::vector<std::string> wanted_;  // the last find_terms list
  std::uint32_t wanted_stamp_ = 0;
  std::string fold_buffer_;
  std::vector<std::size_t> cjk_offsets_;
};

}  // namespace bookmcp::rag
