#pragma once
// Back-end independent half of the todo repository: validation, ids, timestamps, patches,
// cursors and the translation of a todo_query into bound parameters. Each back-end supplies a
// transaction runner and a todo_session (its SQL); everything a user can observe is decided
// here once, so both back-ends behave the same.
//
// Internal to store/; not for other folders.

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <stop_token>
#include <string>
#include <vector>

#include "store/database.hpp"
#include "store/todo.hpp"
#include "store/todo_repository.hpp"

namespace bookmcp::store::internal {

// A todo as stored: the columns both schemas share (names in the comments).
struct todo_columns {
  std::string id;
  std::string owner;
  std::string title;
  std::string notes;
  std::optional<std::string> due_date;             // due_date, "YYYY-MM-DD"
  std::optional<std::int64_t> due_at_ms;           // due_at, UTC instant
  std::optional<std::int64_t> due_offset_minutes;  // due_offset_minutes
  std::int64_t priority = 2;                       // 1 low, 2 medium, 3 high
  std::string tags_json = "[]";                    // sorted JSON array of strings
  std::string status = "open";                     // "open" or "done"
  std::int64_t created_ms = 0;
  std::int64_t updated_ms = 0;
  std::optional<std::int64_t> completed_ms;
  std::optional<std::string> client_request_id;
};

todo_columns to_columns(const todo& item);
// Throws store_internal_error when a stored value cannot be read back (a corrupt row).
todo from_columns(todo_columns columns);  // moves the strings out of `columns`

// Where a page starts: just after the last row of the previous page (a keyset cursor).
// Each field is the value of the row's own columns, so the list statements compare raw
// columns and can walk an index.
struct list_position {
  // Sort by due only: the row had no due (it sorts after every row with one).
  bool undated = false;
  // The row's sort key: created_at_ms (created), the priority code 1..3 (priority), the due's
  // start for the reader in ms (due, dated rows); 0 otherwise.
  std::int64_t key_number = 0;
  std::string key_text;  // title sort: the title lowered (ASCII only)
  std::string id;
  // Sort by due, dated rows only. Date-only dues after the position are exactly those with
  // (due_date, id) beyond (due_date_bound, due_date_bound_id) in the sort direction ("beyond"
  // is > ascending, < descending, compared left to right; ids compare bytewise). The bound is
  // a day number (days since 1970-01-01, years 0 to 10000); an absent bound id means "not on
  // the bound day" (a row comparison with NULL there). Instant dues after the position are
  // those with (due_at_ms, id) beyond (key_number, id).
  std::int64_t due_date_bound = 0;
  std::optional<std::string> due_date_bound_id;
};

// The values a list statement filters on. Unset optionals switch their filter off; statements
// are chosen by sort, direction, whether `status` is set and the kind of `after`, so that
// the common filters appear in the SQL only when they apply (an index can then serve them,
// also in a generic plan). See each back-end's list SQL.
struct list_parameters {
  std::string owner;
  std::optional<std::string> status;  // "open" / "done"
  std::int64_t utc_offset_ms = 0;
  std::optional<std::int64_t> due_from_ms;     // inclusive, on the due key
  std::optional<std::int64_t> due_before_ms;   // exclusive, on the due key
  std::optional<std::int64_t> overdue_now_ms;  // instants before this are overdue
  std::optional<std::string> overdue_today;    // dates before this are overdue
  std::optional<std::string> tag;
  std::optional<std::string> like_pattern;  // escaped with '\', wrapped in % (Postgres)
  std::optional<std::string> text;          // the text searched for, as given (SQLite)
  std::optional<list_position> after;       // absent on the first page
  std::int64_t limit = 0;                   // page size + 1
};

// Which keyset condition a list statement carries.
enum class list_cursor_kind {
  none,     // the first page
  dated,    // after a row (for the due sort: after a row with a due)
  undated,  // due sort only: after a row without a due (only undated rows remain)
};

inline list_cursor_kind cursor_kind(const list_parameters& parameters) {
  if (!parameters.after) return list_cursor_kind::none;
  return parameters.after->undated ? list_cursor_kind::undated : list_cursor_kind::dated;
}

// The statements of one transaction. Implementations bind every value as a parameter.
class todo_session {
 public:
  virtual ~todo_session() = default;
  // Inserts; nullopt when (owner, client_request_id) already exists (nothing inserted).
  virtual std::optional<todo_columns> insert(const todo_columns& row) = 0;
  virtual std::optional<todo_columns> find_by_request_id(const std::string& owner,
                                                         const std::string& request_id) = 0;
  // for_update: lock the row until the transaction ends (Postgres; SQLite writes are serial).
  virtual std::optional<todo_columns> find(const std::string& owner, const std::string& id,
                                           bool for_update) = 0;
  virtual void update(const todo_columns& row) = 0;  // by (owner, id)
  virtual bool remove(const std::string& owner, const std::string& id) = 0;
  // At most parameters.limit rows in the order of `sort` and `direction` (todo_query), ties
  // broken by id compared bytewise.
  virtual std::vector<todo_columns> list(todo_sort sort, sort_direction direction,
                                         const list_parameters& parameters) = 0;
  virtual std::vector<todo_columns> export_all(const std::string& owner) = 0;
  virtual std::size_t remove_all(const std::string& owner) = 0;
};

// How a back-end may react when the connection breaks under an operation.
enum class retry_safety {
  read_only,         // may be re-run on a fresh connection
  idempotent_write,  // re-running cannot change the outcome (adds, whose id is made before
                     // the first attempt; set-style updates): may be re-run
  write,             // re-run only when the failure happened before any statement was sent
};

class todo_transaction_runner {
 public:
  virtual ~todo_transaction_runner() = default;
  // Runs `body` in one transaction and commits it; throws the store errors of
  // todo_repository.hpp. `body` may run more than once (only as `safety` allows), each time
  // in a fresh transaction, so it must only assign its results.
  virtual void run(retry_safety safety, std::stop_token stop,
                   const std::function<void(todo_session&)>& body) = 0;
  // As run() for a `body` whose statements each stand alone (one statement, or an insert and
  // the read of the row it conflicted with): a back-end may run each as its own transaction,
  // without BEGIN / COMMIT (one round trip instead of three for a single statement).
  virtual void run_autocommit(retry_safety safety, std::stop_token stop,
                              const std::function<void(todo_session&)>& body) {
    run(safety, std::move(stop), body);
  }
};

// The statements add() and list() need, run without blocking by a back-end that can wait
// without a thread (Postgres). Each runs alone, in autocommit, with the retry rules of its
// retry_safety (an insert: idempotent_write; the reads: read_only), and calls `done` exactly
// once with its rows or the store error (as todo_repository's asynchronous calls do).
class async_todo_statements {
 public:
  using rows_done = std::function<void(std::vector<todo_columns> rows, std::exception_ptr failure)>;
  virtual ~async_todo_statements() = default;
  // As todo_session::insert: no row when (owner, client_request_id) already exists.
  virtual void insert(const todo_columns& row, std::stop_token stop, rows_done done) = 0;
  virtual void find_by_request_id(const std::string& owner, const std::string& request_id,
                                  std::stop_token stop, rows_done done) = 0;
  virtual void find(const std::string& owner, const std::string& id, std::stop_token stop,
                    rows_done done) = 0;
  virtual void list(todo_sort sort, sort_direction direction, const list_parameters& parameters,
                    std::stop_token stop, rows_done done) = 0;
};

// The repository over a back-end. `runner` (and `async`, when given: then the repository
// supports_async()) must outlive the result.
std::unique_ptr<todo_repository> make_todo_repository(todo_transaction_runner& runner,
                                                      clock_function clock,
                                                      async_todo_statements* async = nullptr);

// Exposed for tests.
std::string escape_like(const std::string& text);
std::string new_todo_id();
// Cursors are JSON in unpadded base64url; decoding gives nullopt for characters outside it.
std::string base64url_encode(const std::string& bytes);
std::optional<std::string> base64url_decode(const std::string& text);

}  // namespace bookmcp::store::internal
