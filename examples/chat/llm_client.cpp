#include "examples/chat/llm_client.hpp"

#include <cstdlib>

#include "examples/chat/sse_reader.hpp"
#include "rag/http_client.hpp"

namespace bookmcp::chat {

using json = nlohmann::json;

namespace {

std::string env(const char* name) {
  const char* value = std::getenv(name);
  return value ? value : "";
}

llm_provider guess_provider(const std::string& url) {
  if (url.find("generativelanguage.googleapis.com") != std::string::npos) return llm_provider::gemini;
  if (url.find("api.openai.com") != std::string::npos) return llm_provider::openai;
  if (url.find(":11434") != std::string::npos) return llm_provider::ollama;
  return llm_provider::other;
}

// Gemini's OpenAI-compatible endpoint turns tools into its own function declarations, which
// take an OpenAPI subset: these keywords make it refuse the whole request.
void strip_for_gemini(json& schema) {
  if (schema.is_array()) {
    for (auto& item : schema) strip_for_gemini(item);
    return;
  }
  if (!schema.is_object()) return;
  for (const char* keyword : {"$schema", "$id", "additionalProperties", "default", "examples",
                              "const", "patternProperties", "unevaluatedProperties", "$ref",
                              "$defs", "definitions"}) {
    schema.erase(keyword);
  }
  // ["string", "null"] is not understood; "nullable" is.
  if (auto type = schema.find("type"); type != schema.end() && type->is_array()) {
    json kept = json::array();
    for (const auto& t : *type) {
      if (t == "null") {
        schema["nullable"] = true;
      } else {
        kept.push_back(t);
      }
    }
    *type = kept.size() == 1 ? kept[0] : json("string");
  }
  if (auto format = schema.find("format");
      format != schema.end() && *format != "date-time" && *format != "enum") {
    schema.erase(format);
  }
  for (auto& [key, value] : schema.items()) {
    if (key == "properties") {
      for (auto& [name, property] : value.items()) strip_for_gemini(property);
    } else if (value.is_object() || value.is_array()) {
      strip_for_gemini(value);
    }
  }
}

}  // namespace

std::optional<llm_options> llm_options::from_environment() {
  llm_options out;
  out.base_url = env("LLM_BASE_URL");
  out.model = env("LLM_MODEL");
  out.api_key = env("LLM_API_KEY");
  if (out.base_url.empty()) {
    if (!env("OPENAI_API_KEY").empty()) {
      out.base_url = "https://api.openai.com/v1";
      out.api_key = env("OPENAI_API_KEY");
      if (out.model.empty()) out.model = "gpt-4o-mini";
    } else if (!env("GEMINI_API_KEY").empty()) {
      out.base_url = "https://generativelanguage.googleapis.com/v1beta/openai";
      out.api_key = env("GEMINI_API_KEY");
      if (out.model.empty()) out.model = "gemini-2.5-flash";
    } else {
      return std::nullopt;
    }
  }
  if (out.model.empty()) {
    throw std::invalid_argument("LLM_BASE_URL is set but LLM_MODEL is not: name the model");
  }
  while (out.base_url.ends_with('/')) out.base_url.pop_back();
  out.provider = guess_provider(out.base_url);
  return out;
}

llm_client::llm_client(llm_options options) : options_(std::move(options)) {
  rag::http_client_options http;
  http.timeout = options_.timeout;
  http.max_response_bytes = 8 * 1024 * 1024;
  http_ = std::make_unique<rag::http_client>(options_.base_url, http);
}

llm_client::~llm_client() = default;

json llm_client::function_schema(const json& input_schema) const {
  json schema = input_schema;
  if (options_.provider == llm_provider::gemini) strip_for_gemini(schema);
  return schema;
}

completion_result llm_client::complete(const json& messages, const json& tools,
                                       const std::function<void(const completion_delta&)>& on_delta,
                                       std::stop_token stop) {
  json body = {{"model", options_.model}, {"messages", messages}, {"stream", true}};
  if (!tools.empty()) body["tools"] = tools;
  // Usage in the stream's last chunk (OpenAI, vLLM); others ignore the option.
  if (options_.provider != llm_provider::gemini) body["stream_options"] = {{"include_usage", true}};

  rag::http_request request;
  request.target = "/chat/completions";
  request.body = body.dump();
  request.headers = {{"Content-Type", "application/json"}, {"Accept", "text/event-stream"}};
  if (!options_.api_key.empty()) request.headers.emplace_back("Authorization", "Bearer " + options_.api_key);

  sse_reader reader;
  completion_stream answer;
  request.on_body = [&](std::string_view piece) {
    for (const auto& event : reader.feed(piece)) {
      if (event.data.empty()) continue;
      const completion_delta delta = answer.take(event.data);
      if (on_delta && (!delta.text.empty() || delta.tool_call_started)) on_delta(delta);
    }
  };
  rag::http_response response;
  try {
    response = http_->send(request, stop);
  } catch (const rag::http_error& e) {
    if (e.error_kind() == rag::http_error::kind::cancelled) return answer.result();
    throw llm_error("llm_unreachable", std::string("the language model did not answer: ") + e.what());
  } catch (const completion_stream_error& e) {
    throw llm_error("llm_error", std::string("the language model sent an unusable answer: ") + e.what());
  } catch (const sse_error& e) {
    throw llm_error("llm_error", std::string("the language model's stream broke: ") + e.what());
  }
  if (response.status == 429) {
    throw llm_error("llm_rate_limited", "the language model is rate-limiting this site; try again shortly",
                    rag::retry_hint(response, std::chrono::minutes(10)));
  }
  if (response.status / 100 != 2) {
    throw llm_error("llm_error", "the language model answered HTTP " + std::to_string(response.status));
  }
  if (!response.content_type.starts_with("text/event-stream")) {
    throw llm_error("llm_error", "the language model answered " + response.content_type +
                                     ", not an event stream");
  }
  if (!answer.result().done && answer.result().finish_reason.empty() && !stop.stop_requested()) {
    throw llm_error("llm_error", "the language model's stream ended before the answer did");
  }
  return answer.result();
}

std::string llm_client::probe() {
  try {
    rag::http_request request;
    request.method = "GET";
    request.target = "/models";
    request.timeout = std::chrono::seconds(3);
    if (!options_.api_key.empty()) request.headers.emplace_back("Authorization", "Bearer " + options_.api_key);
    const auto response = http_->send(request);
    if (response.status / 100 == 2) return "";
    return "GET /models answered HTTP " + std::to_string(response.status);
  } catch (const std::exception& e) {
    return e.what();
  }
}

}  // namespace bookmcp::chat
