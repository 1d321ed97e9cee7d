// The Qdrant test double: the doubles' HTTP server (double_http_server.hpp) answering Qdrant
// 1.19's REST API from its published OpenAPI description and its server code at v1.19.0, over
// in-memory collections. See the header for the contract and /work/shared/design/qdrant.md for
// the behaviour it copies (section numbers below refer to it).
//
// The file has five parts:
//   1. small helpers: JSON text, f32 numbers, point ids, UUIDs, Qdrant's error layers;
//   2. the OpenAPI contract: schema rewriting, valijson validation, the unknown-key walk;
//   3. the collections: storage, filters, scoring, query planning (the computed part);
//   4. the request handlers: typed parsing in Qdrant's layer order, then execution;
//   5. the answers: faults, auth, routing, envelopes (the connections are double_http_server's).
//
// Choices made where Qdrant leaves something unspecified (documented for the client's author):
//   - equal scores are ordered by id, ascending (integer ids before UUIDs, UUIDs by bytes);
//     Qdrant does not break ties (qdrant.md §2.7);
//   - operation ids count per collection from 0, and every update (an upsert, a delete, a
//     payload index, each operation of a batch) takes the next one; a point's version is the
//     operation id of its last write;
//   - POST .../points (retrieve) answers in the order of the requested ids, without duplicates;
//   - a query without `query` and without prefetches (points in id order) reports score 0;
//   - unknown vector names in `query`/`prefetch` (root or nested) get the collection-level text
//     ("Collection requires specified vector name ..." / "Vector with name `x` is not
//     configured ..."), upserts get "Not existing vector name error: x";
//   - validation errors (422) report the first problem only; Qdrant lists them all.
#include "tests/testing/qdrant_double.hpp"

#include <algorithm>
#include <array>
#include <atomic>
#include <boost/beast/http.hpp>
#include <cfloat>
#include <charconv>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <limits>
#include <map>
#include <mutex>
#include <nlohmann/json.hpp>
#include <optional>
#include <set>
#include <sstream>
#include <stdexcept>
#include <unordered_map>
#include <utility>
#include <valijson/adapters/nlohmann_json_adapter.hpp>
#include <valijson/schema.hpp>
#include <valijson/schema_parser.hpp>
#include <valijson/validation_results.hpp>
#include <valijson/validator.hpp>
#include <variant>

#include "tests/testing/double_http_server.hpp"
#include "tests/testing/fault_queue.hpp"

#ifndef BOOKMCP_QDRANT_OPENAPI
#define BOOKMCP_QDRANT_OPENAPI ""
#endif

namespace bookmcp::testing {
namespace {

namespace http = boost::beast::http;
using json = nlohmann::json;
using namespace std::chrono_literals;

// Qdrant's service.max_request_size_mb default (config/config.yaml), wired into actix's JSON
// extractor limit.
constexpr std::uint64_t max_body_bytes = 32ull * 1024 * 1024;
// Qdrant's limit on a dense vector's size (a validator constraint, so 422).
constexpr std::uint64_t max_dense_size = 65536;
constexpr std::string_view server_name = "bookmcp-qdrant-double";

using request_type = double_request;
using response_type = double_response;

// =============================================================================================
// 1. Helpers
// =============================================================================================

// Text from the client (a key, a collection name) may be invalid UTF-8; nlohmann would throw.
std::string json_text(const json& value) {
  return value.dump(-1, ' ', false, json::error_handler_t::replace);
}

// Qdrant serialises f32 scores and vectors with the shortest text that round-trips the f32
// (serde_json uses ryu): 1/3 is written 0.33333334, not 0.3333333432674408. nlohmann writes
// doubles with the shortest text of the double, so the double that text denotes is stored.
double f32_json(float value) {
  if (!std::isfinite(value)) return 0.0;  // JSON has no NaN; Qdrant refuses non-finite input
  char digits[32];
  const auto written = std::to_chars(digits, digits + sizeof digits, value);
  double result = 0.0;
  std::from_chars(digits, written.ptr, result);
  return result;
}

json f32_array(const std::vector<float>& values) {
  json array = json::array();
  for (float value : values) array.push_back(f32_json(value));
  return array;
}

std::string lower_ascii(std::string_view text) {
  std::string out(text);
  for (char& c : out)
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  return out;
}

std::string_view trim(std::string_view text) {
  while (!text.empty() && (text.front() == ' ' || text.front() == '\t')) text.remove_prefix(1);
  while (!text.empty() && (text.back() == ' ' || text.back() == '\t')) text.remove_suffix(1);
  return text;
}

// Compares without an early exit, as Qdrant compares keys (`ct_eq`).
bool constant_time_equal(std::string_view a, std::string_view b) {
  unsigned char difference = a.size() == b.size() ? 0 : 1;
  for (std::size_t i = 0; i < a.size(); ++i)
    difference |= static_cast<unsigned char>(a[i] ^ (i < b.size() ? b[i] : 0));
  return difference == 0;
}

std::optional<std::string> percent_decode(std::string_view text) {
  std::string out;
  for (std::size_t i = 0; i < text.size(); ++i) {
    if (text[i] != '%') {
      out.push_back(text[i]);
      continue;
    }
    if (i + 2 >= text.size()) return std::nullopt;
    unsigned value = 0;
    const auto parsed = std::from_chars(text.data() + i + 1, text.data() + i + 3, value, 16);
    if (parsed.ec != std::errc() || parsed.ptr != text.data() + i + 3) return std::nullopt;
    out.push_back(static_cast<char>(value));
    i += 2;
  }
  return out;
}

// ---- point ids ----------------------------------------------------------------------------

using uuid_bytes = std::array<std::uint8_t, 16>;

// Rust's uuid::Uuid::parse_str accepts the simple (32 hex digits), hyphenated, urn
// ("urn:uuid:" + hyphenated) and braced ("{" + hyphenated + "}") forms, in either case.
std::optional<uuid_bytes> parse_uuid(std::string_view text) {
  if (text.size() == 45 && text.substr(0, 9) == "urn:uuid:") text.remove_prefix(9);
  if (text.size() == 38 && text.front() == '{' && text.back() == '}') text = text.substr(1, 36);
  std::string hex;
  if (text.size() == 36) {
    for (std::size_t i = 0; i < 36; ++i) {
      const bool dash = i == 8 || i == 13 || i == 18 || i == 23;
      if (dash != (text[i] == '-')) return std::nullopt;
      if (!dash) hex.push_back(text[i]);
    }
  } else if (text.size() == 32) {
    hex = text;
  } else {
    return std::nullopt;
  }
  uuid_bytes bytes{};
  for (std::size_t i = 0; i < 16; ++i) {
    unsigned value = 0;
    const auto parsed = std::from_chars(hex.data() + 2 * i, hex.data() + 2 * i + 2, value, 16);
    if (parsed.ec != std::errc() || parsed.ptr != hex.data() + 2 * i + 2) return std::nullopt;
    bytes[i] = static_cast<std::uint8_t>(value);
  }
  return bytes;
}

std::string format_uuid(const uuid_bytes& bytes) {
  static constexpr char digits[] = "0123456789abcdef";
  std::string out;
  for (std::size_t i = 0; i < 16; ++i) {
    if (i == 4 || i == 6 || i == 8 || i == 10) out.push_back('-');
    out.push_back(digits[bytes[i] >> 4]);
    out.push_back(digits[bytes[i] & 15]);
  }
  return out;
}

// ExtendedPointId: an unsigned 64-bit integer or a UUID. The member order makes the defaulted
// comparison Qdrant's: every integer before every UUID, integers by value, UUIDs by bytes.
struct point_id {
  bool is_uuid = false;
  std::uint64_t number = 0;
  uuid_bytes uuid{};
  friend auto operator<=>(const point_id&, const point_id&) = default;
};

json to_json(const point_id& id) {
  return id.is_uuid ? json(format_uuid(id.uuid)) : json(id.number);
}

std::string to_text(const point_id& id) {
  return id.is_uuid ? format_uuid(id.uuid) : std::to_string(id.number);
}

std::optional<point_id> parse_point_id(const json& value) {
  point_id id;
  if (value.is_number_unsigned()) {
    id.number = value.get<std::uint64_t>();
    return id;
  }
  if (value.is_number_integer()) {
    if (value.get<std::int64_t>() < 0) return std::nullopt;
    id.number = static_cast<std::uint64_t>(value.get<std::int64_t>());
    return id;
  }
  if (value.is_string()) {
    // No string-to-integer coercion: "42" is refused, as Qdrant refuses it.
    if (auto bytes = parse_uuid(value.get_ref<const std::string&>())) {
      id.is_uuid = true;
      id.uuid = *bytes;
      return id;
    }
  }
  return std::nullopt;
}

// Qdrant's text (lib/segment/src/types.rs, ExtendedPointId's Deserialize): strings unquoted.
std::string invalid_point_id_text(const json& value) {
  const std::string shown = value.is_string() ? value.get<std::string>() : json_text(value);
  return "value " + shown +
         " is not a valid point ID, valid values are either an unsigned integer or a UUID";
}

// ---- errors ---------------------------------------------------------------------------------

// Qdrant validates a request in layers, and the layer decides the status (qdrant.md §2.1):
// parsing (400 "Format error in JSON body: ..."), validator constraints (422 "Validation error in
// JSON body: [path: msg]"), then collection-aware checks and planning (400 "Wrong input: ..." or
// "Bad request: ..."), lookups (404 "Not found: ..."), conflicts (409).
enum class error_layer { format, validation, semantic };

struct api_error {
  http::status status = http::status::bad_request;
  std::string message;
  error_layer layer = error_layer::semantic;
};

[[noreturn]] void throw_format(std::string detail) {
  throw api_error{http::status::bad_request, "Format error in JSON body: " + std::move(detail),
                  error_layer::format};
}

api_error validation_failure(std::string_view path, std::string_view message) {
  return api_error{
      http::status::unprocessable_entity,
      "Validation error in JSON body: [" + std::string(path) + ": " + std::string(message) + "]",
      error_layer::validation};
}

[[noreturn]] void throw_wrong_input(std::string description) {
  throw api_error{http::status::bad_request, "Wrong input: " + std::move(description)};
}

[[noreturn]] void throw_bad_request(std::string description) {
  throw api_error{http::status::bad_request, "Bad request: " + std::move(description)};
}

[[noreturn]] void throw_not_found(std::string description) {
  throw api_error{http::status::not_found, "Not found: " + std::move(description)};
}

[[noreturn]] void throw_unsupported(std::string_view feature) {
  throw api_error{http::status::not_implemented,
                  std::string(feature) + " is not supported by the Qdrant double"};
}

std::string collection_missing_text(std::string_view name) {
  return "Collection `" + std::string(name) + "` doesn't exist!";
}

// =============================================================================================
// 2. The OpenAPI contract
// =============================================================================================

// Qdrant accepts the simple, hyphenated, urn and braced UUID forms; OpenAPI's `format: uuid` is
// not asserted by JSON Schema validators (qdrant.md §3.3), so it becomes this pattern.
constexpr const char* uuid_pattern =
    "^(?:[0-9a-fA-F]{32}|(?:urn:uuid:)?[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]"
    "{4}-[0-9a-fA-F]{12}|\\{[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]"
    "{12}\\})$";

// Turns one OpenAPI 3.0 schema into a draft-7 one that says what Qdrant accepts:
//   - a bare `{"nullable": true}` (the generator's way of writing "or absent" in an anyOf)
//     accepts anything under JSON Schema; it becomes "null only";
//   - `nullable: true` next to a type adds "null" to the type (and to an enum);
//   - `format: uuid` becomes a pattern; every other `format` is dropped (valijson asserts only
//     dates, which Qdrant parses more leniently, and throws on formats of non-strings);
//   - documentation keywords are dropped.
json rewrite_schema(const json& node) {
  if (!node.is_object()) return node;
  static const std::set<std::string> dropped = {
      "format",  "nullable", "example",  "examples",  "description",   "deprecated",
      "default", "title",    "readOnly", "writeOnly", "discriminator", "externalDocs"};
  json out = json::object();
  for (const auto& [key, value] : node.items()) {
    if (dropped.contains(key)) continue;
    if (key == "properties" && value.is_object()) {
      json properties = json::object();
      for (const auto& [name, schema] : value.items()) properties[name] = rewrite_schema(schema);
      out[key] = std::move(properties);
    } else if ((key == "items" || key == "additionalProperties" || key == "not") &&
               value.is_object()) {
      out[key] = rewrite_schema(value);
    } else if ((key == "anyOf" || key == "oneOf" || key == "allOf" || key == "items") &&
               value.is_array()) {
      json list = json::array();
      for (const auto& schema : value) list.push_back(rewrite_schema(schema));
      out[key] = std::move(list);
    } else {
      out[key] = value;
    }
  }
  if (auto format = node.find("format"); format != node.end() && *format == "uuid")
    out["pattern"] = uuid_pattern;
  if (auto nullable = node.find("nullable"); nullable != node.end() && *nullable == true) {
    static const std::set<std::string> bare_keys = {"nullable", "description", "default",
                                                    "example",  "deprecated",  "title"};
    const bool bare = std::all_of(node.items().begin(), node.items().end(),
                                  [](const auto& item) { return bare_keys.contains(item.key()); });
    if (bare) return json{{"type", "null"}};
    if (auto type = out.find("type"); type != out.end() && type->is_string()) {
      *type = json::array({*type, "null"});
      if (auto values = out.find("enum"); values != out.end() && values->is_array())
        values->push_back(nullptr);
    } else {
      out = json{{"anyOf", json::array({std::move(out), json{{"type", "null"}}})}};
    }
  }
  return out;
}

// One schema, compiled for valijson, with its rewritten source (for the unknown-key walk).
struct compiled_schema {
  json source;
  valijson::Schema schema;
};

// One operation of the OpenAPI description.
struct api_operation {
  std::string id;                     // operationId
  std::string method;                 // "GET", "PUT", ...
  std::vector<std::string> segments;  // the path template split at '/'
  std::set<std::string> query_parameters;
  std::unique_ptr<compiled_schema> request;         // its body's schema, for served operations
  std::unique_ptr<compiled_schema> response_ok;     // its "200" JSON schema, likewise
  std::unique_ptr<compiled_schema> response_error;  // its "4XX" (or "default") schema
};

std::vector<std::string> split_path(std::string_view path) {
  std::vector<std::string> segments;
  std::size_t start = 0;
  while (start < path.size()) {
    if (path[start] == '/') {
      ++start;
      continue;
    }
    const std::size_t end = std::min(path.find('/', start), path.size());
    segments.emplace_back(path.substr(start, end - start));
    start = end;
  }
  return segments;
}

// The operations the double serves; the others of the description are answered with 501.
const std::set<std::string>& served_operations() {
  static const std::set<std::string> served = {"root",
                                               "healthz",
                                               "readyz",
                                               "livez",
                                               "get_collections",
                                               "get_collection",
                                               "create_collection",
                                               "update_collection",
                                               "delete_collection",
                                               "collection_exists",
                                               "create_field_index",
                                               "delete_field_index",
                                               "upsert_points",
                                               "get_points",
                                               "get_point",
                                               "delete_points",
                                               "scroll_points",
                                               "count_points",
                                               "query_points",
                                               "query_batch_points",
                                               "batch_update",
                                               "update_aliases",
                                               "get_collections_aliases",
                                               "get_collection_aliases"};
  return served;
}

// The OpenAPI description, loaded once per file and process (compiling the schemas takes a
// moment) and shared read-only between doubles and threads.
class openapi_contract {
 public:
  explicit openapi_contract(const std::string& path) {
    std::ifstream file(path, std::ios::binary);
    if (!file) throw std::runtime_error("qdrant double: cannot read the OpenAPI file " + path);
    json document = json::parse(file, nullptr, false);
    if (document.is_discarded() || !document.contains("paths") || !document.contains("components"))
      throw std::runtime_error("qdrant double: " + path + " is not an OpenAPI description");

    json schemas = json::object();
    for (const auto& [name, schema] : document["components"]["schemas"].items())
      schemas[name] = rewrite_schema(schema);
    document_ = json{{"components", {{"schemas", std::move(schemas)}}}};

    for (const auto& [template_path, methods] : document["paths"].items()) {
      for (const auto& [method, operation] : methods.items()) {
        if (!operation.is_object() || !operation.contains("operationId")) continue;
        auto entry = std::make_unique<api_operation>();
        entry->id = operation["operationId"].get<std::string>();
        entry->method = method;
        std::transform(entry->method.begin(), entry->method.end(), entry->method.begin(),
                       [](unsigned char c) { return static_cast<char>(std::toupper(c)); });
        entry->segments = split_path(template_path);
        for (const auto& parameter : operation.value("parameters", json::array()))
          if (parameter.value("in", "") == "query")
            entry->query_parameters.insert(parameter.value("name", ""));
        if (served_operations().contains(entry->id)) {
          const json::json_pointer body_at("/requestBody/content/application~1json/schema");
          if (operation.contains(body_at)) entry->request = compile(operation.at(body_at));
          const auto& responses = operation.value("responses", json::object());
          if (auto ok = responses.find("200"); ok != responses.end()) {
            const json::json_pointer schema_at("/content/application~1json/schema");
            if (ok->contains(schema_at)) entry->response_ok = compile(ok->at(schema_at));
          }
          for (const char* key : {"4XX", "default"}) {
            const json::json_pointer schema_at("/content/application~1json/schema");
            if (auto error = responses.find(key);
                !entry->response_error && error != responses.end() && error->contains(schema_at))
              entry->response_error = compile(error->at(schema_at));
          }
        }
        operations_.push_back(std::move(entry));
      }
    }
  }

  static std::shared_ptr<const openapi_contract> shared(const std::string& path) {
    static std::mutex mutex;
    static std::map<std::string, std::shared_ptr<const openapi_contract>> loaded;
    std::lock_guard lock(mutex);
    auto& slot = loaded[path];
    if (!slot) slot = std::make_shared<const openapi_contract>(path);
    return slot;
  }

  // The operation whose template matches (most literal segments win: GET /collections/aliases
  // is not GET /collections/{collection_name}); nullptr when none does.
  const api_operation* find(std::string_view method, const std::vector<std::string>& segments,
                            bool any_method = false) const {
    const api_operation* best = nullptr;
    int best_literals = -1;
    for (const auto& operation : operations_) {
      if ((!any_method && operation->method != method) ||
          operation->segments.size() != segments.size())
        continue;
      int literals = 0;
      bool match = true;
      for (std::size_t i = 0; i < segments.size() && match; ++i) {
        const std::string& part = operation->segments[i];
        if (part.size() > 1 && part.front() == '{' && part.back() == '}') continue;
        if (part == segments[i])
          ++literals;
        else
          match = false;
      }
      if (match && literals > best_literals) {
        best = operation.get();
        best_literals = literals;
      }
    }
    return best;
  }

  const api_operation* by_id(std::string_view id) const {
    for (const auto& operation : operations_)
      if (operation->id == id) return operation.get();
    return nullptr;
  }

  // What is wrong with `value` under `schema`, one "JSON pointer: message" line each, the deepest
  // first (for an untagged union, the branch that got furthest says the most); empty when it is
  // valid.
  std::vector<std::string> validate(const compiled_schema& schema, const json& value) const {
    valijson::Validator validator(valijson::Validator::kStrongTypes);
    valijson::ValidationResults results;
    // valijson reads integers as int64: a u64 id above INT64_MAX would look negative.
    std::optional<json> clamped;
    if (has_big_unsigned(value)) clamped = clamp_unsigned(value);
    valijson::adapters::NlohmannJsonAdapter adapter(clamped ? *clamped : value);
    try {
      if (validator.validate(schema.schema, adapter, &results)) return {};
    } catch (const std::exception& error) {
      return {std::string("/: could not be validated: ") + error.what()};
    }
    // valijson reports the failing leaves and then each enclosing schema; keep the leaves.
    std::vector<std::pair<std::size_t, std::string>> leaves;
    std::vector<std::pair<std::size_t, std::string>> all;
    valijson::ValidationResults::Error error;
    while (results.popError(error)) {
      std::string line = describe_context(error.context) + ": " + error.description;
      const bool enclosing = error.description.find("Failed to validate") != std::string::npos;
      if (!enclosing) leaves.emplace_back(error.context.size(), line);
      all.emplace_back(error.context.size(), std::move(line));
    }
    auto& chosen = leaves.empty() ? all : leaves;
    std::stable_sort(chosen.begin(), chosen.end(),
                     [](const auto& a, const auto& b) { return a.first > b.first; });
    std::vector<std::string> out;
    for (auto& [depth, line] : chosen)
      if (std::find(out.begin(), out.end(), line) == out.end()) out.push_back(std::move(line));
    return out;
  }

  // Keys of `value` that no schema it could match declares (Qdrant ignores them silently), as
  // "JSON pointer: unknown key" lines appended to `out`. Objects closed by
  // `additionalProperties: false` are left to `validate`.
  void unknown_keys(const compiled_schema& schema, const json& value,
                    std::vector<std::string>& out) const {
    walk({&schema.source}, value, "", out, 0);
  }

 private:
  std::unique_ptr<compiled_schema> compile(const json& openapi_schema) const {
    auto compiled = std::make_unique<compiled_schema>();
    compiled->source = rewrite_schema(openapi_schema);
    json document = compiled->source;
    if (!document.is_object()) document = json::object();
    document["components"] = document_["components"];
    try {
      valijson::SchemaParser parser(valijson::SchemaParser::kDraft7);
      valijson::adapters::NlohmannJsonAdapter adapter(document);
      parser.populateSchema(adapter, compiled->schema);
    } catch (const std::exception& error) {
      throw std::runtime_error(std::string("qdrant double: cannot compile a schema: ") +
                               error.what());
    }
    return compiled;
  }

  static bool has_big_unsigned(const json& value) {
    if (value.is_number_unsigned())
      return value.get<std::uint64_t>() >
             static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max());
    if (value.is_array() || value.is_object())
      return std::any_of(value.begin(), value.end(),
                         [](const json& item) { return has_big_unsigned(item); });
    return false;
  }

  static json clamp_unsigned(const json& value) {
    if (value.is_number_unsigned() &&
        value.get<std::uint64_t>() >
            static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max()))
      return json(std::numeric_limits<std::int64_t>::max());
    if (value.is_array()) {
      json out = json::array();
      for (const auto& item : value) out.push_back(clamp_unsigned(item));
      return out;
    }
    if (value.is_object()) {
      json out = json::object();
      for (const auto& [key, item] : value.items()) out[key] = clamp_unsigned(item);
      return out;
    }
    return value;
  }

  static std::string describe_context(const std::vector<std::string>& context) {
    // valijson's context looks like {"<root>", "[points]", "[0]", "[id]"}.
    std::string pointer;
    for (const auto& part : context) {
      if (part == "<root>") continue;
      std::string_view name = part;
      if (name.size() >= 2 && name.front() == '[' && name.back() == ']')
        name = name.substr(1, name.size() - 2);
      if (name.size() >= 2 && name.front() == '"' && name.back() == '"')
        name = name.substr(1, name.size() - 2);
      pointer += "/";
      pointer += name;
    }
    return pointer.empty() ? "/" : pointer;
  }

  const json* resolve(const json& schema) const {
    const json* current = &schema;
    for (int hops = 0; hops < 32; ++hops) {
      auto ref = current->find("$ref");
      if (ref == current->end() || !ref->is_string()) return current;
      const std::string& target = ref->get_ref<const std::string&>();
      if (target.empty() || target[0] != '#') return nullptr;
      const json::json_pointer pointer(target.substr(1));
      if (!document_.contains(pointer)) return nullptr;
      current = &document_.at(pointer);
    }
    return nullptr;
  }

  // The alternatives a value could match: $refs followed, anyOf/oneOf/allOf opened.
  void flatten(const json& schema, std::vector<const json*>& out, int depth) const {
    if (depth > 32 || !schema.is_object()) return;
    const json* resolved = resolve(schema);
    if (resolved == nullptr) return;
    bool composite = false;
    for (const char* key : {"anyOf", "oneOf", "allOf"}) {
      if (auto list = resolved->find(key); list != resolved->end() && list->is_array()) {
        composite = true;
        for (const auto& item : *list) flatten(item, out, depth + 1);
      }
    }
    if (!composite || resolved->contains("type") || resolved->contains("properties"))
      out.push_back(resolved);
  }

  static bool has_type(const json& schema, std::string_view type) {
    auto declared = schema.find("type");
    if (declared == schema.end()) return false;
    if (declared->is_string()) return *declared == type;
    if (declared->is_array())
      return std::any_of(declared->begin(), declared->end(),
                         [&](const json& item) { return item == type; });
    return false;
  }

  static bool is_object_schema(const json& schema) {
    return has_type(schema, "object") ||
           (!schema.contains("type") &&
            (schema.contains("properties") || schema.contains("additionalProperties")));
  }

  // A schema that constrains nothing (after the rewrite, e.g. an undocumented `{}`).
  static bool accepts_anything(const json& schema) {
    for (const char* key : {"type", "properties", "additionalProperties", "items", "enum",
                            "pattern", "const", "anyOf", "oneOf", "allOf", "$ref"})
      if (schema.contains(key)) return false;
    return true;
  }

  void walk(const std::vector<const json*>& schemas, const json& value, const std::string& path,
            std::vector<std::string>& out, int depth) const {
    if (depth > 64 || !(value.is_object() || value.is_array())) return;
    if (value.is_array() && std::none_of(value.begin(), value.end(), [](const json& item) {
          return item.is_object() || item.is_array();
        }))
      return;  // a vector of numbers, say: no keys below
    std::vector<const json*> branches;
    for (const json* schema : schemas) flatten(*schema, branches, 0);
    if (value.is_object()) {
      std::vector<const json*> objects;
      for (const json* branch : branches) {
        if (is_object_schema(*branch))
          objects.push_back(branch);
        else if (accepts_anything(*branch))
          return;
      }
      if (objects.empty()) return;  // a type mismatch, which `validate` reports
      // Untagged alternatives (Condition, Query, PointInsertOperations...) are told apart the
      // way serde does in practice: by their required keys.
      auto required_present = [&](const json* branch) {
        auto required = branch->find("required");
        if (required == branch->end()) return true;
        return std::all_of(required->begin(), required->end(), [&](const json& key) {
          return key.is_string() && value.contains(key.get<std::string>());
        });
      };
      std::vector<const json*> strong;
      std::vector<const json*> candidates;
      for (const json* branch : objects) {
        if (!required_present(branch)) continue;
        candidates.push_back(branch);
        if (branch->contains("required") && !(*branch)["required"].empty())
          strong.push_back(branch);
      }
      const std::vector<const json*>& chosen =
          !strong.empty() ? strong : (!candidates.empty() ? candidates : objects);
      for (const json* branch : chosen) {
        auto additional = branch->find("additionalProperties");
        if (additional != branch->end() && *additional == true) return;  // free-form
        if (additional == branch->end() && !branch->contains("properties")) return;
      }
      for (const auto& [key, item] : value.items()) {
        std::vector<const json*> declared;
        std::vector<const json*> extra;
        bool closed = false;
        for (const json* branch : chosen) {
          auto properties = branch->find("properties");
          if (properties != branch->end() && properties->contains(key)) {
            declared.push_back(&(*properties)[key]);
            continue;
          }
          auto additional = branch->find("additionalProperties");
          if (additional == branch->end()) continue;
          if (additional->is_object())
            extra.push_back(&*additional);
          else if (*additional == false)
            closed = true;
        }
        const std::string child = path + "/" + key;
        if (!declared.empty())
          walk(declared, item, child, out, depth + 1);
        else if (!extra.empty())
          walk(extra, item, child, out, depth + 1);
        else if (!closed)
          out.push_back(child + ": unknown key \"" + key +
                        "\" (no schema declares it; Qdrant ignores it silently)");
      }
    } else if (value.is_array()) {
      std::vector<const json*> items;
      for (const json* branch : branches)
        if (auto item = branch->find("items"); item != branch->end() && item->is_object())
          items.push_back(&*item);
      if (items.empty()) return;
      for (std::size_t i = 0; i < value.size(); ++i)
        walk(items, value[i], path + "/" + std::to_string(i), out, depth + 1);
    }
  }

  json document_;  // {"components": {"schemas": {...rewritten...}}}: what $refs point into
  std::vector<std::unique_ptr<api_operation>> operations_;
};

// =============================================================================================
// 3. The collections: storage, filters, scoring
// =============================================================================================

enum class distance_kind { cosine, euclid, dot, manhattan };

std::optional<distance_kind> parse_distance(std::string_view text) {
  if (text == "Cosine") return distance_kind::cosine;
  if (text == "Euclid") return distance_kind::euclid;
  if (text == "Dot") return distance_kind::dot;
  if (text == "Manhattan") return distance_kind::manhattan;
  return std::nullopt;
}

// Cosine and Dot scores are similarities (higher is better); Euclid and Manhattan report
// distances (lower is better).
bool higher_is_better(distance_kind distance) {
  return distance == distance_kind::cosine || distance == distance_kind::dot;
}

struct dense_params {
  std::uint64_t size = 0;
  distance_kind distance = distance_kind::cosine;
  json echo;  // the VectorParams as created (nulls dropped), for GET collection
};

struct sparse_params {
  bool idf = false;
  json echo;  // the SparseVectorParams as created or patched
};

// Sorted by index on write (lib/segment/src/data_types/named_vectors.rs), never normalised.
struct sparse_vector {
  std::vector<std::uint32_t> indices;
  std::vector<float> values;

  void sort_by_index() {
    std::vector<std::size_t> order(indices.size());
    for (std::size_t i = 0; i < order.size(); ++i) order[i] = i;
    std::sort(order.begin(), order.end(),
              [&](std::size_t a, std::size_t b) { return indices[a] < indices[b]; });
    sparse_vector sorted;
    for (std::size_t i : order) {
      sorted.indices.push_back(indices[i]);
      sorted.values.push_back(values[i]);
    }
    *this = std::move(sorted);
  }
};

struct stored_point {
  point_id id;
  std::map<std::string, std::vector<float>> dense;  // cosine ones normalised
  std::map<std::string, sparse_vector> sparse;
  json payload = json::object();
  std::uint64_t version = 0;  // the operation id of its last write
};

struct collection_state {
  bool single_vector = false;  // created with one unnamed VectorParams (its name is "")
  std::map<std::string, dense_params> dense;
  std::map<std::string, sparse_params> sparse;
  json params_extra = json::object();  // shard_number, on_disk_payload, ... as created
  json hnsw_config;
  json optimizer_config;
  json wal_config;
  json quantization_config;
  json strict_mode_config;
  json metadata;                                // null until set
  std::map<std::string, json> payload_indexes;  // field name -> {"data_type", "params"?}
  std::map<point_id, stored_point> points;
  std::uint64_t next_operation_id = 0;

  // Qdrant's `missing_vector_error` (lib/collection/src/config.rs): the names are the dense
  // ones, then the sparse ones, each sorted.
  [[noreturn]] void throw_missing_vector(const std::string& name) const {
    std::vector<std::string> names;
    if (single_vector) names.emplace_back();
    for (const auto& [dense_name, params] : dense)
      if (!single_vector) names.push_back(dense_name);
    for (const auto& [sparse_name, params] : sparse) names.push_back(sparse_name);
    if (names.empty()) throw_wrong_input("Vectors are not configured in this collection");
    if (names == std::vector<std::string>{""})
      throw_wrong_input("Vector with name " + name + " is not configured in this collection");
    std::string available;
    for (const auto& each : names) available += (available.empty() ? "" : ", ") + each;
    if (name.empty())
      throw_wrong_input(
          "Collection requires specified vector name in the request, available names: " +
          available);
    throw_wrong_input("Vector with name `" + name +
                      "` is not configured in this collection, available names: " + available);
  }
};

// ---- arithmetic, in f32 as Qdrant computes it (lib/segment/src/spaces/simple.rs) ------------

void cosine_preprocess(std::vector<float>& vector) {
  float length = 0.0f;
  for (float x : vector) length += x * x;
  // is_length_zero_or_normalized
  if (length < FLT_EPSILON || std::fabs(length - 1.0f) <= 1.0e-6f) return;
  length = std::sqrt(length);
  for (float& x : vector) x /= length;
}

float dense_score(distance_kind distance, const std::vector<float>& query,
                  const std::vector<float>& stored) {
  float sum = 0.0f;
  switch (distance) {
    case distance_kind::cosine:
    case distance_kind::dot:
      for (std::size_t i = 0; i < query.size(); ++i) sum += query[i] * stored[i];
      return sum;
    case distance_kind::euclid:
      for (std::size_t i = 0; i < query.size(); ++i) {
        const float difference = query[i] - stored[i];
        sum += difference * difference;
      }
      return std::sqrt(sum);
    case distance_kind::manhattan:
      for (std::size_t i = 0; i < query.size(); ++i) sum += std::fabs(query[i] - stored[i]);
      return sum;
  }
  return sum;
}

// Σ q_t·d_t over the indices both have; nothing when they share none (the sparse index only
// returns documents with a matching posting, lib/sparse/src/index/search_context.rs).
std::optional<float> sparse_score(const sparse_vector& query, const sparse_vector& stored) {
  float sum = 0.0f;
  bool overlap = false;
  std::size_t i = 0;
  std::size_t j = 0;
  while (i < query.indices.size() && j < stored.indices.size()) {
    if (query.indices[i] < stored.indices[j]) {
      ++i;
    } else if (query.indices[i] > stored.indices[j]) {
      ++j;
    } else {
      sum += query.values[i] * stored.values[j];
      overlap = true;
      ++i;
      ++j;
    }
  }
  if (!overlap) return std::nullopt;
  return sum;
}

// Qdrant's "fancy" IDF (lib/segment/src/data_types/query_context.rs): n is the number of
// points that have the sparse vector, df the number of them that contain the index.
float fancy_idf(float n, float df) {
  return std::log((n - df + 0.5f) / (df + 0.5f) + 1.0f);
}

// The query's weights rescaled by IDF with the collection's statistics of now.
void apply_idf(const collection_state& collection, const std::string& name, sparse_vector& query) {
  std::size_t n = 0;
  std::vector<std::size_t> df(query.indices.size(), 0);
  for (const auto& [id, point] : collection.points) {
    auto found = point.sparse.find(name);
    if (found == point.sparse.end()) continue;
    ++n;
    for (std::size_t i = 0; i < query.indices.size(); ++i)
      if (std::binary_search(found->second.indices.begin(), found->second.indices.end(),
                             query.indices[i]))
        ++df[i];
  }
  for (std::size_t i = 0; i < query.indices.size(); ++i)
    query.values[i] *= fancy_idf(static_cast<float>(n), static_cast<float>(df[i]));
}

// RRF's contribution of a position (lib/segment/src/common/reciprocal_rank_fusion.rs).
float rrf_position_score(std::size_t position, std::size_t k, float weight) {
  if (weight <= 0.0f) return 0.0f;
  return 1.0f / (static_cast<float>(position + 1) / weight + static_cast<float>(k) - 1.0f);
}

// ---- JSON paths and payload values (lib/segment/src/json_path) ------------------------------

struct path_item {
  enum class kind { key, index, wildcard } type = kind::key;
  std::string key;
  std::size_t index = 0;
};

struct json_path {
  std::string text;
  std::vector<path_item> items;  // the first is always a key
};

// Qdrant's grammar: key ( "." key | "[" digits "]" | "[]" )*, where a key is a run of
// characters other than . [ ] " or a "quoted" string.
std::optional<json_path> parse_json_path(std::string_view text) {
  json_path path;
  path.text = text;
  std::size_t i = 0;
  auto read_key = [&]() -> std::optional<std::string> {
    if (i < text.size() && text[i] == '"') {
      const std::size_t end = text.find('"', i + 1);
      if (end == std::string_view::npos) return std::nullopt;
      std::string key(text.substr(i + 1, end - i - 1));
      i = end + 1;
      return key;
    }
    const std::size_t start = i;
    while (i < text.size() && text[i] != '.' && text[i] != '[' && text[i] != ']' && text[i] != '"')
      ++i;
    if (i == start) return std::nullopt;
    return std::string(text.substr(start, i - start));
  };
  auto first = read_key();
  if (!first) return std::nullopt;
  path.items.push_back({path_item::kind::key, *first, 0});
  while (i < text.size()) {
    if (text[i] == '.') {
      ++i;
      auto key = read_key();
      if (!key) return std::nullopt;
      path.items.push_back({path_item::kind::key, *key, 0});
    } else if (text[i] == '[') {
      const std::size_t close = text.find(']', i);
      if (close == std::string_view::npos) return std::nullopt;
      const std::string_view inside = text.substr(i + 1, close - i - 1);
      if (inside.empty()) {
        path.items.push_back({path_item::kind::wildcard, {}, 0});
      } else {
        std::size_t index = 0;
        const auto parsed = std::from_chars(inside.data(), inside.data() + inside.size(), index);
        if (parsed.ec != std::errc() || parsed.ptr != inside.data() + inside.size())
          return std::nullopt;
        path.items.push_back({path_item::kind::index, {}, index});
      }
      i = close + 1;
    } else {
      return std::nullopt;
    }
  }
  return path;
}

void collect_values(const std::vector<path_item>& items, std::size_t at, const json& value,
                    std::vector<const json*>& out) {
  if (at == items.size()) {
    out.push_back(&value);
    return;
  }
  const path_item& item = items[at];
  switch (item.type) {
    case path_item::kind::key:
      if (value.is_object()) {
        if (auto found = value.find(item.key); found != value.end())
          collect_values(items, at + 1, *found, out);
      }
      break;
    case path_item::kind::index:
      if (value.is_array() && item.index < value.size())
        collect_values(items, at + 1, value[item.index], out);
      break;
    case path_item::kind::wildcard:
      if (value.is_array())
        for (const auto& element : value) collect_values(items, at + 1, element, out);
      break;
  }
}

// JsonPath::value_get: the values at the path; arrays are not flattened on the way unless the
// path says [] (an array at the end is one value, whose elements conditions look into).
std::vector<const json*> values_at(const json& payload, const json_path& path) {
  std::vector<const json*> out;
  collect_values(path.items, 0, payload, out);
  return out;
}

// ---- filters (lib/segment/src/payload_storage/{query_checker,condition_checker}.rs) ---------

struct filter;

struct match_condition {
  enum class kind { value, any, except, text, text_any, phrase, prefix } type = kind::value;
  json value;  // the value, or the list for any/except
  std::string text;
};

struct range_condition {
  std::optional<double> lt, gt, gte, lte;
  bool check(double number) const {
    return (!lt || number < *lt) && (!gt || number > *gt) && (!gte || number >= *gte) &&
           (!lte || number <= *lte);
  }
};

struct count_condition {
  std::optional<std::uint64_t> lt, gt, gte, lte;
  bool check(std::uint64_t count) const {
    return (!lt || count < *lt) && (!gt || count > *gt) && (!gte || count >= *gte) &&
           (!lte || count <= *lte);
  }
};

struct field_condition {
  json_path key;
  std::optional<match_condition> match;
  std::optional<range_condition> range;
  std::optional<count_condition> values_count;
  std::optional<bool> is_empty;
  std::optional<bool> is_null;
};

struct is_empty_condition {
  json_path key;
};
struct is_null_condition {
  json_path key;
};
struct has_id_condition {
  std::set<point_id> ids;
};
struct has_vector_condition {
  std::string name;
};
struct nested_condition {
  json_path key;
  std::shared_ptr<const filter> inner;
};

using condition =
    std::variant<field_condition, is_empty_condition, is_null_condition, has_id_condition,
                 has_vector_condition, nested_condition, std::shared_ptr<const filter>>;

struct filter {
  std::optional<std::vector<condition>> must;
  std::optional<std::vector<condition>> should;
  std::optional<std::vector<condition>> must_not;
  std::optional<std::pair<std::vector<condition>, std::size_t>> min_should;
};

bool match_one(const match_condition& match, const json& value) {
  switch (match.type) {
    case match_condition::kind::value:
      if (value.is_boolean() && match.value.is_boolean()) return value == match.value;
      if (value.is_string() && match.value.is_string()) return value == match.value;
      if (value.is_number_integer() && match.value.is_number_integer())
        return value.get<std::int64_t>() == match.value.get<std::int64_t>();
      return false;
    case match_condition::kind::any:
    case match_condition::kind::except: {
      // An empty list deserialises as the string variant of AnyVariants.
      const bool except = match.type == match_condition::kind::except;
      const bool integers = !match.value.empty() && match.value.front().is_number_integer();
      if (value.is_string() && !integers) {
        const bool found = std::any_of(match.value.begin(), match.value.end(),
                                       [&](const json& item) { return item == value; });
        return except ? !found : found;
      }
      if (value.is_number() && integers) {
        if (!value.is_number_integer()) return except;
        const std::int64_t number = value.get<std::int64_t>();
        const bool found =
            std::any_of(match.value.begin(), match.value.end(), [&](const json& item) {
              return item.is_number_integer() && item.get<std::int64_t>() == number;
            });
        return except ? !found : found;
      }
      // Kinds the list cannot hold: `any` never matches them, `except` always does, but null.
      return except && !value.is_null();
    }
    case match_condition::kind::text:
    case match_condition::kind::phrase:
      // Without a full-text index Qdrant matches substrings; the double has no text index.
      return value.is_string() &&
             value.get_ref<const std::string&>().find(match.text) != std::string::npos;
    case match_condition::kind::text_any: {
      if (!value.is_string()) return false;
      std::istringstream tokens(match.text);
      std::string token;
      while (tokens >> token)
        if (value.get_ref<const std::string&>().find(token) != std::string::npos) return true;
      return false;
    }
    case match_condition::kind::prefix:
      return value.is_string() && value.get_ref<const std::string&>().rfind(match.text, 0) == 0;
  }
  return false;
}

bool field_check_match(const field_condition& condition, const json& value) {
  bool result = false;
  if (condition.match) result = result || match_one(*condition.match, value);
  if (condition.range && value.is_number())
    result = result || condition.range->check(value.get<double>());
  return result;
}

bool field_check(const field_condition& condition, const json& value) {
  if (condition.values_count) {
    const std::uint64_t count = value.is_null() ? 0 : value.is_array() ? value.size() : 1;
    return condition.values_count->check(count);
  }
  if (condition.is_empty) {
    const bool empty = value.is_null() || (value.is_array() && value.empty());
    return empty == *condition.is_empty;
  }
  if (condition.is_null) {
    const bool null = value.is_null() ||
                      (value.is_array() && std::any_of(value.begin(), value.end(),
                                                       [](const json& x) { return x.is_null(); }));
    return null == *condition.is_null;
  }
  if (value.is_array())
    return std::any_of(value.begin(), value.end(),
                       [&](const json& element) { return field_check_match(condition, element); });
  return field_check_match(condition, value);
}

bool field_check_empty(const field_condition& condition) {
  if (condition.values_count) return condition.values_count->check(0);
  if (condition.is_empty) return *condition.is_empty;
  if (condition.is_null) return !*condition.is_null;
  return false;
}

bool check_filter(const filter& filter, const stored_point* point, const json& payload);

bool check_condition(const condition& condition, const stored_point* point, const json& payload) {
  return std::visit(
      [&](const auto& item) -> bool {
        using type = std::decay_t<decltype(item)>;
        if constexpr (std::is_same_v<type, field_condition>) {
          const auto values = values_at(payload, item.key);
          if (values.empty()) return field_check_empty(item);
          return std::any_of(values.begin(), values.end(),
                             [&](const json* value) { return field_check(item, *value); });
        } else if constexpr (std::is_same_v<type, is_empty_condition>) {
          const auto values = values_at(payload, item.key);
          return std::all_of(values.begin(), values.end(), [](const json* value) {
            return value->is_null() || (value->is_array() && value->empty());
          });
        } else if constexpr (std::is_same_v<type, is_null_condition>) {
          const auto values = values_at(payload, item.key);
          return std::any_of(values.begin(), values.end(),
                             [](const json* value) { return value->is_null(); });
        } else if constexpr (std::is_same_v<type, has_id_condition>) {
          return point != nullptr && item.ids.contains(point->id);
        } else if constexpr (std::is_same_v<type, has_vector_condition>) {
          return point != nullptr &&
                 (point->dense.contains(item.name) || point->sparse.contains(item.name));
        } else if constexpr (std::is_same_v<type, nested_condition>) {
          json_path array_key = item.key;
          array_key.items.push_back({path_item::kind::wildcard, {}, 0});
          const auto objects = values_at(payload, array_key);
          // has_id and has_vector do not apply inside nested objects.
          return std::any_of(objects.begin(), objects.end(), [&](const json* object) {
            return object->is_object() && check_filter(*item.inner, nullptr, *object);
          });
        } else {
          return check_filter(*item, point, payload);
        }
      },
      condition);
}

// must: all (absent or [] is true); should: any (absent is true, [] is false); must_not: none;
// min_should: at least min_count.
bool check_filter(const filter& filter, const stored_point* point, const json& payload) {
  auto holds = [&](const condition& each) { return check_condition(each, point, payload); };
  if (filter.should && !std::any_of(filter.should->begin(), filter.should->end(), holds))
    return false;
  if (filter.min_should) {
    std::size_t count = 0;
    for (const auto& each : filter.min_should->first)
      if (holds(each)) ++count;
    if (count < filter.min_should->second) return false;
  }
  if (filter.must && !std::all_of(filter.must->begin(), filter.must->end(), holds)) return false;
  if (filter.must_not && std::any_of(filter.must_not->begin(), filter.must_not->end(), holds))
    return false;
  return true;
}

bool passes(const std::vector<const filter*>& filters, const stored_point& point) {
  return std::all_of(filters.begin(), filters.end(), [&](const filter* each) {
    return check_filter(*each, &point, point.payload);
  });
}

// ---- what answers show of a point ---------------------------------------------------------

struct payload_selector {
  enum class mode { none, all, include, exclude } type = mode::none;
  std::vector<json_path> keys;
};

struct vector_selector {
  bool all = false;
  std::vector<std::string> names;
  bool any() const { return all || !names.empty(); }
};

void copy_path(const json& from, json& to, const json_path& path) {
  // Key-only paths copy the value into the same place; a path through an array copies its top
  // key whole (the double does not rebuild partial arrays).
  const bool keys_only =
      std::all_of(path.items.begin(), path.items.end(),
                  [](const path_item& item) { return item.type == path_item::kind::key; });
  const json* source = &from;
  json* target = &to;
  const std::size_t depth = keys_only ? path.items.size() : 1;
  for (std::size_t i = 0; i < depth; ++i) {
    if (!source->is_object()) return;
    auto found = source->find(path.items[i].key);
    if (found == source->end()) return;
    source = &*found;
    if (i + 1 == depth) {
      (*target)[path.items[i].key] = *source;
    } else {
      json& next = (*target)[path.items[i].key];
      if (!next.is_object()) next = json::object();
      target = &next;
    }
  }
}

void remove_path(json& value, const std::vector<path_item>& items, std::size_t at) {
  if (at >= items.size()) return;
  const path_item& item = items[at];
  const bool last = at + 1 == items.size();
  if (item.type == path_item::kind::key) {
    if (!value.is_object()) return;
    if (last) {
      value.erase(item.key);
    } else if (auto found = value.find(item.key); found != value.end()) {
      remove_path(*found, items, at + 1);
    }
  } else if (item.type == path_item::kind::index) {
    if (!value.is_array() || item.index >= value.size()) return;
    if (last)
      value.erase(item.index);
    else
      remove_path(value[item.index], items, at + 1);
  } else if (value.is_array()) {
    if (last)
      value = json::array();
    else
      for (auto& element : value) remove_path(element, items, at + 1);
  }
}

std::optional<json> select_payload(const json& payload, const payload_selector& selector) {
  switch (selector.type) {
    case payload_selector::mode::none:
      return std::nullopt;
    case payload_selector::mode::all:
      return payload;
    case payload_selector::mode::include: {
      json out = json::object();
      for (const auto& key : selector.keys) copy_path(payload, out, key);
      return out;
    }
    case payload_selector::mode::exclude: {
      json out = payload;
      for (const auto& key : selector.keys) remove_path(out, key.items, 0);
      return out;
    }
  }
  return std::nullopt;
}

json sparse_json(const sparse_vector& vector) {
  return json{{"indices", vector.indices}, {"values", f32_array(vector.values)}};
}

std::optional<json> select_vectors(const collection_state& collection, const stored_point& point,
                                   const vector_selector& selector) {
  if (!selector.any()) return std::nullopt;
  auto wanted = [&](const std::string& name) {
    return selector.all ||
           std::find(selector.names.begin(), selector.names.end(), name) != selector.names.end();
  };
  if (collection.single_vector && collection.sparse.empty()) {
    auto found = point.dense.find("");
    if (found == point.dense.end() || !wanted("")) return json::object();
    return f32_array(found->second);
  }
  json out = json::object();
  for (const auto& [name, vector] : point.dense)
    if (wanted(name)) out[name] = f32_array(vector);
  for (const auto& [name, vector] : point.sparse)
    if (wanted(name)) out[name] = sparse_json(vector);
  return out;
}

// A Record (retrieve, scroll) or, with a score, a ScoredPoint (query). Absent payload and
// vector keys are omitted, as Qdrant 1.19 omits them (skip_serializing_if).
json render_point(const collection_state& collection, const stored_point& point,
                  const payload_selector& payload, const vector_selector& vectors,
                  std::optional<float> score) {
  json out = json::object();
  out["id"] = to_json(point.id);
  if (score) {
    out["version"] = point.version;
    out["score"] = f32_json(*score);
  }
  if (auto selected = select_payload(point.payload, payload)) out["payload"] = std::move(*selected);
  if (auto selected = select_vectors(collection, point, vectors))
    out["vector"] = std::move(*selected);
  return out;
}

// =============================================================================================
// 4. Requests: typed parsing in Qdrant's layer order, then execution
// =============================================================================================

// Qdrant parses the whole body (format errors stop it at once) and only then runs the
// validator, which reports constraint failures (422). The parser below does the same: format
// problems throw, the first constraint failure is kept until `finish()`.
class body_checks {
 public:
  void invalid(std::string_view path, std::string_view message) {
    if (!first_) first_ = validation_failure(path, message);
  }
  void finish() const {
    if (first_) throw *first_;
  }

 private:
  std::optional<api_error> first_;
};

// The member, or nullptr when it is absent or null (serde's Option).
const json* member(const json& object, std::string_view key) {
  if (!object.is_object()) return nullptr;
  auto found = object.find(key);
  if (found == object.end() || found->is_null()) return nullptr;
  return &*found;
}

[[noreturn]] void throw_type(std::string_view where, std::string_view expected) {
  throw_format("invalid type at `" + std::string(where) + "`, expected " + std::string(expected));
}

const json& expect_object(const json& value, std::string_view where) {
  if (!value.is_object()) throw_type(where, "a map");
  return value;
}

std::string join_path(std::string_view prefix, std::string_view name) {
  if (prefix.empty()) return std::string(name);
  return std::string(prefix) + "." + std::string(name);
}

std::string index_path(std::string_view prefix, std::size_t index) {
  return std::string(prefix) + "[" + std::to_string(index) + "]";
}

// serde's MaybeOneOrMany: one item or a list of them.
template <class Function>
void for_one_or_many(const json& value, std::string_view where, Function&& each) {
  if (value.is_array()) {
    for (std::size_t i = 0; i < value.size(); ++i) each(value[i], index_path(where, i));
  } else {
    each(value, std::string(where));
  }
}

point_id read_point_id(const json& value) {
  auto id = parse_point_id(value);
  if (!id) throw_format(invalid_point_id_text(value));
  return *id;
}

std::vector<float> read_dense(const json& value, std::string_view where) {
  if (!value.is_array()) throw_type(where, "a sequence of floats");
  std::vector<float> out;
  out.reserve(value.size());
  for (const auto& item : value) {
    if (!item.is_number()) throw_type(where, "a float");
    out.push_back(item.get<float>());
  }
  return out;
}

std::uint64_t read_unsigned(const json& value, std::string_view where) {
  if (value.is_number_unsigned()) return value.get<std::uint64_t>();
  if (value.is_number_integer() && value.get<std::int64_t>() >= 0)
    return static_cast<std::uint64_t>(value.get<std::int64_t>());
  throw_format("invalid value: " + json_text(value) + ", expected usize at `" + std::string(where) +
               "`");
}

// A `usize` field with a validator minimum: below it is a 422 naming the field.
std::optional<std::size_t> read_count(const json& object, std::string_view key,
                                      std::string_view path, std::uint64_t minimum,
                                      body_checks& checks) {
  const json* value = member(object, key);
  if (value == nullptr) return std::nullopt;
  const std::uint64_t count = read_unsigned(*value, path);
  if (count < minimum)
    checks.invalid(path, "value " + std::to_string(count) + " invalid, must be " +
                             std::to_string(minimum) + " or larger");
  return static_cast<std::size_t>(count);
}

sparse_vector read_sparse(const json& value, std::string_view where, body_checks& checks) {
  expect_object(value, where);
  const json* indices = member(value, "indices");
  const json* values = member(value, "values");
  if (indices == nullptr || values == nullptr || !indices->is_array() || !values->is_array())
    throw_type(where, "a sparse vector {indices, values}");
  sparse_vector out;
  for (const auto& index : *indices) {
    if (!index.is_number_integer() || index.get<std::int64_t>() < 0 ||
        index.get<std::int64_t>() > std::numeric_limits<std::uint32_t>::max())
      throw_type(join_path(where, "indices"), "u32");
    out.indices.push_back(static_cast<std::uint32_t>(index.get<std::int64_t>()));
  }
  for (const auto& weight : *values) {
    if (!weight.is_number()) throw_type(join_path(where, "values"), "a float");
    out.values.push_back(weight.get<float>());
  }
  // lib/sparse/src/common/sparse_vector.rs validate_sparse_vector_impl; the validator's text
  // for a code without a message is "Validation error: <code> [{}]".
  if (out.indices.size() != out.values.size())
    checks.invalid(join_path(where, "values"),
                   "Validation error: must be the same length as indices [{}]");
  std::set<std::uint32_t> unique(out.indices.begin(), out.indices.end());
  if (unique.size() != out.indices.size())
    checks.invalid(join_path(where, "indices"), "Validation error: must be unique [{}]");
  return out;
}

// An object carrying an inference input (Document, Image, InferenceObject).
bool is_inference_object(const json& value) {
  return value.is_object() && value.contains("model") &&
         (value.contains("text") || value.contains("image") || value.contains("object"));
}

// ---- filters --------------------------------------------------------------------------------

filter read_filter(const json& value, const std::string& where, body_checks& checks);

json_path read_key(const json& value, std::string_view where) {
  if (!value.is_string()) throw_type(where, "a string");
  auto path = parse_json_path(value.get_ref<const std::string&>());
  if (!path) throw_format("Invalid json path: " + value.get<std::string>());
  return *path;
}

std::optional<double> read_bound(const json& object, std::string_view key, std::string_view where) {
  const json* value = member(object, key);
  if (value == nullptr) return std::nullopt;
  if (value->is_string()) throw_unsupported("A datetime range filter");
  if (!value->is_number()) throw_type(where, "a number");
  return value->get<double>();
}

condition read_condition(const json& value, const std::string& where, body_checks& checks) {
  expect_object(value, where);
  if (value.contains("key")) {
    field_condition field;
    field.key = read_key(value["key"], join_path(where, "key"));
    if (const json* match = member(value, "match")) {
      expect_object(*match, join_path(where, "match"));
      match_condition parsed;
      if (const json* exact = member(*match, "value")) {
        if (!exact->is_string() && !exact->is_number_integer() && !exact->is_boolean())
          throw_format("data did not match any variant of untagged enum ValueVariants");
        parsed.type = match_condition::kind::value;
        parsed.value = *exact;
      } else if (match->contains("any") || match->contains("except")) {
        const bool except = match->contains("except");
        const json& list = (*match)[except ? "except" : "any"];
        if (!list.is_array()) throw_type(join_path(where, "match"), "a list");
        const bool strings =
            std::all_of(list.begin(), list.end(), [](const json& x) { return x.is_string(); });
        const bool integers = std::all_of(list.begin(), list.end(),
                                          [](const json& x) { return x.is_number_integer(); });
        if (!strings && !integers)
          throw_format("data did not match any variant of untagged enum AnyVariants");
        parsed.type = except ? match_condition::kind::except : match_condition::kind::any;
        parsed.value = list;
      } else {
        static const std::pair<const char*, match_condition::kind> texts[] = {
            {"text", match_condition::kind::text},
            {"text_any", match_condition::kind::text_any},
            {"phrase", match_condition::kind::phrase},
            {"prefix", match_condition::kind::prefix}};
        bool found = false;
        for (const auto& [name, type] : texts) {
          if (const json* text = member(*match, name); text != nullptr && text->is_string()) {
            parsed.type = type;
            parsed.text = text->get<std::string>();
            found = true;
            break;
          }
        }
        if (!found) throw_format("data did not match any variant of untagged enum Match");
      }
      field.match = std::move(parsed);
    }
    if (const json* range = member(value, "range")) {
      expect_object(*range, join_path(where, "range"));
      range_condition parsed;
      parsed.lt = read_bound(*range, "lt", join_path(where, "range"));
      parsed.gt = read_bound(*range, "gt", join_path(where, "range"));
      parsed.gte = read_bound(*range, "gte", join_path(where, "range"));
      parsed.lte = read_bound(*range, "lte", join_path(where, "range"));
      field.range = parsed;
    }
    if (const json* count = member(value, "values_count")) {
      expect_object(*count, join_path(where, "values_count"));
      count_condition parsed;
      for (auto [name, slot] : {std::pair{"lt", &parsed.lt}, std::pair{"gt", &parsed.gt},
                                std::pair{"gte", &parsed.gte}, std::pair{"lte", &parsed.lte}})
        if (const json* bound = member(*count, name))
          *slot = read_unsigned(*bound, join_path(where, "values_count"));
      field.values_count = parsed;
    }
    for (const char* geo : {"geo_bounding_box", "geo_radius", "geo_polygon"})
      if (member(value, geo) != nullptr) throw_unsupported("A geo filter");
    if (const json* flag = member(value, "is_empty")) {
      if (!flag->is_boolean()) throw_type(join_path(where, "is_empty"), "a boolean");
      field.is_empty = flag->get<bool>();
    }
    if (const json* flag = member(value, "is_null")) {
      if (!flag->is_boolean()) throw_type(join_path(where, "is_null"), "a boolean");
      field.is_null = flag->get<bool>();
    }
    if (!field.match && !field.range && !field.values_count && !field.is_empty && !field.is_null)
      checks.invalid(where, "At least one field condition must be specified");
    return field;
  }
  if (const json* inner = member(value, "is_empty")) {
    expect_object(*inner, join_path(where, "is_empty"));
    return is_empty_condition{read_key((*inner)["key"], join_path(where, "is_empty.key"))};
  }
  if (const json* inner = member(value, "is_null")) {
    expect_object(*inner, join_path(where, "is_null"));
    return is_null_condition{read_key((*inner)["key"], join_path(where, "is_null.key"))};
  }
  if (const json* ids = member(value, "has_id")) {
    if (!ids->is_array()) throw_type(join_path(where, "has_id"), "a list of point ids");
    has_id_condition parsed;
    for (const auto& id : *ids) parsed.ids.insert(read_point_id(id));
    return parsed;
  }
  if (const json* name = member(value, "has_vector")) {
    if (!name->is_string()) throw_type(join_path(where, "has_vector"), "a string");
    return has_vector_condition{name->get<std::string>()};
  }
  if (const json* nested = member(value, "nested")) {
    expect_object(*nested, join_path(where, "nested"));
    const json* inner = member(*nested, "filter");
    if (inner == nullptr) throw_type(join_path(where, "nested"), "{key, filter}");
    return nested_condition{read_key((*nested)["key"], join_path(where, "nested.key")),
                            std::make_shared<const filter>(
                                read_filter(*inner, join_path(where, "nested.filter"), checks))};
  }
  if (value.contains("slice")) throw_unsupported("The slice condition");
  return std::make_shared<const filter>(read_filter(value, where, checks));
}

std::vector<condition> read_conditions(const json& value, const std::string& where,
                                       body_checks& checks) {
  std::vector<condition> out;
  for_one_or_many(value, where, [&](const json& item, const std::string& path) {
    out.push_back(read_condition(item, path, checks));
  });
  return out;
}

filter read_filter(const json& value, const std::string& where, body_checks& checks) {
  expect_object(value, where);
  filter out;
  if (const json* list = member(value, "must"))
    out.must = read_conditions(*list, join_path(where, "must"), checks);
  if (const json* list = member(value, "should"))
    out.should = read_conditions(*list, join_path(where, "should"), checks);
  if (const json* list = member(value, "must_not"))
    out.must_not = read_conditions(*list, join_path(where, "must_not"), checks);
  if (const json* min_should = member(value, "min_should")) {
    expect_object(*min_should, join_path(where, "min_should"));
    const json* conditions = member(*min_should, "conditions");
    if (conditions == nullptr || !conditions->is_array())
      throw_type(join_path(where, "min_should"), "{conditions, min_count}");
    auto count =
        read_count(*min_should, "min_count", join_path(where, "min_should.min_count"), 1, checks);
    if (!count) throw_type(join_path(where, "min_should"), "{conditions, min_count}");
    out.min_should = std::pair{
        read_conditions(*conditions, join_path(where, "min_should.conditions"), checks), *count};
  }
  return out;
}

std::optional<filter> read_optional_filter(const json& object, std::string_view key,
                                           std::string_view where, body_checks& checks) {
  const json* value = member(object, key);
  if (value == nullptr) return std::nullopt;
  return read_filter(*value, join_path(where, key), checks);
}

// ---- selectors ------------------------------------------------------------------------------

payload_selector read_with_payload(const json* value, payload_selector::mode fallback) {
  payload_selector out;
  out.type = fallback;
  if (value == nullptr) return out;
  auto keys_of = [&](const json& list) {
    if (!list.is_array()) throw_type("with_payload", "a list of keys");
    for (const auto& key : list) out.keys.push_back(read_key(key, "with_payload"));
  };
  if (value->is_boolean()) {
    out.type = value->get<bool>() ? payload_selector::mode::all : payload_selector::mode::none;
  } else if (value->is_array()) {
    out.type = payload_selector::mode::include;
    keys_of(*value);
  } else if (value->is_object() && value->contains("include")) {
    out.type = payload_selector::mode::include;
    keys_of((*value)["include"]);
  } else if (value->is_object() && value->contains("exclude")) {
    out.type = payload_selector::mode::exclude;
    keys_of((*value)["exclude"]);
  } else {
    throw_format("data did not match any variant of untagged enum WithPayloadInterface");
  }
  return out;
}

// `with_vectors` is a serde alias of `with_vector` in Qdrant (the strict mode reports it).
vector_selector read_with_vector(const json& object) {
  const json* value = member(object, "with_vector");
  if (value == nullptr) value = member(object, "with_vectors");
  vector_selector out;
  if (value == nullptr) return out;
  if (value->is_boolean()) {
    out.all = value->get<bool>();
  } else if (value->is_array()) {
    for (const auto& name : *value) {
      if (!name.is_string()) throw_type("with_vector", "a list of vector names");
      out.names.push_back(name.get<std::string>());
    }
  } else {
    throw_format("data did not match any variant of untagged enum WithVector");
  }
  return out;
}

// ---- the Query API --------------------------------------------------------------------------

struct vector_input {
  bool sparse = false;
  std::vector<float> dense;
  sparse_vector sparse_value;
};

struct fusion_input {
  std::size_t k = 2;  // DEFAULT_RRF_K
  std::optional<std::vector<float>> weights;
};

using query_input = std::variant<vector_input, fusion_input>;

struct query_node {
  std::vector<query_node> prefetch;
  std::optional<query_input> query;
  std::string using_name;  // "" (the unnamed vector) when absent, as Qdrant defaults it
  std::optional<filter> where;
  std::optional<float> score_threshold;
  std::size_t limit = 10;
};

struct query_request {
  query_node root;
  std::size_t offset = 0;
  payload_selector with_payload;  // default false for queries
  vector_selector with_vector;
};

vector_input read_vector_input(const json& value, const std::string& where, body_checks& checks) {
  vector_input out;
  if (value.is_array()) {
    if (!value.empty() && value.front().is_array()) throw_unsupported("A multivector query");
    out.dense = read_dense(value, where);
    if (out.dense.empty()) checks.invalid(where, "dense vector must not be empty");
    return out;
  }
  if (value.is_number() || value.is_string()) throw_unsupported("A query by point id");
  if (is_inference_object(value)) throw_unsupported("Inference (Document/Image/Object)");
  if (value.is_object() && value.contains("indices")) {
    out.sparse = true;
    out.sparse_value = read_sparse(value, where, checks);
    return out;
  }
  throw_format("Expected some form of vector, id, or a type of query");
}

query_input read_query(const json& value, const std::string& where, body_checks& checks) {
  if (value.is_object()) {
    if (const json* nearest = member(value, "nearest")) {
      if (member(value, "mmr") != nullptr) throw_unsupported("MMR");
      return read_vector_input(*nearest, join_path(where, "nearest"), checks);
    }
    if (const json* fusion = member(value, "fusion")) {
      if (*fusion == "rrf") return fusion_input{};
      if (*fusion == "dbsf") throw_unsupported("DBSF fusion");
      throw_format("unknown variant " + json_text(*fusion) + ", expected `rrf` or `dbsf`");
    }
    if (const json* rrf = member(value, "rrf")) {
      expect_object(*rrf, join_path(where, "rrf"));
      fusion_input out;
      if (auto k = read_count(*rrf, "k", join_path(where, "rrf.k"), 1, checks)) out.k = *k;
      if (const json* weights = member(*rrf, "weights"))
        out.weights = read_dense(*weights, join_path(where, "rrf.weights"));
      return out;
    }
    static const std::pair<const char*, const char*> unsupported[] = {
        {"recommend", "The recommend query"},
        {"discover", "The discover query"},
        {"context", "The context query"},
        {"order_by", "The order_by query"},
        {"formula", "The formula query"},
        {"sample", "The sample query"},
        {"relevance_feedback", "The relevance_feedback query"}};
    for (const auto& [key, feature] : unsupported)
      if (value.contains(key)) throw_unsupported(feature);
  }
  return read_vector_input(value, where, checks);
}

query_node read_query_node(const json& value, const std::string& where, body_checks& checks) {
  expect_object(value, where);
  query_node node;
  if (const json* prefetch = member(value, "prefetch")) {
    for_one_or_many(*prefetch, join_path(where, "prefetch"),
                    [&](const json& item, const std::string& path) {
                      node.prefetch.push_back(read_query_node(item, path, checks));
                    });
  }
  if (const json* query = member(value, "query"))
    node.query = read_query(*query, join_path(where, "query"), checks);
  if (const json* name = member(value, "using")) {
    if (!name->is_string()) throw_type(join_path(where, "using"), "a string");
    node.using_name = name->get<std::string>();
  }
  node.where = read_optional_filter(value, "filter", where, checks);
  if (const json* threshold = member(value, "score_threshold")) {
    if (!threshold->is_number()) throw_type(join_path(where, "score_threshold"), "a float");
    node.score_threshold = threshold->get<float>();
  }
  if (auto limit = read_count(value, "limit", join_path(where, "limit"), 1, checks))
    node.limit = *limit;
  if (member(value, "lookup_from") != nullptr) throw_unsupported("lookup_from");
  if (const json* params = member(value, "params"))
    expect_object(*params, join_path(where, "params"));  // HNSW knobs: exact search anyway
  return node;
}

query_request read_query_request(const json& body, const std::string& where, body_checks& checks) {
  expect_object(body, where.empty() ? "body" : where);
  if (member(body, "shard_key") != nullptr) throw_unsupported("Custom sharding (shard_key)");
  query_request out;
  // QueryRequest flattens QueryRequestInternal, whose validation paths start with "internal".
  out.root = read_query_node(body, join_path(where, "internal"), checks);
  if (auto offset = read_count(body, "offset", join_path(where, "internal.offset"), 0, checks))
    out.offset = *offset;
  out.with_payload = read_with_payload(member(body, "with_payload"), payload_selector::mode::none);
  out.with_vector = read_with_vector(body);
  return out;
}

// ---- points ---------------------------------------------------------------------------------

struct vector_write {
  bool sparse = false;
  std::vector<float> dense;
  sparse_vector sparse_value;
};

struct point_write {
  point_id id;
  std::map<std::string, vector_write> vectors;
  json payload = json::object();
};

enum class update_mode { upsert, insert_only, update_only };

struct upsert_request {
  std::vector<point_write> points;
  std::optional<filter> update_filter;
  update_mode mode = update_mode::upsert;
};

vector_write read_vector(const json& value, const std::string& where, body_checks& checks) {
  vector_write out;
  if (value.is_array()) {
    if (!value.empty() && value.front().is_array()) throw_unsupported("A multivector");
    out.dense = read_dense(value, where);
    if (out.dense.empty()) checks.invalid(where, "dense vector must not be empty");
    return out;
  }
  if (is_inference_object(value)) throw_unsupported("Inference (Document/Image/Object)");
  out.sparse = true;
  out.sparse_value = read_sparse(value, where, checks);
  return out;
}

std::map<std::string, vector_write> read_vector_struct(const json& value, const std::string& where,
                                                       body_checks& checks) {
  std::map<std::string, vector_write> out;
  if (value.is_array()) {
    out[""] = read_vector(value, where, checks);
    return out;
  }
  if (is_inference_object(value)) throw_unsupported("Inference (Document/Image/Object)");
  expect_object(value, where);
  for (const auto& [name, vector] : value.items())
    out[name] = read_vector(vector, join_path(where, name), checks);
  return out;
}

json read_payload(const json* value, std::string_view where) {
  if (value == nullptr) return json::object();
  if (!value->is_object()) throw_type(where, "a map");
  return *value;
}

upsert_request read_upsert(const json& body, const std::string& where, body_checks& checks) {
  expect_object(body, where.empty() ? "body" : where);
  if (member(body, "shard_key") != nullptr) throw_unsupported("Custom sharding (shard_key)");
  upsert_request out;
  if (const json* points = member(body, "points")) {
    if (!points->is_array()) throw_type(join_path(where, "points"), "a list of points");
    for (std::size_t i = 0; i < points->size(); ++i) {
      const std::string path = index_path(join_path(where, "points"), i);
      const json& point = expect_object((*points)[i], path);
      if (!point.contains("id")) throw_format("missing field `id`");
      point_write write;
      write.id = read_point_id(point["id"]);
      const json* vector = member(point, "vector");
      if (vector == nullptr) throw_format("missing field `vector`");
      write.vectors = read_vector_struct(*vector, join_path(path, "vector"), checks);
      write.payload = read_payload(member(point, "payload"), join_path(path, "payload"));
      out.points.push_back(std::move(write));
    }
  } else if (const json* batch = member(body, "batch")) {
    const std::string path = join_path(where, "batch");
    expect_object(*batch, path);
    const json* ids = member(*batch, "ids");
    const json* vectors = member(*batch, "vectors");
    if (ids == nullptr || !ids->is_array() || vectors == nullptr)
      throw_format("missing field `ids` or `vectors`");
    for (const auto& id : *ids)
      out.points.push_back(point_write{read_point_id(id), {}, json::object()});
    auto count_mismatch = [&](std::size_t vector_count) {
      if (vector_count != ids->size())
        checks.invalid("batch", "number of ids and vectors must be equal (" +
                                    std::to_string(ids->size()) +
                                    " != " + std::to_string(vector_count) + ")");
    };
    if (vectors->is_array()) {
      count_mismatch(vectors->size());
      for (std::size_t i = 0; i < vectors->size() && i < out.points.size(); ++i)
        out.points[i].vectors[""] =
            read_vector((*vectors)[i], index_path(join_path(path, "vectors"), i), checks);
    } else if (vectors->is_object()) {
      for (const auto& [name, list] : vectors->items()) {
        if (!list.is_array()) throw_type(join_path(path, "vectors"), "a list of vectors");
        count_mismatch(list.size());
        for (std::size_t i = 0; i < list.size() && i < out.points.size(); ++i)
          out.points[i].vectors[name] = read_vector(
              list[i], index_path(join_path(join_path(path, "vectors"), name), i), checks);
      }
    } else {
      throw_type(join_path(path, "vectors"), "a batch of vectors");
    }
    if (const json* payloads = member(*batch, "payloads")) {
      if (!payloads->is_array()) throw_type(join_path(path, "payloads"), "a list of payloads");
      if (payloads->size() != ids->size())
        checks.invalid("batch", "number of ids and payloads must be equal (" +
                                    std::to_string(ids->size()) +
                                    " != " + std::to_string(payloads->size()) + ")");
      for (std::size_t i = 0; i < payloads->size() && i < out.points.size(); ++i) {
        const json& payload = (*payloads)[i];
        out.points[i].payload =
            read_payload(payload.is_null() ? nullptr : &payload, join_path(path, "payloads"));
      }
    }
  } else {
    throw_format("data did not match any variant of untagged enum PointInsertOperations");
  }
  out.update_filter = read_optional_filter(body, "update_filter", where, checks);
  if (const json* mode = member(body, "update_mode")) {
    if (*mode == "upsert")
      out.mode = update_mode::upsert;
    else if (*mode == "insert_only")
      out.mode = update_mode::insert_only;
    else if (*mode == "update_only")
      out.mode = update_mode::update_only;
    else
      throw_format("unknown variant " + json_text(*mode) +
                   ", expected one of `upsert`, `insert_only`, `update_only`");
  }
  return out;
}

// PointsSelector: ids or a filter.
struct points_selector {
  std::optional<std::vector<point_id>> ids;
  std::optional<filter> where;
};

points_selector read_selector(const json& body, const std::string& where, body_checks& checks) {
  expect_object(body, where.empty() ? "body" : where);
  if (member(body, "shard_key") != nullptr) throw_unsupported("Custom sharding (shard_key)");
  points_selector out;
  if (const json* points = member(body, "points")) {
    if (!points->is_array()) throw_type(join_path(where, "points"), "a list of point ids");
    out.ids.emplace();
    for (const auto& id : *points) out.ids->push_back(read_point_id(id));
  } else if (const json* selected = member(body, "filter")) {
    out.where = read_filter(*selected, join_path(where, "filter"), checks);
  } else {
    throw_format("data did not match any variant of untagged enum PointsSelector");
  }
  return out;
}

// ---- collections ----------------------------------------------------------------------------

json without_nulls(const json& value) {
  if (!value.is_object()) return value;
  json out = json::object();
  for (const auto& [key, item] : value.items())
    if (!item.is_null()) out[key] = without_nulls(item);
  return out;
}

// Qdrant's name rules (lib/common/common/src/validation.rs): at most 255 characters for a
// collection, 200 bytes for a vector, none of < > : " / \ | ? * NUL 0x1F.
std::optional<std::string> invalid_name_char(std::string_view name) {
  for (char c : {'<', '>', ':', '"', '/', '\\', '|', '?', '*', '\0', '\x1F'})
    if (name.find(c) != std::string_view::npos) return std::string(1, c);
  return std::nullopt;
}

dense_params read_vector_params(const json& value, const std::string& where, body_checks& checks) {
  expect_object(value, where);
  dense_params out;
  const json* size = member(value, "size");
  const json* distance = member(value, "distance");
  if (size == nullptr || distance == nullptr) throw_format("missing field `size` or `distance`");
  out.size = read_unsigned(*size, join_path(where, "size"));
  if (out.size < 1 || out.size > max_dense_size)
    checks.invalid(join_path(where, "size"),
                   "value " + std::to_string(out.size) + " invalid, must be from 1 to 65536");
  auto kind = distance->is_string() ? parse_distance(distance->get<std::string>()) : std::nullopt;
  if (!kind)
    throw_format("unknown variant " + json_text(*distance) +
                 ", expected one of `Cosine`, `Euclid`, `Dot`, `Manhattan`");
  out.distance = *kind;
  if (member(value, "multivector_config") != nullptr) throw_unsupported("A multivector config");
  out.echo = without_nulls(value);
  return out;
}

sparse_params read_sparse_params(const json& value, const std::string& where) {
  expect_object(value, where);
  sparse_params out;
  if (const json* modifier = member(value, "modifier")) {
    if (*modifier == "idf")
      out.idf = true;
    else if (*modifier != "none")
      throw_format("unknown variant " + json_text(*modifier) + ", expected `none` or `idf`");
  }
  out.echo = without_nulls(value);
  return out;
}

struct create_request {
  collection_state collection;
};

create_request read_create(const json& body, body_checks& checks) {
  expect_object(body, "body");
  create_request out;
  collection_state& collection = out.collection;
  if (const json* vectors = member(body, "vectors")) {
    expect_object(*vectors, "vectors");
    if (vectors->contains("size") && vectors->contains("distance") &&
        (*vectors)["size"].is_number()) {
      collection.single_vector = true;
      collection.dense[""] = read_vector_params(*vectors, "vectors", checks);
    } else {
      for (const auto& [name, params] : vectors->items()) {
        if (name.size() > 200)
          checks.invalid(join_path("vectors", name), "vector name must be at most 200 bytes long");
        else if (auto c = invalid_name_char(name))
          checks.invalid(join_path("vectors", name),
                         "vector name cannot contain \"" + *c + "\" char");
        collection.dense[name] = read_vector_params(params, join_path("vectors", name), checks);
      }
    }
  }
  if (const json* sparse = member(body, "sparse_vectors")) {
    expect_object(*sparse, "sparse_vectors");
    for (const auto& [name, params] : sparse->items())
      collection.sparse[name] = read_sparse_params(params, join_path("sparse_vectors", name));
  }
  if (const json* method = member(body, "sharding_method");
      method != nullptr && *method == "custom")
    throw_unsupported("Custom sharding");
  for (const char* key : {"shard_number", "replication_factor", "write_consistency_factor"})
    if (auto count = read_count(body, key, key, 1, checks)) collection.params_extra[key] = *count;
  for (const char* key : {"on_disk_payload", "payload"})
    if (const json* value = member(body, key)) collection.params_extra[key] = without_nulls(*value);
  auto object_or_empty = [&](const char* key) {
    const json* value = member(body, key);
    return value != nullptr ? without_nulls(expect_object(*value, key)) : json::object();
  };
  collection.hnsw_config = object_or_empty("hnsw_config");
  collection.optimizer_config = object_or_empty("optimizers_config");
  collection.wal_config = object_or_empty("wal_config");
  collection.strict_mode_config = object_or_empty("strict_mode_config");
  if (const json* quantization = member(body, "quantization_config"))
    collection.quantization_config = *quantization;
  if (const json* metadata = member(body, "metadata"))
    collection.metadata = expect_object(*metadata, "metadata");
  return out;
}

// ---- answers --------------------------------------------------------------------------------

json update_result(std::uint64_t operation_id, bool wait) {
  return json{{"operation_id", operation_id}, {"status", wait ? "completed" : "acknowledged"}};
}

struct scored {
  const stored_point* point = nullptr;
  float score = 0.0f;
};

// Score order (descending for similarities, ascending for distances), then id ascending: the
// double's deterministic tie break (Qdrant leaves ties unordered).
void sort_scored(std::vector<scored>& list, bool descending) {
  std::sort(list.begin(), list.end(), [descending](const scored& a, const scored& b) {
    if (a.score != b.score) return descending ? a.score > b.score : a.score < b.score;
    return a.point->id < b.point->id;
  });
}

// The collections of one double, all behind the double's state mutex.
class store {
 public:
  // Aliases first, as Qdrant's `resolve_name` does.
  collection_state* find(const std::string& name) {
    if (auto alias = aliases_.find(name); alias != aliases_.end()) {
      auto found = collections_.find(alias->second);
      return found == collections_.end() ? nullptr : &found->second;
    }
    auto found = collections_.find(name);
    return found == collections_.end() ? nullptr : &found->second;
  }

  collection_state& resolve(const std::string& name) {
    collection_state* found = find(name);
    if (found == nullptr) throw_not_found(collection_missing_text(name));
    return *found;
  }

  json list_collections() const {
    json list = json::array();
    for (const auto& [name, collection] : collections_) list.push_back({{"name", name}});
    return json{{"collections", std::move(list)}};
  }

  bool exists(const std::string& name) { return find(name) != nullptr; }

  json create(const std::string& name, create_request request) {
    if (collections_.contains(name))
      throw api_error{http::status::conflict,
                      "Wrong input: Collection `" + name + "` already exists!"};
    if (aliases_.contains(name))
      throw_wrong_input("Can't create collection with name " + name +
                        ". Alias with the same name already exists");
    const collection_state& collection = request.collection;
    if (collection.sparse.contains("")) throw_wrong_input("Sparse vector name cannot be empty");
    for (const auto& [dense_name, params] : collection.dense)
      if (collection.sparse.contains(dense_name))
        throw_wrong_input("Dense and sparse vector names must be unique - duplicate found with '" +
                          dense_name + "'");
    collections_.emplace(name, std::move(request.collection));
    return true;
  }

  bool remove(const std::string& name) {
    if (collections_.erase(name) == 0) return false;
    std::erase_if(aliases_, [&](const auto& alias) { return alias.second == name; });
    return true;
  }

  json update_aliases(const json& actions) {
    for (const auto& action : actions) {
      if (const json* create = member(action, "create_alias")) {
        const std::string collection = create->value("collection_name", "");
        const std::string alias = create->value("alias_name", "");
        if (!collections_.contains(collection))
          throw_not_found(collection_missing_text(collection));
        if (collections_.contains(alias))
          throw api_error{http::status::conflict,
                          "Wrong input: Collection `" + alias + "` already exists!"};
        aliases_[alias] = collection;
      } else if (const json* remove = member(action, "delete_alias")) {
        aliases_.erase(remove->value("alias_name", ""));
      } else if (const json* rename = member(action, "rename_alias")) {
        const std::string old_name = rename->value("old_alias_name", "");
        auto found = aliases_.find(old_name);
        if (found == aliases_.end()) throw_not_found("Alias " + old_name + " does not exists!");
        const std::string target = found->second;
        aliases_.erase(found);
        aliases_[rename->value("new_alias_name", "")] = target;
      } else {
        throw_format("data did not match any variant of untagged enum AliasOperations");
      }
    }
    return true;
  }

  json list_aliases(const std::optional<std::string>& collection) const {
    json list = json::array();
    for (const auto& [alias, target] : aliases_)
      if (!collection || *collection == target)
        list.push_back({{"alias_name", alias}, {"collection_name", target}});
    return json{{"aliases", std::move(list)}};
  }

 private:
  std::map<std::string, collection_state> collections_;
  std::map<std::string, std::string> aliases_;
};

json collection_info(const collection_state& collection) {
  json vectors = json::object();
  if (collection.single_vector) {
    vectors = collection.dense.at("").echo;
  } else {
    for (const auto& [name, params] : collection.dense) vectors[name] = params.echo;
  }
  json params = {{"vectors", std::move(vectors)},
                 {"shard_number", 1},
                 {"replication_factor", 1},
                 {"write_consistency_factor", 1},
                 {"on_disk_payload", true}};
  params.update(collection.params_extra);
  if (!collection.sparse.empty()) {
    json sparse = json::object();
    for (const auto& [name, sparse_config] : collection.sparse) sparse[name] = sparse_config.echo;
    params["sparse_vectors"] = std::move(sparse);
  }
  // Qdrant's defaults (config/config.yaml), with the collection's overrides.
  json hnsw = {{"m", 16},
               {"ef_construct", 100},
               {"full_scan_threshold", 10000},
               {"max_indexing_threads", 0},
               {"on_disk", false}};
  hnsw.update(collection.hnsw_config);
  json optimizer = {{"deleted_threshold", 0.2},    {"vacuum_min_vector_number", 1000},
                    {"default_segment_number", 0}, {"max_segment_size", nullptr},
                    {"memmap_threshold", nullptr}, {"indexing_threshold", 10000},
                    {"flush_interval_sec", 5},     {"max_optimization_threads", nullptr}};
  optimizer.update(collection.optimizer_config);
  json wal = {{"wal_capacity_mb", 32}, {"wal_segments_ahead", 0}, {"wal_retain_closed", 1}};
  wal.update(collection.wal_config);
  json strict = {{"enabled", false}};
  strict.update(collection.strict_mode_config);
  json config = {{"params", std::move(params)},
                 {"hnsw_config", std::move(hnsw)},
                 {"optimizer_config", std::move(optimizer)},
                 {"wal_config", std::move(wal)},
                 {"quantization_config", collection.quantization_config},
                 {"strict_mode_config", std::move(strict)}};
  if (!collection.metadata.is_null()) config["metadata"] = collection.metadata;
  json payload_schema = json::object();
  for (const auto& [field, index] : collection.payload_indexes) {
    json info = index;
    std::size_t points = 0;
    if (auto path = parse_json_path(field)) {
      for (const auto& [id, point] : collection.points) {
        const auto values = values_at(point.payload, *path);
        if (std::any_of(values.begin(), values.end(), [](const json* v) { return !v->is_null(); }))
          ++points;
      }
    }
    info["points"] = points;
    payload_schema[field] = std::move(info);
  }
  std::size_t indexed = 0;  // below Qdrant's indexing threshold nothing is HNSW-indexed
  return json{{"status", "green"},
              {"optimizer_status", "ok"},
              {"indexed_vectors_count", indexed},
              {"points_count", collection.points.size()},
              {"segments_count", 1},
              {"config", std::move(config)},
              {"payload_schema", std::move(payload_schema)}};
}

void update_collection(collection_state& collection, const json& body, body_checks& checks) {
  expect_object(body, "body");
  // Parse everything first, then apply: a refused PATCH changes nothing.
  collection_state updated = collection;
  if (const json* vectors = member(body, "vectors")) {
    expect_object(*vectors, "vectors");
    for (const auto& [name, diff] : vectors->items()) {
      auto found = updated.dense.find(name);
      if (found == updated.dense.end())
        throw_wrong_input(name.empty()
                              ? "Default vector params are not specified in config"
                              : "Vector params for " + name + " are not specified in config");
      found->second.echo.merge_patch(
          without_nulls(expect_object(diff, join_path("vectors", name))));
    }
  }
  if (const json* sparse = member(body, "sparse_vectors")) {
    expect_object(*sparse, "sparse_vectors");
    for (const auto& [name, params] : sparse->items()) {
      auto found = updated.sparse.find(name);
      if (found == updated.sparse.end())
        throw_wrong_input("Sparse vector " + name + " is not found");
      sparse_params patched = read_sparse_params(params, join_path("sparse_vectors", name));
      if (params.contains("modifier")) found->second.idf = patched.idf;
      found->second.echo.merge_patch(patched.echo);
    }
  }
  auto merge = [&](const char* key, json& target) {
    if (const json* value = member(body, key))
      target.merge_patch(without_nulls(expect_object(*value, key)));
  };
  merge("hnsw_config", updated.hnsw_config);
  merge("optimizers_config", updated.optimizer_config);
  merge("strict_mode_config", updated.strict_mode_config);
  if (const json* params = member(body, "params"))
    updated.params_extra.merge_patch(without_nulls(expect_object(*params, "params")));
  if (const json* quantization = member(body, "quantization_config"))
    updated.quantization_config = *quantization;
  if (const json* metadata = member(body, "metadata")) {
    expect_object(*metadata, "metadata");
    if (!updated.metadata.is_object()) updated.metadata = json::object();
    for (const auto& [key, value] : metadata->items()) {
      if (value.is_null())
        updated.metadata.erase(key);
      else
        updated.metadata[key] = value;
    }
  }
  checks.finish();
  collection = std::move(updated);
}

// ---- updates --------------------------------------------------------------------------------

// The checks Qdrant makes before it writes (src/common/validate_vectors.rs: dimensions, for
// every point, even with wait=false), then the ones the segments make (names and kinds).
void check_vectors(const collection_state& collection, const std::vector<point_write>& points) {
  for (const auto& point : points) {
    for (const auto& [name, vector] : point.vectors) {
      if (vector.sparse) continue;
      auto params = collection.dense.find(name);
      if (params == collection.dense.end() || params->second.size == vector.dense.size()) continue;
      std::string text =
          "Vector dimension error: expected dim: " + std::to_string(params->second.size) +
          ", got " + std::to_string(vector.dense.size());
      if (!collection.single_vector) text += " for vector '" + name + "'";
      throw_wrong_input(std::move(text));
    }
  }
  for (const auto& point : points) {
    for (const auto& [name, vector] : point.vectors) {
      const bool dense = collection.dense.contains(name);
      const bool sparse = collection.sparse.contains(name);
      if (!dense && !sparse) throw_wrong_input("Not existing vector name error: " + name);
      if (vector.sparse != sparse)
        throw_wrong_input("Conversion between sparse and regular vectors failed");
    }
  }
}

json apply_upsert(collection_state& collection, upsert_request request, bool wait) {
  check_vectors(collection, request.points);
  const std::uint64_t operation = collection.next_operation_id++;
  for (auto& write : request.points) {
    auto existing = collection.points.find(write.id);
    const bool exists = existing != collection.points.end();
    if (request.mode == update_mode::insert_only && exists) continue;
    if (request.mode == update_mode::update_only && !exists) continue;
    if (exists && request.update_filter &&
        !check_filter(*request.update_filter, &existing->second, existing->second.payload))
      continue;
    // Whole-point replacement: nothing of the previous point survives (a missing payload
    // clears it); a later duplicate in the same request wins.
    stored_point point;
    point.id = write.id;
    point.payload = std::move(write.payload);
    point.version = operation;
    for (auto& [name, vector] : write.vectors) {
      if (vector.sparse) {
        vector.sparse_value.sort_by_index();
        point.sparse[name] = std::move(vector.sparse_value);
      } else {
        if (collection.dense.at(name).distance == distance_kind::cosine)
          cosine_preprocess(vector.dense);
        point.dense[name] = std::move(vector.dense);
      }
    }
    collection.points.insert_or_assign(write.id, std::move(point));
  }
  return update_result(operation, wait);
}

json apply_delete(collection_state& collection, const points_selector& selector, bool wait) {
  const std::uint64_t operation = collection.next_operation_id++;
  if (selector.ids) {
    for (const auto& id : *selector.ids) collection.points.erase(id);  // missing ids: a no-op
  } else {
    const std::vector<const filter*> filters = {&*selector.where};
    std::erase_if(collection.points,
                  [&](const auto& entry) { return passes(filters, entry.second); });
  }
  return update_result(operation, wait);
}

// ---- reads ----------------------------------------------------------------------------------

class query_engine {
 public:
  explicit query_engine(const collection_state& collection) : collection_(collection) {}

  json run(const query_request& request) {
    check_structure(request.root);
    check_vectors_of(request.root);
    std::vector<const filter*> filters;
    auto results = evaluate(request.root, filters, request.root.limit + request.offset);
    json points = json::array();
    for (std::size_t i = request.offset; i < results.size(); ++i)
      points.push_back(render_point(collection_, *results[i].point, request.with_payload,
                                    request.with_vector, results[i].score));
    return json{{"points", std::move(points)}};
  }

 private:
  // collection_query.rs: prefetches need a query; a threshold needs a query.
  void check_structure(const query_node& node) {
    if (!node.prefetch.empty() && !node.query)
      throw_bad_request(
          "A query is needed to merge the prefetches. Can't have prefetches without defining a "
          "query.");
    if (node.score_threshold && !node.query)
      throw_bad_request(
          "A query is needed to use the score_threshold. Can't have score_threshold without "
          "defining a query.");
    for (const auto& child : node.prefetch) check_structure(child);
  }

  void check_vectors_of(const query_node& node) {
    if (node.query && std::holds_alternative<vector_input>(*node.query)) {
      const auto& input = std::get<vector_input>(*node.query);
      auto dense = collection_.dense.find(node.using_name);
      const bool sparse = collection_.sparse.contains(node.using_name);
      if (dense == collection_.dense.end() && !sparse)
        collection_.throw_missing_vector(node.using_name);
      if (input.sparse != sparse)
        throw_wrong_input("Conversion between sparse and regular vectors failed");
      if (!sparse && dense->second.size != input.dense.size())
        throw_wrong_input(
            "Vector dimension error: expected dim: " + std::to_string(dense->second.size) +
            ", got " + std::to_string(input.dense.size()));
    }
    for (const auto& child : node.prefetch) check_vectors_of(child);
  }

  bool descending(const query_node& node) const {
    if (!node.query || !std::holds_alternative<vector_input>(*node.query)) return true;
    auto dense = collection_.dense.find(node.using_name);
    return dense == collection_.dense.end() || higher_is_better(dense->second.distance);
  }

  // The scores of a vector query over `candidates` (all points when null), sorted, with the
  // plain-search threshold (strict: `score > t` for similarities, `score < t` for distances).
  std::vector<scored> score_vector(const query_node& node, const vector_input& input,
                                   const std::vector<const filter*>& filters,
                                   const std::vector<const stored_point*>* candidates) {
    std::vector<scored> out;
    const bool higher = descending(node);
    auto keep = [&](float score) {
      if (!node.score_threshold) return true;
      return higher ? score > *node.score_threshold : score < *node.score_threshold;
    };
    auto consider = [&](const stored_point& point, auto&& score_of) {
      if (candidates == nullptr && !passes(filters, point)) return;
      if (auto score = score_of(point); score && keep(*score)) out.push_back({&point, *score});
    };
    auto each_point = [&](auto&& visit) {
      if (candidates != nullptr) {
        for (const stored_point* point : *candidates) visit(*point);
      } else {
        for (const auto& [id, point] : collection_.points) visit(point);
      }
    };
    if (input.sparse) {
      sparse_vector query = input.sparse_value;
      query.sort_by_index();
      if (collection_.sparse.at(node.using_name).idf)
        apply_idf(collection_, node.using_name, query);
      // Rescoring prefetched points scores every one of them (0 without overlap); a search
      // returns only the points that share an index with the query.
      const bool rescoring = candidates != nullptr;
      each_point([&](const stored_point& point) {
        consider(point, [&](const stored_point& p) -> std::optional<float> {
          auto found = p.sparse.find(node.using_name);
          if (found == p.sparse.end()) return std::nullopt;
          auto score = sparse_score(query, found->second);
          if (!score && rescoring) return 0.0f;
          return score;
        });
      });
    } else {
      const dense_params& params = collection_.dense.at(node.using_name);
      std::vector<float> query = input.dense;
      if (params.distance == distance_kind::cosine) cosine_preprocess(query);
      each_point([&](const stored_point& point) {
        consider(point, [&](const stored_point& p) -> std::optional<float> {
          auto found = p.dense.find(node.using_name);
          if (found == p.dense.end()) return std::nullopt;
          return dense_score(params.distance, query, found->second);
        });
      });
    }
    sort_scored(out, higher);
    return out;
  }

  std::vector<scored> evaluate(const query_node& node, std::vector<const filter*> filters,
                               std::size_t take) {
    // The root filter (and each prefetch's own) is AND-merged into the prefetches below it
    // (planned_query.rs: "Filters are propagated into the leaves").
    if (node.where) filters.push_back(&*node.where);
    std::vector<scored> out;
    if (!node.prefetch.empty()) {
      std::vector<std::vector<scored>> lists;
      for (const auto& child : node.prefetch)
        lists.push_back(evaluate(child, filters, child.limit));
      if (std::holds_alternative<fusion_input>(*node.query)) {
        out = fuse(std::get<fusion_input>(*node.query), lists, node.score_threshold);
      } else {
        std::vector<const stored_point*> candidates;
        std::set<point_id> seen;
        for (const auto& list : lists)
          for (const auto& item : list)
            if (seen.insert(item.point->id).second) candidates.push_back(item.point);
        out = score_vector(node, std::get<vector_input>(*node.query), filters, &candidates);
      }
    } else if (!node.query) {
      // No query: points in id order, like scroll.
      for (const auto& [id, point] : collection_.points)
        if (passes(filters, point)) out.push_back({&point, 0.0f});
    } else if (std::holds_alternative<fusion_input>(*node.query)) {
      throw_wrong_input("Validation failed: cannot apply Fusion without prefetches");
    } else {
      out = score_vector(node, std::get<vector_input>(*node.query), filters, nullptr);
    }
    if (out.size() > take) out.resize(take);
    return out;
  }

  // Reciprocal rank fusion: 1 / ((pos + 1) / w + k - 1) per list, summed; fused scores keep
  // `score >= threshold` (collection/query.rs).
  std::vector<scored> fuse(const fusion_input& fusion,
                           const std::vector<std::vector<scored>>& lists,
                           std::optional<float> threshold) {
    if (fusion.weights && fusion.weights->size() != lists.size())
      throw_wrong_input(
          "Validation failed: Number of weights in RRF should match number of "
          "pre-fetches: got " +
          std::to_string(fusion.weights->size()) + ", expected " + std::to_string(lists.size()));
    std::map<point_id, scored> sums;
    for (std::size_t list = 0; list < lists.size(); ++list) {
      const float weight = fusion.weights ? (*fusion.weights)[list] : 1.0f;
      for (std::size_t position = 0; position < lists[list].size(); ++position) {
        const scored& item = lists[list][position];
        auto [entry, inserted] = sums.try_emplace(item.point->id, scored{item.point, 0.0f});
        entry->second.score += rrf_position_score(position, fusion.k, weight);
      }
    }
    std::vector<scored> out;
    for (const auto& [id, item] : sums)
      if (!threshold || item.score >= *threshold) out.push_back(item);
    sort_scored(out, true);
    return out;
  }

  const collection_state& collection_;
};

struct scroll_request {
  std::optional<point_id> offset;
  std::size_t limit = 10;
  std::optional<filter> where;
  payload_selector with_payload;  // default true for scroll
  vector_selector with_vector;
};

scroll_request read_scroll(const json& body, body_checks& checks) {
  expect_object(body, "body");
  if (member(body, "shard_key") != nullptr) throw_unsupported("Custom sharding (shard_key)");
  if (member(body, "order_by") != nullptr) throw_unsupported("Scroll with order_by");
  scroll_request out;
  if (const json* offset = member(body, "offset")) out.offset = read_point_id(*offset);
  // ScrollRequest flattens ScrollRequestInternal into `scroll_request`.
  if (auto limit = read_count(body, "limit", "scroll_request.limit", 1, checks)) out.limit = *limit;
  out.where = read_optional_filter(body, "filter", "", checks);
  out.with_payload = read_with_payload(member(body, "with_payload"), payload_selector::mode::all);
  out.with_vector = read_with_vector(body);
  return out;
}

json run_scroll(const collection_state& collection, const scroll_request& request) {
  std::vector<const filter*> filters;
  if (request.where) filters.push_back(&*request.where);
  json points = json::array();
  json next = nullptr;
  auto start =
      request.offset ? collection.points.lower_bound(*request.offset) : collection.points.begin();
  std::size_t taken = 0;
  for (auto it = start; it != collection.points.end(); ++it) {
    if (!passes(filters, it->second)) continue;
    if (taken == request.limit) {  // the look-ahead point: the next page starts here
      next = to_json(it->first);
      break;
    }
    points.push_back(render_point(collection, it->second, request.with_payload, request.with_vector,
                                  std::nullopt));
    ++taken;
  }
  return json{{"points", std::move(points)}, {"next_page_offset", std::move(next)}};
}

json run_count(const collection_state& collection, const json& body, body_checks& checks) {
  expect_object(body, "body");
  if (member(body, "shard_key") != nullptr) throw_unsupported("Custom sharding (shard_key)");
  auto where = read_optional_filter(body, "filter", "", checks);
  if (const json* exact = member(body, "exact"); exact != nullptr && !exact->is_boolean())
    throw_type("exact", "a boolean");
  checks.finish();
  std::vector<const filter*> filters;
  if (where) filters.push_back(&*where);
  std::size_t count = 0;
  for (const auto& [id, point] : collection.points)
    if (passes(filters, point)) ++count;
  return json{{"count", count}};
}

struct retrieve_request {
  std::vector<point_id> ids;
  payload_selector with_payload;
  vector_selector with_vector;
};

retrieve_request read_retrieve(const json& body) {
  expect_object(body, "body");
  if (member(body, "shard_key") != nullptr) throw_unsupported("Custom sharding (shard_key)");
  retrieve_request out;
  const json* ids = member(body, "ids");
  if (ids == nullptr || !ids->is_array()) throw_format("missing field `ids`");
  for (const auto& id : *ids) out.ids.push_back(read_point_id(id));
  out.with_payload = read_with_payload(member(body, "with_payload"), payload_selector::mode::all);
  out.with_vector = read_with_vector(body);
  return out;
}

json run_retrieve(const collection_state& collection, const retrieve_request& request) {
  json points = json::array();
  std::set<point_id> seen;
  for (const auto& id : request.ids) {
    auto found = collection.points.find(id);
    if (found == collection.points.end() || !seen.insert(id).second) continue;
    points.push_back(render_point(collection, found->second, request.with_payload,
                                  request.with_vector, std::nullopt));
  }
  return points;
}

// =============================================================================================
// 5. The answers (the connections are double_http_server's)
// =============================================================================================

// A request body as the handlers see it: parsed, checked against its schema.
struct request_body {
  json value;
  std::vector<std::string> schema_errors;
};

// Runs a pure parser over the body in Qdrant's order: its format errors first, then (when the
// schema refused the body for a reason the parser did not name) the schema's first complaint as
// a format error, then the parser's first validation (422) error.
template <class Parse>
auto parse_checked(const request_body& body, Parse&& parse) {
  body_checks checks;
  try {
    auto parsed = parse(body.value, checks);
    if (!body.schema_errors.empty()) {
      checks.finish();
      throw_format(body.schema_errors.front());
    }
    checks.finish();
    return parsed;
  } catch (api_error& error) {
    if (!body.schema_errors.empty() && error.layer == error_layer::semantic)
      throw_format(body.schema_errors.front());
    throw;
  }
}

using batch_operation = std::variant<upsert_request, points_selector>;

}  // namespace

struct qdrant_double::impl final : double_http_handler {
  explicit impl(qdrant_double_options options_to_use)
      : options(std::move(options_to_use)),
        contract(load_contract(options)),
        server(server_options(options), *this) {}

  static std::shared_ptr<const openapi_contract> load_contract(
      const qdrant_double_options& options) {
    const std::string openapi_file =
        options.openapi_file.empty() ? std::string(BOOKMCP_QDRANT_OPENAPI) : options.openapi_file;
    if (openapi_file.empty())
      throw std::runtime_error("qdrant double: no OpenAPI file (set options.openapi_file)");
    return openapi_contract::shared(openapi_file);
  }

  static double_http_server_options server_options(const qdrant_double_options& options) {
    double_http_server_options out;
    out.name = "qdrant double";
    out.port = options.port;
    out.max_body_bytes = max_body_bytes;
    out.max_header_bytes = 64 * 1024;
    return out;
  }

  void record_violation(std::string_view method, std::string_view path, std::string what) {
    std::lock_guard lock(record_mutex);
    violation_list.push_back(std::string(method) + " " + std::string(path) + ": " +
                             std::move(what));
  }

  void record_request(std::string_view method, std::string_view path) {
    std::lock_guard lock(record_mutex);
    received.emplace_back(std::string(method), std::string(path));
  }

  // ---- what the server asks ------------------------------------------------------------

  double_response refuse_too_large(const double_request_header& head, bool declared) override {
    if (!declared)
      return refusal(
          error_body("Payload error: JSON payload has exceeded limit (33554432 bytes).", 0.0));
    // actix refuses a JSON body over the limit from its Content-Length.
    const std::string length(head[http::field::content_length]);
    const std::string path = normalise(head.target().substr(0, head.target().find('?')));
    record_request(head.method_string(), path);
    request_count.fetch_add(1);
    record_violation(head.method_string(), path,
                     "a body of " + length + " bytes, over Qdrant's 32 MiB limit");
    return refusal(error_body("Payload error: JSON payload (" + length +
                                  " bytes) is larger than allowed (limit: 33554432 bytes).",
                              0.0));
  }

  // Bytes that are not HTTP: the connection is closed without an answer.
  std::optional<double_response> refuse_malformed(const boost::system::error_code&) override {
    return std::nullopt;
  }

  // The 400 written before the connection closes on a body it did not read.
  static response_type refusal(std::string body) {
    response_type response{http::status::bad_request, 11};
    response.set(http::field::server, server_name);
    response.set(http::field::content_type, "application/json");
    response.keep_alive(false);
    response.body() = std::move(body);
    response.prepare_payload();
    return response;
  }

  // ---- answering ------------------------------------------------------------------------

  static std::string normalise(std::string_view path) {
    // NormalizePath::trim(): no trailing slash (but "/" stays), no doubled slashes.
    std::string out;
    for (char c : path)
      if (!(c == '/' && !out.empty() && out.back() == '/')) out.push_back(c);
    while (out.size() > 1 && out.back() == '/') out.pop_back();
    if (out.empty()) out = "/";
    return out;
  }

  static std::string seconds_text(double seconds) {
    char digits[32];
    const auto written = std::to_chars(digits, digits + sizeof digits, seconds);
    std::string text(digits, written.ptr);
    if (text.find_first_of(".e") == std::string::npos) text += ".0";
    return text;
  }

  static std::string error_body(std::string_view message, double time) {
    return "{\"status\":{\"error\":" + json_text(json(message)) +
           "},\"time\":" + seconds_text(time) + "}";
  }

  double_response answer_failed(const request_type& request) override {
    return make_response(http::status::internal_server_error, request,
                         error_body("Service internal error: the Qdrant double failed to answer "
                                    "the request",
                                    0.0),
                         "application/json");
  }

  static response_type make_response(http::status status, const request_type& request,
                                     std::string body, std::string_view content_type) {
    response_type response{status, request.version()};
    response.set(http::field::server, server_name);
    if (!content_type.empty()) response.set(http::field::content_type, content_type);
    response.keep_alive(request.keep_alive());
    response.body() = std::move(body);
    response.prepare_payload();
    return response;
  }

  // The query string's parameters (later ones win), percent-decoded.
  static std::map<std::string, std::string> parse_query(std::string_view query) {
    std::map<std::string, std::string> out;
    while (!query.empty()) {
      const std::size_t end = std::min(query.find('&'), query.size());
      const std::string_view pair = query.substr(0, end);
      query.remove_prefix(std::min(end + 1, query.size()));
      if (pair.empty()) continue;
      const std::size_t equals = pair.find('=');
      std::string key(pair.substr(0, equals));
      std::string value(equals == std::string_view::npos ? "" : pair.substr(equals + 1));
      std::replace(value.begin(), value.end(), '+', ' ');
      out[percent_decode(key).value_or(key)] = percent_decode(value).value_or(value);
    }
    return out;
  }

  enum class access { full, read_only };

  // Qdrant's api-key middleware (src/actix/auth.rs, src/common/auth/mod.rs): the 401 bodies are
  // plain text, without a Content-Type (actix's `.body(String)`).
  std::variant<access, std::string> authenticate(const request_type& request,
                                                 const std::string& path) const {
    if (options.api_key.empty()) return access::full;
    if (path == "/" || path == "/healthz" || path.rfind("/readyz", 0) == 0 ||
        path.rfind("/livez", 0) == 0)
      return access::full;
    std::optional<std::string_view> key;
    if (auto header = request.find("api-key"); header != request.end()) {
      key = header->value();
    } else if (auto bearer = request.find(http::field::authorization);
               bearer != request.end() && bearer->value().substr(0, 7) == "Bearer ") {
      key = bearer->value().substr(7);
    }
    if (!key) return std::string("Must provide an API key or an Authorization bearer token");
    if (constant_time_equal(*key, options.api_key)) return access::full;
    if (!options.read_only_api_key.empty() && constant_time_equal(*key, options.read_only_api_key))
      return access::read_only;
    return std::string("Invalid API key or JWT");
  }

  static bool is_write(std::string_view operation) {
    static const std::set<std::string_view> writes = {
        "create_collection",  "update_collection",  "delete_collection",
        "create_field_index", "delete_field_index", "upsert_points",
        "delete_points",      "batch_update",       "update_aliases"};
    return writes.contains(operation);
  }

  double_reply answer(const request_type& request) override {
    const auto started = std::chrono::steady_clock::now();
    const std::string_view target = request.target();
    const std::size_t question = target.find('?');
    const std::string path = normalise(target.substr(0, question));
    const std::string_view query_string =
        question == std::string_view::npos ? std::string_view() : target.substr(question + 1);
    const std::string method(request.method_string());
    record_request(method, path);
    request_count.fetch_add(1);

    auto elapsed = [&] {
      return std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
    };
    double_reply result;
    auto reply_text = [&](http::status status, std::string body, std::string_view type) {
      result.response = make_response(status, request, std::move(body), type);
      return result;
    };
    auto reply_error = [&](http::status status, std::string_view message) {
      return reply_text(status, error_body(message, elapsed()), "application/json");
    };

    fault_queue<qdrant_fault>::taken fault;
    if (path != "/" && path != "/healthz") fault = faults.take();
    switch (fault.fault) {
      case qdrant_fault::hang:
        result.hang = true;
        return result;
      case qdrant_fault::drop_connection:
        result.drop = true;
        return result;
      case qdrant_fault::rate_limited: {
        const auto milliseconds = std::max<std::int64_t>(fault.amount.count(), 0);
        const std::int64_t seconds = (milliseconds + 999) / 1000;
        reply_error(http::status::too_many_requests,
                    "Rate limiting exceeded: Write rate limit exceeded: Operation requires 1 "
                    "tokens but only 0.0 were available. Retry after " +
                        std::to_string(seconds) + "s");
        result.response.set(http::field::retry_after, std::to_string(seconds));
        return result;
      }
      case qdrant_fault::unavailable:
        return reply_error(http::status::service_unavailable,
                           "Shard temporarily unavailable: injected by the Qdrant double");
      case qdrant_fault::slow:
        result.delay = fault.amount;
        break;
      case qdrant_fault::none:
        break;
    }

    // (reply_text keeps `result.delay`: a slow fault delays whatever the answer is.)
    const auto granted = authenticate(request, path);
    if (std::holds_alternative<std::string>(granted))
      return reply_text(http::status::unauthorized, std::get<std::string>(granted), "");
    const bool read_only = std::get<access>(granted) == access::read_only;

    // Routing: the OpenAPI description's templates; a path it does not have is actix's 404
    // with an empty body.
    std::vector<std::string> segments;
    for (const auto& raw : split_path(path)) {
      auto decoded = percent_decode(raw);
      if (!decoded) return reply_text(http::status::not_found, "", "");
      segments.push_back(std::move(*decoded));
    }
    const api_operation* operation = contract->find(method, segments);
    if (operation == nullptr) return reply_text(http::status::not_found, "", "");
    if (!served_operations().contains(operation->id)) {
      std::string shown = "/";
      for (std::size_t i = 0; i < operation->segments.size(); ++i)
        shown += (i > 0 ? "/" : "") + operation->segments[i];
      return reply_error(
          http::status::not_implemented,
          method + " " + shown + " (" + operation->id + ") is not supported by the Qdrant double");
    }

    handled produced;
    try {
      produced = handle(*operation, request, method, path, segments, query_string, read_only);
    } catch (const api_error& error) {
      produced.status = error.status;
      produced.result = json{{"status", {{"error", error.message}}}, {"time", 0.0}};
      produced.is_error = true;
    }
    if (produced.text) return reply_text(produced.status, *produced.text, produced.content_type);
    json body;
    if (produced.is_error) {
      body = std::move(produced.result);
      body["time"] = elapsed();  // no "result" key, as Qdrant omits it
    } else if (produced.bare) {
      body = std::move(produced.result);
    } else {
      body = json{{"result", std::move(produced.result)}, {"status", "ok"}, {"time", elapsed()}};
    }
    check_response(*operation, method, path, produced.status, body);
    return reply_text(produced.status, json_text(body), "application/json");
  }

  void check_response(const api_operation& operation, std::string_view method,
                      std::string_view path, http::status status, const json& body) {
    const compiled_schema* schema =
        status == http::status::ok ? operation.response_ok.get() : operation.response_error.get();
    if (schema == nullptr) return;
    auto problems = contract->validate(*schema, body);
    if (problems.empty()) return;
    std::lock_guard lock(record_mutex);
    for (auto& problem : problems)
      response_violation_list.push_back(std::string(method) + " " + std::string(path) + " (" +
                                        std::to_string(static_cast<int>(status)) + "): " + problem);
  }

  // What a handler produced: a JSON result (enveloped unless `bare`), a JSON error, or text.
  struct handled {
    http::status status = http::status::ok;
    json result;
    bool bare = false;
    bool is_error = false;
    std::optional<std::string> text;
    std::string content_type;
  };

  // Reads the body of an operation that has one: Content-Type, JSON, schema, unknown keys.
  request_body read_body(const api_operation& operation, const request_type& request,
                         std::string_view method, std::string_view path) {
    request_body body;
    std::string_view content_type = request[http::field::content_type];
    content_type = trim(content_type.substr(0, content_type.find(';')));
    const std::string type = lower_ascii(content_type);
    const bool is_json = type == "application/json" ||
                         (type.size() > 5 && type.compare(type.size() - 5, 5, "+json") == 0);
    if (!is_json) {
      record_violation(method, path,
                       "Content-Type " + (type.empty() ? std::string("missing") : type) +
                           ", Qdrant wants application/json");
      throw api_error{http::status::bad_request, "Content type error", error_layer::format};
    }
    if (request.body().empty()) {
      record_violation(method, path, "an empty body, where a JSON one is required");
      throw_format("EOF while parsing a value at line 1 column 0");
    }
    try {
      body.value = json::parse(request.body());
    } catch (const json::parse_error& error) {
      record_violation(method, path, "a body that is not JSON");
      throw_format(error.what());
    }
    body.schema_errors = contract->validate(*operation.request, body.value);
    if (!body.schema_errors.empty()) {
      std::string lines;
      const std::size_t shown = std::min<std::size_t>(body.schema_errors.size(), 6);
      for (std::size_t i = 0; i < shown; ++i) lines += (i > 0 ? "; " : "") + body.schema_errors[i];
      if (shown < body.schema_errors.size()) lines += "; ...";
      record_violation(method, path, "schema: " + lines);
    }
    std::vector<std::string> unknown;
    contract->unknown_keys(*operation.request, body.value, unknown);
    for (const auto& key : unknown) record_violation(method, path, "strict mode: " + key);
    return body;
  }

  // The query parameters Qdrant reads: `wait` (bool), `timeout` (>= 1), `ordering`,
  // `consistency`; an undeclared one is a violation (Qdrant ignores it).
  bool read_parameters(const api_operation& operation, std::string_view query_string,
                       std::string_view method, std::string_view path) {
    bool wait = false;
    for (const auto& [key, value] : parse_query(query_string)) {
      if (!operation.query_parameters.contains(key)) {
        record_violation(method, path,
                         "query parameter `" + key + "` is not one of " + operation.id + "'s");
        continue;
      }
      auto deserialize_error = [&](std::string message) -> api_error {
        record_violation(method, path, "query parameter `" + key + "`: " + message);
        return api_error{http::status::bad_request,
                         "Deserialize error in query parameters: " + message, error_layer::format};
      };
      if (key == "wait") {
        if (value != "true" && value != "false")
          throw deserialize_error("provided string was not `true` or `false`");
        wait = value == "true";
      } else if (key == "timeout") {
        std::uint64_t seconds = 0;
        const auto parsed = std::from_chars(value.data(), value.data() + value.size(), seconds);
        if (parsed.ec != std::errc() || parsed.ptr != value.data() + value.size())
          throw deserialize_error("invalid digit found in string");
        if (seconds < 1) {
          record_violation(method, path, "query parameter `timeout` must be 1 or larger");
          throw api_error{http::status::unprocessable_entity,
                          "Validation error in query parameters: [timeout: value 0 invalid, must "
                          "be 1 or larger]",
                          error_layer::validation};
        }
      } else if (key == "ordering") {
        if (value != "weak" && value != "medium" && value != "strong")
          throw deserialize_error("unknown variant `" + value +
                                  "`, expected one of `weak`, `medium`, `strong`");
      } else if (key == "consistency") {
        const bool number = !value.empty() && std::all_of(value.begin(), value.end(), [](char c) {
          return c >= '0' && c <= '9';
        });
        if (!number && value != "majority" && value != "quorum" && value != "all")
          throw deserialize_error(
              "data did not match any variant of untagged enum ReadConsistency");
      }
    }
    return wait;
  }

  static void check_collection_name(const std::string& name, bool strict) {
    auto refuse = [](const std::string& message) {
      throw api_error{http::status::unprocessable_entity,
                      "Validation error in path parameters: [collection_name: " + message + "]",
                      error_layer::validation};
    };
    if (name.empty() || name.size() > 255)
      refuse("value " + json_text(json(name)) + " invalid, must be from 1 to 255 characters");
    if (strict) {
      if (auto c = invalid_name_char(name))
        refuse("collection name cannot contain \"" + *c + "\" char");
    } else if (name.find('/') != std::string::npos || name.find('\0') != std::string::npos) {
      refuse("collection name cannot contain \"/\" char");
    }
  }

  handled handle(const api_operation& operation, const request_type& request,
                 const std::string& method, const std::string& path,
                 const std::vector<std::string>& segments, std::string_view query_string,
                 bool read_only) {
    handled out;
    const std::string& id = operation.id;
    if (id == "root") {
      out.bare = true;
      out.result = json{{"title", "qdrant - vector search engine"}, {"version", options.version}};
      return out;
    }
    if (id == "healthz" || id == "livez") {
      out.text = "healthz check passed";
      out.content_type = "text/plain; charset=utf-8";
      return out;
    }
    if (id == "readyz") {
      out.text = "all shards are ready";
      out.content_type = "text/plain; charset=utf-8";
      return out;
    }

    const bool wait = read_parameters(operation, query_string, method, path);
    std::optional<request_body> body;
    if (operation.request) body = read_body(operation, request, method, path);
    const std::string name =
        segments.size() >= 2 && segments[0] == "collections" ? segments[1] : std::string();
    if (!name.empty() && id != "update_aliases")
      check_collection_name(name, id == "create_collection");
    if (read_only && is_write(id)) {
      throw api_error{http::status::forbidden, "Forbidden: Global manage access is required"};
    }

    if (id == "get_collections") {
      std::lock_guard lock(data_mutex);
      out.result = collections.list_collections();
    } else if (id == "get_collections_aliases" || id == "get_collection_aliases") {
      std::lock_guard lock(data_mutex);
      if (id == "get_collection_aliases") collections.resolve(name);
      out.result = collections.list_aliases(
          id == "get_collection_aliases" ? std::optional<std::string>(name) : std::nullopt);
    } else if (id == "collection_exists") {
      std::lock_guard lock(data_mutex);
      out.result = json{{"exists", collections.exists(name)}};
    } else if (id == "get_collection") {
      std::lock_guard lock(data_mutex);
      out.result = collection_info(collections.resolve(name));
    } else if (id == "create_collection") {
      auto parsed = parse_checked(
          *body, [](const json& value, body_checks& checks) { return read_create(value, checks); });
      std::lock_guard lock(data_mutex);
      out.result = collections.create(name, std::move(parsed));
    } else if (id == "update_collection") {
      parse_checked(*body, [](const json&, body_checks&) { return 0; });
      std::lock_guard lock(data_mutex);
      body_checks checks;
      update_collection(collections.resolve(name), body->value, checks);
      out.result = true;
    } else if (id == "delete_collection") {
      std::lock_guard lock(data_mutex);
      out.result = collections.remove(name);
    } else if (id == "update_aliases") {
      parse_checked(*body, [](const json&, body_checks&) { return 0; });
      std::lock_guard lock(data_mutex);
      out.result = collections.update_aliases(body->value.at("actions"));
    } else if (id == "create_field_index") {
      auto [field, index] = parse_checked(*body, [](const json& value, body_checks&) {
        const json* field_name = member(value, "field_name");
        if (field_name == nullptr || !field_name->is_string())
          throw_format("missing field `field_name`");
        read_key(*field_name, "field_name");
        json index = json::object();
        if (const json* schema = member(value, "field_schema")) {
          if (schema->is_string()) {
            index["data_type"] = *schema;
          } else if (schema->is_object() && schema->contains("type")) {
            index["data_type"] = (*schema)["type"];
            index["params"] = without_nulls(*schema);
          } else {
            throw_format("data did not match any variant of untagged enum PayloadFieldSchema");
          }
        }
        return std::pair{field_name->get<std::string>(), std::move(index)};
      });
      std::lock_guard lock(data_mutex);
      collection_state& collection = collections.resolve(name);
      if (!index.contains("data_type")) index["data_type"] = infer_type(collection, field);
      collection.payload_indexes[field] = std::move(index);
      out.result = update_result(collection.next_operation_id++, wait);
    } else if (id == "delete_field_index") {
      std::lock_guard lock(data_mutex);
      collection_state& collection = collections.resolve(name);
      collection.payload_indexes.erase(segments.at(3));
      out.result = update_result(collection.next_operation_id++, wait);
    } else if (id == "upsert_points") {
      auto parsed = parse_checked(*body, [](const json& value, body_checks& checks) {
        return read_upsert(value, "", checks);
      });
      std::lock_guard lock(data_mutex);
      out.result = apply_upsert(collections.resolve(name), std::move(parsed), wait);
    } else if (id == "delete_points") {
      auto parsed = parse_checked(*body, [](const json& value, body_checks& checks) {
        return read_selector(value, "", checks);
      });
      std::lock_guard lock(data_mutex);
      out.result = apply_delete(collections.resolve(name), parsed, wait);
    } else if (id == "batch_update") {
      auto operations = parse_checked(*body, [](const json& value, body_checks& checks) {
        std::vector<batch_operation> list;
        const json* items = member(value, "operations");
        if (items == nullptr || !items->is_array()) throw_format("missing field `operations`");
        for (std::size_t i = 0; i < items->size(); ++i) {
          const std::string where = index_path("operations", i);
          const json& item = expect_object((*items)[i], where);
          if (const json* upsert = member(item, "upsert")) {
            list.emplace_back(read_upsert(*upsert, join_path(where, "upsert"), checks));
          } else if (const json* remove = member(item, "delete")) {
            list.emplace_back(read_selector(*remove, join_path(where, "delete"), checks));
          } else {
            const std::string kind = item.empty() ? std::string("?") : item.begin().key();
            throw_unsupported("The `" + kind + "` operation of points/batch");
          }
        }
        return list;
      });
      std::lock_guard lock(data_mutex);
      collection_state& collection = collections.resolve(name);
      // In order, not atomically: an error stops the batch and earlier operations stay applied
      // (src/common/update.rs do_batch_update_points).
      json results = json::array();
      for (auto& each : operations) {
        if (auto* upsert = std::get_if<upsert_request>(&each))
          results.push_back(apply_upsert(collection, std::move(*upsert), wait));
        else
          results.push_back(apply_delete(collection, std::get<points_selector>(each), wait));
      }
      out.result = std::move(results);
    } else if (id == "scroll_points") {
      auto parsed = parse_checked(
          *body, [](const json& value, body_checks& checks) { return read_scroll(value, checks); });
      std::lock_guard lock(data_mutex);
      out.result = run_scroll(collections.resolve(name), parsed);
    } else if (id == "count_points") {
      parse_checked(*body, [](const json& value, body_checks& checks) {
        return read_optional_filter(value, "filter", "", checks).has_value();
      });
      std::lock_guard lock(data_mutex);
      body_checks checks;
      out.result = run_count(collections.resolve(name), body->value, checks);
    } else if (id == "get_points") {
      auto parsed = parse_checked(
          *body, [](const json& value, body_checks&) { return read_retrieve(value); });
      std::lock_guard lock(data_mutex);
      out.result = run_retrieve(collections.resolve(name), parsed);
    } else if (id == "get_point") {
      // The path's id is parsed with ExtendedPointId::from_str: a u64, else a UUID.
      std::optional<point_id> point;
      const std::string& text = segments.at(3);
      std::uint64_t number = 0;
      const auto parsed = std::from_chars(text.data(), text.data() + text.size(), number);
      if (!text.empty() && parsed.ec == std::errc() && parsed.ptr == text.data() + text.size())
        point = parse_point_id(json(number));
      else
        point = parse_point_id(json(text));
      if (!point)
        throw api_error{http::status::bad_request,
                        "Format error in path parameters: " + invalid_point_id_text(json(text)),
                        error_layer::format};
      std::lock_guard lock(data_mutex);
      const collection_state& collection = collections.resolve(name);
      auto found = collection.points.find(*point);
      if (found == collection.points.end())
        throw_not_found("No point with id " + to_text(*point) + " found");
      vector_selector all_vectors;
      all_vectors.all = true;
      out.result =
          render_point(collection, found->second, payload_selector{payload_selector::mode::all, {}},
                       all_vectors, std::nullopt);
    } else if (id == "query_points") {
      auto parsed = parse_checked(*body, [](const json& value, body_checks& checks) {
        return read_query_request(value, "", checks);
      });
      std::lock_guard lock(data_mutex);
      out.result = query_engine(collections.resolve(name)).run(parsed);
    } else if (id == "query_batch_points") {
      auto parsed = parse_checked(*body, [](const json& value, body_checks& checks) {
        std::vector<query_request> list;
        const json* searches = member(value, "searches");
        if (searches == nullptr || !searches->is_array()) throw_format("missing field `searches`");
        for (std::size_t i = 0; i < searches->size(); ++i)
          list.push_back(read_query_request((*searches)[i], index_path("searches", i), checks));
        return list;
      });
      std::lock_guard lock(data_mutex);
      const collection_state& collection = collections.resolve(name);
      json results = json::array();
      for (const auto& each : parsed) results.push_back(query_engine(collection).run(each));
      out.result = std::move(results);
    } else {
      throw_unsupported(method + " " + path);
    }
    return out;
  }

  // A payload index created without a schema: Qdrant infers the type from the stored values.
  static json infer_type(const collection_state& collection, const std::string& field) {
    if (auto path = parse_json_path(field)) {
      for (const auto& [id, point] : collection.points) {
        for (const json* value : values_at(point.payload, *path)) {
          const json& sample = value->is_array() && !value->empty() ? value->front() : *value;
          if (sample.is_string()) return "keyword";
          if (sample.is_boolean()) return "bool";
          if (sample.is_number_integer()) return "integer";
          if (sample.is_number_float()) return "float";
        }
      }
    }
    throw_wrong_input("Unable to infer type for the field '" + field +
                      "'. Please specify `field_type`");
  }

  const qdrant_double_options options;
  std::shared_ptr<const openapi_contract> contract;

  std::mutex data_mutex;  // the collections: one request at a time
  store collections;

  fault_queue<qdrant_fault> faults;

  mutable std::mutex record_mutex;
  std::vector<std::pair<std::string, std::string>> received;  // method, path
  std::vector<std::string> violation_list;
  std::vector<std::string> response_violation_list;

  std::atomic<std::size_t> request_count{0};

  // Last: built once the state above exists, destroyed (connections closed, threads joined)
  // before it goes, so that no connection touches the state when it is not there.
  double_http_server server;
};

qdrant_double::qdrant_double(qdrant_double_options options)
    : impl_(std::make_unique<impl>(std::move(options))) {}

qdrant_double::~qdrant_double() = default;

std::uint16_t qdrant_double::port() const {
  return impl_->server.port();
}

std::string qdrant_double::url() const {
  return "http://127.0.0.1:" + std::to_string(port());
}

void qdrant_double::inject(qdrant_fault fault, std::size_t count,
                           std::chrono::milliseconds retry_after_or_delay) {
  impl_->faults.push(fault, count, retry_after_or_delay);
}

std::size_t qdrant_double::requests() const {
  return impl_->request_count.load();
}

std::size_t qdrant_double::requests_to(std::string_view method,
                                       std::string_view path_suffix) const {
  std::lock_guard lock(impl_->record_mutex);
  return static_cast<std::size_t>(
      std::count_if(impl_->received.begin(), impl_->received.end(), [&](const auto& entry) {
        return entry.first == method && entry.second.size() >= path_suffix.size() &&
               entry.second.compare(entry.second.size() - path_suffix.size(), path_suffix.size(),
                                    path_suffix) == 0;
      }));
}

std::size_t qdrant_double::connections() const {
  return impl_->server.connections();
}

std::size_t qdrant_double::open_requests() const {
  return impl_->server.open_requests();
}

bool qdrant_double::wait_for_open_requests(std::size_t count,
                                           std::chrono::milliseconds timeout) const {
  return impl_->server.wait_for_open_requests(count, timeout);
}

std::vector<std::string> qdrant_double::violations() const {
  std::lock_guard lock(impl_->record_mutex);
  return impl_->violation_list;
}

std::vector<std::string> qdrant_double::response_violations() const {
  std::lock_guard lock(impl_->record_mutex);
  return impl_->response_violation_list;
}

std::size_t qdrant_double::point_count(const std::string& collection) const {
  std::lock_guard lock(impl_->data_mutex);
  const collection_state* found = impl_->collections.find(collection);
  return found == nullptr ? 0 : found->points.size();
}

}  // namespace bookmcp::testing
