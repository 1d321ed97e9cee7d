// Qdrant's answers as the store reads them (read_qdrant_*, fuzzed by qdrant_answer_fuzz): the
// documented shapes, and every malformed one refused as vector_store_error, which the callers
// turn into a fallback to the lexical index, never another exception.

#include "rag/qdrant_store.hpp"

#include <gtest/gtest.h>

#include <string>

namespace bookmcp::rag {
namespace {

constexpr const char* call = "POST /collections/bookmcp/points/query";

std::string envelope(const std::string& result) {
  return R"({"result":)" + result + R"(,"status":"ok","time":0.002})";
}

TEST(QdrantAnswers, QueryGivesTheChunksWithTheirScoresInOrder) {
  const auto hits = read_qdrant_query_answer(
      envelope(R"({"points":[
        {"id":"6f1d2b4e-0000-5000-8000-000000000001","version":3,"score":0.8123,"payload":{"chunk_id":"a#1"}},
        {"id":7,"version":3,"score":0.5,"payload":{"chunk_id":"b#2"}},
        {"id":8,"version":3,"score":0.4},
        {"id":9,"version":3,"score":0.3,"payload":{"chunk_id":5}},
        {"id":10,"version":3,"payload":{"chunk_id":"c#3"}}]})"),
      call);
  ASSERT_EQ(hits.size(), 3u);
  EXPECT_EQ(hits[0].chunk_id, "a#1");
  EXPECT_FLOAT_EQ(hits[0].score, 0.8123f);
  EXPECT_EQ(hits[1].chunk_id, "b#2");
  EXPECT_EQ(hits[2].chunk_id, "c#3");
  EXPECT_EQ(hits[2].score, 0.0f);  // no score: 0, as before
  EXPECT_TRUE(read_qdrant_query_answer(envelope("{}"), call).empty());
  EXPECT_TRUE(read_qdrant_query_answer(envelope(R"({"points":[]})"), call).empty());
}

TEST(QdrantAnswers, MalformedAnswersAreVectorStoreErrors) {
  const char* query_bodies[] = {
      "",
      "not json",
      R"({"status":"ok"})",
      R"([1,2])",
      R"({"result":[]})",
      R"({"result":"points"})",
      R"({"result":{"points":{"id":1}}})",
      R"({"result":{"points":"a"}})",
      R"({"result":{"points":[5]}})",
      // These escaped as nlohmann::json::type_error (past the fallback) or were undefined.
      R"({"result":{"points":[{"id":1,"score":"high","payload":{"chunk_id":"a"}}]}})",
      R"({"result":{"points":[{"id":1,"score":1e300,"payload":{"chunk_id":"a"}}]}})",
      R"({"result":{"points":[{"id":1,"score":-1e39,"payload":{"chunk_id":"a"}}]}})",
  };
  for (const char* body : query_bodies) {
    EXPECT_THROW(read_qdrant_query_answer(body, call), vector_store_error) << body;
  }
  EXPECT_THROW(read_qdrant_count_answer(envelope(R"({"count":-1})"), call), vector_store_error);
  EXPECT_THROW(read_qdrant_count_answer(envelope(R"({"count":"37"})"), call), vector_store_error);
  EXPECT_THROW(read_qdrant_count_answer(envelope(R"({"count":1.5})"), call), vector_store_error);
  EXPECT_THROW(read_qdrant_count_answer(envelope("7"), call), vector_store_error);
  EXPECT_THROW(read_qdrant_exists_answer(envelope(R"({"exists":"yes"})"), call), vector_store_error);
  EXPECT_THROW(read_qdrant_exists_answer(envelope("true"), call), vector_store_error);
  EXPECT_THROW(read_qdrant_scroll_answer(envelope(R"({"points":[],"next_page_offset":{"a":1}})"), call),
               vector_store_error);
  EXPECT_THROW(read_qdrant_scroll_answer(envelope(R"({"points":[],"next_page_offset":-4})"), call),
               vector_store_error);
  EXPECT_THROW(read_qdrant_collection_answer(envelope(R"({"config":"x"})"), call), vector_store_error);
  EXPECT_THROW(read_qdrant_collection_answer(envelope(R"({"config":{"params":{"vectors":{"dense":7}}}})"), call),
               vector_store_error);
  EXPECT_THROW(
      read_qdrant_collection_answer(envelope(R"({"config":{"params":{"vectors":{"dense":{"size":65537}}}}})"), call),
      vector_store_error);
  EXPECT_THROW(read_qdrant_collection_answer(
                   envelope(R"({"config":{"params":{},"metadata":{"bookmcp":{"fingerprint":42}}}})"), call),
               vector_store_error);
  EXPECT_THROW(read_qdrant_write_answer(R"({"status":{"error":"boom"},"time":0})", call), vector_store_error);
  // The message names the call.
  try {
    read_qdrant_query_answer("<html>", call);
    FAIL();
  } catch (const vector_store_error& error) {
    EXPECT_NE(std::string(error.what()).find(call), std::string::npos);
  }
}

TEST(QdrantAnswers, ScrollCountExistsAndCollectionInfo) {
  const auto page = read_qdrant_scroll_answer(
      envelope(R"({"points":[{"id":"u1","payload":{"chunk_id":"a#1","content_hash":"00000000000000ff"}},
                             {"id":"u2","payload":{"chunk_id":"b#1","content_hash":"zz"}},
                             {"id":"u3","payload":{}}],
                   "next_page_offset":"6f1d2b4e-0000-5000-8000-000000000004"})"),
      call);
  ASSERT_EQ(page.chunks.size(), 2u);
  EXPECT_EQ(page.chunks[0], (std::pair<std::string, std::uint64_t>{"a#1", 255}));
  EXPECT_EQ(page.chunks[1].second, 0u);
  EXPECT_EQ(page.next_offset, "\"6f1d2b4e-0000-5000-8000-000000000004\"");
  EXPECT_EQ(read_qdrant_scroll_answer(envelope(R"({"points":[],"next_page_offset":12})"), call).next_offset, "12");
  EXPECT_FALSE(read_qdrant_scroll_answer(envelope(R"({"points":[],"next_page_offset":null})"), call).next_offset);

  EXPECT_EQ(read_qdrant_count_answer(envelope(R"({"count":37})"), call), 37u);
  EXPECT_TRUE(read_qdrant_exists_answer(envelope(R"({"exists":true})"), call));
  EXPECT_FALSE(read_qdrant_exists_answer(envelope(R"({"exists":false})"), call));
  EXPECT_NO_THROW(read_qdrant_write_answer(envelope(R"({"operation_id":3,"status":"completed"})"), call));

  const auto info = read_qdrant_collection_answer(
      envelope(R"({"status":"green","optimizer_status":"ok","segments_count":2,"points_count":1234,
                  "config":{"params":{"vectors":{"dense":{"size":1536,"distance":"Cosine"}},
                                      "sparse_vectors":{"bm25":{"modifier":"idf"}}},
                            "metadata":{"bookmcp":{"schema":1,"fingerprint":"openai:m:1536"}}},
                  "payload_schema":{}})"),
      call);
  EXPECT_TRUE(info.has_dense);
  EXPECT_TRUE(info.has_sparse);
  EXPECT_EQ(info.dimensions, 1536u);
  EXPECT_EQ(info.fingerprint, "openai:m:1536");
  // Someone else's collection: an unnamed vector, no sparse one (the store refuses to write).
  const auto other = read_qdrant_collection_answer(
      envelope(R"({"config":{"params":{"vectors":{"size":4,"distance":"Dot"}}}})"), call);
  EXPECT_FALSE(other.has_dense);
  EXPECT_FALSE(other.has_sparse);
  EXPECT_EQ(other.dimensions, 0u);
}

TEST(QdrantAnswers, ErrorMessagesAreShortValidUtf8OnOneLine) {
  EXPECT_EQ(qdrant_error_message(R"({"status":{"error":"Not found: Collection `x` doesn't exist!"},"time":0})"),
            "Not found: Collection `x` doesn't exist!");
  EXPECT_EQ(qdrant_error_message("Invalid API key or JWT\n"), "Invalid API key or JWT ");
  EXPECT_EQ(qdrant_error_message(""), "(no message)");
  EXPECT_EQ(qdrant_error_message("a\x1b[31mb\r\n"), "a [31mb  ");
  // 299 bytes then "é" (2 bytes): the cut used to split the character, and JSON refuses the
  // half of one (a tool result carrying the message could not be sent).
  const std::string message = qdrant_error_message(std::string(299, 'x') + "\xC3\xA9" + std::string(10, 'y'));
  EXPECT_EQ(message, std::string(299, 'x') + "…");
  EXPECT_EQ(qdrant_error_message("bad \xff\xfe bytes"), "bad ?? bytes");
}

}  // namespace
}  // namespace bookmcp::rag
