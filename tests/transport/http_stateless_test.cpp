// Protocol revision 2026-07-28 over Streamable HTTP, through the real listener on port 0 with
// Beast's client: stateless POSTs (no Mcp-Session-Id) with their headers (MCP-Protocol-Version,
// Mcp-Method, Mcp-Name, Mcp-Param-*) checked against the body, the revision's errors and their
// HTTP statuses, 405 for GET/DELETE, both eras on one endpoint, multi-round requests
// (input_required, a sealed requestState), the tasks extension, and subscriptions/listen streams.
//
// Nothing here is timed: events are waited for, with testing::hang_guard only as a bound
// against a hang.
#include "transport/http_server.hpp"

#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <atomic>
#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>

#include "mcp/server.hpp"
#include "tests/testing/eventually.hpp"
#include "tests/testing/raw_http_client.hpp"
#include "transport/auth.hpp"
#include "tests/testing/mcp_fixture.hpp"

namespace bookmcp::transport {
namespace {

namespace net = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = net::ip::tcp;
using json = nlohmann::json;
using namespace std::chrono_literals;

constexpr const char* kVersion = "2026-07-28";
constexpr const char* kTasks = "io.modelcontextprotocol/tasks";

// The _meta every 2026-07-28 request carries.
json meta(json capabilities = json::object(), const std::string& version = kVersion) {
  return {{"io.modelcontextprotocol/protocolVersion", version},
          {"io.modelcontextprotocol/clientCapabilities", std::move(capabilities)}};
}

// A 2026-07-28 request: `params` with its _meta (unless `with_meta` is false).
json rpc(int id, const std::string& method, json params = json::object(),
         json capabilities = json::object(), bool with_meta = true) {
  if (with_meta) params["_meta"] = meta(std::move(capabilities));
  return {{"jsonrpc", "2.0"}, {"id", id}, {"method", method}, {"params", std::move(params)}};
}

json tool_call(int id, const std::string& tool, json arguments = json::object(),
               json capabilities = json::object()) {
  return rpc(id, "tools/call", {{"name", tool}, {"arguments", std::move(arguments)}},
             std::move(capabilities));
}

const json task_capabilities = {{"extensions", {{kTasks, json::object()}}}};

class HttpStatelessTest : public ::testing::Test {
 protected:
  void SetUp() override {
    mcp::server_options options;
    options.name = "stateless-transport-test";
    options.observer = metrics_;
    server_ = std::make_unique<mcp::server>(options);

    server_->add_tool(mcp_testing::echo_tool());

    // Two arguments clients mirror into headers: Mcp-Param-Region (a string) and
    // Mcp-Param-Count (an integer); both optional.
    mcp::tool_definition locate;
    locate.name = "locate";
    locate.description = "Echoes where and how many.";
    locate.input_schema = {
        {"type", "object"},
        {"properties",
         {{"region", {{"type", "string"}, {"x-mcp-header", "Region"}}},
          {"count", {{"type", "integer"}, {"x-mcp-header", "Count"}}}}}};
    locate.handler = [](mcp::tool_context&, const json& arguments) {
      return mcp::tool_result::text(arguments.value("region", std::string("-")) + "/" +
                                    (arguments.contains("count")
                                         ? std::to_string(arguments["count"].get<long long>())
                                         : std::string("-")));
    };
    server_->add_tool(std::move(locate));

    // Asks the user for a confirmation (an elicitation) before answering.
    mcp::tool_definition confirm;
    confirm.name = "confirm";
    confirm.description = "Asks for a confirmation.";
    confirm.input_schema = {{"type", "object"}, {"properties", {{"what", {{"type", "string"}}}}}};
    confirm.handler = [this](mcp::tool_context& context, const json& arguments) {
      ++confirm_runs_;
      const auto answers = context.request_client_all(
          {{"confirm",
            "elicitation/create",
            {{"message", "Proceed with " + arguments.value("what", std::string("it")) + "?"},
             {"requestedSchema",
              {{"type", "object"},
               {"properties", {{"ok", {{"type", "boolean"}}}}},
               {"required", {"ok"}}}}}}});
      const bool ok = answers.at(0).value("action", std::string()) == "accept" &&
                      answers.at(0).value("content", json::object()).value("ok", false);
      return mcp::tool_result::text(ok ? "confirmed" : "declined");
    };
    server_->add_tool(std::move(confirm));

    // Runs (as a task when the client wants one) until it is cancelled.
    mcp::tool_definition background;
    background.name = "background";
    background.description = "Works until cancelled.";
    background.input_schema = {{"type", "object"}};
    background.task_support = mcp::tool_definition::task_mode::optional;
    background.handler = [this](mcp::tool_context& context, const json&) -> mcp::tool_result {
      ++background_started_;
      if (!context.sleep_for(std::chrono::hours(1))) {
        ++background_cancelled_;
        throw mcp::cancelled_error();
      }
      return mcp::tool_result::text("finished");
    };
    server_->add_tool(std::move(background));

    // Who the server thinks is calling.
    mcp::tool_definition whoami;
    whoami.name = "whoami";
    whoami.description = "Returns the caller's identity.";
    whoami.input_schema = {{"type", "object"}};
    whoami.handler = [](mcp::tool_context& context, const json&) {
      return mcp::tool_result::text(context.identity());
    };
    server_->add_tool(std::move(whoami));
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

  // Starts the listener with API keys for two callers, `alice` and `bob` (their bearer tokens).
  const std::string alice = "key-of-alice-0123456789abcdef";
  const std::string bob = "key-of-bob-0123456789abcdef00";
  void start_with_keys() {
    const auto keys =
        std::filesystem::temp_directory_path() / ("bookmcp-stateless-keys-" + std::to_string(::getpid()));
    std::ofstream(keys) << "alice " << alice << "\nbob " << bob << "\n";
    listen_options options;
    options.auth = load_api_keys(keys.string());
    std::filesystem::remove(keys);
    start(options);
  }

  // A 2026-07-28 POST of `body` with the headers a conforming client sends: the version,
  // Mcp-Method and, for the methods that name something, Mcp-Name.
  static http::request<http::string_body> stateless_post(const json& body) {
    http::request<http::string_body> request{http::verb::post, "/mcp", 11};
    request.set(http::field::host, "127.0.0.1");
    request.set(http::field::content_type, "application/json");
    request.set(http::field::accept, "application/json, text/event-stream");
    request.set("MCP-Protocol-Version", kVersion);
    const std::string method = body.value("method", std::string());
    request.set("Mcp-Method", method);
    const json params = body.value("params", json::object());
    const char* name_field = method == "tools/call" || method == "prompts/get" ? "name"
                             : method == "resources/read"                      ? "uri"
                             : method.starts_with("tasks/")                    ? "taskId"
                                                                               : nullptr;
    if (name_field && params.contains(name_field))
      request.set("Mcp-Name", params[name_field].get<std::string>());
    request.body() = body.dump();
    request.prepare_payload();
    return request;
  }

  // One exchange on a fresh connection, bounded by the client's deadline.
  testing::raw_http_response exchange(http::request<http::string_body> request,
                                      const std::string& token = {}) {
    request.set(http::field::host, "127.0.0.1");
    if (!token.empty()) request.set(http::field::authorization, "Bearer " + token);
    request.prepare_payload();
    testing::raw_http_client client(listener_->port());
    return client.exchange(request);
  }

  // A stateless exchange's answer: its status, its JSON body.
  struct answer {
    http::status status;
    json body;
    testing::raw_http_response response;
  };
  answer send(http::request<http::string_body> request, const std::string& token = {}) {
    auto response = exchange(std::move(request), token);
    json body = json::parse(response.body(), nullptr, false);
    return {response.result(), std::move(body), std::move(response)};
  }
  answer send(const json& body, const std::string& token = {}) {
    return send(stateless_post(body), token);
  }

  // Expects a JSON-RPC error `code` with HTTP `status`, for request `id`.
  static void expect_error(const answer& got, http::status status, int code, int id) {
    EXPECT_EQ(got.status, status) << got.response.body();
    ASSERT_TRUE(got.body.is_object()) << got.response.body();
    EXPECT_EQ(got.body.value("/error/code"_json_pointer, 0), code) << got.response.body();
    EXPECT_EQ(got.body.value("id", json()), id) << got.response.body();
    EXPECT_FALSE(got.body.contains("result")) << got.response.body();
  }

  // tasks/get until the task has `status` (or the hang guard passed): the last task seen.
  json poll_task(const std::string& task_id, const std::string& status, int& request_id,
                 const std::string& token = {}) {
    json last;
    testing::eventually([&] {
      const auto got =
          send(rpc(request_id++, "tasks/get", {{"taskId", task_id}}, task_capabilities), token);
      last = got.body.is_object() && got.body.contains("result") ? got.body["result"] : got.body;
      return last.is_object() && last.value("status", std::string()) == status;
    });
    return last;
  }

  tcp::socket connect() {
    tcp::socket socket(io_);
    socket.connect({net::ip::make_address("127.0.0.1"), listener_->port()});
    // Reads give up after the hang guard (a broken server fails the test, never hangs it).
    const timeval limit{testing::hang_guard.count(), 0};
    ::setsockopt(socket.native_handle(), SOL_SOCKET, SO_RCVTIMEO, &limit, sizeof limit);
    return socket;
  }

  net::io_context io_;
  std::shared_ptr<transport::metrics> metrics_ = std::make_shared<transport::metrics>(false);
  std::unique_ptr<mcp::server> server_;
  std::unique_ptr<http_server> listener_;
  std::atomic<int> confirm_runs_{0};
  std::atomic<int> background_started_{0};
  std::atomic<int> background_cancelled_{0};
};

// The reads of an event stream on a raw socket: SSE events' data, as the chunks arrive.
class event_reader {
 public:
  explicit event_reader(tcp::socket& socket) : socket_(socket) {}

  // The response head (status line and fields), once it has arrived; empty on a hang.
  std::string head() {
    while (buffer_.find("\r\n\r\n") == std::string::npos)
      if (!receive()) return {};
    const auto end = buffer_.find("\r\n\r\n") + 4;
    std::string out = buffer_.substr(0, end);
    buffer_.erase(0, end);
    return out;
  }

  // The next event's data as JSON; nullopt when the stream ended or nothing came within the
  // hang guard. (Chunk sizes sit on lines of their own; "data: " lines hold whole events.)
  std::optional<json> next() {
    for (;;) {
      const auto start = buffer_.find("data: ");
      if (start != std::string::npos) {
        const auto end = buffer_.find('\n', start);
        if (end != std::string::npos) {
          std::string data = buffer_.substr(start + 6, end - start - 6);
          buffer_.erase(0, end + 1);
          json parsed = json::parse(data, nullptr, false);
          if (parsed.is_discarded()) {
            ADD_FAILURE() << "an event that is not JSON: " << data;
            return std::nullopt;
          }
          return parsed;
        }
      }
      if (!receive()) return std::nullopt;
    }
  }

 private:
  bool receive() {
    char bytes[4096];
    const ssize_t got = ::recv(socket_.native_handle(), bytes, sizeof bytes, 0);  // SO_RCVTIMEO
    if (got <= 0) return false;
    buffer_.append(bytes, static_cast<std::size_t>(got));
    return true;
  }

  tcp::socket& socket_;
  std::string buffer_;
};

// ---------------------------------------------------------------------------------------
// An answered request

TEST_F(HttpStatelessTest, AToolCallIsAnsweredWithJsonAndMintsNoSession) {
  start();
  const auto sessions_before = server_->stats().sessions;
  const auto got = send(tool_call(1, "echo", {{"text", "hello"}}));
  EXPECT_EQ(got.status, http::status::ok) << got.response.body();
  EXPECT_NE(std::string(got.response[http::field::content_type]).find("application/json"),
            std::string::npos)
      << got.response[http::field::content_type];
  EXPECT_EQ(got.response.find("Mcp-Session-Id"), got.response.end());
  EXPECT_EQ(got.body["id"], 1);
  EXPECT_EQ(got.body["result"]["resultType"], "complete") << got.body;
  EXPECT_EQ(got.body["result"]["content"][0]["text"], "hello") << got.body;
  EXPECT_FALSE(got.body["result"].value("isError", false));
  // The request's session closed with its answer: none is left behind.
  EXPECT_TRUE(testing::eventually([&] { return server_->stats().sessions == sessions_before; }));
}

TEST_F(HttpStatelessTest, ServerDiscoverAnswersWithTheRevisionAndCacheHints) {
  start();
  const auto got = send(rpc(2, "server/discover"));
  ASSERT_EQ(got.status, http::status::ok) << got.response.body();
  const json& result = got.body["result"];
  EXPECT_EQ(result["resultType"], "complete");
  EXPECT_EQ(result["supportedVersions"], json::array({kVersion}));
  EXPECT_TRUE(result["capabilities"]["extensions"].contains(kTasks)) << result;
  EXPECT_TRUE(result.contains("ttlMs")) << result;
  EXPECT_EQ(result["cacheScope"], "public");
  EXPECT_EQ(got.response.find("Mcp-Session-Id"), got.response.end());
}

// ---------------------------------------------------------------------------------------
// Header checks (-32020, 400)

TEST_F(HttpStatelessTest, AMissingProtocolVersionHeaderIsAHeaderMismatch) {
  start();
  auto request = stateless_post(tool_call(3, "echo", {{"text", "x"}}));
  request.erase("MCP-Protocol-Version");
  expect_error(send(request), http::status::bad_request, -32020, 3);
}

// The header and _meta disagreeing is reported as such (-32020), before the version itself
// is looked at (-32022), whichever of the two names an unsupported version.
TEST_F(HttpStatelessTest, AVersionHeaderOtherThanTheMetaVersionIsAHeaderMismatchFirst) {
  start();
  json body = tool_call(4, "echo", {{"text", "x"}});
  body["params"]["_meta"]["io.modelcontextprotocol/protocolVersion"] = "1999-01-01";
  expect_error(send(body), http::status::bad_request, -32020, 4);

  auto request = stateless_post(tool_call(5, "echo", {{"text", "x"}}));
  request.set("MCP-Protocol-Version", "2025-11-25");
  expect_error(send(request), http::status::bad_request, -32020, 5);
}

TEST_F(HttpStatelessTest, AMissingOrMismatchedMcpMethodIsAHeaderMismatch) {
  start();
  auto missing = stateless_post(tool_call(6, "echo", {{"text", "x"}}));
  missing.erase("Mcp-Method");
  expect_error(send(missing), http::status::bad_request, -32020, 6);

  auto other = stateless_post(tool_call(7, "echo", {{"text", "x"}}));
  other.set("Mcp-Method", "tools/list");
  expect_error(send(other), http::status::bad_request, -32020, 7);

  // Methods that name nothing need no Mcp-Name, but still their Mcp-Method.
  auto list = stateless_post(rpc(8, "tools/list"));
  list.erase("Mcp-Method");
  expect_error(send(list), http::status::bad_request, -32020, 8);
  EXPECT_EQ(send(rpc(9, "tools/list")).status, http::status::ok);
}

TEST_F(HttpStatelessTest, AMissingOrMismatchedMcpNameIsAHeaderMismatch) {
  start();
  auto missing = stateless_post(tool_call(10, "echo", {{"text", "x"}}));
  missing.erase("Mcp-Name");
  expect_error(send(missing), http::status::bad_request, -32020, 10);

  auto other = stateless_post(tool_call(11, "echo", {{"text", "x"}}));
  other.set("Mcp-Name", "locate");
  expect_error(send(other), http::status::bad_request, -32020, 11);
  EXPECT_EQ(background_started_.load() + confirm_runs_.load(), 0);
}

TEST_F(HttpStatelessTest, McpNameInTheBase64SentinelIsDecodedAndInvalidBase64Refused) {
  start();
  auto encoded = stateless_post(tool_call(12, "echo", {{"text", "via base64"}}));
  encoded.set("Mcp-Name", "=?base64?ZWNobw==?=");  // "echo"
  const auto accepted = send(encoded);
  EXPECT_EQ(accepted.status, http::status::ok) << accepted.response.body();
  EXPECT_EQ(accepted.body["result"]["content"][0]["text"], "via base64") << accepted.body;

  auto wrong_name = stateless_post(tool_call(13, "echo", {{"text", "x"}}));
  wrong_name.set("Mcp-Name", "=?base64?bG9jYXRl?=");  // "locate"
  expect_error(send(wrong_name), http::status::bad_request, -32020, 13);

  auto invalid = stateless_post(tool_call(14, "echo", {{"text", "x"}}));
  invalid.set("Mcp-Name", "=?base64?!!not*base64!!?=");
  expect_error(send(invalid), http::status::bad_request, -32020, 14);
}

TEST_F(HttpStatelessTest, McpParamHeadersMustMirrorTheArgumentsTheSchemaMarks) {
  start();
  const auto locate = [](int id, json arguments, const std::string& region,
                         const std::string& count) {
    auto request = stateless_post(tool_call(id, "locate", std::move(arguments)));
    if (!region.empty()) request.set("Mcp-Param-Region", region);
    if (!count.empty()) request.set("Mcp-Param-Count", count);
    return request;
  };
  const json both = {{"region", "eu-west"}, {"count", 42}};

  const auto matching = send(locate(20, both, "eu-west", "42"));
  EXPECT_EQ(matching.status, http::status::ok) << matching.response.body();
  EXPECT_EQ(matching.body["result"]["content"][0]["text"], "eu-west/42") << matching.body;

  // A header missing while its argument is in the body.
  expect_error(send(locate(21, both, "", "42")), http::status::bad_request, -32020, 21);
  expect_error(send(locate(22, both, "eu-west", "")), http::status::bad_request, -32020, 22);
  // A header that says something else.
  expect_error(send(locate(23, both, "us-east", "42")), http::status::bad_request, -32020, 23);
  expect_error(send(locate(24, both, "eu-west", "43")), http::status::bad_request, -32020, 24);
  expect_error(send(locate(25, both, "eu-west", "forty-two")), http::status::bad_request, -32020,
               25);

  // Numbers are compared as numbers: "42" against 42.0 in the body, "42.0" against 42.
  auto float_body = locate(26, both, "eu-west", "42");
  const std::string text = float_body.body();
  const auto at = text.find("\"count\":42");
  ASSERT_NE(at, std::string::npos) << text;
  float_body.body() = text.substr(0, at) + "\"count\":42.0" + text.substr(at + 10);
  float_body.prepare_payload();
  ASSERT_NE(float_body.body().find("42.0"), std::string::npos);
  const auto numeric = send(float_body);
  EXPECT_EQ(numeric.status, http::status::ok) << numeric.response.body();
  EXPECT_EQ(numeric.body["result"]["content"][0]["text"], "eu-west/42") << numeric.body;
  EXPECT_EQ(send(locate(27, both, "eu-west", "42.0")).status, http::status::ok);

  // A header value may use the Base64 sentinel too.
  const auto encoded = send(locate(28, both, "=?base64?ZXUtd2VzdA==?=", "42"));  // "eu-west"
  EXPECT_EQ(encoded.status, http::status::ok) << encoded.response.body();
  expect_error(send(locate(29, both, "=?base64?%%%?=", "42")), http::status::bad_request, -32020,
               29);

  // No argument, no header expected.
  const auto none = send(locate(30, json::object(), "", ""));
  EXPECT_EQ(none.status, http::status::ok) << none.response.body();
  EXPECT_EQ(none.body["result"]["content"][0]["text"], "-/-") << none.body;
  const auto region_only = send(locate(31, {{"region", "ap-south"}}, "ap-south", ""));
  EXPECT_EQ(region_only.status, http::status::ok) << region_only.response.body();
  EXPECT_EQ(region_only.body["result"]["content"][0]["text"], "ap-south/-") << region_only.body;
}

// ---------------------------------------------------------------------------------------
// The revision's errors

TEST_F(HttpStatelessTest, MetaWithoutItsKeysIsInvalidParamsWithTheIdEchoed) {
  start();
  json no_capabilities = tool_call(40, "echo", {{"text", "x"}});
  no_capabilities["params"]["_meta"].erase("io.modelcontextprotocol/clientCapabilities");
  expect_error(send(no_capabilities), http::status::bad_request, -32602, 40);

  // A stateless-only method without any _meta.
  expect_error(send(rpc(42, "server/discover", json::object(), json::object(), false)),
               http::status::bad_request, -32602, 42);
}

// A body with no _meta at all (or a _meta that is not an object), sent with the 2026-07-28
// headers and no session: the headers make it a stateless request (is_stateless_post), which
// the revision refuses for its missing metadata (-32602, 400), as check_stateless_headers says
// ("a body without its version is refused by the session (-32602)").
// (A transient session treats everything it holds as a 2026-07-28 request; it used to decide
// per message, and answered such a body as a handshake-era request of an uninitialized session.)
TEST_F(HttpStatelessTest, ARequestWithoutMetaIsInvalidParamsWithTheIdEchoed) {
  start();
  const json body = rpc(43, "tools/call", {{"name", "echo"}, {"arguments", {{"text", "x"}}}},
                        json::object(), false);
  ASSERT_FALSE(body["params"].contains("_meta"));
  expect_error(send(body), http::status::bad_request, -32602, 43);

  json not_an_object = rpc(41, "tools/list");
  not_an_object["params"]["_meta"] = "2026-07-28";
  expect_error(send(not_an_object), http::status::bad_request, -32602, 41);

  // A method the revision removed, without _meta: still not a handshake-era request here.
  const auto ping = send(rpc(44, "ping", json::object(), json::object(), false));
  EXPECT_NE(ping.status, http::status::ok) << ping.response.body();
  EXPECT_TRUE(ping.body.contains("error")) << ping.response.body();
  const auto initialize =
      send(rpc(45, "initialize",
               {{"protocolVersion", "2025-11-25"},
                {"capabilities", json::object()},
                {"clientInfo", {{"name", "t"}, {"version", "1"}}}},
               json::object(), false));
  EXPECT_TRUE(initialize.body.contains("error")) << initialize.response.body();
}

TEST_F(HttpStatelessTest, AnUnsupportedVersionIsRefusedWithTheSupportedOnes) {
  start();
  json body = tool_call(44, "echo", {{"text", "x"}});
  body["params"]["_meta"]["io.modelcontextprotocol/protocolVersion"] = "v999";
  auto request = stateless_post(body);
  request.set("MCP-Protocol-Version", "v999");
  const auto got = send(request);
  expect_error(got, http::status::bad_request, -32022, 44);
  EXPECT_EQ(got.body["error"]["data"]["supported"], json::array({kVersion})) << got.body;
  EXPECT_EQ(got.body["error"]["data"]["requested"], "v999") << got.body;
}

TEST_F(HttpStatelessTest, RemovedAndUnknownMethodsAreNotFound) {
  start();
  expect_error(send(rpc(45, "ping")), http::status::not_found, -32601, 45);
  expect_error(send(rpc(46, "logging/setLevel", {{"level", "debug"}})), http::status::not_found,
               -32601, 46);
  expect_error(send(rpc(47, "x/made-up")), http::status::not_found, -32601, 47);
}

TEST_F(HttpStatelessTest, AnInputTheClientCannotGiveIsAMissingCapability) {
  start();
  expect_error(send(tool_call(48, "confirm", {{"what", "x"}})), http::status::bad_request, -32021,
               48);
}

// ---------------------------------------------------------------------------------------
// GET, DELETE, and both eras on one endpoint

TEST_F(HttpStatelessTest, GetAndDeleteWithoutASessionAreNotAllowedInThisRevision) {
  start();
  for (const auto verb : {http::verb::get, http::verb::delete_}) {
    http::request<http::string_body> request{verb, "/mcp", 11};
    request.set(http::field::accept, "text/event-stream");
    request.set("MCP-Protocol-Version", kVersion);
    const auto response = exchange(request);
    EXPECT_EQ(response.result(), http::status::method_not_allowed) << verb << response.body();
    EXPECT_EQ(response[http::field::allow], "POST") << verb;
  }
}

TEST_F(HttpStatelessTest, TheHandshakeEraIsServedOnTheSameEndpoint) {
  start();
  http::request<http::string_body> initialize{http::verb::post, "/mcp", 11};
  initialize.set(http::field::content_type, "application/json");
  initialize.set(http::field::accept, "application/json, text/event-stream");
  initialize.body() = json{{"jsonrpc", "2.0"},
                           {"id", 1},
                           {"method", "initialize"},
                           {"params",
                            {{"protocolVersion", "2025-11-25"},
                             {"capabilities", json::object()},
                             {"clientInfo", {{"name", "t"}, {"version", "1"}}}}}}
                          .dump();
  const auto initialized = exchange(initialize);
  ASSERT_EQ(initialized.result(), http::status::ok) << initialized.body();
  const std::string session(initialized["Mcp-Session-Id"]);
  ASSERT_FALSE(session.empty());
  EXPECT_EQ(json::parse(initialized.body())["result"]["protocolVersion"], "2025-11-25");

  auto handshake_post = [&](const json& body) {
    http::request<http::string_body> request{http::verb::post, "/mcp", 11};
    request.set(http::field::content_type, "application/json");
    request.set(http::field::accept, "application/json, text/event-stream");
    request.set("Mcp-Session-Id", session);
    request.set("MCP-Protocol-Version", "2025-11-25");
    request.body() = body.dump();
    return exchange(request);
  };
  EXPECT_EQ(handshake_post({{"jsonrpc", "2.0"}, {"method", "notifications/initialized"}}).result(),
            http::status::accepted);
  const auto in_session =
      handshake_post({{"jsonrpc", "2.0"},
                      {"id", 2},
                      {"method", "tools/call"},
                      {"params", {{"name", "echo"}, {"arguments", {{"text", "handshake"}}}}}});
  ASSERT_EQ(in_session.result(), http::status::ok) << in_session.body();
  const json answer = json::parse(in_session.body());
  EXPECT_EQ(answer["result"]["content"][0]["text"], "handshake");
  EXPECT_FALSE(answer["result"].contains("resultType")) << answer;  // a 2025-11-25 result
  // The handshake era's ping is still there, in its session.
  EXPECT_EQ(handshake_post({{"jsonrpc", "2.0"}, {"id", 3}, {"method", "ping"}}).result(),
            http::status::ok);

  // Meanwhile, a stateless request on the same port.
  const auto stateless = send(tool_call(4, "echo", {{"text", "stateless"}}));
  EXPECT_EQ(stateless.status, http::status::ok);
  EXPECT_EQ(stateless.body["result"]["resultType"], "complete");
  EXPECT_EQ(stateless.response.find("Mcp-Session-Id"), stateless.response.end());

  // The session still works after it, and its GET/DELETE are the handshake era's.
  http::request<http::string_body> end{http::verb::delete_, "/mcp", 11};
  end.set("Mcp-Session-Id", session);
  EXPECT_EQ(exchange(end).result(), http::status::ok);
}

// ---------------------------------------------------------------------------------------
// Multi-round requests

TEST_F(HttpStatelessTest, InputRequiredRoundTripWithASealedRequestState) {
  start();
  const json capabilities = {{"elicitation", json::object()}};
  const auto first = send(tool_call(50, "confirm", {{"what", "the move"}}, capabilities));
  ASSERT_EQ(first.status, http::status::ok) << first.response.body();
  const json& asked = first.body["result"];
  ASSERT_EQ(asked["resultType"], "input_required") << asked;
  ASSERT_TRUE(asked["inputRequests"].contains("confirm")) << asked;
  EXPECT_EQ(asked["inputRequests"]["confirm"]["method"], "elicitation/create");
  EXPECT_EQ(asked["inputRequests"]["confirm"]["params"]["message"], "Proceed with the move?");
  ASSERT_TRUE(asked["requestState"].is_string()) << asked;
  const std::string state = asked["requestState"];
  ASSERT_GT(state.size(), 16u);
  EXPECT_EQ(first.response.find("Mcp-Session-Id"), first.response.end());

  json again = tool_call(51, "confirm", {{"what", "the move"}}, capabilities);
  again["params"]["inputResponses"] = {
      {"confirm", {{"action", "accept"}, {"content", {{"ok", true}}}}}};
  again["params"]["requestState"] = state;
  const auto second = send(again);
  ASSERT_EQ(second.status, http::status::ok) << second.response.body();
  EXPECT_EQ(second.body["result"]["resultType"], "complete") << second.body;
  EXPECT_EQ(second.body["result"]["content"][0]["text"], "confirmed") << second.body;

  // One character of the state changed: refused, and the request is not run.
  std::string tampered = state;
  char& middle = tampered[tampered.size() / 2];
  middle = middle == 'A' ? 'B' : 'A';
  const int runs_before = confirm_runs_.load();
  json forged = again;
  forged["id"] = 52;
  forged["params"]["requestState"] = tampered;
  const auto refused = send(forged);
  expect_error(refused, http::status::bad_request, -32602, 52);
  EXPECT_NE(refused.body.value("/error/message"_json_pointer, std::string()).find("requestState"),
            std::string::npos)
      << refused.body;
  EXPECT_EQ(confirm_runs_.load(), runs_before);

  // The state is bound to its request's arguments as well.
  json other_request = again;
  other_request["id"] = 53;
  other_request["params"]["arguments"]["what"] = "something else";
  expect_error(send(other_request), http::status::bad_request, -32602, 53);
}

// ---------------------------------------------------------------------------------------
// Tasks

TEST_F(HttpStatelessTest, ATaskIsCreatedPolledAndCancelledOverHttp) {
  start();
  const auto created = send(tool_call(60, "background", json::object(), task_capabilities));
  ASSERT_EQ(created.status, http::status::ok) << created.response.body();
  const json& task = created.body["result"];
  ASSERT_EQ(task["resultType"], "task") << task;
  ASSERT_TRUE(task["taskId"].is_string()) << task;
  const std::string task_id = task["taskId"];
  EXPECT_EQ(task["status"], "working");
  EXPECT_EQ(created.response.find("Mcp-Session-Id"), created.response.end());
  // The task outlives the request that created it (its session closed with the answer).
  ASSERT_TRUE(testing::eventually([&] { return background_started_.load() == 1; }));

  const auto working = send(rpc(61, "tasks/get", {{"taskId", task_id}}, task_capabilities));
  ASSERT_EQ(working.status, http::status::ok) << working.response.body();
  EXPECT_EQ(working.body["result"]["taskId"], task_id);
  EXPECT_EQ(working.body["result"]["status"], "working") << working.body;
  EXPECT_EQ(working.body["result"]["resultType"], "complete") << working.body;
  EXPECT_EQ(background_cancelled_.load(), 0);

  // Mcp-Name names the task for the tasks methods.
  auto wrong_name = stateless_post(rpc(62, "tasks/get", {{"taskId", task_id}}, task_capabilities));
  wrong_name.set("Mcp-Name", "task-of-someone-else");
  expect_error(send(wrong_name), http::status::bad_request, -32020, 62);

  // Without the extension: a missing capability.
  const auto without = send(rpc(63, "tasks/get", {{"taskId", task_id}}));
  expect_error(without, http::status::bad_request, -32021, 63);

  // An unknown task.
  expect_error(send(rpc(64, "tasks/get", {{"taskId", "task-none"}}, task_capabilities)),
               http::status::bad_request, -32602, 64);

  const auto cancelled = send(rpc(65, "tasks/cancel", {{"taskId", task_id}}, task_capabilities));
  ASSERT_EQ(cancelled.status, http::status::ok) << cancelled.response.body();
  EXPECT_EQ(cancelled.body["result"], json({{"resultType", "complete"}})) << cancelled.body;

  int next_id = 66;
  const json final_state = poll_task(task_id, "cancelled", next_id);
  EXPECT_EQ(final_state.value("status", std::string()), "cancelled") << final_state;
  // Its handler was asked to stop, and did.
  EXPECT_TRUE(testing::eventually([&] { return background_cancelled_.load() == 1; }));
}

// Without the extension an optional task tool runs as an ordinary call (and is cancelled when
// its client leaves, like any call).
TEST_F(HttpStatelessTest, AnOptionalTaskToolIsAnOrdinaryCallWithoutTheExtension) {
  start();
  {
    tcp::socket socket = connect();
    auto request = stateless_post(tool_call(70, "background"));
    http::write(socket, request);
    ASSERT_TRUE(testing::eventually([&] { return background_started_.load() == 1; }));
  }  // closed
  EXPECT_TRUE(testing::eventually([&] { return background_cancelled_.load() == 1; }));
}

// Another identity cannot see, poll or cancel a task: it is as if it did not exist.
TEST_F(HttpStatelessTest, AnotherIdentityCannotSeeTheTask) {
  start_with_keys();

  EXPECT_EQ(send(tool_call(80, "echo", {{"text", "x"}})).status, http::status::unauthorized);

  const auto created = send(tool_call(81, "background", json::object(), task_capabilities), alice);
  ASSERT_EQ(created.status, http::status::ok) << created.response.body();
  ASSERT_EQ(created.body["result"]["resultType"], "task") << created.body;
  const std::string task_id = created.body["result"]["taskId"];

  const auto mine = send(rpc(82, "tasks/get", {{"taskId", task_id}}, task_capabilities), alice);
  EXPECT_EQ(mine.status, http::status::ok) << mine.response.body();
  EXPECT_EQ(mine.body["result"]["status"], "working") << mine.body;

  const auto theirs = send(rpc(83, "tasks/get", {{"taskId", task_id}}, task_capabilities), bob);
  expect_error(theirs, http::status::bad_request, -32602, 83);
  EXPECT_FALSE(theirs.body.contains("result"));
  expect_error(send(rpc(84, "tasks/cancel", {{"taskId", task_id}}, task_capabilities), bob),
               http::status::bad_request, -32602, 84);
  EXPECT_EQ(background_cancelled_.load(), 0);
  const auto still = send(rpc(85, "tasks/get", {{"taskId", task_id}}, task_capabilities), alice);
  EXPECT_EQ(still.body["result"]["status"], "working") << still.body;

  const auto cancelled =
      send(rpc(86, "tasks/cancel", {{"taskId", task_id}}, task_capabilities), alice);
  EXPECT_EQ(cancelled.status, http::status::ok) << cancelled.response.body();
  int next_id = 87;
  EXPECT_EQ(poll_task(task_id, "cancelled", next_id, alice).value("status", std::string()),
            "cancelled");
}

// One keep-alive connection carries requests of several callers, reusing ids, with a task
// started in between: each request is served as its own caller (the connection may keep a
// request's session for the next one only for the same caller, and not once a task started
// from it), and an id is free again as soon as its answer came.
TEST_F(HttpStatelessTest, OneConnectionServesEachRequestAsItsOwnCaller) {
  start_with_keys();

  testing::raw_http_client client(listener_->port());
  const auto call = [&](const json& body, const std::string& token) {
    auto request = stateless_post(body);
    request.set(http::field::authorization, "Bearer " + token);
    request.prepare_payload();
    auto response = client.exchange(request);
    EXPECT_TRUE(response.keep_alive()) << response;
    return json::parse(response.body(), nullptr, false);
  };
  const auto text_of = [](const json& answer) {
    return answer.value("/result/content/0/text"_json_pointer, std::string("(no text)"));
  };

  EXPECT_EQ(text_of(call(tool_call(1, "whoami"), alice)), "alice");
  EXPECT_EQ(text_of(call(tool_call(1, "whoami"), alice)), "alice");
  EXPECT_EQ(text_of(call(tool_call(1, "whoami"), bob)), "bob");
  EXPECT_EQ(text_of(call(tool_call(1, "whoami"), alice)), "alice");

  const json created = call(tool_call(2, "background", json::object(), task_capabilities), alice);
  ASSERT_EQ(created.value("/result/resultType"_json_pointer, std::string()), "task") << created;
  const std::string task_id = created["result"]["taskId"];
  // The task still runs under id 2; the next request may use 2 again.
  EXPECT_EQ(text_of(call(tool_call(2, "echo", {{"text", "after the task"}}), alice)), "after the task");
  EXPECT_EQ(text_of(call(tool_call(3, "whoami"), bob)), "bob");
  EXPECT_EQ(background_started_.load(), 1);
  EXPECT_EQ(background_cancelled_.load(), 0);

  const json cancelled = call(rpc(4, "tasks/cancel", {{"taskId", task_id}}, task_capabilities), alice);
  EXPECT_TRUE(cancelled.contains("result")) << cancelled;
  EXPECT_TRUE(testing::eventually([&] { return background_cancelled_.load() == 1; }));
  EXPECT_EQ(server_->stats().sessions, 0u);
}

// ---------------------------------------------------------------------------------------
// subscriptions/listen

TEST_F(HttpStatelessTest, AListenStreamIsAcknowledgedGetsListChangesAndEndsWithItsClient) {
  start();
  const auto sessions_before = server_->stats().sessions;
  std::string subscription;
  {
    tcp::socket socket = connect();
    auto request = stateless_post(
        rpc(90, "subscriptions/listen", {{"notifications", {{"toolsListChanged", true}}}}));
    http::write(socket, request);
    event_reader events(socket);
    const std::string head = events.head();
    ASSERT_TRUE(head.starts_with("HTTP/1.1 200")) << head;
    std::string lowered = head;
    for (auto& c : lowered) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    EXPECT_NE(lowered.find("content-type: text/event-stream"), std::string::npos) << head;
    EXPECT_EQ(lowered.find("mcp-session-id"), std::string::npos) << head;

    const auto acknowledged = events.next();
    ASSERT_TRUE(acknowledged) << "no first event";
    EXPECT_EQ(acknowledged->value("method", std::string()),
              "notifications/subscriptions/acknowledged")
        << *acknowledged;
    EXPECT_EQ((*acknowledged)["params"]["notifications"]["toolsListChanged"], true) << *acknowledged;
    subscription = acknowledged->value(
        "/params/_meta/io.modelcontextprotocol~1subscriptionId"_json_pointer, std::string());
    ASSERT_FALSE(subscription.empty()) << *acknowledged;
    // Listening, the request's session is among the server's (to be told of changes).
    EXPECT_TRUE(
        testing::eventually([&] { return server_->stats().sessions == sessions_before + 1; }));

    mcp::tool_definition late;
    late.name = "late_tool";
    late.description = "Added while a client listens.";
    late.input_schema = {{"type", "object"}};
    late.handler = [](mcp::tool_context&, const json&) { return mcp::tool_result::text("late"); };
    server_->add_tool(std::move(late));

    const auto changed = events.next();
    ASSERT_TRUE(changed) << "no list_changed event";
    EXPECT_EQ(changed->value("method", std::string()), "notifications/tools/list_changed")
        << *changed;
    EXPECT_EQ(changed->value("/params/_meta/io.modelcontextprotocol~1subscriptionId"_json_pointer,
                             std::string()),
              subscription)
        << *changed;
    EXPECT_FALSE(changed->contains("id")) << *changed;
  }  // the client closes its connection
  EXPECT_TRUE(testing::eventually([&] { return server_->stats().sessions == sessions_before; }))
      << server_->stats().sessions;
  // The listing has the new tool (and the server still serves).
  const auto listed = send(rpc(91, "tools/list"));
  ASSERT_EQ(listed.status, http::status::ok);
  EXPECT_NE(listed.body["result"]["tools"].dump().find("late_tool"), std::string::npos);
}

TEST_F(HttpStatelessTest, AListenRequestWithoutWhatToListenToIsInvalidParams) {
  start();
  expect_error(send(rpc(92, "subscriptions/listen")), http::status::bad_request, -32602, 92);
}

}  // namespace
}  // namespace bookmcp::transport
