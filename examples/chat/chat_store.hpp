#pragma once
// What the chat backend keeps: conversations, their messages (text, citations, tool calls,
// timings, how the answer ended) and the readers' feedback. SQLite in the data directory by
// default; Postgres when DATABASE_URL is set. Both are reached through this interface and
// created by versioned migrations, as bookmcp's own stores are.
//
// Every read and write is scoped by reader: another reader's conversation is "not found".
// A turn is stored whole or not at all (save_turn is one transaction).

#include <chrono>
#include <cstdint>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

namespace bookmcp::chat {

class chat_store_error : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

struct stored_message {
  std::string id;
  std::string role;  // "user" or "assistant"
  std::string text;
  nlohmann::json citations = nlohmann::json::array();
  nlohmann::json tool_calls = nlohmann::json::array();
  std::string finish_reason;  // assistant: "stop", "cancelled", "length", "error"
  std::string mode;           // assistant: "llm" or "extractive"
  nlohmann::json timings = nlohmann::json::object();
  std::int64_t created_at = 0;  // Unix milliseconds
  nlohmann::json to_json() const;
};

struct conversation_summary {
  std::string id;
  std::string title;
  std::int64_t created_at = 0;
  std::int64_t updated_at = 0;
  nlohmann::json to_json() const;
};

class chat_store {
 public:
  virtual ~chat_store() = default;

  // The reader owning a conversation; nullopt when there is none with that id.
  virtual std::optional<std::string> owner_of(const std::string& conversation_id) = 0;
  // Creates the conversation when new (titled `title`), then adds both messages; one
  // transaction. Throws chat_store_error when the conversation is another reader's.
  virtual void save_turn(const std::string& reader_id, const std::string& conversation_id,
                         const std::string& title, const stored_message& question,
                         const stored_message& answer) = 0;
  virtual std::vector<conversation_summary> conversations(const std::string& reader_id) = 0;
  // {"id", "title", "created_at", "updated_at", "messages": [...]}; nullopt when not the reader's.
  virtual std::optional<nlohmann::json> conversation(const std::string& reader_id,
                                                     const std::string& conversation_id) = 0;
  // The last `limit` messages, oldest first (the model's memory of the conversation).
  virtual std::vector<stored_message> recent_messages(const std::string& reader_id,
                                                      const std::string& conversation_id,
                                                      std::size_t limit) = 0;
  virtual bool remove_conversation(const std::string& reader_id,
                                   const std::string& conversation_id) = 0;
  // False when the message is not an assistant message of the reader's.
  virtual bool save_feedback(const std::string& reader_id, const std::string& message_id,
                             const std::string& rating, const std::string& reason) = 0;
  // Deletes conversations last updated before `cutoff` (Unix ms); returns how many.
  virtual std::size_t purge_before(std::int64_t cutoff) = 0;
  // "" when the database answers, else why not.
  virtual std::string probe() = 0;
};

std::unique_ptr<chat_store> open_sqlite_chat_store(const std::string& file);
std::unique_ptr<chat_store> open_postgres_chat_store(const std::string& url);

std::int64_t unix_millis_now();

}  // namespace bookmcp::chat
