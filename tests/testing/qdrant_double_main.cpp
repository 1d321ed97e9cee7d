// bookmcp_qdrant_double: the Qdrant test double (tests/testing/qdrant_double.hpp) as a program,
// for the official-client cross-check (tests/testing/qdrant_crosscheck), the benchmarks and for
// trying a client by hand. It serves Qdrant 1.19's REST API on 127.0.0.1 from memory (a double,
// not Qdrant), prints "listening on http://127.0.0.1:<port>" once it accepts connections, and
// runs until SIGINT, SIGTERM or the end of its standard input (so a parent that dies takes it
// along). On exit it prints the requests that broke the published API ("violation: ...") and
// the answers that broke it ("response violation: ...") to standard error, and exits 3 when
// there were any (with --strict).
#include <cstdint>
#include <cstdio>
#include <exception>
#include <limits>
#include <string>
#include <string_view>

#include "tests/testing/double_program.hpp"
#include "tests/testing/qdrant_double.hpp"

namespace {

using bookmcp::testing::program_option;
using bookmcp::testing::take_number;

constexpr const char* usage =
    "usage: bookmcp_qdrant_double [--port N] [--api-key K] [--read-only-api-key K]\n"
    "                             [--version V] [--openapi FILE] [--strict] [--ignore-stdin]\n"
    "A test double of a Qdrant 1.19 REST server (in memory, exact search; not Qdrant).\n"
    "Runs until SIGINT, SIGTERM or end of standard input (unless --ignore-stdin).\n"
    "--strict: exit with status 3 when a request or an answer broke the OpenAPI description.\n";

}  // namespace

int main(int argc, char** argv) {
  bookmcp::testing::qdrant_double_options options;
  bool watch_stdin = true;
  bool strict = false;
  const auto exit_status = bookmcp::testing::read_program_arguments(
      argc, argv, usage, watch_stdin,
      [&](std::string_view flag) {
        if (flag != "--strict") return false;
        strict = true;
        return true;
      },
      [&](std::string_view flag, const std::string& value) {
        if (flag == "--port")
          return take_number(value, 0, std::numeric_limits<std::uint16_t>::max(), options.port);
        if (flag == "--api-key") {
          options.api_key = value;
        } else if (flag == "--read-only-api-key") {
          options.read_only_api_key = value;
        } else if (flag == "--version") {
          options.version = value;
        } else if (flag == "--openapi") {
          options.openapi_file = value;
        } else {
          return program_option::unknown;
        }
        return program_option::taken;
      });
  if (exit_status) return *exit_status;

  std::size_t problems = 0;
  try {
    const bookmcp::testing::stop_signals stop;  // before the double starts its threads
    bookmcp::testing::qdrant_double server(std::move(options));
    stop.announce_and_wait(server.url(), watch_stdin);
    for (const auto& violation : server.violations())
      std::fprintf(stderr, "violation: %s\n", violation.c_str());
    for (const auto& violation : server.response_violations())
      std::fprintf(stderr, "response violation: %s\n", violation.c_str());
    problems = server.violations().size() + server.response_violations().size();
  } catch (const std::exception& error) {
    std::fprintf(stderr, "bookmcp_qdrant_double: %s\n", error.what());
    return 1;
  }
  return strict && problems > 0 ? 3 : 0;
}
