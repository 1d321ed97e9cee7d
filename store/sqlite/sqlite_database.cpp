// The SQLite back-end (embedded profile).
//
// Concurrency model: WAL mode lets readers run while one writer writes. All writes go through
// a single writer connection handed out one operation at a time (SQLite allows one writer per
// file anyway; serialising in-process avoids busy-waiting on our own lock), and every write
// transaction starts with BEGIN IMMEDIATE so that other processes wait on busy_timeout instead
// of failing on lock upgrade. Reads use a small pool of read-only connections, each read in a
// deferred transaction so multi-statement reads see one snapshot.

#include <array>
#include <nlohmann/json.hpp>
#include <system_error>
#include <thread>

#include "store/database.hpp"
#include "store/errors.hpp"
#include "store/internal/slot_pool.hpp"
#include "store/internal/testing_hooks.hpp"
#include "store/internal/todo_engine.hpp"
#include "store/sqlite/sqlite_connection.hpp"
#include "store/sqlite/sqlite_schema.hpp"

namespace bookmcp::store {

namespace {

using namespace std::chrono;
using internal::list_parameters;
using internal::todo_columns;
using json = nlohmann::json;
using sqlite::connection;
using sqlite::operation_scope;
using sqlite::statement;

// --- todo SQL ---------------------------------------------------------------------------------

constexpr const char* todo_columns_sql =
    "id, owner, title, notes, due_date, due_at_ms, due_offset_minutes, priority, tags, status, "
    "created_at_ms, updated_at_ms, completed_at_ms, client_request_id";

todo_columns read_todo(const statement& s) {
  todo_columns c;
  c.id = s.text(0);
  c.owner = s.text(1);
  c.title = s.text(2);
  c.notes = s.text(3);
  c.due_date = s.optional_text(4);
  c.due_at_ms = s.optional_integer(5);
  c.due_offset_minutes = s.optional_integer(6);
  c.priority = s.integer(7);
  c.tags_json = s.text(8);
  c.status = s.text(9);
  c.created_ms = s.integer(10);
  c.updated_ms = s.integer(11);
  c.completed_ms = s.optional_integer(12);
  c.client_request_id = s.optional_text(13);
  return c;
}

// The list statements: one per (sort, direction, status filter or not, cursor kind),
// assembled once from constant fragments chosen by enums; every value is a bound parameter,
// always at the same number (unused ones stay unbound):
//   ?1 owner, ?2 status, ?3 UTC offset ms, ?4 due from, ?5 due before, ?6 overdue now,
//   ?7 overdue today, ?8 tag, ?9 text searched for (in lower case), ?10 cursor key, ?11 cursor id,
//   ?12 cursor due-date bound, ?13 its id, ?14 limit.
// Rows are ordered by raw columns and a cursor is a row-value comparison on them, so SQLite
// walks an index of migration 3 and stops after ?14 rows (see the Postgres back-end).
std::string make_list_sql(todo_sort sort, sort_direction direction, bool by_status,
                          internal::list_cursor_kind cursor) {
  using internal::list_cursor_kind;
  const std::string due_key = "COALESCE(unixepoch(due_date) * 1000 - ?3, due_at_ms)";
  const std::string has_due = "(due_date IS NOT NULL OR due_at_ms IS NOT NULL)";
  const bool ascending = direction == sort_direction::ascending;
  const std::string beyond = ascending ? " > " : " < ";
  const std::string order = ascending ? " ASC" : " DESC";
  std::string filters = "owner = ?1";
  if (by_status) filters += " AND status = ?2";
  filters +=
      " AND (?4 IS NULL OR (" + has_due + " AND " + due_key + " >= ?4))"
      " AND (?5 IS NULL OR (" + has_due + " AND " + due_key + " < ?5))"
      " AND (?6 IS NULL OR (status = 'open' AND ((due_at_ms IS NOT NULL AND due_at_ms < ?6)"
      " OR (due_date IS NOT NULL AND due_date < ?7))))"
      " AND (?8 IS NULL OR EXISTS (SELECT 1 FROM json_each(todos.tags)"
      " WHERE json_each.value = ?8))"
      " AND (?9 IS NULL OR bookmcp_contains(title, ?9) OR bookmcp_contains(notes, ?9))";
  if (sort != todo_sort::due) {
    // lower() folds ASCII only, matching the Postgres back-end.
    const std::string column = sort == todo_sort::created    ? "created_at_ms"
                               : sort == todo_sort::priority ? "priority"
                                                             : "lower(title)";
    std::string sql = std::string("SELECT ") + todo_columns_sql + " FROM todos WHERE " + filters;
    if (cursor != list_cursor_kind::none)
      sql += " AND (" + column + ", id)" + beyond + "(?10, ?11)";
    return sql + " ORDER BY " + column + order + ", id" + order + " LIMIT ?14";
  }
  // Dated rows first, by the due's start for the reader: among themselves date-only dues
  // order by due_date and instants by due_at_ms, so each kind is read in its own index order
  // up to ?14 rows; the page is the first ?14 of these and the undated rows (by id).
  const auto stream = [&](const char* group, const std::string& key, const std::string& condition,
                          const std::string& bound, const std::string& column) {
    std::string part = std::string("SELECT * FROM (SELECT ") + todo_columns_sql + ", " + group +
                       " AS g, " + key + " AS k FROM todos WHERE " + filters + " AND " +
                       condition;
    if (!bound.empty()) part += " AND " + bound;
    return part + " ORDER BY " + (column.empty() ? "" : column + order + ", ") + "id" + order +
           " LIMIT ?14)";
  };
  const std::string undated =
      stream("1", "0", "due_date IS NULL AND due_at_ms IS NULL",
             cursor == list_cursor_kind::undated ? "id" + beyond + "?11" : "", "");
  if (cursor == list_cursor_kind::undated) return undated;
  const bool bounded = cursor == list_cursor_kind::dated;
  return "SELECT * FROM (" +
         stream("0", "unixepoch(due_date) * 1000 - ?3", "due_date IS NOT NULL",
                bounded ? "(due_date, id)" + beyond + "(?12, ?13)" : "", "due_date") +
         " UNION ALL " +
         stream("0", "due_at_ms", "due_at_ms IS NOT NULL",
                bounded ? "(due_at_ms, id)" + beyond + "(?10, ?11)" : "", "due_at_ms") +
         " UNION ALL " + undated + ") ORDER BY g ASC, k" + order + ", id" + order + " LIMIT ?14";
}

class list_statements {
 public:
  list_statements() {
    using internal::list_cursor_kind;
    for (auto sort : {todo_sort::due, todo_sort::created, todo_sort::priority, todo_sort::title})
      for (auto direction : {sort_direction::ascending, sort_direction::descending})
        for (bool by_status : {false, true})
          for (auto cursor :
               {list_cursor_kind::none, list_cursor_kind::dated, list_cursor_kind::undated})
            sql_[index(sort, direction, by_status, cursor)] =
                make_list_sql(sort, direction, by_status, cursor);
  }
  // A constant (the connection caches statements by address).
  const char* get(todo_sort sort, sort_direction direction, bool by_status,
                  internal::list_cursor_kind cursor) const {
    return sql_[index(sort, direction, by_status, cursor)].c_str();
  }

 private:
  static std::size_t index(todo_sort sort, sort_direction direction, bool by_status,
                           internal::list_cursor_kind cursor) {
    return ((static_cast<std::size_t>(sort) * 2 + static_cast<std::size_t>(direction)) * 2 +
            (by_status ? 1 : 0)) * 3 + static_cast<std::size_t>(cursor);
  }
  std::array<std::string, 4 * 2 * 2 * 3> sql_;
};

// A day number as due_date text for comparisons: "YYYY-MM-DD", or a text beyond every stored
// date for days after year 9999 (years before 1 format as year 0, still below them).
std::string due_date_text(std::int64_t day) {
  const std::chrono::year_month_day date{sys_days{days{day}}};
  if (date.year() > year{9999}) return "9999-99-99";
  return todo_due::on_date(date).to_string();
}

class sqlite_todo_session final : public internal::todo_session {
 public:
  sqlite_todo_session(connection& conn, const list_statements& lists)
      : conn_(conn), lists_(lists) {}

  std::optional<todo_columns> insert(const todo_columns& r) override {
    auto s = conn_.prepare(
        "INSERT INTO todos (id, owner, title, notes, due_date, due_at_ms, due_offset_minutes,"
        " priority, tags, status, created_at_ms, updated_at_ms, completed_at_ms,"
        " client_request_id) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14)"
        " ON CONFLICT DO NOTHING"
        " RETURNING id, owner, title, notes, due_date, due_at_ms, due_offset_minutes, priority,"
        " tags, status, created_at_ms, updated_at_ms, completed_at_ms, client_request_id");
    bind_row(s, r);
    if (!s.step()) return std::nullopt;
    auto row = read_todo(s);
    while (s.step()) {
    }
    return row;
  }

  std::optional<todo_columns> find_by_request_id(const std::string& owner,
                                                 const std::string& request_id) override {
    auto s = conn_.prepare(
        "SELECT id, owner, title, notes, due_date, due_at_ms, due_offset_minutes, priority, tags,"
        " status, created_at_ms, updated_at_ms, completed_at_ms, client_request_id"
        " FROM todos WHERE owner = ?1 AND client_request_id = ?2");
    s.bind(1, owner).bind(2, request_id);
    return one(s);
  }

  std::optional<todo_columns> find(const std::string& owner, const std::string& id,
                                   bool /*for_update: writes are serialised*/) override {
    auto s = conn_.prepare(
        "SELECT id, owner, title, notes, due_date, due_at_ms, due_offset_minutes, priority, tags,"
        " status, created_at_ms, updated_at_ms, completed_at_ms, client_request_id"
        " FROM todos WHERE owner = ?1 AND id = ?2");
    s.bind(1, owner).bind(2, id);
    return one(s);
  }

  void update(const todo_columns& r) override {
    auto s = conn_.prepare(
        "UPDATE todos SET title = ?3, notes = ?4, due_date = ?5, due_at_ms = ?6,"
        " due_offset_minutes = ?7, priority = ?8, tags = ?9, status = ?10, updated_at_ms = ?12,"
        " completed_at_ms = ?13 WHERE id = ?1 AND owner = ?2");
    s.bind(1, r.id).bind(2, r.owner).bind(3, r.title).bind(4, r.notes).bind(5, r.due_date);
    s.bind(6, r.due_at_ms).bind(7, r.due_offset_minutes).bind(8, r.priority);
    s.bind(9, r.tags_json).bind(10, r.status).bind(12, r.updated_ms).bind(13, r.completed_ms);
    s.run();
  }

  bool remove(const std::string& owner, const std::string& id) override {
    auto s = conn_.prepare("DELETE FROM todos WHERE owner = ?1 AND id = ?2");
    s.bind(1, owner).bind(2, id);
    return s.run() > 0;
  }

  std::vector<todo_columns> list(todo_sort sort, sort_direction direction,
                                 const list_parameters& p) override {
    auto s = conn_.prepare(
        lists_.get(sort, direction, p.status.has_value(), internal::cursor_kind(p)));
    s.bind(1, p.owner).bind(2, p.status).bind(3, p.utc_offset_ms).bind(4, p.due_from_ms);
    s.bind(5, p.due_before_ms).bind(6, p.overdue_now_ms).bind(7, p.overdue_today);
    s.bind(8, p.tag).bind(14, p.limit);
    if (p.text) s.bind(9, sqlite::lower_case(*p.text));
    if (p.after) {
      if (sort == todo_sort::title) s.bind(10, p.after->key_text);
      else s.bind(10, p.after->key_number);
      s.bind(11, p.after->id);
      if (sort == todo_sort::due && !p.after->undated) {
        s.bind(12, due_date_text(p.after->due_date_bound)).bind(13, p.after->due_date_bound_id);
      }
    }
    std::vector<todo_columns> rows;
    while (s.step()) rows.push_back(read_todo(s));
    return rows;
  }

  std::vector<todo_columns> export_all(const std::string& owner) override {
    auto s = conn_.prepare(
        "SELECT id, owner, title, notes, due_date, due_at_ms, due_offset_minutes, priority, tags,"
        " status, created_at_ms, updated_at_ms, completed_at_ms, client_request_id"
        " FROM todos WHERE owner = ?1 ORDER BY created_at_ms, id");
    s.bind(1, owner);
    std::vector<todo_columns> rows;
    while (s.step()) rows.push_back(read_todo(s));
    return rows;
  }

  std::size_t remove_all(const std::string& owner) override {
    auto s = conn_.prepare("DELETE FROM todos WHERE owner = ?1");
    s.bind(1, owner);
    return static_cast<std::size_t>(s.run());
  }

 private:
  static void bind_row(statement& s, const todo_columns& r) {
    s.bind(1, r.id).bind(2, r.owner).bind(3, r.title).bind(4, r.notes).bind(5, r.due_date);
    s.bind(6, r.due_at_ms).bind(7, r.due_offset_minutes).bind(8, r.priority);
    s.bind(9, r.tags_json).bind(10, r.status).bind(11, r.created_ms).bind(12, r.updated_ms);
    s.bind(13, r.completed_ms).bind(14, r.client_request_id);
  }

  static std::optional<todo_columns> one(statement& s) {
    if (!s.step()) return std::nullopt;
    auto row = read_todo(s);
    while (s.step()) {
    }
    return row;
  }

  connection& conn_;
  const list_statements& lists_;
};

// --- the database ---------------------------------------------------------------------------

int latest_version() { return sqlite::migrations().back().version; }

void rollback_quietly(connection& conn) {
  conn.current_operation = nullptr;  // a rollback must not be interrupted
  if (!sqlite3_get_autocommit(conn.handle())) {
    sqlite3_exec(conn.handle(), "ROLLBACK", nullptr, nullptr, nullptr);
  }
}

// Runs `body` in a transaction on `conn` with cancellation and deadline.
template <typename Body>
void in_transaction(connection& conn, const char* begin, std::stop_token stop,
                    steady_clock::time_point deadline, Body&& body) {
  operation_scope scope(conn, stop, deadline);
  conn.execute(begin);
  try {
    body();
    conn.execute("COMMIT");
  } catch (...) {
    rollback_quietly(conn);
    throw;
  }
}

int read_schema_version(connection& conn) {
  auto exists = conn.prepare(
      "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'schema_migrations'");
  if (!exists.step()) return 0;
  while (exists.step()) {
  }
  auto s = conn.prepare("SELECT COALESCE(MAX(version), 0) FROM schema_migrations");
  s.step();
  const auto version = static_cast<int>(s.integer(0));
  while (s.step()) {
  }
  return version;
}

class sqlite_database final : public database,
                              public internal::testing_hooks,
                              private internal::todo_transaction_runner,
                              private document_registry {
 public:
  explicit sqlite_database(sqlite_options options) : options_(std::move(options)) {
    std::error_code error;
    std::filesystem::create_directories(options_.data_dir, error);
    if (error) {
      throw store_unavailable(
          "the database is unavailable; try again",
          "cannot create data directory " + options_.data_dir.string() + ": " + error.message());
    }
    const auto file = options_.data_dir / options_.file_name;
    auto writer = std::make_unique<connection>(file, true, options_.busy_timeout);
    // Switching a new file to WAL takes an exclusive lock, and SQLite answers "locked" at once,
    // without the busy handler, while another process is doing the same or migrating: retry
    // within the busy timeout.
    for (const auto until = steady_clock::now() + options_.busy_timeout;;) {
      try {
        writer->execute("PRAGMA journal_mode = WAL");
        break;
      } catch (const store_timeout&) {
        if (steady_clock::now() >= until) throw;
        std::this_thread::sleep_for(milliseconds(5));
      }
    }
    // NORMAL is crash-safe in WAL mode (a crash never corrupts or tears a transaction);
    // only the last transactions before a power loss may be lost.
    writer->execute("PRAGMA synchronous = NORMAL");
    migrate_on(*writer, options_.apply_migrations);
    writer_.add(std::move(writer));
    for (std::size_t i = 0; i < std::max<std::size_t>(1, options_.reader_connections); ++i) {
      auto reader = std::make_unique<connection>(file, false, options_.busy_timeout);
      reader->execute("PRAGMA query_only = ON");
      readers_.add(std::move(reader));
    }
    todos_ = internal::make_todo_repository(*this, options_.clock);
  }

  std::string_view backend_name() const noexcept override { return "sqlite"; }
  todo_repository& todos() noexcept override { return *todos_; }
  document_registry& documents() noexcept override { return *this; }

  migration_report migrate() override {
    auto writer = writer_.acquire({}, steady_clock::time_point::max());
    return migrate_on(*writer, true);
  }

  int schema_version() override {
    int version = 0;
    read({}, [&](connection& conn) { version = read_schema_version(conn); });
    return version;
  }

  void ping(std::stop_token stop) override {
    // Reads a page of the file (SELECT 1 would not notice a corrupted one).
    read(stop, [&](connection& conn) { read_schema_version(conn); });
  }

  internal::todo_transaction_runner& transaction_runner_for_testing() override { return *this; }

  void slow_query_for_testing(milliseconds duration, std::stop_token stop) override {
    read(stop, [&](connection& conn) {
      // Roughly 10 million rows a second; the progress handler stops it.
      auto s = conn.prepare(
          "WITH RECURSIVE counter(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM counter"
          " WHERE n < ?1) SELECT count(*) FROM counter");
      s.bind(1, static_cast<std::int64_t>(duration.count()) * 10000);
      s.run();
    });
  }

  // todo_transaction_runner
  void run(internal::retry_safety safety, std::stop_token stop,
           const std::function<void(internal::todo_session&)>& body) override {
    // A local file has no broken connections to retry, so `safety` only picks the pool.
    auto work = [&](connection& conn) {
      sqlite_todo_session session(conn, lists_);
      body(session);
    };
    if (safety == internal::retry_safety::read_only) read(stop, work);
    else write(stop, work);
  }

  // document_registry
  std::optional<document_record> find(const std::string& root, const std::string& path) override {
    std::optional<document_record> result;
    read({}, [&](connection& conn) {
      auto s = conn.prepare(
          "SELECT root, path, content_hash, chunker_version, chunk_ids, indexed_at_ms,"
          " last_error, title, url, sidebar_position FROM documents"
          " WHERE root = ?1 AND path = ?2");
      s.bind(1, root).bind(2, path);
      result.reset();
      if (s.step()) result = read_record(s);
      while (s.step()) {
      }
    });
    return result;
  }

  std::vector<document_record> list() override {
    std::vector<document_record> result;
    read({}, [&](connection& conn) {
      auto s = conn.prepare(
          "SELECT root, path, content_hash, chunker_version, chunk_ids, indexed_at_ms,"
          " last_error, title, url, sidebar_position FROM documents ORDER BY root, path");
      result.clear();
      while (s.step()) result.push_back(read_record(s));
    });
    return result;
  }

  std::int64_t replace(const document_record& record,
                       const std::vector<stored_chunk>& chunks) override {
    for (const auto& chunk : chunks) {
      if (!chunk.document_path.empty() && chunk.document_path != record.path)
        throw invalid_request("a chunk's document_path differs from the record's path");
    }
    std::int64_t generation = 0;
    write({}, [&](connection& conn) {
      auto upsert = conn.prepare(
          "INSERT INTO documents (root, path, content_hash, chunker_version, chunk_ids,"
          " indexed_at_ms, last_error, title, url, sidebar_position)"
          " VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)"
          " ON CONFLICT (root, path) DO UPDATE SET content_hash = excluded.content_hash,"
          " chunker_version = excluded.chunker_version, chunk_ids = excluded.chunk_ids,"
          " indexed_at_ms = excluded.indexed_at_ms, last_error = excluded.last_error,"
          " title = excluded.title, url = excluded.url,"
          " sidebar_position = excluded.sidebar_position");
      upsert.bind(1, record.root).bind(2, record.path).bind(3, record.content_hash);
      upsert.bind(4, std::int64_t{record.chunker_version});
      upsert.bind(5, json(record.chunk_ids).dump()).bind(6, record.indexed_at_unix_ms);
      upsert.bind(7, record.last_error).bind(8, record.title).bind(9, record.url);
      upsert.bind(10, record.sidebar_position);
      upsert.run();
      auto clear = conn.prepare("DELETE FROM chunks WHERE root = ?1 AND document_path = ?2");
      clear.bind(1, record.root).bind(2, record.path);
      clear.run();
      for (const auto& chunk : chunks) {
        auto insert = conn.prepare(
            "INSERT INTO chunks (root, document_path, position, id, heading_path, anchor, url,"
            " title, text) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)");
        insert.bind(1, record.root).bind(2, record.path);
        insert.bind(3, std::int64_t{chunk.position}).bind(4, chunk.id);
        insert.bind(5, json(chunk.heading_path).dump()).bind(6, chunk.anchor);
        insert.bind(7, chunk.url).bind(8, chunk.title).bind(9, chunk.text);
        insert.run();
      }
      generation = bump_generation(conn);
    });
    return generation;
  }

  void record_failure(const std::string& root, const std::string& path,
                      const std::string& error) override {
    write({}, [&](connection& conn) {
      auto s = conn.prepare(
          "INSERT INTO documents (root, path, content_hash, chunker_version, indexed_at_ms,"
          " last_error) VALUES (?1, ?2, '', 0, 0, ?3)"
          " ON CONFLICT (root, path) DO UPDATE SET last_error = excluded.last_error");
      s.bind(1, root).bind(2, path).bind(3, error);
      s.run();
    });
  }

  bool remove(const std::string& root, const std::string& path) override {
    bool removed = false;
    write({}, [&](connection& conn) {
      auto s = conn.prepare("DELETE FROM documents WHERE root = ?1 AND path = ?2");
      s.bind(1, root).bind(2, path);
      removed = s.run() > 0;  // chunks go with it (ON DELETE CASCADE)
      if (removed) bump_generation(conn);
    });
    return removed;
  }

  std::vector<stored_chunk> all_chunks() override {
    std::vector<stored_chunk> result;
    read({}, [&](connection& conn) {
      auto s = conn.prepare(
          "SELECT id, document_path, heading_path, anchor, url, title, text, position"
          " FROM chunks ORDER BY document_path, position, root");
      result.clear();
      while (s.step()) {
        stored_chunk chunk;
        chunk.id = s.text(0);
        chunk.document_path = s.text(1);
        chunk.heading_path = parse_strings(s.text(2));
        chunk.anchor = s.text(3);
        chunk.url = s.text(4);
        chunk.title = s.text(5);
        chunk.text = s.text(6);
        chunk.position = static_cast<int>(s.integer(7));
        result.push_back(std::move(chunk));
      }
    });
    return result;
  }

  std::int64_t generation() override {
    std::int64_t value = 0;
    read({}, [&](connection& conn) {
      auto s = conn.prepare("SELECT generation FROM registry_state WHERE singleton = 1");
      value = s.step() ? s.integer(0) : 0;
      while (s.step()) {
      }
    });
    return value;
  }

 private:
  steady_clock::time_point deadline() const {
    return steady_clock::now() + options_.statement_timeout;
  }

  template <typename Work>
  void read(std::stop_token stop, Work&& work) {
    const auto until = deadline();
    auto conn = readers_.acquire(stop, until);
    conn->check_file_in_place();
    in_transaction(*conn, "BEGIN", stop, until, [&] { work(*conn); });
  }

  template <typename Work>
  void write(std::stop_token stop, Work&& work) {
    const auto until = deadline();
    auto conn = writer_.acquire(stop, until);
    conn->check_file_in_place();
    in_transaction(*conn, "BEGIN IMMEDIATE", stop, until, [&] { work(*conn); });
  }

  static std::int64_t bump_generation(connection& conn) {
    auto s = conn.prepare(
        "UPDATE registry_state SET generation = generation + 1 WHERE singleton = 1"
        " RETURNING generation");
    if (!s.step()) {
      throw store_internal_error("the document registry failed",
                                 "registry_state has no row");
    }
    const auto value = s.integer(0);
    while (s.step()) {
    }
    return value;
  }

  static std::vector<std::string> parse_strings(const std::string& text) {
    auto value = json::parse(text, nullptr, false);
    std::vector<std::string> out;
    if (!value.is_array()) return out;
    for (const auto& item : value)
      if (item.is_string()) out.push_back(item.get<std::string>());
    return out;
  }

  static document_record read_record(const statement& s) {
    document_record r;
    r.root = s.text(0);
    r.path = s.text(1);
    r.content_hash = s.text(2);
    r.chunker_version = static_cast<int>(s.integer(3));
    r.chunk_ids = parse_strings(s.text(4));
    r.indexed_at_unix_ms = s.integer(5);
    r.last_error = s.text(6);
    r.title = s.text(7);
    r.url = s.text(8);
    r.sidebar_position = s.real(9);
    return r;
  }

  // Applies (or, with apply = false, only checks) migrations on the writer connection. Each
  // migration runs in its own BEGIN IMMEDIATE transaction, which also serialises concurrent
  // migrations from other processes; the version is re-read inside it.
  migration_report migrate_on(connection& conn, bool apply) {
    migration_report report;
    const auto check = [&](int version) {
      if (version > latest_version()) throw schema_too_new(version, latest_version());
    };
    const auto no_deadline = steady_clock::time_point::max();
    in_transaction(conn, "BEGIN", {}, no_deadline,
                   [&] { report.version_before = read_schema_version(conn); });
    check(report.version_before);
    report.version_after = report.version_before;
    if (!apply) return report;
    for (const auto& step : sqlite::migrations()) {
      if (step.version <= report.version_after) continue;
      in_transaction(conn, "BEGIN IMMEDIATE", {}, no_deadline, [&] {
        conn.execute(
            "CREATE TABLE IF NOT EXISTS schema_migrations ("
            " version INTEGER NOT NULL PRIMARY KEY, name TEXT NOT NULL,"
            " applied_at TEXT NOT NULL) STRICT");
        const int current = read_schema_version(conn);
        check(current);
        report.version_after = current;
        if (step.version <= current) return;  // another process got here first
        conn.execute(step.sql);
        auto record = conn.prepare(
            "INSERT INTO schema_migrations (version, name, applied_at)"
            " VALUES (?1, ?2, strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))");
        record.bind(1, std::int64_t{step.version}).bind(2, std::string(step.name));
        record.run();
        report.version_after = step.version;
        report.applied.push_back(step.version);
      });
    }
    return report;
  }

  sqlite_options options_;
  list_statements lists_;
  internal::slot_pool<connection> writer_;
  internal::slot_pool<connection> readers_;
  std::unique_ptr<todo_repository> todos_;
};

}  // namespace

int latest_schema_version_sqlite() { return latest_version(); }

std::unique_ptr<database> open_sqlite(sqlite_options options) {
  return std::make_unique<sqlite_database>(std::move(options));
}

timestamp system_now() {
  return time_point_cast<milliseconds>(system_clock::now());
}

}  // namespace bookmcp::store
