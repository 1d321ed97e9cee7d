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
todo from_columns(const todo_columns& columns);

// The bound values of the list statement, in parameter order $1..$13 (see each back-end's
// list SQL). Unset optionals are NULL and switch their filter off.
struct list_parameters {
  std::string owner;                                // $1
  std::optional<std::string> status;                // $2 "open" / "done"
  std::int64_t utc_offset_ms = 0;                   // $3
  std::optional<std::int64_t> due_from_ms;          // $4 inclusive, on the sort key
  std::optional<std::int64_t> due_before_ms;        // $5 exclusive, on the sort key
  std::optional<std::int64_t> overdue_now_ms;       // $6 instants before this are overdue
  std::optional<std::string> overdue_today;         // $7 dates before this are overdue
  std::optional<std::string> tag;                   // $8
  std::optional<std::string> like_pattern;          // $9 escaped with '\', wrapped in %
  std::optional<std::int64_t> cursor_group;         // $10
  std::optional<std::int64_t> cursor_key_number;    // $11 for numeric sort keys
  std::optional<std::string> cursor_key_text;       // $11 for the title sort key
  std::optional<std::string> cursor_id;             // $12
  std::int64_t limit = 0;                           // $13 (page size + 1)
};

// One listed row with its sort position: group (0, or 1 for "no due" when sorting by due),
// key (number, or text for the title sort) and the id.
struct listed_row {
  todo_columns columns;
  std::int64_t group = 0;
  std::int64_t key_number = 0;
  std::string key_text;
};

inline bool sort_key_is_text(todo_sort sort) { return sort == todo_sort::title; }

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
  virtual std::vector<listed_row> list(todo_sort sort, sort_direction direction,
                                       const list_parameters& parameters) = 0;
  virtual std::vector<todo_columns> export_all(const std::string& owner) = 0;
  virtual std::size_t remove_all(const std::string& owner) = 0;
};

// How a back-end may react when the connection breaks under an operation.
enum class retry_safety {
  read_only,        // may be re-run on a fresh connection
  idempotent_write, // re-running cannot change the outcome (add with a client_request_id,
                    // set-style updates): may be re-run
  write,            // re-run only when the failure happened before any statement was sent
};

class todo_transaction_runner {
 public:
  virtual ~todo_transaction_runner() = default;
  // Runs `body` in one transaction and commits it; throws the store errors of
  // todo_repository.hpp. `body` may run more than once (only as `safety` allows), each time
  // in a fresh transaction, so it must only assign its results.
  virtual void run(retry_safety safety, std::stop_token stop,
                   const std::function<void(todo_session&)>& body) = 0;
};

// The repository over a back-end. `runner` must outlive the result.
std::unique_ptr<todo_repository> make_todo_repository(todo_transaction_runner& runner,
                                                      clock_function clock);

// Exposed for tests.
std::string escape_like(const std::string& text);
std::string new_todo_id();

}  // namespace bookmcp::store::internal
