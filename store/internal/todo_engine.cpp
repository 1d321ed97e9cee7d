#include "store/internal/todo_engine.hpp"

#include <sys/random.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <cstdio>
#include <nlohmann/json.hpp>

#include "store/errors.hpp"

namespace bookmcp::store::internal {

namespace {

using namespace std::chrono;
using json = nlohmann::json;

constexpr std::int64_t ms_per_day = 86'400'000;

std::int64_t to_ms(timestamp t) { return t.time_since_epoch().count(); }
timestamp from_ms(std::int64_t ms) { return timestamp{milliseconds{ms}}; }

std::string format_date(year_month_day date) { return todo_due::on_date(date).to_string(); }

// Number of code points, or nullopt when `text` is not valid UTF-8 or contains NUL (which
// Postgres cannot store).
std::optional<std::size_t> utf8_length(const std::string& text) {
  std::size_t count = 0;
  for (std::size_t i = 0; i < text.size();) {
    const auto c = static_cast<unsigned char>(text[i]);
    std::size_t extra = 0;
    std::uint32_t code = 0;
    if (c == 0) return std::nullopt;
    if (c < 0x80) {
      code = c;
    } else if ((c & 0xE0) == 0xC0) {
      extra = 1;
      code = c & 0x1F;
    } else if ((c & 0xF0) == 0xE0) {
      extra = 2;
      code = c & 0x0F;
    } else if ((c & 0xF8) == 0xF0) {
      extra = 3;
      code = c & 0x07;
    } else {
      return std::nullopt;
    }
    if (i + extra >= text.size() && extra != 0) return std::nullopt;  // truncated sequence
    for (std::size_t k = 1; k <= extra; ++k) {
      const auto next = static_cast<unsigned char>(text[i + k]);
      if ((next & 0xC0) != 0x80) return std::nullopt;
      code = (code << 6) | (next & 0x3F);
    }
    static constexpr std::uint32_t minimum[] = {0, 0x80, 0x800, 0x10000};
    if (code < minimum[extra] || code > 0x10FFFF || (code >= 0xD800 && code <= 0xDFFF))
      return std::nullopt;  // overlong, out of range or a surrogate
    i += extra + 1;
    ++count;
  }
  return count;
}

void check_text(const std::string& text, std::size_t min, std::size_t max,
                const char* what) {
  auto length = utf8_length(text);
  if (!length) throw invalid_request(std::string(what) + " must be valid UTF-8 without NUL");
  if (*length < min || *length > max) {
    throw invalid_request(std::string(what) + " must be " + std::to_string(min) + " to " +
                          std::to_string(max) + " characters");
  }
}

void check_due(const todo_due& due) {
  if (const auto* d = due.as_date()) {
    if (!d->date.ok() || d->date.year() < year{1} || d->date.year() > year{9999})
      throw invalid_request("due date must be a valid date in years 1 to 9999");
  } else {
    const auto& i = *due.as_instant();
    if (abs(i.offset) > hours{18}) throw invalid_request("due offset must be within ±18:00");
    const year_month_day date{floor<days>(i.utc)};
    if (date.year() < year{1} || date.year() > year{9999})
      throw invalid_request("due time must be in years 1 to 9999");
  }
}

void check_tags(const std::set<std::string>& tags) {
  if (tags.size() > max_tags)
    throw invalid_request("at most " + std::to_string(max_tags) + " tags are allowed");
  for (const auto& tag : tags) check_text(tag, 1, max_tag_chars, "a tag");
}

// A title of spaces, tabs and line breaks only names nothing: refused like an empty one.
void check_title(const std::string& title) {
  check_text(title, 1, max_title_chars, "title");
  if (title.find_first_not_of(" \t\r\n\v\f") == std::string::npos)
    throw invalid_request("title must contain more than white space");
}

void validate(const new_todo& item) {
  check_title(item.title);
  check_text(item.notes, 0, max_notes_chars, "notes");
  if (item.due) check_due(*item.due);
  check_tags(item.tags);
  if (item.client_request_id)
    check_text(*item.client_request_id, 1, max_client_request_id_chars, "client_request_id");
}

void validate(const todo_patch& patch) {
  if (patch.title) check_title(*patch.title);
  if (patch.notes.value()) check_text(*patch.notes.value(), 0, max_notes_chars, "notes");
  if (patch.due.value()) check_due(*patch.due.value());
  if (patch.tags.value()) check_tags(*patch.tags.value());
}

void validate_key(const std::string& text, const char* what) {
  // Owners and ids come from the server, not users, but must still be storable text.
  if (!utf8_length(text)) throw invalid_request(std::string(what) + " must be valid UTF-8");
}

std::int64_t priority_code(todo_priority priority) {
  switch (priority) {
    case todo_priority::low:
      return 1;
    case todo_priority::medium:
      return 2;
    case todo_priority::high:
      return 3;
  }
  return 2;
}

// --- cursors --------------------------------------------------------------------------------

}  // namespace

std::string base64url_encode(const std::string& bytes) {
  static constexpr char alphabet[] =
      "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
  std::string out;
  std::uint32_t buffer = 0;
  int bits = 0;
  for (unsigned char c : bytes) {
    buffer = (buffer << 8) | c;
    bits += 8;
    while (bits >= 6) {
      bits -= 6;
      out += alphabet[(buffer >> bits) & 0x3F];
    }
  }
  if (bits > 0) out += alphabet[(buffer << (6 - bits)) & 0x3F];
  return out;
}

std::optional<std::string> base64url_decode(const std::string& text) {
  std::string out;
  std::uint32_t buffer = 0;
  int bits = 0;
  for (char c : text) {
    int value;
    if (c >= 'A' && c <= 'Z') value = c - 'A';
    else if (c >= 'a' && c <= 'z') value = c - 'a' + 26;
    else if (c >= '0' && c <= '9') value = c - '0' + 52;
    else if (c == '-') value = 62;
    else if (c == '_') value = 63;
    else return std::nullopt;
    buffer = (buffer << 6) | static_cast<std::uint32_t>(value);
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out += static_cast<char>((buffer >> bits) & 0xFF);
    }
  }
  return out;
}

namespace {

// Appends `text` as a JSON string, as json::dump writes it.
void append_json_text(std::string& out, const std::string& text) {
  const bool plain = std::all_of(text.begin(), text.end(), [](char c) {
    const auto byte = static_cast<unsigned char>(c);
    return byte >= 0x20 && byte < 0x80 && c != '"' && c != '\\';
  });
  if (!plain) {
    out += json(text).dump();
    return;
  }
  out += '"';
  out += text;
  out += '"';
}

// Identifies the query a cursor belongs to (everything but the page size): a hash of the
// query's members written as a JSON object with sorted keys (the text json::dump gives, so
// that cursors stay valid across versions), without building a tree on every page.
std::string query_fingerprint(const todo_query& query) {
  std::string canonical;
  canonical.reserve(160);
  const auto member = [&](const char* key) {
    canonical += canonical.empty() ? "{\"" : ",\"";
    canonical += key;
    canonical += "\":";
  };
  const auto text_or_absent = [&](const std::optional<std::string>& value) {
    if (value)
      append_json_text(canonical, *value);
    else
      canonical += "\"\\u0001\"";  // "\x01" as dumped: cannot collide with a given value
  };
  member("before");
  append_json_text(canonical, query.due_before ? query.due_before->to_string() : "");
  member("direction");
  canonical += std::to_string(static_cast<int>(query.direction));
  member("from");
  append_json_text(canonical, query.due_from ? query.due_from->to_string() : "");
  member("offset");
  canonical += std::to_string(query.utc_offset.count());
  // Whether, not when: "overdue as of now" moves between pages, and the keyset position
  // does not depend on it (a todo falling due meanwhile is like one added meanwhile).
  member("overdue");
  canonical += query.overdue_at.has_value() ? "true" : "false";
  member("sort");
  canonical += std::to_string(static_cast<int>(query.sort));
  member("status");
  canonical += std::to_string(static_cast<int>(query.status));
  member("tag");
  text_or_absent(query.tag);
  member("text");
  text_or_absent(query.text);
  canonical += '}';
  std::uint64_t hash = 14695981039346656037ull;  // FNV-1a
  for (unsigned char c : canonical) {
    hash ^= c;
    hash *= 1099511628211ull;
  }
  char hex[17];
  std::snprintf(hex, sizeof hex, "%016llx", static_cast<unsigned long long>(hash));
  return hex;
}

// The position of a listed row in the order of `query` (the cursor's "g" and "k"): group 1 for
// a row without a due when sorting by due, else 0; the key as a number, or as text for the
// title sort. These mirror the list statements' ORDER BY.
struct sort_position {
  std::int64_t group = 0;
  std::int64_t key_number = 0;
  std::string key_text;
};

std::int64_t days_since_epoch(const std::string& date_text) {
  auto due = todo_due::parse(date_text);
  if (!due || !due->is_date()) {
    throw store_internal_error("a stored todo could not be read", "corrupt due_date " + date_text);
  }
  return sys_days{due->as_date()->date}.time_since_epoch().count();
}

std::string lowered_ascii(std::string text) {
  for (auto& c : text)
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  return text;
}

sort_position position_of(const todo_query& query, const todo_columns& row) {
  sort_position position;
  switch (query.sort) {
    case todo_sort::due:
      if (row.due_date) {
        position.key_number = days_since_epoch(*row.due_date) * ms_per_day -
                              duration_cast<milliseconds>(query.utc_offset).count();
      } else if (row.due_at_ms) {
        position.key_number = *row.due_at_ms;
      } else {
        position.group = 1;
      }
      break;
    case todo_sort::created:
      position.key_number = row.created_ms;
      break;
    case todo_sort::priority:
      position.key_number = row.priority;
      break;
    case todo_sort::title:
      position.key_text = lowered_ascii(row.title);
      break;
  }
  return position;
}

std::string encode_cursor(const todo_query& query, const todo_columns& row) {
  const auto position = position_of(query, row);
  // {"f":...,"g":...,"i":...,"k":...}, as json::dump writes it.
  std::string cursor = "{\"f\":\"" + query_fingerprint(query) + "\",\"g\":";
  cursor += std::to_string(position.group);
  cursor += ",\"i\":";
  append_json_text(cursor, row.id);
  cursor += ",\"k\":";
  if (query.sort == todo_sort::title)
    append_json_text(cursor, position.key_text);
  else
    cursor += std::to_string(position.key_number);
  cursor += '}';
  return base64url_encode(cursor);
}

std::int64_t floor_divide(std::int64_t a, std::int64_t b) {
  return a / b - ((a % b != 0) && ((a < 0) != (b < 0)) ? 1 : 0);
}

// Any key a stored row can have: timestamps and dues lie in years 1 to 9999, a date-only due
// is shifted by at most 18 hours. A cursor outside is not one this store made.
bool plausible_key(std::int64_t key) {
  constexpr std::int64_t margin = 18 * 3'600'000;
  const std::int64_t first = sys_days{year{1} / January / 1}.time_since_epoch().count();
  const std::int64_t end = sys_days{year{10000} / January / 1}.time_since_epoch().count();
  return key >= first * ms_per_day - margin && key <= end * ms_per_day + margin;
}

// Cursors carry the sort position of the last row shown ("g", "k") and its id ("i"); the list
// statements compare raw columns, so the position is turned into bounds on those columns.
void decode_cursor(const todo_query& query, list_parameters& parameters) {
  const auto invalid = [] { return invalid_request("the cursor is invalid for this query"); };
  auto bytes = base64url_decode(*query.cursor);
  if (!bytes) throw invalid();
  json cursor = json::parse(*bytes, nullptr, /*allow_exceptions=*/false);
  if (!cursor.is_object() || !cursor.contains("f") || !cursor.contains("g") ||
      !cursor.contains("i") || !cursor.contains("k") || !cursor["f"].is_string() ||
      cursor["f"].get<std::string>() != query_fingerprint(query) ||
      !cursor["g"].is_number_integer() || !cursor["i"].is_string()) {
    throw invalid();
  }
  const auto group = cursor["g"].get<std::int64_t>();
  if (group != 0 && !(group == 1 && query.sort == todo_sort::due)) throw invalid();
  list_position after;
  after.undated = group == 1;
  after.id = cursor["i"].get<std::string>();
  if (query.sort == todo_sort::title) {
    if (!cursor["k"].is_string()) throw invalid();
    after.key_text = cursor["k"].get<std::string>();
  } else {
    if (!cursor["k"].is_number_integer()) throw invalid();
    after.key_number = cursor["k"].get<std::int64_t>();
  }
  switch (query.sort) {
    case todo_sort::due:
      if (after.undated) {
        if (after.key_number != 0) throw invalid();
        break;
      }
      if (!plausible_key(after.key_number)) throw invalid();
      {
        // A date d has the key d * ms_per_day - offset, so the dates after the position are
        // those whose midnight d * ms_per_day lies beyond key + offset; a date whose midnight
        // is exactly key + offset ties with the position and goes by id.
        const std::int64_t local = after.key_number + parameters.utc_offset_ms;
        const std::int64_t day = floor_divide(local, ms_per_day);
        const bool on_midnight = local == day * ms_per_day;
        const bool ascending = query.direction == sort_direction::ascending;
        after.due_date_bound = (on_midnight || ascending) ? day : day + 1;
        if (on_midnight) after.due_date_bound_id = after.id;
      }
      break;
    case todo_sort::created:
      if (!plausible_key(after.key_number)) throw invalid();
      break;
    case todo_sort::priority:
      if (after.key_number < 1 || after.key_number > 3) throw invalid();
      break;
    case todo_sort::title:
      break;
  }
  parameters.after = std::move(after);
}

list_parameters make_list_parameters(const std::string& owner, const todo_query& query) {
  if (query.limit < 1 || query.limit > max_page_size)
    throw invalid_request("limit must be 1 to " + std::to_string(max_page_size));
  if (abs(query.utc_offset) > hours{18})
    throw invalid_request("the UTC offset must be within ±18:00");
  list_parameters p;
  p.owner = owner;
  if (query.status == status_filter::open) p.status = "open";
  if (query.status == status_filter::done) p.status = "done";
  p.utc_offset_ms = duration_cast<milliseconds>(query.utc_offset).count();
  if (query.due_from) p.due_from_ms = to_ms(query.due_from->start_for(query.utc_offset));
  if (query.due_before) p.due_before_ms = to_ms(query.due_before->start_for(query.utc_offset));
  if (query.overdue_at) {
    p.overdue_now_ms = to_ms(*query.overdue_at);
    const auto local_day = floor<days>(*query.overdue_at + query.utc_offset);
    p.overdue_today = format_date(year_month_day{local_day});
  }
  if (query.tag) p.tag = *query.tag;
  if (query.text) {
    if (!utf8_length(*query.text)) throw invalid_request("text must be valid UTF-8");
    p.like_pattern = "%" + escape_like(*query.text) + "%";
    p.text = *query.text;
  }
  if (query.cursor) decode_cursor(query, p);
  p.limit = static_cast<std::int64_t>(query.limit) + 1;
  return p;
}

// --- the repository -------------------------------------------------------------------------

class engine_repository final : public todo_repository {
 public:
  engine_repository(todo_transaction_runner& runner, clock_function clock,
                    async_todo_statements* async)
      : runner_(runner), clock_(std::move(clock)), async_(async) {}

  add_result add(const std::string& owner, const new_todo& item, std::stop_token stop) override {
    validate_key(owner, "owner");
    validate(item);
    const auto row = make_row(owner, item, now());
    add_result result;
    // The insert, and when it inserted nothing the read of the row it conflicted with: each
    // stands alone (the read needs no snapshot shared with the insert). Safe to re-run (see
    // insert()).
    runner_.run_autocommit(retry_safety::idempotent_write, stop,
                           [&](todo_session& session) { result = insert(session, row); });
    return result;
  }

  std::vector<batch_item_result> add_batch(const std::string& owner,
                                           const std::vector<new_todo>& items,
                                           std::stop_token stop) override {
    validate_key(owner, "owner");
    if (items.size() > max_batch_size)
      throw invalid_request("at most " + std::to_string(max_batch_size) +
                            " todos can be added at once");
    std::vector<batch_item_result> results(items.size());
    std::vector<std::optional<todo_columns>> rows(items.size());
    const auto created = now();
    for (std::size_t i = 0; i < items.size(); ++i) {
      try {
        validate(items[i]);
        rows[i] = make_row(owner, items[i], created);
      } catch (const invalid_request& e) {
        results[i].error = e.what();
      }
    }
    // The whole batch has one created_at, and ties sort by id: the batch's random ids are
    // handed out in ascending order, so that lists and exports keep the items in the order
    // they were given.
    std::vector<std::string> ids;
    for (const auto& row : rows)
      if (row) ids.push_back(row->id);
    std::sort(ids.begin(), ids.end());
    auto next_id = ids.begin();
    for (auto& row : rows)
      if (row) row->id = *next_id++;
    runner_.run(retry_safety::idempotent_write, stop, [&](todo_session& session) {
      for (std::size_t i = 0; i < items.size(); ++i) {
        if (rows[i]) results[i].added = insert(session, *rows[i]);
      }
    });
    return results;
  }

  std::optional<todo> get(const std::string& owner, const std::string& id,
                          std::stop_token stop) override {
    validate_key(owner, "owner");
    validate_key(id, "id");
    std::optional<todo> result;
    runner_.run_autocommit(retry_safety::read_only, stop, [&](todo_session& session) {
      auto row = session.find(owner, id, false);
      result = row ? std::optional<todo>(from_columns(std::move(*row))) : std::nullopt;
    });
    return result;
  }

  todo_page list(const std::string& owner, const todo_query& query,
                 std::stop_token stop) override {
    validate_key(owner, "owner");
    const auto parameters = make_list_parameters(owner, query);
    std::vector<todo_columns> rows;
    runner_.run_autocommit(retry_safety::read_only, stop, [&](todo_session& session) {
      rows = session.list(query.sort, query.direction, parameters);
    });
    return make_page(query, std::move(rows));
  }

  bool supports_async() const noexcept override { return async_ != nullptr; }

  // The insert, then (when it inserted nothing) the read of the row it conflicted with, as
  // insert() does in one session; each statement stands alone, as in add().
  void add_async(const std::string& owner, const new_todo& item, std::stop_token stop,
                 completion<add_result> done) override {
    if (!async_) return todo_repository::add_async(owner, item, stop, std::move(done));
    std::optional<todo_columns> prepared;
    try {
      validate_key(owner, "owner");
      validate(item);
      prepared = make_row(owner, item, now());
    } catch (...) {
      return done(std::nullopt, std::current_exception());
    }
    auto row = std::make_shared<todo_columns>(std::move(*prepared));
    async_->insert(
        *row, stop,
        [this, row, stop, done = std::move(done)](std::vector<todo_columns> rows,
                                                  std::exception_ptr failure) mutable {
          if (failure) return done(std::nullopt, failure);
          if (!rows.empty())
            return deliver(done, [&] {
              return add_result{from_columns(std::move(rows.front())), true};
            });
          auto found = [row, done = std::move(done)](std::vector<todo_columns> rows,
                                                     std::exception_ptr failure) mutable {
            if (failure) return done(std::nullopt, failure);
            deliver(done, [&] {
              if (rows.empty()) throw conflict_without_row();
              const bool added = rows.front().id == row->id;
              return add_result{from_columns(std::move(rows.front())), added};
            });
          };
          if (row->client_request_id)
            async_->find_by_request_id(row->owner, *row->client_request_id, stop, std::move(found));
          else
            async_->find(row->owner, row->id, stop, std::move(found));
        });
  }

  void list_async(const std::string& owner, const todo_query& query, std::stop_token stop,
                  completion<todo_page> done) override {
    if (!async_) return todo_repository::list_async(owner, query, stop, std::move(done));
    std::optional<list_parameters> parameters;
    try {
      validate_key(owner, "owner");
      parameters = make_list_parameters(owner, query);
    } catch (...) {
      return done(std::nullopt, std::current_exception());
    }
    async_->list(query.sort, query.direction, *parameters, stop,
                 [query, done = std::move(done)](std::vector<todo_columns> rows,
                                                 std::exception_ptr failure) mutable {
                   if (failure) return done(std::nullopt, failure);
                   deliver(done, [&] { return make_page(query, std::move(rows)); });
                 });
  }

  std::optional<todo> update(const std::string& owner, const std::string& id,
                             const todo_patch& patch, std::stop_token stop) override {
    validate_key(owner, "owner");
    validate_key(id, "id");
    validate(patch);
    return modify(owner, id, stop, [&](todo& item) {
      if (patch.title) item.title = *patch.title;
      if (patch.notes.clears()) item.notes.clear();
      if (patch.notes.value()) item.notes = *patch.notes.value();
      if (patch.due.clears()) item.due.reset();
      if (patch.due.value()) item.due = *patch.due.value();
      if (patch.priority) item.priority = *patch.priority;
      if (patch.tags.clears()) item.tags.clear();
      if (patch.tags.value()) item.tags = *patch.tags.value();
      return true;
    });
  }

  std::optional<todo> complete(const std::string& owner, const std::string& id,
                               std::stop_token stop) override {
    validate_key(owner, "owner");
    validate_key(id, "id");
    return modify(owner, id, stop, [&](todo& item) {
      if (item.status == todo_status::done) return false;
      item.status = todo_status::done;
      item.completed_at = item.updated_at;
      return true;
    });
  }

  std::optional<todo> reopen(const std::string& owner, const std::string& id,
                             std::stop_token stop) override {
    validate_key(owner, "owner");
    validate_key(id, "id");
    return modify(owner, id, stop, [&](todo& item) {
      if (item.status == todo_status::open) return false;
      item.status = todo_status::open;
      item.completed_at.reset();
      return true;
    });
  }

  bool remove(const std::string& owner, const std::string& id, std::stop_token stop) override {
    validate_key(owner, "owner");
    validate_key(id, "id");
    bool removed = false;
    runner_.run_autocommit(retry_safety::write, stop,
                           [&](todo_session& session) { removed = session.remove(owner, id); });
    return removed;
  }

  std::vector<todo> export_all(const std::string& owner, std::stop_token stop) override {
    validate_key(owner, "owner");
    std::vector<todo> result;
    runner_.run_autocommit(retry_safety::read_only, stop, [&](todo_session& session) {
      result.clear();
      for (auto& row : session.export_all(owner)) result.push_back(from_columns(std::move(row)));
    });
    return result;
  }

  std::size_t remove_all(const std::string& owner, std::stop_token stop) override {
    validate_key(owner, "owner");
    std::size_t count = 0;
    runner_.run(retry_safety::write, stop,
                [&](todo_session& session) { count = session.remove_all(owner); });
    return count;
  }

 private:
  timestamp now() const { return time_point_cast<milliseconds>(clock_()); }

  static todo_columns make_row(const std::string& owner, const new_todo& item, timestamp now) {
    todo created;
    created.id = new_todo_id();
    created.owner = owner;
    created.title = item.title;
    created.notes = item.notes;
    created.due = item.due;
    created.priority = item.priority;
    created.tags = item.tags;
    created.created_at = now;
    created.updated_at = now;
    created.client_request_id = item.client_request_id;
    return to_columns(created);
  }

  // Inserts `row`, whose id was made for this call. Re-running it is safe: when nothing was
  // inserted, either the todo with this client_request_id exists (the caller's earlier call,
  // or this one's earlier attempt), or an earlier attempt of this call committed the row
  // before its connection broke; both are read back, and the row counts as added by this
  // call when it carries this call's id.
  static add_result insert(todo_session& session, const todo_columns& row) {
    if (auto inserted = session.insert(row)) return {from_columns(std::move(*inserted)), true};
    std::optional<todo_columns> existing =
        row.client_request_id ? session.find_by_request_id(row.owner, *row.client_request_id)
                              : session.find(row.owner, row.id, false);
    if (!existing) throw conflict_without_row();
    const bool added = existing->id == row.id;
    return {from_columns(*existing), added};
  }

  static store_internal_error conflict_without_row() {
    return store_internal_error(
        "the todo could not be saved; try again",
        "insert conflicted but neither the id nor the client_request_id is there");
  }

  // A page of at most query.limit todos from the limit + 1 rows of a list statement.
  static todo_page make_page(const todo_query& query, std::vector<todo_columns> rows) {
    todo_page page;
    const bool more = rows.size() > query.limit;
    if (more) rows.resize(query.limit);
    page.items.reserve(rows.size());
    if (more) page.next_cursor = encode_cursor(query, rows.back());
    for (auto& row : rows) page.items.push_back(from_columns(std::move(row)));
    return page;
  }

  // Reads the todo under a row lock, lets `change` edit it (returning false for "nothing to
  // do"), and writes it back with a new updated_at.
  template <typename Change>
  std::optional<todo> modify(const std::string& owner, const std::string& id,
                             std::stop_token stop, Change&& change) {
    std::optional<todo> result;
    const auto at = now();
    runner_.run(retry_safety::idempotent_write, stop, [&](todo_session& session) {
      result.reset();
      auto row = session.find(owner, id, true);
      if (!row) return;
      todo item = from_columns(*row);
      const auto previous = item.updated_at;
      item.updated_at = std::max(at, previous);
      if (change(item)) {
        session.update(to_columns(item));
      } else {
        item.updated_at = previous;
      }
      result = std::move(item);
    });
    return result;
  }

  todo_transaction_runner& runner_;
  clock_function clock_;
  async_todo_statements* async_;
};

}  // namespace

todo_columns to_columns(const todo& item) {
  todo_columns c;
  c.id = item.id;
  c.owner = item.owner;
  c.title = item.title;
  c.notes = item.notes;
  if (item.due) {
    if (const auto* d = item.due->as_date()) {
      c.due_date = format_date(d->date);
    } else {
      c.due_at_ms = to_ms(item.due->as_instant()->utc);
      c.due_offset_minutes = item.due->as_instant()->offset.count();
    }
  }
  c.priority = priority_code(item.priority);
  c.tags_json = json(item.tags).dump();
  c.status = std::string(to_string(item.status));
  c.created_ms = to_ms(item.created_at);
  c.updated_ms = to_ms(item.updated_at);
  if (item.completed_at) c.completed_ms = to_ms(*item.completed_at);
  c.client_request_id = item.client_request_id;
  return c;
}

namespace {

// Reads a tags array whose strings have no escapes (nearly all: what json::dump and Postgres's
// jsonb output give for ordinary tags) without building a JSON tree; false for anything else,
// which the JSON parser then reads (and checks).
bool read_plain_tags(std::string_view text, std::set<std::string>& tags) {
  std::size_t i = 0;
  const auto skip_space = [&] {
    while (i < text.size() &&
           (text[i] == ' ' || text[i] == '\n' || text[i] == '\t' || text[i] == '\r'))
      ++i;
  };
  const auto next_is = [&](char c) {
    skip_space();
    if (i >= text.size() || text[i] != c) return false;
    ++i;
    return true;
  };
  if (!next_is('[')) return false;
  if (next_is(']')) return (skip_space(), i == text.size());
  for (;;) {
    if (!next_is('"')) return false;
    const std::size_t start = i;
    while (i < text.size() && text[i] != '"') {
      const auto byte = static_cast<unsigned char>(text[i]);
      if (byte == '\\' || byte < 0x20) return false;
      ++i;
    }
    if (i >= text.size()) return false;
    tags.emplace(text.substr(start, i - start));
    ++i;
    if (next_is(']')) return (skip_space(), i == text.size());
    if (!next_is(',')) return false;
  }
}

}  // namespace

todo from_columns(todo_columns c) {
  const auto corrupt = [&](const char* what) {
    return store_internal_error("a stored todo could not be read",
                                std::string("corrupt todo row ") + c.id + ": " + what);
  };
  todo item;
  item.id = std::move(c.id);
  item.owner = std::move(c.owner);
  item.title = std::move(c.title);
  item.notes = std::move(c.notes);
  if (c.due_date) {
    auto due = todo_due::parse(*c.due_date);
    if (!due || !due->is_date()) throw corrupt("due_date");
    item.due = *due;
  } else if (c.due_at_ms) {
    item.due = todo_due::at(from_ms(*c.due_at_ms), minutes{c.due_offset_minutes.value_or(0)});
  }
  switch (c.priority) {
    case 1:
      item.priority = todo_priority::low;
      break;
    case 2:
      item.priority = todo_priority::medium;
      break;
    case 3:
      item.priority = todo_priority::high;
      break;
    default:
      throw corrupt("priority");
  }
  if (!read_plain_tags(c.tags_json, item.tags)) {
    item.tags.clear();
    auto tags = json::parse(c.tags_json, nullptr, false);
    if (!tags.is_array()) throw corrupt("tags");
    for (const auto& tag : tags) {
      if (!tag.is_string()) throw corrupt("tags");
      item.tags.insert(tag.get<std::string>());
    }
  }
  if (c.status == "open") item.status = todo_status::open;
  else if (c.status == "done") item.status = todo_status::done;
  else throw corrupt("status");
  item.created_at = from_ms(c.created_ms);
  item.updated_at = from_ms(c.updated_ms);
  if (c.completed_ms) item.completed_at = from_ms(*c.completed_ms);
  item.client_request_id = std::move(c.client_request_id);
  return item;
}

std::string escape_like(const std::string& text) {
  std::string out;
  out.reserve(text.size());
  for (char c : text) {
    if (c == '\\' || c == '%' || c == '_') out += '\\';
    out += c;
  }
  return out;
}

std::string new_todo_id() {
  // A random (version 4) UUID from the kernel's CSPRNG: unguessable and not sequential.
  std::array<unsigned char, 16> bytes{};
  std::size_t filled = 0;
  while (filled < bytes.size()) {
    const auto n = getrandom(bytes.data() + filled, bytes.size() - filled, 0);
    if (n < 0) {
      if (errno == EINTR) continue;
      throw store_internal_error("the todo could not be saved; try again",
                                 "getrandom failed while generating a todo id");
    }
    filled += static_cast<std::size_t>(n);
  }
  bytes[6] = static_cast<unsigned char>((bytes[6] & 0x0F) | 0x40);
  bytes[8] = static_cast<unsigned char>((bytes[8] & 0x3F) | 0x80);
  char text[37];
  std::snprintf(text, sizeof text,
                "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x",
                bytes[0], bytes[1], bytes[2], bytes[3], bytes[4], bytes[5], bytes[6], bytes[7],
                bytes[8], bytes[9], bytes[10], bytes[11], bytes[12], bytes[13], bytes[14],
                bytes[15]);
  return text;
}

std::unique_ptr<todo_repository> make_todo_repository(todo_transaction_runner& runner,
                                                      clock_function clock,
                                                      async_todo_statements* async) {
  return std::make_unique<engine_repository>(runner, std::move(clock), async);
}

}  // namespace bookmcp::store::internal
