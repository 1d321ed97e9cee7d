// bookmcp_json_bench: how long parse_json_text (rapidjson's reader building the nlohmann tree)
// and nlohmann::json::parse take on the texts the server reads, in one run, rounds alternating.
//
//   bookmcp_json_bench [--rounds 15] [--milliseconds 200]
//
// Each round parses each text for about --milliseconds with one parser, then with the other;
// the table gives the median of the rounds' µs per parse and the ratio. Both parsers must build
// the same tree (checked before timing).
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "mcp/json_rpc.hpp"

namespace {

using json = nlohmann::json;
using clock_type = std::chrono::steady_clock;

struct sample {
  const char* name;
  std::string text;
};

std::vector<sample> samples() {
  std::vector<sample> out;
  out.push_back({"tools/call, handshake era",
                 R"({"jsonrpc":"2.0","id":12345,"method":"tools/call","params":{"name":"echo",)"
                 R"("arguments":{"text":"hi"}}})"});
  out.push_back({"tools/call, 2026-07-28",
                 R"({"jsonrpc":"2.0","id":12345,"method":"tools/call","params":{"name":"echo",)"
                 R"("arguments":{"text":"hi"},"_meta":{"io.modelcontextprotocol/protocolVersion":)"
                 R"("2026-07-28","io.modelcontextprotocol/clientCapabilities":{},)"
                 R"("io.modelcontextprotocol/clientInfo":{"name":"bookmcp_load","version":"0.1.0"}}}})"});
  out.push_back({"initialize",
                 R"({"jsonrpc":"2.0","id":0,"method":"initialize","params":{"protocolVersion":)"
                 R"("2025-11-25","capabilities":{"roots":{"listChanged":true},"sampling":{},)"
                 R"("elicitation":{"form":{},"url":{}}},"clientInfo":{"name":"claude-desktop",)"
                 R"("title":"Claude","version":"1.4.2"}}})"});
  // A search_book answer as the chat backend reads it: ten hits with text and citations.
  json hits = json::array();
  for (int i = 0; i < 10; ++i) {
    hits.push_back({{"chapter", "Module 3: Perception"},
                    {"heading_path", json::array({"Sensors", "Depth cameras", "Calibration"})},
                    {"url", "/docs/module-3/depth-cameras#calibration"},
                    {"score", 12.5 - i * 0.75},
                    {"text", std::string(300, 'x') + " calibrate the RealSense depth camera " +
                                 std::to_string(i) + " \u00e9t\u00e9 \u2014 done"}});
  }
  json answer = {{"jsonrpc", "2.0"},
                 {"id", 7},
                 {"result",
                  {{"content", json::array({{{"type", "text"}, {"text", hits.dump()}}})},
                   {"structuredContent", {{"hits", hits}}},
                   {"isError", false}}}};
  out.push_back({"search_book result (10 hits)", answer.dump()});
  return out;
}

template <typename Parse>
double microseconds_per_parse(const std::string& text, double milliseconds, Parse parse) {
  std::size_t count = 0;
  const auto start = clock_type::now();
  const auto stop = start + std::chrono::duration<double, std::milli>(milliseconds);
  auto now = start;
  do {
    for (int i = 0; i < 64; ++i) {
      if (!parse(text)) std::abort();
    }
    count += 64;
    now = clock_type::now();
  } while (now < stop);
  return std::chrono::duration<double, std::micro>(now - start).count() / static_cast<double>(count);
}

double median(std::vector<double> values) {
  std::sort(values.begin(), values.end());
  const std::size_t n = values.size();
  return n % 2 ? values[n / 2] : (values[n / 2 - 1] + values[n / 2]) / 2;
}

}  // namespace

int main(int argc, char** argv) {
  int rounds = 15;
  double milliseconds = 200;
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    if (arg == "--rounds" && i + 1 < argc) {
      rounds = std::atoi(argv[++i]);
    } else if (arg == "--milliseconds" && i + 1 < argc) {
      milliseconds = std::atof(argv[++i]);
    } else {
      std::fprintf(stderr, "usage: %s [--rounds N] [--milliseconds M]\n", argv[0]);
      return 2;
    }
  }
  if (rounds < 1 || milliseconds <= 0) {
    std::fprintf(stderr, "bookmcp_json_bench: --rounds and --milliseconds must be positive\n");
    return 2;
  }
  auto ours = [](const std::string& text) {
    const auto value = bookmcp::mcp::parse_json_text(text);
    return value.has_value() && !value->is_null();
  };
  auto nlohmann_parse = [](const std::string& text) {
    const json value = json::parse(text, nullptr, /*allow_exceptions=*/false);
    return !value.is_discarded() && !value.is_null();
  };

  std::printf("%-32s %7s %16s %14s %7s\n", "text", "bytes", "nlohmann µs", "bookmcp µs", "ratio");
  for (const auto& [name, text] : samples()) {
    if (*bookmcp::mcp::parse_json_text(text) != json::parse(text)) {
      std::fprintf(stderr, "bookmcp_json_bench: the parsers disagree on %s\n", name);
      return 1;
    }
    std::vector<double> theirs_us, ours_us;
    for (int round = 0; round < rounds; ++round) {
      theirs_us.push_back(microseconds_per_parse(text, milliseconds, nlohmann_parse));
      ours_us.push_back(microseconds_per_parse(text, milliseconds, ours));
    }
    const double theirs = median(theirs_us), mine = median(ours_us);
    std::printf("%-32s %7zu %16.3f %14.3f %6.2fx\n", name, text.size(), theirs, mine, theirs / mine);
  }
  return 0;
}
