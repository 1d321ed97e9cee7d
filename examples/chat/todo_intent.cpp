#include "examples/chat/todo_intent.hpp"

// The grammar, on the message's words (case-insensitive; punctuation, "please", "hey", "can
// you" ... around them ignored):
//
//   add      remind me to T [D] | remind me D to T | remember to T [D] | don't forget to T [D]
//            | add|create|new [a] todo|task|reminder[:] [to|for] T [D]
//            | add a todo|task|reminder D: T | add a todo D to T | todo|task|reminder: T [D]
//            | add|put T to|on my (todo) list|todos|tasks [D] | add to my list: T [D]
//            | add "T" [to my list] [due D] | set a reminder [D] to|for T [D]
//            | I need to|have to|must|should|gotta T D   (only with a due date D: without one,
//              "I need to understand PID" is more likely a question than a task)
//            | D, <any of these>   ("Tomorrow, remind me to ...")
//   list     [show|list|display|view|see|get|give] [me] [all|open|done|completed|finished|
//            overdue] [my] todos|tasks|todo list|list [due today|for today|that are overdue]
//            | what's on my (todo) list [today] | what is overdue | what's due today
//            | what have I finished|completed | what do I have to do [today] | ...
//   complete mark R [as] done|complete|finished | I (have|just) finished|completed R
//            | I'm done with R | done|finished|completed: R | complete R | check|tick|cross off R
//   reopen   reopen|uncheck|unmark R | mark R [as] not done|undone|open|incomplete
//   remove   delete R | remove|drop|erase R from|off my list|todos | remove the R todo
//
// where T is the title, R the reference and D a due phrase (see parse_due below): today,
// tonight (20:00), tomorrow [morning|afternoon|evening|night], the day after tomorrow,
// [next|coming] <weekday> (strictly after today), this <weekday> (today counts), this weekend
// (Saturday; today on a Sunday), next weekend (a week after that), next week (Monday), end of
// the week (Sunday), end of the|next month, next month (its 1st), in N days|weeks|months|
// hours|minutes, YYYY-MM-DD, Dec 12 [2026], 12 December, the 12th of December (the next such
// day, today counts), by|on the 15th, each with an optional connector (by, on, due, before,
// until, for) and an optional time (at 5pm, 17:30, 9am, noon, midnight (23:59), at 7 (7-11 read
// as morning, 1-6 as afternoon, 12 noon), morning (9:00), afternoon (15:00), evening (18:00),
// night (20:00)). A time alone is the next such time (today, or tomorrow once it has passed).
// "every Monday" is a habit, not a due: it stays in the title.
//
// Anything else is not a todo request, in particular every message that starts like a
// question (how, what, why, explain, ...) or contains "?" unless it is one of the list
// questions above or a polite request ("can you remind me to ...?").

#include <date/tz.h>

#include <algorithm>
#include <array>
#include <initializer_list>
#include <nlohmann/json.hpp>
#include <span>
#include <stdexcept>
#include <vector>

namespace bookmcp::chat {
namespace {

using namespace std::chrono;
using nlohmann::json;

// ---- Words --------------------------------------------------------------------------------------

// One word of the message: lowercased and without the punctuation around it, with where it was
// (so that a title keeps the reader's spelling and inner punctuation: "read 3.2", "RealSense").
struct word {
  std::string text;
  std::size_t begin = 0;  // [begin, end): the trimmed word's bytes in the message
  std::size_t end = 0;
  char after = 0;  // the punctuation right after the word, e.g. ':' in "todo:"; 0 for none
};
using words_view = std::span<const word>;

char ascii_lower(char c) {
  return c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c;
}

bool is_space(char c) {
  return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v';
}

bool is_digit(char c) {
  return c >= '0' && c <= '9';
}

bool all_digits(std::string_view text) {
  return !text.empty() && std::all_of(text.begin(), text.end(), is_digit);
}

// Punctuation that surrounds words rather than belongs to them. Curly quotes are 3 bytes
// (U+2018/2019/201C/201D: E2 80 98/99/9C/9D).
std::size_t leading_punctuation(std::string_view token) {
  if (token.empty()) return 0;
  if (token.size() >= 3 && token.substr(0, 2) == "\xE2\x80" &&
      (token[2] == '\x98' || token[2] == '\x99' || token[2] == '\x9C' || token[2] == '\x9D'))
    return 3;
  return std::string_view("\"'([{<*_`").find(token[0]) != std::string_view::npos ? 1 : 0;
}

std::size_t trailing_punctuation(std::string_view token) {
  if (token.empty()) return 0;
  if (token.size() >= 3 && token.substr(token.size() - 3, 2) == "\xE2\x80") {
    const char last = token.back();
    if (last == '\x98' || last == '\x99' || last == '\x9C' || last == '\x9D') return 3;
  }
  return std::string_view(".,!?;:\"')]}>*_`").find(token.back()) != std::string_view::npos ? 1 : 0;
}

// Contractions become the words they stand for, so that the grammar has one spelling:
// "what's" is "what is", "don't" is "do not", "I've" is "I have".
void push_word(std::vector<word>& out, std::string text, std::size_t begin, std::size_t end,
               char after) {
  const auto emit = [&](std::string part) { out.push_back({std::move(part), begin, end, after}); };
  const auto ends_with = [&](std::string_view suffix) {
    return text.size() > suffix.size() &&
           std::string_view(text).substr(text.size() - suffix.size()) == suffix;
  };
  const auto stem = [&](std::size_t suffix) { return text.substr(0, text.size() - suffix); };
  if (text == "whats") return emit("what"), emit("is");
  if (text == "dont") return emit("do"), emit("not");
  if (text == "can't" || text == "cant" || text == "cannot") return emit("can"), emit("not");
  if (text == "won't") return emit("will"), emit("not");
  if (ends_with("n't")) return emit(stem(3)), emit("not");
  if (ends_with("'m")) return emit(stem(2)), emit("am");
  if (ends_with("'ve")) return emit(stem(3)), emit("have");
  if (ends_with("'re")) return emit(stem(3)), emit("are");
  if (ends_with("'ll")) return emit(stem(3)), emit("will");
  if (ends_with("'d")) return emit(stem(2)), emit("would");
  if (ends_with("'s")) {
    static constexpr std::array<std::string_view, 9> is_forms = {
        "what", "that", "it", "there", "where", "who", "here", "how", "when"};
    const std::string base = stem(2);
    if (base == "let") return emit("let"), emit("us");
    if (std::find(is_forms.begin(), is_forms.end(), base) != is_forms.end())
      return emit(base), emit("is");
  }
  if (text == "to-do") return emit("todo");
  if (text == "to-dos") return emit("todos");
  if (text == "re-open") return emit("reopen");
  emit(std::move(text));
}

std::vector<word> split_words(std::string_view message) {
  std::vector<word> words;
  std::size_t i = 0;
  while (i < message.size()) {
    while (i < message.size() && is_space(message[i])) ++i;
    std::size_t end = i;
    while (end < message.size() && !is_space(message[end])) ++end;
    std::size_t begin = i;
    i = end;
    // A lone ":" or "-" ("todo : read", "task - read") belongs to the word before.
    const std::string_view token = message.substr(begin, end - begin);
    if (token == ":" || token == "-" || token == "\xE2\x80\x94") {
      if (!words.empty() && words.back().after == 0) words.back().after = ':';
      continue;
    }
    while (begin < end) {
      const std::size_t n = leading_punctuation(message.substr(begin, end - begin));
      if (n == 0) break;
      begin += n;
    }
    char after = 0;
    while (begin < end) {
      const std::size_t n = trailing_punctuation(message.substr(begin, end - begin));
      if (n == 0) break;
      after = n == 1 ? message[end - 1] : '"';  // the innermost: ':' in "todo:", "'" in "3.2',"
      end -= n;
    }
    if (begin == end) continue;
    std::string text;
    text.reserve(end - begin);
    for (std::size_t k = begin; k < end; ++k) {
      // U+2019 (’) inside a word is an apostrophe.
      if (k + 2 < end && message.substr(k, 3) == "\xE2\x80\x99") {
        text += '\'';
        k += 2;
        continue;
      }
      text += ascii_lower(message[k]);
    }
    push_word(words, std::move(text), begin, end, after);
  }
  return words;
}

// Reads words from a view left to right; accept() takes a phrase only when all of it matches.
class cursor {
 public:
  explicit cursor(words_view words, std::size_t pos = 0) : words_(words), pos_(pos) {}

  bool at_end() const { return pos_ >= words_.size(); }
  std::size_t pos() const { return pos_; }
  void seek(std::size_t pos) { pos_ = pos; }
  const word* peek(std::size_t ahead = 0) const {
    return pos_ + ahead < words_.size() ? &words_[pos_ + ahead] : nullptr;
  }
  const word& take() { return words_[pos_++]; }
  const word* previous() const {
    return pos_ > 0 && pos_ <= words_.size() ? &words_[pos_ - 1] : nullptr;
  }

  // True and past the phrase when the next words are `phrase` (words separated by spaces).
  bool accept(std::string_view phrase) {
    std::size_t at = pos_;
    while (!phrase.empty()) {
      const std::size_t space = phrase.find(' ');
      const std::string_view part = phrase.substr(0, space);
      if (at >= words_.size() || words_[at].text != part) return false;
      ++at;
      phrase = space == std::string_view::npos ? std::string_view() : phrase.substr(space + 1);
    }
    pos_ = at;
    return true;
  }
  bool accept_any(std::span<const std::string_view> phrases) {
    for (const auto phrase : phrases)
      if (accept(phrase)) return true;
    return false;
  }
  bool accept_any(std::initializer_list<std::string_view> phrases) {
    return accept_any(std::span<const std::string_view>(phrases.begin(), phrases.size()));
  }
  // Like accept_any, but the whole rest must be one of the phrases.
  bool rest_is(std::initializer_list<std::string_view> phrases) {
    const std::size_t start = pos_;
    for (const auto phrase : phrases) {
      if (accept(phrase) && at_end()) return true;
      pos_ = start;
    }
    return false;
  }

 private:
  words_view words_;
  std::size_t pos_;
};

// ---- The reader's clock -------------------------------------------------------------------------

// A UTC offset written "UTC", "Z", "GMT", "+HH:MM", "-HH:MM", "+HHMM" or "+HH" (at most
// ±18:00): the forms bookmcp's todo tools take besides zone names.
std::optional<minutes> parse_fixed_offset(std::string_view text) {
  if (text == "UTC" || text == "utc" || text == "Z" || text == "GMT" || text == "Etc/UTC")
    return minutes{0};
  if (text.size() < 3 || (text[0] != '+' && text[0] != '-') || !is_digit(text[1]) ||
      !is_digit(text[2]))
    return std::nullopt;
  const int hours_value = (text[1] - '0') * 10 + (text[2] - '0');
  int minutes_value = 0;
  if (text.size() == 6 && text[3] == ':' && is_digit(text[4]) && is_digit(text[5])) {
    minutes_value = (text[4] - '0') * 10 + (text[5] - '0');
  } else if (text.size() == 5 && is_digit(text[3]) && is_digit(text[4])) {
    minutes_value = (text[3] - '0') * 10 + (text[4] - '0');
  } else if (text.size() != 3) {
    return std::nullopt;
  }
  const minutes offset{hours_value * 60 + minutes_value};
  if (minutes_value > 59 || offset > hours{18}) return std::nullopt;
  return text[0] == '-' ? -offset : offset;
}

// Zone names are letters, digits and "/_-+"; anything else is not worth a database lookup
// (and "../" must never reach the file system the database is read from).
bool plausible_zone_name(std::string_view text) {
  if (text.empty() || text.size() > 64 || text.front() == '/' ||
      text.find("..") != std::string_view::npos)
    return false;
  return std::all_of(text.begin(), text.end(), [](char c) {
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || is_digit(c) || c == '/' ||
           c == '_' || c == '-' || c == '+';
  });
}

// Local wall-clock values are kept in sys_* types ("the local day 2026-12-11" as sys_days) and
// only turned into instants through reader_zone::to_instant.
class reader_zone {
 public:
  static reader_zone resolve(std::string_view text) {
    reader_zone zone;
    zone.name_ = std::string(text);
    if (auto offset = parse_fixed_offset(text)) {
      zone.fixed_ = *offset;
      return zone;
    }
    if (plausible_zone_name(text)) {
      try {
        zone.zone_ = date::locate_zone(text);
        return zone;
      } catch (const std::runtime_error&) {
        // unknown name, or no time zone database on this machine: UTC below
      }
    }
    zone.name_ = "UTC";
    zone.known_ = false;
    return zone;
  }

  const std::string& name() const { return name_; }
  bool known() const { return known_; }

  minutes offset_at(sys_seconds instant) const {
    if (!zone_) return fixed_;
    return duration_cast<minutes>(
        zone_->get_info(date::sys_seconds{instant.time_since_epoch()}).offset);
  }
  sys_seconds to_local(sys_seconds instant) const { return instant + offset_at(instant); }
  // The instant the reader's clock shows `local`. A time the clock skips (spring forward) is
  // moved forward by the gap (02:30 becomes 03:30); a time it shows twice (fall back) is the
  // first one.
  sys_seconds to_instant(sys_seconds local) const {
    if (!zone_) return local - fixed_;
    const auto info = zone_->get_info(date::local_seconds{local.time_since_epoch()});
    return local - info.first.offset;
  }

 private:
  std::string name_;
  bool known_ = true;
  const date::time_zone* zone_ = nullptr;  // null: fixed_ applies
  minutes fixed_{0};
};

// "Now" for the reader: the instant, their local day and the time of day on their clock.
struct reader_now {
  sys_seconds instant;
  sys_days today;
  minutes time_of_day;
};

reader_now reader_now_at(system_clock::time_point now, const reader_zone& zone) {
  const auto instant = floor<seconds>(now);
  const sys_seconds local = zone.to_local(instant);
  const sys_days today = floor<days>(local);
  return {instant, today, duration_cast<minutes>(local - today)};
}

void append_two_digits(std::string& out, unsigned value) {
  out += static_cast<char>('0' + value / 10 % 10);
  out += static_cast<char>('0' + value % 10);
}

std::string format_date(sys_days day) {
  const year_month_day date{day};
  const int y = static_cast<int>(date.year());
  std::string out;
  out += std::to_string(y / 1000 % 10) + std::to_string(y / 100 % 10);
  append_two_digits(out, static_cast<unsigned>(y % 100));
  out += '-';
  append_two_digits(out, static_cast<unsigned>(date.month()));
  out += '-';
  append_two_digits(out, static_cast<unsigned>(date.day()));
  return out;
}

// RFC 3339 with the reader's offset at that instant: "2026-12-11T17:00:00+01:00".
std::string format_instant(sys_seconds instant, const reader_zone& zone) {
  const minutes offset = zone.offset_at(instant);
  const sys_seconds local = instant + offset;
  const sys_days day = floor<days>(local);
  const hh_mm_ss clock{local - day};
  std::string out = format_date(day);
  out += 'T';
  append_two_digits(out, static_cast<unsigned>(clock.hours().count()));
  out += ':';
  append_two_digits(out, static_cast<unsigned>(clock.minutes().count()));
  out += ':';
  append_two_digits(out, static_cast<unsigned>(clock.seconds().count()));
  out += offset < minutes{0} ? '-' : '+';
  const auto magnitude =
      static_cast<unsigned>(offset < minutes{0} ? -offset.count() : offset.count());
  append_two_digits(out, magnitude / 60);
  out += ':';
  append_two_digits(out, magnitude % 60);
  return out;
}

// ---- Due phrases --------------------------------------------------------------------------------

// What a due phrase said. A time of day from "morning" or "tonight" is soft: an explicit time
// in the same phrase wins ("tomorrow morning at 8").
struct due_parts {
  std::optional<sys_days> day;
  std::optional<minutes> time;
  std::optional<minutes> soft_time;
  std::optional<sys_seconds> instant;  // "in 2 hours"
};

constexpr minutes morning = hours{9};
constexpr minutes afternoon = hours{15};
constexpr minutes evening = hours{18};
constexpr minutes night = hours{20};

std::optional<weekday> weekday_named(std::string_view text) {
  // "sat" and "sun" are left out: "look at the sun" is not a due date.
  static constexpr std::array<std::pair<std::string_view, unsigned>, 15> names = {{{"monday", 1},
                                                                                   {"mon", 1},
                                                                                   {"tuesday", 2},
                                                                                   {"tue", 2},
                                                                                   {"tues", 2},
                                                                                   {"wednesday", 3},
                                                                                   {"wed", 3},
                                                                                   {"thursday", 4},
                                                                                   {"thu", 4},
                                                                                   {"thur", 4},
                                                                                   {"thurs", 4},
                                                                                   {"friday", 5},
                                                                                   {"fri", 5},
                                                                                   {"saturday", 6},
                                                                                   {"sunday", 0}}};
  for (const auto& [name, number] : names)
    if (name == text) return weekday{number};
  return std::nullopt;
}

std::optional<month> month_named(std::string_view text) {
  static constexpr std::array<std::pair<std::string_view, unsigned>, 24> names = {
      {{"january", 1},   {"jan", 1},   {"february", 2},  {"feb", 2},      {"march", 3},
       {"mar", 3},       {"april", 4}, {"apr", 4},       {"may", 5},      {"june", 6},
       {"jun", 6},       {"july", 7},  {"jul", 7},       {"august", 8},   {"aug", 8},
       {"september", 9}, {"sep", 9},   {"sept", 9},      {"october", 10}, {"oct", 10},
       {"november", 11}, {"nov", 11},  {"december", 12}, {"dec", 12}}};
  for (const auto& [name, number] : names)
    if (name == text) return month{number};
  return std::nullopt;
}

// "12", "12th", "1st", "2nd", "3rd": a day of the month, 1..31. `ordinal` says whether the
// suffix was there.
std::optional<unsigned> day_of_month(std::string_view text, bool* ordinal = nullptr) {
  std::size_t digits = 0;
  while (digits < text.size() && is_digit(text[digits])) ++digits;
  if (digits == 0 || digits > 2) return std::nullopt;
  const std::string_view suffix = text.substr(digits);
  if (!suffix.empty() && suffix != "st" && suffix != "nd" && suffix != "rd" && suffix != "th")
    return std::nullopt;
  if (ordinal) *ordinal = !suffix.empty();
  const unsigned value = static_cast<unsigned>(std::stoi(std::string(text.substr(0, digits))));
  return value >= 1 && value <= 31 ? std::optional<unsigned>(value) : std::nullopt;
}

std::optional<int> small_number(std::string_view text) {
  if (all_digits(text) && text.size() <= 3) return std::stoi(std::string(text));
  static constexpr std::array<std::string_view, 13> names = {
      "zero",  "one",   "two",  "three", "four",   "five",  "six",
      "seven", "eight", "nine", "ten",   "eleven", "twelve"};
  for (std::size_t i = 0; i < names.size(); ++i)
    if (names[i] == text) return static_cast<int>(i);
  return std::nullopt;
}

sys_days last_day_of_month(year_month ym) {
  return sys_days{ym / last};
}

// The last day of the month `later` months after the one `today` is in.
sys_days end_of_month(sys_days today, int later = 0) {
  const year_month_day date{today};
  return last_day_of_month(year_month{date.year(), date.month()} + months{later});
}

sys_days add_months(sys_days from, int count) {
  const year_month_day date{from};
  const year_month target = year_month{date.year(), date.month()} + months{count};
  const year_month_day_last target_last{target.year(), month_day_last{target.month()}};
  const day d = std::min(date.day(), target_last.day());  // Jan 31 + 1 month is Feb 28/29
  return sys_days{target.year() / target.month() / d};
}

// The next `wanted` weekday after `today`; `or_today` lets today itself count.
sys_days next_weekday(sys_days today, weekday wanted, bool or_today) {
  const days ahead = wanted - weekday{today};  // 0..6
  return today + (ahead == days{0} && !or_today ? days{7} : ahead);
}

// The day a month and day name without a year means: this year's, or next year's when this
// year's is already past. nullopt for a day the month never has in the next few years.
std::optional<sys_days> next_month_day(sys_days today, month m, unsigned d) {
  year y = year_month_day{today}.year();
  for (int tries = 0; tries < 8; ++tries, ++y) {
    const year_month_day date{y, m, day{d}};
    if (date.ok() && sys_days{date} >= today) return sys_days{date};
  }
  return std::nullopt;
}

std::optional<year> explicit_year(const word* w) {
  if (!w || w->text.size() != 4 || !all_digits(w->text)) return std::nullopt;
  const int value = std::stoi(w->text);
  return value >= 1900 && value <= 2200 ? std::optional<year>(year{value}) : std::nullopt;
}

// A month and day, with an optional year after it; resolves and stores the day.
bool set_month_day(cursor& c, const reader_now& now, month m, unsigned d, due_parts& parts) {
  if (const auto y = explicit_year(c.peek())) {
    const year_month_day date{*y, m, day{d}};
    if (!date.ok()) return false;
    c.take();
    parts.day = sys_days{date};
    return true;
  }
  const auto next = next_month_day(now.today, m, d);
  if (!next) return false;
  parts.day = *next;
  return true;
}

bool parse_iso_date(std::string_view text, sys_days& out) {
  if (text.size() != 10 || text[4] != '-' || text[7] != '-') return false;
  if (!all_digits(text.substr(0, 4)) || !all_digits(text.substr(5, 2)) ||
      !all_digits(text.substr(8, 2)))
    return false;
  const int y = std::stoi(std::string(text.substr(0, 4)));
  if (y < 1900 || y > 2200) return false;  // a typo rather than a due
  const year_month_day date{year{y},
                            month{static_cast<unsigned>(std::stoi(std::string(text.substr(5, 2))))},
                            day{static_cast<unsigned>(std::stoi(std::string(text.substr(8, 2))))}};
  if (!date.ok()) return false;
  out = sys_days{date};
  return true;
}

// "in 3 days", "in a week", "in a couple of days", "in 2 hours".
bool parse_relative(cursor& c, const reader_now& now, due_parts& parts) {
  if (!c.accept("in")) return false;
  int count = 0;
  if (c.accept_any({"a couple of", "a couple", "couple of"})) {
    count = 2;
  } else if (c.accept("a few")) {
    count = 3;
  } else if (c.accept_any({"a", "an"})) {
    count = 1;
  } else if (const word* w = c.peek(); w && small_number(w->text)) {
    count = *small_number(c.take().text);
  } else {
    return false;
  }
  if (count < 0 || count > 400) return false;
  if (c.accept_any({"days", "day"})) {
    parts.day = now.today + days{count};
  } else if (c.accept_any({"weeks", "week"})) {
    parts.day = now.today + weeks{count};
  } else if (c.accept("fortnight")) {
    parts.day = now.today + weeks{2 * count};
  } else if (c.accept_any({"months", "month"})) {
    parts.day = add_months(now.today, count);
  } else if (c.accept_any({"hours", "hour", "hrs", "hr", "h"})) {
    parts.instant = now.instant + hours{count};
  } else if (c.accept_any({"minutes", "minute", "mins", "min"})) {
    parts.instant = now.instant + minutes{count};
  } else {
    return false;
  }
  return true;
}

// One day phrase at the cursor; the cursor is left where it was when there is none.
bool parse_day(cursor& c, const reader_now& now, due_parts& parts) {
  if (parts.day || parts.instant) return false;
  const std::size_t start = c.pos();
  const auto fail = [&] {
    c.seek(start);
    return false;
  };
  const sys_days today = now.today;

  if (c.accept("today")) return parts.day = today, true;
  if (c.accept("tonight")) return parts.day = today, parts.soft_time = night, true;
  if (c.accept_any({"the day after tomorrow", "day after tomorrow"}))
    return parts.day = today + days{2}, true;
  if (c.accept_any({"tomorrow", "tmrw", "tmr", "tomorow", "tommorow", "tommorrow"}))
    return parts.day = today + days{1}, true;
  if (c.accept("this")) {
    if (c.accept("morning")) return parts.day = today, parts.soft_time = morning, true;
    if (c.accept("afternoon")) return parts.day = today, parts.soft_time = afternoon, true;
    if (c.accept_any({"evening", "night"}))
      return parts.day = today, parts.soft_time = evening, true;
    if (c.accept("weekend")) return parts.day = next_weekday(today, Saturday, true), true;
    if (c.accept("week")) return parts.day = next_weekday(today, Sunday, true), true;
    if (c.accept("month")) return parts.day = end_of_month(today), true;
    // "this Friday": the coming one, today included; "this coming Friday": after today.
    const bool coming = c.accept("coming");
    if (const word* w = c.peek(); w && weekday_named(w->text))
      return parts.day = next_weekday(today, *weekday_named(c.take().text), !coming), true;
    return fail();
  }
  if (c.accept_any({"the weekend", "weekend"})) {
    // Sunday is still this weekend.
    return parts.day = weekday{today} == Sunday ? today : next_weekday(today, Saturday, true), true;
  }
  if (c.accept("next")) {
    if (c.accept("week")) return parts.day = next_weekday(today, Monday, false), true;
    if (c.accept("weekend")) {
      const sys_days this_saturday =
          weekday{today} == Sunday ? today - days{1} : next_weekday(today, Saturday, true);
      return parts.day = this_saturday + weeks{1}, true;
    }
    if (c.accept("month")) {
      const year_month_day date{today};
      return parts.day = sys_days{(year_month{date.year(), date.month()} + months{1}) / day{1}},
             true;
    }
    if (const word* w = c.peek(); w && weekday_named(w->text))
      return parts.day = next_weekday(today, *weekday_named(c.take().text), false), true;
    return fail();
  }
  c.accept_any({"the coming", "coming"});
  if (const word* w = c.peek(); w && weekday_named(w->text))
    return parts.day = next_weekday(today, *weekday_named(c.take().text), false), true;
  c.seek(start);
  if (c.accept_any({"the end of", "end of"})) {
    c.accept_any({"the", "this"});
    if (c.accept("week")) return parts.day = next_weekday(today, Sunday, true), true;
    if (c.accept("month")) return parts.day = end_of_month(today), true;
    if (c.accept("next week"))
      return parts.day = next_weekday(today, Monday, false) + days{6}, true;
    if (c.accept("next month")) return parts.day = end_of_month(today, 1), true;
    return fail();
  }
  if (c.accept_any({"month end", "eom"})) return parts.day = end_of_month(today), true;
  if (parse_relative(c, now, parts)) return true;
  c.seek(start);

  const word* first = c.peek();
  if (!first) return false;
  if (sys_days iso; parse_iso_date(first->text, iso)) {
    c.take();
    return parts.day = iso, true;
  }
  // "Dec 12", "December 12th, 2026"
  if (const auto m = month_named(first->text)) {
    c.take();
    const word* d = c.peek();
    const auto number = d ? day_of_month(d->text) : std::nullopt;
    if (!number) return fail();
    c.take();
    return set_month_day(c, now, *m, *number, parts) || fail();
  }
  // "12 December", "the 12th of December", "the 15th"
  const word* before = c.previous();
  const bool after_connector =
      before && (before->text == "on" || before->text == "by" || before->text == "due" ||
                 before->text == "before" || before->text == "until" || before->text == "till" ||
                 before->text == "for");
  c.accept("the");
  const word* d = c.peek();
  bool ordinal = false;
  const auto number = d ? day_of_month(d->text, &ordinal) : std::nullopt;
  if (!number) return fail();
  c.take();
  c.accept("of");
  if (const word* m = c.peek(); m && month_named(m->text)) {
    c.take();
    return set_month_day(c, now, *month_named(m->text), *number, parts) || fail();
  }
  // "the 15th" alone only after a connector ("by the 15th"): "review the 2nd" is no date.
  if (!ordinal || c.pos() != start + 2 || !after_connector) return fail();
  // The next 15th on or after today.
  year_month ym = year_month_day{today}.year() / year_month_day{today}.month();
  for (int tries = 0; tries < 3; ++tries, ym += months{1}) {
    const year_month_day date{ym / day{*number}};
    if (date.ok() && sys_days{date} >= today) return parts.day = sys_days{date}, true;
  }
  return fail();
}

// "5pm", "5:30pm", "17:00", "5 pm", "5 p.m."; `bare_hour` also takes a lone "7" (after "at").
std::optional<minutes> clock_time(cursor& c, bool bare_hour) {
  const word* w = c.peek();
  if (!w) return std::nullopt;
  std::string_view text = w->text;
  std::string_view suffix;
  for (const std::string_view s : {"a.m", "p.m", "am", "pm"}) {
    if (text.size() > s.size() && text.substr(text.size() - s.size()) == s) {
      suffix = s;
      text.remove_suffix(s.size());
      break;
    }
  }
  std::size_t digits = 0;
  while (digits < text.size() && is_digit(text[digits])) ++digits;
  if (digits == 0 || digits > 2) return std::nullopt;
  int hour = std::stoi(std::string(text.substr(0, digits)));
  int minute = 0;
  const bool has_minutes = digits < text.size();
  if (has_minutes) {
    if (text.size() != digits + 3 || (text[digits] != ':' && text[digits] != '.') ||
        !is_digit(text[digits + 1]) || !is_digit(text[digits + 2]))
      return std::nullopt;
    minute = std::stoi(std::string(text.substr(digits + 1, 2)));
    if (text[digits] == '.' && suffix.empty())
      return std::nullopt;  // "3.2" is a section, not a time
  }
  const std::size_t start = c.pos();
  c.take();
  if (suffix.empty()) {
    if (const word* next = c.peek(); next && (next->text == "am" || next->text == "pm" ||
                                              next->text == "a.m" || next->text == "p.m")) {
      suffix = c.take().text;
    }
  }
  if (!suffix.empty()) {
    if (hour < 1 || hour > 12) return c.seek(start), std::nullopt;
    hour %= 12;
    if (suffix.front() == 'p') hour += 12;
  } else if (!has_minutes) {
    if (!bare_hour) return c.seek(start), std::nullopt;
    c.accept("o'clock");
    // "at 7" for a study task: 7..11 in the morning, 1..6 in the afternoon, 12 noon; 0 and
    // 13..23 are 24-hour times.
    if (hour >= 1 && hour <= 6) hour += 12;
  }
  if (hour > 23 || minute > 59) return c.seek(start), std::nullopt;
  return minutes{hour * 60 + minute};
}

// One time-of-day phrase at the cursor; the cursor is left where it was when there is none.
bool parse_time(cursor& c, due_parts& parts) {
  const std::size_t start = c.pos();
  const auto soft = [&](minutes value) {
    if (parts.soft_time) return c.seek(start), false;
    parts.soft_time = value;
    return true;
  };
  if (c.accept_any({"in the morning", "morning"})) return soft(morning);
  if (c.accept_any({"in the afternoon", "afternoon"})) return soft(afternoon);
  if (c.accept_any({"in the evening", "evening"})) return soft(evening);
  if (c.accept_any({"at night", "night"})) return soft(night);
  if (parts.time || parts.instant) return false;
  const bool at = c.accept_any({"at", "@", "around"});
  if (c.accept_any({"noon", "midday"})) return parts.time = hours{12}, true;
  if (c.accept("midnight")) return parts.time = hours{23} + minutes{59}, true;
  if (const auto value = clock_time(c, at)) return parts.time = *value, true;
  c.seek(start);
  return false;
}

// A whole due phrase: connectors, then a day and/or a time in either order ("on Monday at
// 5pm", "at 5pm on Monday", "by tomorrow morning", "due 2026-12-20").
std::optional<due_parts> parse_due(words_view words, const reader_now& now) {
  cursor c(words);
  due_parts parts;
  int components = 0;
  while (!c.at_end()) {
    while (c.accept_any({"due on", "due by", "due", "by", "on", "before", "until", "till", "for",
                         "no later than"})) {
    }
    if (c.at_end()) return std::nullopt;  // a connector with nothing after it
    if (!parse_day(c, now, parts) && !parse_time(c, parts)) return std::nullopt;
    if (++components > 3) return std::nullopt;
  }
  if (!parts.day && !parts.time && !parts.soft_time && !parts.instant) return std::nullopt;
  return parts;
}

std::string resolve_due(const due_parts& parts, const reader_now& now, const reader_zone& zone) {
  if (parts.instant) return format_instant(*parts.instant, zone);
  const std::optional<minutes> time = parts.time ? parts.time : parts.soft_time;
  if (!time) return format_date(*parts.day);
  // A time alone ("at 5pm") is the next such time: today if it is still ahead, else tomorrow.
  const sys_days day =
      parts.day ? *parts.day : (now.time_of_day < *time ? now.today : now.today + days{1});
  return format_instant(zone.to_instant(sys_seconds{day} + *time), zone);
}

// The longest due phrase that ends `words`, at most this many words long.
constexpr std::size_t longest_due_phrase = 8;

struct due_suffix {
  std::size_t begin;  // index of its first word
  due_parts parts;
};

std::optional<due_suffix> find_due_suffix(words_view words, const reader_now& now) {
  const std::size_t longest = std::min(longest_due_phrase, words.size());
  for (std::size_t length = longest; length >= 1; --length) {
    const std::size_t begin = words.size() - length;
    // The title must keep at least one word; "every Monday" is a habit, not a due.
    if (begin == 0 || words[begin - 1].text == "every" || words[begin - 1].text == "each") continue;
    if (auto parts = parse_due(words.subspan(begin), now)) return due_suffix{begin, *parts};
  }
  return std::nullopt;
}

// ---- Titles and references ----------------------------------------------------------------------

// The message's text from word `first` to word `last` (inclusive), as the reader wrote it.
std::string original_text(std::string_view message, words_view words, std::size_t first,
                          std::size_t last) {
  return std::string(message.substr(words[first].begin, words[last].end - words[first].begin));
}

// A title as written, words [first, last], with the brackets that trimming the words took off
// put back when their partner is inside: "test the bridge (v0.3.1)", "(optional) read 3.4".
std::string title_text(std::string_view message, words_view words, std::size_t first,
                       std::size_t last) {
  std::size_t begin = words[first].begin;
  std::size_t end = words[last].end;
  for (const auto& [open, close] : {std::pair{'(', ')'}, std::pair{'[', ']'}}) {
    const std::string_view text = message.substr(begin, end - begin);
    const auto opens = std::count(text.begin(), text.end(), open);
    const auto closes = std::count(text.begin(), text.end(), close);
    if (opens > closes && end < message.size() && message[end] == close) ++end;
    if (closes > opens && begin > 0 && message[begin - 1] == open) --begin;
  }
  return std::string(message.substr(begin, end - begin));
}

// Cuts `text` to at most `limit` bytes without splitting a UTF-8 character.
// The length of the well-formed UTF-8 character at text[at], or 0 for an invalid sequence.
std::size_t utf8_length(std::string_view text, std::size_t at) {
  const auto byte = [&](std::size_t i) { return static_cast<unsigned char>(text[i]); };
  const unsigned char lead = byte(at);
  if (lead < 0x80) return 1;
  const std::size_t length = lead >= 0xC2 && lead <= 0xDF   ? 2
                             : lead >= 0xE0 && lead <= 0xEF ? 3
                             : lead >= 0xF0 && lead <= 0xF4 ? 4
                                                            : 0;
  if (length == 0 || at + length > text.size()) return 0;
  for (std::size_t i = 1; i < length; ++i)
    if ((byte(at + i) & 0xC0) != 0x80) return 0;
  // Overlong forms, surrogates and code points past U+10FFFF.
  const unsigned char second = byte(at + 1);
  if ((lead == 0xE0 && second < 0xA0) || (lead == 0xED && second > 0x9F) ||
      (lead == 0xF0 && second < 0x90) || (lead == 0xF4 && second > 0x8F))
    return 0;
  return length;
}

// `text` as valid UTF-8: each invalid byte becomes U+FFFD. The tool arguments are JSON, which
// cannot hold invalid UTF-8 (the chat's own requests are valid JSON already; this is for any
// other caller).
std::string valid_utf8(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  for (std::size_t i = 0; i < text.size();) {
    const std::size_t length = utf8_length(text, i);
    if (length == 0) {
      out += "\xEF\xBF\xBD";
      ++i;
      continue;
    }
    out.append(text.substr(i, length));
    i += length;
  }
  return out;
}

// At most `limit` bytes of valid UTF-8 from `text`, never splitting a character.
std::string cut_utf8(std::string text, std::size_t limit) {
  text = valid_utf8(text);
  if (text.size() <= limit) return text;
  std::size_t end = limit;
  while (end > 0 && (static_cast<unsigned char>(text[end]) & 0xC0) == 0x80) --end;
  text.resize(end);
  return text;
}

constexpr std::size_t max_title_bytes = 500;

// "to my list", "on my todo list", "to my todos", "to the list" ... at `c` and to the end of
// `words`: the part of "add X to my list" that is not the title.
bool is_list_phrase(words_view words) {
  cursor c(words);
  if (!c.accept_any({"to", "on", "onto", "into", "in"})) return false;
  if (!c.accept_any({"my", "the"})) return false;
  return c.rest_is({"list", "todo list", "todos", "tasks", "task list", "todo", "to do list",
                    "reminders", "todolist", "list of todos"});
}

// Removes a trailing "to my list" and due phrases (either order) from [first, last], and
// returns the due found.
std::optional<due_parts> strip_title_tail(words_view words, std::size_t first, std::size_t& last,
                                          const reader_now& now) {
  std::optional<due_parts> due;
  for (int round = 0; round < 2; ++round) {
    const words_view title = words.subspan(first, last - first + 1);
    if (!due) {
      if (auto suffix = find_due_suffix(title, now)) {
        due = suffix->parts;
        last = first + suffix->begin - 1;
        continue;
      }
    }
    for (std::size_t length = 2; length <= 5 && length < title.size(); ++length) {
      if (is_list_phrase(title.subspan(title.size() - length))) {
        last -= length;
        break;
      }
    }
  }
  return due;
}

// Words that name no todo: articles, pronouns, and the words for "todo" itself.
bool is_filler_word(std::string_view text) {
  static constexpr std::array<std::string_view, 23> fillers = {
      "the",      "my",    "a",     "an",    "that",  "this",   "these", "those",
      "it",       "one",   "our",   "todo",  "todos", "task",   "tasks", "item",
      "reminder", "entry", "thing", "about", "for",   "called", "as"};
  return std::find(fillers.begin(), fillers.end(), text) != fillers.end();
}

// The reference to a todo in words [first, last]: without the articles and "todo" words at
// either end ("the kinematics todo" is "kinematics"), as the reader wrote it.
std::string reference_text(std::string_view message, words_view words, std::size_t first,
                           std::size_t last) {
  if (first > last || last >= words.size()) return {};
  std::size_t end = last + 1;  // exclusive
  while (first < end && is_filler_word(words[first].text)) ++first;
  while (end > first && is_filler_word(words[end - 1].text)) --end;
  if (first == end) return {};
  return original_text(message, words, first, end - 1);
}

// ---- The commands -------------------------------------------------------------------------------

struct parse_input {
  std::string_view message;
  words_view words;  // without the polite words around the request
  const reader_now& now;
  const reader_zone& zone;
  std::optional<due_parts> leading_due;  // "tomorrow, remind me to ..."
};

todo_intent make_intent(todo_action action, const parse_input& in) {
  todo_intent intent;
  intent.action = action;
  intent.time_zone = in.zone.name();
  intent.time_zone_known = in.zone.known();
  intent.today = format_date(in.now.today);
  return intent;
}

enum class title_lead { as_is, strip_to };

// The add of the title in words [first, last], with the due phrase it ends with (or the one
// said before it, in.leading_due); nullopt when no title is left.
std::optional<todo_intent> add_intent(const parse_input& in, std::size_t first, std::size_t last,
                                      title_lead lead = title_lead::as_is,
                                      bool due_required = false) {
  if (first > last || last >= in.words.size()) return std::nullopt;
  // "add a todo to read chapter 3", "new task for the kinematics exercises": the "to" or
  // "for" introduces the title.
  cursor c(in.words, first);
  if (lead == title_lead::strip_to && c.accept_any({"to", "for", "about"}) && c.pos() <= last)
    first = c.pos();
  std::optional<due_parts> due = strip_title_tail(in.words, first, last, in.now);
  if (!due) due = in.leading_due;
  if (due_required && !due) return std::nullopt;
  if (first > last || last >= in.words.size()) return std::nullopt;
  todo_intent intent = make_intent(todo_action::add, in);
  intent.title = cut_utf8(title_text(in.message, in.words, first, last), max_title_bytes);
  if (due) intent.due = resolve_due(*due, in.now, in.zone);
  return intent;
}

bool opens_quote(std::string_view message, std::size_t begin) {
  if (begin == 0) return false;
  const char before = message[begin - 1];
  if (before == '\'' || before == '"') return true;
  return begin >= 3 && message.substr(begin - 3, 2) == "\xE2\x80" &&
         (before == '\x98' || before == '\x9C');
}

// add 'X' [to my list] [due D]: the title is what the quotes hold, whatever its words.
std::optional<todo_intent> understand_quoted_add(const parse_input& in, std::size_t first) {
  const words_view words = in.words;
  if (first >= words.size() || !opens_quote(in.message, words[first].begin)) return std::nullopt;
  std::size_t close = first;
  while (close < words.size() && words[close].after != '\'' && words[close].after != '"') ++close;
  if (close == words.size()) return std::nullopt;
  words_view rest = words.subspan(close + 1);
  for (std::size_t length = 2; length <= 5 && length <= rest.size(); ++length) {
    if (is_list_phrase(rest.first(length))) {
      rest = rest.subspan(length);
      break;
    }
  }
  std::optional<due_parts> due = in.leading_due;
  if (!rest.empty()) {
    due = parse_due(rest, in.now);
    if (!due) return std::nullopt;
  }
  todo_intent intent = make_intent(todo_action::add, in);
  intent.title = cut_utf8(original_text(in.message, words, first, close), max_title_bytes);
  if (due) intent.due = resolve_due(*due, in.now, in.zone);
  return intent;
}

// A due phrase between `from` and the title: "remind me [tomorrow] to X", "add a todo [for
// Friday]: X". Returns the title's first word, with the due in `in.leading_due`; nullopt when
// the words up to "to" (or up to a colon) are not a due phrase.
std::optional<std::size_t> due_before_title(parse_input& in, std::size_t from) {
  const words_view words = in.words;
  for (std::size_t at = from; at < words.size() && at < from + longest_due_phrase + 1; ++at) {
    const bool colon = words[at].after == ':';
    if (words[at].text != "to" && !colon) continue;
    const std::size_t due_end = colon ? at + 1 : at;  // the colon follows the due's last word
    if (due_end == from) return std::nullopt;
    auto due = parse_due(words.subspan(from, due_end - from), in.now);
    if (!due) return std::nullopt;
    in.leading_due = due;
    return at + 1;
  }
  return std::nullopt;
}

std::optional<todo_intent> understand_add(const parse_input& in) {
  const words_view words = in.words;
  const std::size_t last = words.size() - 1;
  cursor c(words);

  if (c.accept_any({"remind me to", "remind me that i need to", "remind me that i have to"}))
    return add_intent(in, c.pos(), last);
  // "remind me tomorrow to read chapter 3"; "remind me about X", "remind me what X means" are
  // questions.
  if (c.accept("remind me")) {
    parse_input with_due = in;
    const auto title = due_before_title(with_due, c.pos());
    return title ? add_intent(with_due, *title, last) : std::nullopt;
  }
  if (c.accept_any({"remember to", "do not forget to", "never forget to", "set a reminder to",
                    "make a note to"}))
    return add_intent(in, c.pos(), last);
  // "set a reminder for tomorrow to X", "set a reminder for the kinematics exercises"
  if (c.accept("set a reminder")) {
    parse_input with_due = in;
    if (const auto title = due_before_title(with_due, c.pos()))
      return add_intent(with_due, *title, last);
    return add_intent(in, c.pos(), last, title_lead::strip_to);
  }
  if (c.accept_any({"i need to", "i have to", "i must", "i should", "i have got to", "i got to",
                    "i gotta", "i will have to"}))
    return add_intent(in, c.pos(), last, title_lead::as_is, /*due_required=*/true);

  // "add a todo: X", "create a task to X", "new todo X"
  c.seek(0);
  if (c.accept_any({"add", "create", "new", "make", "put", "save"})) {
    const std::size_t after_verb = c.pos();
    while (c.accept_any({"a", "an", "another", "one", "new"})) {
    }
    if (c.accept_any({"todo item", "todo", "task", "reminder", "item"})) {
      // "add a todo for Friday: X", "add a todo for tomorrow to read X"
      parse_input with_due = in;
      if (const auto title = due_before_title(with_due, c.pos()))
        return add_intent(with_due, *title, last);
      // "add a todo to my list: X"
      const std::size_t noun_end = c.pos();
      if (!(c.accept_any(
                {"to my list", "to my todos", "to my todo list", "to the list", "for me"}) &&
            !c.at_end()))
        c.seek(noun_end);
      return add_intent(in, c.pos(), last, title_lead::strip_to);
    }
    c.seek(after_verb);
    // "add to my list: X", "add to my todos X"
    if (c.accept_any({"to my todo list", "to my list", "to my todos", "to my tasks", "to the list",
                      "on my list"}) &&
        !c.at_end())
      return add_intent(in, c.pos(), last);
    c.seek(after_verb);
    // add 'X' [due D]: the title is what the quotes hold.
    if (const auto quoted = understand_quoted_add(in, after_verb)) return quoted;
    // "add X to my list [D]": only with the list named, since "add a sensor to the robot" is
    // not a todo.
    for (std::size_t end = words.size(); end > after_verb + 1; --end) {
      for (std::size_t length = 2; length <= 5 && after_verb + length < end; ++length) {
        if (!is_list_phrase(words.subspan(end - length, length))) continue;
        // What follows the list phrase must be a due phrase (or nothing).
        std::optional<due_parts> due;
        if (end < words.size()) {
          due = parse_due(words.subspan(end), in.now);
          if (!due) continue;
        }
        parse_input with_due = in;
        if (due) with_due.leading_due = due;
        return add_intent(with_due, after_verb, end - length - 1);
      }
    }
    return std::nullopt;
  }

  // "todo: X", "task - X", "reminder: X": the colon makes it a command.
  c.seek(0);
  if (c.accept_any({"new todo", "new task", "todo", "task", "reminder"}) &&
      words[c.pos() - 1].after == ':')
    return add_intent(in, c.pos(), last);
  c.seek(0);
  if (c.accept("to do") && words[c.pos() - 1].after == ':') return add_intent(in, c.pos(), last);
  return std::nullopt;
}

// Words that open a question about the book.
bool starts_like_question(words_view words) {
  static constexpr std::array<std::string_view, 26> openers = {
      "how",       "what",    "why",      "when",   "where", "which",   "who",
      "whose",     "whom",    "is",       "are",    "does",  "did",     "was",
      "were",      "explain", "describe", "define", "tell",  "compare", "summarize",
      "summarise", "give",    "should",   "shall",  "can"};
  return !words.empty() &&
         std::find(openers.begin(), openers.end(), words[0].text) != openers.end();
}

// ---- list ---------------------------------------------------------------------------------------

std::optional<todo_filter> filter_word(cursor& c) {
  if (c.accept_any({"open", "pending", "outstanding", "remaining", "current", "unfinished"}))
    return todo_filter::open;
  if (c.accept_any({"done", "completed", "finished", "closed", "checked off"}))
    return todo_filter::done;
  if (c.accept("overdue")) return todo_filter::overdue;
  if (c.accept("all")) return todo_filter::all;
  if (c.accept_any({"today's", "todays"})) return todo_filter::today;
  return std::nullopt;
}

// "todos", "tasks", "todo list", "list" (the latter only after "my": "the list of chapters"
// is the book's).
bool accept_todo_noun(cursor& c, bool said_my) {
  if (c.accept_any({"todo list", "to do list", "todolist", "task list", "todos", "to dos", "tasks",
                    "todo items", "todo", "reminders"}))
    return true;
  return said_my && c.accept("list");
}

// "show my open todos", "list all my tasks", "my todos for today", "overdue tasks".
std::optional<todo_filter> list_command(words_view words) {
  cursor c(words);
  c.accept_any({"show me", "show", "list", "display", "view", "see", "get", "give me", "open",
                "print", "check", "read me", "let me see", "i want to see", "can i see"});
  std::optional<todo_filter> filter = filter_word(c);
  c.accept("of");
  bool said_my = c.accept_any({"my", "the"});
  if (!filter) filter = filter_word(c);
  if (!said_my) said_my = c.accept("my");
  if (!accept_todo_noun(c, said_my)) return std::nullopt;
  if (c.at_end()) return filter.value_or(todo_filter::open);
  if (c.rest_is(
          {"for today", "due today", "today", "that are due today", "i have today", "for the day"}))
    return todo_filter::today;
  if (c.rest_is({"that are overdue", "which are overdue", "overdue", "past due", "that are late"}))
    return todo_filter::overdue;
  if (c.rest_is({"that are done", "i have done", "i have finished", "i have completed",
                 "i finished", "i completed", "done", "i did"}))
    return todo_filter::done;
  if (c.rest_is({"that are open", "still open", "i have", "left", "i still have", "remaining",
                 "open", "please"}))
    return filter.value_or(todo_filter::open);
  return std::nullopt;
}

// The list questions, as whole messages (after "what's" became "what is").
std::optional<todo_filter> list_question(words_view words) {
  cursor c(words);
  if (c.rest_is({"what is overdue", "anything overdue", "is anything overdue",
                 "is there anything overdue", "what is late", "what is past due",
                 "what am i late on", "what have i missed", "what did i miss",
                 "do i have anything overdue", "what todos are overdue", "which todos are overdue",
                 "what tasks are overdue", "which tasks are overdue"}))
    return todo_filter::overdue;
  if (c.rest_is({"what is due today", "anything due today", "is anything due today",
                 "what do i have today", "what do i have to do today", "what do i need to do today",
                 "what is on my list today", "what is on my todo list today",
                 "what is on for today", "what todos are due today", "which todos are due today",
                 "what tasks are due today", "what is due for today",
                 "what is on my list for today", "what is on my todo list for today",
                 "what is on my plate today", "what is on my agenda today",
                 "what is on the agenda today", "what do i need to do for today"}))
    return todo_filter::today;
  if (c.rest_is({"what have i finished", "what have i completed", "what have i done",
                 "what did i finish", "what did i complete", "what did i get done", "what is done",
                 "what have i already done", "what have i checked off",
                 "what todos have i finished", "which todos have i finished", "what todos are done",
                 "which todos are done", "what tasks are done"}))
    return todo_filter::done;
  if (c.rest_is({"what is on my list",
                 "what is on my todo list",
                 "what is on my to do list",
                 "what is in my list",
                 "what is in my todo list",
                 "what is on my plate",
                 "what are my todos",
                 "what are my tasks",
                 "what do i have to do",
                 "what do i need to do",
                 "what is left",
                 "what is left to do",
                 "what is left on my list",
                 "what is still open",
                 "what is open",
                 "what is still on my list",
                 "do i have any todos",
                 "do i have todos",
                 "what todos do i have",
                 "what tasks do i have",
                 "how many todos do i have",
                 "what is next",
                 "what is next on my list",
                 "what are my open todos",
                 "what are my open tasks",
                 "what is due"}))
    return todo_filter::open;
  if (c.rest_is({"what are all my todos", "what are all my tasks", "what is on my whole list",
                 "show me everything on my list", "show everything on my list",
                 "show me my whole list", "show my whole list", "show me my entire list",
                 "show my entire list", "list everything on my list", "everything on my list"}))
    return todo_filter::all;
  return std::nullopt;
}

std::optional<todo_intent> understand_list(const parse_input& in) {
  auto filter = list_question(in.words);
  if (!filter) filter = list_command(in.words);
  if (!filter) return std::nullopt;
  todo_intent intent = make_intent(todo_action::list, in);
  intent.filter = *filter;
  return intent;
}

// ---- complete, reopen, remove -------------------------------------------------------------------

std::optional<todo_intent> reference_intent(const parse_input& in, todo_action action,
                                            std::size_t first, std::size_t last) {
  todo_intent intent = make_intent(action, in);
  if (first <= last && last < in.words.size())
    intent.reference = cut_utf8(reference_text(in.message, in.words, first, last), max_title_bytes);
  return intent;
}

// The end of R in "... R from my list", "... R off my list": the index of the word before.
std::optional<std::size_t> before_from_my_list(words_view words, std::size_t from) {
  for (std::size_t at = from + 1; at < words.size(); ++at) {
    cursor c(words, at);
    if (!c.accept_any({"from", "off", "off of"})) continue;
    c.accept_any({"my", "the"});
    if (c.rest_is({"list", "todo list", "to do list", "todos", "tasks", "task list", "reminders",
                   "todo"}))
      return at - 1;
  }
  return std::nullopt;
}

bool mentions_todo_word(words_view words, std::size_t first, std::size_t last) {
  for (std::size_t i = first; i <= last && i < words.size(); ++i) {
    const auto& text = words[i].text;
    if (text == "todo" || text == "task" || text == "reminder" || text == "todos" ||
        text == "tasks")
      return true;
  }
  return false;
}

// "mark R as done" / "mark R as not done": the state after R, at the end of the message.
std::optional<todo_action> marked_state(words_view words, std::size_t& reference_last) {
  for (std::size_t at = 2; at < words.size(); ++at) {
    cursor c(words, at);
    c.accept("as");
    if (c.rest_is({"done", "complete", "completed", "finished", "checked", "checked off",
                   "ticked off", "resolved"})) {
      reference_last = at - 1;
      return todo_action::complete;
    }
    c.seek(at);
    c.accept("as");
    if (c.rest_is({"not done", "undone", "open", "incomplete", "unfinished", "not finished",
                   "not complete", "not completed", "todo", "uncompleted", "unchecked", "to do",
                   "not done yet"})) {
      reference_last = at - 1;
      return todo_action::reopen;
    }
  }
  return std::nullopt;
}

std::optional<todo_intent> understand_change(const parse_input& in) {
  const words_view words = in.words;
  const std::size_t last = words.size() - 1;
  cursor c(words);

  if (c.accept("mark")) {
    std::size_t reference_last = 0;
    if (const auto action = marked_state(words, reference_last))
      return reference_intent(in, *action, c.pos(), reference_last);
    return std::nullopt;
  }
  // "I finished the kinematics exercises", "I've just completed lab 2", "I'm done with lab 2"
  if (c.accept("i")) {
    c.accept_any({"have", "had"});
    c.accept_any({"just", "already", "finally"});
    if (c.accept_any({"finished", "completed", "done", "am done with", "am finished with",
                      "checked off", "ticked off"}) &&
        !c.at_end())
      return reference_intent(in, todo_action::complete, c.pos(), last);
    return std::nullopt;
  }
  c.seek(0);
  // "done: read chapter 3", "complete read chapter 3", "check off lab 2"
  if (c.accept_any({"done with", "finished with", "done", "finished", "completed", "complete",
                    "check off", "tick off", "cross off"}) &&
      !c.at_end()) {
    const std::size_t first = c.pos();
    const auto end = before_from_my_list(words, first);
    return reference_intent(in, todo_action::complete, first, end.value_or(last));
  }
  c.seek(0);
  // "check lab 2 off", "cross lab 2 off my list"
  if (c.accept_any({"check", "tick", "cross"})) {
    for (std::size_t at = c.pos() + 1; at < words.size(); ++at) {
      cursor tail(words, at);
      if (tail.rest_is({"off", "off my list", "off the list", "off my todo list", "off my todos"}))
        return reference_intent(in, todo_action::complete, c.pos(), at - 1);
    }
    return std::nullopt;
  }
  c.seek(0);
  if (c.accept_any({"reopen", "re open", "uncheck", "untick", "unmark"}) && !c.at_end())
    return reference_intent(in, todo_action::reopen, c.pos(), last);
  c.seek(0);
  if (c.accept_any({"delete", "del"}) && !c.at_end()) {
    const std::size_t first = c.pos();
    const auto end = before_from_my_list(words, first);
    return reference_intent(in, todo_action::remove, first, end.value_or(last));
  }
  c.seek(0);
  // "remove X" alone could be about the robot ("remove the battery"): only with the list or
  // the word todo named.
  if (c.accept_any({"remove", "drop", "erase", "scrap", "cancel", "take"}) && !c.at_end()) {
    const std::size_t first = c.pos();
    if (const auto end = before_from_my_list(words, first))
      return reference_intent(in, todo_action::remove, first, *end);
    if (mentions_todo_word(words, first, last))
      return reference_intent(in, todo_action::remove, first, last);
  }
  return std::nullopt;
}

// ---- Politeness ---------------------------------------------------------------------------------

// Drops "hey", "please", "can you", "thanks" ... around the request. `polite` says whether a
// request form ("can you", "please") was there: such a message may end in "?" and still be a
// command.
words_view without_politeness(words_view words, bool& polite) {
  bool changed = true;
  while (changed && !words.empty()) {
    changed = false;
    cursor c(words);
    if (c.accept_any({"hey", "hi", "hello", "ok", "okay", "so", "oh", "and", "also", "alright",
                      "yo", "assistant", "bot", "kindly"})) {
      words = words.subspan(c.pos());
      changed = true;
      continue;
    }
    if (c.accept_any({"please", "pls", "plz", "can you please", "could you please",
                      "would you please", "can you", "could you", "would you", "will you", "can u",
                      "could u", "i want you to", "i would like you to", "go ahead and",
                      "let us"})) {
      words = words.subspan(c.pos());
      polite = changed = true;
      continue;
    }
  }
  changed = true;
  while (changed && !words.empty()) {
    changed = false;
    for (const std::string_view tail :
         {"please", "pls", "thanks", "thank you", "thx", "for me", "now"}) {
      const std::size_t count =
          static_cast<std::size_t>(std::count(tail.begin(), tail.end(), ' ') + 1);
      if (words.size() <= count) continue;
      if (cursor(words, words.size() - count).rest_is({tail})) {
        words = words.first(words.size() - count);
        polite = polite || tail != "now";
        changed = true;
      }
    }
  }
  return words;
}

// ---- Confirmation and picking -------------------------------------------------------------------

// Folds a word for matching titles: lowercase, and a plural "s" dropped ("exercises" and
// "exercise" match).
std::string match_form(std::string_view folded) {
  std::string form(folded);
  if (form.size() > 3 && form.back() == 's' && form[form.size() - 2] != 's') {
    form.pop_back();
    if (form.size() > 3 && form.ends_with("ie"))
      form.replace(form.size() - 2, 2, "y");  // "studies"
  }
  return form;
}

bool is_pick_stop_word(std::string_view text) {
  static constexpr std::array<std::string_view, 28> stop = {
      "the",  "my",       "a",     "an",     "of",    "to",  "for",  "on",    "in",   "and",
      "or",   "with",     "that",  "this",   "it",    "one", "todo", "todos", "task", "tasks",
      "item", "reminder", "about", "called", "named", "is",  "at",   "by"};
  return std::find(stop.begin(), stop.end(), text) != stop.end();
}

// The content words of `text`, folded, each once.
std::vector<std::string> content_words(std::string_view text) {
  std::vector<std::string> out;
  for (const auto& w : split_words(text)) {
    // "chapter-3" and "lab/2" are two words each for matching.
    std::size_t start = 0;
    for (std::size_t i = 0; i <= w.text.size(); ++i) {
      if (i < w.text.size() && w.text[i] != '-' && w.text[i] != '/' && w.text[i] != '\'') continue;
      const std::string_view part = std::string_view(w.text).substr(start, i - start);
      start = i + 1;
      if (part.empty() || is_pick_stop_word(part)) continue;
      std::string form = match_form(part);
      if (std::find(out.begin(), out.end(), form) == out.end()) out.push_back(std::move(form));
    }
  }
  return out;
}

std::string folded(std::string_view text) {
  std::string out;
  for (const auto& w : split_words(text)) {
    if (!out.empty()) out += ' ';
    out += w.text;
  }
  return out;
}

}  // namespace

json todo_intent::tool_arguments() const {
  switch (action) {
    case todo_action::add: {
      json arguments = {{"title", title}};
      if (due) arguments["due"] = *due;
      return arguments;
    }
    case todo_action::list: {
      json arguments = {{"status", filter == todo_filter::all    ? "all"
                                   : filter == todo_filter::done ? "done"
                                                                 : "open"},
                        {"limit", 50},
                        {"timezone", time_zone}};
      if (filter == todo_filter::overdue) arguments["overdue"] = true;
      // todo_list reads a date bound as that day's midnight in `timezone`: [today, tomorrow).
      if (sys_days day; filter == todo_filter::today && parse_iso_date(today, day)) {
        arguments["due_after"] = today;
        arguments["due_before"] = format_date(day + days{1});
      }
      return arguments;
    }
    case todo_action::complete:
    case todo_action::reopen:
    case todo_action::remove:
      break;
  }
  return json::object();
}

std::optional<todo_intent> understand_todo(std::string_view message,
                                           std::chrono::system_clock::time_point now,
                                           std::string_view time_zone) {
  if (message.size() > 2000) return std::nullopt;  // a pasted passage, not a command
  const std::vector<word> all_words = split_words(message);
  bool polite = false;
  const words_view words = without_politeness(all_words, polite);
  if (words.empty()) return std::nullopt;

  const reader_zone zone = reader_zone::resolve(time_zone);
  const reader_now reader = reader_now_at(now, zone);
  parse_input in{message, words, reader, zone, std::nullopt};

  if (auto list = understand_list(in)) return list;
  const bool asks = message.find('?') != std::string_view::npos;
  if ((asks && !polite) || starts_like_question(words)) return std::nullopt;
  if (auto change = understand_change(in)) return change;
  if (auto add = understand_add(in)) return add;
  // "Tomorrow, remind me to ...": a due phrase ending in a comma, then the request.
  for (std::size_t length = 1; length + 1 < words.size() && length <= longest_due_phrase;
       ++length) {
    if (words[length - 1].after != ',') continue;
    auto due = parse_due(words.first(length), reader);
    if (!due) break;
    bool ignored = false;
    in.words = without_politeness(words.subspan(length), ignored);
    in.leading_due = due;
    if (in.words.empty() || starts_like_question(in.words)) return std::nullopt;
    return understand_add(in);
  }
  return std::nullopt;
}

std::optional<bool> understand_confirmation(std::string_view message) {
  const std::vector<word> words = split_words(message);
  if (words.empty() || words.size() > 8) return std::nullopt;
  cursor c(words);
  static constexpr std::array<std::string_view, 20> yes = {
      "yes",         "y",        "yeah",    "yea",       "yep",        "yup",        "sure",
      "ok",          "okay",     "confirm", "confirmed", "absolutely", "definitely", "correct",
      "affirmative", "go ahead", "do it",   "delete it", "please do",  "of course"};
  static constexpr std::array<std::string_view, 13> no = {
      "no",         "n",         "nope", "nah",   "cancel",   "keep it", "do not",
      "never mind", "nevermind", "stop", "abort", "negative", "keep"};
  // What may follow the answer word without changing it ("yes, delete it", "no, keep it").
  const auto only = [&](std::initializer_list<std::string_view> allowed) {
    while (!c.at_end()) {
      bool matched = false;
      for (const auto allowed_word : allowed) matched = matched || c.accept(allowed_word);
      if (!matched) return false;
    }
    return true;
  };
  if (c.accept_any(yes)) {
    return only({"yes",    "yeah", "sure",       "ok",  "okay",   "please",    "delete",
                 "remove", "it",   "do",         "go",  "ahead",  "thanks",    "thank",
                 "you",    "that", "one",        "the", "todo",   "confirm",   "confirmed",
                 "i",      "am",   "absolutely", "of",  "course", "definitely"})
               ? std::optional(true)
               : std::nullopt;
  }
  c.seek(0);
  if (c.accept_any(no)) {
    return only({"no",     "not",   "do",   "delete", "remove", "it",  "keep",    "cancel",
                 "thanks", "thank", "you",  "please", "that",   "one", "the",     "todo",
                 "never",  "mind",  "wait", "stop",   "way",    "i",   "changed", "my"})
               ? std::optional(false)
               : std::nullopt;
  }
  return std::nullopt;
}

std::optional<std::size_t> pick_todo(std::string_view reference, const nlohmann::json& todos) {
  if (!todos.is_array() || todos.empty()) return std::nullopt;
  const auto text_of = [](const json& todo, const char* key) {
    const auto it = todo.find(key);
    return it != todo.end() && it->is_string() ? it->get<std::string>() : std::string();
  };
  // An id ("#42" or the id itself), or a title said exactly.
  std::string_view id = reference;
  while (!id.empty() && (is_space(id.front()) || id.front() == '#')) id.remove_prefix(1);
  while (!id.empty() && is_space(id.back())) id.remove_suffix(1);
  const std::string wanted_title = folded(reference);
  for (std::size_t i = 0; i < todos.size(); ++i) {
    if (!todos[i].is_object()) continue;
    if (!id.empty() && text_of(todos[i], "id") == id) return i;
  }
  std::optional<std::size_t> exact;
  for (std::size_t i = 0; i < todos.size(); ++i) {
    if (!todos[i].is_object() || wanted_title.empty() ||
        folded(text_of(todos[i], "title")) != wanted_title)
      continue;
    if (exact) return std::nullopt;  // two todos with that very title
    exact = i;
  }
  if (exact) return exact;

  const std::vector<std::string> wanted = content_words(reference);
  if (wanted.empty()) return todos.size() == 1 ? std::optional<std::size_t>(0) : std::nullopt;
  // The most reference words found in the title; a tie is for the reader to settle ("lab 2 or
  // lab 3?"), not for a guess.
  std::optional<std::size_t> best;
  std::size_t best_matched = 0;
  bool tied = false;
  for (std::size_t i = 0; i < todos.size(); ++i) {
    if (!todos[i].is_object()) continue;
    const std::vector<std::string> title = content_words(text_of(todos[i], "title"));
    std::size_t matched = 0;
    for (const auto& w : wanted)
      matched += std::find(title.begin(), title.end(), w) != title.end() ? 1 : 0;
    if (matched == 0) continue;
    if (matched > best_matched) {
      best = i;
      best_matched = matched;
      tied = false;
    } else if (matched == best_matched) {
      tied = true;
    }
  }
  if (!best || tied) return std::nullopt;
  return best;
}

}  // namespace bookmcp::chat
