#pragma once
// One chat turn, from the reader's message to the stored answer, as events on an answer_stream.
//
// Two modes. With an LLM: the model gets bookmcp's tools (the ones a reader may use) and runs
// for at most `max_steps` steps; each tool call goes to bookmcp as the reader. Without one (the
// default): a todo request is understood by a small grammar and carried out with the todo
// tools, and a book question is answered with the best passages of the top search hits.
//
// Citations belong to the backend: every section a search returned gets a number, the answer's
// `[n]` that name no section are dropped, and the `citation` events list the ones used.

#include <chrono>
#include <cstddef>
#include <map>
#include <mutex>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "examples/chat/answer_stream.hpp"

namespace bookmcp::chat {

class chat_store;
class chat_metrics;
class llm_client;
class mcp_pool;

struct engine_options {
  std::size_t max_steps = 5;
  std::chrono::milliseconds tool_timeout{20000};  // per MCP call
  std::size_t tool_result_bytes = 6000;           // what the model sees of one result, at most
  std::size_t history_messages = 10;              // earlier messages the model sees
  std::size_t sections_read = 3;                  // extractive mode: sections read in full
  // Tools a reader's chat may call (indexing tools and bulk deletions are not for readers).
  std::vector<std::string> reader_tools = {"search_book", "todo_add",      "todo_list",
                                           "todo_get",    "todo_update",   "todo_complete",
                                           "todo_reopen", "todo_delete"};
};

struct turn_request {
  std::string reader_id;         // who bookmcp sees
  bool todos_allowed = true;     // false for the anonymous /chat (book questions only)
  std::string conversation_id;
  std::string title;             // of a new conversation
  std::string user_message_id;
  std::string text;
  nlohmann::json context = nlohmann::json::object();  // url, title, anchor, selection
  std::string time_zone = "UTC";
};

struct turn_outcome {
  std::string text;
  nlohmann::json citations = nlohmann::json::array();
  std::string finish_reason;  // stop, cancelled, length, error
  std::string mode;
  std::string error_code;     // when finish_reason is "error"
};

// Numbers the sections searches return and keeps the answer's [n] honest.
class citation_book {
 public:
  // The number of the section with this uri, giving it the next one if new.
  int number(const nlohmann::json& hit);
  bool known(int n) const { return n >= 1 && static_cast<std::size_t>(n) <= hits_.size(); }
  // `text` without the [n] that name no section, and the sections used, in order of first use.
  std::string keep_known(const std::string& text) const;
  nlohmann::json cited(const std::string& text) const;  // citation event data, in order
  // The citation event data of section n.
  nlohmann::json citation(int n) const;

 private:
  std::vector<nlohmann::json> hits_;
  std::map<std::string, int> by_uri_;
};

// Streamed text with [n] markers checked as they pass: a marker naming no section is dropped;
// text that may start a marker is held back until it is known.
class citation_filter {
 public:
  explicit citation_filter(const citation_book& book) : book_(book) {}
  std::string feed(std::string_view piece);
  std::string flush();

 private:
  const citation_book& book_;
  std::string held_;
};

class chat_engine {
 public:
  chat_engine(engine_options options, mcp_pool& mcp, chat_store& store, llm_client* llm,
              chat_metrics& metrics);

  // Runs the turn on the calling thread (it blocks on bookmcp and the LLM), writing events to
  // `out` and finishing it; stores the turn unless it failed. Stops early when out's stop
  // token fires.
  turn_outcome run(const turn_request& request, answer_stream& out);

  bool has_llm() const { return llm_ != nullptr; }

 private:
  struct turn;
  void run_extractive(turn& t);
  void run_llm(turn& t);
  bool run_todo_request(turn& t);
  void answer_from_book(turn& t);

  engine_options options_;
  mcp_pool& mcp_;
  chat_store& store_;
  llm_client* llm_;
  chat_metrics& metrics_;
  std::mutex pending_mutex_;
  std::map<std::string, nlohmann::json> pending_deletes_;  // conversation → todo to delete
};

}  // namespace bookmcp::chat
