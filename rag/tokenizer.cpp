#include "rag/tokenizer.hpp"

#include <libstemmer.h>
#include <utf8proc.h>

#include <algorithm>
#include <array>
#include <cstdlib>
#include <cstring>
#include <stdexcept>
#include <unordered_set>

#include "rag/text.hpp"

namespace bookmcp::rag {

namespace {

constexpr std::size_t max_word_bytes = 64;

// Snowball's English stop list (without "not"/"no"/"against", which carry meaning in
// questions) plus contraction remnants produced by splitting on apostrophes.
const std::unordered_set<std::string_view>& stop_words() {
  static const std::unordered_set<std::string_view> words = {
      "a",      "about",    "above",      "after",   "again",   "all",   "am",      "an",
      "and",    "any",      "are",        "as",      "at",      "be",    "because", "been",
      "before", "being",    "below",      "between", "both",    "but",   "by",      "can",
      "could",  "did",      "do",         "does",    "doing",   "down",  "during",  "each",
      "few",    "for",      "from",       "further", "had",     "has",   "have",    "having",
      "he",     "her",      "here",       "hers",    "herself", "him",   "himself", "his",
      "how",    "i",        "if",         "in",      "into",    "is",    "it",      "its",
      "itself", "just",     "me",         "more",    "most",    "my",    "myself",  "nor",
      "of",     "off",      "on",         "once",    "only",    "or",    "other",   "ought",
      "our",    "ours",     "ourselves",  "out",     "over",    "own",   "same",    "she",
      "should", "so",       "some",       "such",    "than",    "that",  "the",     "their",
      "theirs", "them",     "themselves", "then",    "there",   "these", "they",    "this",
      "those",  "through",  "to",         "too",     "under",   "until", "up",      "very",
      "was",    "we",       "were",       "what",    "when",    "where", "which",   "while",
      "who",    "whom",     "why",        "will",    "with",    "would", "you",     "your",
      "yours",  "yourself", "yourselves", "s",       "t",       "d",     "ll",      "m",
      "re",     "ve",       "don",        "doesn",   "didn",    "isn",   "aren",    "wasn",
      "weren",  "won",      "wouldn",     "shouldn", "couldn",  "also",  "us",      "via",
      "e",      "g",        "eg",         "ie",      "etc"};
  return words;
}

// What a byte is to the word scanner: one table lookup instead of range tests per byte.
enum byte_kind : unsigned char { ascii_separator, ascii_lower_or_digit, ascii_upper, non_ascii };

constexpr std::array<byte_kind, 256> byte_kinds = [] {
  std::array<byte_kind, 256> kinds{};
  for (int c = 0; c < 256; ++c) {
    if (c >= 0x80) {
      kinds[c] = non_ascii;
    } else if ((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9')) {
      kinds[c] = ascii_lower_or_digit;
    } else if (c >= 'A' && c <= 'Z') {
      kinds[c] = ascii_upper;
    } else {
      kinds[c] = ascii_separator;
    }
  }
  return kinds;
}();

}  // namespace

// Folded word -> cached_word, open addressing with linear probing over a power-of-two table of
// (hash, entry) slots kept at most half full. It replaced a std::unordered_map: a snippet looks
// up every word of a chunk, and the map's prime-modulo bucket and node walk cost more than
// hashing the (short) word. An entry's address is valid until the next add().
class tokenizer::word_cache {
 public:
  // The entry for `word`, or nullptr when there is none; `hash` is hash_of(word).
  cached_word* find(std::string_view word, std::uint64_t hash) {
    const auto tag = static_cast<std::uint32_t>(hash >> 32);
    for (std::size_t i = hash & mask_;; i = (i + 1) & mask_) {
      const slot& candidate = slots_[i];
      if (candidate.entry == no_entry) return nullptr;
      if (candidate.tag == tag && entries_[candidate.entry].first == word) {
        return &entries_[candidate.entry].second;
      }
    }
  }

  // Adds `word` (not present) and returns its entry. May forget every other word first, to stay
  // under max_cached_words.
  cached_word* add(std::string_view word, std::uint64_t hash, cached_word value) {
    if (entries_.size() >= max_cached_words) {
      entries_.clear();
      slots_.assign(slots_.size(), slot{});
    }
    if ((entries_.size() + 1) * 2 > slots_.size()) grow();
    entries_.emplace_back(std::string(word), std::move(value));
    place(hash, static_cast<std::uint32_t>(entries_.size() - 1));
    return &entries_.back().second;
  }

  template <typename Visit>
  void for_each(Visit&& visit) {
    for (auto& [word, value] : entries_) visit(value);
  }

  static std::uint64_t hash_of(std::string_view word) noexcept {
    std::uint64_t hash = 0x9E3779B97F4A7C15ULL ^ word.size();
    std::size_t i = 0;
    for (; i + 8 <= word.size(); i += 8) {
      std::uint64_t chunk;
      std::memcpy(&chunk, word.data() + i, 8);
      hash = (hash ^ chunk) * 0xff51afd7ed558ccdULL;
      hash ^= hash >> 32;
    }
    std::uint64_t tail = 0;
    for (; i < word.size(); ++i) tail = (tail << 8) | static_cast<unsigned char>(word[i]);
    hash = (hash ^ tail) * 0xc4ceb9fe1a85ec53ULL;
    return hash ^ (hash >> 29);
  }

 private:
  static constexpr std::uint32_t no_entry = UINT32_MAX;
  static constexpr std::size_t max_cached_words = 1'000'000;
  struct slot {
    std::uint32_t tag = 0;  // high half of the hash
    std::uint32_t entry = no_entry;
  };

  void place(std::uint64_t hash, std::uint32_t entry) {
    std::size_t i = hash & mask_;
    while (slots_[i].entry != no_entry) i = (i + 1) & mask_;
    slots_[i] = {static_cast<std::uint32_t>(hash >> 32), entry};
  }

  void grow() {
    slots_.assign(slots_.size() * 2, slot{});
    mask_ = slots_.size() - 1;
    for (std::uint32_t e = 0; e < entries_.size(); ++e) place(hash_of(entries_[e].first), e);
  }

  std::vector<slot> slots_ = std::vector<slot>(1024);
  std::size_t mask_ = 1023;
  std::vector<std::pair<std::string, cached_word>> entries_;
};

tokenizer::tokenizer()
    : stemmer_(sb_stemmer_new("english", "UTF_8")), words_(std::make_unique<word_cache>()) {
  if (!stemmer_) throw std::runtime_error("libstemmer: cannot create the English stemmer");
}

tokenizer::~tokenizer() {
  sb_stemmer_delete(stemmer_);
}

bool tokenizer::is_stop_word(std::string_view folded_word) {
  return stop_words().contains(folded_word);
}

const std::string* tokenizer::term_of(std::string_view folded) {
  const cached_word* word = lookup(folded);
  return word && !word->stop_word ? &word->stem : nullptr;
}

tokenizer::cached_word* tokenizer::lookup(std::string_view folded) {
  if (folded.empty() || folded.size() > max_word_bytes) return nullptr;
  const std::uint64_t hash = word_cache::hash_of(folded);
  if (cached_word* found = words_->find(folded, hash)) return found;
  cached_word word;
  word.stop_word = is_stop_word(folded);
  if (!word.stop_word) {
    const sb_symbol* stemmed =
        sb_stemmer_stem(stemmer_, reinterpret_cast<const sb_symbol*>(folded.data()),
                        static_cast<int>(folded.size()));
    word.stem = stemmed ? std::string(reinterpret_cast<const char*>(stemmed),
                                      static_cast<std::size_t>(sb_stemmer_length(stemmer_)))
                        : std::string(folded);
  }
  return words_->add(folded, hash, std::move(word));
}

void tokenizer::emit_word(std::string_view folded, std::uint32_t begin, std::uint32_t end,
                          std::vector<term_occurrence>* with_offsets,
                          std::vector<std::string>* terms) {
  const std::string* term = term_of(folded);
  if (!term) return;
  if (with_offsets) with_offsets->push_back({*term, begin, end});
  if (terms) terms->push_back(*term);
}

namespace {

// Scripts written without spaces between words: Han ideographs, Hiragana, Katakana. Their runs
// are indexed as overlapping pairs of characters (bigrams), as CJK analyzers do without a
// dictionary: "機械学習" gives "機械", "械学", "学習", and a query for "学習" finds it.
bool is_cjk(utf8proc_int32_t c) {
  return (c >= 0x3005 && c <= 0x3007) ||  // 々 (repeat mark), 〆, 〇
         (c >= 0x3040 && c <= 0x30FF) ||  // Hiragana, Katakana
         (c >= 0x31F0 && c <= 0x31FF) ||  // Katakana phonetic extensions
         (c >= 0x3400 && c <= 0x4DBF) ||  // CJK extension A
         (c >= 0x4E00 && c <= 0x9FFF) ||  // CJK unified ideographs
         (c >= 0xF900 && c <= 0xFAFF) ||  // CJK compatibility ideographs
         (c >= 0x20000 && c <= 0x3134F);  // CJK extensions B to G
}

}  // namespace

// A folded run of letters, marks and numbers: as one word, except runs of CJK characters in
// it, which give their bigrams (a lone CJK character gives itself).
template <typename Sink>
void tokenizer::emit_part(std::string_view part, std::uint32_t begin, std::uint32_t end,
                          Sink& sink) {
  const auto* bytes = reinterpret_cast<const utf8proc_uint8_t*>(part.data());
  std::size_t other_start = 0;  // start of the pending non-CJK stretch
  std::size_t j = 0;
  // Byte offsets of the CJK characters of the current run (begin of each, then its end).
  std::vector<std::size_t>& run = cjk_offsets_;
  run.clear();
  const auto flush_run = [&] {
    if (run.size() == 2) {
      fold_buffer_.assign(part.substr(run[0], run[1] - run[0]));
      sink(std::string_view(fold_buffer_), begin, end);
    }
    for (std::size_t k = 0; k + 2 < run.size(); ++k) {
      fold_buffer_.assign(part.substr(run[k], run[k + 2] - run[k]));
      sink(std::string_view(fold_buffer_), begin, end);
    }
    run.clear();
  };
  while (j < part.size()) {
    utf8proc_int32_t code_point = 0;
    const utf8proc_ssize_t used =
        utf8proc_iterate(bytes + j, static_cast<utf8proc_ssize_t>(part.size() - j), &code_point);
    const std::size_t step = used > 0 ? static_cast<std::size_t>(used) : 1;
    if (used > 0 && is_cjk(code_point)) {
      if (j > other_start) {
        fold_buffer_.assign(part.substr(other_start, j - other_start));
        sink(std::string_view(fold_buffer_), begin, end);
      }
      if (run.empty()) run.push_back(j);
      run.push_back(j + step);
      other_start = j + step;
    } else if (!run.empty()) {
      flush_run();
      other_start = j;
    }
    j += step;
  }
  if (!run.empty()) {
    flush_run();
  } else if (part.size() > other_start) {
    fold_buffer_.assign(part.substr(other_start));
    sink(std::string_view(fold_buffer_), begin, end);
  }
}

template <typename Sink>
void tokenizer::for_each_term(std::string_view text, Sink&& sink) {
  const auto* data = reinterpret_cast<const utf8proc_uint8_t*>(text.data());
  const std::size_t size = text.size();
  std::size_t i = 0;
  while (i < size) {
    // Find the next word run [start, i), noting whether it is pure ASCII.
    std::size_t start = i;
    bool ascii = true;
    bool upper = false;  // an ASCII capital letter in the word: it needs folding
    bool in_word = false;
    while (i < size) {
      const byte_kind kind = byte_kinds[data[i]];
      if (kind == ascii_lower_or_digit) {
        in_word = true;
        ++i;
        continue;
      }
      if (kind == ascii_upper) {
        in_word = upper = true;
        ++i;
        continue;
      }
      if (kind == ascii_separator) {
        if (in_word) break;
        ++i;
        start = i;
        continue;
      }
      utf8proc_int32_t code_point = 0;
      utf8proc_ssize_t used =
          utf8proc_iterate(data + i, static_cast<utf8proc_ssize_t>(size - i), &code_point);
      if (used <= 0) {
        if (in_word) break;
        ++i;
        start = i;
        continue;
      }
      if (!is_letter_mark_or_number(code_point)) {
        if (in_word) break;
        i += static_cast<std::size_t>(used);
        start = i;
        continue;
      }
      in_word = true;
      ascii = false;
      i += static_cast<std::size_t>(used);
    }
    if (!in_word) break;
    const auto begin = static_cast<std::uint32_t>(start);
    const auto end = static_cast<std::uint32_t>(i);
    if (ascii) {
      if (!upper) {  // already folded: no copy
        sink(text.substr(start, i - start), begin, end);
        continue;
      }
      fold_buffer_.assign(text.substr(start, i - start));
      for (char& c : fold_buffer_) {
        if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
      }
      sink(std::string_view(fold_buffer_), begin, end);
      continue;
    }
    utf8proc_uint8_t* folded = nullptr;
    utf8proc_ssize_t length = utf8proc_map(
        data + start, static_cast<utf8proc_ssize_t>(i - start), &folded,
        static_cast<utf8proc_option_t>(UTF8PROC_STABLE | UTF8PROC_COMPOSE | UTF8PROC_COMPAT |
                                       UTF8PROC_CASEFOLD | UTF8PROC_IGNORE));
    if (length < 0 || !folded) {
      std::free(folded);
      continue;
    }
    // NFKC may introduce separators ("½" becomes "1⁄2"): split the folded word again.
    std::string_view normalized(reinterpret_cast<const char*>(folded),
                                static_cast<std::size_t>(length));
    std::size_t j = 0;
    while (j < normalized.size()) {
      std::size_t part_start = j;
      while (j < normalized.size()) {
        utf8proc_int32_t code_point = 0;
        utf8proc_ssize_t used =
            utf8proc_iterate(reinterpret_cast<const utf8proc_uint8_t*>(normalized.data()) + j,
                             static_cast<utf8proc_ssize_t>(normalized.size() - j), &code_point);
        if (used <= 0) break;
        if (!is_letter_mark_or_number(code_point)) break;
        j += static_cast<std::size_t>(used);
      }
      if (j > part_start)
        emit_part(normalized.substr(part_start, j - part_start), begin, end, sink);
      if (j < normalized.size()) {  // skip one separator code point
        utf8proc_int32_t code_point = 0;
        utf8proc_ssize_t used =
            utf8proc_iterate(reinterpret_cast<const utf8proc_uint8_t*>(normalized.data()) + j,
                             static_cast<utf8proc_ssize_t>(normalized.size() - j), &code_point);
        j += used > 0 ? static_cast<std::size_t>(used) : 1;
      }
    }
    std::free(folded);
  }
}

std::vector<term_occurrence> tokenizer::tokenize(std::string_view text) {
  std::vector<term_occurrence> out;
  for_each_term(text, [&](std::string_view folded, std::uint32_t begin, std::uint32_t end) {
    emit_word(folded, begin, end, &out, nullptr);
  });
  return out;
}

void tokenizer::find_terms(std::string_view text, const std::vector<std::string>& wanted,
                           std::vector<term_match>& out) {
  if (wanted != wanted_ || wanted_stamp_ == 0) {
    wanted_ = wanted;
    if (++wanted_stamp_ == 0) {  // wrapped: forget every stamp
      words_->for_each([](cached_word& word) { word.wanted_stamp = 0; });
      wanted_stamp_ = 1;
    }
  }
  for_each_term(text, [&](std::string_view folded, std::uint32_t begin, std::uint32_t end) {
    cached_word* word = lookup(folded);
    if (!word || word->stop_word) return;
    if (word->wanted_stamp != wanted_stamp_) {
      auto found = std::find(wanted_.begin(), wanted_.end(), word->stem);
      word->wanted_index =
          found == wanted_.end() ? -1 : static_cast<std::int32_t>(found - wanted_.begin());
      word->wanted_stamp = wanted_stamp_;
    }
    if (word->wanted_index >= 0) {
      out.push_back({static_cast<std::uint32_t>(word->wanted_index), begin, end});
    }
  });
}

void tokenizer::append_terms(std::string_view text, std::vector<std::string>& terms) {
  for_each_term(text, [&](std::string_view folded, std::uint32_t begin, std::uint32_t end) {
    emit_word(folded, begin, end, nullptr, &terms);
  });
}

}  // namespace bookmcp::rag
