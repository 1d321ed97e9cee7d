#pragma once
// The two Chat Completions requests a chat backend sends for one answer that searches the book
// once (docs/chat-api.md, LLM mode), built the way bookmcp-chat builds them: a system prompt, the
// reader's message and bookmcp's reader tools; then the same with the model's tool call and the
// search result as a tool message. Timing these against the LLM double directly gives the
// double's own share of a turn. Pure functions; any thread.

#include <nlohmann/json.hpp>
#include <string>
#include <string_view>
#include <vector>

namespace bookmcp::bench::chat {

struct llm_tool_call {
  std::string id;
  std::string name;
  std::string arguments;  // JSON text
};

// The tools of a tools/list result that a reader's chat offers, as Chat Completions functions.
nlohmann::json reader_functions(const nlohmann::json& listed_tools);

// The first request: system prompt, the reader's message, the tools; streamed with usage.
nlohmann::json first_llm_request(const std::string& model, const std::string& question,
                                 const nlohmann::json& functions);

// The second: the first's messages, then the assistant's tool calls and one tool message each.
nlohmann::json second_llm_request(const nlohmann::json& first,
                                  const std::vector<llm_tool_call>& calls,
                                  const std::vector<std::string>& tool_contents);

// A search_book tool result as bookmcp-chat hands it to the model: "[n] Heading › Path (url)"
// and the snippet, per hit.
std::string search_result_for_model(const nlohmann::json& call_tool_result);

// Gathers the tool calls of a streamed chat.completion.chunk sequence (fragments keyed by
// index, or by id when a provider sends no index).
class tool_call_collector {
 public:
  void take(std::string_view data);  // one SSE data payload; "[DONE]" and non-JSON are ignored
  const std::vector<llm_tool_call>& calls() const { return calls_; }

 private:
  std::vector<llm_tool_call> calls_;
  std::vector<long> indexes_;
};

}  // namespace bookmcp::bench::chat
