// The listener's HTTP and WebSocket session logic, over loopback on port 0 with Beast's own
// synchronous client: subprotocol negotiation, frame kinds and sizes, closing cancels, the
// Streamable HTTP session rules (session ids, versions, 202s, DELETE), Origin, limits, ops.
#include "transport/http_server.hpp"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <atomic>
#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/read.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/websocket.hpp>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <future>
#include <mutex>
#include <nlohmann/json.hpp>
#include <string>
#include <thread>
#include <vector>

#include "mcp/server.hpp"
#include "tests/testing/eventually.hpp"
#include "tests/testing/mcp_websocket_client.hpp"
#include "tests/testing/mcp_fixture.hpp"
#include "transport/auth.hpp"

namespace bookmcp::transport {
namespace {

namespace net = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
namespace websocket = beast::websocket;
using tcp = net::ip::tcp;
using json = nlohmann::json;
using namespace std::chrono_literals;

using testing::initialize_request;

class HttpServerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    mcp::server_options options;
    options.name = "transport-test";
    options.observer = metrics_;
    server_ = std::make_unique<mcp::server>(options);
    server_->add_tool(mcp_testing::echo_tool());
    mcp::tool_definition hold;
    hold.name = "hold";
    hold.description = "Waits until cancelled.";
    hold.input_schema = {{"type", "object"}};
    hold.handler = [this](mcp::tool_context& context, const json&) -> mcp::tool_result {
      started_.store(true);
      while (!context.cancelled()) std::this_thread::sleep_for(1ms);
      cancelled_.store(true);
      throw mcp::cancelled_error();
    };
    server_->add_tool(std::move(hold));
    mcp::tool_definition slow;
    slow.name = "slow";
    slow.description = "Answers after 300 ms, unless cancelled first.";
    slow.input_schema = {{"type", "object"}};
    slow.handler = [this](mcp::tool_context& context, const json&) -> mcp::tool_result {
      for (int i = 0; i < 300; ++i) {
        if (context.cancelled()) {
          cancelled_.store(true);
          throw mcp::cancelled_error();
        }
        std::this_thread::sleep_for(1ms);
      }
      return mcp::tool_result::text("done");
    };
    server_->add_tool(std::move(slow));
  }

  void start(listen_options options = {}) {
    options.host = "127.0.0.1";
    options.port = 0;
    options.max_message_bytes = 64 * 1024;
    options.metrics = metrics_;
    listener_ = std::make_unique<http_server>(*server_, options);
    listener_->start();
  }

  void TearDown() override {
    if (listener_) listener_->shutdown();
  }

  tcp::socket connect() {
    tcp::socket socket(io_);
    socket.connect({net::ip::make_address("127.0.0.1"), listener_->port()});
    return socket;
  }

  // One HTTP exchange on a fresh connection.
  http::response<http::string_body> exchange(http::request<http::string_body> request) {
    beast::tcp_stream stream(connect());
    request.set(http::field::host, "127.0.0.1");
    request.prepare_payload();
    http::write(stream, request);
    beast::flat_buffer buffer;
    http::response<http::string_body> response;
    http::read(stream, buffer, response);
    return response;
  }

  // Opens the session's GET event stream with a raw request of HTTP/1.`minor`; the socket (kept
  // open) and the response head as sent.
  std::pair<tcp::socket, std::string> open_event_stream(const std::string& session, int minor = 1) {
    tcp::socket socket = connect();
    const std::string get =
        "GET /mcp HTTP/1." + std::to_string(minor) +
        "\r\nHost: 127.0.0.1\r\nAccept: text/event-stream\r\nMcp-Session-Id: " + session +
        "\r\n\r\n";
    net::write(socket, net::buffer(get));
    std::string head;
    char byte;
    while (head.find("\r\n\r\n") == std::string::npos &&
           net::read(socket, net::buffer(&byte, 1)) == 1)
      head += byte;
    return {std::move(socket), head};
  }

  // Initializes a session, then sends a tools/call of `tool` (id `id`) on a new connection,
  // without reading the answer.
  tcp::socket post_call_on_new_connection(const std::string& tool, int id) {
    const std::string session(exchange(post(initialize_request))["Mcp-Session-Id"]);
    auto call = post({{"jsonrpc", "2.0"},
                      {"id", id},
                      {"method", "tools/call"},
                      {"params", {{"name", tool}, {"arguments", json::object()}}}},
                     session);
    call.set(http::field::host, "127.0.0.1");
    call.prepare_payload();
    tcp::socket socket = connect();
    http::write(socket, call);
    return socket;
  }

  static http::request<http::string_body> post(const json& body, const std::string& session = {}) {
    http::request<http::string_body> request{http::verb::post, "/mcp", 11};
    request.set(http::field::content_type, "application/json");
    request.set(http::field::accept, "application/json, text/event-stream");
    if (!session.empty()) request.set("Mcp-Session-Id", session);
    request.body() = body.dump();
    return request;
  }

  // A WebSocket on /mcp offering `protocols` (comma separated), handshake done.
  std::unique_ptr<testing::mcp_websocket> open_websocket(const std::string& protocols = "mcp") {
    return testing::open_websocket(connect(), protocols);
  }

  // Reads until the server closes; returns its close code.
  static websocket::close_code read_until_closed(websocket::stream<tcp::socket>& ws) {
    beast::flat_buffer buffer;
    boost::system::error_code error;
    for (int i = 0; i < 100 && !error; ++i) ws.read(buffer, error);
    EXPECT_EQ(error, websocket::error::closed);
    return static_cast<websocket::close_code>(ws.reason().code);
  }

  net::io_context io_;
  std::shared_ptr<transport::metrics> metrics_ = std::make_shared<transport::metrics>(false);
  std::unique_ptr<mcp::server> server_;
  std::unique_ptr<http_server> listener_;
  std::atomic<bool> started_{false};
  std::atomic<bool> cancelled_{false};
};

TEST_F(HttpServerTest, WebSocketCallsAToolWithTheMcpSubprotocol) {
  start();
  auto ws = open_websocket("chat, mcp");
  testing::websocket_initialize(*ws);
  const json answer = testing::websocket_call(
      *ws, {{"jsonrpc", "2.0"}, {"id", 2}, {"method", "tools/call"},
            {"params", {{"name", "echo"}, {"arguments", {{"text", "hello"}}}}}});
  EXPECT_EQ(answer["id"], 2);
  EXPECT_EQ(answer["result"]["content"][0]["text"], "hello");
  ws->close(websocket::close_code::normal);
}

TEST_F(HttpServerTest, WebSocketOfferingOnlyOtherSubprotocolsIsRefused) {
  start();
  websocket::stream<tcp::socket> ws(connect());
  ws.set_option(websocket::stream_base::decorator(
      [](websocket::request_type& request) { request.set(http::field::sec_websocket_protocol, "chat"); }));
  websocket::response_type response;
  boost::system::error_code error;
  ws.handshake(response, "127.0.0.1", "/mcp", error);
  EXPECT_TRUE(error);
  EXPECT_GE(response.result_int(), 400);
}

TEST_F(HttpServerTest, WebSocketBinaryFrameClosesWithUnknownData) {
  start();
  auto ws = open_websocket();
  ws->binary(true);
  ws->write(net::buffer(std::string("{}")));
  EXPECT_EQ(read_until_closed(*ws), websocket::close_code::unknown_data);
}

// curl sends "Expect: 100-continue" with bodies over 1 KiB and waits (1 s) for "100 Continue"
// before sending them; the server says it at once. A body over the limit is refused before it
// is sent.
TEST_F(HttpServerTest, Expect100ContinueGetsContinueBeforeTheBodyIsSent) {
  start();
  const std::string body = initialize_request.dump();
  // A POST head announcing `length` bytes of body, with "Expect: 100-continue", on a new
  // connection; nothing of the body is sent.
  const auto send_head = [&](std::size_t length, const std::string& extra_fields) {
    tcp::socket socket = connect();
    const std::string head =
        "POST /mcp HTTP/1.1\r\nHost: 127.0.0.1\r\n" + extra_fields +
        "Content-Type: application/json\r\nAccept: application/json, text/event-stream\r\n"
        "Expect: 100-continue\r\nContent-Length: " +
        std::to_string(length) + "\r\n\r\n";
    net::write(socket, net::buffer(head));
    return socket;
  };
  const auto final_status = [](tcp::socket& socket) {
    beast::flat_buffer buffer;
    http::response<http::string_body> response;
    http::read(socket, buffer, response);
    return response.result();
  };
  tcp::socket socket = send_head(body.size(), "");
  // A server that waits for the body would never answer: give up after the hang guard.
  const timeval limit{testing::hang_guard.count(), 0};
  ::setsockopt(socket.native_handle(), SOL_SOCKET, SO_RCVTIMEO, &limit, sizeof limit);
  const auto read_head = [&] {
    std::string text;
    char byte;
    while (text.find("\r\n\r\n") == std::string::npos &&
           ::recv(socket.native_handle(), &byte, 1, 0) == 1)  // honours SO_RCVTIMEO
      text += byte;
    return text;
  };
  // Nothing of the body was sent: an answer now can only be the interim one.
  EXPECT_EQ(read_head().rfind("HTTP/1.1 100 Continue\r\n", 0), 0u);
  net::write(socket, net::buffer(body));
  beast::flat_buffer buffer;
  http::response<http::string_body> response;
  http::read(socket, buffer, response);
  EXPECT_EQ(response.result(), http::status::ok);
  EXPECT_TRUE(json::parse(response.body()).contains("result")) << response.body();

  // Over the 64 KiB limit: 413 without asking for the body.
  tcp::socket second = send_head(1000000, "");
  EXPECT_EQ(final_status(second), http::status::payload_too_large);

  // A request that will be refused (here its origin) is refused before its body is sent.
  tcp::socket third = send_head(body.size(), "Origin: https://evil.example\r\n");
  EXPECT_EQ(final_status(third), http::status::forbidden);
}

TEST_F(HttpServerTest, WebSocketOversizedMessageClosesWithTooBig) {
  start();
  auto ws = open_websocket();
  ws->text(true);
  // The server may close before the client finished writing: the answer is still the close.
  boost::system::error_code ignored;
  ws->write(net::buffer(std::string(64 * 1024 + 1, ' ')), ignored);
  EXPECT_EQ(read_until_closed(*ws), websocket::close_code::too_big);
}

TEST_F(HttpServerTest, WebSocketMalformedJsonGetsAParseErrorAndTheConnectionStays) {
  start();
  auto ws = open_websocket();
  ws->text(true);
  ws->write(net::buffer(std::string("{not json")));
  beast::flat_buffer buffer;
  ws->read(buffer);
  const json error = json::parse(beast::buffers_to_string(buffer.data()));
  EXPECT_EQ(error["error"]["code"], -32700);
  EXPECT_TRUE(error["id"].is_null());
  testing::websocket_initialize(*ws);  // still serving
}

TEST_F(HttpServerTest, ClosingTheWebSocketCancelsItsCalls) {
  start();
  auto ws = open_websocket();
  testing::websocket_initialize(*ws);
  ws->write(net::buffer(json{{"jsonrpc", "2.0"}, {"id", 7}, {"method", "tools/call"},
                             {"params", {{"name", "hold"}, {"arguments", json::object()}}}}
                            .dump()));
  ASSERT_TRUE(testing::eventually([&] { return started_.load(); }));
  ws->next_layer().close();  // abrupt: no close frame
  EXPECT_TRUE(testing::eventually([&] { return cancelled_.load(); }));
}

// A client that half-closes its connection after the request (shutdown of its sending side,
// as some HTTP/1.0-style clients and `nc -N` do) still reads: its call runs on and is answered,
// as an event stream. It used to be taken for a client that left, and cancelled.
TEST_F(HttpServerTest, APostHalfClosedByItsClientIsStillAnswered) {
  start();
  tcp::socket socket = post_call_on_new_connection("slow", 5);
  socket.shutdown(tcp::socket::shutdown_send);
  std::string received;
  boost::system::error_code error;
  char buffer[4096];
  for (std::size_t got; (got = socket.read_some(net::buffer(buffer), error)) > 0 || !error;)
    received.append(buffer, got);
  EXPECT_EQ(received.rfind("HTTP/1.1 200 OK\r\n", 0), 0u) << received;
  EXPECT_NE(received.find("text/event-stream"), std::string::npos) << received;
  EXPECT_NE(received.find(R"("id":5)"), std::string::npos) << received;
  EXPECT_NE(received.find("done"), std::string::npos) << received;
  EXPECT_FALSE(cancelled_);
}

// A client that closes its connection while its call runs is gone: the call is cancelled.
TEST_F(HttpServerTest, APostWhoseClientClosedTheConnectionIsCancelled) {
  start();
  {
    tcp::socket socket = post_call_on_new_connection("hold", 6);
    ASSERT_TRUE(testing::eventually([&] { return started_.load(); }));
  }  // closed
  // Noticed by the read that ends, not by the idle sweep (300 s, ten times the guard).
  EXPECT_TRUE(testing::eventually([&] { return cancelled_.load(); }));
}

TEST_F(HttpServerTest, StreamableHttpSessionLifecycle) {
  start();
  auto initialized = exchange(post(initialize_request));
  ASSERT_EQ(initialized.result(), http::status::ok);
  const std::string session(initialized["Mcp-Session-Id"]);
  ASSERT_FALSE(session.empty());
  EXPECT_EQ(json::parse(initialized.body())["result"]["protocolVersion"], "2025-11-25");

  EXPECT_EQ(exchange(post({{"jsonrpc", "2.0"}, {"method", "notifications/initialized"}}, session)).result(),
            http::status::accepted);
  auto answer = exchange(post({{"jsonrpc", "2.0"}, {"id", 2}, {"method", "tools/call"},
                               {"params", {{"name", "echo"}, {"arguments", {{"text", "hi"}}}}}},
                              session));
  ASSERT_EQ(answer.result(), http::status::ok);
  EXPECT_EQ(json::parse(answer.body())["result"]["content"][0]["text"], "hi");

  // Missing session: 400; unknown session: 404; unsupported protocol version: 400.
  EXPECT_EQ(exchange(post({{"jsonrpc", "2.0"}, {"id", 3}, {"method", "ping"}})).result(), http::status::bad_request);
  EXPECT_EQ(exchange(post({{"jsonrpc", "2.0"}, {"id", 3}, {"method", "ping"}}, "no-such-session")).result(),
            http::status::not_found);
  auto versioned = post({{"jsonrpc", "2.0"}, {"id", 3}, {"method", "ping"}}, session);
  versioned.set("MCP-Protocol-Version", "1999-01-01");
  EXPECT_EQ(exchange(versioned).result(), http::status::bad_request);

  http::request<http::string_body> end{http::verb::delete_, "/mcp", 11};
  end.set("Mcp-Session-Id", session);
  EXPECT_EQ(exchange(end).result(), http::status::ok);
  EXPECT_EQ(exchange(post({{"jsonrpc", "2.0"}, {"id", 4}, {"method", "ping"}}, session)).result(),
            http::status::not_found);
}

// CORS: a page of an allowed origin may call /mcp from a browser: its preflight is answered
// without credentials, and every answer (a refusal for its token included) names the origin
// and exposes the session id. Other origins get 403 and nothing to read.
TEST_F(HttpServerTest, BrowsersOfAnAllowedOriginPassCorsAndOthersDoNot) {
  listen_options options;
  options.allowed_origins = {"https://book.example"};
  const auto keys =
      std::filesystem::temp_directory_path() / ("bookmcp-cors-keys-" + std::to_string(::getpid()));
  std::ofstream(keys) << "reader key-of-the-reader-0123456789\n";
  options.auth = load_api_keys(keys.string());
  std::filesystem::remove(keys);
  start(options);
  const auto preflight = [&](const std::string& origin) {
    http::request<http::string_body> request{http::verb::options, "/mcp", 11};
    request.set(http::field::origin, origin);
    request.set(http::field::access_control_request_method, "POST");
    request.set(http::field::access_control_request_headers,
                "authorization,content-type,mcp-session-id,mcp-protocol-version");
    return exchange(request);
  };
  const auto allowed = preflight("https://book.example");
  EXPECT_EQ(allowed.result(), http::status::no_content);
  EXPECT_EQ(allowed[http::field::access_control_allow_origin], "https://book.example");
  EXPECT_NE(std::string(allowed[http::field::access_control_allow_methods]).find("POST"),
            std::string::npos);
  const std::string headers(allowed[http::field::access_control_allow_headers]);
  for (const char* name :
       {"Authorization", "Content-Type", "Mcp-Session-Id", "MCP-Protocol-Version"})
    EXPECT_NE(headers.find(name), std::string::npos) << name << " in " << headers;
  EXPECT_EQ(allowed[http::field::vary], "Origin");

  const auto refused = preflight("https://evil.example");
  EXPECT_EQ(refused.result(), http::status::forbidden);
  EXPECT_EQ(refused.find(http::field::access_control_allow_origin), refused.end());

  // Without a token: 401, readable by the page (the challenge is exposed).
  auto request = post(initialize_request);
  request.set(http::field::origin, "https://book.example");
  const auto unauthorized = exchange(request);
  EXPECT_EQ(unauthorized.result(), http::status::unauthorized);
  EXPECT_EQ(unauthorized[http::field::access_control_allow_origin], "https://book.example");
  EXPECT_NE(std::string(unauthorized[http::field::access_control_expose_headers])
                .find("WWW-Authenticate"),
            std::string::npos);

  // With one: the answer and its session id are the page's to read.
  request.set(http::field::authorization, "Bearer key-of-the-reader-0123456789");
  const auto answered = exchange(request);
  EXPECT_EQ(answered.result(), http::status::ok) << answered.body();
  EXPECT_EQ(answered[http::field::access_control_allow_origin], "https://book.example");
  EXPECT_NE(
      std::string(answered[http::field::access_control_expose_headers]).find("Mcp-Session-Id"),
      std::string::npos);
  EXPECT_FALSE(std::string(answered["Mcp-Session-Id"]).empty());

  // A request of another origin is refused, with nothing for it to read.
  request.set(http::field::origin, "https://evil.example");
  const auto other = exchange(request);
  EXPECT_EQ(other.result(), http::status::forbidden);
  EXPECT_EQ(other.find(http::field::access_control_allow_origin), other.end());
}

// Without --allowed-origin, loopback origins may use /mcp (local tools send one), but browsers
// get no CORS: a page of any local dev server must not drive the server from the user's browser.
TEST_F(HttpServerTest, TheDefaultOriginsGetNoCors) {
  start();
  http::request<http::string_body> preflight{http::verb::options, "/mcp", 11};
  preflight.set(http::field::origin, "http://localhost:3000");
  preflight.set(http::field::access_control_request_method, "POST");
  const auto refused = exchange(preflight);
  EXPECT_EQ(refused.result(), http::status::forbidden);
  EXPECT_NE(refused.body().find("--allowed-origin"), std::string::npos) << refused.body();
  EXPECT_EQ(refused.find(http::field::access_control_allow_origin), refused.end());
  auto request = post(initialize_request);
  request.set(http::field::origin, "http://localhost:3000");
  const auto answered = exchange(request);
  EXPECT_EQ(answered.result(), http::status::ok);
  EXPECT_EQ(answered.find(http::field::access_control_allow_origin), answered.end());
}

// Listening on port 0 used to advertise "http://127.0.0.1:0/..." in the OAuth metadata.
TEST_F(HttpServerTest, OAuthMetadataNamesTheBoundPortWhenListeningOnPortZero) {
  listen_options options;
  options.auth = make_jwt_authenticator({.key = "a-test-secret-of-32-bytes-length",
                                         .algorithm = "HS256",
                                         .issuer = "https://issuer.example",
                                         .audience = {},
                                         .leeway = std::chrono::seconds(30)});
  options.authorization_server = "https://issuer.example";
  start(options);
  const std::string base = "http://127.0.0.1:" + std::to_string(listener_->port());
  auto refused = exchange(post(initialize_request));
  EXPECT_EQ(refused.result(), http::status::unauthorized);
  EXPECT_NE(std::string(refused[http::field::www_authenticate])
                .find("resource_metadata=\"" + base + "/.well-known/oauth-protected-resource\""),
            std::string::npos)
      << refused[http::field::www_authenticate];
  http::request<http::string_body> metadata{http::verb::get,
                                            "/.well-known/oauth-protected-resource", 11};
  EXPECT_EQ(json::parse(exchange(metadata).body())["resource"], base + "/mcp");
}

// Answers are written straight into the socket when it takes them whole, and the rest
// asynchronously when it does not: 300 pipelined calls of 50 KB each, none read until all are
// sent, fill the socket buffers; every answer must still arrive whole and in order.
TEST_F(HttpServerTest, AnswersLargerThanTheSocketTakesArriveWholeAndInOrder) {
  start();
  const std::string session(exchange(post(initialize_request))["Mcp-Session-Id"]);
  beast::tcp_stream stream(connect());
  constexpr int calls = 300;
  std::thread writer([&] {
    for (int i = 0; i < calls; ++i) {
      auto request =
          post({{"jsonrpc", "2.0"},
                {"id", 100 + i},
                {"method", "tools/call"},
                {"params",
                 {{"name", "echo"},
                  {"arguments", {{"text", std::string(50000, static_cast<char>('a' + i % 26))}}}}}},
               session);
      request.set(http::field::host, "127.0.0.1");
      request.prepare_payload();
      boost::system::error_code error;
      http::write(stream, request, error);
      if (error) return;
    }
  });
  std::this_thread::sleep_for(300ms);  // let the buffers fill before reading
  beast::flat_buffer buffer;
  for (int i = 0; i < calls; ++i) {
    http::response<http::string_body> response;
    boost::system::error_code error;
    http::read(stream, buffer, response, error);
    ASSERT_FALSE(error) << "answer " << i << ": " << error.message();
    ASSERT_EQ(response.result(), http::status::ok);
    const json answer = json::parse(response.body());
    ASSERT_EQ(answer["id"], 100 + i);
    ASSERT_EQ(answer["result"]["content"][0]["text"],
              std::string(50000, static_cast<char>('a' + i % 26)));
  }
  writer.join();
}

// An idle keep-alive connection is closed after idle_timeout (its read expires); one that keeps
// sending requests is not. The test waits for the idle connection's close itself (not a fixed
// time), and the busy connection sends back to back: only a stall of the whole process longer
// than idle_timeout, which the server would be right to act on, could close it.
TEST_F(HttpServerTest, IdleKeepAliveConnectionsAreClosedAfterTheIdleTimeout) {
  listen_options options;
  options.idle_timeout = std::chrono::seconds(3);
  start(options);
  auto healthz = [](beast::tcp_stream& stream) {
    http::request<http::string_body> request{http::verb::get, "/healthz", 11};
    request.set(http::field::host, "127.0.0.1");
    boost::system::error_code error;
    http::write(stream, request, error);
    if (error) return false;
    beast::flat_buffer buffer;
    http::response<http::string_body> response;
    http::read(stream, buffer, response, error);
    return !error && response.result() == http::status::ok;
  };
  beast::tcp_stream busy(connect());
  beast::tcp_stream idle(connect());
  ASSERT_TRUE(healthz(busy));
  ASSERT_TRUE(healthz(idle));
  // The idle connection sends nothing more: a read on it ends when the server closes it.
  std::atomic<bool> idle_closed{false};
  std::thread watcher([&] {
    char byte;
    boost::system::error_code error;
    idle.socket().read_some(net::buffer(&byte, 1), error);
    idle_closed = true;
  });
  const bool closed = testing::eventually([&] {
    if (!healthz(busy)) {
      ADD_FAILURE() << "a connection in use was closed";
      return true;
    }
    std::this_thread::sleep_for(10ms);
    return idle_closed.load();
  });
  if (!idle_closed) {  // ends the watcher's read
    boost::system::error_code ignored;
    idle.socket().shutdown(tcp::socket::shutdown_both, ignored);
  }
  watcher.join();
  EXPECT_TRUE(closed) << "the idle connection is still open";
  EXPECT_TRUE(healthz(busy)) << "a connection in use was closed";
  EXPECT_FALSE(healthz(idle)) << "the idle connection is still open";
}

// What the server sends on `socket` until it closes the connection.
std::string read_to_end(tcp::socket& socket) {
  std::string answer;
  boost::system::error_code error;
  char chunk[4096];
  for (;;) {
    const std::size_t got = socket.read_some(net::buffer(chunk), error);
    if (error) break;
    answer.append(chunk, got);
  }
  return answer;
}

// Malformed HTTP used to get the connection closed without a status line.
TEST_F(HttpServerTest, MalformedHttpGetsAStatusBeforeTheConnectionCloses) {
  start();
  auto raw = [&](const std::string& bytes) {
    tcp::socket socket = connect();
    net::write(socket, net::buffer(bytes));
    return read_to_end(socket);
  };
  EXPECT_TRUE(raw("GARBAGE\r\n\r\n").starts_with("HTTP/1.1 400 ")) << raw("GARBAGE\r\n\r\n");
  // An HTTP/1.0 request gets an HTTP/1.0 answer, whole, and the connection closes after it.
  const std::string old_client = raw("GET /healthz HTTP/1.0\r\n\r\n");
  EXPECT_TRUE(old_client.starts_with("HTTP/1.0 200 OK\r\n")) << old_client;
  EXPECT_NE(old_client.find("\r\n\r\n"), std::string::npos) << old_client;
  const std::string both_lengths =
      "POST /mcp HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 2\r\nContent-Length: 3\r\n\r\n{}";
  EXPECT_TRUE(raw(both_lengths).starts_with("HTTP/1.1 400 "));
  const std::string huge_header =
      "GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Big: " + std::string(32 * 1024, 'x') +
      "\r\n\r\n";
  EXPECT_TRUE(raw(huge_header).starts_with("HTTP/1.1 431 ")) << raw(huge_header).substr(0, 80);
}

// A HEAD answer used to carry the GET answer's body, which a client reads as the start of the
// next response (found by listener_fuzz): now its header fields only, Content-Length included.
TEST_F(HttpServerTest, AHeadRequestIsAnsweredWithoutABody) {
  start();
  tcp::socket socket = connect();
  net::write(socket, net::buffer(std::string("HEAD /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"
                                             "GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n")));
  const std::string answer = read_to_end(socket);
  ASSERT_TRUE(answer.starts_with("HTTP/1.1 200 OK\r\n")) << answer;
  const auto head_end = answer.find("\r\n\r\n");
  ASSERT_NE(head_end, std::string::npos) << answer;
  const std::string head = answer.substr(0, head_end);
  EXPECT_NE(head.find("Content-Length: "), std::string::npos) << head;
  EXPECT_EQ(head.find("Content-Length: 0\r\n"), std::string::npos) << head;  // the GET's length
  // Right after the HEAD answer's blank line: the GET answer, whole, with its body.
  const std::string rest = answer.substr(head_end + 4);
  EXPECT_TRUE(rest.starts_with("HTTP/1.1 200 OK\r\n")) << answer;
  const auto get_end = rest.find("\r\n\r\n");
  ASSERT_NE(get_end, std::string::npos) << rest;
  EXPECT_FALSE(rest.substr(get_end + 4).empty()) << rest;

  // So is a HEAD refused before its body is sent (Expect: 100-continue, a foreign Origin).
  tcp::socket refused = connect();
  net::write(refused, net::buffer(std::string("HEAD /mcp HTTP/1.1\r\nHost: 127.0.0.1\r\nOrigin: https://evil.example\r\n"
                                              "Expect: 100-continue\r\nContent-Length: 2\r\n\r\n")));
  const std::string refusal = read_to_end(refused);
  ASSERT_TRUE(refusal.starts_with("HTTP/1.1 403 ")) << refusal;
  const auto refusal_end = refusal.find("\r\n\r\n");
  ASSERT_NE(refusal_end, std::string::npos) << refusal;
  EXPECT_EQ(refusal.size(), refusal_end + 4) << refusal;

  // And a HEAD whose body is refused as it is read: malformed chunks (found by listener_fuzz).
  for (const std::string body_head : {"Transfer-Encoding: chunked\r\n\r\nb5\rx"}) {
    tcp::socket bad_body = connect();
    net::write(bad_body, net::buffer("HEAD /mcp HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n" +
                                     body_head));
    const std::string answer_to_bad_body = read_to_end(bad_body);
    ASSERT_TRUE(answer_to_bad_body.starts_with("HTTP/1.1 400 ") || answer_to_bad_body.starts_with("HTTP/1.1 413 "))
        << answer_to_bad_body;
    const auto bad_body_end = answer_to_bad_body.find("\r\n\r\n");
    ASSERT_NE(bad_body_end, std::string::npos) << answer_to_bad_body;
    EXPECT_EQ(answer_to_bad_body.size(), bad_body_end + 4) << answer_to_bad_body;
  }
}

// Sessions used to be unbounded; at the cap, a new one ends the least recently used idle one.
TEST_F(HttpServerTest, AtTheSessionCapTheLeastRecentlyUsedIdleSessionEnds) {
  listen_options options;
  options.max_http_sessions = 2;
  start(options);
  auto open = [&] { return std::string(exchange(post(initialize_request))["Mcp-Session-Id"]); };
  auto ping = [&](const std::string& session) {
    return exchange(post({{"jsonrpc", "2.0"}, {"id", 9}, {"method", "ping"}}, session)).result();
  };
  const std::string first = open();
  std::this_thread::sleep_for(5ms);
  const std::string second = open();
  std::this_thread::sleep_for(5ms);
  EXPECT_EQ(ping(first), http::status::ok);  // now the second is the least recently used
  std::this_thread::sleep_for(5ms);
  const std::string third = open();
  ASSERT_FALSE(third.empty());
  EXPECT_EQ(ping(second), http::status::not_found);
  EXPECT_EQ(ping(first), http::status::ok);
  EXPECT_EQ(ping(third), http::status::ok);
}

TEST_F(HttpServerTest, StreamableHttpRefusesBadBodiesClearly) {
  start();
  auto garbage = post(json::object());
  garbage.body() = "{not json";
  auto parsed = exchange(garbage);
  EXPECT_EQ(parsed.result(), http::status::bad_request);
  EXPECT_EQ(json::parse(parsed.body())["error"]["code"], -32700);

  auto wrong_type = post(initialize_request);
  wrong_type.set(http::field::content_type, "text/plain");
  EXPECT_EQ(exchange(wrong_type).result(), http::status::unsupported_media_type);
  // Media types compare exactly, case aside; JSON is UTF-8 (prefixes used to pass, case not).
  for (const auto& [type, status] :
       {std::pair{"application/jsonx", http::status::unsupported_media_type},
        std::pair{"application/json-seq", http::status::unsupported_media_type},
        std::pair{"application/json; charset=latin1", http::status::unsupported_media_type},
        std::pair{"APPLICATION/JSON", http::status::ok},
        std::pair{"application/json; charset=\"UTF-8\"", http::status::ok}}) {
    auto typed = post(initialize_request);
    typed.set(http::field::content_type, type);
    EXPECT_EQ(exchange(typed).result(), status) << type;
  }
  auto accepting = post(initialize_request);
  accepting.set(http::field::accept, "application/jsonx, text/event-streamy");
  EXPECT_EQ(exchange(accepting).result(), http::status::not_acceptable);
  accepting.set(http::field::accept, "Application/JSON;q=0.9 , TEXT/EVENT-STREAM");
  EXPECT_EQ(exchange(accepting).result(), http::status::ok);

  // Deeper than the nesting limit: refused before parsing (it used to crash the server).
  auto deep = post(json::object());
  deep.body() = std::string(20000, '[') + std::string(20000, ']');
  auto too_deep = exchange(deep);
  EXPECT_EQ(too_deep.result(), http::status::bad_request);
  EXPECT_EQ(json::parse(too_deep.body())["error"]["code"], -32600);

  // What is not a JSON-RPC message gets 400 and the error, not 202 and silence.
  auto initialized = exchange(post(initialize_request));
  const std::string session(initialized["Mcp-Session-Id"]);
  for (const char* text : {"42", "null", "[]", R"({"jsonrpc":"1.0","method":"ping"})",
                           R"({"jsonrpc":"2.0","id":null,"method":"ping"})",
                           R"({"jsonrpc":"2.0","id":1.5,"method":"ping"})",
                           R"({"jsonrpc":"2.0","method":"ping","params":"s"})"}) {
    SCOPED_TRACE(text);
    auto bad = post(json::object(), session);
    bad.body() = text;
    auto answer = exchange(bad);
    EXPECT_EQ(answer.result(), http::status::bad_request);
    EXPECT_EQ(json::parse(answer.body())["error"]["code"], -32600) << answer.body();
  }
  // A cancellation whose params are not an object used to drop the connection unanswered:
  // scalar params are an invalid message (400), an array is accepted and ignored (202).
  for (const auto& [params, status] :
       {std::pair{"5", http::status::bad_request}, std::pair{"null", http::status::bad_request},
        std::pair{"[1]", http::status::accepted}}) {
    auto cancel = post(json::object(), session);
    cancel.body() =
        std::string(R"({"jsonrpc":"2.0","method":"notifications/cancelled","params":)") + params +
        "}";
    EXPECT_EQ(exchange(cancel).result(), status) << params;
  }

  auto huge = post(initialize_request);
  huge.body() = std::string(128 * 1024, ' ');
  auto refused = exchange(huge);
  EXPECT_EQ(refused.result(), http::status::payload_too_large);
  EXPECT_NE(refused.body().find("limit"), std::string::npos);
}

TEST_F(HttpServerTest, ForeignOriginsAreForbiddenAndLoopbackOnesPass) {
  start();
  auto foreign = post(initialize_request);
  foreign.set(http::field::origin, "https://evil.example");
  EXPECT_EQ(exchange(foreign).result(), http::status::forbidden);
  auto local = post(initialize_request);
  local.set(http::field::origin, "http://localhost:3000");
  EXPECT_EQ(exchange(local).result(), http::status::ok);
}

TEST_F(HttpServerTest, OpsEndpointsAnswer) {
  listen_options options;
  options.readiness.push_back({"database", [] { return std::string("connection refused"); }});
  start(options);
  EXPECT_EQ(exchange({http::verb::get, "/healthz", 11}).result(), http::status::ok);
  auto ready = exchange({http::verb::get, "/readyz", 11});
  EXPECT_EQ(ready.result(), http::status::service_unavailable);
  EXPECT_NE(ready.body().find("connection refused"), std::string::npos);
  exchange(post(initialize_request));
  auto metrics = exchange({http::verb::get, "/metrics", 11});
  EXPECT_EQ(metrics.result(), http::status::ok);
  EXPECT_NE(metrics.body().find("initialize"), std::string::npos);
  EXPECT_EQ(exchange({http::verb::get, "/nothing-here", 11}).result(), http::status::not_found);
}

// Methods the server lacks are counted as "unknown": each made-up name used to become a
// metrics series of its own, for ever (any client could grow /metrics without bound).
TEST_F(HttpServerTest, MetricsCountMethodsTheServerLacksUnderOneLabel) {
  start();
  const std::string session(exchange(post(initialize_request))["Mcp-Session-Id"]);
  for (int i = 0; i < 3; ++i) {
    auto answer = exchange(
        post({{"jsonrpc", "2.0"}, {"id", 10 + i}, {"method", "x/made-up-" + std::to_string(i)}},
             session));
    EXPECT_NE(answer.body().find("-32601"), std::string::npos) << answer.body();
  }
  const std::string metrics = exchange({http::verb::get, "/metrics", 11}).body();
  EXPECT_EQ(metrics.find("made-up"), std::string::npos) << metrics;
  EXPECT_NE(metrics.find(R"(bookmcp_requests_total{method="unknown",outcome="error"} 3)"),
            std::string::npos)
      << metrics;
}

// A batch costs one token per request in it (it used to cost one, or on WebSocket nothing once
// the identity was over its limit: batches of thousands of calls went through unthrottled).
TEST_F(HttpServerTest, BatchesPayTheRateLimitPerRequest) {
  listen_options options;
  options.rate_limit = 1;
  options.rate_burst = 6;
  start(options);
  json initialize = initialize_request;
  initialize["params"]["protocolVersion"] = "2025-03-26";  // the version with batches
  const auto pings = [](int first, int count) {
    json batch = json::array();
    for (int i = 0; i < count; ++i)
      batch.push_back({{"jsonrpc", "2.0"}, {"id", first + i}, {"method", "ping"}});
    return batch;
  };
  {
    auto created = exchange(post(initialize));  // 1 token: 5 left
    const std::string session(created["Mcp-Session-Id"]);
    auto answered = exchange(post(pings(10, 4), session));  // 4 tokens: 1 left
    EXPECT_EQ(answered.result(), http::status::ok);
    EXPECT_EQ(json::parse(answered.body()).size(), 4u);
    auto refused = exchange(post(pings(20, 3), session));
    EXPECT_EQ(refused.result(), http::status::too_many_requests) << refused.body();
    auto too_big = exchange(post(pings(30, 7), session));  // more than the burst: never
    EXPECT_EQ(too_big.result(), http::status::too_many_requests);
    EXPECT_NE(too_big.body().find("send smaller batches"), std::string::npos) << too_big.body();
    // The last token, then a refusal that names the request it refuses (it said id null).
    EXPECT_EQ(
        exchange(post({{"jsonrpc", "2.0"}, {"id", 98}, {"method", "ping"}}, session)).result(),
        http::status::ok);
    auto limited = exchange(post({{"jsonrpc", "2.0"}, {"id", 99}, {"method", "ping"}}, session));
    ASSERT_EQ(limited.result(), http::status::too_many_requests);
    EXPECT_EQ(json::parse(limited.body())["id"], 99) << limited.body();
  }
  // WebSocket: without auth every client is "anonymous", whose bucket is nearly empty now. A
  // batch is refused whole, each of its requests answered with the error.
  auto ws = open_websocket();
  ws->text(true);
  ws->write(net::buffer(initialize.dump()));
  beast::flat_buffer buffer;
  ws->read(buffer);
  buffer.consume(buffer.size());
  ws->write(net::buffer(pings(40, 5).dump()));
  ws->read(buffer);
  const json answer = json::parse(beast::buffers_to_string(buffer.data()));
  ASSERT_TRUE(answer.is_array()) << answer.dump();
  ASSERT_EQ(answer.size(), 5u);
  for (const auto& member : answer) {
    EXPECT_EQ(member["error"]["code"], -32000) << member.dump();
  }
}

// Streamable HTTP batches (protocol 2025-03-26): a batch whose last answer has no id (an
// invalid member) used to get no HTTP answer at all; cancelling one member used to end the
// POST with 202 and lose the other members' answers.
TEST_F(HttpServerTest, HttpBatchesAreAnsweredWholeWhateverCompletesThem) {
  start();
  json initialize = initialize_request;
  initialize["params"]["protocolVersion"] = "2025-03-26";
  const std::string session(exchange(post(initialize))["Mcp-Session-Id"]);
  exchange(post({{"jsonrpc", "2.0"}, {"method", "notifications/initialized"}}, session));

  auto mixed = exchange(
      post(json::array({{{"jsonrpc", "2.0"}, {"id", 1}, {"method", "ping"}}, 1}), session));
  ASSERT_EQ(mixed.result(), http::status::ok);
  const json answers = json::parse(mixed.body());
  ASSERT_EQ(answers.size(), 2u) << answers.dump();

  // Without any request, the invalid members are still answered, in an array (JSON-RPC 2.0
  // section 6); they got 202 and their errors were dropped.
  auto invalid_only = exchange(
      post(json::array({1, {{"jsonrpc", "2.0"}, {"method", "notifications/x"}}, "x"}), session));
  ASSERT_EQ(invalid_only.result(), http::status::ok) << invalid_only.body();
  const json errors = json::parse(invalid_only.body());
  ASSERT_EQ(errors.size(), 2u) << errors.dump();
  EXPECT_EQ(errors[0]["error"]["code"], -32600);

  http::response<http::string_body> batch_answer;
  std::thread batch([&] {
    batch_answer = exchange(
        post(json::array({{{"jsonrpc", "2.0"},
                           {"id", 7},
                           {"method", "tools/call"},
                           {"params", {{"name", "hold"}, {"arguments", json::object()}}}},
                          {{"jsonrpc", "2.0"},
                           {"id", 8},
                           {"method", "tools/call"},
                           {"params", {{"name", "echo"}, {"arguments", {{"text", "kept"}}}}}}}),
             session));
  });
  ASSERT_TRUE(testing::eventually([&] { return started_.load(); }));
  std::this_thread::sleep_for(50ms);  // echo has answered by now; the batch waits for hold
  auto cancelled = exchange(post(
      {{"jsonrpc", "2.0"}, {"method", "notifications/cancelled"}, {"params", {{"requestId", 7}}}},
      session));
  EXPECT_EQ(cancelled.result(), http::status::accepted);
  batch.join();
  ASSERT_EQ(batch_answer.result(), http::status::ok) << batch_answer.body();
  const json kept = json::parse(batch_answer.body());
  ASSERT_TRUE(kept.is_array()) << kept.dump();
  ASSERT_EQ(kept.size(), 1u) << kept.dump();
  EXPECT_EQ(kept[0]["id"], 8);
  EXPECT_EQ(kept[0]["result"]["content"][0]["text"], "kept");
}

// A failed initialize made a session anyway (with an Mcp-Session-Id that could never be
// initialized, holding a slot for 30 minutes); now it makes none.
TEST_F(HttpServerTest, AFailedInitializeMakesNoSession) {
  start();
  json broken = initialize_request;
  broken["params"].erase("protocolVersion");
  auto refused = exchange(post(broken));
  EXPECT_EQ(refused.result(), http::status::ok);
  EXPECT_NE(refused.body().find("\"error\""), std::string::npos) << refused.body();
  EXPECT_EQ(refused.find("Mcp-Session-Id"), refused.end());
  const std::string metrics = exchange({http::verb::get, "/metrics", 11}).body();
  EXPECT_NE(metrics.find(R"(bookmcp_active_sessions{transport="http"} 0)"), std::string::npos)
      << metrics;
  auto created = exchange(post(initialize_request));
  EXPECT_NE(created.find("Mcp-Session-Id"), created.end());
}

// A POST still waiting for its answer when the session is deleted gets 404, as any request of
// an ended session does (it got 202 "no answer due", and SDK clients then waited for ever).
TEST_F(HttpServerTest, APostWaitingWhenItsSessionEndsGets404) {
  start();
  const std::string session(exchange(post(initialize_request))["Mcp-Session-Id"]);
  http::response<http::string_body> waiting;
  std::thread call([&] {
    waiting = exchange(post({{"jsonrpc", "2.0"},
                             {"id", 9},
                             {"method", "tools/call"},
                             {"params", {{"name", "hold"}, {"arguments", json::object()}}}},
                            session));
  });
  ASSERT_TRUE(testing::eventually([&] { return started_.load(); }));
  http::request<http::string_body> end{http::verb::delete_, "/mcp", 11};
  end.set("Mcp-Session-Id", session);
  EXPECT_EQ(exchange(end).result(), http::status::ok);
  call.join();
  EXPECT_EQ(waiting.result(), http::status::not_found) << waiting.body();
}

// An event stream answering HTTP/1.0 is close-delimited: Transfer-Encoding is HTTP/1.1 only
// (RFC 9112 section 6.1); it used to be chunked.
TEST_F(HttpServerTest, EventStreamsForHttp10AreNotChunked) {
  start();
  const std::string session(exchange(post(initialize_request))["Mcp-Session-Id"]);
  const auto [socket, head] = open_event_stream(session, 0);
  EXPECT_TRUE(head.starts_with("HTTP/1.0 200")) << head;
  EXPECT_NE(head.find("text/event-stream"), std::string::npos) << head;
  std::string lowered = head;
  for (auto& c : lowered) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  EXPECT_EQ(lowered.find("transfer-encoding"), std::string::npos) << head;
}

// A client that drops its GET stream can open a new one at once: the old one used to be noticed
// only by a keep-alive write up to 30 s later, every reconnect meanwhile getting 409 (the
// TypeScript SDK gives up after two).
TEST_F(HttpServerTest, ADroppedGetStreamIsReplacedAtOnce) {
  start();
  const std::string session(exchange(post(initialize_request))["Mcp-Session-Id"]);
  {
    auto [first, head] = open_event_stream(session);
    ASSERT_TRUE(head.starts_with("HTTP/1.1 200")) << head;
  }  // closed
  // Within the hang guard, which the 30 s keep-alive write is past: only a server that notices
  // the drop itself gets there. (The first tries may still meet the old stream: 409.)
  std::string head;
  EXPECT_TRUE(testing::eventually(
      [&] {
        head = open_event_stream(session).second;
        return head.starts_with("HTTP/1.1 200");
      },
      std::chrono::seconds(20)))
      << head;
}

}  // namespace
// Another event source on the I/O threads (the store's replies in bookmcp): an async tool's
// calls are completed by on_readable, on an I/O thread, which writes the answer itself; at
// shutdown on_stop runs and the descriptor is given back open.
TEST_F(HttpServerTest, AWatchedDescriptorIsServedOnTheIoThreadsAndGivenBack) {
  const int fd = ::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
  ASSERT_GE(fd, 0);
  std::mutex mutex;
  std::vector<mcp::tool_completion> pending;
  std::atomic<int> readable_calls{0};
  std::atomic<bool> stopped{false};
  mcp::tool_definition later;
  later.name = "later";
  later.input_schema = {{"type", "object"}};
  later.handler = [](mcp::tool_context&, const json&) {
    return mcp::tool_result::text("blocking");
  };
  later.async_handler = [&](mcp::tool_context, const json&, mcp::tool_completion done) {
    std::lock_guard lock(mutex);
    pending.push_back(std::move(done));
    return true;
  };
  server_->add_tool(later);
  listen_options options;
  options.host = "127.0.0.1";
  options.port = 0;
  options.metrics = metrics_;
  listener_ = std::make_unique<http_server>(*server_, options);
  listener_->watch_descriptor(
      fd,
      [&] {
        ++readable_calls;
        std::uint64_t count = 0;
        if (::read(fd, &count, sizeof count) != sizeof count) return;
        std::vector<mcp::tool_completion> ready;
        {
          std::lock_guard lock(mutex);
          ready.swap(pending);
        }
        for (auto& done : ready) done(mcp::tool_result::text("from the watched descriptor"));
      },
      [&] { stopped = true; });
  listener_->start();
  auto ws = open_websocket();
  testing::websocket_initialize(*ws);
  ws->write(net::buffer(json{{"jsonrpc", "2.0"},
                             {"id", 7},
                             {"method", "tools/call"},
                             {"params", {{"name", "later"}, {"arguments", json::object()}}}}
                            .dump()));
  // The call must be pending before the descriptor is made readable: else on_readable finds
  // nothing to complete, and the answer never comes.
  ASSERT_TRUE(testing::eventually([&] {
    std::lock_guard lock(mutex);
    return !pending.empty();
  }));
  const std::uint64_t one = 1;
  ASSERT_EQ(::write(fd, &one, sizeof one), static_cast<ssize_t>(sizeof one));
  beast::flat_buffer buffer;
  ws->read(buffer);
  const json answer = json::parse(beast::buffers_to_string(buffer.data()));
  EXPECT_EQ(answer["id"], 7);
  EXPECT_EQ(answer["result"]["content"][0]["text"], "from the watched descriptor") << answer;
  EXPECT_GE(readable_calls.load(), 1);
  ws->close(websocket::close_code::normal);
  listener_->shutdown();
  EXPECT_TRUE(stopped);
  EXPECT_NE(::fcntl(fd, F_GETFD), -1) << "the server closed a descriptor it does not own";
  ::close(fd);
}

}  // namespace bookmcp::transport
