#include "bench/network/load_options.hpp"

#include <charconv>
#include <string_view>

#include <nlohmann/json.hpp>

namespace bookmcp::bench {

namespace {

// Bounds that keep a mistyped option from turning the client into a flood.
constexpr std::size_t kMaxConnections = 20000;
constexpr std::size_t kMaxInflight = 1024;
constexpr std::size_t kMaxHttpConnections = 4096;  // connections x inflight over HTTP
constexpr std::size_t kMaxCalls = 100'000'000;

bool is_loopback(const std::string& host) {
  if (host == "localhost" || host == "::1") return true;
  // 127.0.0.0/8 in dotted-quad form.
  if (host.rfind("127.", 0) != 0) return false;
  int dots = 0;
  for (char c : host) {
    if (c == '.') {
      ++dots;
    } else if (c < '0' || c > '9') {
      return false;
    }
  }
  return dots == 3;
}

}  // namespace

const char* const load_usage = R"(usage: bookmcp_load [options]

Drives an MCP server on a loopback address with tools/call requests over WebSocket or
Streamable HTTP and reports calls/s, latency percentiles and errors; or, with --idle, opens
many initialized WebSocket connections and reports the server's resident memory per connection.

  --url URL            ws://HOST:PORT/mcp or http://HOST:PORT/mcp; loopback hosts only
  --transport ws|http  default: from the URL scheme
  --connections N      WebSocket connections, or Streamable HTTP sessions (default 64; with
                       --stateless over HTTP, groups of M connections without a session)
  --inflight M         calls in flight per WebSocket connection; over HTTP, M keep-alive
                       connections per session, each with one call at a time (default 1)
  --duration S         measure for S seconds (default 5) ...
  --calls K            ... or until K calls completed
  --warmup S           unmeasured calls first (default 1)
  --tool NAME          default echo
  --arguments JSON     tool arguments (default {"text":"hi"})
  --threads T          client I/O threads (default 1)
  --stateless          protocol 2026-07-28: no initialize, no session; each request carries
                       params._meta and (HTTP) the MCP-Protocol-Version, Mcp-Method and
                       Mcp-Name headers; answers must be results with resultType "complete"
  --timeout S          bound on connecting and on draining (default 30)
  --server-pid PID     also report the server's CPU time and context switches per call
                       (read from /proc over the measured phase; with --duration)
  --json               print one JSON object on stdout instead of the table

Idle-connection memory (WebSocket):
  --idle N             open N initialized WebSocket connections and hold them
  --server-pid PID     the server process whose VmRSS is read before and after (required here)
  --settle S           wait after the last connection before reading VmRSS (default 2)
  --hold S             keep the connections open this much longer (default 0)
  --open-concurrency C handshakes under way at once (default 128)
)";

std::string target_url::host_header() const {
  const bool v6 = host.find(':') != std::string::npos;
  return (v6 ? "[" + host + "]" : host) + ":" + std::to_string(port);
}

target_url parse_target_url(const std::string& text) {
  target_url url;
  std::string_view rest = text;
  std::string scheme;
  if (const auto colon = rest.find("://"); colon != std::string_view::npos) {
    scheme = std::string(rest.substr(0, colon));
    rest.remove_prefix(colon + 3);
  }
  if (scheme != "ws" && scheme != "http") {
    throw usage_error("--url must start with ws:// or http:// (TLS is not supported): \"" + text + "\"");
  }
  std::string_view authority = rest.substr(0, rest.find('/'));
  if (authority.size() < rest.size()) url.path = std::string(rest.substr(authority.size()));
  std::string_view port_text;
  if (!authority.empty() && authority.front() == '[') {
    const auto close = authority.find(']');
    if (close == std::string_view::npos) throw usage_error("--url has an unclosed [ in \"" + text + "\"");
    url.host = std::string(authority.substr(1, close - 1));
    if (close + 1 < authority.size() && authority[close + 1] == ':') port_text = authority.substr(close + 2);
  } else {
    const auto colon = authority.rfind(':');
    url.host = std::string(authority.substr(0, colon));
    if (colon != std::string_view::npos) port_text = authority.substr(colon + 1);
  }
  if (port_text.empty()) throw usage_error("--url needs an explicit port: \"" + text + "\"");
  url.port = static_cast<unsigned short>(parse_count("the URL's port", std::string(port_text), 1, 65535));
  if (!is_loopback(url.host)) {
    throw usage_error("--url must name a loopback host (127.0.0.0/8, ::1, localhost), not \"" + url.host + "\"");
  }
  url.address = url.host == "localhost" ? "127.0.0.1" : url.host;
  return url;
}

load_options parse_load_options(int argc, char** argv) {
  load_options options;
  std::optional<std::string> url_text;
  std::optional<load_transport> transport;
  for (int i = 0; i < argc; ++i) {
    const std::string arg = argv[i];
    auto value = [&]() -> std::string {
      if (i + 1 >= argc) throw usage_error(arg + " needs a value");
      return argv[++i];
    };
    if (arg == "--url") {
      url_text = value();
    } else if (arg == "--transport") {
      const std::string name = value();
      if (name == "ws" || name == "websocket") {
        transport = load_transport::websocket;
      } else if (name == "http") {
        transport = load_transport::http;
      } else {
        throw usage_error("--transport is ws or http, not \"" + name + "\"");
      }
    } else if (arg == "--connections") {
      options.connections = parse_count("--connections", value(), 1, kMaxConnections);
    } else if (arg == "--inflight") {
      options.inflight = parse_count("--inflight", value(), 1, kMaxInflight);
    } else if (arg == "--duration") {
      options.duration = parse_seconds("--duration", value());
    } else if (arg == "--calls") {
      options.calls = parse_count("--calls", value(), 1, kMaxCalls);
    } else if (arg == "--warmup") {
      options.warmup = parse_seconds("--warmup", value());
    } else if (arg == "--timeout") {
      options.timeout = parse_seconds("--timeout", value());
    } else if (arg == "--tool") {
      options.tool = value();
    } else if (arg == "--arguments") {
      options.arguments = value();
      const auto parsed = nlohmann::json::parse(options.arguments, nullptr, false);
      if (!parsed.is_object()) throw usage_error("--arguments must be a JSON object");
      options.arguments = parsed.dump();  // also escapes nothing unexpected into the request
    } else if (arg == "--threads") {
      options.threads = parse_count("--threads", value(), 1, 16);
    } else if (arg == "--stateless") {
      options.stateless = true;
    } else if (arg == "--json") {
      options.json_output = true;
    } else if (arg == "--idle") {
      options.mode = load_mode::idle;
      options.connections = parse_count("--idle", value(), 1, kMaxConnections);
    } else if (arg == "--server-pid") {
      options.server_pid = static_cast<long>(parse_count("--server-pid", value(), 1, 1u << 30));
    } else if (arg == "--settle") {
      options.settle = parse_seconds("--settle", value());
    } else if (arg == "--hold") {
      options.hold = parse_seconds("--hold", value());
    } else if (arg == "--open-concurrency") {
      options.open_concurrency = parse_count("--open-concurrency", value(), 1, 4096);
    } else if (arg == "--help" || arg == "-h") {
      throw usage_error("");
    } else {
      throw usage_error("unknown option " + arg);
    }
  }
  if (!url_text) throw usage_error("--url is required");
  options.url = parse_target_url(*url_text);
  options.transport = transport.value_or(url_text->rfind("http", 0) == 0 ? load_transport::http : load_transport::websocket);
  if (options.duration && options.calls) throw usage_error("give --duration or --calls, not both");
  if (!options.duration && !options.calls) options.duration = std::chrono::seconds(5);
  if (options.mode == load_mode::idle) {
    if (options.server_pid == 0) throw usage_error("--idle needs --server-pid");
    options.transport = load_transport::websocket;
  }
  if (options.transport == load_transport::http && options.connections * options.inflight > kMaxHttpConnections) {
    throw usage_error("over HTTP, --connections x --inflight is at most " + std::to_string(kMaxHttpConnections));
  }
  return options;
}

}  // namespace bookmcp::bench
