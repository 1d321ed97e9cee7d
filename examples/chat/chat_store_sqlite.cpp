// The chat backend's SQLite store (the embedded default: a file in the data directory).
// One connection behind a mutex: the chat backend writes once per turn.

#include <mutex>

#include "examples/chat/chat_store.hpp"
#include "store/sqlite/sqlite_connection.hpp"

namespace bookmcp::chat {

using json = nlohmann::json;

std::int64_t unix_millis_now() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

json stored_message::to_json() const {
  json out = {{"id", id},          {"role", role},       {"text", text},
              {"citations", citations}, {"tool_calls", tool_calls}, {"created_at", created_at}};
  if (role == "assistant") {
    out["finish_reason"] = finish_reason;
    out["mode"] = mode;
    out["timings"] = timings;
  }
  return out;
}

json conversation_summary::to_json() const {
  return {{"id", id}, {"title", title}, {"created_at", created_at}, {"updated_at", updated_at}};
}

namespace {

// Versioned migrations: each runs once, in order, in its own transaction.
constexpr const char* migrations[] = {
    R"sql(
    CREATE TABLE conversations (
      id TEXT PRIMARY KEY,
      reader_id TEXT NOT NULL,
      title TEXT NOT NULL,
      created_at INTEGER NOT NULL,
      updated_at INTEGER NOT NULL);
    CREATE INDEX conversations_by_reader ON conversations (reader_id, updated_at);
    CREATE TABLE messages (
      id TEXT PRIMARY KEY,
      conversation_id TEXT NOT NULL REFERENCES conversations (id) ON DELETE CASCADE,
      seq INTEGER NOT NULL,
      role TEXT NOT NULL CHECK (role IN ('user', 'assistant')),
      text TEXT NOT NULL,
      citations TEXT NOT NULL,
      tool_calls TEXT NOT NULL,
      finish_reason TEXT NOT NULL,
      mode TEXT NOT NULL,
      timings TEXT NOT NULL,
      created_at INTEGER NOT NULL);
    CREATE INDEX messages_by_conversation ON messages (conversation_id, seq);
    CREATE TABLE feedback (
      message_id TEXT PRIMARY KEY REFERENCES messages (id) ON DELETE CASCADE,
      rating TEXT NOT NULL CHECK (rating IN ('up', 'down')),
      reason TEXT NOT NULL,
      created_at INTEGER NOT NULL);
    )sql",
};

stored_message read_message(store::sqlite::statement& row) {
  stored_message m;
  m.id = row.text(0);
  m.role = row.text(1);
  m.text = row.text(2);
  m.citations = json::parse(row.text(3));
  m.tool_calls = json::parse(row.text(4));
  m.finish_reason = row.text(5);
  m.mode = row.text(6);
  m.timings = json::parse(row.text(7));
  m.created_at = row.integer(8);
  return m;
}

class sqlite_chat_store final : public chat_store {
 public:
  explicit sqlite_chat_store(const std::string& file)
      : db_(file, /*create=*/true, std::chrono::seconds(5)) {
    db_.execute("PRAGMA journal_mode = WAL");
    db_.execute("PRAGMA foreign_keys = ON");
    db_.execute("CREATE TABLE IF NOT EXISTS chat_schema_migrations (version INTEGER PRIMARY KEY)");
    std::int64_t applied = 0;
    {
      auto q = db_.prepare("SELECT COALESCE(MAX(version), 0) FROM chat_schema_migrations");
      if (q.step()) applied = q.integer(0);
    }
    const auto known = static_cast<std::int64_t>(std::size(migrations));
    if (applied > known) {
      throw chat_store_error("the chat database " + file + " is at schema version " +
                             std::to_string(applied) + ", newer than this program (" +
                             std::to_string(known) + ")");
    }
    for (std::int64_t v = applied; v < known; ++v) {
      db_.execute("BEGIN IMMEDIATE");
      try {
        check(sqlite3_exec(db_.handle(), migrations[v], nullptr, nullptr, nullptr), "migration");
        db_.prepare("INSERT INTO chat_schema_migrations (version) VALUES (?1)").bind(1, v + 1).run();
        db_.execute("COMMIT");
      } catch (...) {
        db_.execute("ROLLBACK");
        throw;
      }
    }
  }

  std::optional<std::string> owner_of(const std::string& conversation_id) override {
    std::lock_guard lock(mutex_);
    auto q = db_.prepare("SELECT reader_id FROM conversations WHERE id = ?1");
    q.bind(1, conversation_id);
    if (!q.step()) return std::nullopt;
    return q.text(0);
  }

  void save_turn(const std::string& reader_id, const std::string& conversation_id,
                 const std::string& title, const stored_message& question,
                 const stored_message& answer) override {
    std::lock_guard lock(mutex_);
    db_.execute("BEGIN IMMEDIATE");
    try {
      {
        auto q = db_.prepare("SELECT reader_id FROM conversations WHERE id = ?1");
        q.bind(1, conversation_id);
        if (q.step() && q.text(0) != reader_id) {
          throw chat_store_error("conversation " + conversation_id + " is not the reader's");
        }
      }
      db_.prepare(
             "INSERT INTO conversations (id, reader_id, title, created_at, updated_at) "
             "VALUES (?1, ?2, ?3, ?4, ?4) ON CONFLICT (id) DO UPDATE SET updated_at = ?4")
          .bind(1, conversation_id)
          .bind(2, reader_id)
          .bind(3, title)
          .bind(4, answer.created_at)
          .run();
      std::int64_t seq = 0;
      {
        auto q = db_.prepare("SELECT COALESCE(MAX(seq), 0) FROM messages WHERE conversation_id = ?1");
        q.bind(1, conversation_id);
        if (q.step()) seq = q.integer(0);
      }
      for (const stored_message* m : {&question, &answer}) {
        db_.prepare(
               "INSERT INTO messages (id, conversation_id, seq, role, text, citations, tool_calls, "
               "finish_reason, mode, timings, created_at) "
               "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)")
            .bind(1, m->id)
            .bind(2, conversation_id)
            .bind(3, ++seq)
            .bind(4, m->role)
            .bind(5, m->text)
            .bind(6, m->citations.dump())
            .bind(7, m->tool_calls.dump())
            .bind(8, m->finish_reason)
            .bind(9, m->mode)
            .bind(10, m->timings.dump())
            .bind(11, m->created_at)
            .run();
      }
      db_.execute("COMMIT");
    } catch (...) {
      db_.execute("ROLLBACK");
      throw;
    }
  }

  std::vector<conversation_summary> conversations(const std::string& reader_id) override {
    std::lock_guard lock(mutex_);
    auto q = db_.prepare(
        "SELECT id, title, created_at, updated_at FROM conversations WHERE reader_id = ?1 "
        "ORDER BY updated_at DESC, id LIMIT 200");
    q.bind(1, reader_id);
    std::vector<conversation_summary> out;
    while (q.step()) out.push_back({q.text(0), q.text(1), q.integer(2), q.integer(3)});
    return out;
  }

  std::optional<json> conversation(const std::string& reader_id,
                                   const std::string& conversation_id) override {
    std::lock_guard lock(mutex_);
    json out;
    {
      auto q = db_.prepare(
          "SELECT id, title, created_at, updated_at FROM conversations "
          "WHERE id = ?1 AND reader_id = ?2");
      q.bind(1, conversation_id).bind(2, reader_id);
      if (!q.step()) return std::nullopt;
      out = conversation_summary{q.text(0), q.text(1), q.integer(2), q.integer(3)}.to_json();
    }
    json messages = json::array();
    auto q = db_.prepare(
        "SELECT m.id, role, text, citations, tool_calls, finish_reason, mode, timings, "
        "m.created_at, f.rating FROM messages m LEFT JOIN feedback f ON f.message_id = m.id "
        "WHERE conversation_id = ?1 ORDER BY seq");
    q.bind(1, conversation_id);
    while (q.step()) {
      json m = read_message(q).to_json();
      if (!q.is_null(9)) m["feedback"] = q.text(9);
      messages.push_back(std::move(m));
    }
    out["messages"] = std::move(messages);
    return out;
  }

  std::vector<stored_message> recent_messages(const std::string& reader_id,
                                              const std::string& conversation_id,
                                              std::size_t limit) override {
    std::lock_guard lock(mutex_);
    auto q = db_.prepare(
        "SELECT m.id, role, text, citations, tool_calls, finish_reason, mode, timings, "
        "m.created_at FROM messages m JOIN conversations c ON c.id = m.conversation_id "
        "WHERE m.conversation_id = ?1 AND c.reader_id = ?2 ORDER BY seq DESC LIMIT ?3");
    q.bind(1, conversation_id).bind(2, reader_id).bind(3, static_cast<std::int64_t>(limit));
    std::vector<stored_message> out;
    while (q.step()) out.push_back(read_message(q));
    std::reverse(out.begin(), out.end());
    return out;
  }

  bool remove_conversation(const std::string& reader_id,
                           const std::string& conversation_id) override {
    std::lock_guard lock(mutex_);
    return db_.prepare("DELETE FROM conversations WHERE id = ?1 AND reader_id = ?2")
               .bind(1, conversation_id)
               .bind(2, reader_id)
               .run() > 0;
  }

  bool save_feedback(const std::string& reader_id, const std::string& message_id,
                     const std::string& rating, const std::string& reason) override {
    std::lock_guard lock(mutex_);
    {
      auto q = db_.prepare(
          "SELECT 1 FROM messages m JOIN conversations c ON c.id = m.conversation_id "
          "WHERE m.id = ?1 AND c.reader_id = ?2 AND m.role = 'assistant'");
      q.bind(1, message_id).bind(2, reader_id);
      if (!q.step()) return false;
    }
    db_.prepare(
           "INSERT INTO feedback (message_id, rating, reason, created_at) VALUES (?1, ?2, ?3, ?4) "
           "ON CONFLICT (message_id) DO UPDATE SET rating = ?2, reason = ?3, created_at = ?4")
        .bind(1, message_id)
        .bind(2, rating)
        .bind(3, reason)
        .bind(4, unix_millis_now())
        .run();
    return true;
  }

  std::size_t purge_before(std::int64_t cutoff) override {
    std::lock_guard lock(mutex_);
    return static_cast<std::size_t>(
        db_.prepare("DELETE FROM conversations WHERE updated_at < ?1").bind(1, cutoff).run());
  }

  std::string probe() override {
    try {
      std::lock_guard lock(mutex_);
      db_.check_file_in_place();
      auto q = db_.prepare("SELECT 1");
      q.step();
      return "";
    } catch (const std::exception& e) {
      return e.what();
    }
  }

 private:
  void check(int code, const char* context) {
    if (code != SQLITE_OK) db_.fail(code, context);
  }

  std::mutex mutex_;
  store::sqlite::connection db_;
};

}  // namespace

std::unique_ptr<chat_store> open_sqlite_chat_store(const std::string& file) {
  return std::make_unique<sqlite_chat_store>(file);
}

}  // namespace bookmcp::chat
