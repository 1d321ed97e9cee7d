#pragma once
// The chat backend's HTTP API (docs/chat-api.md): reader sessions, the streamed chat, resuming
// and stopping an answer, the one-shot /chat, conversations, feedback, the todo card's buttons,
// ops routes and the widget's files. CORS for the site's origin only; token buckets per reader
// and per IP for chat messages.
//
// Beast stays in chat_server.cpp.

#include <chrono>
#include <cstddef>
#include <memory>
#include <string>

namespace bookmcp::chat {

class chat_engine;
class chat_metrics;
class chat_store;
class llm_client;
class mcp_pool;
class reader_tokens;

struct chat_server_options {
  std::string host = "127.0.0.1";
  unsigned short port = 8080;  // 0: any free port
  std::string allowed_origin;  // the site's origin (scheme://host[:port]); empty: no CORS
  std::string widget_dir;      // where widget.js and widget.css are
  std::size_t io_threads = 2;
  std::size_t max_body_bytes = 64 * 1024;
  std::size_t max_message_chars = 2000;
  double chat_per_minute = 60;    // per reader and per IP; 0: unlimited
  std::size_t max_active_turns = 2000;
  // Streams open at once on one answer: the one that asked, and resumes after a drop or a
  // reload; past it a resume is refused (429) rather than held until the answer ends.
  std::size_t max_streams_per_answer = 8;
  std::chrono::seconds keep_alive{15};           // comment lines on open streams
  // A reader that takes nothing of what is sent for this long is disconnected (see
  // transport::set_send_stall_timeout); a stream's writes have no deadline of their own.
  std::chrono::milliseconds send_stall_timeout{30000};
  std::chrono::milliseconds orphan_grace{3000};  // a dropped stream's answer waits this long for a resume
  std::chrono::minutes resumable{10};            // finished answers stay resumable this long
  int retention_days = 0;                        // 0: keep conversations forever
};

class chat_server {
 public:
  chat_server(chat_server_options options, chat_engine& engine, chat_store& store,
              reader_tokens& tokens, mcp_pool& mcp, llm_client* llm, chat_metrics& metrics);
  ~chat_server();
  chat_server(const chat_server&) = delete;
  chat_server& operator=(const chat_server&) = delete;

  void start();  // binds; throws std::runtime_error when the address cannot be used
  unsigned short port() const;
  void run_until_signal();
  void shutdown();

  struct impl;

 private:
  std::unique_ptr<impl> impl_;
};

}  // namespace bookmcp::chat
