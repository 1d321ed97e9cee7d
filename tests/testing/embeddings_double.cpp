// The embeddings test double: the doubles' HTTP server (double_http_server.hpp) answering the
// OpenAI embeddings API from the published reference
// (https://platform.openai.com/docs/api-reference/embeddings), with vectors computed by
// `embeddings_double::embed` and faults queued by the test. See the header for the contract.
#include "tests/testing/embeddings_double.hpp"

#include <algorithm>
#include <atomic>
#include <boost/beast/http.hpp>
#include <charconv>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <nlohmann/json.hpp>
#include <optional>
#include <shared_mutex>
#include <unordered_map>
#include <stdexcept>
#include <utility>

#include "tests/testing/double_http_server.hpp"
#include "tests/testing/fault_queue.hpp"

namespace bookmcp::testing {
namespace {

namespace http = boost::beast::http;
using json = nlohmann::json;
using namespace std::chrono_literals;

// Request bodies above this are refused with 413 (from Content-Length, before the body is read).
constexpr std::uint64_t max_body_bytes = 8 * 1024 * 1024;
// OpenAI's text-embedding-3 models accept `dimensions` up to their native size; the double
// caps it at 4096 so that a typo cannot make it allocate gigabytes.
constexpr std::int64_t max_dimensions = 4096;
constexpr std::string_view server_name = "bookmcp-embeddings-double";

using request_type = double_request;
using response_type = double_response;

// ---- the computed embedding ---------------------------------------------------------------

std::uint64_t fnv1a64(char kind, std::string_view feature) {
  std::uint64_t hash = 14695981039346656037ull;
  auto mix = [&hash](unsigned char byte) {
    hash ^= byte;
    hash *= 1099511628211ull;
  };
  // The kind keeps the word "pid" and the trigram "pid" apart.
  mix(static_cast<unsigned char>(kind));
  for (char c : feature) mix(static_cast<unsigned char>(c));
  return hash;
}

// MurmurHash3's 64-bit finaliser. FNV-1a alone spreads short inputs badly: its low k bits depend
// only on the low k bits of each byte (multiplication carries upwards only), and after the three
// or four bytes of a trigram its upper bits barely differ (measured: 13 of a phrase's 19
// features in one of 16 buckets). The finaliser makes every output bit depend on every input bit.
std::uint64_t finalise(std::uint64_t hash) {
  hash ^= hash >> 33;
  hash *= 0xff51afd7ed558ccdull;
  hash ^= hash >> 33;
  hash *= 0xc4ceb9fe1a85ec53ull;
  hash ^= hash >> 33;
  return hash;
}

void add_feature(std::vector<float>& sums, char kind, std::string_view feature, float weight) {
  const std::uint64_t hash = finalise(fnv1a64(kind, feature));
  const std::size_t bucket = static_cast<std::size_t>(hash % sums.size());
  const float sign = (hash >> 63) != 0 ? -1.0f : 1.0f;
  sums[bucket] += sign * weight;
}

bool is_word_byte(unsigned char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c >= 0x80;
}

char fold_ascii(char c) {
  return c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c;
}

// OpenAI counts model tokens; the double counts whitespace-separated words, an approximation
// that is enough for a client that only reports usage.
std::size_t approximate_tokens(std::string_view text) {
  std::size_t words = 0;
  bool in_word = false;
  for (char c : text) {
    const bool space = c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v';
    if (!space && !in_word) ++words;
    in_word = !space;
  }
  return words;
}

// ---- JSON and HTTP answers ----------------------------------------------------------------

// Text from the client (a path, a model name) may be invalid UTF-8; nlohmann would throw on it.
std::string json_text(const json& value) {
  return value.dump(-1, ' ', false, json::error_handler_t::replace);
}

void append_float(std::string& out, float value) {
  char digits[32];
  // The shortest text of the value as a double: a client parsing it as a double (nlohmann,
  // Python) and then narrowing, or straight as a float, gets exactly the float of `embed()`.
  // (The float's own shortest text can be off by one ulp after the double's rounding.)
  const auto result = std::to_chars(digits, digits + sizeof digits, static_cast<double>(value));
  out.append(digits, result.ptr);
}

void append_base64(std::string& out, const std::vector<float>& values) {
  // OpenAI's base64 encoding: the float32 values as little-endian bytes, standard alphabet.
  static constexpr char alphabet[] =
      "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::vector<unsigned char> bytes;
  bytes.reserve(values.size() * 4);
  for (float value : values) {
    std::uint32_t bits;
    std::memcpy(&bits, &value, sizeof bits);
    for (int shift = 0; shift < 32; shift += 8) bytes.push_back((bits >> shift) & 0xffu);
  }
  std::size_t i = 0;
  for (; i + 3 <= bytes.size(); i += 3) {
    const std::uint32_t group = (bytes[i] << 16) | (bytes[i + 1] << 8) | bytes[i + 2];
    for (int shift = 18; shift >= 0; shift -= 6) out.push_back(alphabet[(group >> shift) & 63]);
  }
  if (const std::size_t rest = bytes.size() - i; rest > 0) {
    const std::uint32_t group = (bytes[i] << 16) | (rest == 2 ? bytes[i + 1] << 8 : 0);
    out.push_back(alphabet[(group >> 18) & 63]);
    out.push_back(alphabet[(group >> 12) & 63]);
    out.push_back(rest == 2 ? alphabet[(group >> 6) & 63] : '=');
    out.push_back('=');
  }
}

response_type make_response(http::status status, unsigned version, bool keep_alive,
                            std::string body) {
  return double_whole_response(status, version, keep_alive, std::move(body), server_name);
}


// text-embeddings-inference's error on its OpenAI-compatible route (OpenAICompatErrorResponse):
// flat, with the status as `code`; validation failures (too long, too many) are 413.
std::string tei_error(std::string_view message, int code, std::string_view type) {
  return json_text(json{{"message", message}, {"code", code}, {"type", type}});
}

std::string retry_seconds(std::chrono::milliseconds delay) {
  const auto milliseconds = std::max<std::int64_t>(delay.count(), 0);
  return std::to_string((milliseconds + 999) / 1000);
}

bool iequals(std::string_view a, std::string_view b) {
  return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
           return fold_ascii(x) == fold_ascii(y);
         });
}

std::string_view trim(std::string_view text) {
  while (!text.empty() && (text.front() == ' ' || text.front() == '\t')) text.remove_prefix(1);
  while (!text.empty() && (text.back() == ' ' || text.back() == '\t')) text.remove_suffix(1);
  return text;
}

// ---- requests -----------------------------------------------------------------------------

// A validated POST /v1/embeddings body.
struct embeddings_request {
  std::vector<std::string> inputs;
  std::size_t dimensions = 0;
  bool base64 = false;
};

// Either the request or the answer refusing it.
struct validation {
  std::optional<embeddings_request> request;
  http::status status = http::status::ok;
  std::string error_body;
};

validation refuse(http::status status, std::string body) {
  validation result;
  result.status = status;
  result.error_body = std::move(body);
  return result;
}

validation invalid(std::string_view message, std::string_view param = {}) {
  return refuse(http::status::bad_request,
                openai_error(message, "invalid_request_error", {}, param));
}

}  // namespace

std::vector<float> embeddings_double::embed(std::string_view text, std::size_t dimensions) {
  if (dimensions == 0) throw std::invalid_argument("embeddings_double::embed: dimensions is 0");
  std::vector<float> sums(dimensions, 0.0f);
  std::string word;
  std::string padded;
  auto flush_word = [&] {
    if (word.empty()) return;
    add_feature(sums, 'w', word, 1.0f);
    padded = " " + word + " ";
    for (std::size_t i = 0; i + 3 <= padded.size(); ++i)
      add_feature(sums, 't', std::string_view(padded).substr(i, 3), 0.5f);
    word.clear();
  };
  for (char c : text) {
    if (is_word_byte(static_cast<unsigned char>(c))) {
      word.push_back(fold_ascii(c));
    } else {
      flush_word();
    }
  }
  flush_word();
  double norm = 0.0;
  for (float value : sums) norm += static_cast<double>(value) * value;
  if (norm > 0.0) {
    const double scale = 1.0 / std::sqrt(norm);
    for (float& value : sums) value = static_cast<float>(value * scale);
  }
  return sums;
}

struct embeddings_double::impl final : double_http_handler {
  explicit impl(embeddings_double_options options_to_use)
      : options(checked(std::move(options_to_use))), server(server_options(options), *this) {}

  static embeddings_double_options checked(embeddings_double_options options) {
    if (options.dimensions == 0 || options.dimensions > static_cast<std::size_t>(max_dimensions))
      throw std::invalid_argument("embeddings_double: dimensions must be in [1, 4096]");
    return options;
  }

  static double_http_server_options server_options(const embeddings_double_options& options) {
    double_http_server_options out;
    out.name = "embeddings double";
    out.port = options.port;
    out.max_body_bytes = max_body_bytes;
    out.tls_certificate_pem = options.tls_certificate_pem;
    out.tls_private_key_pem = options.tls_private_key_pem;
    return out;
  }

  // ---- what the server asks ---------------------------------------------------------------

  double_response answer_failed(const request_type& request) override {
    return make_response(http::status::internal_server_error, request.version(),
                         request.keep_alive(),
                         openai_error("The double failed to answer the request.", "server_error"));
  }

  double_response refuse_too_large(const double_request_header&, bool) override {
    return make_response(
        http::status::payload_too_large, 11, false,
        tei_error("Request body is larger than the double's limit of 8 MiB", 413, "validation"));
  }

  std::optional<double_response> refuse_malformed(const boost::system::error_code& error) override {
    return make_response(
        http::status::bad_request, 11, false,
        openai_error("Malformed HTTP request: " + error.message(), "invalid_request_error"));
  }

  double_reply answer(const request_type& request) override {
    const std::string_view target = request.target();
    const std::string_view path = target.substr(0, target.find('?'));
    const unsigned version = request.version();
    const bool keep_alive = request.keep_alive();
    auto reply = [&](http::status status, std::string body) {
      double_reply result;
      result.response = make_response(status, version, keep_alive, std::move(body));
      return result;
    };
    auto wrong_method = [&](std::string_view allowed) {
      double_reply result =
          reply(http::status::method_not_allowed,
                openai_error("Invalid method for URL (" + std::string(request.method_string()) +
                                 " " + std::string(path) + ")",
                             "invalid_request_error"));
      result.response.set(http::field::allow, allowed);
      return result;
    };

    if (path == "/v1/models") {
      if (request.method() != http::verb::get) return wrong_method("GET");
      if (auto refusal = check_key(request)) return reply(http::status::unauthorized, *refusal);
      json model = {
          {"id", options.model}, {"object", "model"}, {"created", 0}, {"owned_by", server_name}};
      return reply(http::status::ok,
                   json_text({{"object", "list"}, {"data", json::array({std::move(model)})}}));
    }
    if (path != "/v1/embeddings") {
      return reply(http::status::not_found,
                   openai_error("Invalid URL (" + std::string(request.method_string()) + " " +
                                    std::string(path) + ")",
                                "invalid_request_error"));
    }
    if (request.method() != http::verb::post) return wrong_method("POST");

    request_count.fetch_add(1);
    const auto fault = faults.take();
    double_reply result;
    switch (fault.fault) {
      case embeddings_fault::hang:
        result.hang = true;
        return result;
      case embeddings_fault::rate_limited:
        result = reply(http::status::too_many_requests,
                       openai_error("Rate limit reached for " + options.model +
                                        " in organization org-embeddings-double on requests per "
                                        "min (RPM): Limit 3000, Used 3000, Requested 1. Please "
                                        "try again in " +
                                        std::to_string(fault.amount.count()) + "ms.",
                                    "requests", "rate_limit_exceeded"));
        result.response.set(http::field::retry_after, retry_seconds(fault.amount));
        result.response.set("retry-after-ms",
                            std::to_string(std::max<std::int64_t>(fault.amount.count(), 0)));
        return result;
      case embeddings_fault::server_error:
        result = reply(http::status::service_unavailable,
                       openai_error("The server is overloaded or not ready yet.", "server_error"));
        if (fault.amount > 0ms) {
          result.response.set(http::field::retry_after, retry_seconds(fault.amount));
          result.response.set("retry-after-ms", std::to_string(fault.amount.count()));
        }
        return result;
      case embeddings_fault::too_large:
        return reply(http::status::payload_too_large,
                     tei_error("Input validation error: `inputs` must have less than 512 tokens "
                               "(injected fault)",
                               413, "validation"));
      case embeddings_fault::malformed: {
        // Cut off in the middle of the first vector, as a dropped proxy connection would.
        result =
            reply(http::status::ok, R"({"object":"list","data":[{"object":"embedding","index":0,)"
                                    R"("embedding":[0.125,-0.25,)");
        return result;
      }
      case embeddings_fault::slow:
        break;
      case embeddings_fault::none:
      case embeddings_fault::wrong_dimensions:
      case embeddings_fault::wrong_count:
      case embeddings_fault::garbled_base64:
        break;
    }

    if (auto refusal = check_key(request)) {
      result = reply(http::status::unauthorized, *refusal);
    } else {
      validation checked = validate(request);
      if (!checked.request) {
        result = reply(checked.status, std::move(checked.error_body));
      } else {
        const std::size_t embedded = checked.request->inputs.size();
        result = reply(http::status::ok, render(*checked.request, fault.fault));
        if (fault.fault != embeddings_fault::wrong_dimensions &&
            fault.fault != embeddings_fault::wrong_count &&
            !(fault.fault == embeddings_fault::garbled_base64 && checked.request->base64))
          inputs_embedded_count.fetch_add(embedded);
      }
    }
    if (fault.fault == embeddings_fault::slow) result.delay = fault.amount;
    return result;
  }

  // The 401 body when the request lacks the configured key; nothing when it passes.
  std::optional<std::string> check_key(const request_type& request) const {
    if (options.api_key.empty()) return std::nullopt;
    const auto header = request.find(http::field::authorization);
    if (header == request.end()) {
      return openai_error(
          "You didn't provide an API key. You need to provide your API key in an Authorization "
          "header using Bearer auth (i.e. Authorization: Bearer YOUR_KEY).",
          "invalid_request_error", "invalid_api_key");
    }
    std::string_view value = trim(header->value());
    std::string_view key;
    if (value.size() > 7 && iequals(value.substr(0, 7), "Bearer ")) key = trim(value.substr(7));
    if (key == options.api_key) return std::nullopt;
    const std::string shown = std::string(key.substr(0, std::min<std::size_t>(key.size(), 3)));
    return openai_error("Incorrect API key provided: " + shown +
                            "***. You can find your API key at "
                            "https://platform.openai.com/account/api-keys.",
                        "invalid_request_error", "invalid_api_key");
  }

  validation validate(const request_type& request) const {
    std::string_view content_type = request[http::field::content_type];
    content_type = trim(content_type.substr(0, content_type.find(';')));
    if (!iequals(content_type, "application/json")) {
      return invalid("Invalid Content-Type header (" + std::string(content_type) +
                     "), expected application/json.");
    }
    const json body = json::parse(request.body(), nullptr, false);
    if (body.is_discarded() || !body.is_object()) {
      return invalid(
          "We could not parse the JSON body of your request. (HINT: This likely means you aren't "
          "using your HTTP library correctly. The OpenAI API expects a JSON payload, but what was "
          "sent was not valid JSON.)");
    }
    for (const auto& [name, value] : body.items()) {
      if (name != "model" && name != "input" && name != "dimensions" && name != "encoding_format" &&
          name != "user")
        return invalid("Unrecognized request argument supplied: " + name, name);
    }

    const auto model = body.find("model");
    if (model == body.end() || model->is_null())
      return invalid("You must provide a model parameter.", "model");
    if (!model->is_string()) return invalid("'$.model' is invalid: expected a string.", "model");
    if (model->get_ref<const std::string&>() != options.model) {
      return refuse(http::status::not_found,
                    openai_error("The model `" + model->get<std::string>() +
                                     "` does not exist or you do not have access to it.",
                                 "invalid_request_error", "model_not_found", "model"));
    }

    embeddings_request parsed;
    const auto input = body.find("input");
    if (input == body.end() || input->is_null())
      return invalid("'input' is a required property.", "input");
    if (input->is_string()) {
      parsed.inputs.push_back(input->get<std::string>());
    } else if (input->is_array()) {
      if (input->size() > options.max_inputs) {
        return invalid("'$.input' is invalid: " + std::to_string(input->size()) +
                           " inputs given, the maximum is " + std::to_string(options.max_inputs) +
                           " per request.",
                       "input");
      }
      for (const auto& item : *input) {
        if (item.is_number_integer() || item.is_array())
          return invalid(
              "'$.input' is invalid: the embeddings double accepts text inputs only, not "
              "token arrays.",
              "input");
        if (!item.is_string())
          return invalid("'$.input' is invalid: every input must be a string.", "input");
        parsed.inputs.push_back(item.get<std::string>());
      }
    } else {
      return invalid("'$.input' is invalid: expected a string or an array of strings.", "input");
    }
    if (parsed.inputs.empty()) return invalid("'$.input' is invalid: it is empty.", "input");
    for (std::size_t i = 0; i < parsed.inputs.size(); ++i) {
      if (parsed.inputs[i].empty())
        return invalid("'$.input' is invalid: input " + std::to_string(i) + " is an empty string.",
                       "input");
    }
    if (options.max_input_chars > 0) {
      for (std::size_t i = 0; i < parsed.inputs.size(); ++i) {
        if (parsed.inputs[i].size() > options.max_input_chars) {
          return refuse(http::status::payload_too_large,
                        tei_error("Input validation error: input " + std::to_string(i) + " is " +
                                      std::to_string(parsed.inputs[i].size()) +
                                      " characters long, the maximum is " +
                                      std::to_string(options.max_input_chars),
                                  413, "validation"));
        }
      }
    }

    parsed.dimensions = options.dimensions;
    if (const auto dimensions = body.find("dimensions");
        dimensions != body.end() && !dimensions->is_null()) {
      const bool integer = dimensions->is_number_integer();
      const std::int64_t value = integer ? dimensions->get<std::int64_t>() : 0;
      if (!integer || value < 1 || value > max_dimensions) {
        return invalid("Invalid value for 'dimensions' = " + json_text(*dimensions) +
                           ". Must be a positive integer no greater than " +
                           std::to_string(max_dimensions) + ".",
                       "dimensions");
      }
      parsed.dimensions = static_cast<std::size_t>(value);
    }
    if (const auto format = body.find("encoding_format");
        format != body.end() && !format->is_null()) {
      if (*format == "base64") ++base64_request_count;
      if (*format == "base64" && options.base64 == base64_support::refused) {
        return invalid("Invalid value for 'encoding_format' = \"base64\": this endpoint "
                       "answers floats only.",
                       "encoding_format");
      }
      if (*format == "base64") {
        parsed.base64 = options.base64 == base64_support::answered;
      } else if (*format != "float") {
        return invalid("Invalid value for 'encoding_format' = " + json_text(*format) +
                           ". Supported values are: 'float' and 'base64'.",
                       "encoding_format");
      }
    }
    if (const auto user = body.find("user");
        user != body.end() && !user->is_null() && !user->is_string())
      return invalid("'$.user' is invalid: expected a string.", "user");
    return validation{std::move(parsed), http::status::ok, {}};
  }

  // The 200 body, written directly: a 2048-input batch would cost more as a JSON tree.
  std::string render(const embeddings_request& request, embeddings_fault fault) const {
    std::size_t answered = request.inputs.size();
    if (fault == embeddings_fault::wrong_count) --answered;
    std::string out;
    out.reserve(64 + answered * (request.dimensions * (request.base64 ? 6 : 12) + 48));
    out += R"({"object":"list","data":[)";
    std::size_t tokens = 0;
    for (std::size_t i = 0; i < request.inputs.size(); ++i) {
      tokens += approximate_tokens(request.inputs[i]);
      if (i >= answered) continue;
      std::vector<float> vector = vector_of(request.inputs[i], request.dimensions);
      if (fault == embeddings_fault::wrong_dimensions) vector.push_back(0.0f);
      if (i > 0) out += ',';
      out += R"({"object":"embedding","index":)";
      out += std::to_string(i);
      out += R"(,"embedding":)";
      if (request.base64) {
        out += '"';
        append_base64(out, vector);
        if (fault == embeddings_fault::garbled_base64) out.pop_back();
        out += '"';
      } else {
        out += '[';
        for (std::size_t j = 0; j < vector.size(); ++j) {
          if (j > 0) out += ',';
          append_float(out, vector[j]);
        }
        out += ']';
      }
      out += '}';
    }
    out += R"(],"model":)";
    out += json_text(options.model);
    out += R"(,"usage":{"prompt_tokens":)";
    out += std::to_string(tokens);
    out += R"(,"total_tokens":)";
    out += std::to_string(tokens);
    out += "}}";
    return out;
  }

  std::vector<float> vector_of(const std::string& input, std::size_t dimensions) const {
    if (dimensions == options.dimensions) {
      std::shared_lock lock(precomputed_mutex);
      if (auto found = precomputed.find(input); found != precomputed.end()) return found->second;
    }
    return embed(input, dimensions);
  }

  const embeddings_double_options options;
  mutable std::shared_mutex precomputed_mutex;
  std::unordered_map<std::string, std::vector<float>> precomputed;
  fault_queue<embeddings_fault> faults;
  std::atomic<std::size_t> request_count{0};
  std::atomic<std::size_t> inputs_embedded_count{0};
  mutable std::atomic<std::size_t> base64_request_count{0};  // counted while validating
  // Last: built once the state above exists, destroyed (connections closed, threads joined)
  // before it goes, so that no connection touches the state when it is not there.
  double_http_server server;
};

embeddings_double::embeddings_double(embeddings_double_options options)
    : impl_(std::make_unique<impl>(std::move(options))) {}

embeddings_double::~embeddings_double() = default;

std::uint16_t embeddings_double::port() const {
  return impl_->server.port();
}

std::string embeddings_double::base_url() const {
  return std::string(impl_->server.tls() ? "https" : "http") +
         "://127.0.0.1:" + std::to_string(port()) + "/v1";
}

void embeddings_double::inject(embeddings_fault fault, std::size_t count,
                               std::chrono::milliseconds retry_after_or_delay) {
  impl_->faults.push(fault, count, retry_after_or_delay);
}

void embeddings_double::precompute(std::span<const std::string> inputs) {
  std::unordered_map<std::string, std::vector<float>> computed;
  for (const auto& input : inputs) computed.emplace(input, embed(input, impl_->options.dimensions));
  std::unique_lock lock(impl_->precomputed_mutex);
  impl_->precomputed.merge(computed);
}

std::size_t embeddings_double::requests() const {
  return impl_->request_count.load();
}

std::size_t embeddings_double::inputs_embedded() const {
  return impl_->inputs_embedded_count.load();
}

std::size_t embeddings_double::base64_requests() const {
  return impl_->base64_request_count.load();
}

std::size_t embeddings_double::connections() const {
  return impl_->server.connections();
}

std::size_t embeddings_double::open_requests() const {
  return impl_->server.open_requests();
}

bool embeddings_double::wait_for_open_requests(std::size_t count,
                                               std::chrono::milliseconds timeout) const {
  return impl_->server.wait_for_open_requests(count, timeout);
}

}  // namespace bookmcp::testing
