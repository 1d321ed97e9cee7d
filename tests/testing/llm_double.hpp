// A test double of an OpenAI-compatible Chat Completions endpoint (POST /v1/chat/completions,
// streamed and not; GET /v1/models), written from the published OpenAI API reference
// (chat.completion and chat.completion.chunk objects) and from what Gemini's OpenAI-compatible
// endpoint, Ollama and vLLM are documented and reported to send (../shared/design/chat.md,
// section 3). No hosted LLM can run on these machines, so this stands in for one, for the chat
// backend's tests and benchmarks: it is not a model, and its name says so everywhere.
//
// What it checks, as the real endpoints do: the bearer key (when one is configured), the JSON
// body (`model`, a non-empty `messages` array of well-formed messages, `tools`, `stream`,
// `stream_options` only with `stream: true`, unknown top-level fields refused), that every
// assistant message with tool calls is followed by a tool message for each call and that every
// tool message answers such a call, and in the gemini style that the thought signature of each
// tool call it made is sent back unchanged (else 400, as Gemini 3 answers).
//
// What it computes: an answer from the messages it is sent, by a few fixed rules
// (`llm_double::answer_for`): a `search_book` or `todo_add` call for a reader's message, prose
// citing the search results it is given back, an echo otherwise. Streamed in pieces of a few
// characters, paced by `token_delay`, in the provider style chosen (`llm_style`).
//
// What it can be told to do wrong: `script()` queues exact replies (an error status, raw events,
// a stream cut before its end) for the next requests; `fail_every` rate-limits every Nth one.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace bookmcp::testing {

// How the answer's chunks look: the provider imitated. Text is streamed alike in every style;
// they differ in tool calls and usage.
enum class llm_style {
  // Tool call fragments carry `index` (0, 1, ... per call); the first fragment of a call has its
  // id, type and name with empty arguments, later ones pieces of the arguments; finish_reason
  // "tool_calls". Ids "call_<24 letters and digits>".
  openai,
  // Gemini's OpenAI-compatible endpoint: no `index` on tool call fragments, each call whole in one
  // fragment with `extra_content: {"google": {"thought_signature": "<base64>"}}` (computed from
  // the call: `thought_signature`), finish_reason "stop" although calls were made. Requests must
  // send each assistant tool call's signature back unchanged (or Google's documented dummy
  // "skip_thought_signature_validator"), else 400. Ids "function-call-<digits>".
  gemini,
  // Ollama's /v1: each call whole in one fragment, `index` 0 for every call of a parallel batch
  // (told apart by their ids only), finish_reason "stop". Ids "call_<8 letters and digits>".
  ollama,
  // vLLM: like openai, but the usage chunk has `choices: null` rather than `[]`. Ids
  // "chatcmpl-tool-<32 hex digits>".
  vllm,
};

// "openai", "gemini", "ollama", "vllm"; nothing for any other text.
std::optional<llm_style> parse_llm_style(std::string_view name);
std::string_view llm_style_name(llm_style style);

// What the double answers when no scripted reply is queued.
enum class llm_policy {
  // The rules of `llm_double::answer_for`.
  assistant,
  // "You said: <the last message's text>", whatever the tools and messages.
  echo,
};

// How a scripted streamed reply's body ends (`llm_reply::end`).
enum class llm_stream_end {
  // Chunked transfer encoding, properly ended; the connection is kept alive.
  complete,
  // Chunked, and the connection is closed after the last piece without ending the body: the
  // client's HTTP layer sees a broken response (rag::http_client throws http_error(protocol)).
  cut,
  // No framing (`Connection: close`, no Content-Length): the body ends cleanly when the
  // connection closes after the last piece, so only the missing "[DONE]" tells it was cut.
  close,
};

// One exact reply for `llm_double::script`. Build it with the functions below or by hand.
struct llm_reply {
  int status = 200;
  // Added to the answer's headers (e.g. {"Retry-After", "1"}).
  std::vector<std::pair<std::string, std::string>> headers;
  // A whole answer (not `streamed`): its Content-Type and body, written with Content-Length.
  std::string content_type = "application/json";
  std::string body;
  // A streamed answer: Content-Type text/event-stream, then `pieces`, each written as
  // "data: <piece>\n\n" (an SSE event), or as given when `raw` (to split events, send comments
  // or CRLF line ends), `piece_delay` apart, the body ending as `end` says.
  bool streamed = false;
  std::vector<std::string> pieces;
  bool raw = false;
  std::chrono::milliseconds piece_delay{0};
  llm_stream_end end = llm_stream_end::complete;
};

// A whole answer with this status and body (application/json).
llm_reply llm_whole_reply(int status, std::string body,
                          std::vector<std::pair<std::string, std::string>> headers = {});
// A whole answer with OpenAI's error object {"error": {"message", "type", "param", "code"}}
// (`code` null when empty).
llm_reply llm_error_reply(int status, std::string_view message,
                          std::string_view type = "invalid_request_error",
                          std::string_view code = {});
// 429 with `Retry-After: <seconds>` and OpenAI's rate-limit error (code "rate_limit_exceeded").
llm_reply llm_rate_limited_reply(std::chrono::seconds retry_after = std::chrono::seconds(1));
// 200 text/event-stream with one "data: <payload>\n\n" event per payload, verbatim (add "[DONE]"
// yourself when it should come).
llm_reply llm_event_stream(std::vector<std::string> payloads,
                           std::chrono::milliseconds piece_delay = std::chrono::milliseconds(0),
                           llm_stream_end end = llm_stream_end::complete);
// 200 text/event-stream with the bytes of `pieces` written as given.
llm_reply llm_raw_stream(std::vector<std::string> pieces,
                         std::chrono::milliseconds piece_delay = std::chrono::milliseconds(0),
                         llm_stream_end end = llm_stream_end::complete);

struct llm_double_options {
  llm_policy policy = llm_policy::assistant;
  llm_style style = llm_style::openai;
  // Non-empty: every request must send "Authorization: Bearer <api_key>", else 401 with OpenAI's
  // error JSON, code "invalid_api_key".
  std::string api_key{};
  // The only model served (listed by GET /v1/models); a request naming another gets 404, code
  // "model_not_found".
  std::string model = "bookmcp-llm-double";
  // Waited between the events of a streamed answer (its chunks, the usage chunk, "[DONE]").
  std::chrono::milliseconds token_delay{0};
  // Characters (UTF-8 code points; a piece never splits one) of text, or of a tool call's
  // arguments in the openai and vllm styles, per chunk. At least 1.
  std::size_t piece_chars = 4;
  // Positive: every Nth POST to chat/completions (counted by `requests()`, scripted ones
  // included) that is not answered by a scripted reply and passes the key check gets 429 with
  // `Retry-After: 1` and OpenAI's error JSON, code "rate_limit_exceeded".
  std::size_t fail_every = 0;
  // The port to listen on (on 127.0.0.1); 0, the default, picks a free one (tests should).
  std::uint16_t port = 0;
};

// One tool call of a computed answer.
struct llm_answer_call {
  std::string id;
  std::string name;
  std::string arguments;          // JSON text of an object
  std::string thought_signature;  // the gemini style's; "" in the others
};

// A computed answer: prose, or tool calls (never both).
struct llm_answer {
  std::string text;
  std::vector<llm_answer_call> tool_calls;
  // Which rule made it: "search", "todo", "tool_results", "echo".
  std::string rule;
};

// Listens on 127.0.0.1 and serves HTTP/1.1 (keep-alive, request bodies up to 8 MiB) on two
// threads of its own, each connection on its own strand, so clients are served concurrently.
//
// Routes: POST /v1/chat/completions and POST /chat/completions; GET /v1/models and GET /models
// (the bearer key is checked there too). Other methods on these paths: 405; other paths: 404.
//
// Order for a POST to chat/completions: it is counted and recorded; a queued scripted reply, if
// any, answers it as is (nothing else is checked); else the key is checked (401); else
// `fail_every` may answer 429; else the body, then the gemini style's thought signatures are
// checked (400, or 404 for another model); else it is answered by the policy: streamed
// (text/event-stream, chunked) when the body says `stream: true`, else one chat.completion object
// (finish_reason "tool_calls" whenever calls were made, in every style; usage always).
//
// A streamed answer: one chat.completion.chunk per piece, the first delta with role "assistant",
// finish_reason on the last piece's chunk ("stop", or "tool_calls" in the openai and vllm styles
// when calls were made); then, when the request asked `stream_options.include_usage`, a usage
// chunk (choices [] or, vllm, null; prompt_tokens = characters of the messages' text / 4,
// completion_tokens = the pieces); then "data: [DONE]". Events are `token_delay` apart.
//
// Every member may be called from any thread. The constructor throws std::invalid_argument for
// options out of range (piece_chars 0, an empty model) and boost::system::system_error (a
// std::runtime_error) when it cannot listen.
class llm_double {
 public:
  explicit llm_double(llm_double_options options = {});
  // Stops listening, closes every connection (streams under way included, without ending them)
  // and joins its threads; returns promptly whatever the clients do.
  ~llm_double();
  llm_double(const llm_double&) = delete;
  llm_double& operator=(const llm_double&) = delete;

  std::uint16_t port() const;
  // "http://127.0.0.1:<port>/v1" (what a client's base URL is set to).
  std::string base_url() const;

  // Queues `reply` for the next POST to chat/completions not answered by an earlier scripted
  // reply: scripted replies are used first, in the order queued, then the policy answers.
  void script(llm_reply reply);
  // Scripted replies not used yet.
  std::size_t scripted_left() const;

  // POSTs to chat/completions received (read whole), scripted, refused and faulted ones included.
  std::size_t requests() const;
  // The body of the latest of them; "" before any.
  std::string last_request() const;
  // Their bodies, oldest first (the latest 256).
  std::vector<std::string> request_bodies() const;
  // TCP connections accepted.
  std::size_t connections() const;
  // Streamed answers being written (counted out when their end is written, or when a write fails
  // after the client closed the connection: noticed at the next piece, so `token_delay` after).
  std::size_t open_streams() const;
  // Waits until `open_streams() == count`, at most `timeout`; true when it got there.
  bool wait_for_open_streams(std::size_t count, std::chrono::milliseconds timeout) const;

  // The answer the assistant policy computes for a request body (a JSON object with `messages`
  // and optionally `tools`), in `style` (which sets the ids and signatures). A tool is offered
  // when `tools` has a function of that name, unless `tool_choice` is "none". Rules, on the
  // messages as sent:
  //  1. The last message is the reader's (role "user"; its text is its content string, or its
  //     text parts joined by "\n"):
  //     a. a todo request, when a tool `todo_add` is offered: the text (trimmed, case-insensitive
  //        prefixes) is "remind me to X", "add a todo: X", "add todo: X", "todo: X" or
  //        "add X to my list" (also "... to my todo list", "... to my todos"). X loses a final
  //        ".", "!" or "?" and a trailing due phrase (" today", " tonight", " tomorrow",
  //        " next week", or " by|on|before <a weekday, today, tonight,
  //        tomorrow, or a word starting with a digit>"); X split at ";" gives one call
  //        todo_add {"title": <part, trimmed>} per non-empty part (parallel calls);
  //     b. else, when a tool `search_book` is offered: one call search_book {"query": <the text,
  //        trimmed, at most 200 characters>};
  //  2. The last messages are tool results (role "tool"; each named by the tool call its
  //     `tool_call_id` answers), one paragraph each, joined by "\n\n":
  //     - a result starting with "error" (any case; the backend writes "Error: ..."): "The tool
  //       <name> failed: <its first line, without the leading "Error:">";
  //     - search results (lines "[n] Heading › Path (url)" each followed by its snippet, as the
  //       backend presents search_book's hits): 'According to the book, "<the first sentence of
  //       the first snippet, ** markers removed>" [n].' and, when there is a second hit,
  //       ' See also <its heading path> [m].'; a search_book result without such lines:
  //       "I couldn't find that in the book.";
  //     - any other result: "Done: <its first line>";
  //  3. Otherwise: "You said: <the last message's text>".
  // Tool call ids and signatures are computed from the request, so the same request gets the
  // same answer. Throws std::invalid_argument when the body is not such an object.
  static llm_answer answer_for(std::string_view request_body, llm_style style = llm_style::openai);

  // The gemini style's thought signature of a call: base64 of SHA-256 over a fixed prefix, the
  // id, the name and the arguments text.
  static std::string thought_signature(std::string_view id, std::string_view name,
                                       std::string_view arguments);

 private:
  struct impl;
  std::unique_ptr<impl> impl_;
};

}  // namespace bookmcp::testing
