// The Qdrant test double (tests/testing/qdrant_double.hpp) driven over loopback by a raw Beast
// client whose every operation has a deadline (beast::tcp_stream::expires_after), so a broken
// double fails a test instead of hanging it: every endpoint bookmcp uses with its error codes and
// texts (/work/shared/design/qdrant.md §1, §2, §7), the computed scores (cosine, IDF, RRF), the
// filter traps, whole-point replacement, auth, each injected fault, the strict-mode violation
// list, and the standalone program. Every test also checks that the double's own answers match
// their OpenAPI response schemas (the fixture's TearDown).
#include "tests/testing/qdrant_double.hpp"

#include <gtest/gtest.h>
#include <signal.h>

#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <limits>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "tests/testing/eventually.hpp"
#include "tests/testing/program_run.hpp"
#include "tests/testing/raw_http_client.hpp"

namespace bookmcp::testing {
namespace {

namespace net = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using json = nlohmann::json;
using error_code = boost::system::error_code;
using namespace std::chrono_literals;

raw_http_request json_request(http::verb method, std::string_view target, const json& body) {
  return make_request(method, target, body.dump());
}

std::string joined(const std::vector<std::string>& lines) {
  std::string out;
  for (const auto& line : lines) out += line + "\n";
  return out;
}

// A Qdrant error: the status, JSON {"status":{"error": text}, "time": f64} and no "result".
void expect_error(const raw_http_response& response, http::status status, std::string_view text) {
  EXPECT_EQ(response.result(), status) << response.body();
  const json body = body_of(response);
  ASSERT_TRUE(body.is_object()) << response.body();
  EXPECT_EQ(body["status"]["error"], text) << response.body();
  EXPECT_TRUE(body["time"].is_number_float()) << response.body();
  EXPECT_FALSE(body.contains("result")) << response.body();
}

void expect_error_containing(const raw_http_response& response, http::status status,
                             std::string_view part) {
  EXPECT_EQ(response.result(), status) << response.body();
  const json body = body_of(response);
  ASSERT_TRUE(body.is_object() && body["status"].is_object()) << response.body();
  EXPECT_NE(body["status"]["error"].get<std::string>().find(part), std::string::npos)
      << response.body();
  EXPECT_FALSE(body.contains("result"));
}

// Collections as bookmcp creates them: a named dense vector and a BM25-style sparse one.
json book_collection(std::size_t dims = 4, std::string_view distance = "Cosine") {
  return json{{"vectors", {{"dense", {{"size", dims}, {"distance", distance}}}}},
              {"sparse_vectors", {{"bm25", {{"modifier", "idf"}}}}}};
}

json dense_point(const json& id, std::vector<float> vector, json payload = json::object()) {
  json point = {{"id", id}, {"vector", {{"dense", vector}}}};
  if (!payload.is_null()) point["payload"] = std::move(payload);
  return point;
}

json sparse_of(std::vector<std::uint32_t> indices, std::vector<float> values) {
  return json{{"indices", indices}, {"values", values}};
}

std::vector<json> ids_of(const json& points) {
  std::vector<json> out;
  for (const auto& point : points) out.push_back(point["id"]);
  return out;
}

class QdrantDoubleTest : public ::testing::Test {
 protected:
  QdrantDoubleTest() { start({}); }

  void start(qdrant_double_options options) {
    client_.reset();
    server_ = std::make_unique<qdrant_double>(std::move(options));
    client_ = std::make_unique<raw_http_client>(server_->port());
  }

  void TearDown() override {
    EXPECT_TRUE(server_->response_violations().empty())
        << "the double's answers broke their schemas:\n"
        << joined(server_->response_violations());
  }

  raw_http_response call(http::verb method, std::string_view target, const json& body) {
    return client_->exchange(json_request(method, target, body));
  }
  raw_http_response call(http::verb method, std::string_view target) {
    return client_->exchange(make_request(method, target));
  }

  // A 200 answer's `result`, after checking the envelope.
  json ok(http::verb method, std::string_view target, const json& body) {
    return result_of(call(method, target, body));
  }
  json ok(http::verb method, std::string_view target) { return result_of(call(method, target)); }

  static json result_of(const raw_http_response& response) {
    EXPECT_EQ(response.result(), http::status::ok) << response.body();
    EXPECT_EQ(response[http::field::content_type], "application/json");
    const json body = body_of(response);
    EXPECT_EQ(body["status"], "ok") << response.body();
    EXPECT_TRUE(body["time"].is_number()) << response.body();
    return body.value("result", json());
  }

  void create(std::string_view name, const json& config) {
    EXPECT_EQ(ok(http::verb::put, "/collections/" + std::string(name), config), true);
  }

  json upsert(std::string_view name, const json& points) {
    return ok(http::verb::put, "/collections/" + std::string(name) + "/points?wait=true",
              json{{"points", points}});
  }

  json query(std::string_view name, const json& body) {
    return ok(http::verb::post, "/collections/" + std::string(name) + "/points/query", body);
  }

  void expect_no_violations() {
    EXPECT_TRUE(server_->violations().empty()) << joined(server_->violations());
  }

  std::unique_ptr<qdrant_double> server_;
  std::unique_ptr<raw_http_client> client_;
};

// ---- service endpoints ----------------------------------------------------------------------

TEST_F(QdrantDoubleTest, RootReportsTheVersionWithoutAnEnvelope) {
  EXPECT_EQ(server_->url(), "http://127.0.0.1:" + std::to_string(server_->port()));
  const auto response = call(http::verb::get, "/");
  ASSERT_EQ(response.result(), http::status::ok);
  EXPECT_EQ(body_of(response),
            (json{{"title", "qdrant - vector search engine"}, {"version", "1.19.0"}}));

  qdrant_double_options options;
  options.version = "1.16.2";
  start(options);
  EXPECT_EQ(body_of(call(http::verb::get, "/"))["version"], "1.16.2");
}

TEST_F(QdrantDoubleTest, HealthEndpointsAnswerPlainText) {
  auto response = call(http::verb::get, "/healthz");
  EXPECT_EQ(response.result(), http::status::ok);
  EXPECT_EQ(response.body(), "healthz check passed");
  EXPECT_EQ(response[http::field::content_type], "text/plain; charset=utf-8");
  EXPECT_EQ(call(http::verb::get, "/livez").body(), "healthz check passed");
  EXPECT_EQ(call(http::verb::get, "/readyz").body(), "all shards are ready");
}

TEST_F(QdrantDoubleTest, UnknownPathIs404AndUnsupportedFeatureIs501) {
  auto response = call(http::verb::get, "/nothing/here");
  EXPECT_EQ(response.result(), http::status::not_found);
  EXPECT_TRUE(response.body().empty());
  create("book", book_collection());
  expect_error(call(http::verb::post, "/collections/book/snapshots"), http::status::not_implemented,
               "POST /collections/{collection_name}/snapshots (create_snapshot) is not supported "
               "by the Qdrant double");
  expect_error(call(http::verb::post, "/collections/book/points/query",
                    json{{"query", {{"recommend", {{"positive", {1}}}}}}, {"using", "dense"}}),
               http::status::not_implemented,
               "The recommend query is not supported by the Qdrant double");
  expect_error(call(http::verb::post, "/collections/book/points/query",
                    json{{"prefetch", {{{"query", {0.1, 0.2, 0.3, 0.4}}, {"using", "dense"}}}},
                         {"query", {{"fusion", "dbsf"}}}}),
               http::status::not_implemented, "DBSF fusion is not supported by the Qdrant double");
  expect_no_violations();
}

// ---- collections ----------------------------------------------------------------------------

TEST_F(QdrantDoubleTest, CollectionLifecycle) {
  EXPECT_EQ(ok(http::verb::get, "/collections/book/exists"), (json{{"exists", false}}));
  json config = book_collection(1536);
  config["vectors"]["dense"]["on_disk"] = true;
  config["vectors"]["dense"]["hnsw_config"] = {{"m", 16}, {"ef_construct", 100}};
  config["sparse_vectors"]["bm25"]["index"] = {{"on_disk", false}};
  config["on_disk_payload"] = true;
  config["metadata"] = {{"bookmcp", {{"schema", 1}, {"embed", {{"model", "m"}, {"dims", 1536}}}}}};
  create("book", config);
  EXPECT_EQ(ok(http::verb::get, "/collections/book/exists"), (json{{"exists", true}}));
  expect_error(call(http::verb::put, "/collections/book", book_collection()),
               http::status::conflict, "Wrong input: Collection `book` already exists!");

  const json info = ok(http::verb::get, "/collections/book");
  for (const char* key :
       {"status", "optimizer_status", "segments_count", "config", "payload_schema", "points_count"})
    EXPECT_TRUE(info.contains(key)) << key;
  for (const char* key : {"params", "hnsw_config", "optimizer_config"})
    EXPECT_TRUE(info["config"].contains(key)) << key;
  EXPECT_EQ(info["points_count"], 0);
  EXPECT_EQ(info["config"]["params"]["vectors"]["dense"]["size"], 1536);
  EXPECT_EQ(info["config"]["params"]["vectors"]["dense"]["distance"], "Cosine");
  EXPECT_EQ(info["config"]["params"]["vectors"]["dense"]["on_disk"], true);
  EXPECT_EQ(info["config"]["params"]["sparse_vectors"]["bm25"]["modifier"], "idf");
  EXPECT_EQ(info["config"]["metadata"], config["metadata"]);
  EXPECT_EQ(ok(http::verb::get, "/collections"), (json{{"collections", {{{"name", "book"}}}}}));

  EXPECT_EQ(ok(http::verb::delete_, "/collections/book"), true);
  EXPECT_EQ(ok(http::verb::delete_, "/collections/book"), false);  // 200 false, not 404
  expect_error(call(http::verb::get, "/collections/book"), http::status::not_found,
               "Not found: Collection `book` doesn't exist!");
  expect_error(call(http::verb::post, "/collections/book/points/count", json::object()),
               http::status::not_found, "Not found: Collection `book` doesn't exist!");
  expect_no_violations();
}

TEST_F(QdrantDoubleTest, CreateRefusesWhatQdrantRefuses) {
  auto response = call(http::verb::put, "/collections/a",
                       json{{"vectors", {{"dense", {{"size", 4}, {"distance", "cosine"}}}}}});
  expect_error(response, http::status::bad_request,
               "Format error in JSON body: unknown variant \"cosine\", expected one of `Cosine`, "
               "`Euclid`, `Dot`, `Manhattan`");
  expect_error(call(http::verb::put, "/collections/a",
                    json{{"vectors", {{"size", 65537}, {"distance", "Dot"}}}}),
               http::status::unprocessable_entity,
               "Validation error in JSON body: [vectors.size: value 65537 invalid, must be from 1 "
               "to 65536]");
  expect_error(call(http::verb::put, "/collections/a",
                    json{{"vectors", {{"x", {{"size", 4}, {"distance", "Dot"}}}}},
                         {"sparse_vectors", {{"x", json::object()}}}}),
               http::status::bad_request,
               "Wrong input: Dense and sparse vector names must be unique - duplicate found with "
               "'x'");
  expect_error_containing(call(http::verb::put, "/collections/a%3Fb", book_collection()),
                          http::status::unprocessable_entity,
                          "Validation error in path parameters: [collection_name: collection name "
                          "cannot contain \"?\" char]");
  // A sparse-only collection is valid.
  create("sparse_only", json{{"sparse_vectors", {{"text", {{"modifier", "idf"}}}}}});
  EXPECT_EQ(ok(http::verb::get, "/collections/sparse_only")["config"]["params"]["vectors"],
            json::object());
  // "cosine" fails the schema (the size and the path are Qdrant's validator's business).
  EXPECT_EQ(server_->violations().size(), 1u) << joined(server_->violations());
}

TEST_F(QdrantDoubleTest, PatchMergesMetadataAndSwitchesTheSparseModifier) {
  json config = book_collection();
  config["metadata"] = {{"a", 1}, {"b", {{"c", 2}}}};
  create("book", config);
  EXPECT_EQ(ok(http::verb::patch, "/collections/book",
               json{{"metadata", {{"a", nullptr}, {"d", "new"}}}}),
            true);
  EXPECT_EQ(ok(http::verb::get, "/collections/book")["config"]["metadata"],
            (json{{"b", {{"c", 2}}}, {"d", "new"}}));

  // Three documents; index 7 is in all of them, index 9 in one: with IDF the rare term decides.
  upsert("book",
         json::array({{{"id", 1}, {"vector", {{"bm25", sparse_of({7}, {3.0f})}}}},
                      {{"id", 2}, {"vector", {{"bm25", sparse_of({7}, {2.0f})}}}},
                      {{"id", 3}, {"vector", {{"bm25", sparse_of({7, 9}, {1.0f, 1.0f})}}}}}));
  const json sparse_query = {{"query", sparse_of({7, 9}, {1.0f, 1.0f})}, {"using", "bm25"}};
  EXPECT_EQ(query("book", sparse_query)["points"][0]["id"], 3);
  EXPECT_EQ(ok(http::verb::patch, "/collections/book",
               json{{"sparse_vectors", {{"bm25", {{"modifier", "none"}}}}}}),
            true);
  EXPECT_EQ(ok(http::verb::get,
               "/collections/book")["config"]["params"]["sparse_vectors"]["bm25"]["modifier"],
            "none");
  const json plain = query("book", sparse_query)["points"];
  EXPECT_EQ(plain[0]["id"], 1);
  EXPECT_FLOAT_EQ(plain[0]["score"].get<float>(), 3.0f);
  expect_no_violations();
}

TEST_F(QdrantDoubleTest, PayloadIndexIsReportedInPayloadSchema) {
  create("book", book_collection());
  EXPECT_EQ(ok(http::verb::put, "/collections/book/index?wait=true",
               json{{"field_name", "doc_path"}, {"field_schema", "keyword"}}),
            (json{{"operation_id", 0}, {"status", "completed"}}));
  upsert("book", json::array({dense_point(1, {1, 0, 0, 0}, {{"doc_path", "a.md"}}),
                              dense_point(2, {0, 1, 0, 0}, {{"title", "no path"}})}));
  EXPECT_EQ(ok(http::verb::put, "/collections/book/index",
               json{{"field_name", "title"},
                    {"field_schema", {{"type", "keyword"}, {"is_tenant", false}}}}),
            (json{{"operation_id", 2}, {"status", "acknowledged"}}));
  const json schema = ok(http::verb::get, "/collections/book")["payload_schema"];
  EXPECT_EQ(schema["doc_path"], (json{{"data_type", "keyword"}, {"points", 1}}));
  EXPECT_EQ(schema["title"]["data_type"], "keyword");
  EXPECT_EQ(schema["title"]["params"]["type"], "keyword");
  expect_no_violations();
}

TEST_F(QdrantDoubleTest, AliasesResolveOnEveryCall) {
  create("book_v1", book_collection());
  upsert("book_v1", json::array({dense_point(1, {1, 0, 0, 0})}));
  EXPECT_EQ(
      ok(http::verb::post, "/collections/aliases",
         json{{"actions",
               {{{"create_alias", {{"collection_name", "book_v1"}, {"alias_name", "book"}}}}}}}),
      true);
  EXPECT_EQ(ok(http::verb::post, "/collections/book/points/count", json::object())["count"], 1);
  EXPECT_EQ(server_->point_count("book"), 1u);
  EXPECT_EQ(ok(http::verb::get, "/aliases")["aliases"],
            (json{{{"alias_name", "book"}, {"collection_name", "book_v1"}}}));
  EXPECT_EQ(ok(http::verb::post, "/collections/aliases",
               json{{"actions", {{{"delete_alias", {{"alias_name", "book"}}}}}}}),
            true);
  expect_error(call(http::verb::post, "/collections/book/points/count", json::object()),
               http::status::not_found, "Not found: Collection `book` doesn't exist!");
  expect_no_violations();
}

// ---- writes ---------------------------------------------------------------------------------

TEST_F(QdrantDoubleTest, WaitDecidesTheReportedStatusOnly) {
  create("book", book_collection());
  EXPECT_EQ(upsert("book", json::array({dense_point(1, {1, 0, 0, 0})})),
            (json{{"operation_id", 0}, {"status", "completed"}}));
  EXPECT_EQ(ok(http::verb::put, "/collections/book/points",
               json{{"points", {dense_point(2, {0, 1, 0, 0})}}}),
            (json{{"operation_id", 1}, {"status", "acknowledged"}}));
  EXPECT_EQ(server_->point_count("book"), 2u);  // applied before the answer anyway
  expect_error(call(http::verb::put, "/collections/book/points?wait=yes",
                    json{{"points", {dense_point(3, {0, 1, 0, 0})}}}),
               http::status::bad_request,
               "Deserialize error in query parameters: provided string was not `true` or `false`");
  EXPECT_EQ(server_->requests_to("PUT", "/points"), 3u);
  EXPECT_EQ(server_->violations().size(), 1u) << joined(server_->violations());
}

TEST_F(QdrantDoubleTest, UpsertReplacesWholePointsAndTheLastDuplicateWins) {
  create("book", book_collection());
  upsert("book", json::array({{{"id", 1},
                               {"vector", {{"dense", {1, 0, 0, 0}}, {"bm25", sparse_of({3}, {1})}}},
                               {"payload", {{"doc_path", "a.md"}, {"title", "A"}}}}}));
  // No payload and no sparse vector: both are gone afterwards.
  upsert("book", json::array({dense_point(1, {0, 1, 0, 0}, nullptr)}));
  json records =
      ok(http::verb::post, "/collections/book/points", json{{"ids", {1}}, {"with_vector", true}});
  ASSERT_EQ(records.size(), 1u);
  EXPECT_EQ(records[0]["payload"], json::object());
  EXPECT_EQ(records[0]["vector"], (json{{"dense", {0.0, 1.0, 0.0, 0.0}}}));

  // The same id twice in one request: the last one wins.
  upsert("book", json::array({dense_point(5, {1, 0, 0, 0}, {{"n", "first"}}),
                              dense_point(5, {0, 0, 1, 0}, {{"n", "last"}})}));
  records = ok(http::verb::post, "/collections/book/points", json{{"ids", {5}}});
  EXPECT_EQ(records[0]["payload"], (json{{"n", "last"}}));
  // Versions are the operation ids of the last writes.
  const json points = query("book", json{{"query", {0, 1, 0, 0}}, {"using", "dense"}})["points"];
  for (const auto& point : points) EXPECT_EQ(point["version"], point["id"] == 1 ? 1 : 2);
  expect_no_violations();
}

TEST_F(QdrantDoubleTest, PointsBatchShapeIsAccepted) {
  create("book", book_collection());
  const json batch = {{"ids", {1, 2}},
                      {"vectors",
                       {{"dense", {{1, 0, 0, 0}, {0, 1, 0, 0}}},
                        {"bm25", {sparse_of({1}, {1}), sparse_of({2}, {1})}}}},
                      {"payloads", {{{"doc_path", "a.md"}}, {{"doc_path", "b.md"}}}}};
  EXPECT_EQ(
      ok(http::verb::put, "/collections/book/points?wait=true", json{{"batch", batch}})["status"],
      "completed");
  EXPECT_EQ(server_->point_count("book"), 2u);
  json short_batch = batch;
  short_batch["vectors"]["dense"].erase(1);
  expect_error(
      call(http::verb::put, "/collections/book/points?wait=true", json{{"batch", short_batch}}),
      http::status::unprocessable_entity,
      "Validation error in JSON body: [batch: number of ids and vectors must be equal (2 "
      "!= 1)]");
  expect_no_violations();
}

TEST_F(QdrantDoubleTest, PointIdsAreUnsignedIntegersOrUuids) {
  create("book", book_collection());
  for (const json& bad : {json("abc"), json("42"), json(-1), json(1.5),
                          json("6f1d3c1e-2b0a-5c7e-9a77-0d2f4c1b9e1")}) {
    const std::string shown = bad.is_string() ? bad.get<std::string>() : bad.dump();
    expect_error(call(http::verb::put, "/collections/book/points?wait=true",
                      json{{"points", {dense_point(bad, {1, 0, 0, 0})}}}),
                 http::status::bad_request,
                 "Format error in JSON body: value " + shown +
                     " is not a valid point ID, valid values are either an unsigned integer or a "
                     "UUID");
  }
  const std::size_t refused = server_->violations().size();
  EXPECT_GE(refused, 5u);
  upsert("book", json::array({dense_point("6F1D3C1E-2B0A-5C7E-9A77-0D2F4C1B9E10", {1, 0, 0, 0}),
                              dense_point(std::numeric_limits<std::uint64_t>::max(), {0, 1, 0, 0}),
                              dense_point(7, {0, 0, 1, 0})}));
  const json page = ok(http::verb::post, "/collections/book/points/scroll", json::object());
  // Integers before UUIDs; UUIDs echoed lower-case and hyphenated.
  EXPECT_EQ(ids_of(page["points"]), (std::vector<json>{7, std::numeric_limits<std::uint64_t>::max(),
                                                       "6f1d3c1e-2b0a-5c7e-9a77-0d2f4c1b9e10"}));
  EXPECT_EQ(server_->violations().size(), refused) << joined(server_->violations());
}

TEST_F(QdrantDoubleTest, EveryUuidSpellingQdrantAcceptsIsAccepted) {
  create("book", book_collection());
  upsert("book",
         json::array({dense_point("936DA01F9ABD4d9d80C702AF85C822A8", {1, 0, 0, 0}),
                      dense_point("urn:uuid:550e8400-e29b-41d4-a716-446655440000", {0, 1, 0, 0}),
                      dense_point("{00000000-0000-0000-0000-00000000000a}", {0, 0, 1, 0})}));
  const json page = ok(http::verb::post, "/collections/book/points/scroll", json::object());
  EXPECT_EQ(ids_of(page["points"]), (std::vector<json>{"00000000-0000-0000-0000-00000000000a",
                                                       "550e8400-e29b-41d4-a716-446655440000",
                                                       "936da01f-9abd-4d9d-80c7-02af85c822a8"}));
  // The same point under another spelling.
  EXPECT_EQ(ok(http::verb::post, "/collections/book/points",
               json{{"ids", {"936da01f-9abd-4d9d-80c7-02af85c822a8"}}})
                .size(),
            1u);
  expect_no_violations();
}

TEST_F(QdrantDoubleTest, UnnamedVectorCollectionsAndDistances) {
  create("single", json{{"vectors", {{"size", 2}, {"distance", "Euclid"}}}});
  upsert("single", json::array({{{"id", 1}, {"vector", {0, 0}}},
                                {{"id", 2}, {"vector", {3, 4}}},
                                {{"id", 3}, {"vector", {1, 0}}}}));
  // Euclid reports distances: nearest first, the threshold keeps `score < t`.
  json points = query("single", json{{"query", {0, 0}}, {"with_vector", true}})["points"];
  EXPECT_EQ(ids_of(points), (std::vector<json>{1, 3, 2}));
  EXPECT_EQ(points[2]["score"], 5.0);
  EXPECT_EQ(points[2]["vector"], (json{3.0, 4.0}));  // an unnamed vector is a bare array
  points = query("single", json{{"query", {0, 0}}, {"score_threshold", 1.0}})["points"];
  EXPECT_EQ(ids_of(points), (std::vector<json>{1}));
  expect_error(call(http::verb::post, "/collections/single/points/query",
                    json{{"query", {0, 0}}, {"using", "dense"}}),
               http::status::bad_request,
               "Wrong input: Vector with name dense is not configured in this collection");
  expect_no_violations();
}

TEST_F(QdrantDoubleTest, UpdateModeAndUpdateFilterMakeConditionalUpserts) {
  create("book", book_collection());
  upsert("book", json::array({dense_point(1, {1, 0, 0, 0}, {{"rev", 1}})}));
  auto conditional = [&](json extra) {
    json body = {
        {"points",
         {dense_point(1, {0, 1, 0, 0}, {{"rev", 2}}), dense_point(2, {0, 1, 0, 0}, {{"rev", 2}})}}};
    body.update(extra);
    return ok(http::verb::put, "/collections/book/points?wait=true", body);
  };
  auto rev_of = [&](int id) {
    const json records = ok(http::verb::post, "/collections/book/points", json{{"ids", {id}}});
    return records.empty() ? json() : records[0]["payload"]["rev"];
  };
  conditional({{"update_mode", "update_only"}});
  EXPECT_EQ(rev_of(1), 2);
  EXPECT_TRUE(rev_of(2).is_null());
  conditional({{"update_filter", {{"must", {{{"key", "rev"}, {"match", {{"value", 7}}}}}}}}});
  EXPECT_EQ(rev_of(1), 2);  // existing point not matching the filter: unchanged
  EXPECT_EQ(rev_of(2), 2);  // new points are inserted regardless
  expect_no_violations();
}

TEST_F(QdrantDoubleTest, DimensionNameAndKindErrorsUseQdrantsTexts) {
  create("book", book_collection());
  for (std::string_view target :
       {"/collections/book/points?wait=true", "/collections/book/points"}) {
    expect_error(call(http::verb::put, target, json{{"points", {dense_point(1, {1, 0, 0})}}}),
                 http::status::bad_request,
                 "Wrong input: Vector dimension error: expected dim: 4, got 3 for vector 'dense'");
  }
  expect_error(call(http::verb::put, "/collections/book/points?wait=true",
                    json{{"points", {{{"id", 1}, {"vector", {{"densee", {1, 0, 0, 0}}}}}}}}),
               http::status::bad_request, "Wrong input: Not existing vector name error: densee");
  expect_error(call(http::verb::put, "/collections/book/points?wait=true",
                    json{{"points", {{{"id", 1}, {"vector", {{"bm25", {1, 0, 0, 0}}}}}}}}),
               http::status::bad_request,
               "Wrong input: Conversion between sparse and regular vectors failed");
  EXPECT_EQ(server_->point_count("book"), 0u);

  create("single", json{{"vectors", {{"size", 2}, {"distance", "Dot"}}}});
  expect_error(call(http::verb::put, "/collections/single/points?wait=true",
                    json{{"points", {{{"id", 1}, {"vector", {1, 2, 3}}}}}}),
               http::status::bad_request,
               "Wrong input: Vector dimension error: expected dim: 2, got 3");
  expect_no_violations();
}

TEST_F(QdrantDoubleTest, SparseVectorsMustHaveMatchingLengthsAndUniqueIndices) {
  create("book", book_collection());
  expect_error(
      call(http::verb::put, "/collections/book/points?wait=true",
           json{{"points", {{{"id", 1}, {"vector", {{"bm25", sparse_of({1, 2}, {1})}}}}}}}),
      http::status::unprocessable_entity,
      "Validation error in JSON body: [points[0].vector.bm25.values: Validation error: "
      "must be the same length as indices [{}]]");
  expect_error_containing(
      call(http::verb::put, "/collections/book/points?wait=true",
           json{{"points", {{{"id", 1}, {"vector", {{"bm25", sparse_of({1, 1}, {1, 2})}}}}}}}),
      http::status::unprocessable_entity, "indices: Validation error: must be unique [{}]");
  // Unsorted indices are fine, and stored sorted.
  upsert("book", json::array({{{"id", 1}, {"vector", {{"bm25", sparse_of({9, 2}, {0.5, 1.5})}}}}}));
  const json record = ok(http::verb::post, "/collections/book/points",
                         json{{"ids", {1}}, {"with_vector", {"bm25"}}});
  EXPECT_EQ(record[0]["vector"], (json{{"bm25", sparse_of({2, 9}, {1.5, 0.5})}}));
  expect_no_violations();
}

TEST_F(QdrantDoubleTest, DeleteByIdsAndByFilter) {
  create("book", book_collection());
  upsert("book", json::array({dense_point(1, {1, 0, 0, 0}, {{"doc_path", "a.md"}}),
                              dense_point(2, {0, 1, 0, 0}, {{"doc_path", "a.md"}}),
                              dense_point(3, {0, 0, 1, 0}, {{"doc_path", "b.md"}})}));
  EXPECT_EQ(
      ok(http::verb::post, "/collections/book/points/delete?wait=true",
         json{{"filter", {{"must", {{{"key", "doc_path"}, {"match", {{"value", "a.md"}}}}}}}}}),
      (json{{"operation_id", 1}, {"status", "completed"}}));
  EXPECT_EQ(server_->point_count("book"), 1u);
  EXPECT_EQ(ok(http::verb::post, "/collections/book/points/delete?wait=true",
               json{{"points", {3, 99, "6f1d3c1e-2b0a-5c7e-9a77-0d2f4c1b9e10"}}}),
            (json{{"operation_id", 2}, {"status", "completed"}}));
  EXPECT_EQ(server_->point_count("book"), 0u);
  expect_no_violations();
}

TEST_F(QdrantDoubleTest, BatchUpdateRunsInOrderAndStopsAtTheFirstError) {
  create("book", book_collection());
  upsert("book", json::array({dense_point(1, {1, 0, 0, 0}, {{"doc_path", "a.md"}})}));
  const json delete_a = {
      {"delete",
       {{"filter", {{"must", {{{"key", "doc_path"}, {"match", {{"value", "a.md"}}}}}}}}}}};
  const json good = {
      {"upsert", {{"points", {dense_point(2, {0, 1, 0, 0}, {{"doc_path", "a.md"}})}}}}};
  EXPECT_EQ(ok(http::verb::post, "/collections/book/points/batch?wait=true",
               json{{"operations", {delete_a, good}}}),
            (json::array({{{"operation_id", 1}, {"status", "completed"}},
                          {{"operation_id", 2}, {"status", "completed"}}})));
  EXPECT_EQ(ok(http::verb::post, "/collections/book/points", json{{"ids", {1, 2}}}).size(), 1u);

  const json bad = {{"upsert", {{"points", {dense_point(3, {0, 1, 0})}}}}};
  const json later = {{"upsert", {{"points", {dense_point(4, {0, 1, 0, 0})}}}}};
  expect_error(call(http::verb::post, "/collections/book/points/batch?wait=true",
                    json{{"operations", {delete_a, bad, later}}}),
               http::status::bad_request,
               "Wrong input: Vector dimension error: expected dim: 4, got 3 for vector 'dense'");
  EXPECT_EQ(server_->point_count("book"), 0u);  // the delete stayed applied, point 4 never came
  expect_no_violations();
}

// ---- reads ----------------------------------------------------------------------------------

TEST_F(QdrantDoubleTest, CosineNormalisesAtWriteAndQueryTime) {
  create("book", book_collection(3));
  upsert("book", json::array({dense_point(1, {3, 4, 0})}));
  const json record =
      ok(http::verb::post, "/collections/book/points", json{{"ids", {1}}, {"with_vector", true}});
  const json stored = record[0]["vector"]["dense"];
  EXPECT_NEAR(stored[0].get<double>(), 0.6, 1e-7);
  EXPECT_NEAR(stored[1].get<double>(), 0.8, 1e-7);
  const json hit = query("book", json{{"query", {10, 0, 0}}, {"using", "dense"}})["points"][0];
  EXPECT_EQ(hit["score"].get<float>(), 0.6f) << hit;
  EXPECT_FALSE(hit.contains("payload"));  // with_payload defaults to false for queries
  EXPECT_FALSE(hit.contains("vector"));

  create("dot", book_collection(3, "Dot"));
  upsert("dot", json::array({dense_point(1, {3, 4, 0})}));
  EXPECT_EQ(query("dot", json{{"query", {2, 0, 0}}, {"using", "dense"}})["points"][0]["score"],
            6.0);
  expect_no_violations();
}

TEST_F(QdrantDoubleTest, PlainThresholdIsStrict) {
  create("book", book_collection(2, "Dot"));
  upsert("book", json::array({dense_point(1, {1, 0}), dense_point(2, {0.5, 0}),
                              dense_point(3, {0.25, 0})}));
  const json points = query("book", json{{"query", {1, 0}},
                                         {"using", "dense"},
                                         {"score_threshold", 0.5},
                                         {"with_payload", false}})["points"];
  EXPECT_EQ(ids_of(points), (std::vector<json>{1}));  // 0.5 itself is not above 0.5
  expect_no_violations();
}

TEST_F(QdrantDoubleTest, IdfMatchesTheWorkedValues) {
  // N = 100 points with the sparse vector: index 1 is in one of them, index 2 in fifty,
  // index 3 in all, index 4 in none.
  create("corpus", json{{"sparse_vectors", {{"text", {{"modifier", "idf"}}}}}});
  json points = json::array();
  for (int i = 0; i < 100; ++i) {
    std::vector<std::uint32_t> indices = {3};
    if (i == 0) indices.push_back(1);
    if (i < 50) indices.push_back(2);
    points.push_back(
        {{"id", i},
         {"vector", {{"text", sparse_of(indices, std::vector<float>(indices.size(), 1))}}}});
  }
  upsert("corpus", points);
  auto top_score = [&](std::uint32_t index) {
    const json found = query(
        "corpus",
        json{{"query", sparse_of({index}, {1})}, {"using", "text"}, {"limit", 100}})["points"];
    return found;
  };
  json found = top_score(1);
  ASSERT_EQ(found.size(), 1u);
  EXPECT_NEAR(found[0]["score"].get<double>(), 4.2097, 1e-4);
  found = top_score(2);
  ASSERT_EQ(found.size(), 50u);
  EXPECT_NEAR(found[0]["score"].get<double>(), 0.6931, 1e-4);
  found = top_score(3);
  ASSERT_EQ(found.size(), 100u);
  EXPECT_NEAR(found[0]["score"].get<double>(), 0.00496, 1e-5);
  EXPECT_TRUE(top_score(4).empty());  // no overlap, no result
  // Only points sharing an index are returned, and the sum runs over the shared ones.
  found = query("corpus", json{{"query", sparse_of({4, 1}, {1, 2})}, {"using", "text"}})["points"];
  ASSERT_EQ(found.size(), 1u);
  EXPECT_NEAR(found[0]["score"].get<double>(), 2 * 4.2097, 2e-4);

  create("small", json{{"sparse_vectors", {{"text", {{"modifier", "idf"}}}}}});
  upsert("small", json::array({{{"id", 1}, {"vector", {{"text", sparse_of({1}, {1})}}}},
                               {{"id", 2}, {"vector", {{"text", sparse_of({2}, {1})}}}},
                               {{"id", 3}, {"vector", {{"text", sparse_of({2}, {1})}}}}}));
  EXPECT_NEAR(
      query("small", json{{"query", sparse_of({1}, {1})}, {"using", "text"}})["points"][0]["score"]
          .get<double>(),
      0.9808, 1e-4);
  expect_no_violations();
}

// Four points whose dense ranking is 1,2,3 and whose sparse ranking is 3,2 (point 4 matches
// neither the filter nor anything).
class QdrantDoubleHybridTest : public QdrantDoubleTest {
 protected:
  void SetUp() override {
    create("book", book_collection(2, "Dot"));
    upsert("book", json::array({{{"id", 1},
                                 {"vector", {{"dense", {0.9, 0}}, {"bm25", sparse_of({1}, {0.1})}}},
                                 {"payload", {{"doc_path", "a.md"}}}},
                                {{"id", 2},
                                 {"vector", {{"dense", {0.8, 0}}, {"bm25", sparse_of({2}, {1.0})}}},
                                 {"payload", {{"doc_path", "a.md"}}}},
                                {{"id", 3},
                                 {"vector", {{"dense", {0.7, 0}}, {"bm25", sparse_of({2}, {2.0})}}},
                                 {"payload", {{"doc_path", "b.md"}}}},
                                {{"id", 4},
                                 {"vector", {{"dense", {-1, 0}}, {"bm25", sparse_of({5}, {1.0})}}},
                                 {"payload", {{"doc_path", "c.md"}}}}}));
  }

  static json hybrid(json extra = json::object()) {
    json body = {{"prefetch",
                  {{{"query", {1, 0}}, {"using", "dense"}, {"limit", 3}},
                   {{"query", sparse_of({2}, {1})}, {"using", "bm25"}, {"limit", 3}}}},
                 {"query", {{"fusion", "rrf"}}},
                 {"with_payload", {"doc_path"}}};
    body.update(extra);
    return body;
  }
};

TEST_F(QdrantDoubleHybridTest, RrfScoresAreOneOverPositionPlusK) {
  const json points = query("book", hybrid())["points"];
  // dense: 1 (0.5), 2 (1/3), 3 (1/4); sparse: 3 (0.5), 2 (1/3).
  ASSERT_EQ(points.size(), 3u);
  EXPECT_EQ(ids_of(points), (std::vector<json>{3, 2, 1}));
  EXPECT_NEAR(points[0]["score"].get<double>(), 0.75, 1e-6);
  EXPECT_NEAR(points[1]["score"].get<double>(), 2.0 / 3.0, 1e-6);
  EXPECT_NEAR(points[2]["score"].get<double>(), 0.5, 1e-6);
  EXPECT_EQ(points[0]["payload"], (json{{"doc_path", "b.md"}}));

  // {"rrf": {"k": 60}}: the paper's constant.
  const json k60 = query("book", hybrid({{"query", {{"rrf", {{"k", 60}}}}}}))["points"];
  EXPECT_NEAR(k60[2]["score"].get<double>(), 1.0 / 60, 1e-6);
  // A single prefetch: the plain 0.5, 0.333... sequence.
  const json single = query("book", json{{"prefetch", {{{"query", {1, 0}}, {"using", "dense"}}}},
                                         {"query", {{"fusion", "rrf"}}}})["points"];
  EXPECT_NEAR(single[0]["score"].get<double>(), 0.5, 1e-7);
  EXPECT_NEAR(single[1]["score"].get<double>(), 1.0 / 3.0, 1e-7);
  EXPECT_EQ(single[1]["score"].dump(), "0.33333334");  // f32 text, as Qdrant writes it
  expect_no_violations();
}

TEST_F(QdrantDoubleHybridTest, FusionThresholdIsInclusiveAndOffsetAppliesAfterFusion) {
  // Point 2's fused score is 1/3 + 1/3 in f32, written 0.6666667: that threshold keeps it.
  EXPECT_EQ(ids_of(query("book", hybrid({{"score_threshold", 0.6666667}}))["points"]),
            (std::vector<json>{3, 2}));
  EXPECT_EQ(ids_of(query("book", hybrid({{"score_threshold", 0.667}}))["points"]),
            (std::vector<json>{3}));
  EXPECT_EQ(ids_of(query("book", hybrid({{"score_threshold", 0.5}}))["points"]),
            (std::vector<json>{3, 2, 1}));
  EXPECT_EQ(ids_of(query("book", hybrid({{"offset", 1}, {"limit", 1}}))["points"]),
            (std::vector<json>{2}));
  expect_no_violations();
}

TEST_F(QdrantDoubleHybridTest, RootFilterIsMergedIntoEveryPrefetch) {
  const json filter = {{"must", {{{"key", "doc_path"}, {"match", {{"value", "a.md"}}}}}}};
  const json points = query("book", hybrid({{"filter", filter}}))["points"];
  EXPECT_EQ(ids_of(points), (std::vector<json>{2, 1}));
  // dense: 1, 2; sparse: 2 -> 2 has 1/3 + 1/2, 1 has 1/2.
  EXPECT_NEAR(points[0]["score"].get<double>(), 5.0 / 6.0, 1e-6);
  expect_no_violations();
}

TEST_F(QdrantDoubleHybridTest, QueryPlanningErrorsUseQdrantsTexts) {
  expect_error(call(http::verb::post, "/collections/book/points/query",
                    json{{"prefetch", {{{"query", {1, 0}}, {"using", "dense"}}}}}),
               http::status::bad_request,
               "Bad request: A query is needed to merge the prefetches. Can't have prefetches "
               "without defining a query.");
  expect_error(
      call(http::verb::post, "/collections/book/points/query", json{{"score_threshold", 0.5}}),
      http::status::bad_request,
      "Bad request: A query is needed to use the score_threshold. Can't have "
      "score_threshold without defining a query.");
  expect_error(call(http::verb::post, "/collections/book/points/query",
                    json{{"query", {{"fusion", "rrf"}}}}),
               http::status::bad_request,
               "Wrong input: Validation failed: cannot apply Fusion without prefetches");
  expect_error(call(http::verb::post, "/collections/book/points/query",
                    hybrid({{"query", {{"rrf", {{"weights", {1.0}}}}}}})),
               http::status::bad_request,
               "Wrong input: Validation failed: Number of weights in RRF should match number of "
               "pre-fetches: got 1, expected 2");
  expect_error(call(http::verb::post, "/collections/book/points/query",
                    json{{"query", {1, 0}}, {"using", "dense"}, {"limit", 0}}),
               http::status::unprocessable_entity,
               "Validation error in JSON body: [internal.limit: value 0 invalid, must be 1 or "
               "larger]");
  expect_error(call(http::verb::post, "/collections/book/points/query", json{{"query", {1, 0}}}),
               http::status::bad_request,
               "Wrong input: Collection requires specified vector name in the request, available "
               "names: dense, bm25");
  expect_error(call(http::verb::post, "/collections/book/points/query",
                    json{{"prefetch", {{{"query", {1, 0}}}}}, {"query", {{"fusion", "rrf"}}}}),
               http::status::bad_request,
               "Wrong input: Collection requires specified vector name in the request, available "
               "names: dense, bm25");
  expect_error(call(http::verb::post, "/collections/book/points/query",
                    json{{"query", {1, 0}}, {"using", "image"}}),
               http::status::bad_request,
               "Wrong input: Vector with name `image` is not configured in this collection, "
               "available names: dense, bm25");
  expect_error(call(http::verb::post, "/collections/book/points/query",
                    json{{"query", {1, 0, 0}}, {"using", "dense"}}),
               http::status::bad_request,
               "Wrong input: Vector dimension error: expected dim: 2, got 3");
  // limit 0 fails the schema too (minimum 1): recorded.
  EXPECT_EQ(server_->violations().size(), 1u) << joined(server_->violations());
}

TEST_F(QdrantDoubleHybridTest, QueryWithoutQueryListsPointsInIdOrder) {
  const json points = query("book", json{{"limit", 2}})["points"];
  EXPECT_EQ(ids_of(points), (std::vector<json>{1, 2}));
  EXPECT_EQ(points[0]["score"], 0.0);
  // {"nearest": v} is the bare vector.
  EXPECT_EQ(query("book", json{{"query", {{"nearest", {1, 0}}}}, {"using", "dense"}}),
            query("book", json{{"query", {1, 0}}, {"using", "dense"}}));
  expect_no_violations();
}

TEST_F(QdrantDoubleHybridTest, QueryBatchAnswersEachSearch) {
  const json results =
      ok(http::verb::post, "/collections/book/points/query/batch",
         json{{"searches",
               {hybrid({{"limit", 1}}), {{"query", sparse_of({2}, {1})}, {"using", "bm25"}}}}});
  ASSERT_EQ(results.size(), 2u);
  EXPECT_EQ(ids_of(results[0]["points"]), (std::vector<json>{3}));
  EXPECT_EQ(ids_of(results[1]["points"]), (std::vector<json>{3, 2}));
  EXPECT_EQ(ok(http::verb::post, "/collections/book/points/query/batch",
               json{{"searches", json::array()}}),
            json::array());
  expect_no_violations();
}

TEST_F(QdrantDoubleHybridTest, WithPayloadAndWithVectorSelectors) {
  auto first = [&](json selector) {
    return query("book", json{{"query", {1, 0}},
                              {"using", "dense"},
                              {"limit", 1},
                              {"with_payload", std::move(selector)}})["points"][0];
  };
  EXPECT_EQ(first(true)["payload"], (json{{"doc_path", "a.md"}}));
  EXPECT_FALSE(first(false).contains("payload"));
  EXPECT_EQ(first(json{{"exclude", {"doc_path"}}})["payload"], json::object());
  EXPECT_EQ(first(json{{"include", {"doc_path"}}})["payload"], (json{{"doc_path", "a.md"}}));
  const json with_vector = query("book", json{{"query", {1, 0}},
                                              {"using", "dense"},
                                              {"limit", 1},
                                              {"with_vector", {"bm25"}}})["points"][0];
  EXPECT_EQ(with_vector["vector"], (json{{"bm25", {{"indices", {1}}, {"values", {0.1}}}}}));
  expect_no_violations();
}

// ---- filters --------------------------------------------------------------------------------

class QdrantDoubleFilterTest : public QdrantDoubleTest {
 protected:
  void SetUp() override {
    create("f", json{{"vectors", {{"dense", {{"size", 1}, {"distance", "Dot"}}}}}});
    upsert("f",
           json::array(
               {dense_point(1, {1},
                            {{"doc_path", "a.md"},
                             {"tags", {"x", "y"}},
                             {"meta", {{"lang", "en"}}},
                             {"n", 1}}),
                dense_point(
                    2, {1},
                    {{"doc_path", "b.md"}, {"tags", {"y"}}, {"meta", {{"lang", "de"}}}, {"n", 2}}),
                dense_point(3, {1},
                            {{"doc_path", "c.md"},
                             {"n", 3.5},
                             {"empty", json::array()},
                             {"nothing", nullptr}})}));
  }

  std::size_t count(const json& filter) {
    return ok(http::verb::post, "/collections/f/points/count",
              json{{"filter", filter}, {"exact", true}})["count"]
        .get<std::size_t>();
  }

  static json key_match(std::string_view key, json match) {
    return json{{"key", key}, {"match", std::move(match)}};
  }
};

TEST_F(QdrantDoubleFilterTest, EmptyMustMatchesEverythingAndEmptyShouldMatchesNothing) {
  EXPECT_EQ(count(json{{"must", json::array()}}), 3u);
  EXPECT_EQ(count(json{{"should", json::array()}}), 0u);
  EXPECT_EQ(count(json{{"must_not", json::array()}}), 3u);
  EXPECT_EQ(count(json::object()), 3u);
  EXPECT_EQ(count(json{{"must", {key_match("doc_path", {{"any", json::array()}})}}}), 0u);
  // So a delete "by an empty list of conditions" wipes the collection, as in Qdrant.
  ok(http::verb::post, "/collections/f/points/delete?wait=true",
     json{{"filter", {{"must", json::array()}}}});
  EXPECT_EQ(server_->point_count("f"), 0u);
  expect_no_violations();
}

TEST_F(QdrantDoubleFilterTest, MatchConditions) {
  EXPECT_EQ(count(json{{"must", {key_match("doc_path", {{"value", "a.md"}})}}}), 1u);
  EXPECT_EQ(count(json{{"must", key_match("doc_path", {{"value", "A.md"}})}}), 0u);  // exact
  EXPECT_EQ(count(json{{"must", {key_match("tags", {{"value", "y"}})}}}), 2u);  // array element
  EXPECT_EQ(count(json{{"must", {key_match("doc_path", {{"any", {"a.md", "c.md"}}})}}}), 2u);
  EXPECT_EQ(count(json{{"must", {key_match("doc_path", {{"except", {"a.md"}}})}}}), 2u);
  EXPECT_EQ(count(json{{"must", {key_match("tags", {{"except", {"y"}}})}}}), 1u);  // x remains
  EXPECT_EQ(count(json{{"must", {key_match("n", {{"value", 2}})}}}), 1u);
  EXPECT_EQ(count(json{{"must", {key_match("n", {{"any", {1, 3}}})}}}), 1u);  // 3.5 is a float
  EXPECT_EQ(count(json{{"must", {key_match("meta.lang", {{"value", "de"}})}}}), 1u);
  EXPECT_EQ(count(json{{"must", {{{"key", "n"}, {"range", {{"gt", 1}, {"lte", 3.5}}}}}}}), 2u);
  EXPECT_EQ(count(json{{"must", {{{"has_id", {1, 3, 99}}}}}}), 2u);
  EXPECT_EQ(count(json{{"must_not", {{{"has_id", {1}}}}}}), 2u);
  EXPECT_EQ(count(json{{"must", {{{"is_empty", {{"key", "empty"}}}}}}}), 3u);  // absent is empty
  EXPECT_EQ(count(json{{"must", {{{"is_null", {{"key", "nothing"}}}}}}}), 1u);
  EXPECT_EQ(count(json{{"should",
                        {key_match("doc_path", {{"value", "a.md"}}),
                         key_match("doc_path", {{"value", "b.md"}})}},
                       {"must_not", {key_match("tags", {{"value", "x"}})}}}),
            1u);
  EXPECT_EQ(count(json{{"min_should",
                        {{"conditions",
                          {key_match("tags", {{"value", "y"}}), key_match("n", {{"value", 1}}),
                           key_match("doc_path", {{"value", "c.md"}})}},
                         {"min_count", 2}}}}),
            1u);
  EXPECT_EQ(count(json{{"must", {{{"key", "tags"}, {"values_count", {{"gte", 2}}}}}}}), 1u);
  EXPECT_EQ(count(json{{"must", {key_match("doc_path", {{"text", ".md"}})}}}), 3u);
  EXPECT_EQ(
      count(json{
          {"must",
           {{{"nested",
              {{"key", "list"}, {"filter", {{"must", {key_match("k", {{"value", "v"}})}}}}}}}}}}),
      0u);
  EXPECT_EQ(count(json{{"must", {{{"has_vector", "dense"}}}}}), 3u);
  // A nested filter as a condition.
  EXPECT_EQ(count(json{{"must", {{{"should", {key_match("n", {{"value", 1}})}}}}}}), 1u);
  expect_no_violations();
}

TEST_F(QdrantDoubleFilterTest, ConditionWithOnlyAKeyIs422) {
  expect_error(call(http::verb::post, "/collections/f/points/count",
                    json{{"filter", {{"must", {{{"key", "doc_path"}}}}}}}),
               http::status::unprocessable_entity,
               "Validation error in JSON body: [filter.must[0]: At least one field condition must "
               "be specified]");
  // An unknown key inside a filter is refused by Qdrant (deny_unknown_fields) and recorded.
  const auto response = call(http::verb::post, "/collections/f/points/count",
                             json{{"filter", {{"must", json::array()}, {"bogus", 1}}}});
  expect_error_containing(response, http::status::bad_request, "Format error in JSON body:");
  EXPECT_EQ(server_->violations().size(), 1u) << joined(server_->violations());
}

TEST_F(QdrantDoubleFilterTest, ScrollPaginatesInIdOrderWithAnInclusiveOffset) {
  upsert("f", json::array({dense_point("00000000-0000-0000-0000-000000000002", {1}),
                           dense_point("00000000-0000-0000-0000-000000000001", {1})}));
  json page = ok(http::verb::post, "/collections/f/points/scroll", json{{"limit", 2}});
  EXPECT_EQ(ids_of(page["points"]), (std::vector<json>{1, 2}));
  EXPECT_EQ(page["next_page_offset"], 3);
  EXPECT_TRUE(page["points"][0].contains("payload"));  // with_payload defaults to true
  EXPECT_FALSE(page["points"][0].contains("vector"));
  page = ok(http::verb::post, "/collections/f/points/scroll",
            json{{"limit", 2}, {"offset", 3}, {"with_payload", {"doc_path"}}});
  EXPECT_EQ(ids_of(page["points"]), (std::vector<json>{3, "00000000-0000-0000-0000-000000000001"}));
  EXPECT_EQ(page["points"][0]["payload"], (json{{"doc_path", "c.md"}}));
  EXPECT_EQ(page["next_page_offset"], "00000000-0000-0000-0000-000000000002");
  page = ok(http::verb::post, "/collections/f/points/scroll",
            json{{"offset", "00000000-0000-0000-0000-000000000002"}, {"with_payload", false}});
  EXPECT_EQ(page["points"].size(), 1u);
  EXPECT_TRUE(page["next_page_offset"].is_null());
  page = ok(http::verb::post, "/collections/f/points/scroll",
            json{{"filter", {{"must", {key_match("tags", {{"value", "y"}})}}}}});
  EXPECT_EQ(ids_of(page["points"]), (std::vector<json>{1, 2}));
  expect_error(
      call(http::verb::post, "/collections/f/points/scroll", json{{"limit", 0}}),
      http::status::unprocessable_entity,
      "Validation error in JSON body: [scroll_request.limit: value 0 invalid, must be 1 or "
      "larger]");
}

TEST_F(QdrantDoubleFilterTest, RetrieveAndGetPoint) {
  const json records = ok(http::verb::post, "/collections/f/points",
                          json{{"ids", {3, 1, 42, 3}}, {"with_payload", {"n"}}});
  EXPECT_EQ(records, (json::array({{{"id", 3}, {"payload", {{"n", 3.5}}}},
                                   {{"id", 1}, {"payload", {{"n", 1}}}}})));
  const json point = ok(http::verb::get, "/collections/f/points/2");
  EXPECT_EQ(point["vector"], (json{{"dense", {1.0}}}));
  EXPECT_EQ(point["payload"]["doc_path"], "b.md");
  expect_error(call(http::verb::get, "/collections/f/points/42"), http::status::not_found,
               "Not found: No point with id 42 found");
  expect_no_violations();
}

// ---- strict mode ----------------------------------------------------------------------------

TEST_F(QdrantDoubleTest, TypoedKeysAreRecordedAsViolations) {
  create("book", book_collection());
  // Qdrant ignores `with_payloads` (and answers without payloads); the double records it.
  const json points = query(
      "book", json{{"query", {1, 0, 0, 0}}, {"using", "dense"}, {"with_payloads", true}})["points"];
  EXPECT_TRUE(points.empty());
  const auto violations = server_->violations();
  ASSERT_EQ(violations.size(), 1u) << joined(violations);
  EXPECT_NE(violations[0].find("POST /collections/book/points/query"), std::string::npos);
  EXPECT_NE(violations[0].find("/with_payloads: unknown key"), std::string::npos);

  // Nested typos too: in a prefetch, in a point.
  query("book", json{{"prefetch", {{{"query", {1, 0, 0, 0}}, {"using", "dense"}, {"limt", 5}}}},
                     {"query", {{"fusion", "rrf"}}}});
  upsert("book",
         json::array({{{"id", 1}, {"vector", {{"dense", {1, 0, 0, 0}}}}, {"payloads", {}}}}));
  const auto more = server_->violations();
  ASSERT_EQ(more.size(), 3u) << joined(more);
  EXPECT_NE(more[1].find("/prefetch/0/limt"), std::string::npos);
  EXPECT_NE(more[2].find("/points/0/payloads"), std::string::npos);
}

TEST_F(QdrantDoubleTest, SchemaFailuresAre400AndRecorded) {
  create("book", book_collection());
  expect_error_containing(call(http::verb::post, "/collections/book/points/query",
                               json{{"query", {1, 0, 0, 0}}, {"using", "dense"}, {"limit", "ten"}}),
                          http::status::bad_request, "Format error in JSON body: ");
  expect_error_containing(call(http::verb::post, "/collections/book/points/query",
                               json{{"prefetch", {{{"query", {1, 0, 0, 0}}, {"using", "dense"}}}},
                                    {"query", {{"fusion", "rrx"}}}}),
                          http::status::bad_request, "Format error in JSON body: ");
  expect_error(client_->exchange(make_request(http::verb::post, "/collections/book/points/count",
                                              std::string("{\"filter\":"))),
               http::status::bad_request,
               "Format error in JSON body: [json.exception.parse_error.101] parse error at line 1, "
               "column 11: syntax error while parsing value - unexpected end of input; expected "
               "'[', '{', or a literal");
  expect_error(client_->exchange(make_request(http::verb::post, "/collections/book/points/count",
                                              std::string("{}"), "text/plain")),
               http::status::bad_request, "Content type error");
  EXPECT_EQ(server_->violations().size(), 4u) << joined(server_->violations());
}

TEST_F(QdrantDoubleTest, BodiesOver32MiBAreRefusedFromTheirLength) {
  create("book", book_collection());
  raw_http_request request{http::verb::put, "/collections/book/points?wait=true", 11};
  request.set(http::field::host, "127.0.0.1");
  request.set(http::field::content_type, "application/json");
  request.set(http::field::content_length, std::to_string(33554433));
  std::ostringstream head;
  head << request.base();
  ASSERT_FALSE(client_->write_raw(head.str()));
  raw_http_response response;
  ASSERT_FALSE(client_->read(response));
  expect_error(response, http::status::bad_request,
               "Payload error: JSON payload (33554433 bytes) is larger than allowed (limit: "
               "33554432 bytes).");
  EXPECT_EQ(server_->violations().size(), 1u);
}

// ---- auth -----------------------------------------------------------------------------------

TEST_F(QdrantDoubleTest, ApiKeysAreEnforcedLikeQdrant) {
  qdrant_double_options options;
  options.api_key = "my-secret";
  options.read_only_api_key = "my-ro-secret";
  start(options);
  auto with = [](raw_http_request request, std::string_view header, std::string_view value) {
    request.set(header, value);
    return request;
  };
  // Whitelisted paths need no key.
  for (std::string_view target : {"/", "/healthz", "/readyz", "/livez"})
    EXPECT_EQ(call(http::verb::get, target).result(), http::status::ok) << target;

  auto response = call(http::verb::get, "/collections");
  EXPECT_EQ(response.result(), http::status::unauthorized);
  EXPECT_EQ(response.body(), "Must provide an API key or an Authorization bearer token");
  EXPECT_EQ(response[http::field::content_type], "");  // plain text, not JSON
  response = client_->exchange(with(make_request(http::verb::get, "/collections"), "api-key", "x"));
  EXPECT_EQ(response.result(), http::status::unauthorized);
  EXPECT_EQ(response.body(), "Invalid API key or JWT");

  const auto create_request = json_request(http::verb::put, "/collections/book", book_collection());
  EXPECT_EQ(client_->exchange(with(create_request, "api-key", "my-secret")).result(),
            http::status::ok);
  EXPECT_EQ(client_
                ->exchange(with(make_request(http::verb::get, "/collections/book/exists"),
                                "authorization", "Bearer my-secret"))
                .result(),
            http::status::ok);
  // The read-only key reads, and writes get 403 in JSON.
  EXPECT_EQ(client_
                ->exchange(with(make_request(http::verb::get, "/collections/book"), "api-key",
                                "my-ro-secret"))
                .result(),
            http::status::ok);
  expect_error(client_->exchange(with(json_request(http::verb::put, "/collections/book/points",
                                                   json{{"points", json::array()}}),
                                      "api-key", "my-ro-secret")),
               http::status::forbidden, "Forbidden: Global manage access is required");
  expect_no_violations();
}

// ---- faults ---------------------------------------------------------------------------------

TEST_F(QdrantDoubleTest, RateLimitedHasRetryAfterThenRecovers) {
  server_->inject(qdrant_fault::rate_limited, 2, 1500ms);
  for (int i = 0; i < 2; ++i) {
    const auto response = call(http::verb::get, "/collections");
    expect_error_containing(response, http::status::too_many_requests, "Rate limiting exceeded: ");
    EXPECT_EQ(response[http::field::retry_after], "2");
  }
  EXPECT_EQ(call(http::verb::get, "/collections").result(), http::status::ok);
  EXPECT_EQ(server_->requests(), 3u);
  EXPECT_EQ(server_->requests_to("GET", "/collections"), 3u);
}

TEST_F(QdrantDoubleTest, UnavailableIs503AndFaultsSkipRootAndHealthz) {
  server_->inject(qdrant_fault::unavailable);
  EXPECT_EQ(call(http::verb::get, "/").result(), http::status::ok);
  EXPECT_EQ(call(http::verb::get, "/healthz").result(), http::status::ok);
  expect_error(call(http::verb::get, "/collections"), http::status::service_unavailable,
               "Shard temporarily unavailable: injected by the Qdrant double");
  EXPECT_EQ(call(http::verb::get, "/collections").result(), http::status::ok);
}

TEST_F(QdrantDoubleTest, SlowAnswersAfterTheDelay) {
  server_->inject(qdrant_fault::none);
  server_->inject(qdrant_fault::slow, 1, 200ms);
  EXPECT_EQ(call(http::verb::get, "/collections").result(), http::status::ok);
  const auto started = std::chrono::steady_clock::now();
  EXPECT_EQ(call(http::verb::get, "/collections").result(), http::status::ok);
  EXPECT_GE(std::chrono::steady_clock::now() - started, 200ms);
}

TEST_F(QdrantDoubleTest, HangHoldsTheRequestUntilTheClientCloses) {
  server_->inject(qdrant_fault::hang);
  ASSERT_FALSE(client_->write(make_request(http::verb::get, "/collections")));
  ASSERT_TRUE(server_->wait_for_open_requests(1, generous));
  raw_http_response response;
  EXPECT_EQ(client_->read(response, 100ms), beast::error::timeout);
  // Other connections are served meanwhile.
  raw_http_client other(server_->port());
  EXPECT_EQ(other.exchange(make_request(http::verb::get, "/collections")).result(),
            http::status::ok);
  client_->close();
  EXPECT_TRUE(server_->wait_for_open_requests(0, generous));
  EXPECT_EQ(server_->connections(), 2u);
  client_ = std::make_unique<raw_http_client>(server_->port());
}

TEST_F(QdrantDoubleTest, DropConnectionClosesWithoutAnAnswer) {
  server_->inject(qdrant_fault::drop_connection);
  ASSERT_FALSE(client_->write(make_request(http::verb::get, "/collections")));
  raw_http_response response;
  const error_code error = client_->read(response);
  EXPECT_TRUE(error == http::error::end_of_stream || error == net::error::connection_reset)
      << error.message();
  client_ = std::make_unique<raw_http_client>(server_->port());
  EXPECT_EQ(call(http::verb::get, "/collections").result(), http::status::ok);
}

TEST_F(QdrantDoubleTest, DestructorReturnsWithHungAndIdleClients) {
  server_->inject(qdrant_fault::hang);
  ASSERT_FALSE(client_->write(make_request(http::verb::get, "/collections")));
  ASSERT_TRUE(server_->wait_for_open_requests(1, generous));
  raw_http_client idle(server_->port());
  const auto started = std::chrono::steady_clock::now();
  server_ = std::make_unique<qdrant_double>();
  EXPECT_LT(std::chrono::steady_clock::now() - started, hang_guard);  // a hung client: forever
  client_ = std::make_unique<raw_http_client>(server_->port());
}

TEST_F(QdrantDoubleTest, KeepAliveReusesOneConnection) {
  for (int i = 0; i < 3; ++i)
    EXPECT_EQ(call(http::verb::get, "/collections").result(), http::status::ok);
  EXPECT_EQ(server_->connections(), 1u);
  auto request = make_request(http::verb::get, "/collections/");  // trailing slash trimmed
  request.keep_alive(false);
  const auto response = client_->exchange(request);
  EXPECT_EQ(response.result(), http::status::ok);
  EXPECT_FALSE(response.keep_alive());
  EXPECT_EQ(server_->requests_to("GET", "/collections"), 4u);
  client_ = std::make_unique<raw_http_client>(server_->port());
}

// ---- the program ----------------------------------------------------------------------------

#ifdef BOOKMCP_QDRANT_DOUBLE_PROGRAM
TEST(QdrantDoubleProgram, ServesUntilEndOfInput) {
  program_run program(BOOKMCP_QDRANT_DOUBLE_PROGRAM, {"--port", "0", "--api-key", "k", "--strict"});
  ASSERT_GT(program.pid(), 0);
  const std::string line = program.first_line();
  const std::uint16_t port = listening_port(line);
  ASSERT_NE(port, 0) << line;
  EXPECT_EQ(line, "listening on http://127.0.0.1:" + std::to_string(port) + "\n");
  {
    raw_http_client client(port);
    auto request = json_request(http::verb::put, "/collections/book", book_collection());
    request.set("api-key", "k");
    EXPECT_EQ(client.exchange(request).result(), http::status::ok);
  }
  program.close_stdin();
  EXPECT_EQ(program.wait_exit(), 0);
}

TEST(QdrantDoubleProgram, StrictExitsWith3AfterAViolation) {
  program_run program(BOOKMCP_QDRANT_DOUBLE_PROGRAM, {"--strict"});
  const std::uint16_t port = listening_port(program.first_line());
  ASSERT_NE(port, 0);
  {
    raw_http_client client(port);
    EXPECT_EQ(client
                  .exchange(json_request(http::verb::put, "/collections/book",
                                         json{{"vectorz", json::object()}}))
                  .result(),
              http::status::ok);
  }
  kill(program.pid(), SIGTERM);
  EXPECT_EQ(program.wait_exit(), 3);
}

TEST(QdrantDoubleProgram, RefusesUnknownOptions) {
  program_run program(BOOKMCP_QDRANT_DOUBLE_PROGRAM, {"--frobnicate", "1"});
  ASSERT_GT(program.pid(), 0);
  EXPECT_EQ(program.wait_exit(), 2);
}
#endif

}  // namespace
}  // namespace bookmcp::testing
