#pragma once
// Dense embeddings of chunk texts and queries.
//
// `embedder` is the interface the indexing pipeline and hybrid search use; `openai_embedder`
// speaks the OpenAI-compatible POST {base}/embeddings API that OpenAI, Gemini's OpenAI
// endpoint, Ollama, vLLM and Hugging Face TEI all serve. It splits a call into batches sized
// for the provider (inputs and estimated tokens), runs up to `concurrency` requests at once on
// keep-alive connections, retries 429 and 5xx answers and transport failures with exponential
// backoff and full jitter (honouring Retry-After), and stops at once when the stop token fires
// (the request in flight is closed).
//
// Errors: embedding_error with a kind a caller can act on; what() is safe to show to a user (it
// never contains the API key) and names the input of a 413.
//
// Threads: embed() may be called from several threads at once.

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <stdexcept>
#include <stop_token>
#include <string>
#include <string_view>
#include <vector>

namespace bookmcp::rag {

class embedding_error : public std::runtime_error {
 public:
  enum class kind {
    unauthorized,     // 401/403: the key is missing, wrong or lacks access
    rejected,         // 400/404/422: the endpoint refused the request (model name, dimensions)
    input_too_large,  // 413 (or a context-length 400) for one input: `input_index` names it
    unavailable,      // 429/5xx/transport failures still failing after every retry
    bad_response,     // 200 with the wrong count, wrong dimension or malformed JSON
    cancelled,
  };
  embedding_error(kind what_kind, const std::string& message,
                  std::optional<std::size_t> input_index = std::nullopt)
      : std::runtime_error(message), kind_(what_kind), input_index_(input_index) {}
  kind error_kind() const noexcept { return kind_; }
  // For input_too_large: the index of the offending input in the embed() call.
  std::optional<std::size_t> input_index() const noexcept { return input_index_; }

 private:
  kind kind_;
  std::optional<std::size_t> input_index_;
};

struct embedding_stats {
  std::size_t requests = 0;  // HTTP requests sent, retries included
  std::size_t retries = 0;
  std::size_t inputs = 0;  // inputs embedded
};

class embedder {
 public:
  virtual ~embedder() = default;

  // One vector per input, in order, each of dimensions() floats and unit length. Throws
  // embedding_error. An empty span gives an empty result without a request.
  virtual std::vector<std::vector<float>> embed(std::span<const std::string> inputs,
                                                std::stop_token stop = {}) = 0;

  // The vector length: the configured one, or the one the endpoint answered with (0 before the
  // first answer when none is configured).
  virtual std::size_t dimensions() const = 0;

  // What identifies the vector space: endpoint origin, model and dimensions. Vectors of
  // different fingerprints must never be compared. Stable across runs.
  virtual std::string fingerprint() const = 0;

  // Counters since construction.
  virtual embedding_stats stats() const = 0;
};

struct openai_embedder_options {
  std::string base_url;  // e.g. https://api.openai.com/v1 ; requests go to {base_url}/embeddings
  std::string model;
  std::optional<std::size_t> dimensions;  // sent only when set (vLLM refuses it otherwise)
  std::string api_key;                    // sent as a bearer token when set; never logged
  // 0: chosen by provider (OpenAI 256, Gemini 100, others 32 inputs per request).
  std::size_t max_batch_inputs = 0;
  // Estimated tokens (bytes / 4) per request; 0: by provider (OpenAI 100k, others 16k).
  std::size_t max_batch_tokens = 0;
  std::size_t concurrency = 4;  // requests in flight at once for one embed() call
  std::chrono::milliseconds timeout{60'000};
  int max_retries = 6;
  std::chrono::milliseconds backoff_base{500};
  std::chrono::milliseconds backoff_max{30'000};
  std::string ca_file;  // trusted CAs for https (empty: the system's)
};

// The vectors of a 200 answer in OpenAI's format (`data[].embedding` as floats or as base64 of
// little-endian float32, `data[].index` optional) for `count` inputs, in input order, each
// normalised to unit length (a zero vector stays zero). `dimensions` 0 takes the first vector's
// length. Throws embedding_error(bad_response) saying what is wrong: not JSON, another count,
// a missing, repeated or out-of-range index, a value that is not a finite number, another
// length.
std::vector<std::vector<float>> read_embeddings_answer(std::string_view body, std::size_t count,
                                                       std::size_t dimensions);

// Throws http_error(bad_url) for an unusable URL and std::invalid_argument for an empty model.
std::unique_ptr<embedder> make_openai_embedder(openai_embedder_options options);

}  // namespace bookmcp::rag
