#pragma once
// The todo model: value types shared by the todo repository and the todo tools.
//
// Plain values; no I/O. Thread-safety: as for any value type.

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <utility>
#include <variant>
#include <vector>

namespace bookmcp::store {

using timestamp = std::chrono::sys_time<std::chrono::milliseconds>;

// Limits enforced by the repository (and, for the title, by the database itself).
inline constexpr std::size_t max_title_chars = 500;    // Unicode code points, at least 1
inline constexpr std::size_t max_notes_chars = 20000;
inline constexpr std::size_t max_tags = 32;
inline constexpr std::size_t max_tag_chars = 64;
inline constexpr std::size_t max_client_request_id_chars = 200;
inline constexpr std::size_t max_batch_size = 25;
inline constexpr std::size_t max_page_size = 100;

// When a todo is due. Either a calendar date with no time of day and no time zone
// ("2025-03-14": due that day wherever the reader is; it is stored as a date and never shifted
// by time zones), or an instant given with a UTC offset ("2025-03-14T09:30:00+01:00": stored
// as the UTC instant plus the offset, so it renders back the way it was given).
class todo_due {
 public:
  struct date_only {
    std::chrono::year_month_day date;
    friend bool operator==(const date_only&, const date_only&) = default;
  };
  struct instant {
    timestamp utc;                 // the instant (millisecond precision)
    std::chrono::minutes offset;   // the offset it was written with, for rendering
    friend bool operator==(const instant&, const instant&) = default;
  };

  static todo_due on_date(std::chrono::year_month_day date) { return todo_due(date_only{date}); }
  static todo_due at(timestamp utc, std::chrono::minutes offset = std::chrono::minutes{0}) {
    return todo_due(instant{utc, offset});
  }

  // Parses "YYYY-MM-DD" or an RFC 3339 date-time "YYYY-MM-DDTHH:MM[:SS[.fff]](Z|+HH:MM|-HH:MM)".
  // nullopt when the text is neither (or names an impossible date / offset beyond ±18:00).
  static std::optional<todo_due> parse(std::string_view text);

  // "YYYY-MM-DD" for a date; RFC 3339 in the original offset for an instant
  // ("2025-03-14T09:30:00+01:00", "...Z" for offset 0, ".123" only when milliseconds are set).
  std::string to_string() const;
  void append_to(std::string& out) const;  // appends to_string()

  bool is_date() const noexcept { return std::holds_alternative<date_only>(value_); }
  const date_only* as_date() const noexcept { return std::get_if<date_only>(&value_); }
  const instant* as_instant() const noexcept { return std::get_if<instant>(&value_); }

  // The instant from which this due counts, seen by a reader at `reader_offset`: a date
  // starts at the reader's local midnight; an instant is itself. Used for ordering and ranges.
  timestamp start_for(std::chrono::minutes reader_offset) const;

  friend bool operator==(const todo_due&, const todo_due&) = default;

 private:
  explicit todo_due(std::variant<date_only, instant> value) : value_(std::move(value)) {}
  std::variant<date_only, instant> value_;
};

// The reader's local midnight that starts `date` (date at 00:00 minus the offset).
timestamp local_midnight(std::chrono::year_month_day date, std::chrono::minutes utc_offset);

enum class todo_priority { low, medium, high };
enum class todo_status { open, done };

// RFC 3339 pieces, written without printf (every todo returned goes through them):
// "YYYY-MM-DD", and "HH:MM:SS" with ".mmm" when `milliseconds` is set or the time has any.
void append_rfc3339_date(std::string& out, std::chrono::year_month_day date);
void append_rfc3339_time(std::string& out, std::chrono::milliseconds time_of_day,
                         bool milliseconds);

std::string_view to_string(todo_priority priority);
std::string_view to_string(todo_status status);
std::optional<todo_priority> parse_priority(std::string_view text);

struct todo {
  std::string id;                        // opaque, random (not sequential), unique
  std::string owner;                     // identity the todo belongs to
  std::string title;                     // 1..max_title_chars code points
  std::string notes;                     // empty when none
  std::optional<todo_due> due;
  todo_priority priority = todo_priority::medium;
  std::set<std::string> tags;
  todo_status status = todo_status::open;
  timestamp created_at{};
  timestamp updated_at{};
  std::optional<timestamp> completed_at;  // set while status is done
  std::optional<std::string> client_request_id;

  friend bool operator==(const todo&, const todo&) = default;
};

// What the caller supplies to create a todo. The owner is passed separately.
struct new_todo {
  std::string title;
  std::string notes;
  std::optional<todo_due> due;
  todo_priority priority = todo_priority::medium;
  std::set<std::string> tags;
  // Idempotency key, unique per owner: adding again with the same key returns the todo that
  // the first add created (whatever the other fields say) instead of creating another.
  std::optional<std::string> client_request_id;
};

struct add_result {
  todo item;
  bool created = true;  // false: an earlier add with the same client_request_id made `item`
};

// One entry of a batch add, in the order of the request: either the outcome of the add or
// the reason this item was rejected (the other items are still added).
struct batch_item_result {
  std::optional<add_result> added;
  std::string error;  // set exactly when `added` is empty; safe to show to the user
};

// A change to one field of a todo: leave it, set it, or clear it.
template <typename T>
class field_change {
 public:
  field_change() = default;  // keep
  static field_change set(T value) { return field_change(std::move(value)); }
  static field_change clear() {
    field_change change;
    change.clear_ = true;
    return change;
  }

  bool keeps() const noexcept { return !value_ && !clear_; }
  bool clears() const noexcept { return clear_; }
  const std::optional<T>& value() const noexcept { return value_; }

 private:
  explicit field_change(T value) : value_(std::move(value)) {}
  std::optional<T> value_;
  bool clear_ = false;
};

// A partial update: only fields that are set or cleared change. updated_at always changes
// when the todo exists.
struct todo_patch {
  std::optional<std::string> title;
  field_change<std::string> notes;             // clear() == set("")
  field_change<todo_due> due;
  std::optional<todo_priority> priority;
  field_change<std::set<std::string>> tags;    // clear() == set({})
};

enum class status_filter { open, done, all };
enum class todo_sort { due, created, priority, title };
enum class sort_direction { ascending, descending };

// Filters are combined with AND. Due bounds and overdue checks compare a date-only due by
// the reader's local day (utc_offset) and an instant due by its instant.
struct todo_query {
  status_filter status = status_filter::open;
  std::optional<todo_due> due_from;    // due.start_for(offset) >= due_from.start_for(offset)
  std::optional<todo_due> due_before;  // due.start_for(offset) <  due_before.start_for(offset)
  // Only open todos that are overdue at this instant: a date-only due is overdue once the
  // reader's local date (at utc_offset) is after it; an instant due once it has passed. For
  // "overdue as of local date D" pass local_midnight(D, utc_offset). Todos without a due
  // are never overdue.
  std::optional<timestamp> overdue_at;
  std::chrono::minutes utc_offset{0};  // the reader's UTC offset
  std::optional<std::string> tag;      // exact tag match
  std::optional<std::string> text;     // case-insensitive substring of title or notes, literal
                                       // (%, _ and \ match themselves); every script's letters
                                       // (Unicode lower case on SQLite, the locale's on Postgres)

  // Ordering; ties are broken by id in the same direction, so pages never repeat or skip.
  // Todos without a due sort after those with one, in both directions. Priority descending
  // is high first; title compares case-insensitively (ASCII) and then bytewise.
  todo_sort sort = todo_sort::created;
  sort_direction direction = sort_direction::ascending;

  std::size_t limit = 50;              // 1..max_page_size
  std::optional<std::string> cursor;   // next_cursor of the previous page of the same query
};

struct todo_page {
  std::vector<todo> items;
  std::optional<std::string> next_cursor;  // empty on the last page
};

}  // namespace bookmcp::store
