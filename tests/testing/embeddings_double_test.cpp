// The embeddings test double (tests/testing/embeddings_double.hpp) driven over loopback by a raw
// Beast client whose every operation has a deadline (beast::tcp_stream::expires_after), so a
// broken double fails a test instead of hanging it: the computed vectors, the OpenAI request and
// answer shapes, keep-alive, each injected fault, the key, bad bodies, limits, TLS, and the
// standalone program.
#include "tests/testing/embeddings_double.hpp"

#include <gtest/gtest.h>
#include <signal.h>

#include <boost/asio/ssl.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <sstream>
#include <string>
#include <vector>

#include "tests/testing/program_run.hpp"
#include "tests/testing/raw_http_client.hpp"

namespace bookmcp::testing {
namespace {

namespace net = boost::asio;
namespace ssl = net::ssl;
namespace beast = boost::beast;
namespace http = beast::http;
using json = nlohmann::json;
using error_code = boost::system::error_code;
using namespace std::chrono_literals;

raw_http_request post(std::string body, std::string_view content_type = "application/json",
                      std::string_view target = "/v1/embeddings") {
  return make_request(http::verb::post, target, std::move(body), content_type);
}

raw_http_request post_json(const json& body) {
  return post(body.dump());
}

raw_http_request embeddings_request(const json& input, json extra = json::object()) {
  json body = {{"model", "double-embed-1"}, {"input", input}};
  body.update(extra);
  return post_json(body);
}

raw_http_request get(std::string_view target) {
  return make_request(http::verb::get, target);
}

std::vector<float> floats_of(const json& embedding) {
  return embedding.get<std::vector<float>>();
}

double cosine(const std::vector<float>& a, const std::vector<float>& b) {
  double dot = 0, norm_a = 0, norm_b = 0;
  for (std::size_t i = 0; i < a.size(); ++i) {
    dot += double(a[i]) * b[i];
    norm_a += double(a[i]) * a[i];
    norm_b += double(b[i]) * b[i];
  }
  return dot / std::sqrt(norm_a * norm_b);
}

std::vector<unsigned char> decode_base64(std::string_view text) {
  auto value = [](char c) -> int {
    if (c >= 'A' && c <= 'Z') return c - 'A';
    if (c >= 'a' && c <= 'z') return c - 'a' + 26;
    if (c >= '0' && c <= '9') return c - '0' + 52;
    if (c == '+') return 62;
    if (c == '/') return 63;
    return -1;
  };
  std::vector<unsigned char> bytes;
  std::uint32_t group = 0;
  int bits = 0;
  for (char c : text) {
    if (c == '=') break;
    const int v = value(c);
    EXPECT_GE(v, 0) << "not base64: " << c;
    group = (group << 6) | static_cast<std::uint32_t>(v);
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      bytes.push_back(static_cast<unsigned char>((group >> bits) & 0xffu));
    }
  }
  return bytes;
}

// Error shapes: OpenAI's {"error": {...}} and text-embeddings-inference's flat one.
void expect_openai_error(const raw_http_response& response, http::status status,
                         std::string_view type = "invalid_request_error") {
  EXPECT_EQ(response.result(), status) << response.body();
  const json body = body_of(response);
  ASSERT_TRUE(body.contains("error")) << response.body();
  EXPECT_TRUE(body["error"]["message"].is_string());
  EXPECT_EQ(body["error"]["type"], type);
  EXPECT_TRUE(body["error"].contains("code"));
  EXPECT_TRUE(body["error"].contains("param"));
}

void expect_tei_413(const raw_http_response& response) {
  EXPECT_EQ(response.result(), http::status::payload_too_large);
  const json body = body_of(response);
  EXPECT_TRUE(body["message"].is_string()) << response.body();
  EXPECT_EQ(body["code"], 413);
  EXPECT_EQ(body["type"], "validation");
  EXPECT_FALSE(body.contains("error"));
}

// ---- the computed vectors -------------------------------------------------------------------

TEST(EmbeddingsDouble, EmbedIsDeterministicNormalisedAndCaseInsensitive) {
  const auto a = embeddings_double::embed("Camera calibration, step 2", 64);
  ASSERT_EQ(a.size(), 64u);
  EXPECT_EQ(a, embeddings_double::embed("Camera calibration, step 2", 64));
  EXPECT_EQ(a, embeddings_double::embed("camera CALIBRATION step 2", 64));
  double norm = 0;
  for (float value : a) norm += double(value) * value;
  EXPECT_NEAR(norm, 1.0, 1e-5);
  EXPECT_EQ(embeddings_double::embed("ROS 2", 300).size(), 300u);
  EXPECT_NE(embeddings_double::embed("pid", 64), embeddings_double::embed("dip", 64));
  const auto nothing = embeddings_double::embed("?!", 8);
  EXPECT_EQ(nothing, std::vector<float>(8, 0.0f));
}

TEST(EmbeddingsDouble, RelatedPhrasesAreCloserThanUnrelatedOnes) {
  for (std::size_t dimensions : {64u, 256u, 1024u}) {
    auto embed = [&](std::string_view text) { return embeddings_double::embed(text, dimensions); };
    const auto query = embed("camera calibration");
    const double related = cosine(query, embed("calibrating the camera"));
    const double unrelated = cosine(query, embed("banana bread recipe"));
    EXPECT_GT(related, unrelated + 0.2) << dimensions;
    EXPECT_GT(cosine(embed("PID controller tuning"), embed("tuning a pid controller")),
              cosine(embed("PID controller tuning"), embed("humanoid walking gait")))
        << dimensions;
  }
}

TEST(EmbeddingsDouble, ConstructorRefusesOptionsOutOfRange) {
  embeddings_double_options no_dimensions;
  no_dimensions.dimensions = 0;
  EXPECT_THROW(embeddings_double{no_dimensions}, std::invalid_argument);
  embeddings_double_options certificate_without_key;
  certificate_without_key.tls_certificate_pem = "-----BEGIN CERTIFICATE-----";
  EXPECT_THROW(embeddings_double{certificate_without_key}, std::invalid_argument);
  EXPECT_THROW(embeddings_double::embed("x", 0), std::invalid_argument);
}

// ---- the happy path -----------------------------------------------------------------------

TEST(EmbeddingsDouble, StringInputGetsOneEmbedding) {
  embeddings_double double_server;
  EXPECT_EQ(double_server.base_url(),
            "http://127.0.0.1:" + std::to_string(double_server.port()) + "/v1");
  raw_http_client client(double_server.port());
  const auto response = client.exchange(embeddings_request("the quick brown fox"));
  ASSERT_EQ(response.result(), http::status::ok) << response.body();
  EXPECT_EQ(response[http::field::content_type], "application/json");
  const json body = body_of(response);
  EXPECT_EQ(body["object"], "list");
  EXPECT_EQ(body["model"], "double-embed-1");
  ASSERT_EQ(body["data"].size(), 1u);
  EXPECT_EQ(body["data"][0]["object"], "embedding");
  EXPECT_EQ(body["data"][0]["index"], 0);
  EXPECT_EQ(floats_of(body["data"][0]["embedding"]),
            embeddings_double::embed("the quick brown fox", 64));
  EXPECT_EQ(body["usage"]["prompt_tokens"], 4);
  EXPECT_EQ(body["usage"]["total_tokens"], 4);
  EXPECT_EQ(double_server.requests(), 1u);
  EXPECT_EQ(double_server.inputs_embedded(), 1u);
}

TEST(EmbeddingsDouble, ArrayInputKeepsOrderAndCountsUsage) {
  embeddings_double double_server;
  raw_http_client client(double_server.port());
  const std::vector<std::string> inputs = {"first text", "second one here", "third"};
  const auto response = client.exchange(embeddings_request(inputs, {{"user", "tester"}}));
  ASSERT_EQ(response.result(), http::status::ok) << response.body();
  const json body = body_of(response);
  ASSERT_EQ(body["data"].size(), inputs.size());
  for (std::size_t i = 0; i < inputs.size(); ++i) {
    EXPECT_EQ(body["data"][i]["index"], i);
    EXPECT_EQ(floats_of(body["data"][i]["embedding"]), embeddings_double::embed(inputs[i], 64));
  }
  EXPECT_EQ(body["usage"]["prompt_tokens"], 6);
  EXPECT_EQ(double_server.inputs_embedded(), 3u);
}

TEST(EmbeddingsDouble, PrecomputedAnswersAreTheComputedOnes) {
  embeddings_double double_server;
  const std::vector<std::string> known = {"first text", "third"};
  double_server.precompute(known);
  raw_http_client client(double_server.port());
  const std::vector<std::string> inputs = {"first text", "second one here", "third"};
  const json body = body_of(client.exchange(embeddings_request(inputs)));
  ASSERT_EQ(body["data"].size(), inputs.size());
  for (std::size_t i = 0; i < inputs.size(); ++i)
    EXPECT_EQ(floats_of(body["data"][i]["embedding"]), embeddings_double::embed(inputs[i], 64));
  // Another dimension is computed, not taken from the 64-float answers.
  const json wider = body_of(client.exchange(embeddings_request("third", {{"dimensions", 96}})));
  EXPECT_EQ(floats_of(wider["data"][0]["embedding"]), embeddings_double::embed("third", 96));
}

TEST(EmbeddingsDouble, DimensionsFieldOverridesDefault) {
  embeddings_double_options options;
  options.dimensions = 32;
  embeddings_double double_server(options);
  raw_http_client client(double_server.port());
  auto body = body_of(client.exchange(embeddings_request("motor torque")));
  EXPECT_EQ(body["data"][0]["embedding"].size(), 32u);
  body = body_of(client.exchange(embeddings_request("motor torque", {{"dimensions", 256}})));
  EXPECT_EQ(floats_of(body["data"][0]["embedding"]), embeddings_double::embed("motor torque", 256));
}

TEST(EmbeddingsDouble, Base64DecodesToTheSameFloats) {
  embeddings_double double_server;
  raw_http_client client(double_server.port());
  const std::vector<std::string> inputs = {"lidar point cloud", "inverse kinematics"};
  const auto response = client.exchange(
      embeddings_request(inputs, {{"encoding_format", "base64"}, {"dimensions", 100}}));
  ASSERT_EQ(response.result(), http::status::ok) << response.body();
  const json body = body_of(response);
  for (std::size_t i = 0; i < inputs.size(); ++i) {
    ASSERT_TRUE(body["data"][i]["embedding"].is_string());
    const auto bytes = decode_base64(body["data"][i]["embedding"].get<std::string>());
    ASSERT_EQ(bytes.size(), 400u);
    std::vector<float> decoded(100);
    for (std::size_t j = 0; j < decoded.size(); ++j) {
      const std::uint32_t bits = bytes[4 * j] | (bytes[4 * j + 1] << 8) | (bytes[4 * j + 2] << 16) |
                                 (std::uint32_t(bytes[4 * j + 3]) << 24);
      std::memcpy(&decoded[j], &bits, sizeof bits);
    }
    EXPECT_EQ(decoded, embeddings_double::embed(inputs[i], 100));
  }
  const auto as_float = body_of(client.exchange(embeddings_request(
      "lidar point cloud", {{"encoding_format", "float"}, {"dimensions", 100}})));
  EXPECT_EQ(floats_of(as_float["data"][0]["embedding"]),
            embeddings_double::embed("lidar point cloud", 100));
}

TEST(EmbeddingsDouble, KeepAliveReusesOneConnection) {
  embeddings_double double_server;
  raw_http_client client(double_server.port());
  EXPECT_EQ(client.exchange(embeddings_request("one")).result(), http::status::ok);
  EXPECT_EQ(client.exchange(embeddings_request("two")).result(), http::status::ok);
  EXPECT_EQ(client.exchange(get("/v1/models")).result(), http::status::ok);
  EXPECT_EQ(double_server.connections(), 1u);
  EXPECT_EQ(double_server.requests(), 2u);  // GET /v1/models is not an embeddings request
}

TEST(EmbeddingsDouble, ConnectionCloseIsHonoured) {
  embeddings_double double_server;
  raw_http_client client(double_server.port());
  auto request = embeddings_request("bye");
  request.keep_alive(false);
  const auto response = client.exchange(request);
  EXPECT_EQ(response.result(), http::status::ok);
  EXPECT_FALSE(response.keep_alive());
  raw_http_response next;
  EXPECT_EQ(client.read(next, generous), http::error::end_of_stream);
}

TEST(EmbeddingsDouble, ModelsListsTheModel) {
  embeddings_double_options options;
  options.model = "text-embedding-3-small";
  embeddings_double double_server(options);
  raw_http_client client(double_server.port());
  const json body = body_of(client.exchange(get("/v1/models")));
  EXPECT_EQ(body["object"], "list");
  ASSERT_EQ(body["data"].size(), 1u);
  EXPECT_EQ(body["data"][0]["id"], "text-embedding-3-small");
  EXPECT_EQ(body["data"][0]["object"], "model");
}

TEST(EmbeddingsDouble, UnknownPathIs404AndWrongMethodIs405) {
  embeddings_double double_server;
  raw_http_client client(double_server.port());
  expect_openai_error(client.exchange(post("{}", "application/json", "/v1/completions")),
                      http::status::not_found);
  const auto wrong_method = client.exchange(get("/v1/embeddings"));
  expect_openai_error(wrong_method, http::status::method_not_allowed);
  EXPECT_EQ(wrong_method[http::field::allow], "POST");
  EXPECT_EQ(double_server.requests(), 0u);
}

// ---- faults -------------------------------------------------------------------------------

TEST(EmbeddingsDouble, RateLimitedHasRetryAfterThenRecovers) {
  embeddings_double double_server;
  double_server.inject(embeddings_fault::rate_limited, 2, 1500ms);
  raw_http_client client(double_server.port());
  for (int i = 0; i < 2; ++i) {
    const auto response = client.exchange(embeddings_request("hello"));
    expect_openai_error(response, http::status::too_many_requests, "requests");
    EXPECT_EQ(body_of(response)["error"]["code"], "rate_limit_exceeded");
    EXPECT_EQ(response[http::field::retry_after], "2");
    EXPECT_EQ(response["retry-after-ms"], "1500");
  }
  EXPECT_EQ(client.exchange(embeddings_request("hello")).result(), http::status::ok);
  EXPECT_EQ(double_server.requests(), 3u);
  EXPECT_EQ(double_server.inputs_embedded(), 1u);

  double_server.inject(embeddings_fault::rate_limited);
  EXPECT_EQ(client.exchange(embeddings_request("hello"))[http::field::retry_after], "0");
}

TEST(EmbeddingsDouble, ServerErrorIs503WithRetryAfterOnlyWhenGiven) {
  embeddings_double double_server;
  double_server.inject(embeddings_fault::server_error);
  double_server.inject(embeddings_fault::server_error, 1, 250ms);
  raw_http_client client(double_server.port());
  auto response = client.exchange(embeddings_request("hello"));
  expect_openai_error(response, http::status::service_unavailable, "server_error");
  EXPECT_EQ(response.find(http::field::retry_after), response.end());
  response = client.exchange(embeddings_request("hello"));
  expect_openai_error(response, http::status::service_unavailable, "server_error");
  EXPECT_EQ(response[http::field::retry_after], "1");
  EXPECT_EQ(client.exchange(embeddings_request("hello")).result(), http::status::ok);
}

TEST(EmbeddingsDouble, TooLargeFaultUsesTeiFlatShape) {
  embeddings_double double_server;
  double_server.inject(embeddings_fault::too_large);
  raw_http_client client(double_server.port());
  expect_tei_413(client.exchange(embeddings_request("hello")));
}

TEST(EmbeddingsDouble, WrongDimensionsFaultAddsAFloatToEveryEmbedding) {
  embeddings_double double_server;
  double_server.inject(embeddings_fault::wrong_dimensions);
  raw_http_client client(double_server.port());
  const auto response =
      client.exchange(embeddings_request(json::array({"a b", "c d"}), {{"dimensions", 16}}));
  ASSERT_EQ(response.result(), http::status::ok);
  const json body = body_of(response);
  ASSERT_EQ(body["data"].size(), 2u);
  for (const auto& item : body["data"]) EXPECT_EQ(item["embedding"].size(), 17u);
  EXPECT_EQ(double_server.inputs_embedded(), 0u);
}

TEST(EmbeddingsDouble, WrongCountFaultDropsOneEmbedding) {
  embeddings_double double_server;
  double_server.inject(embeddings_fault::wrong_count);
  raw_http_client client(double_server.port());
  const auto response = client.exchange(embeddings_request(json::array({"a", "b", "c"})));
  ASSERT_EQ(response.result(), http::status::ok);
  const json body = body_of(response);
  EXPECT_EQ(body["data"].size(), 2u);
  EXPECT_EQ(body["usage"]["prompt_tokens"], 3);
}

TEST(EmbeddingsDouble, MalformedFaultIsNotJson) {
  embeddings_double double_server;
  double_server.inject(embeddings_fault::malformed);
  raw_http_client client(double_server.port());
  const auto response = client.exchange(embeddings_request("hello"));
  EXPECT_EQ(response.result(), http::status::ok);
  EXPECT_EQ(response[http::field::content_type], "application/json");
  EXPECT_FALSE(json::accept(response.body()));
  // The connection stays usable.
  EXPECT_TRUE(json::accept(client.exchange(embeddings_request("hello")).body()));
}

TEST(EmbeddingsDouble, SlowAnswersAfterTheDelay) {
  embeddings_double double_server;
  double_server.inject(embeddings_fault::slow, 1, 200ms);
  raw_http_client client(double_server.port());
  const auto start = std::chrono::steady_clock::now();
  const auto response = client.exchange(embeddings_request("patience"));
  EXPECT_GE(std::chrono::steady_clock::now() - start, 200ms);
  ASSERT_EQ(response.result(), http::status::ok);
  EXPECT_EQ(floats_of(body_of(response)["data"][0]["embedding"]),
            embeddings_double::embed("patience", 64));
  EXPECT_EQ(double_server.inputs_embedded(), 1u);
  EXPECT_EQ(double_server.open_requests(), 0u);
}

TEST(EmbeddingsDouble, FaultsQueueInOrderAndNoneLetsARequestThrough) {
  embeddings_double double_server;
  double_server.inject(embeddings_fault::server_error);
  double_server.inject(embeddings_fault::none);
  double_server.inject(embeddings_fault::rate_limited);
  double_server.inject(embeddings_fault::too_large, 0);  // nothing
  raw_http_client client(double_server.port());
  std::vector<http::status> statuses;
  for (int i = 0; i < 4; ++i) statuses.push_back(client.exchange(embeddings_request("x")).result());
  EXPECT_EQ(statuses,
            (std::vector<http::status>{http::status::service_unavailable, http::status::ok,
                                       http::status::too_many_requests, http::status::ok}));
}

TEST(EmbeddingsDouble, HangHoldsTheRequestUntilTheClientCloses) {
  embeddings_double double_server;
  double_server.inject(embeddings_fault::hang);
  raw_http_client client(double_server.port());
  ASSERT_FALSE(client.write(embeddings_request("anyone there?"), generous));
  ASSERT_TRUE(double_server.wait_for_open_requests(1, generous));
  EXPECT_EQ(double_server.requests(), 1u);
  raw_http_response response;
  // The client's own deadline fires (and closes its socket); the double then lets go.
  EXPECT_EQ(client.read(response, 100ms), beast::error::timeout);
  EXPECT_TRUE(double_server.wait_for_open_requests(0, generous));
  // Later requests are answered.
  raw_http_client next(double_server.port());
  EXPECT_EQ(next.exchange(embeddings_request("hello")).result(), http::status::ok);
}

TEST(EmbeddingsDouble, OtherConnectionsAreServedWhileOneHangs) {
  embeddings_double double_server;
  double_server.inject(embeddings_fault::hang);
  raw_http_client hung(double_server.port());
  ASSERT_FALSE(hung.write(embeddings_request("stuck"), generous));
  ASSERT_TRUE(double_server.wait_for_open_requests(1, generous));
  raw_http_client other(double_server.port());
  EXPECT_EQ(other.exchange(embeddings_request("fine")).result(), http::status::ok);
  EXPECT_EQ(double_server.open_requests(), 1u);
}

TEST(EmbeddingsDouble, DestructorReturnsWithHungSlowAndIdleClients) {
  auto double_server = std::make_unique<embeddings_double>();
  raw_http_client idle(double_server->port());
  EXPECT_EQ(idle.exchange(embeddings_request("kept alive")).result(), http::status::ok);
  double_server->inject(embeddings_fault::hang);
  double_server->inject(embeddings_fault::slow, 1, std::chrono::hours(1));
  raw_http_client hung(double_server->port());
  ASSERT_FALSE(hung.write(embeddings_request("stuck"), generous));
  ASSERT_TRUE(double_server->wait_for_open_requests(1, generous));
  raw_http_client slow(double_server->port());
  ASSERT_FALSE(slow.write(embeddings_request("slow"), generous));
  ASSERT_TRUE(double_server->wait_for_open_requests(2, generous));

  double_server.reset();  // returns (the test's timeout would catch it otherwise)

  // Every connection was closed without an answer: the clients see the end, not their deadline.
  for (raw_http_client* client : {&idle, &hung, &slow}) {
    raw_http_response response;
    const error_code error = client->read(response, generous);
    EXPECT_TRUE(error);
    EXPECT_NE(error, beast::error::timeout);
  }
}

// ---- authentication and validation --------------------------------------------------------

TEST(EmbeddingsDouble, MissingOrWrongKeyIs401) {
  embeddings_double_options options;
  options.api_key = "sk-double-secret";
  embeddings_double double_server(options);
  raw_http_client client(double_server.port());
  auto request = embeddings_request("hello");
  auto response = client.exchange(request);
  expect_openai_error(response, http::status::unauthorized);
  EXPECT_EQ(body_of(response)["error"]["code"], "invalid_api_key");

  request.set(http::field::authorization, "Bearer sk-wrong");
  response = client.exchange(request);
  expect_openai_error(response, http::status::unauthorized);
  EXPECT_EQ(body_of(response)["error"]["code"], "invalid_api_key");
  EXPECT_NE(
      body_of(response)["error"]["message"].get<std::string>().find("Incorrect API key provided"),
      std::string::npos);

  EXPECT_EQ(client.exchange(get("/v1/models")).result(), http::status::unauthorized);
  request.set(http::field::authorization, "Bearer sk-double-secret");
  EXPECT_EQ(client.exchange(request).result(), http::status::ok);
  EXPECT_EQ(double_server.inputs_embedded(), 1u);
}

TEST(EmbeddingsDouble, BadBodiesAre400) {
  embeddings_double double_server;
  raw_http_client client(double_server.port());
  const std::vector<raw_http_request> bad = {
      post("{not json"),
      post("[1, 2]"),
      post(R"({"model": "double-embed-1", "input": "x"})", "text/plain"),
      post_json({{"input", "no model"}}),
      post_json({{"model", 7}, {"input", "x"}}),
      post_json({{"model", "double-embed-1"}}),
      embeddings_request(""),
      embeddings_request(json::array()),
      embeddings_request(json::array({"fine", ""})),
      embeddings_request(json::array({json::array({1, 2, 3})})),
      embeddings_request(json::array({1, 2, 3})),
      embeddings_request(json::array({"fine", nullptr})),
      embeddings_request(42),
      embeddings_request("x", {{"dimensions", 0}}),
      embeddings_request("x", {{"dimensions", -3}}),
      embeddings_request("x", {{"dimensions", 4097}}),
      embeddings_request("x", {{"dimensions", 12.5}}),
      embeddings_request("x", {{"dimensions", "64"}}),
      embeddings_request("x", {{"encoding_format", "hex"}}),
      embeddings_request("x", {{"user", 5}}),
      embeddings_request("x", {{"temperature", 0.5}}),
  };
  for (const auto& request : bad) {
    SCOPED_TRACE(request.body());
    expect_openai_error(client.exchange(request), http::status::bad_request);
  }
  EXPECT_EQ(double_server.requests(), bad.size());
  EXPECT_EQ(double_server.inputs_embedded(), 0u);
  // charset parameters are fine, and so is an explicit null for an optional field
  EXPECT_EQ(client
                .exchange(post(R"({"model":"double-embed-1","input":"x","dimensions":null})",
                               "application/json; charset=utf-8"))
                .result(),
            http::status::ok);
}

TEST(EmbeddingsDouble, WrongModelIs404) {
  embeddings_double double_server;
  raw_http_client client(double_server.port());
  const auto response = client.exchange(post_json({{"model", "gpt-nope"}, {"input", "x"}}));
  expect_openai_error(response, http::status::not_found);
  const json body = body_of(response);
  EXPECT_EQ(body["error"]["code"], "model_not_found");
  EXPECT_NE(body["error"]["message"].get<std::string>().find("The model `gpt-nope` does not exist"),
            std::string::npos);
}

TEST(EmbeddingsDouble, TooManyInputsIs400NamingTheLimit) {
  embeddings_double_options options;
  options.max_inputs = 3;
  embeddings_double double_server(options);
  raw_http_client client(double_server.port());
  EXPECT_EQ(client.exchange(embeddings_request(json::array({"a", "b", "c"}))).result(),
            http::status::ok);
  const auto response = client.exchange(embeddings_request(json::array({"a", "b", "c", "d"})));
  expect_openai_error(response, http::status::bad_request);
  EXPECT_NE(body_of(response)["error"]["message"].get<std::string>().find("3"), std::string::npos);
}

TEST(EmbeddingsDouble, OverlongInputIs413NamingIt) {
  embeddings_double_options options;
  options.max_input_chars = 10;
  embeddings_double double_server(options);
  raw_http_client client(double_server.port());
  EXPECT_EQ(client.exchange(embeddings_request(json::array({"0123456789"}))).result(),
            http::status::ok);
  const auto response = client.exchange(embeddings_request(json::array({"short", "0123456789a"})));
  expect_tei_413(response);
  EXPECT_NE(body_of(response)["message"].get<std::string>().find("input 1"), std::string::npos);
}

TEST(EmbeddingsDouble, OversizedBodyIsRefusedBeforeItIsSent) {
  embeddings_double double_server;
  raw_http_client client(double_server.port());
  // Only the head: the answer must come without the 9 MiB body.
  ASSERT_FALSE(
      client.write_raw("POST /v1/embeddings HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                       "Content-Type: application/json\r\nContent-Length: 9437184\r\n\r\n"));
  raw_http_response response;
  ASSERT_FALSE(client.read(response, generous));
  expect_tei_413(response);
  EXPECT_FALSE(response.keep_alive());
}

TEST(EmbeddingsDouble, ExpectContinueIsAnswered) {
  embeddings_double double_server;
  raw_http_client client(double_server.port());
  const std::string body = R"({"model":"double-embed-1","input":"x"})";
  ASSERT_FALSE(client.write_raw(
      "POST /v1/embeddings HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
      "Expect: 100-continue\r\nContent-Length: " +
      std::to_string(body.size()) + "\r\n\r\n"));
  raw_http_response interim;
  ASSERT_FALSE(client.read(interim, generous));
  EXPECT_EQ(interim.result(), http::status::continue_);
  ASSERT_FALSE(client.write_raw(body));
  raw_http_response response;
  ASSERT_FALSE(client.read(response, generous));
  EXPECT_EQ(response.result(), http::status::ok);
}

// ---- TLS ----------------------------------------------------------------------------------

class EmbeddingsDoubleTls : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    char pattern[] = "/tmp/bookmcp-embeddings-double-XXXXXX";
    ASSERT_NE(mkdtemp(pattern), nullptr);
    directory_ = pattern;
    const std::string command =
        "openssl req -x509 -newkey rsa:2048 -nodes -subj /CN=localhost"
        " -addext subjectAltName=IP:127.0.0.1,DNS:localhost -days 1"
        " -keyout '" +
        (directory_ / "key.pem").string() + "' -out '" + (directory_ / "cert.pem").string() +
        "' 2>/dev/null";
    ASSERT_EQ(std::system(command.c_str()), 0) << command;
    certificate_ = read(directory_ / "cert.pem");
    key_ = read(directory_ / "key.pem");
  }
  static void TearDownTestSuite() {
    std::error_code ignored;
    std::filesystem::remove_all(directory_, ignored);
  }
  static std::string read(const std::filesystem::path& path) {
    std::ifstream file(path);
    std::stringstream text;
    text << file.rdbuf();
    return text.str();
  }
  static embeddings_double_options tls_options() {
    embeddings_double_options options;
    options.tls_certificate_pem = certificate_;
    options.tls_private_key_pem = key_;
    return options;
  }

  static inline std::filesystem::path directory_;
  static inline std::string certificate_;
  static inline std::string key_;
};

TEST_F(EmbeddingsDoubleTls, VerifyingClientIsServed) {
  ASSERT_FALSE(certificate_.empty());
  embeddings_double double_server(tls_options());
  EXPECT_EQ(double_server.base_url(),
            "https://127.0.0.1:" + std::to_string(double_server.port()) + "/v1");
  ssl::context context(ssl::context::tls_client);
  context.add_certificate_authority(net::buffer(certificate_));
  context.set_verify_mode(ssl::verify_peer);
  raw_https_client client(double_server.port(), context);
  ASSERT_FALSE(client.connect_error());
  ASSERT_FALSE(client.handshake_error()) << client.handshake_error().message();
  const auto response = client.exchange(embeddings_request(json::array({"secure", "channel"})));
  ASSERT_EQ(response.result(), http::status::ok) << response.body();
  EXPECT_EQ(floats_of(body_of(response)["data"][1]["embedding"]),
            embeddings_double::embed("channel", 64));
  EXPECT_EQ(client.exchange(get("/v1/models")).result(), http::status::ok);
  EXPECT_EQ(double_server.connections(), 1u);
}

TEST_F(EmbeddingsDoubleTls, ClientNotTrustingTheCertificateFailsTheHandshake) {
  ASSERT_FALSE(certificate_.empty());
  embeddings_double double_server(tls_options());
  {
    ssl::context context(ssl::context::tls_client);  // no CA: trusts nothing
    context.set_verify_mode(ssl::verify_peer);
    raw_https_client client(double_server.port(), context);
    ASSERT_FALSE(client.connect_error());
    EXPECT_TRUE(client.handshake_error());
    EXPECT_NE(client.handshake_error(), beast::error::timeout);
  }
  {
    raw_http_client plain(double_server.port());  // plain HTTP to a TLS port gets no answer
    raw_http_response response;
    ASSERT_FALSE(plain.write(get("/v1/models"), generous));
    const error_code error = plain.read(response, generous);
    EXPECT_TRUE(error);
    EXPECT_NE(error, beast::error::timeout);
  }
  EXPECT_EQ(double_server.requests(), 0u);
}

// ---- the standalone program ----------------------------------------------------------------

TEST(EmbeddingsDoubleProgram, ServesUntilEndOfInput) {
  program_run program(BOOKMCP_EMBEDDINGS_DOUBLE_PROGRAM,
                      {"--port", "0", "--dimensions", "16", "--api-key", "k", "--model", "m"});
  ASSERT_GT(program.pid(), 0);
  const std::string line = program.first_line();
  const std::uint16_t port = listening_port(line);
  ASSERT_NE(port, 0) << line;
  EXPECT_EQ(line, "listening on http://127.0.0.1:" + std::to_string(port) + "/v1\n");
  {
    raw_http_client client(port);
    auto request = post_json({{"model", "m"}, {"input", "hello"}});
    request.set(http::field::authorization, "Bearer k");
    const auto response = client.exchange(request);
    ASSERT_EQ(response.result(), http::status::ok) << response.body();
    EXPECT_EQ(floats_of(body_of(response)["data"][0]["embedding"]),
              embeddings_double::embed("hello", 16));
  }
  program.close_stdin();
  EXPECT_EQ(program.wait_exit(), 0);
}

TEST(EmbeddingsDoubleProgram, StopsOnSigterm) {
  program_run program(BOOKMCP_EMBEDDINGS_DOUBLE_PROGRAM, {});
  ASSERT_GT(program.pid(), 0);
  ASSERT_NE(listening_port(program.first_line()), 0);
  kill(program.pid(), SIGTERM);
  EXPECT_EQ(program.wait_exit(), 0);
}

TEST(EmbeddingsDoubleProgram, RefusesUnknownOptions) {
  program_run program(BOOKMCP_EMBEDDINGS_DOUBLE_PROGRAM, {"--frobnicate", "1"});
  ASSERT_GT(program.pid(), 0);
  EXPECT_EQ(program.wait_exit(), 2);
}

}  // namespace
}  // namespace bookmcp::testing
