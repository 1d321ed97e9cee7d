#pragma once
// What a turn is for each kind of target: the request a reader sends, and how the streamed
// answer's events are judged (when the first one came, where the answer ends, what counts as a
// failure). Pure functions and plain data; any thread. No Asio, no Beast.

#include <chrono>
#include <cstddef>
#include <string>
#include <string_view>

#include "bench/chat/chat_load_options.hpp"

namespace bookmcp::bench::chat {

using clock_type = std::chrono::steady_clock;

// Why a turn failed.
enum class failure_kind {
  none,
  status,       // an answer other than 200 (or 200 without an event stream)
  error_event,  // the stream carried an error (bookmcp-chat's `error`, the UI stream's "error")
  no_end,       // the stream ended without its end marker (done, [DONE])
  transport,    // connecting, writing or reading failed, or the turn timed out
};
const char* failure_name(failure_kind kind);

// One turn as the reader saw it. Time points are zero when the thing did not happen.
struct turn_record {
  clock_type::time_point start{};        // before connecting (when a connection had to be made)
  clock_type::time_point headers{};      // the answer's status line and headers read
  clock_type::time_point first_event{};  // the first SSE event (not a comment)
  clock_type::time_point first_text{};   // the first piece of answer text
  clock_type::time_point end{};          // the end marker, or when the failure was noticed
  failure_kind failure = failure_kind::none;
  std::string failure_text;  // kept for the first failure only
  std::size_t events = 0;
  std::size_t text_events = 0;  // events that carried answer text (the LLM's pieces)
  std::size_t text_bytes = 0;   // of answer text as sent (JSON-escaped), roughly
  std::size_t tool_calls = 0;
  std::size_t tool_errors = 0;  // tool results marked as errors (not a failure)
  bool ended = false;           // the end marker was seen
};

// Feeds one event of a target's stream into `record`, at time `now`. For the LLM double the
// marker ends one of the turn's two requests; the caller decides which one ends the turn.
void judge_event(chat_target target, std::string_view name, std::string_view data,
                 clock_type::time_point now, turn_record& record);

// The whole HTTP/1.1 request of a turn (head and JSON body).
//   bookmcp-chat: POST /api/chat with a reader's bearer token, a new conversation each turn.
//   ai-sdk: POST /api/chat with useChat's body: the chat id (one per reader, also what the peer
//   names the reader by) and the new user message only.
std::string chat_request(chat_target target, const http_endpoint& url, std::string_view question,
                         std::string_view reader_id, std::string_view access_token,
                         std::size_t turn);

// POST `path` with a JSON body (`body` may be empty: no body), optional bearer token and
// extra header lines (each ending in CRLF).
std::string json_post(const http_endpoint& url, std::string_view path, std::string_view body,
                      std::string_view bearer = {}, std::string_view extra_headers = {});

}  // namespace bookmcp::bench::chat
