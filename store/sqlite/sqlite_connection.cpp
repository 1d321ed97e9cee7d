#include "store/sqlite/sqlite_connection.hpp"

#include <utf8proc.h>

#include <functional>
#include <string_view>

#include "store/errors.hpp"

namespace bookmcp::store::sqlite {

namespace {

int progress_handler(void* context) {
  auto* conn = static_cast<connection*>(context);
  auto* op = conn->current_operation;
  if (op == nullptr) return 0;
  if (op->stop.stop_requested()) return 1;
  if (std::chrono::steady_clock::now() >= op->deadline) {
    op->timed_out = true;
    return 1;
  }
  return 0;
}

}  // namespace

statement::statement(connection& owner, sqlite3_stmt* handle) : owner_(owner), handle_(handle) {}

statement::~statement() {
  sqlite3_reset(handle_);
  sqlite3_clear_bindings(handle_);
}

statement& statement::bind(int index, const std::string& value) {
  const int rc = sqlite3_bind_text(handle_, index, value.data(), static_cast<int>(value.size()),
                                   SQLITE_TRANSIENT);
  if (rc != SQLITE_OK) owner_.fail(rc, "bind");
  return *this;
}

statement& statement::bind(int index, std::int64_t value) {
  const int rc = sqlite3_bind_int64(handle_, index, value);
  if (rc != SQLITE_OK) owner_.fail(rc, "bind");
  return *this;
}

statement& statement::bind(int index, double value) {
  const int rc = sqlite3_bind_double(handle_, index, value);
  if (rc != SQLITE_OK) owner_.fail(rc, "bind");
  return *this;
}

statement& statement::bind(int index, std::nullptr_t) {
  const int rc = sqlite3_bind_null(handle_, index);
  if (rc != SQLITE_OK) owner_.fail(rc, "bind");
  return *this;
}

bool statement::step() {
  const int rc = sqlite3_step(handle_);
  if (rc == SQLITE_ROW) return true;
  if (rc == SQLITE_DONE) return false;
  owner_.fail(rc, "step");
}

int statement::run() {
  while (step()) {
  }
  return sqlite3_changes(owner_.handle());
}

bool statement::is_null(int column) const {
  return sqlite3_column_type(handle_, column) == SQLITE_NULL;
}

std::string statement::text(int column) const {
  const auto* data = reinterpret_cast<const char*>(sqlite3_column_text(handle_, column));
  const int size = sqlite3_column_bytes(handle_, column);
  return data ? std::string(data, static_cast<std::size_t>(size)) : std::string();
}

std::int64_t statement::integer(int column) const { return sqlite3_column_int64(handle_, column); }

double statement::real(int column) const { return sqlite3_column_double(handle_, column); }

std::optional<std::string> statement::optional_text(int column) const {
  if (is_null(column)) return std::nullopt;
  return text(column);
}

std::optional<std::int64_t> statement::optional_integer(int column) const {
  if (is_null(column)) return std::nullopt;
  return integer(column);
}

std::string lower_case(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  const auto* data = reinterpret_cast<const utf8proc_uint8_t*>(text.data());
  std::size_t i = 0;
  while (i < text.size()) {
    const auto byte = static_cast<unsigned char>(text[i]);
    if (byte < 0x80) {
      out += static_cast<char>(byte >= 'A' && byte <= 'Z' ? byte - 'A' + 'a' : byte);
      ++i;
      continue;
    }
    utf8proc_int32_t code_point = 0;
    const auto used =
        utf8proc_iterate(data + i, static_cast<utf8proc_ssize_t>(text.size() - i), &code_point);
    if (used <= 0) {  // not UTF-8: the byte as it is
      out += text[i++];
      continue;
    }
    utf8proc_uint8_t encoded[4];
    const auto length = utf8proc_encode_char(utf8proc_tolower(code_point), encoded);
    out.append(reinterpret_cast<const char*>(encoded), static_cast<std::size_t>(length));
    i += static_cast<std::size_t>(used);
  }
  return out;
}

namespace {

std::string_view text_argument(sqlite3_value* value) {
  const auto* bytes = sqlite3_value_text(value);
  return bytes ? std::string_view(reinterpret_cast<const char*>(bytes),
                                  static_cast<std::size_t>(sqlite3_value_bytes(value)))
               : std::string_view();
}

// bookmcp_contains(text, needle): 1 when lower_case(text) contains `needle` (already in lower
// case), else 0; NULL when either is NULL.
void contains_function(sqlite3_context* context, int, sqlite3_value** arguments) {
  if (sqlite3_value_type(arguments[0]) == SQLITE_NULL ||
      sqlite3_value_type(arguments[1]) == SQLITE_NULL)
    return sqlite3_result_null(context);
  const auto needle = text_argument(arguments[1]);
  try {
    sqlite3_result_int(context,
                       lower_case(text_argument(arguments[0])).find(needle) != std::string::npos);
  } catch (const std::bad_alloc&) {
    sqlite3_result_error_nomem(context);
  }
}

}  // namespace

connection::connection(const std::filesystem::path& file, bool create,
                       std::chrono::milliseconds busy_timeout) {
  // NOMUTEX: each connection is used by one thread at a time (the pool guarantees it).
  int flags = SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX;
  if (create) flags |= SQLITE_OPEN_CREATE;
  const int rc = sqlite3_open_v2(file.c_str(), &db_, flags, nullptr);
  if (rc != SQLITE_OK) {
    std::string detail = db_ ? sqlite3_errmsg(db_) : sqlite3_errstr(rc);
    sqlite3_close_v2(db_);
    db_ = nullptr;
    throw store_unavailable(unavailable_message,
                            "cannot open SQLite database " + file.string() + ": " + detail);
  }
  sqlite3_extended_result_codes(db_, 1);
  sqlite3_busy_timeout(db_, static_cast<int>(busy_timeout.count()));
  sqlite3_progress_handler(db_, 1000, progress_handler, this);
  sqlite3_create_function(db_, "bookmcp_contains", 2,
                          SQLITE_UTF8 | SQLITE_DETERMINISTIC | SQLITE_INNOCUOUS, nullptr,
                          contains_function, nullptr, nullptr);
  execute("PRAGMA foreign_keys = ON");
}

void connection::check_file_in_place() {
  int moved = 0;
  if (sqlite3_file_control(db_, "main", SQLITE_FCNTL_HAS_MOVED, &moved) == SQLITE_OK && moved) {
    const char* file = sqlite3_db_filename(db_, "main");
    throw store_unavailable(
        "the database file was deleted or replaced while the server ran, so nothing can be "
        "read or saved; restart the server to open its data directory again",
        std::string("SQLite database moved or deleted: ") + (file ? file : "?"));
  }
}

connection::~connection() {
  for (auto& [sql, stmt] : cache_) sqlite3_finalize(stmt);
  sqlite3_close_v2(db_);
}

statement connection::prepare(const char* sql) {
  auto it = cache_.find(sql);
  if (it == cache_.end()) {
    sqlite3_stmt* stmt = nullptr;
    const int rc = sqlite3_prepare_v3(db_, sql, -1, SQLITE_PREPARE_PERSISTENT, &stmt, nullptr);
    if (rc != SQLITE_OK) fail(rc, "prepare");
    it = cache_.emplace(sql, stmt).first;
  }
  return statement(*this, it->second);
}

void connection::execute(const char* sql) {
  char* message = nullptr;
  const int rc = sqlite3_exec(db_, sql, nullptr, nullptr, &message);
  sqlite3_free(message);
  if (rc != SQLITE_OK) fail(rc, "execute");
}

void connection::fail(int code, const char* context) {
  std::string detail = std::string("SQLite ") + context + ": " + sqlite3_errstr(code) + ": " +
                       sqlite3_errmsg(db_);
  switch (code & 0xFF) {
    case SQLITE_INTERRUPT:
      if (current_operation && current_operation->timed_out)
        throw store_timeout("the database took too long; try again", detail);
      throw cancelled("the operation was cancelled", detail);
    case SQLITE_BUSY:
    case SQLITE_LOCKED:
      throw store_timeout(busy_message, detail);
    case SQLITE_CANTOPEN:
    case SQLITE_IOERR:
    case SQLITE_FULL:
    case SQLITE_READONLY:
    case SQLITE_NOMEM:
    case SQLITE_PROTOCOL:
      throw store_unavailable(unavailable_message, detail);
    default:
      throw store_internal_error("the database failed; try again later", detail);
  }
}

operation_scope::operation_scope(connection& conn, std::stop_token stop,
                                 std::chrono::steady_clock::time_point deadline)
    : conn_(conn),
      state_{stop, deadline, false},
      // sqlite3_interrupt ends a step that is stuck outside the VM loop the progress
      // handler sees (e.g. a long sort); the handler covers statements started later.
      on_stop_(stop, std::function<void()>([db = conn.handle()] { sqlite3_interrupt(db); })) {
  conn_.current_operation = &state_;
  if (stop.stop_requested()) {
    conn_.current_operation = nullptr;
    throw cancelled("the operation was cancelled", "stop requested before the operation began");
  }
}

operation_scope::~operation_scope() { conn_.current_operation = nullptr; }

}  // namespace bookmcp::store::sqlite
