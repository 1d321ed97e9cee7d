#include "rag/embedder.hpp"

#include <openssl/evp.h>

#include <algorithm>
#include <atomic>
#include <bit>
#include <cmath>
#include <condition_variable>
#include <mutex>
#include <optional>
#include <nlohmann/json.hpp>
#include <random>
#include <thread>

#include "rag/http_client.hpp"

namespace bookmcp::rag {

namespace {

using json = nlohmann::json;

// Sleeps unless the stop token fires first. Returns false when stopped.
bool interruptible_sleep(std::chrono::milliseconds duration, std::stop_token stop) {
  std::mutex mutex;
  std::condition_variable_any wake;
  std::unique_lock lock(mutex);
  wake.wait_for(lock, stop, duration, [] { return false; });
  return !stop.stop_requested();
}

// The message of an error answer, in any of the shapes providers use: OpenAI's
// {"error":{"message"}}, TEI's flat {"message"}, FastAPI's {"detail"}, or plain text.
std::string error_message(const http_response& response) {
  std::string message;
  try {
    json body = json::parse(response.body);
    if (body.is_object()) {
      if (auto it = body.find("error"); it != body.end()) {
        if (it->is_object() && it->contains("message") && (*it)["message"].is_string())
          message = (*it)["message"].get<std::string>();
        else if (it->is_string())
          message = it->get<std::string>();
      }
      if (message.empty() && body.contains("message") && body["message"].is_string())
        message = body["message"].get<std::string>();
      if (message.empty() && body.contains("detail")) {
        message =
            body["detail"].is_string() ? body["detail"].get<std::string>() : body["detail"].dump();
      }
    }
  } catch (const json::exception&) {
    message = response.body;
  }
  if (message.size() > 300) message = message.substr(0, 300) + "…";
  for (char& c : message) {
    if (c == '\n' || c == '\r') c = ' ';
  }
  return message.empty() ? "(no message)" : message;
}

bool mentions_context_length(const std::string& message) {
  std::string lowered = message;
  std::transform(lowered.begin(), lowered.end(), lowered.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return lowered.find("context length") != std::string::npos ||
         lowered.find("too long") != std::string::npos ||
         lowered.find("maximum input length") != std::string::npos ||
         lowered.find("too many tokens") != std::string::npos;
}

// A 400/422 about the encoding_format field (or base64 itself): the endpoint wants floats.
bool refuses_base64(const std::string& message) {
  std::string lowered = message;
  std::transform(lowered.begin(), lowered.end(), lowered.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return lowered.find("encoding_format") != std::string::npos ||
         lowered.find("encoding format") != std::string::npos ||
         lowered.find("base64") != std::string::npos;
}

// Standard base64 of little-endian float32 values (OpenAI's encoding_format "base64"), decoded
// by OpenSSL; nullopt when it is not that.
std::optional<std::vector<float>> floats_from_base64(const std::string& text) {
  if (text.empty() || text.size() % 4 != 0 || text.size() > (std::size_t{1} << 30))
    return std::nullopt;
  std::string bytes(text.size() / 4 * 3, '\0');
  const int written =
      EVP_DecodeBlock(reinterpret_cast<unsigned char*>(bytes.data()),
                      reinterpret_cast<const unsigned char*>(text.data()), static_cast<int>(text.size()));
  if (written < 0) return std::nullopt;
  // EVP_DecodeBlock counts the padding as zero bytes.
  std::size_t size = static_cast<std::size_t>(written);
  for (std::size_t i = text.size(); i > 0 && text[i - 1] == '='; --i) --size;
  if (size == 0 || size % sizeof(float) != 0) return std::nullopt;
  std::vector<float> out(size / sizeof(float));
  for (std::size_t i = 0; i < out.size(); ++i) {
    std::uint32_t word = 0;
    for (std::size_t b = 0; b < 4; ++b)
      word |= std::uint32_t(static_cast<unsigned char>(bytes[i * 4 + b])) << (8 * b);
    out[i] = std::bit_cast<float>(word);
  }
  return out;
}

void normalise(std::vector<float>& vector) {
  double norm = 0;
  for (float v : vector) norm += static_cast<double>(v) * v;
  if (norm <= 0) return;
  const float scale = static_cast<float>(1.0 / std::sqrt(norm));
  for (float& v : vector) v *= scale;
}

std::string host_of(const std::string& origin) {
  auto begin = origin.find("://");
  begin = begin == std::string::npos ? 0 : begin + 3;
  return origin.substr(begin, origin.rfind(':') - begin);
}

}  // namespace

std::vector<std::vector<float>> read_embeddings_answer(std::string_view body, std::size_t count,
                                                       std::size_t dimensions) {
  auto bad = [](const std::string& what) {
    return embedding_error(embedding_error::kind::bad_response, what);
  };
  json parsed;
  try {
    parsed = json::parse(body);
  } catch (const json::exception&) {
    throw bad("something that is not JSON");
  }
  if (!parsed.is_object() || !parsed.contains("data") || !parsed["data"].is_array())
    throw bad("without a \"data\" array");
  const json& data = parsed["data"];
  if (data.size() != count) {
    throw bad(std::to_string(data.size()) + " embeddings for " + std::to_string(count) +
              " inputs");
  }
  std::vector<std::vector<float>> out(count);
  std::vector<char> seen(count, 0);
  for (std::size_t position = 0; position < count; ++position) {
    const json& item = data[position];
    if (!item.is_object() || !item.contains("embedding") ||
        !(item["embedding"].is_array() || item["embedding"].is_string()))
      throw bad("an item without an \"embedding\" array or base64 string");
    std::size_t index = position;
    if (item.contains("index")) {
      if (!item["index"].is_number_unsigned() || item["index"].get<std::size_t>() >= count)
        throw bad("an embedding index out of range");
      index = item["index"].get<std::size_t>();
    }
    if (seen[index]++) throw bad("two embeddings for one input");
    std::vector<float> vector;
    if (item["embedding"].is_string()) {
      auto decoded = floats_from_base64(item["embedding"].get_ref<const std::string&>());
      if (!decoded) throw bad("an embedding that is not base64 of float32 values");
      vector = std::move(*decoded);
    } else {
      vector.reserve(item["embedding"].size());
      for (const auto& value : item["embedding"]) {
        if (!value.is_number()) throw bad("an embedding with a value that is not a number");
        vector.push_back(value.get<float>());
      }
    }
    if (vector.empty()) throw bad("an empty embedding");
    for (float value : vector) {
      if (!std::isfinite(value)) throw bad("an embedding with a value that is not finite");
    }
    if (dimensions == 0) dimensions = vector.size();
    if (vector.size() != dimensions) {
      throw bad("vectors of " + std::to_string(vector.size()) + " dimensions where " +
                std::to_string(dimensions) + " were expected");
    }
    normalise(vector);
    out[index] = std::move(vector);
  }
  return out;
}

namespace {

class openai_embedder final : public embedder {
 public:
  explicit openai_embedder(openai_embedder_options options)
      : options_(std::move(options)),
        client_(options_.base_url,
                {.timeout = options_.timeout,
                 .max_idle_connections = std::max<std::size_t>(options_.concurrency, 2),
                 .ca_file = options_.ca_file}) {
    if (options_.model.empty()) {
      throw std::invalid_argument("the embeddings model is not set (--embeddings-model)");
    }
    const std::string host = host_of(client_.origin());
    // Provider caps: OpenAI 2048 inputs and 300k tokens per request; Gemini's OpenAI endpoint
    // 100 inputs; TEI 32 inputs and 16k batch tokens by default (Ollama and vLLM batch
    // server-side, so small requests cost them nothing).
    const bool openai = host == "api.openai.com";
    const bool gemini = host == "generativelanguage.googleapis.com";
    if (options_.max_batch_inputs == 0)
      options_.max_batch_inputs = openai ? 256 : gemini ? 100 : 32;
    if (options_.max_batch_tokens == 0) options_.max_batch_tokens = openai ? 100'000 : 16'000;
    options_.concurrency = std::max<std::size_t>(options_.concurrency, 1);
    // Gemini's OpenAI endpoint refuses encoding_format with a 400; others are asked for base64
    // until one refuses it (see request_with_retries).
    base64_ = !gemini;
    if (options_.dimensions) dimensions_ = *options_.dimensions;
    // The path is part of the identity: one host may serve several models under one name.
    fingerprint_ = "openai-compatible " + client_.origin() + path_of(options_.base_url) + " " +
                   options_.model + " " +
                   (options_.dimensions ? std::to_string(*options_.dimensions) : "native");
  }

  std::vector<std::vector<float>> embed(std::span<const std::string> inputs,
                                        std::stop_token stop) override {
    std::vector<std::vector<float>> out(inputs.size());
    if (inputs.empty()) return out;
    // Batches of consecutive inputs within both caps.
    std::vector<std::pair<std::size_t, std::size_t>> batches;  // [begin, end)
    std::size_t begin = 0, tokens = 0;
    for (std::size_t i = 0; i < inputs.size(); ++i) {
      const std::size_t estimate = inputs[i].size() / 4 + 1;
      if (i > begin && (i - begin >= options_.max_batch_inputs ||
                        tokens + estimate > options_.max_batch_tokens)) {
        batches.emplace_back(begin, i);
        begin = i;
        tokens = 0;
      }
      tokens += estimate;
    }
    batches.emplace_back(begin, inputs.size());

    if (batches.size() == 1 || options_.concurrency == 1) {
      for (const auto& [first, last] : batches) embed_range(inputs, first, last, out, stop);
      return out;
    }
    // Several requests at once; the first failure stops the others.
    std::stop_source abort;
    std::stop_callback forward(stop, [&abort] { abort.request_stop(); });
    std::atomic<std::size_t> next{0};
    std::mutex failure_mutex;
    std::exception_ptr failure;
    auto work = [&] {
      for (std::size_t b; (b = next.fetch_add(1)) < batches.size();) {
        if (abort.stop_requested()) return;
        try {
          embed_range(inputs, batches[b].first, batches[b].second, out, abort.get_token());
        } catch (...) {
          std::lock_guard lock(failure_mutex);
          if (!failure) failure = std::current_exception();
          abort.request_stop();
          return;
        }
      }
    };
    {
      std::vector<std::jthread> workers;
      const std::size_t count = std::min(options_.concurrency, batches.size());
      for (std::size_t i = 1; i < count; ++i) workers.emplace_back(work);
      work();
    }
    if (failure) {
      // A cancellation caused by another batch's failure is not the story: report the failure.
      std::rethrow_exception(failure);
    }
    if (stop.stop_requested()) {
      throw embedding_error(embedding_error::kind::cancelled, "embedding cancelled");
    }
    return out;
  }

  std::size_t dimensions() const override { return dimensions_.load(); }
  std::string fingerprint() const override { return fingerprint_; }
  embedding_stats stats() const override {
    return {requests_.load(), retries_.load(), inputs_.load()};
  }

 private:
  static std::string path_of(const std::string& url) {
    auto scheme = url.find("://");
    auto slash = url.find('/', scheme == std::string::npos ? 0 : scheme + 3);
    if (slash == std::string::npos) return {};
    std::string path = url.substr(slash);
    while (path.ends_with('/')) path.pop_back();
    return path;
  }

  // Embeds inputs[first, last) into out, splitting the range when the endpoint finds it too
  // large, so that a 413 ends up naming the one input that is.
  void embed_range(std::span<const std::string> inputs, std::size_t first, std::size_t last,
                   std::vector<std::vector<float>>& out, std::stop_token stop) {
    try {
      request_with_retries(inputs, first, last, out, stop);
    } catch (const embedding_error& error) {
      if (error.error_kind() != embedding_error::kind::input_too_large || last - first == 1) {
        if (error.error_kind() == embedding_error::kind::input_too_large && !error.input_index())
          throw embedding_error(error.error_kind(), error.what(), first);
        throw;
      }
      const std::size_t middle = first + (last - first) / 2;
      embed_range(inputs, first, middle, out, stop);
      embed_range(inputs, middle, last, out, stop);
    }
  }

  void request_with_retries(std::span<const std::string> inputs, std::size_t first,
                            std::size_t last, std::vector<std::vector<float>>& out,
                            std::stop_token stop) {
    // Base64 (little-endian float32, as OpenAI's own clients ask) is a third of the bytes of
    // decimal floats and decodes without parsing numbers. An endpoint that ignores the field
    // answers floats, which are read as well.
    auto request_for = [&](bool base64) {
      json body = {{"model", options_.model}, {"input", json::array()}};
      for (std::size_t i = first; i < last; ++i) body["input"].push_back(inputs[i]);
      if (options_.dimensions) body["dimensions"] = *options_.dimensions;
      if (base64) body["encoding_format"] = "base64";
      http_request request;
      request.target = "/embeddings";
      request.body = body.dump(-1, ' ', false, json::error_handler_t::replace);
      request.headers.emplace_back("Content-Type", "application/json");
      if (!options_.api_key.empty())
        request.headers.emplace_back("Authorization", "Bearer " + options_.api_key);
      return request;
    };
    bool base64 = base64_.load();
    http_request request = request_for(base64);

    std::string last_problem;
    for (int attempt = 0;; ++attempt) {
      if (stop.stop_requested()) {
        throw embedding_error(embedding_error::kind::cancelled, "embedding cancelled");
      }
      std::optional<std::chrono::milliseconds> hint;
      ++requests_;
      try {
        http_response response = client_.send(request, stop);
        if (response.status == 200) {
          read_answer(response, first, last, out);
          return;
        }
        const std::string message = error_message(response);
        if (base64 && (response.status == 400 || response.status == 422) &&
            refuses_base64(message)) {
          // An endpoint that speaks floats only: ask it for floats from now on, at once.
          base64_ = base64 = false;
          request = request_for(false);
          --attempt;
          continue;
        }
        const std::string origin = client_.origin();
        switch (response.status) {
          case 401:
          case 403:
            throw embedding_error(embedding_error::kind::unauthorized,
                                  "the embeddings endpoint " + origin + " refused the API key (" +
                                      std::to_string(response.status) + "): " + message +
                                      "; check EMBEDDINGS_API_KEY");
          case 413:
            throw embedding_error(
                embedding_error::kind::input_too_large,
                "the embeddings endpoint found an input too large (413): " + message);
          case 408:
          case 409:
          case 425:
          case 429:
          case 500:
          case 502:
          case 503:
          case 504:
            last_problem = std::to_string(response.status) + ": " + message;
            // OpenAI's retry-after-ms is finer than Retry-After's whole seconds.
            hint = retry_hint(response);
            break;
          default:
            if (response.status == 400 && mentions_context_length(message)) {
              throw embedding_error(
                  embedding_error::kind::input_too_large,
                  "the embeddings endpoint found an input too long (400): " + message);
            }
            throw embedding_error(embedding_error::kind::rejected,
                                  "the embeddings endpoint " + origin + " refused the request (" +
                                      std::to_string(response.status) + "): " + message);
        }
      } catch (const http_error& error) {
        switch (error.error_kind()) {
          case http_error::kind::cancelled:
            throw embedding_error(embedding_error::kind::cancelled, "embedding cancelled");
          case http_error::kind::bad_url:
          case http_error::kind::tls:
            // Certificates and URLs do not fix themselves between attempts.
            throw embedding_error(embedding_error::kind::unavailable, error.what());
          default:
            last_problem = error.what();
        }
      }
      if (attempt >= options_.max_retries) {
        throw embedding_error(embedding_error::kind::unavailable,
                              "the embeddings endpoint " + client_.origin() + " failed " +
                                  std::to_string(attempt + 1) + " times; last: " + last_problem);
      }
      ++retries_;
      const auto wait = hint ? std::min(*hint, std::chrono::milliseconds(120'000))
                             : backoff_delay(attempt, options_.backoff_base, options_.backoff_max);
      if (!interruptible_sleep(wait, stop)) {
        throw embedding_error(embedding_error::kind::cancelled, "embedding cancelled");
      }
    }
  }

  void read_answer(const http_response& response, std::size_t first, std::size_t last,
                   std::vector<std::vector<float>>& out) {
    const std::size_t count = last - first;
    std::size_t expected = dimensions_.load();
    std::vector<std::vector<float>> vectors;
    try {
      vectors = read_embeddings_answer(response.body, count, expected);
    } catch (const embedding_error& error) {
      std::string message = error.what();
      if (options_.dimensions && message.find(" were expected") != std::string::npos)
        message += " (--embeddings-dimensions)";
      throw embedding_error(error.error_kind(),
                            "the embeddings endpoint " + client_.origin() + " answered " + message);
    }
    if (expected == 0 && !vectors.empty()) {
      // The first answer sets the dimension; a concurrent one with another is caught here.
      dimensions_.compare_exchange_strong(expected, vectors.front().size());
      expected = dimensions_.load();
      if (vectors.front().size() != expected) {
        throw embedding_error(embedding_error::kind::bad_response,
                              "the embeddings endpoint " + client_.origin() + " answered vectors of " +
                                  std::to_string(vectors.front().size()) + " dimensions where " +
                                  std::to_string(expected) + " were expected");
      }
    }
    for (std::size_t i = 0; i < count; ++i) out[first + i] = std::move(vectors[i]);
    inputs_ += count;
  }

  openai_embedder_options options_;
  http_client client_;
  std::string fingerprint_;
  std::atomic<bool> base64_{true};  // ask for base64 (until the endpoint refuses it)
  std::atomic<std::size_t> dimensions_{0};
  std::atomic<std::size_t> requests_{0};
  std::atomic<std::size_t> retries_{0};
  std::atomic<std::size_t> inputs_{0};
};

}  // namespace

std::unique_ptr<embedder> make_openai_embedder(openai_embedder_options options) {
  return std::make_unique<openai_embedder>(std::move(options));
}

}  // namespace bookmcp::rag
