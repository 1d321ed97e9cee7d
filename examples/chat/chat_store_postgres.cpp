// The chat backend's Postgres store (DATABASE_URL): the same tables as the SQLite store, one
// connection behind a mutex (a turn writes once), reopened when the server went away.

#include <mutex>
#include <pqxx/pqxx>

#include "examples/chat/chat_store.hpp"

namespace bookmcp::chat {

using json = nlohmann::json;

namespace {

constexpr const char* migrations[] = {
    R"sql(
    CREATE TABLE chat_conversations (
      id TEXT PRIMARY KEY,
      reader_id TEXT NOT NULL,
      title TEXT NOT NULL,
      created_at BIGINT NOT NULL,
      updated_at BIGINT NOT NULL);
    CREATE INDEX chat_conversations_by_reader ON chat_conversations (reader_id, updated_at);
    CREATE TABLE chat_messages (
      id TEXT PRIMARY KEY,
      conversation_id TEXT NOT NULL REFERENCES chat_conversations (id) ON DELETE CASCADE,
      seq BIGINT NOT NULL,
      role TEXT NOT NULL CHECK (role IN ('user', 'assistant')),
      text TEXT NOT NULL,
      citations JSONB NOT NULL,
      tool_calls JSONB NOT NULL,
      finish_reason TEXT NOT NULL,
      mode TEXT NOT NULL,
      timings JSONB NOT NULL,
      created_at BIGINT NOT NULL);
    CREATE INDEX chat_messages_by_conversation ON chat_messages (conversation_id, seq);
    CREATE TABLE chat_feedback (
      message_id TEXT PRIMARY KEY REFERENCES chat_messages (id) ON DELETE CASCADE,
      rating TEXT NOT NULL CHECK (rating IN ('up', 'down')),
      reason TEXT NOT NULL,
      created_at BIGINT NOT NULL);
    )sql",
};

constexpr const char* message_columns =
    "m.id, m.role, m.text, m.citations::text, m.tool_calls::text, m.finish_reason, m.mode, "
    "m.timings::text, m.created_at";

stored_message read_message(const pqxx::row& row) {
  stored_message m;
  m.id = row[0].as<std::string>();
  m.role = row[1].as<std::string>();
  m.text = row[2].as<std::string>();
  m.citations = json::parse(row[3].as<std::string>());
  m.tool_calls = json::parse(row[4].as<std::string>());
  m.finish_reason = row[5].as<std::string>();
  m.mode = row[6].as<std::string>();
  m.timings = json::parse(row[7].as<std::string>());
  m.created_at = row[8].as<std::int64_t>();
  return m;
}

class postgres_chat_store final : public chat_store {
 public:
  explicit postgres_chat_store(std::string url) : url_(std::move(url)) {
    with([&](pqxx::work& tx) {
      tx.exec0("CREATE TABLE IF NOT EXISTS chat_schema_migrations (version INTEGER PRIMARY KEY)");
      // One migrating replica at a time.
      tx.exec("SELECT pg_advisory_xact_lock(7420133)");
      const auto applied = tx.exec1("SELECT COALESCE(MAX(version), 0) FROM chat_schema_migrations")[0].as<int>();
      const int known = static_cast<int>(std::size(migrations));
      if (applied > known) {
        throw chat_store_error("the chat database is at schema version " + std::to_string(applied) +
                               ", newer than this program (" + std::to_string(known) + ")");
      }
      for (int v = applied; v < known; ++v) {
        tx.exec0(migrations[v]);
        tx.exec_params0("INSERT INTO chat_schema_migrations (version) VALUES ($1)", v + 1);
      }
      return 0;
    });
  }

  std::optional<std::string> owner_of(const std::string& conversation_id) override {
    return with([&](pqxx::work& tx) -> std::optional<std::string> {
      const auto rows = tx.exec_params("SELECT reader_id FROM chat_conversations WHERE id = $1", conversation_id);
      if (rows.empty()) return std::nullopt;
      return rows[0][0].as<std::string>();
    });
  }

  void save_turn(const std::string& reader_id, const std::string& conversation_id, const std::string& title,
                 const stored_message& question, const stored_message& answer) override {
    with([&](pqxx::work& tx) {
      const auto owner = tx.exec_params(
          "INSERT INTO chat_conversations (id, reader_id, title, created_at, updated_at) VALUES ($1, $2, $3, $4, $4) "
          "ON CONFLICT (id) DO UPDATE SET updated_at = EXCLUDED.updated_at RETURNING reader_id",
          conversation_id, reader_id, title, answer.created_at);
      if (owner.empty() || owner[0][0].as<std::string>() != reader_id) {
        throw chat_store_error("conversation " + conversation_id + " is not the reader's");
      }
      auto seq = tx.exec_params1("SELECT COALESCE(MAX(seq), 0) FROM chat_messages WHERE conversation_id = $1",
                                 conversation_id)[0]
                     .as<std::int64_t>();
      for (const stored_message* m : {&question, &answer}) {
        tx.exec_params0(
            "INSERT INTO chat_messages (id, conversation_id, seq, role, text, citations, tool_calls, finish_reason, "
            "mode, timings, created_at) VALUES ($1, $2, $3, $4, $5, $6::jsonb, $7::jsonb, $8, $9, $10::jsonb, $11)",
            m->id, conversation_id, ++seq, m->role, m->text, m->citations.dump(), m->tool_calls.dump(),
            m->finish_reason, m->mode, m->timings.dump(), m->created_at);
      }
      return 0;
    });
  }

  std::vector<conversation_summary> conversations(const std::string& reader_id) override {
    return with([&](pqxx::work& tx) {
      std::vector<conversation_summary> out;
      for (const auto& row : tx.exec_params(
               "SELECT id, title, created_at, updated_at FROM chat_conversations WHERE reader_id = $1 "
               "ORDER BY updated_at DESC, id LIMIT 200",
               reader_id)) {
        out.push_back({row[0].as<std::string>(), row[1].as<std::string>(), row[2].as<std::int64_t>(),
                       row[3].as<std::int64_t>()});
      }
      return out;
    });
  }

  std::optional<json> conversation(const std::string& reader_id, const std::string& conversation_id) override {
    return with([&](pqxx::work& tx) -> std::optional<json> {
      const auto head = tx.exec_params(
          "SELECT id, title, created_at, updated_at FROM chat_conversations WHERE id = $1 AND reader_id = $2",
          conversation_id, reader_id);
      if (head.empty()) return std::nullopt;
      json out = conversation_summary{head[0][0].as<std::string>(), head[0][1].as<std::string>(),
                                      head[0][2].as<std::int64_t>(), head[0][3].as<std::int64_t>()}
                     .to_json();
      json messages = json::array();
      for (const auto& row : tx.exec_params(std::string("SELECT ") + message_columns +
                                                ", f.rating FROM chat_messages m LEFT JOIN chat_feedback f "
                                                "ON f.message_id = m.id WHERE m.conversation_id = $1 ORDER BY m.seq",
                                            conversation_id)) {
        json m = read_message(row).to_json();
        if (!row[9].is_null()) m["feedback"] = row[9].as<std::string>();
        messages.push_back(std::move(m));
      }
      out["messages"] = std::move(messages);
      return out;
    });
  }

  std::vector<stored_message> recent_messages(const std::string& reader_id, const std::string& conversation_id,
                                              std::size_t limit) override {
    return with([&](pqxx::work& tx) {
      std::vector<stored_message> out;
      for (const auto& row : tx.exec_params(std::string("SELECT ") + message_columns +
                                                " FROM chat_messages m JOIN chat_conversations c ON c.id = "
                                                "m.conversation_id WHERE m.conversation_id = $1 AND c.reader_id = $2 "
                                                "ORDER BY m.seq DESC LIMIT $3",
                                            conversation_id, reader_id, static_cast<std::int64_t>(limit))) {
        out.push_back(read_message(row));
      }
      std::reverse(out.begin(), out.end());
      return out;
    });
  }

  bool remove_conversation(const std::string& reader_id, const std::string& conversation_id) override {
    return with([&](pqxx::work& tx) {
      return tx.exec_params("DELETE FROM chat_conversations WHERE id = $1 AND reader_id = $2", conversation_id,
                            reader_id)
                 .affected_rows() > 0;
    });
  }

  bool save_feedback(const std::string& reader_id, const std::string& message_id, const std::string& rating,
                     const std::string& reason) override {
    return with([&](pqxx::work& tx) {
      const auto mine = tx.exec_params(
          "SELECT 1 FROM chat_messages m JOIN chat_conversations c ON c.id = m.conversation_id "
          "WHERE m.id = $1 AND c.reader_id = $2 AND m.role = 'assistant'",
          message_id, reader_id);
      if (mine.empty()) return false;
      tx.exec_params0(
          "INSERT INTO chat_feedback (message_id, rating, reason, created_at) VALUES ($1, $2, $3, $4) "
          "ON CONFLICT (message_id) DO UPDATE SET rating = EXCLUDED.rating, reason = EXCLUDED.reason, "
          "created_at = EXCLUDED.created_at",
          message_id, rating, reason, unix_millis_now());
      return true;
    });
  }

  std::size_t purge_before(std::int64_t cutoff) override {
    return with([&](pqxx::work& tx) {
      return static_cast<std::size_t>(
          tx.exec_params("DELETE FROM chat_conversations WHERE updated_at < $1", cutoff).affected_rows());
    });
  }

  std::string probe() override {
    try {
      with([](pqxx::work& tx) { return tx.exec1("SELECT 1")[0].as<int>(); });
      return "";
    } catch (const std::exception& e) {
      return e.what();
    }
  }

 private:
  // Runs `work` in a transaction on the connection, opening it first when needed; a broken
  // connection is dropped (the next call reconnects) and reported as chat_store_error.
  template <typename F>
  auto with(F work) -> decltype(work(std::declval<pqxx::work&>())) {
    std::lock_guard lock(mutex_);
    try {
      if (!connection_ || !connection_->is_open()) connection_ = std::make_unique<pqxx::connection>(url_);
      pqxx::work tx(*connection_);
      auto result = work(tx);
      tx.commit();
      return result;
    } catch (const pqxx::broken_connection& e) {
      connection_.reset();
      throw chat_store_error(std::string("the chat database is unreachable: ") + e.what());
    } catch (const pqxx::sql_error& e) {
      throw chat_store_error(std::string("the chat database refused a query: ") + e.what());
    }
  }

  std::string url_;
  std::mutex mutex_;
  std::unique_ptr<pqxx::connection> connection_;
};

}  // namespace

std::unique_ptr<chat_store> open_postgres_chat_store(const std::string& url) {
  return std::make_unique<postgres_chat_store>(url);
}

}  // namespace bookmcp::chat
