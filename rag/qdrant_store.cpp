#include "rag/qdrant_store.hpp"

#include <openssl/sha.h>

#include <algorithm>
#include <atomic>
#include <cmath>
#include <limits>
#include <mutex>
#include <nlohmann/json.hpp>
#include <optional>
#include <random>
#include <thread>

#include "rag/http_client.hpp"
#include "rag/text.hpp"

namespace bookmcp::rag {

namespace {

using json = nlohmann::json;

constexpr const char* dense_name = "dense";
constexpr const char* sparse_name = "bm25";
constexpr int metadata_schema = 1;

std::string hex_hash(std::uint64_t value) {
  return to_hex(value);
}

std::uint64_t parse_hex_hash(const json& value) {
  if (!value.is_string()) return 0;
  const std::string text = value.get<std::string>();
  try {
    return std::stoull(text, nullptr, 16);
  } catch (...) {
    return 0;
  }
}

// The `result` of a 200 answer's envelope.
json qdrant_result(std::string_view body, std::string_view call) {
  json envelope = json::parse(body, nullptr, /*allow_exceptions=*/false);
  if (envelope.is_discarded())
    throw vector_store_error("Qdrant answered " + std::string(call) +
                             " with something that is not JSON");
  if (!envelope.is_object() || !envelope.contains("result"))
    throw vector_store_error("Qdrant answered " + std::string(call) + " without a result");
  return std::move(envelope["result"]);
}

[[noreturn]] void unexpected(std::string_view call, std::string_view what) {
  throw vector_store_error("Qdrant answered " + std::string(call) + " with " + std::string(what));
}

// The member `key` of `object`: null when absent or null; else of the kind `is_kind` tells,
// or the answer is refused (a string where a number belongs used to escape as json::type_error,
// past every caller's vector_store_error fallback).
const json& member(const json& object, const char* key, bool (json::*is_kind)() const noexcept,
                   std::string_view call, std::string_view what) {
  static const json null;
  const auto found = object.find(key);
  if (found == object.end() || found->is_null()) return null;
  if (!((*found).*is_kind)()) unexpected(call, what);
  return *found;
}

const json& object_member(const json& object, const char* key, std::string_view call) {
  return member(object, key, &json::is_object, call, std::string(key) + " that is not an object");
}

const json& result_object(std::string_view body, std::string_view call, json& result) {
  result = qdrant_result(body, call);
  if (!result.is_object()) unexpected(call, "a result that is not an object");
  return result;
}

// The points of a query or scroll result, each an object.
const json& points_of(const json& result, std::string_view call) {
  const json& points = member(result, "points", &json::is_array, call, "points that are not a list");
  for (const json& point : points) {
    if (!point.is_object()) unexpected(call, "a point that is not an object");
  }
  return points;
}

// The payload's chunk_id of a point, when it has one.
const json* chunk_id_of(const json& point) {
  const auto payload = point.find("payload");
  if (payload == point.end() || !payload->is_object()) return nullptr;
  const auto chunk_id = payload->find("chunk_id");
  if (chunk_id == payload->end() || !chunk_id->is_string()) return nullptr;
  return &*chunk_id;
}

json filter_for(std::string_view path_prefix) {
  if (path_prefix.empty()) return nullptr;
  return {{"must", json::array({{{"key", "path_prefixes"},
                                 {"match", {{"value", std::string(path_prefix)}}}}})}};
}

json sparse_json(const sparse_vector& sparse) {
  return {{"indices", sparse.indices}, {"values", sparse.values}};
}

class qdrant_store final : public vector_store {
 public:
  explicit qdrant_store(qdrant_options options)
      : options_(std::move(options)),
        client_(
            options_.url,
            {.timeout = options_.timeout, .max_idle_connections = 8, .ca_file = options_.ca_file}) {
    const auto& name = options_.collection;
    if (name.empty() || name.size() > 255 || name.find('/') != std::string::npos ||
        name.find_first_of("?#% ") != std::string::npos) {
      throw std::invalid_argument(
          "the Qdrant collection name \"" + name +
          "\" must be 1-255 characters without '/', '?', '#', '%' or spaces");
    }
    base_ = "/collections/" + name;
  }

  std::string_view kind() const noexcept override { return "qdrant"; }
  bool serves_lexical() const noexcept override { return true; }

  std::string fingerprint() const override {
    ensure_state();
    std::lock_guard lock(mutex_);
    return fingerprint_;
  }

  void reset(const std::string& fingerprint) override {
    // Deleting a missing collection answers 200 false: nothing to special-case.
    read_qdrant_write_answer(request("DELETE", base_, nullptr, call_kind::write), "DELETE " + base_);
    std::lock_guard lock(mutex_);
    loaded_ = true;
    exists_ = false;
    dimensions_ = 0;
    fingerprint_ = fingerprint;
  }

  std::unordered_map<std::string, std::uint64_t> contents() const override {
    std::unordered_map<std::string, std::uint64_t> out;
    if (!collection_exists()) return out;
    const std::string target = base_ + "/points/scroll";
    std::optional<std::string> offset;
    do {
      json body = {{"limit", 1000},
                   {"with_payload", json::array({"chunk_id", "content_hash"})},
                   {"with_vector", false}};
      if (offset) body["offset"] = json::parse(*offset);
      qdrant_scroll_page page = read_qdrant_scroll_answer(
          request("POST", target, body, call_kind::read), "POST " + target);
      for (auto& [chunk_id, hash] : page.chunks) out[std::move(chunk_id)] = hash;
      // A page that names itself as the next one would be asked for forever.
      if (page.next_offset && page.next_offset == offset)
        throw vector_store_error("Qdrant's scroll of " + base_ + " did not advance past " + *offset);
      offset = std::move(page.next_offset);
    } while (offset);
    return out;
  }

  std::size_t size() const override {
    if (!collection_exists()) return 0;
    const std::string target = base_ + "/points/count";
    return read_qdrant_count_answer(request("POST", target, {{"exact", true}}, call_kind::read),
                                    "POST " + target);
  }

  std::size_t dimensions() const override {
    ensure_state();
    std::lock_guard lock(mutex_);
    return dimensions_;
  }

  void upsert(std::span<const vector_entry> entries) override {
    if (entries.empty()) return;
    const std::size_t dimensions = entries.front().vector.size();
    ensure_collection(dimensions);
    for (std::size_t begin = 0; begin < entries.size(); begin += options_.upsert_batch) {
      const std::size_t end = std::min(entries.size(), begin + options_.upsert_batch);
      json points = json::array();
      for (std::size_t i = begin; i < end; ++i) {
        const vector_entry& entry = entries[i];
        if (entry.vector.size() != dimensions) {
          throw std::invalid_argument("a vector of " + std::to_string(entry.vector.size()) +
                                      " dimensions for a collection of " +
                                      std::to_string(dimensions));
        }
        json vectors = {{dense_name, entry.vector}};
        if (!entry.sparse.empty()) vectors[sparse_name] = sparse_json(entry.sparse);
        points.push_back({{"id", qdrant_point_id(entry.chunk_id)},
                          {"vector", std::move(vectors)},
                          {"payload",
                           {{"chunk_id", entry.chunk_id},
                            {"doc_path", entry.document_path},
                            {"path_prefixes", path_prefixes(entry.document_path)},
                            {"content_hash", hex_hash(entry.content_hash)}}}});
      }
      const std::string target = base_ + "/points?wait=true";
      read_qdrant_write_answer(
          request("PUT", target, {{"points", std::move(points)}}, call_kind::write), "PUT " + target);
    }
  }

  void remove(std::span<const std::string> chunk_ids) override {
    if (chunk_ids.empty() || !collection_exists()) return;
    for (std::size_t begin = 0; begin < chunk_ids.size(); begin += 1000) {
      json ids = json::array();
      for (std::size_t i = begin; i < std::min(chunk_ids.size(), begin + 1000); ++i)
        ids.push_back(qdrant_point_id(chunk_ids[i]));
      const std::string target = base_ + "/points/delete?wait=true";
      read_qdrant_write_answer(
          request("POST", target, {{"points", std::move(ids)}}, call_kind::write),
          "POST " + target);
    }
  }

  std::vector<dense_hit> search(std::span<const float> query, std::size_t limit,
                                std::string_view path_prefix) const override {
    if (limit == 0) return {};
    require_collection();
    json body = {{"query", std::vector<float>(query.begin(), query.end())},
                 {"using", dense_name},
                 {"limit", limit},
                 {"with_payload", json::array({"chunk_id"})}};
    if (json filter = filter_for(path_prefix); !filter.is_null()) body["filter"] = filter;
    return run_query(body);
  }

  std::vector<dense_hit> sparse_search(const sparse_vector& query, std::size_t limit,
                                       std::string_view path_prefix) const override {
    if (limit == 0 || query.empty()) return {};
    require_collection();
    json body = {{"query", sparse_json(query)},
                 {"using", sparse_name},
                 {"limit", limit},
                 {"with_payload", json::array({"chunk_id"})}};
    if (json filter = filter_for(path_prefix); !filter.is_null()) body["filter"] = filter;
    return run_query(body);
  }

  std::vector<dense_hit> hybrid_search(std::span<const float> dense, const sparse_vector& sparse,
                                       std::size_t limit, std::size_t depth,
                                       std::string_view path_prefix) const override {
    if (limit == 0) return {};
    require_collection();
    // Prefetch limits at least the page: fusion can only rank what it is given.
    depth = std::max(depth, limit);
    json prefetch = json::array({{{"query", std::vector<float>(dense.begin(), dense.end())},
                                  {"using", dense_name},
                                  {"limit", depth}}});
    if (!sparse.empty())
      prefetch.push_back(
          {{"query", sparse_json(sparse)}, {"using", sparse_name}, {"limit", depth}});
    json body = {{"prefetch", std::move(prefetch)},
                 {"query", {{"fusion", "rrf"}}},
                 {"limit", limit},
                 {"with_payload", json::array({"chunk_id"})}};
    // The root filter is applied inside every prefetch by Qdrant.
    if (json filter = filter_for(path_prefix); !filter.is_null()) body["filter"] = filter;
    return run_query(body);
  }

  void commit(std::int64_t generation) override { generation_ = generation; }
  std::int64_t generation() const override { return generation_.load(); }

  std::string probe() const override {
    try {
      http_request request;
      request.method = "GET";
      request.target = "/readyz";
      request.timeout = std::chrono::milliseconds(2000);
      http_response response = client_.send(request);
      if (response.status == 200) return {};
      return "Qdrant at " + client_.origin() + " is not ready (" + std::to_string(response.status) +
             ")";
    } catch (const http_error& error) {
      return error.what();
    }
  }

 private:
  enum class call_kind { read, write, search };

  std::vector<dense_hit> run_query(const json& body) const {
    const std::string target = base_ + "/points/query";
    return read_qdrant_query_answer(request("POST", target, body, call_kind::search),
                                    "POST " + target);
  }

  // Sends one request; returns the body of its 200 answer, for a read_qdrant_* function.
  // Retries what may be retried; throws vector_store_error otherwise.
  std::string request(const std::string& method, const std::string& target, const json& body,
                      call_kind kind) const {
    http_request message;
    message.method = method;
    message.target = target;
    if (!body.is_null()) {
      message.body = body.dump(-1, ' ', false, json::error_handler_t::replace);
      message.headers.emplace_back("Content-Type", "application/json");
    }
    if (!options_.api_key.empty()) message.headers.emplace_back("api-key", options_.api_key);
    if (kind == call_kind::search) message.timeout = options_.search_timeout;
    const int retries = kind == call_kind::search ? 0 : options_.max_retries;
    std::string problem;
    for (int attempt = 0;; ++attempt) {
      std::optional<std::chrono::milliseconds> hint;
      try {
        http_response response = client_.send(message);
        if (response.status == 200) return std::move(response.body);
        const std::string message_text = qdrant_error_message(response.body);
        if (response.status == 401 || response.status == 403) {
          throw vector_store_error("Qdrant at " + client_.origin() + " refused the API key (" +
                                   std::to_string(response.status) + "): " + message_text +
                                   "; check QDRANT_API_KEY");
        }
        if (response.status == 429 || response.status == 502 || response.status == 503 ||
            response.status == 504 || response.status == 408) {
          problem = std::to_string(response.status) + ": " + message_text;
          hint = retry_hint(response, std::chrono::milliseconds(120'000));
        } else {
          throw vector_store_error("Qdrant refused " + method + " " + target + " (" +
                                   std::to_string(response.status) + "): " + message_text);
        }
      } catch (const http_error& error) {
        if (error.error_kind() == http_error::kind::bad_url ||
            error.error_kind() == http_error::kind::tls)
          throw vector_store_error(std::string("Qdrant: ") + error.what());
        problem = error.what();
      }
      if (attempt >= retries) {
        throw vector_store_error(
            "Qdrant at " + client_.origin() + " failed (" + problem + ")" +
            (attempt > 0 ? " after " + std::to_string(attempt + 1) + " attempts" : ""));
      }
      auto wait =
          hint ? *hint : backoff_delay(attempt, options_.backoff_base, options_.backoff_max);
      std::this_thread::sleep_for(std::min(wait, std::chrono::milliseconds(120'000)));
    }
  }

  // Reads whether the collection exists, its dense dimension and its fingerprint, once.
  void ensure_state() const {
    {
      std::lock_guard lock(mutex_);
      if (loaded_) return;
    }
    const std::string exists_target = base_ + "/exists";
    bool present = read_qdrant_exists_answer(
        request("GET", exists_target, nullptr, call_kind::read), "GET " + exists_target);
    std::size_t dimensions = 0;
    std::string fingerprint;
    if (present) {
      qdrant_collection_info info = read_qdrant_collection_answer(
          request("GET", base_, nullptr, call_kind::read), "GET " + base_);
      dimensions = info.dimensions;
      fingerprint = std::move(info.fingerprint);
      if (!info.has_dense || !info.has_sparse) {
        // Someone else's collection under our name: never write into it.
        throw vector_store_error("the Qdrant collection \"" + options_.collection +
                                 "\" exists without the vectors bookmcp keeps (\"dense\" and "
                                 "\"bm25\"): choose another with --qdrant-collection");
      }
    }
    std::lock_guard lock(mutex_);
    if (loaded_) return;
    loaded_ = true;
    exists_ = present;
    dimensions_ = dimensions;
    // A collection not made yet keeps the fingerprint reset() gave it: the one it is made with.
    if (present) fingerprint_ = fingerprint;
  }

  // Searching a collection not made yet (nothing embedded so far) is a failure, not "no
  // match": search then answers from the local index and says why.
  void require_collection() const {
    if (!collection_exists())
      throw vector_store_error("the Qdrant collection \"" + options_.collection +
                               "\" does not exist yet: nothing has been embedded");
  }

  // Whether the collection exists; a "no" is asked again each time (another replica may have
  // made it since), a "yes" is remembered.
  bool collection_exists() const {
    ensure_state();
    {
      std::lock_guard lock(mutex_);
      if (exists_) return true;
      loaded_ = false;
    }
    ensure_state();
    std::lock_guard lock(mutex_);
    return exists_;
  }

  // Creates the collection (with the fingerprint in its metadata) and the payload indexes
  // before the first upsert, as Qdrant advises (filters on unindexed fields can be refused).
  void ensure_collection(std::size_t dimensions) {
    ensure_state();
    std::string fingerprint;
    {
      std::lock_guard lock(mutex_);
      if (exists_) {
        if (dimensions != dimensions_) {
          throw vector_store_error("the Qdrant collection \"" + options_.collection +
                                   "\" holds vectors of " + std::to_string(dimensions_) +
                                   " dimensions, these have " + std::to_string(dimensions));
        }
        return;
      }
      fingerprint = fingerprint_;
    }
    json create = {
        {"vectors", {{dense_name, {{"size", dimensions}, {"distance", "Cosine"}}}}},
        {"sparse_vectors", {{sparse_name, {{"modifier", "idf"}}}}},
        {"metadata", {{"bookmcp", {{"schema", metadata_schema}, {"fingerprint", fingerprint}}}}}};
    try {
      read_qdrant_write_answer(request("PUT", base_, create, call_kind::write), "PUT " + base_);
    } catch (const vector_store_error& error) {
      // 409: another replica created it meanwhile; read what it made.
      if (std::string(error.what()).find("(409)") == std::string::npos) throw;
      std::lock_guard lock(mutex_);
      loaded_ = false;
    }
    for (const char* field : {"doc_path", "path_prefixes"}) {
      const std::string target = base_ + "/index?wait=true";
      read_qdrant_write_answer(
          request("PUT", target, {{"field_name", field}, {"field_schema", "keyword"}},
                  call_kind::write),
          "PUT " + target);
    }
    ensure_state();
    std::lock_guard lock(mutex_);
    exists_ = true;
    dimensions_ = dimensions;
  }

  qdrant_options options_;
  mutable http_client client_;
  std::string base_;
  mutable std::mutex mutex_;  // guards the state below
  mutable bool loaded_ = false;
  mutable bool exists_ = false;
  mutable std::size_t dimensions_ = 0;
  mutable std::string fingerprint_;
  std::atomic<std::int64_t> generation_{0};
};

}  // namespace

std::string qdrant_point_id(std::string_view chunk_id) {
  // RFC 4122 URL namespace 6ba7b811-9dad-11d1-80b4-00c04fd430c8.
  static constexpr unsigned char url_namespace[16] = {0x6b, 0xa7, 0xb8, 0x11, 0x9d, 0xad,
                                                      0x11, 0xd1, 0x80, 0xb4, 0x00, 0xc0,
                                                      0x4f, 0xd4, 0x30, 0xc8};
  std::string input(reinterpret_cast<const char*>(url_namespace), 16);
  input += "bookmcp:";
  input += chunk_id;
  unsigned char digest[SHA_DIGEST_LENGTH];
  SHA1(reinterpret_cast<const unsigned char*>(input.data()), input.size(), digest);
  digest[6] = static_cast<unsigned char>((digest[6] & 0x0f) | 0x50);  // version 5
  digest[8] = static_cast<unsigned char>((digest[8] & 0x3f) | 0x80);  // RFC 4122 variant
  static constexpr char hex[] = "0123456789abcdef";
  std::string out;
  for (int i = 0; i < 16; ++i) {
    if (i == 4 || i == 6 || i == 8 || i == 10) out += '-';
    out += hex[digest[i] >> 4];
    out += hex[digest[i] & 0x0f];
  }
  return out;
}

std::vector<std::string> path_prefixes(std::string_view document_path) {
  std::vector<std::string> out;
  for (std::size_t i = 1; i < document_path.size(); ++i) {
    if (document_path[i] == '/' || document_path[i] == '.')
      out.emplace_back(document_path.substr(0, i));
  }
  out.emplace_back(document_path);
  std::sort(out.begin(), out.end());
  out.erase(std::unique(out.begin(), out.end()), out.end());
  return out;
}

void read_qdrant_write_answer(std::string_view body, std::string_view call) {
  qdrant_result(body, call);
}

std::vector<dense_hit> read_qdrant_query_answer(std::string_view body, std::string_view call) {
  json result;
  std::vector<dense_hit> hits;
  for (const json& point : points_of(result_object(body, call, result), call)) {
    const json* chunk_id = chunk_id_of(point);
    if (!chunk_id) continue;
    // ScoredPoint's score is an f32: a double past it made the float conversion undefined.
    const json& score = member(point, "score", &json::is_number, call, "a score that is not a number");
    const double value = score.is_null() ? 0.0 : score.get<double>();
    if (!(std::fabs(value) <= std::numeric_limits<float>::max()))
      unexpected(call, "a score out of range");
    hits.push_back({chunk_id->get<std::string>(), static_cast<float>(value)});
  }
  return hits;
}

qdrant_scroll_page read_qdrant_scroll_answer(std::string_view body, std::string_view call) {
  json result;
  qdrant_scroll_page page;
  for (const json& point : points_of(result_object(body, call, result), call)) {
    const json* chunk_id = chunk_id_of(point);
    if (!chunk_id) continue;
    page.chunks.emplace_back(chunk_id->get<std::string>(),
                             parse_hex_hash(point["payload"].value("content_hash", json())));
  }
  const auto next = result.find("next_page_offset");
  if (next != result.end() && !next->is_null()) {
    // Point ids are unsigned integers or UUIDs.
    if (!next->is_number_unsigned() && !next->is_string())
      unexpected(call, "a next page offset that is not a point id");
    page.next_offset = next->dump(-1, ' ', false, json::error_handler_t::replace);
  }
  return page;
}

std::size_t read_qdrant_count_answer(std::string_view body, std::string_view call) {
  json result;
  const json& count = member(result_object(body, call, result), "count", &json::is_number_unsigned,
                             call, "a count that is not a whole number");
  return count.is_null() ? 0 : count.get<std::size_t>();
}

bool read_qdrant_exists_answer(std::string_view body, std::string_view call) {
  json result;
  const json& exists = member(result_object(body, call, result), "exists", &json::is_boolean, call,
                              "an exists that is not true or false");
  return !exists.is_null() && exists.get<bool>();
}

qdrant_collection_info read_qdrant_collection_answer(std::string_view body, std::string_view call) {
  json result;
  qdrant_collection_info info;
  const json& config = object_member(result_object(body, call, result), "config", call);
  if (config.is_null()) return info;
  if (const json& params = object_member(config, "params", call); !params.is_null()) {
    const auto vectors = params.find("vectors");
    if (vectors != params.end() && vectors->is_object() && vectors->contains(dense_name)) {
      info.has_dense = true;
      const json& dense = (*vectors)[dense_name];
      const auto size = dense.is_object() ? dense.find("size") : dense.end();
      if (!dense.is_object() || size == dense.end() || !size->is_number_unsigned() ||
          size->get<std::uint64_t>() < 1 || size->get<std::uint64_t>() > 65536)
        unexpected(call, "a dense vector without a size from 1 to 65536");
      info.dimensions = size->get<std::size_t>();
    }
    const auto sparse = params.find("sparse_vectors");
    info.has_sparse = sparse != params.end() && sparse->is_object() && sparse->contains(sparse_name);
  }
  const json& metadata = object_member(config, "metadata", call);
  if (!metadata.is_null()) {
    const auto bookmcp = metadata.find("bookmcp");
    if (bookmcp != metadata.end() && bookmcp->is_object()) {
      const json& fingerprint = member(*bookmcp, "fingerprint", &json::is_string, call,
                                       "a fingerprint that is not a string");
      if (!fingerprint.is_null()) info.fingerprint = fingerprint.get<std::string>();
    }
  }
  return info;
}

std::string qdrant_error_message(std::string_view body) {
  std::string message;
  const json parsed = json::parse(body, nullptr, /*allow_exceptions=*/false);
  if (parsed.is_object()) {
    const auto status = parsed.find("status");
    if (status != parsed.end() && status->is_object()) {
      const auto error = status->find("error");
      if (error != status->end() && error->is_string()) message = error->get<std::string>();
    }
  }
  if (message.empty()) message = std::string(body);
  // Plain text may be anything: a message goes into logs and tool results (JSON) as UTF-8.
  if (!is_valid_utf8(message)) {
    for (char& c : message) {
      if (static_cast<unsigned char>(c) >= 0x80) c = '?';
    }
  }
  if (message.size() > 300) {
    std::size_t cut = 300;
    while (cut > 0 && (static_cast<unsigned char>(message[cut]) & 0xC0) == 0x80) --cut;
    message = message.substr(0, cut) + "…";
  }
  for (char& c : message) {
    if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f) c = ' ';
  }
  return message.empty() ? "(no message)" : message;
}

std::unique_ptr<vector_store> make_qdrant_vector_store(qdrant_options options) {
  return std::make_unique<qdrant_store>(std::move(options));
}

}  // namespace bookmcp::rag
