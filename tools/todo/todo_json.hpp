#pragma once
// Internal to the todo tools: turning validated tool arguments into store values, and store
// values into structured results and their readable text. No I/O.

#include <chrono>
#include <optional>
#include <set>
#include <string>
#include <string_view>

#include "mcp/json_rpc.hpp"
#include "mcp/tool.hpp"
#include "store/todo.hpp"

namespace bookmcp::tools::todo_detail {

using mcp::json;

// The accepted forms of a due, for descriptions and error messages.
inline constexpr std::string_view due_formats =
    "a date YYYY-MM-DD (e.g. 2025-03-14; stays that calendar day in every time zone) or an "
    "RFC 3339 date-time with a UTC offset (e.g. 2025-03-14T09:30:00+01:00 or "
    "2025-03-14T08:30:00Z)";

// When "now" is for the reader: the instant, and the reader's UTC offset. A date-only due is
// overdue once the reader's local date is after it; an instant due once it has passed.
struct reader_clock {
  store::timestamp now;
  std::chrono::minutes utc_offset{0};
  std::chrono::year_month_day local_today() const;
  bool overdue(const store::todo& item) const;
};

// Argument parsing. Each throws mcp::tool_error naming the argument (`field`, e.g.
// "items[3].due") and the accepted forms.
store::todo_due parse_due(const json& value, std::string_view field);
std::chrono::year_month_day parse_date(const json& value, std::string_view field);
store::todo_priority parse_priority(const json& value, std::string_view field);
std::set<std::string> parse_tags(const json& value, std::string_view field);
// Title: a string of 1..500 Unicode characters (code points).
std::string parse_title(const json& value, std::string_view field);
// A new todo from one add item (title, notes, due, priority, tags, client_request_id).
store::new_todo parse_new_todo(const json& item, std::string_view prefix);

// "2025-01-01T00:00:00.000Z"
std::string format_timestamp(store::timestamp value);

// A todo as the tools return it (see todo_object_schema()), as JSON text appended to `out`,
// or as a tree.
void append_todo_json(std::string& out, const store::todo& item, const reader_clock& clock);
json todo_to_json(const store::todo& item, const reader_clock& clock);
json todo_object_schema();

// One compact line: "[ ] Title (id: ...; due: 2025-03-14, overdue; high; tags: a, b)".
std::string todo_line(const store::todo& item, const reader_clock& clock);
void append_todo_line(std::string& out, const store::todo& item, const reader_clock& clock);
// The line plus notes and timestamps, for single-todo results.
std::string todo_details(const store::todo& item, const reader_clock& clock);

}  // namespace bookmcp::tools::todo_detail
