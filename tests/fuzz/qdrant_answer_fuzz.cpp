// An answer of Qdrant's REST API as the store reads it (read_qdrant_*: the same functions the
// store calls with a 200 answer's body; qdrant_error_message with any other's).
//
// The first byte picks the call (query, scroll, count, exists, collection info, a write, an
// error answer), the rest is the body.
//
// Invariants beyond "no crash, no leak, no undefined behaviour":
//   - an answer is refused only with vector_store_error, naming the call;
//   - an accepted query answer has one hit per point that carries a string payload chunk_id,
//     in the answer's order, with that id and a finite score (the answer's, or 0 without one);
//   - an accepted scroll answer has one entry per such point; its next offset is a point id
//     (an unsigned integer or a string) as JSON text, or none;
//   - an accepted count, exists or collection answer gives exactly what the result says
//     (read here independently); a collection's dense size is 1 to 65536, 0 without "dense";
//   - an error message is never empty, at most 300 bytes and an ellipsis, valid UTF-8, on one
//     line without control characters;
//   - reading is deterministic.

#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>

#include <nlohmann/json.hpp>

#include "rag/qdrant_store.hpp"
#include "rag/text.hpp"

namespace {

using json = nlohmann::json;

[[noreturn]] void broken(const char* what, const std::string& body) {
  std::fprintf(stderr, "invariant broken: %s\nbody: %.2000s\n", what, body.c_str());
  std::abort();
}

constexpr const char* call = "POST /collections/bookmcp/points/x";

// The result of an accepted answer, read independently.
json result_of(const std::string& body) {
  return json::parse(body, nullptr, /*allow_exceptions=*/false)["result"];
}

// The value at `path` through objects only, or null.
json at(const json& value, std::initializer_list<const char*> path) {
  const json* current = &value;
  for (const char* key : path) {
    if (!current->is_object() || !current->contains(key)) return nullptr;
    current = &(*current)[key];
  }
  return *current;
}

// The chunk ids of the points that carry one, in order.
std::vector<std::string> chunk_ids(const json& result) {
  std::vector<std::string> out;
  if (!result.contains("points") || !result["points"].is_array()) return out;
  for (const auto& point : result["points"]) {
    if (point.contains("payload") && point["payload"].is_object() && point["payload"].contains("chunk_id") &&
        point["payload"]["chunk_id"].is_string())
      out.push_back(point["payload"]["chunk_id"].get<std::string>());
  }
  return out;
}

void check_query(const std::string& body) {
  using namespace bookmcp::rag;
  const auto hits = read_qdrant_query_answer(body, call);
  const auto ids = chunk_ids(result_of(body));
  if (hits.size() != ids.size()) broken("another number of hits than points with a chunk id", body);
  for (std::size_t i = 0; i < hits.size(); ++i) {
    if (hits[i].chunk_id != ids[i]) broken("a hit out of order or with another id", body);
    if (!std::isfinite(hits[i].score)) broken("a score that is not finite", body);
  }
  const auto again = read_qdrant_query_answer(body, call);
  for (std::size_t i = 0; i < hits.size(); ++i) {
    if (again[i].chunk_id != hits[i].chunk_id || again[i].score != hits[i].score) broken("not deterministic", body);
  }
}

void check_scroll(const std::string& body) {
  using namespace bookmcp::rag;
  const auto page = read_qdrant_scroll_answer(body, call);
  const auto ids = chunk_ids(result_of(body));
  if (page.chunks.size() != ids.size()) broken("another number of chunks than points with a chunk id", body);
  for (std::size_t i = 0; i < ids.size(); ++i) {
    if (page.chunks[i].first != ids[i]) broken("a chunk out of order or with another id", body);
  }
  if (page.next_offset) {
    const json offset = json::parse(*page.next_offset, nullptr, false);
    if (!offset.is_number_unsigned() && !offset.is_string()) broken("a next offset that is not a point id", body);
  } else {
    const json result = result_of(body);
    if (result.contains("next_page_offset") && !result["next_page_offset"].is_null())
      broken("a next offset lost", body);
  }
  if (read_qdrant_scroll_answer(body, call).chunks != page.chunks) broken("not deterministic", body);
}

void check_count(const std::string& body) {
  const std::size_t count = bookmcp::rag::read_qdrant_count_answer(body, call);
  const json result = result_of(body);
  const std::size_t expected =
      result.contains("count") && result["count"].is_number_unsigned() ? result["count"].get<std::size_t>() : 0;
  if (count != expected) broken("a count that is not the answer's", body);
}

void check_exists(const std::string& body) {
  const bool exists = bookmcp::rag::read_qdrant_exists_answer(body, call);
  const json result = result_of(body);
  if (exists != (result.contains("exists") && result["exists"] == true)) broken("exists is not the answer's", body);
}

void check_collection(const std::string& body) {
  const auto info = bookmcp::rag::read_qdrant_collection_answer(body, call);
  const json result = result_of(body);
  const json pointer_dense = at(result, {"config", "params", "vectors", "dense", "size"});
  if (info.has_dense != (info.dimensions != 0)) broken("a dense vector without a size, or a size without it", body);
  if (info.has_dense && (info.dimensions > 65536 || pointer_dense != info.dimensions))
    broken("a dense size that is not the answer's", body);
  const json fingerprint = at(result, {"config", "metadata", "bookmcp", "fingerprint"});
  if (!info.fingerprint.empty() && fingerprint != info.fingerprint) broken("a fingerprint that is not the answer's", body);
  const auto again = bookmcp::rag::read_qdrant_collection_answer(body, call);
  if (again.has_dense != info.has_dense || again.has_sparse != info.has_sparse || again.fingerprint != info.fingerprint)
    broken("not deterministic", body);
}

void check_error_message(const std::string& body) {
  const std::string message = bookmcp::rag::qdrant_error_message(body);
  if (message.empty()) broken("an empty error message", body);
  if (message.size() > 300 + std::string("…").size()) broken("an error message too long", body);
  if (!bookmcp::rag::is_valid_utf8(message)) broken("an error message that is not UTF-8", body);
  for (char c : message) {
    if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f) broken("a control character in an error message", body);
  }
  if (bookmcp::rag::qdrant_error_message(body) != message) broken("not deterministic", body);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size < 1) return 0;
  const std::string body(reinterpret_cast<const char*>(data + 1), size - 1);
  try {
    switch (data[0] % 7) {
      case 0: check_query(body); break;
      case 1: check_scroll(body); break;
      case 2: check_count(body); break;
      case 3: check_exists(body); break;
      case 4: check_collection(body); break;
      case 5: bookmcp::rag::read_qdrant_write_answer(body, call); break;
      default: check_error_message(body); break;
    }
  } catch (const bookmcp::rag::vector_store_error& error) {
    if (std::string(error.what()).find(call) == std::string::npos && data[0] % 7 != 6)
      broken("a refusal that does not name the call", body);
  } catch (const std::exception& error) {
    std::fprintf(stderr, "exception: %s\n", error.what());
    broken("a refusal that is not vector_store_error", body);
  }
  return 0;
}
