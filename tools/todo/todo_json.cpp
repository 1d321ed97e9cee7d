#include "tools/todo/todo_json.hpp"


namespace bookmcp::tools::todo_detail {

namespace {

using namespace std::chrono;

// Code points in valid UTF-8; nullopt for invalid UTF-8. (nlohmann::json only holds valid
// UTF-8 strings from parsed input, but a defensive check costs nothing.)
std::optional<std::size_t> utf8_length(std::string_view text) {
  std::size_t count = 0;
  for (std::size_t i = 0; i < text.size();) {
    const auto lead = static_cast<unsigned char>(text[i]);
    std::size_t width = lead < 0x80           ? 1
                        : (lead >> 5) == 0x6  ? 2
                        : (lead >> 4) == 0xE  ? 3
                        : (lead >> 3) == 0x1E ? 4
                                              : 0;
    if (width == 0 || i + width > text.size()) return std::nullopt;
    for (std::size_t k = 1; k < width; ++k) {
      if ((static_cast<unsigned char>(text[i + k]) & 0xC0) != 0x80) return std::nullopt;
    }
    i += width;
    ++count;
  }
  return count;
}

std::string quoted(const json& value) {
  std::string text = value.dump();
  if (text.size() > 80) text = text.substr(0, 77) + "...";
  return text;
}

[[noreturn]] void fail(std::string_view field, const std::string& message) {
  throw mcp::tool_error("Invalid argument " + std::string(field) + ": " + message);
}

}  // namespace

year_month_day reader_clock::local_today() const {
  return year_month_day{floor<days>(now + utc_offset)};
}

bool reader_clock::overdue(const store::todo& item) const {
  if (item.status != store::todo_status::open || !item.due) return false;
  if (const auto* date = item.due->as_date()) return sys_days{date->date} < sys_days{local_today()};
  return item.due->as_instant()->utc < now;
}

store::todo_due parse_due(const json& value, std::string_view field) {
  if (!value.is_string()) fail(field, "expected a string: " + std::string(due_formats) + ".");
  const auto& text = value.get_ref<const std::string&>();
  auto due = store::todo_due::parse(text);
  if (!due) {
    fail(field, quoted(value) + " is not a valid due. Use " + std::string(due_formats) +
                    ". The date must exist (month 01-12, a day that month has) and an offset is "
                    "required on a date-time (at most ±18:00).");
  }
  // The store accepts years 1..9999; say so here rather than failing in the store.
  const auto check_year = [&](year y) {
    if (y < year{1} || y > year{9999}) fail(field, quoted(value) + " is outside years 1 to 9999.");
  };
  if (const auto* date = due->as_date())
    check_year(date->date.year());
  else
    check_year(year_month_day{floor<days>(due->as_instant()->utc)}.year());
  return *due;
}

year_month_day parse_date(const json& value, std::string_view field) {
  const char* hint = "Use a calendar date YYYY-MM-DD, e.g. 2025-03-14.";
  if (!value.is_string()) fail(field, std::string("expected a string. ") + hint);
  auto due = store::todo_due::parse(value.get_ref<const std::string&>());
  if (!due || !due->is_date()) fail(field, quoted(value) + " is not a valid date. " + hint);
  return due->as_date()->date;
}

store::todo_priority parse_priority(const json& value, std::string_view field) {
  if (value.is_string()) {
    if (auto priority = store::parse_priority(value.get_ref<const std::string&>()))
      return *priority;
  }
  fail(field, quoted(value) + " is not a priority. Use one of \"low\", \"medium\", \"high\".");
}

std::set<std::string> parse_tags(const json& value, std::string_view field) {
  if (!value.is_array()) fail(field, "expected an array of tag strings, e.g. [\"chapter-3\"].");
  if (value.size() > store::max_tags) {
    fail(field, "at most " + std::to_string(store::max_tags) + " tags are allowed; got " +
                    std::to_string(value.size()) + ".");
  }
  std::set<std::string> tags;
  for (const auto& tag : value) {
    const auto length = tag.is_string() ? utf8_length(tag.get_ref<const std::string&>())
                                        : std::optional<std::size_t>{};
    if (!length || *length < 1 || *length > store::max_tag_chars) {
      fail(field, "each tag must be a string of 1 to " + std::to_string(store::max_tag_chars) +
                      " characters; " + quoted(tag) + " is not.");
    }
    tags.insert(tag.get<std::string>());
  }
  return tags;
}

std::string parse_title(const json& value, std::string_view field) {
  if (!value.is_string()) fail(field, "expected a string of 1 to 500 characters.");
  const auto& text = value.get_ref<const std::string&>();
  const auto length = utf8_length(text);
  if (!length || *length < 1 || *length > store::max_title_chars) {
    fail(field, "a title must be 1 to " + std::to_string(store::max_title_chars) +
                    " characters; this one has " + std::to_string(length.value_or(0)) +
                    ". Shorten it (put details in notes).");
  }
  return text;
}

store::new_todo parse_new_todo(const json& item, std::string_view prefix) {
  const auto field = [&](std::string_view name) { return std::string(prefix) + std::string(name); };
  store::new_todo todo;
  auto title = item.find("title");
  if (title == item.end()) fail(field("title"), "is required (1 to 500 characters).");
  todo.title = parse_title(*title, field("title"));
  if (auto it = item.find("notes"); it != item.end() && !it->is_null()) {
    if (!it->is_string()) fail(field("notes"), "expected a string.");
    const auto length = utf8_length(it->get_ref<const std::string&>());
    if (!length || *length > store::max_notes_chars) {
      fail(field("notes"),
           "notes may have at most " + std::to_string(store::max_notes_chars) + " characters.");
    }
    todo.notes = it->get<std::string>();
  }
  if (auto it = item.find("due"); it != item.end() && !it->is_null()) {
    todo.due = parse_due(*it, field("due"));
  }
  if (auto it = item.find("priority"); it != item.end() && !it->is_null()) {
    todo.priority = parse_priority(*it, field("priority"));
  }
  if (auto it = item.find("tags"); it != item.end() && !it->is_null()) {
    todo.tags = parse_tags(*it, field("tags"));
  }
  if (auto it = item.find("client_request_id"); it != item.end() && !it->is_null()) {
    const auto length = it->is_string() ? utf8_length(it->get_ref<const std::string&>())
                                        : std::optional<std::size_t>{};
    if (!length || *length < 1 || *length > store::max_client_request_id_chars) {
      fail(field("client_request_id"),
           "expected a string of 1 to " + std::to_string(store::max_client_request_id_chars) +
               " characters, unique per todo you mean to create (e.g. a UUID).");
    }
    todo.client_request_id = it->get<std::string>();
  }
  return todo;
}

namespace {

// RFC 3339 in UTC with milliseconds: "2025-03-14T09:30:00.000Z".
void append_timestamp(std::string& out, store::timestamp value) {
  const auto day = floor<days>(value);
  store::append_rfc3339_date(out, year_month_day{day});
  out += 'T';
  store::append_rfc3339_time(out, value - day, true);
  out += 'Z';
}

// As a JSON string (nothing in it needs escaping).
void append_timestamp_json(std::string& out, store::timestamp value) {
  out += '"';
  append_timestamp(out, value);
  out += '"';
}

}  // namespace

std::string format_timestamp(store::timestamp value) {
  std::string text;
  append_timestamp(text, value);
  return text;
}

void append_todo_json(std::string& out, const store::todo& item, const reader_clock& clock) {
  // Written as text, members in sorted order like a dumped json object: a page of todos is
  // the largest frequent result, and building a tree for it only to serialise it costs more
  // than the rest of the tool.
  const auto member = [&](std::string_view key) {
    out += out.back() == '{' ? "\"" : ",\"";
    out += key;
    out += "\":";
  };
  out += '{';
  if (item.client_request_id) {
    member("client_request_id");
    mcp::append_json_string(out, *item.client_request_id);
  }
  member("completed_at");
  if (item.completed_at) append_timestamp_json(out, *item.completed_at);
  else out += "null";
  member("created_at");
  append_timestamp_json(out, item.created_at);
  member("due");
  if (item.due) {
    out += '"';
    item.due->append_to(out);  // digits, '-', ':', 'T', 'Z', '+': nothing to escape
    out += '"';
  } else {
    out += "null";
  }
  member("due_kind");
  out += item.due ? (item.due->is_date() ? "\"date\"" : "\"date-time\"") : "null";
  member("id");
  mcp::append_json_string(out, item.id);
  member("notes");
  mcp::append_json_string(out, item.notes);
  member("overdue");
  out += clock.overdue(item) ? "true" : "false";
  member("priority");  // "low", "medium", "high", "open", "done": nothing to escape
  out += '"';
  out += store::to_string(item.priority);
  out += '"';
  member("status");
  out += '"';
  out += store::to_string(item.status);
  out += '"';
  member("tags");
  out += '[';
  for (const auto& tag : item.tags) {
    if (out.back() != '[') out += ',';
    mcp::append_json_string(out, tag);
  }
  out += ']';
  member("title");
  mcp::append_json_string(out, item.title);
  member("updated_at");
  append_timestamp_json(out, item.updated_at);
  out += '}';
}

json todo_to_json(const store::todo& item, const reader_clock& clock) {
  std::string text;
  append_todo_json(text, item, clock);
  return json::parse(text);
}

json todo_object_schema() {
  const json nullable_string = {{"type", {"string", "null"}}};
  return {
      {"type", "object"},
      {"description", "One todo of the caller's list."},
      {"properties",
       {{"id",
         {{"type", "string"}, {"description", "Opaque id; pass it to the other todo tools."}}},
        {"title", {{"type", "string"}}},
        {"notes", {{"type", "string"}, {"description", "Empty when there are none."}}},
        {"due",
         {{"type", {"string", "null"}},
          {"description",
           "YYYY-MM-DD for a date, RFC 3339 with offset for a date-time; null when none."}}},
        {"due_kind", {{"type", {"string", "null"}}, {"enum", {"date", "date-time", nullptr}}}},
        {"priority", {{"type", "string"}, {"enum", {"low", "medium", "high"}}}},
        {"tags", {{"type", "array"}, {"items", {{"type", "string"}}}}},
        {"status", {{"type", "string"}, {"enum", {"open", "done"}}}},
        {"overdue",
         {{"type", "boolean"},
          {"description", "Open and past its due in the reader's time zone."}}},
        {"created_at", {{"type", "string"}, {"description", "RFC 3339, UTC."}}},
        {"updated_at", {{"type", "string"}, {"description", "RFC 3339, UTC."}}},
        {"completed_at", nullable_string},
        {"client_request_id", {{"type", "string"}}}}},
      {"required",
       {"id", "title", "notes", "due", "due_kind", "priority", "tags", "status", "overdue",
        "created_at", "updated_at", "completed_at"}},
  };
}

namespace {
// The code point of the line terminator or bidirectional control starting at text[i] (NEL,
// U+2028/2029, U+200E/200F, U+202A-202E, U+2066-2069), or 0. Shown raw, they could make a
// title read as two lines, or reorder what follows it.
char32_t separator_or_bidi_at(std::string_view text, std::size_t i) {
  const auto at = [&](std::size_t k) {
    return k < text.size() ? static_cast<unsigned char>(text[k]) : 0u;
  };
  if (at(i) == 0xC2 && at(i + 1) == 0x85) return 0x85;
  if (at(i) != 0xE2) return 0;
  const char32_t code = 0x2000 + ((at(i + 1) & 0x3F) << 6) + (at(i + 2) & 0x3F);
  if (at(i + 1) == 0x80 && (code == 0x200E || code == 0x200F || (code >= 0x2028 && code <= 0x202E)))
    return code;
  if (at(i + 1) == 0x81 && code >= 0x2066 && code <= 0x2069) return code;
  return 0;
}

// Appends a one-line field (title, tag) with its control characters, line separators and
// bidirectional controls written as escapes: a title with a line break must not read as a
// second todo in the text a model is given (the structured content has the exact text).
void append_one_line(std::string& out, std::string_view text) {
  static constexpr char hex[] = "0123456789abcdef";
  const auto escape = [&](char32_t code) {
    out += "\\u";
    for (int shift = 12; shift >= 0; shift -= 4) out += hex[(code >> shift) & 15];
  };
  for (std::size_t i = 0; i < text.size(); ++i) {
    const char c = text[i];
    const auto byte = static_cast<unsigned char>(c);
    if (const char32_t code = byte >= 0x80 ? separator_or_bidi_at(text, i) : 0) {
      escape(code);
      i += code == 0x85 ? 1 : 2;
    } else if (byte >= 0x20 && byte != 0x7f) {
      out += c;
    } else if (c == '\n') {
      out += "\\n";
    } else if (c == '\r') {
      out += "\\r";
    } else if (c == '\t') {
      out += "\\t";
    } else {
      escape(byte);
    }
  }
}
}  // namespace

void append_todo_line(std::string& line, const store::todo& item, const reader_clock& clock) {
  line += item.status == store::todo_status::done ? "[x] " : "[ ] ";
  append_one_line(line, item.title);
  line += "  (id: ";
  line += item.id;
  if (item.due) {
    line += "; due: ";
    item.due->append_to(line);
    if (clock.overdue(item)) line += ", overdue";
  }
  line += "; ";
  line += store::to_string(item.priority);
  line += " priority";
  if (!item.tags.empty()) {
    line += "; tags: ";
    bool first = true;
    for (const auto& tag : item.tags) {
      if (!first) line += ", ";
      append_one_line(line, tag);
      first = false;
    }
  }
  line += ")";
}

std::string todo_line(const store::todo& item, const reader_clock& clock) {
  std::string line;
  append_todo_line(line, item, clock);
  return line;
}

std::string todo_details(const store::todo& item, const reader_clock& clock) {
  std::string text = todo_line(item, clock);
  if (!item.notes.empty()) text += "\nNotes: " + item.notes;
  text += "\nCreated " + format_timestamp(item.created_at) + ", updated " +
          format_timestamp(item.updated_at);
  if (item.completed_at) text += ", completed " + format_timestamp(*item.completed_at);
  return text;
}

}  // namespace bookmcp::tools::todo_detail
