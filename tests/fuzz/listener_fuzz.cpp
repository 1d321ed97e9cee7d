// One connection's bytes into the listener's own connection handling (http_server's
// run_connection: HTTP parsing and its limits, Origin and Host checks, API-key authentication,
// rate limits, Streamable HTTP in both protocol eras, ops routes, WebSocket upgrades and the
// WebSocket session after them). The connection is one end of a socketpair run on the
// listener's io_context in this thread: no network, no port, no sleep. The input may hold
// several pipelined requests, an upgrade and masked WebSocket frames after it.
//
// Invariants beyond "no crash, no leak, no undefined behaviour":
//   - what the server writes is a sequence of well-formed HTTP/1.1 responses (Beast's parser,
//     HEAD answered without a body), one per request read, with interim 100s; after a 101 only
//     well-formed unmasked WebSocket frames;
//   - every status is one the server documents (no 500, no made-up codes; 426 is Beast's
//     answer to a WebSocket version other than 13);
//   - every JSON body and every event-stream data line is valid JSON, and a JSON-RPC one is
//     well-formed JSON-RPC 2.0 (tests/fuzz/json_rpc_invariants.hpp); so is every text frame;
//   - when the input ends, the connection ends: the handler returns, the connection count is
//     back to zero, and after the input's sessions are ended no session of the server is left.
//
// The first byte picks the listener: even, no authentication and no rate limit; odd, API keys
// ("Bearer fuzz-key-0123456789abcdef") and a small rate limit (3 requests in a burst).

#include <sys/socket.h>
#include <unistd.h>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/posix/stream_descriptor.hpp>
#include <boost/asio/read.hpp>
#include <boost/asio/strand.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/http.hpp>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "mcp/server.hpp"
#include "tests/fuzz/json_rpc_invariants.hpp"
#include "transport/auth.hpp"
#include "transport/detail/http_impl.hpp"
#include "transport/http_server.hpp"

namespace {

using json = nlohmann::json;
using namespace bookmcp;
using fuzzing::broken;
namespace net = boost::asio;
namespace http = boost::beast::http;

constexpr std::size_t kMaxMessageBytes = 64 * 1024;

// Tools that never wait for anything (a call that waits for the client or for time would hold
// the connection past the input): inline and on a worker, with a schema, with an x-mcp-header
// argument, and one as an optional task.
void add_tools(mcp::server& server) {
  mcp::tool_definition echo;
  echo.name = "echo";
  echo.description = "Returns the text.";
  echo.input_schema = {{"type", "object"},
                       {"properties", {{"text", {{"type", "string"}, {"maxLength", 64}}}}},
                       {"required", {"text"}}};
  echo.runs_inline = true;
  echo.handler = [](mcp::tool_context&, const json& arguments) {
    return mcp::tool_result::text(arguments.at("text").get<std::string>());
  };
  server.add_tool(echo);

  mcp::tool_definition add;
  add.name = "add";
  add.description = "Adds numbers, on a worker.";
  add.input_schema = {{"type", "object"},
                      {"properties",
                       {{"numbers", {{"type", "array"}, {"items", {{"type", "integer"}}}, {"maxItems", 8}}},
                        {"region", {{"type", "string"}, {"x-mcp-header", "Region"}}}}},
                      {"required", {"numbers"}}};
  add.task_support = mcp::tool_definition::task_mode::optional;
  add.handler = [](mcp::tool_context&, const json& arguments) {
    long long sum = 0;
    for (const auto& number : arguments.at("numbers")) sum += number.get<int>();
    return mcp::tool_result::text(std::to_string(sum));
  };
  server.add_tool(add);
}

struct listener {
  mcp::server server;
  std::shared_ptr<transport::http_server::impl> impl;

  explicit listener(bool secured) : server(server_options()) {
    add_tools(server);
    transport::listen_options options;
    options.host = "127.0.0.1";
    options.port = 0;
    options.max_message_bytes = kMaxMessageBytes;
    options.max_http_sessions = 16;
    if (secured) {
      const auto keys = std::filesystem::temp_directory_path() /
                        ("bookmcp-listener-fuzz-keys-" + std::to_string(::getpid()));
      std::ofstream(keys) << "fuzzer fuzz-key-0123456789abcdef\n";
      options.auth = transport::load_api_keys(keys.string());
      std::filesystem::remove(keys);
      options.rate_limit = 50;
      options.rate_burst = 3;
    }
    impl = std::make_shared<transport::http_server::impl>(server, std::move(options));
  }

  static mcp::server_options server_options() {
    mcp::server_options options;
    options.name = "bookmcp-listener-fuzz";
    options.version = "0";
    options.worker_threads = 2;
    options.task_ttl = std::chrono::milliseconds(1);  // tasks of past inputs are not kept
    return options;
  }

  // Ends the HTTP sessions the input initialized (the reaper would, later).
  void end_sessions() {
    std::vector<std::pair<std::string, std::shared_ptr<transport::http_session_entry>>> open;
    {
      std::lock_guard lock(impl->sessions_mutex);
      open.assign(impl->sessions.begin(), impl->sessions.end());
    }
    for (const auto& [id, entry] : open) impl->end_session(id, entry);
  }
};

listener& the_listener(bool secured) {
  // Live as long as the process, as a server's listener does.
  static listener* open = new listener(false);
  static listener* closed = new listener(true);
  return secured ? *closed : *open;
}

void check_json_body(std::string_view body, std::string_view context) {
  const json parsed = json::parse(body, nullptr, false);
  if (parsed.is_discarded()) broken("a JSON body that is not JSON", context);
  const bool rpc = (parsed.is_object() && parsed.contains("jsonrpc")) ||
                   (parsed.is_array() && !parsed.empty() && parsed[0].is_object() && parsed[0].contains("jsonrpc"));
  if (rpc) fuzzing::check_json_rpc_text(body);
}

void check_event_stream(std::string_view body) {
  while (!body.empty()) {
    const auto end = body.find('\n');
    std::string_view line = body.substr(0, end);
    body = end == std::string_view::npos ? std::string_view() : body.substr(end + 1);
    if (!line.starts_with("data:")) continue;
    line.remove_prefix(5);
    if (line.starts_with(' ')) line.remove_prefix(1);
    fuzzing::check_json_rpc_text(line);
  }
}

bool documented_status(unsigned status) {
  switch (status) {
    case 100: case 101: case 200: case 202: case 204: case 400: case 401: case 403: case 404:
    case 405: case 406: case 409: case 413: case 415: case 426: case 429: case 431: case 503:
      return true;
    default:
      return false;
  }
}

// The methods of the requests in `input` as the server's parser reads them, in order (to know
// which responses answer a HEAD).
std::vector<http::verb> request_methods(std::string_view input) {
  std::vector<http::verb> methods;
  while (!input.empty()) {
    http::request_parser<http::string_body> parser;
    parser.eager(true);
    parser.body_limit(kMaxMessageBytes);
    parser.header_limit(16 * 1024);
    boost::system::error_code error;
    const std::size_t used = parser.put(net::buffer(input.data(), input.size()), error);
    if (error || !parser.is_done()) {
      // The server answers a request it cannot read whole with a status too (400, 413, 431),
      // then closes; a request cut short by the end of the input may get one as well.
      methods.push_back(parser.is_header_done() ? parser.get().method() : http::verb::unknown);
      break;
    }
    methods.push_back(parser.get().method());
    input.remove_prefix(used);
  }
  return methods;
}

// WebSocket frames from the server: FIN/opcode, never masked, text frames JSON-RPC.
void check_frames(std::string_view out) {
  std::string message;
  while (!out.empty()) {
    if (out.size() < 2) broken("a truncated WebSocket frame header", out);
    const auto b0 = static_cast<unsigned char>(out[0]), b1 = static_cast<unsigned char>(out[1]);
    const unsigned opcode = b0 & 0x0f;
    if (b0 & 0x70) broken("a WebSocket frame with reserved bits", out);
    if (b1 & 0x80) broken("a masked WebSocket frame from the server", out);
    std::uint64_t length = b1 & 0x7f;
    std::size_t header = 2;
    if (length == 126 || length == 127) {
      const std::size_t bytes = length == 126 ? 2 : 8;
      if (out.size() < 2 + bytes) broken("a truncated WebSocket frame length", out);
      length = 0;
      for (std::size_t i = 0; i < bytes; ++i) length = (length << 8) | static_cast<unsigned char>(out[2 + i]);
      header += bytes;
    }
    if (out.size() - header < length) broken("a truncated WebSocket frame", out);
    const std::string_view payload = out.substr(header, length);
    out.remove_prefix(header + length);
    if (opcode == 0x8) {
      if (length == 1) broken("a close frame with a one-byte payload", payload);
      if (length >= 2) {
        const unsigned code = (static_cast<unsigned char>(payload[0]) << 8) | static_cast<unsigned char>(payload[1]);
        if (code < 1000 || code == 1004 || code == 1005 || code == 1006 || (code > 1014 && code < 3000))
          broken("a close frame with a reserved code", payload);
      }
      continue;
    }
    if (opcode == 0x9 || opcode == 0xa) continue;  // ping, pong
    if (opcode != 0x0 && opcode != 0x1) broken("a WebSocket frame of an opcode the server never sends", out);
    message.append(payload);
    if (b0 & 0x80) {
      fuzzing::check_json_rpc_text(message);
      message.clear();
    }
  }
}

void check_output(std::string_view input, std::string_view out) {
  const std::vector<http::verb> methods = request_methods(input);
  std::size_t answered = 0;
  while (!out.empty()) {
    http::response_parser<http::string_body> parser;
    parser.eager(true);
    parser.body_limit(64 * 1024 * 1024);
    if (answered < methods.size() && methods[answered] == http::verb::head) parser.skip(true);
    boost::system::error_code error;
    std::size_t used = parser.put(net::buffer(out.data(), out.size()), error);
    if (!error && !parser.is_done() && parser.is_header_done() && !parser.chunked() &&
        !parser.content_length() && !parser.get().has_content_length()) {
      // A body that runs to the end of the connection.
      parser.put_eof(error);
      used = out.size();
    }
    if (error || !parser.is_done()) broken("a response that is not well-formed HTTP/1.1", out);
    const auto& response = parser.get();
    const unsigned status = response.result_int();
    if (!documented_status(status)) broken("an undocumented HTTP status", out);
    out.remove_prefix(used);
    if (status == 100) continue;  // interim: the final response follows
    ++answered;
    if (status == 101) {
      check_frames(out);
      return;
    }
    const std::string_view type = response[http::field::content_type];
    if (type.starts_with("application/json") && !response.body().empty()) {
      check_json_body(response.body(), response.body());
    } else if (type.starts_with("text/event-stream")) {
      check_event_stream(response.body());
    }
  }
  if (answered > methods.size()) broken("more responses than requests", out);
}

// The client's side: writes the input, ends its sending half, reads until the server closes.
net::awaitable<void> talk(net::posix::stream_descriptor& peer, std::string_view input, std::string& out) {
  boost::system::error_code error;
  co_await net::async_write(peer, net::buffer(input.data(), input.size()),
                            net::redirect_error(net::use_awaitable, error));
  ::shutdown(peer.native_handle(), SHUT_WR);
  char chunk[16 * 1024];
  for (;;) {
    const std::size_t got =
        co_await peer.async_read_some(net::buffer(chunk), net::redirect_error(net::use_awaitable, error));
    out.append(chunk, got);
    if (error) break;
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size == 0) return 0;
  listener& target = the_listener(data[0] & 1);
  auto& impl = *target.impl;
  const std::string_view input(reinterpret_cast<const char*>(data + 1), size - 1);

  int ends[2];
  if (::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, ends) != 0) return 0;
  net::ip::tcp::socket server_end(net::make_strand(impl.io));
  server_end.assign(net::ip::tcp::v4(), ends[0]);
  net::posix::stream_descriptor peer(impl.io, ends[1]);

  bool handler_done = false;
  ++impl.connections;  // as the accept loop counts it; run_connection gives it back
  net::co_spawn(server_end.get_executor(), impl.run_connection(std::move(server_end)),
                [&](std::exception_ptr failure) {
                  if (failure) broken("run_connection ended with an exception", input);
                  handler_done = true;
                });
  std::string out;
  net::co_spawn(impl.io, talk(peer, input, out), net::detached);
  impl.io.run();
  impl.io.restart();
  peer.close();

  if (!handler_done) broken("the connection's handler did not end with its input", input);
  if (impl.connections.load() != 0) broken("a connection still counted after it ended", input);
  check_output(input, out);
  target.end_sessions();
  if (target.server.stats().sessions != 0) broken("a session left open after its connection ended", input);
  return 0;
}
