// The OpenAI-compatible embeddings client against the embeddings test double (a double written
// from the published API; no real embedding model runs on these machines): batching, retries
// with Retry-After, errors a user can act on, cancellation that closes the request, keep-alive,
// and TLS with certificate verification.

#include "rag/embedder.hpp"

#include <gtest/gtest.h>

#include <chrono>
#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <thread>

#include "tests/testing/embeddings_double.hpp"
#include "tests/testing/eventually.hpp"

namespace {

using namespace bookmcp;
using bookmcp::testing::base64_support;
using bookmcp::testing::embeddings_double;
using bookmcp::testing::embeddings_fault;
using std::chrono::milliseconds;

// Options of the double with one field set (designated initialisers would leave the others to
// -Wmissing-field-initializers).
template <class Set>
bookmcp::testing::embeddings_double_options double_options(Set set) {
  bookmcp::testing::embeddings_double_options options;
  set(options);
  return options;
}

rag::openai_embedder_options options_for(const embeddings_double& endpoint) {
  rag::openai_embedder_options options;
  options.base_url = endpoint.base_url();
  options.model = "double-embed-1";
  options.backoff_base = milliseconds(1);
  options.backoff_max = milliseconds(5);
  options.timeout = milliseconds(10'000);
  return options;
}

std::vector<std::string> numbered_inputs(std::size_t count) {
  std::vector<std::string> inputs;
  for (std::size_t i = 0; i < count; ++i)
    inputs.push_back("section " + std::to_string(i) + " about camera calibration");
  return inputs;
}

float cosine(const std::vector<float>& a, const std::vector<float>& b) {
  float sum = 0;
  for (std::size_t i = 0; i < a.size(); ++i) sum += a[i] * b[i];
  return sum;
}

TEST(OpenAiEmbedder, ReturnsTheEndpointsVectorsInInputOrder) {
  embeddings_double endpoint(double_options([](auto& o) { o.dimensions = 48; }));
  auto embedder = rag::make_openai_embedder(options_for(endpoint));
  const auto inputs = numbered_inputs(5);
  const auto vectors = embedder->embed(inputs);
  ASSERT_EQ(vectors.size(), inputs.size());
  for (std::size_t i = 0; i < inputs.size(); ++i) {
    const auto expected = embeddings_double::embed(inputs[i], 48);
    ASSERT_EQ(vectors[i].size(), 48u);
    EXPECT_NEAR(cosine(vectors[i], expected), 1.0f, 1e-5) << i;
  }
  EXPECT_EQ(embedder->dimensions(), 48u);
  EXPECT_EQ(endpoint.requests(), 1u);
  EXPECT_EQ(endpoint.base64_requests(), 1u);  // the compact encoding, as OpenAI's clients ask
}

TEST(OpenAiEmbedder, AnEndpointThatAnswersFloatsToABase64RequestIsReadAllTheSame) {
  embeddings_double endpoint(double_options([](auto& o) { o.base64 = base64_support::ignored; }));
  auto embedder = rag::make_openai_embedder(options_for(endpoint));
  const auto inputs = numbered_inputs(3);
  const auto vectors = embedder->embed(inputs);
  for (std::size_t i = 0; i < inputs.size(); ++i)
    EXPECT_NEAR(cosine(vectors[i], embeddings_double::embed(inputs[i], 64)), 1.0f, 1e-5);
  EXPECT_EQ(endpoint.requests(), 1u);
}

TEST(OpenAiEmbedder, AnEndpointThatRefusesBase64IsAskedForFloatsAtOnceAndFromThenOn) {
  embeddings_double endpoint(double_options([](auto& o) { o.base64 = base64_support::refused; }));
  auto options = options_for(endpoint);
  options.max_retries = 0;  // the switch is not a retry
  auto embedder = rag::make_openai_embedder(options);
  const auto inputs = numbered_inputs(3);
  const auto vectors = embedder->embed(inputs);
  for (std::size_t i = 0; i < inputs.size(); ++i)
    EXPECT_NEAR(cosine(vectors[i], embeddings_double::embed(inputs[i], 64)), 1.0f, 1e-5);
  EXPECT_EQ(endpoint.requests(), 2u);
  EXPECT_EQ(embedder->stats().retries, 0u);
  embedder->embed(inputs);
  EXPECT_EQ(endpoint.requests(), 3u);
  EXPECT_EQ(endpoint.base64_requests(), 1u);
}

TEST(OpenAiEmbedder, SplitsIntoBatchesAndRunsThemConcurrentlyOnKeptAliveConnections) {
  embeddings_double endpoint;
  auto options = options_for(endpoint);
  options.max_batch_inputs = 3;
  options.concurrency = 2;
  auto embedder = rag::make_openai_embedder(options);
  // The first two answers are held back, so a client that really sends two requests at once
  // needs two connections, and one that sends them in turn needs one (and takes twice as long).
  endpoint.inject(embeddings_fault::slow, 2, milliseconds(300));
  const auto inputs = numbered_inputs(10);
  const auto vectors = embedder->embed(inputs);
  EXPECT_EQ(endpoint.requests(), 4u);  // 3 + 3 + 3 + 1
  EXPECT_EQ(endpoint.inputs_embedded(), 10u);
  for (std::size_t i = 0; i < inputs.size(); ++i)
    EXPECT_NEAR(cosine(vectors[i], embeddings_double::embed(inputs[i], 64)), 1.0f, 1e-5);
  EXPECT_EQ(endpoint.connections(), 2u);
  // Again: the pooled connections are reused, no new ones (never more than the concurrency).
  embedder->embed(inputs);
  EXPECT_EQ(endpoint.requests(), 8u);
  EXPECT_EQ(endpoint.connections(), 2u);
}

TEST(OpenAiEmbedder, SplitsByEstimatedTokensToo) {
  embeddings_double endpoint;
  auto options = options_for(endpoint);
  options.max_batch_tokens = 100;  // about 400 bytes per request
  auto embedder = rag::make_openai_embedder(options);
  std::vector<std::string> inputs(4, std::string(300, 'a'));
  embedder->embed(inputs);
  EXPECT_EQ(endpoint.requests(), 4u);
}

TEST(OpenAiEmbedder, RetriesRateLimitsAndServerErrorsHonouringRetryAfter) {
  embeddings_double endpoint;
  endpoint.inject(embeddings_fault::rate_limited, 2, milliseconds(150));
  endpoint.inject(embeddings_fault::server_error, 1);
  auto embedder = rag::make_openai_embedder(options_for(endpoint));
  const auto started = std::chrono::steady_clock::now();
  const auto vectors = embedder->embed(numbered_inputs(2));
  const auto elapsed = std::chrono::steady_clock::now() - started;
  EXPECT_EQ(vectors.size(), 2u);
  EXPECT_EQ(endpoint.requests(), 4u);
  EXPECT_EQ(embedder->stats().retries, 3u);
  // Two waits of retry-after-ms 150 (the backoff alone would be a few ms).
  EXPECT_GE(elapsed, milliseconds(300));
}

TEST(OpenAiEmbedder, GivesUpAfterItsRetriesWithTheLastProblem) {
  embeddings_double endpoint;
  endpoint.inject(embeddings_fault::server_error, 10);
  auto options = options_for(endpoint);
  options.max_retries = 2;
  auto embedder = rag::make_openai_embedder(options);
  try {
    embedder->embed(numbered_inputs(1));
    FAIL() << "expected an error";
  } catch (const rag::embedding_error& error) {
    EXPECT_EQ(error.error_kind(), rag::embedding_error::kind::unavailable);
    EXPECT_NE(std::string(error.what()).find("503"), std::string::npos) << error.what();
    EXPECT_NE(std::string(error.what()).find("3 times"), std::string::npos) << error.what();
  }
  EXPECT_EQ(endpoint.requests(), 3u);
}

TEST(OpenAiEmbedder, ARejectedKeySaysSoWithoutShowingIt) {
  embeddings_double endpoint(double_options([](auto& o) { o.api_key = "sk-right"; }));
  auto options = options_for(endpoint);
  options.api_key = "sk-wrong-secret";
  auto embedder = rag::make_openai_embedder(options);
  try {
    embedder->embed(numbered_inputs(1));
    FAIL() << "expected an error";
  } catch (const rag::embedding_error& error) {
    EXPECT_EQ(error.error_kind(), rag::embedding_error::kind::unauthorized);
    const std::string message = error.what();
    EXPECT_NE(message.find("refused the API key"), std::string::npos) << message;
    EXPECT_EQ(message.find("sk-wrong-secret"), std::string::npos) << message;
  }
  EXPECT_EQ(endpoint.requests(), 1u);  // not retried

  options.api_key = "sk-right";
  EXPECT_EQ(rag::make_openai_embedder(options)->embed(numbered_inputs(1)).size(), 1u);
}

TEST(OpenAiEmbedder, AnUnknownModelIsARejectionNamingIt) {
  embeddings_double endpoint;
  auto options = options_for(endpoint);
  options.model = "no-such-model";
  try {
    rag::make_openai_embedder(options)->embed(numbered_inputs(1));
    FAIL() << "expected an error";
  } catch (const rag::embedding_error& error) {
    EXPECT_EQ(error.error_kind(), rag::embedding_error::kind::rejected);
    EXPECT_NE(std::string(error.what()).find("no-such-model"), std::string::npos) << error.what();
  }
}

TEST(OpenAiEmbedder, A413NamesTheOneInputThatIsTooLarge) {
  embeddings_double endpoint(double_options([](auto& o) { o.max_input_chars = 200; }));
  auto embedder = rag::make_openai_embedder(options_for(endpoint));
  auto inputs = numbered_inputs(6);
  inputs[4] = std::string(500, 'x');
  try {
    embedder->embed(inputs);
    FAIL() << "expected an error";
  } catch (const rag::embedding_error& error) {
    EXPECT_EQ(error.error_kind(), rag::embedding_error::kind::input_too_large);
    ASSERT_TRUE(error.input_index().has_value());
    EXPECT_EQ(*error.input_index(), 4u);
    EXPECT_NE(std::string(error.what()).find("413"), std::string::npos) << error.what();
  }
}

TEST(OpenAiEmbedder, WrongShapesAreBadResponses) {
  for (auto fault : {embeddings_fault::wrong_dimensions, embeddings_fault::wrong_count,
                     embeddings_fault::malformed, embeddings_fault::garbled_base64}) {
    embeddings_double endpoint;
    auto options = options_for(endpoint);
    options.dimensions = 64;
    auto embedder = rag::make_openai_embedder(options);
    endpoint.inject(fault);
    try {
      embedder->embed(numbered_inputs(3));
      FAIL() << "expected an error for fault " << static_cast<int>(fault);
    } catch (const rag::embedding_error& error) {
      EXPECT_EQ(error.error_kind(), rag::embedding_error::kind::bad_response) << error.what();
    }
  }
}

TEST(OpenAiEmbedder, ADimensionChangeBetweenAnswersIsCaught) {
  embeddings_double endpoint;
  auto embedder = rag::make_openai_embedder(options_for(endpoint));  // no dimensions configured
  embedder->embed(numbered_inputs(1));
  EXPECT_EQ(embedder->dimensions(), 64u);
  endpoint.inject(embeddings_fault::wrong_dimensions);
  EXPECT_THROW(embedder->embed(numbered_inputs(1)), rag::embedding_error);
}

TEST(OpenAiEmbedder, ARequestPastItsDeadlineTimesOutAndIsRetried) {
  embeddings_double endpoint;
  endpoint.inject(embeddings_fault::hang, 1);
  auto options = options_for(endpoint);
  options.timeout = milliseconds(300);
  auto embedder = rag::make_openai_embedder(options);
  EXPECT_EQ(embedder->embed(numbered_inputs(1)).size(), 1u);
  EXPECT_EQ(endpoint.requests(), 2u);
  EXPECT_EQ(embedder->stats().retries, 1u);
}

TEST(OpenAiEmbedder, CancellingClosesTheRequestInFlight) {
  embeddings_double endpoint;
  endpoint.inject(embeddings_fault::hang, 1);
  auto options = options_for(endpoint);
  options.timeout = milliseconds(60'000);
  auto embedder = rag::make_openai_embedder(options);
  std::stop_source stop;
  std::jthread canceller([&] {
    ASSERT_TRUE(endpoint.wait_for_open_requests(1, milliseconds(10'000)));
    stop.request_stop();
  });
  const auto started = std::chrono::steady_clock::now();
  try {
    embedder->embed(numbered_inputs(1), stop.get_token());
    FAIL() << "expected cancellation";
  } catch (const rag::embedding_error& error) {
    EXPECT_EQ(error.error_kind(), rag::embedding_error::kind::cancelled);
  }
  // Closed at once, not after the request's deadline (60 s, twice the guard).
  EXPECT_LT(std::chrono::steady_clock::now() - started, bookmcp::testing::hang_guard);
  // The connection was closed: the double no longer holds the request.
  EXPECT_TRUE(endpoint.wait_for_open_requests(0, milliseconds(10'000)));
}

TEST(OpenAiEmbedder, AnEndpointThatIsNotThereIsUnavailable) {
  std::string url;
  {
    embeddings_double gone;
    url = gone.base_url();
  }
  rag::openai_embedder_options options;
  options.base_url = url;
  options.model = "double-embed-1";
  options.max_retries = 1;
  options.backoff_base = milliseconds(1);
  try {
    rag::make_openai_embedder(options)->embed(numbered_inputs(1));
    FAIL() << "expected an error";
  } catch (const rag::embedding_error& error) {
    EXPECT_EQ(error.error_kind(), rag::embedding_error::kind::unavailable);
    EXPECT_NE(std::string(error.what()).find("cannot reach"), std::string::npos) << error.what();
  }
}

TEST(OpenAiEmbedder, RefusesAnUnusableConfiguration) {
  rag::openai_embedder_options options;
  options.base_url = "ftp://example.org/v1";
  options.model = "m";
  EXPECT_ANY_THROW(rag::make_openai_embedder(options));
  options.base_url = "http://127.0.0.1:1/v1";
  options.model = "";
  EXPECT_THROW(rag::make_openai_embedder(options), std::invalid_argument);
}

// A self-signed certificate for 127.0.0.1, made with the openssl command line.
struct certificate {
  std::filesystem::path folder;
  std::string certificate_pem;
  std::string key_pem;
};

std::string read_text(const std::filesystem::path& path) {
  std::ifstream in(path);
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

certificate make_certificate() {
  certificate out;
  out.folder = std::filesystem::temp_directory_path() /
               ("bookmcp-tls-" + std::to_string(::getpid()) + "-" +
                std::to_string(std::chrono::steady_clock::now().time_since_epoch().count()));
  std::filesystem::create_directories(out.folder);
  const std::string command =
      "openssl req -x509 -newkey rsa:2048 -nodes -subj /CN=localhost "
      "-addext subjectAltName=IP:127.0.0.1,DNS:localhost -days 1 -keyout " +
      (out.folder / "key.pem").string() + " -out " + (out.folder / "cert.pem").string() +
      " >/dev/null 2>&1";
  if (std::system(command.c_str()) != 0) return out;
  out.certificate_pem = read_text(out.folder / "cert.pem");
  out.key_pem = read_text(out.folder / "key.pem");
  return out;
}

TEST(OpenAiEmbedder, HttpsVerifiesTheCertificate) {
  certificate tls = make_certificate();
  ASSERT_FALSE(tls.certificate_pem.empty()) << "openssl could not make a certificate";
  embeddings_double endpoint(double_options([&](auto& o) {
    o.tls_certificate_pem = tls.certificate_pem;
    o.tls_private_key_pem = tls.key_pem;
  }));
  ASSERT_EQ(endpoint.base_url().rfind("https://", 0), 0u);

  auto options = options_for(endpoint);
  options.max_retries = 0;
  // The system's trust store does not know this certificate: refused.
  try {
    rag::make_openai_embedder(options)->embed(numbered_inputs(1));
    FAIL() << "an untrusted certificate was accepted";
  } catch (const rag::embedding_error& error) {
    EXPECT_NE(std::string(error.what()).find("TLS"), std::string::npos) << error.what();
  }
  // Trusted explicitly: works.
  options.ca_file = (tls.folder / "cert.pem").string();
  const auto vectors = rag::make_openai_embedder(options)->embed(numbered_inputs(2));
  EXPECT_EQ(vectors.size(), 2u);
  std::filesystem::remove_all(tls.folder);
}

TEST(EmbeddingsAnswer, ReadsFloatsAndBase64InInputOrderNormalised) {
  // 2 inputs, answered out of order: the second as floats, the first as base64 of (3, 4).
  const std::string body =
      R"({"object":"list","data":[{"index":1,"embedding":[0,2]},)"
      R"({"index":0,"embedding":"AABAQAAAgEA="}],"model":"m"})";
  const auto vectors = rag::read_embeddings_answer(body, 2, 0);
  ASSERT_EQ(vectors.size(), 2u);
  EXPECT_EQ(vectors[0], (std::vector<float>{0.6f, 0.8f}));
  EXPECT_EQ(vectors[1], (std::vector<float>{0.0f, 1.0f}));
}

TEST(EmbeddingsAnswer, EveryMalformedAnswerIsABadResponseSayingWhat) {
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"[1,2", "not JSON"},
      {R"({"data":{}})", "\"data\" array"},
      {R"({"data":[{"embedding":[1,0]}]})", "1 embeddings for 2 inputs"},
      {R"({"data":[{"embedding":[1,0]},{"embedding":{}}]})", "array or base64"},
      {R"({"data":[{"index":1,"embedding":[1,0]},{"index":1,"embedding":[0,1]}]})", "two"},
      {R"({"data":[{"index":2,"embedding":[1,0]},{"embedding":[0,1]}]})", "out of range"},
      {R"({"data":[{"index":-1,"embedding":[1,0]},{"embedding":[0,1]}]})", "out of range"},
      {R"({"data":[{"embedding":[1,"x"]},{"embedding":[0,1]}]})", "not a number"},
      {R"({"data":[{"embedding":[]},{"embedding":[0,1]}]})", "empty"},
      {R"({"data":[{"embedding":[1,0,0]},{"embedding":[0,1]}]})", "dimensions"},
      {R"({"data":[{"embedding":"AABAQAAAgE"},{"embedding":[0,1]}]})", "base64"},
      // base64 of one NaN and one 1.0: finite values only.
      {R"({"data":[{"embedding":"AADAfwAAgD8="},{"embedding":[0,1]}]})", "not finite"},
  };
  for (const auto& [body, said] : cases) {
    try {
      rag::read_embeddings_answer(body, 2, 0);
      ADD_FAILURE() << "accepted " << body;
    } catch (const rag::embedding_error& error) {
      EXPECT_EQ(error.error_kind(), rag::embedding_error::kind::bad_response) << body;
      EXPECT_NE(std::string(error.what()).find(said), std::string::npos)
          << body << ": " << error.what();
    }
  }
  // A configured dimension is held to.
  EXPECT_THROW(rag::read_embeddings_answer(R"({"data":[{"embedding":[1,0]}]})", 1, 3),
               rag::embedding_error);
}

}  // namespace
