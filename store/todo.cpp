#include "store/todo.hpp"

#include <charconv>

#include "store/todo_repository.hpp"

namespace bookmcp::store {

namespace {

using namespace std::chrono;

// Reads exactly `digits` decimal digits at text[pos].
std::optional<int> read_number(std::string_view text, std::size_t pos, std::size_t digits) {
  if (pos + digits > text.size()) return std::nullopt;
  int value = 0;
  for (std::size_t i = pos; i < pos + digits; ++i) {
    if (text[i] < '0' || text[i] > '9') return std::nullopt;
    value = value * 10 + (text[i] - '0');
  }
  return value;
}

std::optional<year_month_day> read_date(std::string_view text) {
  if (text.size() < 10 || text[4] != '-' || text[7] != '-') return std::nullopt;
  auto y = read_number(text, 0, 4);
  auto m = read_number(text, 5, 2);
  auto d = read_number(text, 8, 2);
  if (!y || !m || !d || *y < 1) return std::nullopt;
  year_month_day date{year{*y}, month{static_cast<unsigned>(*m)}, day{static_cast<unsigned>(*d)}};
  if (!date.ok()) return std::nullopt;
  return date;
}

}  // namespace

std::optional<todo_due> todo_due::parse(std::string_view text) {
  auto date = read_date(text);
  if (!date) return std::nullopt;
  if (text.size() == 10) return on_date(*date);

  // RFC 3339 date-time.
  if (text[10] != 'T' && text[10] != 't' && text[10] != ' ') return std::nullopt;
  auto hh = read_number(text, 11, 2);
  if (!hh || text.size() < 16 || text[13] != ':') return std::nullopt;
  auto mm = read_number(text, 14, 2);
  if (!mm || *hh > 23 || *mm > 59) return std::nullopt;
  std::size_t pos = 16;
  int ss = 0;
  int millis = 0;
  if (pos < text.size() && text[pos] == ':') {
    auto s = read_number(text, pos + 1, 2);
    if (!s || *s > 59) return std::nullopt;  // leap seconds are not representable
    ss = *s;
    pos += 3;
    if (pos < text.size() && text[pos] == '.') {
      ++pos;
      std::size_t digits = 0;
      while (pos < text.size() && text[pos] >= '0' && text[pos] <= '9') {
        if (digits < 3) millis = millis * 10 + (text[pos] - '0');
        ++digits;
        ++pos;
      }
      if (digits == 0) return std::nullopt;
      for (std::size_t i = digits; i < 3; ++i) millis *= 10;  // ".5" is 500 ms
    }
  }
  if (pos >= text.size()) return std::nullopt;  // the offset is required
  minutes offset{0};
  if (text[pos] == 'Z' || text[pos] == 'z') {
    ++pos;
  } else if (text[pos] == '+' || text[pos] == '-') {
    auto oh = read_number(text, pos + 1, 2);
    if (!oh || pos + 6 > text.size() || text[pos + 3] != ':') return std::nullopt;
    auto om = read_number(text, pos + 4, 2);
    if (!om || *om > 59 || *oh * 60 + *om > 18 * 60) return std::nullopt;
    offset = minutes{(*oh * 60 + *om) * (text[pos] == '-' ? -1 : 1)};
    pos += 6;
  } else {
    return std::nullopt;
  }
  if (pos != text.size()) return std::nullopt;

  const auto local = sys_days{*date} + hours{*hh} + minutes{*mm} + seconds{ss} +
                     milliseconds{millis};
  return at(time_point_cast<milliseconds>(local - offset), offset);
}

namespace {

// `value` in exactly `width` decimal digits (leading zeros).
void append_digits(std::string& out, unsigned value, int width) {
  char digits[10];
  for (int i = width - 1; i >= 0; --i, value /= 10) digits[i] = static_cast<char>('0' + value % 10);
  out.append(digits, static_cast<std::size_t>(width));
}

}  // namespace

void append_rfc3339_date(std::string& out, year_month_day date) {
  const int year = static_cast<int>(date.year());
  if (year >= 0 && year <= 9999)
    append_digits(out, static_cast<unsigned>(year), 4);
  else
    out += std::to_string(year);
  out += '-';
  append_digits(out, static_cast<unsigned>(date.month()), 2);
  out += '-';
  append_digits(out, static_cast<unsigned>(date.day()), 2);
}

void append_rfc3339_time(std::string& out, milliseconds time_of_day, bool with_milliseconds) {
  const hh_mm_ss<milliseconds> time{time_of_day};
  append_digits(out, static_cast<unsigned>(time.hours().count()), 2);
  out += ':';
  append_digits(out, static_cast<unsigned>(time.minutes().count()), 2);
  out += ':';
  append_digits(out, static_cast<unsigned>(time.seconds().count()), 2);
  if (with_milliseconds || time.subseconds().count() != 0) {
    out += '.';
    append_digits(out, static_cast<unsigned>(time.subseconds().count()), 3);
  }
}

void todo_due::append_to(std::string& text) const {
  if (const auto* d = as_date()) {
    append_rfc3339_date(text, d->date);
    return;
  }
  const auto& i = std::get<instant>(value_);
  const auto local = i.utc + i.offset;
  const auto day_point = floor<days>(local);
  append_rfc3339_date(text, year_month_day{day_point});
  text += 'T';
  append_rfc3339_time(text, local - day_point, false);
  if (i.offset.count() == 0) {
    text += 'Z';
  } else {
    const auto total = i.offset.count();
    const auto magnitude = static_cast<unsigned>(total < 0 ? -total : total);
    text += total < 0 ? '-' : '+';
    append_digits(text, magnitude / 60, 2);
    text += ':';
    append_digits(text, magnitude % 60, 2);
  }
}

std::string todo_due::to_string() const {
  std::string text;
  append_to(text);
  return text;
}

timestamp todo_due::start_for(minutes reader_offset) const {
  if (const auto* d = as_date()) return local_midnight(d->date, reader_offset);
  return std::get<instant>(value_).utc;
}

timestamp local_midnight(year_month_day date, minutes utc_offset) {
  return time_point_cast<milliseconds>(sys_days{date} - utc_offset);
}

std::string_view to_string(todo_priority priority) {
  switch (priority) {
    case todo_priority::low:
      return "low";
    case todo_priority::medium:
      return "medium";
    case todo_priority::high:
      return "high";
  }
  return "medium";
}

std::string_view to_string(todo_status status) {
  return status == todo_status::done ? "done" : "open";
}

std::optional<todo_priority> parse_priority(std::string_view text) {
  if (text == "low") return todo_priority::low;
  if (text == "medium") return todo_priority::medium;
  if (text == "high") return todo_priority::high;
  return std::nullopt;
}

void todo_repository::add_async(const std::string& owner, const new_todo& item,
                                std::stop_token stop, completion<add_result> done) {
  deliver(done, [&] { return add(owner, item, stop); });
}

void todo_repository::list_async(const std::string& owner, const todo_query& query,
                                 std::stop_token stop, completion<todo_page> done) {
  deliver(done, [&] { return list(owner, query, stop); });
}

}  // namespace bookmcp::store
