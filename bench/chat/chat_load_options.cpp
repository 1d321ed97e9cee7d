#include "bench/chat/chat_load_options.hpp"

#include <charconv>
#include <string_view>

namespace bookmcp::bench::chat {

namespace {

// Bounds that keep a mistyped option from turning the client into a flood.
constexpr std::size_t kMaxReaders = 5000;
constexpr std::size_t kMaxHeld = 10000;
constexpr std::size_t kMaxThreads = 8;

bool is_loopback_ipv4(std::string_view host) {
  if (!host.starts_with("127.")) return false;
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

const char* const chat_load_usage = R"(usage: bookmcp_chat_load --target KIND --url URL [options]

Drives a chat backend on a loopback address with readers that each ask a question, read the
streamed answer to its end and ask again; reports turns/s, time to the first event and to the
whole answer (p50/p95/p99), and failures. With --hold N, opens N answers at once instead and
checks that all are open at the same moment and all complete.

  --target KIND        bookmcp-chat | ai-sdk | llm-double
  --url URL            http://HOST:PORT (bookmcp-chat, ai-sdk) or http://HOST:PORT/v1 (the
                       LLM double); loopback hosts only
  --readers N          concurrent readers (default 50)
  --warmup S           unmeasured turns first (default 2)
  --duration S         measured window (default 10)
  --timeout S          bound on setup, on one turn, and on the drain (default 30)
  --threads T          client I/O threads (default 1)
  --question TEXT      what every reader asks
  --pid PID            the backend's process: its CPU time per turn and its VmRSS
  --mcp-pid PID        bookmcp's process: its CPU time per turn
  --label TEXT         copied into the JSON report
  --json               print one JSON object on stdout instead of the table

Hold test:
  --hold N             N readers, one answer each, all started at once (use a slow LLM)
  --open-concurrency C sessions and connections being set up at once (default 64)

The LLM double (--target llm-double): each turn is the two requests a chat backend sends for one
answer, built from bookmcp's real tool list and search result:
  --model NAME         the model to name (default double)
  --mcp-url URL        bookmcp's Streamable HTTP endpoint, http://HOST:PORT/mcp
  --mcp-token TOKEN    a bearer JWT bookmcp accepts
)";

std::string http_endpoint::host_header() const {
  return address + ":" + std::to_string(port);
}

http_endpoint parse_http_endpoint(const std::string& text) {
  std::string_view rest = text;
  if (!rest.starts_with("http://")) {
    throw usage_error("the URL must start with http:// (TLS is not supported): \"" + text + "\"");
  }
  rest.remove_prefix(7);
  const std::string_view authority = rest.substr(0, rest.find('/'));
  std::string_view path = rest.substr(authority.size());
  while (path.ends_with('/')) path.remove_suffix(1);
  const auto colon = authority.rfind(':');
  if (colon == std::string_view::npos)
    throw usage_error("the URL needs an explicit port: \"" + text + "\"");
  http_endpoint endpoint;
  const std::string_view host = authority.substr(0, colon);
  endpoint.address = host == "localhost" ? "127.0.0.1" : std::string(host);
  if (!is_loopback_ipv4(endpoint.address)) {
    throw usage_error("only loopback IPv4 hosts (127.x.y.z, localhost) may be driven: \"" + text +
                      "\"");
  }
  endpoint.port = static_cast<unsigned short>(
      parse_count("the URL's port", std::string(authority.substr(colon + 1)), 1, 65535));
  endpoint.base = std::string(path);
  return endpoint;
}

const char* target_name(chat_target target) {
  switch (target) {
    case chat_target::bookmcp_chat:
      return "bookmcp-chat";
    case chat_target::ai_sdk:
      return "ai-sdk";
    case chat_target::llm_double:
      return "llm-double";
  }
  return "?";
}

chat_load_options parse_chat_load_options(int argc, char** argv) {
  chat_load_options options;
  bool have_target = false;
  bool have_url = false;
  for (int i = 0; i < argc; ++i) {
    const std::string flag = argv[i];
    auto value = [&]() -> std::string {
      if (i + 1 >= argc) throw usage_error(flag + " needs a value");
      return argv[++i];
    };
    if (flag == "--target") {
      const std::string kind = value();
      if (kind == "bookmcp-chat") {
        options.target = chat_target::bookmcp_chat;
      } else if (kind == "ai-sdk") {
        options.target = chat_target::ai_sdk;
      } else if (kind == "llm-double") {
        options.target = chat_target::llm_double;
      } else {
        throw usage_error("--target is bookmcp-chat, ai-sdk or llm-double, not \"" + kind + "\"");
      }
      have_target = true;
    } else if (flag == "--url") {
      options.url = parse_http_endpoint(value());
      have_url = true;
    } else if (flag == "--readers") {
      options.readers = parse_count(flag, value(), 1, kMaxReaders);
    } else if (flag == "--warmup") {
      options.warmup = parse_seconds(flag, value());
    } else if (flag == "--duration") {
      options.duration = parse_seconds(flag, value());
    } else if (flag == "--timeout") {
      options.timeout = parse_seconds(flag, value());
    } else if (flag == "--threads") {
      options.threads = parse_count(flag, value(), 1, kMaxThreads);
    } else if (flag == "--question") {
      options.question = value();
    } else if (flag == "--pid") {
      options.pid = static_cast<long>(parse_count(flag, value(), 1, 1u << 30));
    } else if (flag == "--mcp-pid") {
      options.mcp_pid = static_cast<long>(parse_count(flag, value(), 1, 1u << 30));
    } else if (flag == "--label") {
      options.label = value();
    } else if (flag == "--json") {
      options.json_output = true;
    } else if (flag == "--hold") {
      options.hold = parse_count(flag, value(), 1, kMaxHeld);
    } else if (flag == "--open-concurrency") {
      options.open_concurrency = parse_count(flag, value(), 1, 1024);
    } else if (flag == "--model") {
      options.model = value();
    } else if (flag == "--mcp-url") {
      options.mcp_url = value();
    } else if (flag == "--mcp-token") {
      options.mcp_token = value();
    } else if (flag == "--help" || flag == "-h") {
      throw usage_error("");
    } else {
      throw usage_error("unknown option " + flag);
    }
  }
  if (!have_target) throw usage_error("--target is required");
  if (!have_url) throw usage_error("--url is required");
  if (options.question.empty() || options.question.size() > 1000)
    throw usage_error("--question wants 1 to 1000 bytes");
  if (options.duration.count() == 0 && options.hold == 0)
    throw usage_error("--duration must be above 0");
  if (options.target == chat_target::llm_double) {
    if (options.hold > 0) throw usage_error("--hold drives a chat backend, not the LLM double");
    if (options.mcp_url.empty() || options.mcp_token.empty()) {
      throw usage_error(
          "--target llm-double needs --mcp-url and --mcp-token (to build the requests from "
          "bookmcp's "
          "real tools and search result)");
    }
    parse_http_endpoint(options.mcp_url);  // checked here, used later
  }
  return options;
}

}  // namespace bookmcp::bench::chat
