#pragma once
// An OpenAI-compatible Chat Completions endpoint, streamed (`stream: true`, with tools):
// OpenAI, Gemini's OpenAI-compatible endpoint, Ollama, vLLM. One call = one streamed answer,
// put together by completion_stream; text deltas are handed over as they arrive.

#include <chrono>
#include <functional>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <stdexcept>
#include <stop_token>
#include <string>

#include "examples/chat/completion_stream.hpp"

namespace bookmcp::rag {
class http_client;
}

namespace bookmcp::chat {

enum class llm_provider { openai, gemini, ollama, other };

struct llm_options {
  std::string base_url;  // e.g. https://api.openai.com/v1 (…/chat/completions is appended)
  std::string model;
  std::string api_key;   // may be empty (Ollama, vLLM)
  llm_provider provider = llm_provider::other;
  std::chrono::milliseconds timeout{120000};  // a whole streamed answer
  // From LLM_BASE_URL / LLM_MODEL / LLM_API_KEY, or OPENAI_API_KEY or GEMINI_API_KEY alone
  // (their provider's URL and a default model); nullopt when no LLM is configured.
  static std::optional<llm_options> from_environment();
};

// The endpoint answered with an error status or an unusable stream.
class llm_error : public std::runtime_error {
 public:
  llm_error(std::string code, const std::string& message,
            std::optional<std::chrono::milliseconds> retry_after = std::nullopt)
      : std::runtime_error(message), code_(std::move(code)), retry_after_(retry_after) {}
  const std::string& code() const { return code_; }  // llm_rate_limited, llm_error, llm_unreachable
  std::optional<std::chrono::milliseconds> retry_after() const { return retry_after_; }

 private:
  std::string code_;
  std::optional<std::chrono::milliseconds> retry_after_;
};

class llm_client {
 public:
  explicit llm_client(llm_options options);
  ~llm_client();

  // Streams one answer for `messages` with `tools` (OpenAI function tools; may be empty).
  // `on_delta` gets each piece of text as it comes. Throws llm_error; stops at `stop` (the
  // request's connection is closed) and returns what arrived so far.
  completion_result complete(const nlohmann::json& messages, const nlohmann::json& tools,
                             const std::function<void(const completion_delta&)>& on_delta,
                             std::stop_token stop);

  // A tool's inputSchema as this provider accepts it (Gemini refuses some JSON Schema keywords).
  nlohmann::json function_schema(const nlohmann::json& input_schema) const;

  const llm_options& options() const { return options_; }
  // "" when the endpoint answers GET /models, else why not (for /ready).
  std::string probe();

 private:
  llm_options options_;
  std::unique_ptr<rag::http_client> http_;
};

}  // namespace bookmcp::chat
