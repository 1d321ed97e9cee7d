// The Postgres back-end (server profile), over libpqxx 6.
//
// Every statement is a prepared statement (or exec_params) with bound values; SQL text is
// constant, or assembled once at start from constant fragments chosen by enums (the list
// statements). Operations run in a transaction on a pooled connection (reads of a single
// statement in autocommit, which is the same for one statement and saves the BEGIN and
// COMMIT round trips); a stop token cancels the running query on the server (see pg_pool.hpp).
//
// Broken connections: the connection is discarded. The operation is retried once on a fresh
// connection when that cannot change its outcome: reads, idempotent writes (adds with a
// client_request_id, set-style updates), and any operation whose BEGIN failed (nothing of it
// reached the server). Otherwise it fails with store_unavailable.

#include <algorithm>
#include <array>
#include <charconv>
#include <cstdio>
#include <mutex>
#include <nlohmann/json.hpp>
#include <pqxx/pqxx>

#include "store/database.hpp"
#include "store/errors.hpp"
#include "store/internal/testing_hooks.hpp"
#include "store/internal/todo_engine.hpp"
#include "store/postgres/pg_async.hpp"
#include "store/postgres/pg_pool.hpp"
#include "store/postgres/pg_schema.hpp"

namespace bookmcp::store {

namespace {

using namespace std::chrono;
using internal::list_parameters;
using internal::retry_safety;
using internal::todo_columns;
using json = nlohmann::json;

constexpr std::int64_t migration_lock_key = 0x626f6f6b6d6370;  // "bookmcp"

// Bound values for one statement; NULL for empty optionals.
class params {
 public:
  params& add(const std::string& value) {
    values_.emplace_back(value);
    return *this;
  }
  params& add(std::int64_t value) {
    values_.emplace_back(std::to_string(value));
    return *this;
  }
  params& add(double value) {
    char text[32];
    std::snprintf(text, sizeof text, "%.17g", value);
    values_.emplace_back(text);
    return *this;
  }
  params& add(std::nullptr_t) {
    values_.emplace_back(std::nullopt);
    return *this;
  }
  template <typename T>
  params& add(const std::optional<T>& value) {
    return value ? add(*value) : add(nullptr);
  }

  std::vector<std::optional<std::string>> take() && { return std::move(values_); }

  pqxx::result exec(pqxx::transaction_base& txn, const char* statement) const {
    std::vector<const char*> pointers;
    pointers.reserve(values_.size());
    for (const auto& value : values_) pointers.push_back(value ? value->c_str() : nullptr);
    return txn.exec_prepared(statement, pqxx::prepare::make_dynamic_params(pointers));
  }

 private:
  std::vector<std::optional<std::string>> values_;
};

// A todo row's columns in todo_select's order, for messages about unreadable values.
constexpr std::array<const char*, 14> todo_column_names = {
    "id",       "owner", "title",  "notes",      "due_date",   "due_at",       "due_offset_minutes",
    "priority", "tags",  "status", "created_at", "updated_at", "completed_at", "client_request_id"};

// Reads a todo row from `next`, which returns each column in turn as its text, or nullopt
// for NULL: the same reader for libpqxx rows and for libpq results (the asynchronous path).
template <typename Next>
todo_columns read_todo_columns(Next&& next) {
  std::size_t column = 0;
  const auto optional_text = [&]() -> std::optional<std::string> {
    const auto value = next();
    ++column;
    if (value) return std::string(*value);
    return std::nullopt;
  };
  const auto text = [&] { return optional_text().value_or(std::string()); };
  const auto optional_integer = [&]() -> std::optional<std::int64_t> {
    const auto value = next();
    ++column;
    if (!value) return std::nullopt;
    std::int64_t number = 0;
    const char* end = value->data() + value->size();
    if (const auto [rest, error] = std::from_chars(value->data(), end, number);
        error != std::errc() || rest != end)
      throw store_internal_error("a stored todo could not be read",
                                 std::string("not an integer in column ") +
                                     todo_column_names[column - 1] + ": " + std::string(*value));
    return number;
  };
  const auto integer = [&] { return optional_integer().value_or(0); };
  todo_columns c;
  c.id = text();
  c.owner = text();
  c.title = text();
  c.notes = text();
  c.due_date = optional_text();
  c.due_at_ms = optional_integer();
  c.due_offset_minutes = optional_integer();
  c.priority = integer();
  c.tags_json = text();
  c.status = text();
  c.created_ms = integer();
  c.updated_ms = integer();
  c.completed_ms = optional_integer();
  c.client_request_id = optional_text();
  return c;
}

// --- statements -----------------------------------------------------------------------------

#define BOOKMCP_MS(column) "(extract(epoch FROM " column ") * 1000)::bigint"
#define BOOKMCP_TS(param) "(TIMESTAMPTZ 'epoch' + (" param "::bigint) * INTERVAL '1 millisecond')"

constexpr const char* todo_select =
    "id, owner, title, notes, to_char(due_date, 'YYYY-MM-DD'), " BOOKMCP_MS("due_at")
    ", due_offset_minutes, priority, tags::text, status, " BOOKMCP_MS("created_at") ", "
    BOOKMCP_MS("updated_at") ", " BOOKMCP_MS("completed_at") ", client_request_id";

// Walks the row with one column iterator: pqxx's row[i] makes a field holding its own copy of
// the result (two reference counts taken and dropped per column, 14 columns per todo). The
// iterator is itself the field (its operator* and postfix ++ would copy it, result and all).
todo_columns read_todo(const pqxx::row& r) {
  auto f = r.begin();
  return read_todo_columns([&f]() -> std::optional<std::string_view> {
    const auto& field = static_cast<const pqxx::field&>(f);
    std::optional<std::string_view> value;
    if (!field.is_null()) value.emplace(field.c_str(), field.size());
    ++f;
    return value;
  });
}

std::vector<todo_columns> read_todos(const pqxx::result& result) {
  std::vector<todo_columns> rows;
  rows.reserve(result.size());
  for (const auto& r : result) rows.push_back(read_todo(r));
  return rows;
}

// The rows of a libpq result (the asynchronous path).
std::vector<todo_columns> read_todos(const PGresult* result) {
  std::vector<todo_columns> rows;
  const int count = PQntuples(result);
  rows.reserve(static_cast<std::size_t>(count));
  for (int row = 0; row < count; ++row) {
    int column = 0;
    rows.push_back(read_todo_columns([&]() -> std::optional<std::string_view> {
      const int at = column++;
      if (PQgetisnull(result, row, at)) return std::nullopt;
      return std::string_view(PQgetvalue(result, row, at),
                              static_cast<std::size_t>(PQgetlength(result, row, at)));
    }));
  }
  return rows;
}

// --- the list statements ---
//
// One statement per shape of query: sort, direction, and which filters and which kind of
// cursor it has. Rows are ordered by raw columns and a cursor is a row comparison on them, so
// Postgres can walk an index of migration 3 in order and stop after `limit` rows. A statement
// holds only the conditions its shape needs: with "$n IS NULL OR ..." conditions the generic
// plan that a prepared statement gets after five runs estimates almost no matching rows and
// sorts every row of the owner instead. Statements are made when first needed and prepared
// on each connection when first used there.

// The values a list statement binds; each statement numbers the ones it uses in order.
enum class list_value {
  owner,
  status,
  utc_offset,
  due_from,
  due_before,
  overdue_now,
  overdue_today,
  tag,
  like_pattern,
  after_key,
  after_id,
  after_date,
  after_date_id,
  limit,
};

struct list_shape {
  todo_sort sort = todo_sort::created;
  sort_direction direction = sort_direction::ascending;
  bool status = false;
  internal::list_cursor_kind cursor = internal::list_cursor_kind::none;
  bool due_from = false;
  bool due_before = false;
  bool overdue = false;
  bool tag = false;
  bool text = false;

  static constexpr std::size_t count = 4 * 2 * 2 * 3 * 32;
  std::size_t index() const {
    std::size_t i = static_cast<std::size_t>(sort);
    i = i * 2 + static_cast<std::size_t>(direction);
    i = i * 2 + (status ? 1 : 0);
    i = i * 3 + static_cast<std::size_t>(cursor);
    for (bool filter : {due_from, due_before, overdue, tag, text}) i = i * 2 + (filter ? 1 : 0);
    return i;
  }
};

list_shape shape_of(todo_sort sort, sort_direction direction, const list_parameters& q) {
  return {sort,
          direction,
          q.status.has_value(),
          internal::cursor_kind(q),
          q.due_from_ms.has_value(),
          q.due_before_ms.has_value(),
          q.overdue_now_ms.has_value(),
          q.tag.has_value(),
          q.like_pattern.has_value()};
}

struct list_statement {
  std::string name;
  std::string sql;
  std::vector<list_value> values;  // $1, $2, ... in order
};

class list_statement_builder {
 public:
  // "$n::type" for `value`, numbering it on first use.
  std::string operator()(list_value value, const char* type) {
    auto it = std::find(values_.begin(), values_.end(), value);
    if (it == values_.end()) it = values_.insert(values_.end(), value);
    return "$" + std::to_string(it - values_.begin() + 1) + "::" + type;
  }
  std::vector<list_value> take() { return std::move(values_); }

 private:
  std::vector<list_value> values_;
};

// The owner, and the filters of `shape`.
std::string list_filters(list_statement_builder& value, const list_shape& shape) {
  std::string sql = "owner = " + value(list_value::owner, "text");
  if (shape.status) sql += " AND status = " + value(list_value::status, "text");
  const auto due_key = [&] {
    return "(due_date IS NOT NULL OR due_at IS NOT NULL) AND COALESCE((due_date - DATE "
           "'1970-01-01')::bigint * 86400000 - " +
           value(list_value::utc_offset, "bigint") + ", " BOOKMCP_MS("due_at") ")";
  };
  if (shape.due_from) sql += " AND " + due_key() + " >= " + value(list_value::due_from, "bigint");
  if (shape.due_before)
    sql += " AND " + due_key() + " < " + value(list_value::due_before, "bigint");
  if (shape.overdue) {
    sql += " AND status = 'open' AND ((due_at IS NOT NULL AND " BOOKMCP_MS("due_at") " < " +
           value(list_value::overdue_now, "bigint") + ") OR (due_date IS NOT NULL AND due_date < " +
           value(list_value::overdue_today, "date") + "))";
  }
  if (shape.tag) sql += " AND tags ? " + value(list_value::tag, "text");
  if (shape.text) {
    const auto like = value(list_value::like_pattern, "text");
    sql += " AND (title ILIKE " + like + " ESCAPE '\\' OR notes ILIKE " + like + " ESCAPE '\\')";
  }
  return sql;
}

// The cursor's key as a timestamptz (created_at, due_at).
std::string after_instant(list_statement_builder& value) {
  return "(TIMESTAMPTZ 'epoch' + " + value(list_value::after_key, "bigint") +
         " * INTERVAL '1 millisecond')";
}

list_statement make_list_statement(const list_shape& shape) {
  using internal::list_cursor_kind;
  list_statement_builder value;
  const bool ascending = shape.direction == sort_direction::ascending;
  const std::string beyond = ascending ? " > " : " < ";
  const std::string order = ascending ? " ASC" : " DESC";
  const std::string id = "id COLLATE \"C\"";
  const std::string filters = list_filters(value, shape);
  const std::string limit = " LIMIT " + value(list_value::limit, "bigint");
  std::string sql;
  if (shape.sort != todo_sort::due) {
    std::string column = "created_at";
    if (shape.sort == todo_sort::priority) column = "priority";
    if (shape.sort == todo_sort::title) {
      // ASCII-only case folding and bytewise order: the same order as SQLite's lower().
      column =
          "(translate(title, 'ABCDEFGHIJKLMNOPQRSTUVWXYZ', 'abcdefghijklmnopqrstuvwxyz')"
          " COLLATE \"C\")";
    }
    sql = std::string("SELECT ") + todo_select + " FROM todos WHERE " + filters;
    if (shape.cursor != list_cursor_kind::none) {
      const std::string bound = shape.sort == todo_sort::created ? after_instant(value)
                                : shape.sort == todo_sort::priority
                                    ? value(list_value::after_key, "smallint")
                                    : value(list_value::after_key, "text");
      sql += " AND (" + column + ", " + id + ")" + beyond + "(" + bound + ", " +
             value(list_value::after_id, "text") + ")";
    }
    sql += " ORDER BY " + column + order + ", " + id + order + limit;
  } else {
    // Rows with a due first (group 0), by the due's start for the reader: a date-only due
    // starts at the reader's midnight, so among themselves dates order by due_date and
    // instants by due_at. Each kind is read in its own index order up to `limit` rows, and
    // the page is the first `limit` of these and the undated rows (group 1, by id).
    const auto stream = [&](const std::string& group, const std::string& key,
                            const std::string& condition, const std::string& bound,
                            const std::string& column) {
      std::string part = std::string("(SELECT ") + todo_select + ", " + group + " AS g, " + key +
                         " AS k FROM todos WHERE " + filters + " AND " + condition;
      if (!bound.empty()) part += " AND " + bound;
      return part + " ORDER BY " + (column.empty() ? "" : column + order + ", ") + id + order +
             limit + ")";
    };
    std::string undated_bound;
    if (shape.cursor == list_cursor_kind::undated)
      undated_bound = "(" + id + ")" + beyond + value(list_value::after_id, "text");
    const std::string undated =
        stream("1::bigint", "0::bigint", "due_date IS NULL AND due_at IS NULL", undated_bound, "");
    if (shape.cursor == list_cursor_kind::undated) {
      sql = "SELECT * FROM " + undated + " AS page";
    } else {
      std::string date_bound;
      std::string instant_bound;
      if (shape.cursor == list_cursor_kind::dated) {
        date_bound = "(due_date, " + id + ")" + beyond + "(DATE '1970-01-01' + " +
                     value(list_value::after_date, "integer") + ", " +
                     value(list_value::after_date_id, "text") + ")";
        instant_bound = "(due_at, " + id + ")" + beyond + "(" + after_instant(value) + ", " +
                        value(list_value::after_id, "text") + ")";
      }
      sql =
          "SELECT * FROM (" +
          stream("0::bigint",
                 "(due_date - DATE '1970-01-01')::bigint * 86400000 - " +
                     value(list_value::utc_offset, "bigint"),
                 "due_date IS NOT NULL", date_bound, "due_date") +
          " UNION ALL " +
          stream("0::bigint", BOOKMCP_MS("due_at"), "due_at IS NOT NULL", instant_bound, "due_at") +
          " UNION ALL " + undated + ") AS page ORDER BY g ASC, k" + order + ", " + id + order +
          limit;
    }
  }
  return {"bookmcp_todo_list_" + std::to_string(shape.index()), std::move(sql), value.take()};
}

// The statement for `shape`, made on first use; safe to call from any thread.
const list_statement& list_statement_for(const list_shape& shape) {
  static std::array<std::once_flag, list_shape::count> made;
  static std::array<std::optional<list_statement>, list_shape::count> statements;
  const auto i = shape.index();
  std::call_once(made[i], [&] { statements[i] = make_list_statement(shape); });
  return *statements[i];
}

const std::vector<std::pair<std::string, std::string>>& statements() {
  static const auto all = [] {
    std::vector<std::pair<std::string, std::string>> s = {
        {"bookmcp_todo_insert",
         std::string("INSERT INTO todos (id, owner, title, notes, due_date, due_at,"
                     " due_offset_minutes, priority, tags, status, created_at, updated_at,"
                     " completed_at, client_request_id) VALUES ($1, $2, $3, $4, $5::date, ") +
             BOOKMCP_TS("$6") + ", $7::smallint, $8::smallint, $9::jsonb, $10, " +
             BOOKMCP_TS("$11") + ", " + BOOKMCP_TS("$12") + ", " + BOOKMCP_TS("$13") +
             ", $14) ON CONFLICT DO NOTHING RETURNING " + todo_select},
        {"bookmcp_todo_find_request",
         std::string("SELECT ") + todo_select +
             " FROM todos WHERE owner = $1 AND client_request_id = $2"},
        {"bookmcp_todo_find",
         std::string("SELECT ") + todo_select + " FROM todos WHERE owner = $1 AND id = $2"},
        {"bookmcp_todo_find_for_update", std::string("SELECT ") + todo_select +
                                             " FROM todos WHERE owner = $1 AND id = $2 FOR UPDATE"},
        {"bookmcp_todo_update",
         std::string("UPDATE todos SET title = $3, notes = $4, due_date = $5::date, due_at = ") +
             BOOKMCP_TS("$6") +
             ", due_offset_minutes = $7::smallint, priority = $8::smallint, tags = $9::jsonb,"
             " status = $10, updated_at = " +
             BOOKMCP_TS("$11") + ", completed_at = " + BOOKMCP_TS("$12") +
             " WHERE id = $1 AND owner = $2"},
        {"bookmcp_todo_delete", "DELETE FROM todos WHERE owner = $1 AND id = $2"},
        {"bookmcp_todo_export", std::string("SELECT ") + todo_select +
                                    " FROM todos WHERE owner = $1 ORDER BY created_at,"
                                    " id COLLATE \"C\""},
        {"bookmcp_todo_delete_all", "DELETE FROM todos WHERE owner = $1"},
        {"bookmcp_doc_find",
         "SELECT root, path, content_hash, chunker_version, chunk_ids::text, indexed_at_ms,"
         " last_error, title, url, sidebar_position FROM documents WHERE root = $1 AND path = $2"},
        {"bookmcp_doc_list",
         "SELECT root, path, content_hash, chunker_version, chunk_ids::text, indexed_at_ms,"
         " last_error, title, url, sidebar_position FROM documents"
         " ORDER BY root COLLATE \"C\", path COLLATE \"C\""},
        {"bookmcp_doc_upsert",
         "INSERT INTO documents (root, path, content_hash, chunker_version, chunk_ids,"
         " indexed_at_ms, last_error, title, url, sidebar_position)"
         " VALUES ($1, $2, $3, $4::integer, $5::jsonb, $6::bigint, $7, $8, $9,"
         " $10::double precision)"
         " ON CONFLICT (root, path) DO UPDATE SET content_hash = excluded.content_hash,"
         " chunker_version = excluded.chunker_version, chunk_ids = excluded.chunk_ids,"
         " indexed_at_ms = excluded.indexed_at_ms, last_error = excluded.last_error,"
         " title = excluded.title, url = excluded.url,"
         " sidebar_position = excluded.sidebar_position"},
        {"bookmcp_doc_clear_chunks", "DELETE FROM chunks WHERE root = $1 AND document_path = $2"},
        {"bookmcp_doc_insert_chunk",
         "INSERT INTO chunks (root, document_path, position, id, heading_path, anchor, url,"
         " title, text) VALUES ($1, $2, $3::integer, $4, $5::jsonb, $6, $7, $8, $9)"},
        {"bookmcp_doc_failure",
         "INSERT INTO documents (root, path, content_hash, chunker_version, indexed_at_ms,"
         " last_error) VALUES ($1, $2, '', 0, 0, $3)"
         " ON CONFLICT (root, path) DO UPDATE SET last_error = excluded.last_error"},
        {"bookmcp_doc_delete", "DELETE FROM documents WHERE root = $1 AND path = $2"},
        {"bookmcp_doc_chunks",
         "SELECT id, document_path, heading_path::text, anchor, url, title, text, position"
         " FROM chunks ORDER BY document_path COLLATE \"C\", position, root COLLATE \"C\""},
        {"bookmcp_doc_bump",
         "UPDATE registry_state SET generation = generation + 1 WHERE singleton = 1"
         " RETURNING generation"},
        {"bookmcp_doc_generation", "SELECT generation FROM registry_state WHERE singleton = 1"},
        {"bookmcp_ping", "SELECT 1"},
        {"bookmcp_sleep", "SELECT pg_sleep($1::double precision)"},
    };
    return s;
  }();
  return all;
}

// The values of `statement` for the list query `q`, in the statement's order.
params list_values(const list_statement& statement, todo_sort sort, const list_parameters& q) {
  params p;
  for (auto value : statement.values) {
    switch (value) {
      case list_value::owner:
        p.add(q.owner);
        break;
      case list_value::status:
        p.add(q.status);
        break;
      case list_value::utc_offset:
        p.add(q.utc_offset_ms);
        break;
      case list_value::due_from:
        p.add(q.due_from_ms);
        break;
      case list_value::due_before:
        p.add(q.due_before_ms);
        break;
      case list_value::overdue_now:
        p.add(q.overdue_now_ms);
        break;
      case list_value::overdue_today:
        p.add(q.overdue_today);
        break;
      case list_value::tag:
        p.add(q.tag);
        break;
      case list_value::like_pattern:
        p.add(q.like_pattern);
        break;
      case list_value::after_key:
        if (sort == todo_sort::title)
          p.add(q.after->key_text);
        else
          p.add(q.after->key_number);
        break;
      case list_value::after_id:
        p.add(q.after->id);
        break;
      case list_value::after_date:
        p.add(q.after->due_date_bound);
        break;
      case list_value::after_date_id:
        p.add(q.after->due_date_bound_id);
        break;
      case list_value::limit:
        p.add(q.limit);
        break;
    }
  }
  return p;
}

params insert_values(const todo_columns& r) {
  params p;
  p.add(r.id).add(r.owner).add(r.title).add(r.notes).add(r.due_date).add(r.due_at_ms);
  p.add(r.due_offset_minutes).add(r.priority).add(r.tags_json).add(r.status);
  p.add(r.created_ms).add(r.updated_ms).add(r.completed_ms).add(r.client_request_id);
  return p;
}

class pg_todo_session final : public internal::todo_session {
 public:
  // `txn` is a transaction, or a nontransaction for statements that stand alone (run_autocommit).
  explicit pg_todo_session(pqxx::transaction_base& txn) : txn_(txn) {}

  std::optional<todo_columns> insert(const todo_columns& r) override {
    return first(insert_values(r).exec(txn_, "bookmcp_todo_insert"));
  }

  std::optional<todo_columns> find_by_request_id(const std::string& owner,
                                                 const std::string& request_id) override {
    return first(params().add(owner).add(request_id).exec(txn_, "bookmcp_todo_find_request"));
  }

  std::optional<todo_columns> find(const std::string& owner, const std::string& id,
                                   bool for_update) override {
    return first(params().add(owner).add(id).exec(
        txn_, for_update ? "bookmcp_todo_find_for_update" : "bookmcp_todo_find"));
  }

  void update(const todo_columns& r) override {
    params p;
    p.add(r.id).add(r.owner).add(r.title).add(r.notes).add(r.due_date).add(r.due_at_ms);
    p.add(r.due_offset_minutes).add(r.priority).add(r.tags_json).add(r.status);
    p.add(r.updated_ms).add(r.completed_ms);
    p.exec(txn_, "bookmcp_todo_update");
  }

  bool remove(const std::string& owner, const std::string& id) override {
    return params().add(owner).add(id).exec(txn_, "bookmcp_todo_delete").affected_rows() > 0;
  }

  std::vector<todo_columns> list(todo_sort sort, sort_direction direction,
                                 const list_parameters& q) override {
    const auto& statement = list_statement_for(shape_of(sort, direction, q));
    // Records the definition on this connection the first time (then a lookup); libpqxx sends
    // it to the server on first execution.
    txn_.conn().prepare(statement.name, statement.sql);
    return read_todos(list_values(statement, sort, q).exec(txn_, statement.name.c_str()));
  }

  std::vector<todo_columns> export_all(const std::string& owner) override {
    return read_todos(params().add(owner).exec(txn_, "bookmcp_todo_export"));
  }

  std::size_t remove_all(const std::string& owner) override {
    return params().add(owner).exec(txn_, "bookmcp_todo_delete_all").affected_rows();
  }

 private:
  static std::optional<todo_columns> first(const pqxx::result& result) {
    if (result.empty()) return std::nullopt;
    return read_todo(result[0]);
  }

  pqxx::transaction_base& txn_;
};

// The statements of add() and list(), run without blocking a thread (pg_async.hpp).
class pg_async_todo_statements final : public internal::async_todo_statements {
 public:
  explicit pg_async_todo_statements(postgres::async_pool& pool)
      : pool_(pool),
        insert_(named("bookmcp_todo_insert")),
        find_request_(named("bookmcp_todo_find_request")),
        find_(named("bookmcp_todo_find")) {}

  void insert(const todo_columns& row, std::stop_token stop, rows_done done) override {
    run(insert_, insert_values(row), stop, std::move(done));
  }
  void find_by_request_id(const std::string& owner, const std::string& request_id,
                          std::stop_token stop, rows_done done) override {
    run(find_request_, params().add(owner).add(request_id), stop, std::move(done));
  }
  void find(const std::string& owner, const std::string& id, std::stop_token stop,
            rows_done done) override {
    run(find_, params().add(owner).add(id), stop, std::move(done));
  }
  void list(todo_sort sort, sort_direction direction, const list_parameters& q,
            std::stop_token stop, rows_done done) override {
    const auto& statement = list_statement_for(shape_of(sort, direction, q));
    run({statement.name, statement.sql}, list_values(statement, sort, q), stop, std::move(done));
  }

 private:
  struct named_statement {
    const std::string& name;
    const std::string& sql;
  };
  // Looked up once, when the pool is made (statements() is made once and never changes).
  static named_statement named(std::string_view name) {
    for (const auto& [key, sql] : statements())
      if (key == name) return {key, sql};
    throw std::logic_error("no statement " + std::string(name));
  }

  // Every statement here is a read or an idempotent insert (see the engine's insert()): each
  // may be re-run on a fresh connection after its connection broke.
  void run(named_statement statement, params values, std::stop_token stop, rows_done done) {
    pool_.run({&statement.name, &statement.sql, std::move(values).take(), true}, std::move(stop),
              [done = std::move(done)](postgres::pg_result result, std::exception_ptr failure) {
                if (failure) return done({}, failure);
                std::vector<todo_columns> rows;
                try {
                  rows = read_todos(result.get());
                } catch (...) {
                  return done({}, std::current_exception());
                }
                done(std::move(rows), nullptr);
              });
  }

  postgres::async_pool& pool_;
  const named_statement insert_;
  const named_statement find_request_;
  const named_statement find_;
};

std::vector<std::string> parse_strings(const std::string& text) {
  auto value = json::parse(text, nullptr, false);
  std::vector<std::string> out;
  if (!value.is_array()) return out;
  for (const auto& item : value)
    if (item.is_string()) out.push_back(item.get<std::string>());
  return out;
}

document_record read_record(const pqxx::row& r) {
  document_record d;
  d.root = r[0].as<std::string>();
  d.path = r[1].as<std::string>();
  d.content_hash = r[2].as<std::string>();
  d.chunker_version = r[3].as<int>();
  d.chunk_ids = parse_strings(r[4].as<std::string>());
  d.indexed_at_unix_ms = r[5].as<std::int64_t>();
  d.last_error = r[6].as<std::string>();
  d.title = r[7].as<std::string>();
  d.url = r[8].as<std::string>();
  d.sidebar_position = r[9].as<double>();
  return d;
}

// --- the database ---------------------------------------------------------------------------

int latest_version() { return postgres::migrations().back().version; }

class postgres_database final : public database,
                                public internal::testing_hooks,
                                private internal::todo_transaction_runner,
                                private document_registry {
 public:
  explicit postgres_database(postgres_options options) : options_(std::move(options)) {
    postgres::pool_settings settings;
    settings.conninfo = postgres::make_conninfo(options_.database_url, options_.connect_timeout);
    settings.min_connections = options_.min_connections;
    settings.max_connections = options_.max_connections;
    settings.statement_timeout = options_.statement_timeout;
    // libpqxx 6 only records the definitions here; each is sent to the server on first use.
    settings.setup = [](pqxx::connection& conn) {
      for (const auto& [name, sql] : statements()) conn.prepare(name, sql);
    };
    const auto conninfo = settings.conninfo;
    pool_ = std::make_unique<postgres::pool>(std::move(settings));
    migrate_impl(options_.apply_migrations);
    if (options_.async_connections > 0) {
      async_pool_ = std::make_unique<postgres::async_pool>(
          postgres::async_settings{conninfo, options_.async_connections, options_.statement_timeout,
                                   options_.acquire_timeout},
          canceller_);
      async_statements_ = std::make_unique<pg_async_todo_statements>(*async_pool_);
    }
    todos_ = internal::make_todo_repository(*this, options_.clock, async_statements_.get());
  }

  std::string_view backend_name() const noexcept override { return "postgres"; }
  todo_repository& todos() noexcept override { return *todos_; }
  document_registry& documents() noexcept override { return *this; }
  migration_report migrate() override { return migrate_impl(true); }

  int schema_version() override {
    int version = 0;
    transact(retry_safety::read_only, {}, [&](pqxx::work& txn) { version = read_version(txn); });
    return version;
  }

  void ping(std::stop_token stop) override {
    transact(retry_safety::read_only, stop,
             [&](pqxx::work& txn) { txn.exec_prepared("bookmcp_ping"); });
  }

  std::optional<event_source> attach_event_loop() override {
    if (!async_pool_) return std::nullopt;
    return async_pool_->attach();
  }

  internal::todo_transaction_runner& transaction_runner_for_testing() override { return *this; }

  void slow_query_for_testing(milliseconds duration, std::stop_token stop) override {
    transact(retry_safety::read_only, stop, [&](pqxx::work& txn) {
      params().add(static_cast<double>(duration.count()) / 1000.0).exec(txn, "bookmcp_sleep");
    });
  }

  // todo_transaction_runner
  void run(retry_safety safety, std::stop_token stop,
           const std::function<void(internal::todo_session&)>& body) override {
    transact(safety, stop, [&](pqxx::work& txn) {
      pg_todo_session session(txn);
      body(session);
    });
  }

  // A statement that stands alone needs no BEGIN / COMMIT around it (it is its own
  // transaction and sees one snapshot), so it runs in autocommit: one round trip, not three.
  void run_autocommit(retry_safety safety, std::stop_token stop,
                      const std::function<void(internal::todo_session&)>& body) override {
    transact<pqxx::nontransaction>(safety, stop, [&](pqxx::nontransaction& txn) {
      pg_todo_session session(txn);
      body(session);
    });
  }

  // document_registry
  std::optional<document_record> find(const std::string& root, const std::string& path) override {
    std::optional<document_record> record;
    transact(retry_safety::read_only, {}, [&](pqxx::work& txn) {
      auto result = params().add(root).add(path).exec(txn, "bookmcp_doc_find");
      record.reset();
      if (!result.empty()) record = read_record(result[0]);
    });
    return record;
  }

  std::vector<document_record> list() override {
    std::vector<document_record> records;
    transact(retry_safety::read_only, {}, [&](pqxx::work& txn) {
      records.clear();
      for (const auto& r : txn.exec_prepared("bookmcp_doc_list")) records.push_back(read_record(r));
    });
    return records;
  }

  std::int64_t replace(const document_record& record,
                       const std::vector<stored_chunk>& chunks) override {
    for (const auto& chunk : chunks) {
      if (!chunk.document_path.empty() && chunk.document_path != record.path)
        throw invalid_request("a chunk's document_path differs from the record's path");
    }
    std::int64_t generation = 0;
    transact(retry_safety::write, {}, [&](pqxx::work& txn) {
      params upsert;
      upsert.add(record.root).add(record.path).add(record.content_hash);
      upsert.add(std::int64_t{record.chunker_version}).add(json(record.chunk_ids).dump());
      upsert.add(record.indexed_at_unix_ms).add(record.last_error).add(record.title);
      upsert.add(record.url).add(record.sidebar_position);
      upsert.exec(txn, "bookmcp_doc_upsert");
      params().add(record.root).add(record.path).exec(txn, "bookmcp_doc_clear_chunks");
      for (const auto& chunk : chunks) {
        params insert;
        insert.add(record.root).add(record.path).add(std::int64_t{chunk.position});
        insert.add(chunk.id).add(json(chunk.heading_path).dump()).add(chunk.anchor);
        insert.add(chunk.url).add(chunk.title).add(chunk.text);
        insert.exec(txn, "bookmcp_doc_insert_chunk");
      }
      generation = bump_generation(txn);
    });
    return generation;
  }

  void record_failure(const std::string& root, const std::string& path,
                      const std::string& error) override {
    transact(retry_safety::idempotent_write, {}, [&](pqxx::work& txn) {
      params().add(root).add(path).add(error).exec(txn, "bookmcp_doc_failure");
    });
  }

  bool remove(const std::string& root, const std::string& path) override {
    bool removed = false;
    transact(retry_safety::write, {}, [&](pqxx::work& txn) {
      removed = params().add(root).add(path).exec(txn, "bookmcp_doc_delete").affected_rows() > 0;
      if (removed) bump_generation(txn);
    });
    return removed;
  }

  std::vector<stored_chunk> all_chunks() override {
    std::vector<stored_chunk> chunks;
    transact(retry_safety::read_only, {}, [&](pqxx::work& txn) {
      chunks.clear();
      for (const auto& r : txn.exec_prepared("bookmcp_doc_chunks")) {
        stored_chunk c;
        c.id = r[0].as<std::string>();
        c.document_path = r[1].as<std::string>();
        c.heading_path = parse_strings(r[2].as<std::string>());
        c.anchor = r[3].as<std::string>();
        c.url = r[4].as<std::string>();
        c.title = r[5].as<std::string>();
        c.text = r[6].as<std::string>();
        c.position = r[7].as<int>();
        chunks.push_back(std::move(c));
      }
    });
    return chunks;
  }

  std::int64_t generation() override {
    std::int64_t value = 0;
    transact(retry_safety::read_only, {}, [&](pqxx::work& txn) {
      auto result = txn.exec_prepared("bookmcp_doc_generation");
      value = result.empty() ? 0 : result[0][0].as<std::int64_t>();
    });
    return value;
  }

 private:
  static std::int64_t bump_generation(pqxx::work& txn) {
    auto result = txn.exec_prepared("bookmcp_doc_bump");
    if (result.empty()) {
      throw store_internal_error("the document registry failed", "registry_state has no row");
    }
    return result[0][0].as<std::int64_t>();
  }

  static int read_version(pqxx::work& txn) {
    auto exists = txn.exec_params("SELECT to_regclass('schema_migrations') IS NOT NULL");
    if (!exists[0][0].as<bool>()) return 0;
    return txn.exec_params("SELECT COALESCE(MAX(version), 0) FROM schema_migrations")[0][0]
        .as<int>();
  }

  // Each migration runs in its own transaction holding a transaction-scoped advisory lock, so
  // concurrent instances apply each migration exactly once; the version is re-read under it.
  migration_report migrate_impl(bool apply) {
    migration_report report;
    transact(retry_safety::read_only, {},
             [&](pqxx::work& txn) { report.version_before = read_version(txn); });
    if (report.version_before > latest_version())
      throw schema_too_new(report.version_before, latest_version());
    report.version_after = report.version_before;
    if (!apply) return report;
    for (const auto& step : postgres::migrations()) {
      if (step.version <= report.version_after) continue;
      int current = 0;
      bool applied = false;
      transact(retry_safety::write, {}, [&](pqxx::work& txn) {
        txn.exec_params("SELECT pg_advisory_xact_lock($1)", migration_lock_key);
        txn.exec_params("SELECT set_config('statement_timeout', '0', true)");
        txn.exec(
            "CREATE TABLE IF NOT EXISTS schema_migrations ("
            " version integer NOT NULL PRIMARY KEY, name text NOT NULL,"
            " applied_at timestamptz NOT NULL DEFAULT now())");
        current = read_version(txn);
        applied = false;
        if (current > latest_version()) return;
        if (step.version <= current) return;  // another instance applied it
        txn.exec(step.sql);
        txn.exec_params("INSERT INTO schema_migrations (version, name) VALUES ($1, $2)",
                        step.version, std::string(step.name));
        current = step.version;
        applied = true;
      });
      if (current > latest_version()) throw schema_too_new(current, latest_version());
      report.version_after = current;
      if (applied) report.applied.push_back(step.version);
    }
    return report;
  }

  using outcome = postgres::failure_kind;

  // Runs `body` in a transaction with retries as described at the top of this file.
  // Transaction is pqxx::work, or pqxx::nontransaction for a body of one statement.
  template <typename Transaction = pqxx::work, typename Body>
  void transact(retry_safety safety, std::stop_token stop, Body&& body) {
    const auto deadline = steady_clock::now() + options_.acquire_timeout;
    for (int attempt = 0;; ++attempt) {
      auto lease = pool_->acquire(stop, deadline);
      std::exception_ptr failure;
      bool began = false;
      bool cancel_requested = false;
      {
        postgres::canceller::watch watch(canceller_, *lease);
        std::stop_callback on_stop(stop, [&watch] { watch.request(); });
        try {
          if (stop.stop_requested())
            throw cancelled("the operation was cancelled", "stop requested before BEGIN");
          Transaction txn(*lease);
          began = true;
          body(txn);
          txn.commit();
        } catch (...) {
          failure = std::current_exception();
        }
        cancel_requested = watch.requested();
      }  // no cancel request can be sent for this connection after this point
      // A cancel signal can arrive after the query it was meant for has ended; never hand
      // such a connection to the next caller.
      if (cancel_requested) lease.discard();
      if (!failure) return;

      std::string diagnostic;
      bool broken = false;
      const outcome kind = classify(failure, stop, diagnostic, broken);
      if (broken || !lease->is_open()) lease.discard();
      const bool nothing_sent = !began;
      if (kind == outcome::unavailable && attempt == 0 &&
          (safety != retry_safety::write || nothing_sent))
        continue;
      if (kind == outcome::transient && attempt < 3) continue;
      postgres::throw_failure(kind, diagnostic);
    }
  }

  // Rethrows store errors and invalid requests from the body unchanged; maps libpqxx errors.
  static outcome classify(const std::exception_ptr& failure, const std::stop_token& stop,
                          std::string& diagnostic, bool& broken) {
    try {
      std::rethrow_exception(failure);
    } catch (const store_error&) {
      throw;
    } catch (const invalid_request&) {
      throw;
    } catch (const pqxx::in_doubt_error& e) {
      broken = true;
      diagnostic = std::string("commit outcome unknown: ") + e.what();
      return outcome::unavailable;
    } catch (const pqxx::broken_connection& e) {
      broken = true;
      diagnostic = std::string("connection broken: ") + e.what();
      return stop.stop_requested() ? outcome::cancelled : outcome::unavailable;
    } catch (const pqxx::sql_error& e) {
      const std::string state = e.sqlstate();
      diagnostic = std::string(e.what()) + " [SQLSTATE " + state + "]";
      return postgres::classify_sqlstate(state, stop.stop_requested(), broken);
    } catch (const pqxx::failure& e) {
      diagnostic = std::string("libpqxx failure: ") + e.what();
      broken = true;
      return outcome::unavailable;
    } catch (const std::exception& e) {
      diagnostic = std::string("unexpected error: ") + e.what();
      return outcome::internal;
    }
  }

  postgres_options options_;
  postgres::canceller canceller_;
  std::unique_ptr<postgres::pool> pool_;
  std::unique_ptr<todo_repository> todos_;
  std::unique_ptr<pg_async_todo_statements> async_statements_;
  // Destroyed first: it fails what is still running, whose completions may use the above.
  std::unique_ptr<postgres::async_pool> async_pool_;
};

}  // namespace

int latest_schema_version_postgres() { return latest_version(); }

std::unique_ptr<database> open_postgres(postgres_options options) {
  return std::make_unique<postgres_database>(std::move(options));
}

}  // namespace bookmcp::store
