#pragma once
// One streamed answer of an OpenAI-compatible Chat Completions endpoint (`stream: true`),
// put together from its `data:` events as real providers send them.
//
// What the providers do that a strict reader gets wrong (see docs/architecture.md, chat):
//   - tool call fragments without `index` (Gemini): keyed by `id` instead;
//   - one index reused for parallel calls, told apart only by a new `id` (Ollama): a new id at a
//     used index starts a new call;
//   - a whole call in one fragment (Ollama), or the id and name repeated on later fragments;
//   - `finish_reason: "stop"` although calls were made (Gemini, Ollama, some OpenAI models):
//     whether the model wants tools is decided by the calls, never by the finish reason;
//   - fields the provider needs back unchanged (Gemini 3's `extra_content.google.
//     thought_signature`, sometimes in a fragment of its own): every field of a call's
//     fragments other than index/id/type/function is kept and merged into the call as sent back;
//   - no id at all on some paths: one is made (`call_<n>`);
//   - a usage chunk with `choices: []` or `choices: null` (vLLM), and `{"error": ...}` objects
//     in the stream, which are errors.
// Arguments are a JSON string built by concatenation that "does not always generate valid
// JSON": each call says whether they parse.

#include <cstddef>
#include <nlohmann/json.hpp>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

namespace bookmcp::chat {

class completion_stream_error : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

struct tool_call {
  std::string id;         // as the provider sent it, or "call_<n>" when it sent none
  std::string name;
  std::string arguments;  // the concatenated JSON text
  nlohmann::json extra = nlohmann::json::object();  // other fields, to send back unchanged
  bool arguments_valid() const;  // a JSON object (an empty string counts as {})
  // {"id", "type": "function", "function": {"name", "arguments"}} plus `extra`: the assistant
  // message's tool call as the next request must repeat it.
  nlohmann::json as_request() const;
};

struct completion_result {
  std::string text;                   // the assistant's prose, concatenated
  std::vector<tool_call> tool_calls;  // in the order they started
  std::string finish_reason;          // as sent ("stop", "length", "tool_calls", ...), or ""
  std::optional<nlohmann::json> usage;
  bool done = false;                  // "[DONE]" arrived
  bool wants_tools() const { return !tool_calls.empty(); }
};

// What one event added, for streaming it on to the reader as it comes.
struct completion_delta {
  std::string text;
  bool tool_call_started = false;
};

class completion_stream {
 public:
  // Takes the data of one `data:` event. Throws completion_stream_error for an error object,
  // data that is not JSON, or data after "[DONE]".
  completion_delta take(std::string_view data);

  const completion_result& result() const { return result_; }

 private:
  tool_call& call_for(const nlohmann::json& fragment, bool& started);

  completion_result result_;
  std::vector<std::optional<long long>> indexes_;  // per call: the index it came under
};

}  // namespace bookmcp::chat
